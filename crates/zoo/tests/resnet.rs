mod common;

use common::{assert_normal, fact, weight};
use lowbit_zoo::{learnable_parameter_count, resnet18, resnet50, ResNetConfig};

#[test]
fn resnet18_shapes_and_parameters() {
    let g = resnet18(&ResNetConfig::default()).unwrap();
    for (name, shape) in [
        ("conv1", "f32[N,64,112,112]"),
        ("maxpool", "f32[N,64,56,56]"),
        ("layer1.1.relu_1", "f32[N,64,56,56]"),
        ("layer2.0.downsample.1", "f32[N,128,28,28]"),
        ("layer3.0.conv1", "f32[N,256,14,14]"),
        ("layer4.1.relu_1", "f32[N,512,7,7]"),
        ("avgpool", "f32[N,512,1,1]"),
        ("fc", "f32[N,1000]"),
    ] {
        assert_eq!(fact(&g, name), shape, "{name}");
    }
    assert_eq!(learnable_parameter_count(&g), 11_689_512);
    assert!(g.find_value("layer1.0.downsample.0.weight").is_none());
    assert_eq!(g.op_histogram()["Conv"], 20);
}

#[test]
fn resnet50_shapes_and_parameters() {
    let g = resnet50(&ResNetConfig::default()).unwrap();
    for (name, shape) in [
        ("layer1.0.downsample.1", "f32[N,256,56,56]"),
        // v1.5: the 3×3 conv carries the stride.
        ("layer2.0.conv1", "f32[N,128,56,56]"),
        ("layer2.0.conv2", "f32[N,128,28,28]"),
        ("layer3.5.conv3", "f32[N,1024,14,14]"),
        ("layer4.2.relu_2", "f32[N,2048,7,7]"),
        ("flatten", "f32[N,2048]"),
        ("fc", "f32[N,1000]"),
    ] {
        assert_eq!(fact(&g, name), shape, "{name}");
    }
    assert_eq!(learnable_parameter_count(&g), 25_557_032);
    assert_eq!(g.op_histogram()["Conv"], 53);
}

#[test]
fn resnet_initialisation() {
    let g = resnet18(&ResNetConfig {
        seed: 3,
        ..ResNetConfig::default()
    })
    .unwrap();
    assert_normal(
        weight(&g, "layer4.1.conv2.weight"),
        (2.0f64 / (512.0 * 9.0)).sqrt(),
        0.02,
        "conv",
    );
    assert_normal(
        weight(&g, "conv1.weight"),
        (2.0f64 / (64.0 * 49.0)).sqrt(),
        0.04,
        "stem",
    );
    // nn.Linear default: U(-1/sqrt(512), 1/sqrt(512)) for weight and bias.
    let bound = 1.0 / 512f64.sqrt();
    let fc = weight(&g, "fc.weight");
    assert!(fc.to_f32_vec().iter().all(|&v| (v as f64).abs() <= bound));
    assert_normal(fc, bound / 3f64.sqrt(), 0.02, "fc.weight");
    let bias = weight(&g, "fc.bias").to_f32_vec();
    assert!(bias.iter().all(|&v| (v as f64).abs() <= bound));
    assert!(bias.iter().any(|&v| v != 0.0));
}

#[test]
fn custom_input_and_classes() {
    let config = ResNetConfig {
        num_classes: 10,
        in_channels: 1,
        batch: 2.into(),
        input_size: [64, 48],
        seed: 0,
    };
    let g = resnet18(&config).unwrap();
    assert_eq!(fact(&g, "layer4.1.relu_1"), "f32[2,512,2,2]");
    assert_eq!(fact(&g, "fc"), "f32[2,10]");
    assert_eq!(weight(&g, "conv1.weight").shape(), [64, 1, 7, 7]);
}
