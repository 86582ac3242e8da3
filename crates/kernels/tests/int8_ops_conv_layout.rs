//! `QConv2d::run_layout` in every input/output layout on every available tier equals the
//! NCHW run on the scalar tier (which `int8_ops_conv.rs` pins to a direct reference) bit
//! for bit, over shapes aimed at the NHWC kernels: channel counts around the 16-lane
//! vectors, every depthwise filter and stride, asymmetric padding, dilation, groups,
//! zero points that push `w − zw` past i8, i8 outputs and batches. The NHWC global
//! average pool (the usual reader of the last conv) is checked against the NCHW one.

use lowbit_kernels::int8::ops::{
    qglobal_avg_pool, qglobal_avg_pool_nhwc, ConvGeometry, Layout, OutputType, PoolQuant, QConv2d,
    QConvParams, QParams,
};
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::{available_tiers, Tier};
use proptest::prelude::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    cin: usize,
    cout: usize,
    group: usize,
    k: [usize; 2],
    s: usize,
    pads: [usize; 4],
    d: usize,
    batch: usize,
    hw: [usize; 2],
}

/// A conv with data from `seed`, its input (NCHW) and the output length.
struct Case {
    g: ConvGeometry,
    shape: Shape,
    x: Vec<u8>,
    weights: Vec<i8>,
    weight_zero_points: Vec<i32>,
    bias: Vec<i32>,
    multiplier: Vec<f32>,
    zx: u8,
    zy: i32,
    range: (i32, i32),
    dtype: OutputType,
}

fn case(shape: Shape, seed: u64) -> Case {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let g = ConvGeometry {
        in_channels: shape.cin,
        out_channels: shape.cout,
        kernel: shape.k,
        strides: [shape.s; 2],
        pads: shape.pads,
        dilations: [shape.d; 2],
        group: shape.group,
    };
    let [h, w] = shape.hw;
    let x = (0..shape.batch * shape.cin * h * w)
        .map(|_| rng.next() as u8)
        .collect();
    let weight_len = shape.cout * shape.cin / shape.group * shape.k[0] * shape.k[1];
    let weights = (0..weight_len).map(|_| rng.next() as i8).collect();
    let shifted = seed % 3 == 1;
    let weight_zero_points = (0..shape.cout)
        .map(|c| if shifted { [0, 100, -128, 3][c % 4] } else { 0 })
        .collect();
    let bias = (0..shape.cout)
        .map(|_| (rng.next() % 20001) as i32 - 10000)
        .collect();
    let taps = (shape.cin / shape.group * shape.k[0] * shape.k[1]) as f32;
    let spread = taps.sqrt() * 128.0 * if shifted { 40.0 } else { 8.0 };
    let multiplier = (0..shape.cout)
        .map(|_| (0.5 + (rng.next() % 1000) as f32 / 1000.0) / spread)
        .collect();
    let (dtype, zy, range) = match seed % 4 {
        0 => (OutputType::U8, 128, (0, 255)),
        1 => (OutputType::U8, 3, (3, 200)),
        2 => (OutputType::I8, -5, (-128, 127)),
        _ => (OutputType::U8, 0, (0, 255)),
    };
    Case {
        g,
        shape,
        x,
        weights,
        weight_zero_points,
        bias,
        multiplier,
        zx: (seed % 256) as u8,
        zy,
        range,
        dtype,
    }
}

fn build(tier: Tier, c: &Case) -> QConv2d {
    let params = QConvParams {
        weights: &c.weights,
        weight_zero_points: PerChannel::Each(&c.weight_zero_points),
        input_zero_point: c.zx,
        bias: Some(&c.bias),
        multiplier: PerChannel::Each(&c.multiplier),
        output_zero_point: c.zy,
        output_range: c.range,
        output_type: c.dtype,
    };
    QConv2d::new(tier, c.g.clone(), &params).unwrap()
}

/// `[batch, c, h, w]` bytes reordered to `[batch, h, w, c]`, or back with `inverse`.
fn reorder(x: &[u8], batch: usize, c: usize, hw: usize, inverse: bool) -> Vec<u8> {
    let mut out = vec![0; x.len()];
    for n in 0..batch {
        for ch in 0..c {
            for p in 0..hw {
                let (nchw, nhwc) = ((n * c + ch) * hw + p, (n * hw + p) * c + ch);
                if inverse {
                    out[nchw] = x[nhwc];
                } else {
                    out[nhwc] = x[nchw];
                }
            }
        }
    }
    out
}

