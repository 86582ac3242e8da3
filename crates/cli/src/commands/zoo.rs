//! `lowbit zoo`: build a reference model with fresh (seeded) weights and save it as ONNX.

use lowbit::zoo::{
    learnable_parameter_count, mobilenet_v2, resnet18, resnet50, MobileNetV2Config, ResNetConfig,
};

use crate::args::{Arch, ZooArgs};
use crate::output::print_json;

pub fn run(args: ZooArgs, json: bool) -> anyhow::Result<()> {
    let size = [args.input_size, args.input_size];
    let graph = match args.arch {
        Arch::MobilenetV2 => mobilenet_v2(&MobileNetV2Config {
            num_classes: args.num_classes,
            width_mult: args.width_mult,
            in_channels: args.in_channels,
            input_size: size,
            seed: args.seed,
            ..MobileNetV2Config::torchvision()
        })?,
        Arch::Resnet18 | Arch::Resnet50 => {
            let config = ResNetConfig {
                num_classes: args.num_classes,
                in_channels: args.in_channels,
                input_size: size,
                seed: args.seed,
                ..ResNetConfig::default()
            };
            if args.arch == Arch::Resnet18 {
                resnet18(&config)?
            } else {
                resnet50(&config)?
            }
        }
    };
    let params = learnable_parameter_count(&graph);
    lowbit::onnx::save(&graph, &args.output)?;
    let bytes = std::fs::metadata(&args.output)?.len();
    if json {
        return print_json(&serde_json::json!({
            "output": args.output.display().to_string(),
            "params": params,
            "bytes": bytes,
        }));
    }
    println!(
        "wrote {} ({params} parameters, {bytes} bytes)",
        args.output.display()
    );
    Ok(())
}
