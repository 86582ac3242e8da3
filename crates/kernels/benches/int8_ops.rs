//! Throughput of the quantized convolutions on one thread, per available tier:
//! depthwise layers of EfficientNet-Lite0 in bytes/s (input + output bytes per second)
//! and a ResNet-50 3×3 conv (64→64 channels at 56×56) in GOPS (2·MACs per second), each
//! per second of wall time and per second of the benchmark thread's CPU time.
//!
//! `cargo bench -p lowbit-kernels --bench int8_ops`; numbers go in docs/PERFORMANCE.md.

use std::time::{Duration, Instant};

use lowbit_kernels::int8::ops::{ConvGeometry, OutputType, QConv2d, QConvParams};
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::{available_tiers, bench::thread_cpu_seconds, Tier};

/// (channels, input side, kernel, stride) of EfficientNet-Lite0 depthwise layers.
const DEPTHWISE: [(usize, usize, usize, usize); 4] =
    [(32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 5, 2), (672, 14, 5, 1)];

fn bytes(len: usize, mut state: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

fn conv(tier: Tier, g: ConvGeometry) -> QConv2d {
    let weight_len = g.out_channels * g.in_channels / g.group * g.kernel[0] * g.kernel[1];
    let weights: Vec<i8> = bytes(weight_len, 7).into_iter().map(|v| v as i8).collect();
    let params = QConvParams {
        weights: &weights,
        weight_zero_points: PerChannel::Same(0),
        input_zero_point: 128,
        bias: None,
        multiplier: PerChannel::Same(1e-4),
        output_zero_point: 0,
        output_range: (0, 255),
        output_type: OutputType::U8,
    };
    QConv2d::new(tier, g, &params).expect("valid benchmark conv")
}

/// Mean (wall, CPU) seconds per call over at least `min_time`, after one warm-up call.
/// CPU time is this thread's, which stays meaningful when other processes share the cores.
fn time_per_call(conv: &QConv2d, x: &[u8], side: usize, out: &mut [u8], min_time: Duration) -> (f64, f64) {
    conv.run(x, 1, side, side, out).expect("run");
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut calls = 0u32;
    while calls == 0 || start.elapsed() < min_time {
        conv.run(x, 1, side, side, out).expect("run");
        calls += 1;
    }
    let calls = f64::from(calls);
    (
        start.elapsed().as_secs_f64() / calls,
        (thread_cpu_seconds() - cpu_start) / calls,
    )
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("1-thread pool");
    let min_time = Duration::from_millis(400);
    pool.install(|| {
        for tier in available_tiers() {
            for (c, side, k, s) in DEPTHWISE {
                let g = ConvGeometry {
                    in_channels: c,
                    out_channels: c,
                    kernel: [k, k],
                    strides: [s, s],
                    pads: [k / 2; 4],
                    dilations: [1, 1],
                    group: c,
                };
                let (oh, ow) = g.output_hw(side, side);
                let conv = conv(tier, g);
                let x = bytes(c * side * side, 1);
                let mut out = vec![0u8; c * oh * ow];
                let (wall, cpu) = time_per_call(&conv, &x, side, &mut out, min_time);
                let moved = (x.len() + out.len()) as f64;
                println!(
                    "{:<28} dw {c}ch@{side} {k}x{k} s{s}: wall {:8.1} us {:6.2} GB/s | cpu {:8.1} us {:6.2} GB/s",
                    conv.kernel_name(),
                    wall * 1e6,
                    moved / wall / 1e9,
                    cpu * 1e6,
                    moved / cpu / 1e9
                );
            }
            let g = ConvGeometry {
                in_channels: 64,
                out_channels: 64,
                kernel: [3, 3],
                strides: [1, 1],
                pads: [1; 4],
                dilations: [1, 1],
                group: 1,
            };
            let conv = conv(tier, g);
            let x = bytes(64 * 56 * 56, 2);
            let mut out = vec![0u8; 64 * 56 * 56];
            let (wall, cpu) = time_per_call(&conv, &x, 56, &mut out, min_time);
            let ops = 2.0 * 64.0 * 64.0 * 9.0 * 56.0 * 56.0;
            println!(
                "{:<28} conv 64->64@56 3x3 s1: wall {:8.1} us {:6.1} GOPS | cpu {:8.1} us {:6.1} GOPS",
                conv.kernel_name(),
                wall * 1e6,
                ops / wall / 1e9,
                cpu * 1e6,
                ops / cpu / 1e9
            );
        }
    });
}