/// Every layout pair on every tier against the scalar NCHW run.
fn check(c: &Case) -> Result<(), String> {
    let [h, w] = c.shape.hw;
    let batch = c.shape.batch;
    let (oh, ow) = c.g.output_hw(h, w);
    let out_len = batch * c.g.out_channels * oh * ow;
    let mut expected = vec![0u8; out_len];
    build(Tier::Scalar, c)
        .run_layout(&c.x, (batch, h, w), (Layout::Nchw, Layout::Nchw), &mut expected)
        .map_err(|e| e.to_string())?;
    let x_nhwc = reorder(&c.x, batch, c.g.in_channels, h * w, false);
    for tier in available_tiers() {
        let conv = build(tier, c);
        for layouts in [
            (Layout::Nchw, Layout::Nchw),
            (Layout::Nchw, Layout::Nhwc),
            (Layout::Nhwc, Layout::Nchw),
            (Layout::Nhwc, Layout::Nhwc),
        ] {
            let x = if layouts.0 == Layout::Nhwc { &x_nhwc } else { &c.x };
            let mut out = vec![0xA5u8; out_len];
            conv.run_layout(x, (batch, h, w), layouts, &mut out)
                .map_err(|e| e.to_string())?;
            if layouts.1 == Layout::Nhwc {
                out = reorder(&out, batch, c.g.out_channels, oh * ow, true);
            }
            if let Some(p) = out.iter().zip(&expected).position(|(a, b)| a != b) {
                return Err(format!(
                    "{} on {tier} {layouts:?}: {:?} {:?}: byte {p} (NCHW) = {} but expected {}",
                    conv.nhwc_kernel_name(),
                    c.g,
                    c.shape,
                    out[p],
                    expected[p]
                ));
            }
        }
    }
    Ok(())
}

fn shape(
    cin: usize,
    cout: usize,
    group: usize,
    k: usize,
    s: usize,
    pads: [usize; 4],
    hw: [usize; 2],
) -> Shape {
    Shape {
        cin,
        cout,
        group,
        k: [k, k],
        s,
        pads,
        d: 1,
        batch: 1,
        hw,
    }
}

#[test]
fn every_layout_matches_the_nchw_run() {
    let mut shapes = Vec::new();
    for c in [1, 15, 16, 17, 32, 40, 77, 96] {
        for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (1, 1), (7, 2)] {
            shapes.push(shape(c, c, c, k, s, [k / 2; 4], [9, 11]));
            shapes.push(shape(c, c, c, k, s, [0, k / 2, k - 1, 0], [k + 4, k]));
        }
    }
    shapes.push(Shape {
        d: 2,
        ..shape(20, 20, 20, 3, 1, [2, 1, 2, 2], [8, 9])
    });
    shapes.push(Shape {
        k: [3, 1],
        ..shape(18, 18, 18, 3, 2, [1, 0, 1, 0], [7, 6])
    });
    for (cin, cout) in [(16, 24), (3, 32), (65, 7), (64, 64)] {
        shapes.push(shape(cin, cout, 1, 1, 1, [0; 4], [5, 7]));
        shapes.push(shape(cin, cout, 1, 3, 2, [0, 0, 1, 1], [9, 8]));
        shapes.push(shape(cin, cout, 1, 1, 2, [0; 4], [6, 6]));
    }
    shapes.push(shape(8, 12, 2, 1, 1, [0; 4], [4, 5]));
    shapes.push(shape(6, 9, 3, 3, 1, [1, 0, 1, 2], [7, 5]));
    for s in shapes.clone() {
        shapes.push(Shape { batch: 2, ..s });
    }
    let failures: Vec<String> = shapes
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| check(&case(s, i as u64)).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures, first: {}",
        failures.len(),
        failures[0]
    );
}

