mod common;

use common::{assert_normal, fact, mean_std, weight};
use lowbit_graph::{GraphError, Op};
use lowbit_zoo::{
    learnable_parameter_count, make_divisible, mobilenet_v2, Activation, GlobalPooling, MobileNetV2Config,
};

#[test]
fn make_divisible_matches_torchvision() {
    // (v, divisor, torchvision's _make_divisible(v, divisor)), v computed as in Python.
    let table: [(f64, usize, usize); 21] = [
        (32.0 * 1.0, 8, 32),
        (32.0 * 0.5, 8, 16),
        (1280.0 * 1.0, 8, 1280),
        (16.0 * 0.35, 8, 8),
        (24.0 * 0.35, 8, 8),
        (32.0 * 0.35, 8, 16),
        (96.0 * 0.35, 8, 32),
        (160.0 * 0.35, 8, 56),
        (320.0 * 0.35, 8, 112),
        (32.0 * 0.75, 8, 24),
        (24.0 * 1.4, 8, 32),
        (96.0 * 1.4, 8, 136),
        (1280.0 * 1.4, 8, 1792),
        (10.0, 8, 16),
        (3.0, 8, 8),
        (100.0, 3, 99),
        (47.0, 10, 50),
        (44.9, 10, 50),
        (12.0, 8, 16),
        (20.0, 16, 32),
        (33.6, 4, 32),
    ];
    for (v, divisor, expected) in table {
        assert_eq!(
            make_divisible(v, divisor, None),
            expected,
            "v={v} divisor={divisor}"
        );
    }
    assert_eq!(make_divisible(3.0, 8, Some(4)), 4);
}

#[test]
fn shapes_at_224() {
    let g = mobilenet_v2(&MobileNetV2Config::default()).unwrap();
    let expected = [
        ("features.0.2", "f32[N,32,112,112]"),
        // t = 1: conv.0 is the depthwise ConvBNReLU, conv.1/conv.2 the projection.
        ("features.1.conv.0.2", "f32[N,32,112,112]"),
        ("features.1.conv.2", "f32[N,16,112,112]"),
        ("features.2.conv.0.2", "f32[N,96,112,112]"),
        ("features.2.conv.1.2", "f32[N,96,56,56]"),
        ("features.2.conv.3", "f32[N,24,56,56]"),
        ("features.3.add", "f32[N,24,56,56]"),
        ("features.6.add", "f32[N,32,28,28]"),
        ("features.10.add", "f32[N,64,14,14]"),
        ("features.13.add", "f32[N,96,14,14]"),
        ("features.16.add", "f32[N,160,7,7]"),
        ("features.17.conv.3", "f32[N,320,7,7]"),
        ("features.18.2", "f32[N,1280,7,7]"),
        ("mean", "f32[N,1280]"),
        ("classifier.1", "f32[N,1000]"),
    ];
    for (name, shape) in expected {
        assert_eq!(fact(&g, name), shape, "{name}");
    }
    assert_eq!(g.outputs.len(), 1);
    assert_eq!(g.value(g.outputs[0]).name, "classifier.1");
    let hist = g.op_histogram();
    assert_eq!(hist["Conv"], 52);
    assert_eq!(hist["BatchNormalization"], 52);
    assert_eq!(hist["Relu"], 35);
    // Stride-1 blocks with equal in/out channels: 1 + 2 + 3 + 2 + 2.
    assert_eq!(hist["Add"], 10);
    assert_eq!(hist["ReduceMean"], 1);
}

#[test]
fn parameter_count_matches_torchvision() {
    for config in [MobileNetV2Config::default(), MobileNetV2Config::torchvision()] {
        let g = mobilenet_v2(&config).unwrap();
        assert_eq!(learnable_parameter_count(&g), 3_504_872);
    }
    let w = weight(
        &mobilenet_v2(&MobileNetV2Config::default()).unwrap(),
        "features.2.conv.1.0.weight",
    )
    .shape()
    .to_vec();
    assert_eq!(w, [96, 1, 3, 3]);
}

#[test]
fn torchvision_flavour_uses_relu6_and_adaptive_pooling() {
    let g = mobilenet_v2(&MobileNetV2Config::torchvision()).unwrap();
    let hist = g.op_histogram();
    assert_eq!(hist["Clip"], 35);
    assert!(!hist.contains_key("Relu"));
    assert_eq!(hist["GlobalAveragePool"], 1);
    assert_eq!(hist["Flatten"], 1);
    assert_eq!(fact(&g, "flatten"), "f32[N,1280]");
    let clip = g.nodes.iter().find(|n| n.op == Op::Clip).unwrap();
    assert_eq!(clip.name, "features.0.2");
    let max = g.initializer(clip.input(2).unwrap()).unwrap();
    assert_eq!(max.to_f32_vec(), [6.0]);
}

