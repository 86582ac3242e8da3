//! `lowbit quantize`: write an INT8 copy of a model.

use lowbit::quant::dynamic::{ActivationGranularity, DynamicConfig, WeightGranularity};
use lowbit::quantize_dynamic::quantize_dynamic_file;

use crate::args::{Approach, QuantizeArgs};
use crate::output::{human_bytes, print_json, Table};

pub fn run(args: QuantizeArgs, json: bool) -> anyhow::Result<()> {
    if args.approach == Approach::Static {
        return super::quantize_static::run(args, json);
    }
    if args.approach == Approach::Qat {
        return super::quantize_qat::run(args, json);
    }
    let config = DynamicConfig {
        weights: if args.per_tensor_weights {
            WeightGranularity::PerTensor
        } else {
            WeightGranularity::PerChannel
        },
        activations: if args.per_tensor_activations {
            ActivationGranularity::PerTensor
        } else {
            ActivationGranularity::PerRow
        },
        quantize_embeddings: !args.fp32_embeddings,
        keep_fp32: args.keep_fp32,
    };
    let report = quantize_dynamic_file(&args.model, &args.output, &config)?;
    if json {
        return print_json(&report);
    }
    let mut table = Table::new([
        "output",
        "fp32_bytes",
        "int8_bytes",
        "ratio",
        "quantized MatMuls",
        "int8 embeddings",
        "kept FP32",
    ]);
    table.row([
        args.output.display().to_string(),
        format!("{} ({})", report.fp32_bytes, human_bytes(report.fp32_bytes)),
        format!("{} ({})", report.int8_bytes, human_bytes(report.int8_bytes)),
        format!(
            "{:.3}",
            report.int8_bytes as f64 / report.fp32_bytes.max(1) as f64
        ),
        report.quantized_matmuls.to_string(),
        report.quantized_embeddings.to_string(),
        report.kept_fp32.len().to_string(),
    ]);
    table.print();
    if report.quantized_matmuls == 0 {
        eprintln!("warning: no MatMul/Gemm with a constant f32 weight was found; the model is unchanged");
    }
    Ok(())
}