/// Shapes aimed at the VNNI kernel's runs of adjacent outputs (3×3 and 5×5, horizontal
/// stride 1): widths that leave a remainder (or fill no run), rows with more runs than
/// one batch, asymmetric and TF-SAME padding, partial and several channel blocks,
/// vertical stride or dilation 2, and seeds whose weights fit i8 (the kernel's domain)
/// with input zero points 0–255, u8/i8 outputs and ReLU ranges.
#[test]
fn runs_of_adjacent_outputs_match_the_nchw_run() {
    let mut cases = Vec::new();
    for k in [3, 5] {
        for (pads, w) in [
            ([k / 2; 4], 1),
            ([k / 2; 4], 2),
            ([k / 2; 4], 3),
            ([k / 2; 4], 6),
            ([k / 2; 4], 7),
            ([0; 4], k + 2),
            ([0; 4], k + 5),
            ([0, 0, k - 1, k - 1], 10),
            ([1, k - 1, 2, 0], 11),
            ([k / 2; 4], 45),
            ([k / 2; 4], 61),
        ] {
            for c in [5, 33, 96] {
                cases.push((shape(c, c, c, k, 1, pads, [k + 1, w.max(k)]), None));
            }
        }
        // Only the vertical stride or dilation differs from 1: rows still run.
        for vertical in [([2, 1], [1, 1]), ([1, 1], [2, 1])] {
            cases.push((
                shape(40, 40, 40, k, 1, [k / 2; 4], [2 * k + 1, 13]),
                Some(vertical),
            ));
        }
    }
    let mut failures = Vec::new();
    for (i, (s, vertical)) in cases.into_iter().enumerate() {
        for seed in [0, 2, 5, 254, 255] {
            let mut c = case(
                Shape {
                    batch: 1 + i % 2,
                    ..s
                },
                seed,
            );
            if let Some((strides, dilations)) = vertical {
                (c.g.strides, c.g.dilations) = (strides, dilations);
            }
            failures.extend(check(&c).err());
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn depthwise_has_an_nhwc_kernel_on_avx512() {
    let conv = build(Tier::Scalar, &case(shape(32, 32, 32, 3, 1, [1; 4], [8, 8]), 0));
    assert_eq!(conv.nhwc_kernel_name(), "scalar_dwconv_u8s8");
    for tier in [Tier::Amx, Tier::Avx512Vnni] {
        if tier.is_available() {
            // Seed 0 has symmetric weights (`w − zw` fits i8), seed 1 shifted ones.
            let symmetric = build(tier, &case(shape(32, 32, 32, 5, 2, [2; 4], [8, 8]), 0));
            let vnni =
                std::is_x86_feature_detected!("avx512vl") && std::is_x86_feature_detected!("avx512vbmi");
            let expected = if vnni {
                "avx512vnni_dwconv_nhwc_u8s8"
            } else {
                "avx512_dwconv_nhwc_u8s8"
            };
            assert_eq!(symmetric.nhwc_kernel_name(), expected);
            let shifted = build(tier, &case(shape(32, 32, 32, 5, 2, [2; 4], [8, 8]), 1));
            assert_eq!(shifted.nhwc_kernel_name(), "avx512_dwconv_nhwc_u8s8");
        }
    }
}

#[test]
fn global_average_pool_nhwc_matches_nchw() {
    let mut rng = Rng(7);
    for (batch, channels, pixels) in [(1, 1, 1), (2, 17, 49), (1, 1280, 49), (3, 5, 13)] {
        let x: Vec<u8> = (0..batch * channels * pixels).map(|_| rng.next() as u8).collect();
        let q = PoolQuant {
            input: QParams::new(0.05, 7),
            output: QParams::new(0.03, 120),
            range: (120, 255),
        };
        for tier in available_tiers() {
            let mut expected = vec![0u8; batch * channels];
            qglobal_avg_pool(tier, &x, batch * channels, pixels, &q, &mut expected).unwrap();
            let x_nhwc = reorder(&x, batch, channels, pixels, false);
            let mut got = vec![0xA5u8; batch * channels];
            qglobal_avg_pool_nhwc(tier, &x_nhwc, (batch, pixels, channels), &q, &mut got).unwrap();
            assert_eq!(got, expected, "{tier} {batch}x{channels}x{pixels}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_depthwise_matches(
        c in 1usize..70,
        k in 1usize..6,
        s in 1usize..3,
        pads in proptest::array::uniform4(0usize..3),
        h in 1usize..12,
        w in 1usize..12,
        seed in any::<u64>(),
    ) {
        let pads = pads.map(|p| p.min(k - 1));
        let sh = shape(c, c, c, k, s, pads, [h.max(k), w.max(k)]);
        if let Err(e) = check(&case(sh, seed)) {
            prop_assert!(false, "{}", e);
        }
    }
}
