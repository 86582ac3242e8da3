//! FP32 convolution throughput on layer shapes from ResNet-50 and EfficientNet-Lite0,
//! batch 1, in GFLOP/s (criterion "elements" are FLOPs: 2 per multiply-add).
//!
//! `cargo bench -p lowbit-kernels --bench f32_conv`; runs in a 1-thread rayon pool unless
//! `LOWBIT_BENCH_THREADS` says otherwise.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lowbit_kernels::f32::{Activation, Conv2d, ConvGeometry};

/// `(name, channels in, channels out, kernel, stride, pads, group, input side)`.
type Layer = (&'static str, usize, usize, usize, usize, [usize; 4], usize, usize);

const LAYERS: [Layer; 17] = [
    ("r50_stem_7x7s2", 3, 64, 7, 2, [3, 3, 3, 3], 1, 224),
    ("r50_1x1_64to256", 64, 256, 1, 1, [0; 4], 1, 56),
    ("r50_1x1_256to64", 256, 64, 1, 1, [0; 4], 1, 56),
    ("r50_3x3_64", 64, 64, 3, 1, [1, 1, 1, 1], 1, 56),
    ("r50_3x3_256", 256, 256, 3, 1, [1, 1, 1, 1], 1, 14),
    ("r50_1x1s2_1024to2048", 1024, 2048, 1, 2, [0; 4], 1, 14),
    ("r50_1x1_512to2048", 512, 2048, 1, 1, [0; 4], 1, 7),
    ("eff_stem_3x3s2", 3, 32, 3, 2, [0, 0, 1, 1], 1, 224),
    ("eff_dw3x3_32", 32, 32, 3, 1, [1, 1, 1, 1], 32, 112),
    ("eff_dw3x3s2_96", 96, 96, 3, 2, [0, 0, 1, 1], 96, 112),
    ("eff_dw5x5s2_144", 144, 144, 5, 2, [1, 1, 2, 2], 144, 56),
    ("eff_dw5x5_672", 672, 672, 5, 1, [2, 2, 2, 2], 672, 14),
    ("eff_dw3x3s2_240", 240, 240, 3, 2, [0, 0, 1, 1], 240, 28),
    ("eff_dw5x5s2_672", 672, 672, 5, 2, [1, 1, 2, 2], 672, 14),
    ("eff_dw5x5_1152", 1152, 1152, 5, 1, [2, 2, 2, 2], 1152, 7),
    ("eff_1x1_32to16", 32, 16, 1, 1, [0; 4], 1, 112),
    ("eff_1x1_144to24", 144, 24, 1, 1, [0; 4], 1, 56),
];

fn conv_benches(c: &mut Criterion) {
    let threads = std::env::var("LOWBIT_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    let mut group = c.benchmark_group(format!("f32_conv_{threads}t"));
    for (name, cin, cout, k, s, pads, groups, side) in LAYERS {
        let geometry = ConvGeometry {
            in_channels: cin,
            out_channels: cout,
            kernel: [k, k],
            strides: [s, s],
            pads,
            dilations: [1, 1],
            group: groups,
        };
        let (oh, ow) = geometry.output_hw(side, side);
        let weights: Vec<f32> = (0..cout * cin / groups * k * k)
            .map(|i| (i % 13) as f32 * 0.01)
            .collect();
        let bias = vec![0.1; cout];
        let conv = Conv2d::new(geometry, &weights, Some(&bias), Activation::Relu).expect("valid layer");
        let x: Vec<f32> = (0..cin * side * side).map(|i| (i % 17) as f32 * 0.1).collect();
        let mut out = vec![0.0; cout * oh * ow];
        let flops = 2 * cout * oh * ow * cin / groups * k * k;
        group.throughput(Throughput::Elements(flops as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            pool.install(|| b.iter(|| conv.run(&x, 1, side, side, &mut out)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = conv_benches
}
criterion_main!(benches);