#[test]
fn width_and_small_inputs() {
    let mut config = MobileNetV2Config {
        in_channels: 1,
        input_size: [28, 28],
        num_classes: 10,
        width_mult: 0.5,
        stem_stride: 1,
        batch: 1.into(),
        activation: Activation::Relu6,
        pooling: GlobalPooling::AvgPoolFlatten,
        ..MobileNetV2Config::default()
    };
    config.set_stage_strides(&[1, 1, 2, 2, 1, 2, 1]).unwrap();
    let g = mobilenet_v2(&config).unwrap();
    assert_eq!(fact(&g, "features.0.2"), "f32[1,16,28,28]");
    assert_eq!(weight(&g, "features.0.0.weight").shape(), [16, 1, 3, 3]);
    // width 0.5: 16*0.5 → 8 channels, and the last conv keeps 1280.
    assert_eq!(fact(&g, "features.1.conv.2"), "f32[1,8,28,28]");
    assert_eq!(fact(&g, "features.18.2"), "f32[1,1280,4,4]");
    assert_eq!(fact(&g, "classifier.1"), "f32[1,10]");

    // Without lowering the strides, 28×28 still works but ends at 1×1.
    let tiny = MobileNetV2Config {
        input_size: [28, 28],
        ..MobileNetV2Config::default()
    };
    assert_eq!(
        fact(&mobilenet_v2(&tiny).unwrap(), "features.18.2"),
        "f32[N,1280,1,1]"
    );
}

#[test]
fn initialisation_follows_torchvision() {
    let g = mobilenet_v2(&MobileNetV2Config::default()).unwrap();
    // kaiming_normal_(mode='fan_out'): std = sqrt(2 / (out * kh * kw)), groups ignored.
    for (name, fan_out) in [
        ("features.17.conv.0.0.weight", 960),
        ("features.18.0.weight", 1280),
        ("features.17.conv.1.0.weight", 960 * 9),
        ("features.0.0.weight", 32 * 9),
    ] {
        let tolerance = if name == "features.0.0.weight" { 0.15 } else { 0.04 };
        assert_normal(weight(&g, name), (2.0 / fan_out as f64).sqrt(), tolerance, name);
    }
    assert_normal(
        weight(&g, "classifier.1.weight"),
        0.01,
        0.02,
        "classifier.1.weight",
    );
    assert!(weight(&g, "classifier.1.bias")
        .to_f32_vec()
        .iter()
        .all(|&v| v == 0.0));
    assert_eq!(mean_std(weight(&g, "features.5.conv.1.1.weight")), (1.0, 0.0));
    assert_eq!(mean_std(weight(&g, "features.5.conv.1.1.bias")), (0.0, 0.0));
    assert_eq!(
        mean_std(weight(&g, "features.5.conv.1.1.running_var")),
        (1.0, 0.0)
    );
    assert!(g.find_value("features.0.0.bias").is_none(), "convs have no bias");
}

#[test]
fn seed_decides_the_weights() {
    let build = |seed| {
        let g = mobilenet_v2(&MobileNetV2Config {
            seed,
            width_mult: 0.35,
            ..MobileNetV2Config::default()
        })
        .unwrap();
        weight(&g, "features.3.conv.0.0.weight").clone()
    };
    assert_eq!(build(7), build(7));
    assert_ne!(build(7), build(8));
}

#[test]
fn bad_configs_are_rejected() {
    let cases = [
        MobileNetV2Config {
            inverted_residual_setting: vec![],
            ..MobileNetV2Config::default()
        },
        MobileNetV2Config {
            width_mult: 0.0,
            ..MobileNetV2Config::default()
        },
        MobileNetV2Config {
            in_channels: 0,
            ..MobileNetV2Config::default()
        },
    ];
    for config in cases {
        let err = mobilenet_v2(&config).unwrap_err();
        assert!(
            matches!(&err, GraphError::Invalid(m) if m.starts_with("MobileNetV2 config")),
            "{err}"
        );
    }
    let mut config = MobileNetV2Config::default();
    assert!(config.set_stage_strides(&[1, 2]).is_err());
}
