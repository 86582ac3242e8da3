//! Bytes per second of the NHWC depthwise kernel on MobileNetV2 / EfficientNet layer
//! shapes, next to a plain copy of the same bytes (the memory-bandwidth yardstick) in
//! the same run. Ignored by default (it times, it does not test); run with
//! `cargo test --release -p lowbit-kernels --test int8_dw_bandwidth -- --ignored --nocapture`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lowbit_kernels::int8::ops::{ConvGeometry, Layout, OutputType, QConv2d, QConvParams};
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::selected_tier;

/// The fastest of repeated runs of `f` over about half a second (the minimum is the
/// figure least disturbed by other load on the machine).
fn fastest(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut best = Duration::MAX;
    while start.elapsed() < Duration::from_millis(500) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}

#[test]
#[ignore = "timing run, not a test"]
fn print_depthwise_bytes_per_second() {
    let tier = selected_tier();
    for (c, hw, k, s) in [
        (96, 112, 3, 2),
        (144, 56, 3, 1),
        (240, 28, 5, 1),
        (672, 14, 5, 1),
        (1152, 7, 5, 1),
    ] {
        let g = ConvGeometry {
            in_channels: c,
            out_channels: c,
            kernel: [k, k],
            strides: [s, s],
            pads: [k / 2; 4],
            dilations: [1, 1],
            group: c,
        };
        let weights: Vec<i8> = (0..c * k * k).map(|i| (i * 37 % 255) as i8).collect();
        let multiplier = vec![0.001f32; c];
        let params = QConvParams {
            weights: &weights,
            weight_zero_points: PerChannel::Same(0),
            input_zero_point: 3,
            bias: None,
            multiplier: PerChannel::Each(&multiplier),
            output_zero_point: 0,
            output_range: (0, 255),
            output_type: OutputType::U8,
        };
        let conv = QConv2d::new(tier, g.clone(), &params).unwrap();
        let (oh, ow) = g.output_hw(hw, hw);
        let x: Vec<u8> = (0..c * hw * hw).map(|i| (i * 13) as u8).collect();
        let mut out = vec![0u8; c * oh * ow];
        let nhwc = (Layout::Nhwc, Layout::Nhwc);
        let conv_time = fastest(|| {
            conv.run_layout(black_box(&x), (1, hw, hw), nhwc, &mut out)
                .unwrap()
        });
        let bytes = (x.len() + out.len()) as f64;
        let mut copy = vec![0u8; x.len()];
        let copy_time = fastest(|| copy.copy_from_slice(black_box(&x)));
        let gbs = |t: Duration| bytes / t.as_secs_f64() / 1e9;
        let copy_gbs = 2.0 * x.len() as f64 / copy_time.as_secs_f64() / 1e9;
        println!(
            "{} C={c:4} {hw:3}x{hw:<3} {k}x{k} s{s}: {:7.1} µs, {:6.1} GB/s in+out (copy of the input: {:6.1} GB/s), {:5.1} GMAC/s",
            conv.nhwc_kernel_name(),
            conv_time.as_secs_f64() * 1e6,
            gbs(conv_time),
            copy_gbs,
            (c * oh * ow * k * k) as f64 / conv_time.as_secs_f64() / 1e9
        );
    }
}
