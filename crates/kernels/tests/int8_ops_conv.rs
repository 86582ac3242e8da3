//! `QConv2d` on every available tier against a naive direct convolution in i32 followed by
//! the crate's scalar requantization, bit for bit.

use lowbit_kernels::int8::isa::ALL_TIERS;
use lowbit_kernels::int8::ops::{ConvGeometry, OutputType, QConv2d, QConvParams};
use lowbit_kernels::int8::requant::scalar::requantize_one;
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::{available_tiers, Tier};
use proptest::prelude::*;

/// One convolution problem with all its data.
#[derive(Debug, Clone)]
struct Case {
    g: ConvGeometry,
    batch: usize,
    h: usize,
    w: usize,
    x: Vec<u8>,
    weights: Vec<i8>,
    weight_zero_points: Vec<i32>,
    x_zero_point: u8,
    bias: Vec<i32>,
    multiplier: Vec<f32>,
    y_zero_point: i32,
    range: (i32, i32),
    dtype: OutputType,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Shape knobs of a case; data comes from `seed`.
#[derive(Debug, Clone, Copy)]
struct Shape {
    cin: usize,
    cout: usize,
    group: usize,
    k: [usize; 2],
    s: [usize; 2],
    pads: [usize; 4],
    d: [usize; 2],
    batch: usize,
    hw: [usize; 2],
}

fn make_case(shape: Shape, seed: u64, x_zero_point: u8, per_channel_wzp: bool, dtype: OutputType) -> Case {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let g = ConvGeometry {
        in_channels: shape.cin,
        out_channels: shape.cout,
        kernel: shape.k,
        strides: shape.s,
        pads: shape.pads,
        dilations: shape.d,
        group: shape.group,
    };
    let [h, w] = shape.hw;
    let x: Vec<u8> = (0..shape.batch * shape.cin * h * w)
        .map(|_| rng.next() as u8)
        .collect();
    let wl = shape.cout * shape.cin / shape.group * shape.k[0] * shape.k[1];
    let mut weights: Vec<i8> = (0..wl).map(|_| rng.next() as i8).collect();
    weights[0] = -128;
    let weight_zero_points = (0..shape.cout)
        .map(|c| {
            if per_channel_wzp {
                [0, 5, -128, 127][c % 4]
            } else {
                0
            }
        })
        .collect();
    let bias = (0..shape.cout)
        .map(|_| (rng.next() % 20001) as i32 - 10000)
        .collect();
    // Multipliers that map the accumulator spread onto about the output range, per channel.
    // Weight zero points of ±128 bias the sums by up to 128·Σx, hence the extra shrink.
    let taps = (shape.cin / shape.group * shape.k[0] * shape.k[1]) as f32;
    let spread = if per_channel_wzp {
        taps * 128.0 * 4.0
    } else {
        taps.sqrt() * 128.0 * 8.0
    };
    let multiplier = (0..shape.cout)
        .map(|_| (0.5 + (rng.next() % 1000) as f32 / 1000.0) / spread)
        .collect();
    let (range, y_zero_point) = match (dtype, seed % 3) {
        (OutputType::U8, 0) => ((0, 255), 128),
        (OutputType::U8, 1) => ((7, 200), 7), // ReLU with a cap, zero point 7
        (OutputType::U8, _) => ((0, 255), 0),
        (OutputType::I8, 0) => ((-128, 127), 0),
        (OutputType::I8, _) => ((-3, 127), -3),
    };
    Case {
        g,
        batch: shape.batch,
        h,
        w,
        x,
        weights,
        weight_zero_points,
        x_zero_point,
        bias,
        multiplier,
        y_zero_point,
        range,
        dtype,
    }
}

/// Direct convolution, `Σ (x − zx)(w − zw)` in i32 with padding skipped (it is the zero
/// point, contributing 0), then `requantize_one` per output. Outputs are raw bytes.
fn reference(c: &Case) -> Vec<u8> {
    let g = &c.g;
    let (oh, ow) = g.output_hw(c.h, c.w);
    let (cin_g, cout_g) = (g.in_channels / g.group, g.out_channels / g.group);
    let [kh, kw] = g.kernel;
    let zx = i32::from(c.x_zero_point);
    let (lo, hi) = (
        (c.range.0 - c.y_zero_point) as f32,
        (c.range.1 - c.y_zero_point) as f32,
    );
    let mut out = Vec::with_capacity(c.batch * g.out_channels * oh * ow);
    for n in 0..c.batch {
        for co in 0..g.out_channels {
            let grp = co / cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0i32;
                    for ci in 0..cin_g {
                        let cin = grp * cin_g + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy =
                                    (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pads[0] as isize;
                                let ix =
                                    (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= c.h as isize || ix >= c.w as isize {
                                    continue;
                                }
                                let xv =
                                    c.x[((n * g.in_channels + cin) * c.h + iy as usize) * c.w + ix as usize];
                                let wv = c.weights[((co * cin_g + ci) * kh + ky) * kw + kx];
                                let term = (i32::from(xv) - zx) * (i32::from(wv) - c.weight_zero_points[co]);
                                acc = acc.wrapping_add(term);
                            }
                        }
                    }
                    let y = requantize_one(acc, c.bias[co], c.multiplier[co], c.y_zero_point, lo, hi);
                    out.push(y as u8);
                }
            }
        }
    }
    out
}

fn run(tier: Tier, c: &Case) -> Result<(Vec<u8>, &'static str), String> {
    let params = QConvParams {
        weights: &c.weights,
        weight_zero_points: PerChannel::Each(&c.weight_zero_points),
        input_zero_point: c.x_zero_point,
        bias: Some(&c.bias),
        multiplier: PerChannel::Each(&c.multiplier),
        output_zero_point: c.y_zero_point,
        output_range: c.range,
        output_type: c.dtype,
    };
    let conv = QConv2d::new(tier, c.g.clone(), &params).map_err(|e| e.to_string())?;
    let (oh, ow) = c.g.output_hw(c.h, c.w);
    let len = c.batch * c.g.out_channels * oh * ow;
    let got = match c.dtype {
        OutputType::U8 => {
            let mut out = vec![0xA5u8; len];
            conv.run(&c.x, c.batch, c.h, c.w, &mut out)
                .map_err(|e| e.to_string())?;
            out
        }
        OutputType::I8 => {
            let mut out = vec![0x5Ai8; len];
            conv.run_i8(&c.x, c.batch, c.h, c.w, &mut out)
                .map_err(|e| e.to_string())?;
            out.into_iter().map(|v| v as u8).collect()
        }
    };
    Ok((got, conv.kernel_name()))
}

fn check(tier: Tier, c: &Case) -> Result<(), String> {
    check_returning_reference(tier, c).map(|_| ())
}

/// As [`check`], returning the reference outputs on success.
fn check_returning_reference(tier: Tier, c: &Case) -> Result<Vec<u8>, String> {
    let expected = reference(c);
    let (got, kernel) = run(tier, c)?;
    let (oh, ow) = c.g.output_hw(c.h, c.w);
    match expected.iter().zip(&got).position(|(e, g)| e != g) {
        None => Ok(expected),
        Some(p) => {
            let plane = oh * ow;
            let (nc, pix) = (p / plane, p % plane);
            Err(format!(
                "{kernel} on {tier}: {:?} batch={} {}x{} zx={} {:?}: out[n={}][c={}][y={}][x={}] = {} but reference = {}",
                c.g,
                c.batch,
                c.h,
                c.w,
                c.x_zero_point,
                c.dtype,
                nc / c.g.out_channels,
                nc % c.g.out_channels,
                pix / ow,
                pix % ow,
                got[p],
                expected[p]
            ))
        }
    }
}

fn tiers_to_test() -> Vec<Tier> {
    for tier in ALL_TIERS {
        if !tier.is_available() {
            println!("note: tier {tier} is not available on this CPU; its tests are skipped");
        }
    }
    available_tiers()
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
        s: [s, s],
        pads,
        d: [1, 1],
        batch: 1,
        hw,
    }
}

/// Fixed edge shapes: pointwise, 3×3/5×5/7×7 stem, strides, asymmetric pads, groups,
/// depthwise 3×3/5×5 s1/s2 at widths around the vector sizes, dilation 2, batch 2.
fn edge_shapes() -> Vec<Shape> {
    let mut shapes = vec![
        shape(1, 1, 1, 1, 1, [0; 4], [1, 1]),
        shape(5, 7, 1, 1, 1, [0; 4], [3, 9]),
        shape(33, 17, 1, 1, 1, [0; 4], [5, 7]),
        shape(16, 40, 1, 1, 2, [0; 4], [9, 9]),
        shape(3, 8, 1, 3, 1, [1, 1, 1, 1], [7, 9]),
        shape(4, 5, 1, 3, 2, [0, 1, 1, 0], [10, 11]),
        shape(3, 16, 1, 7, 2, [3, 3, 3, 3], [23, 21]),
        shape(6, 9, 1, 5, 1, [2, 1, 0, 2], [8, 6]),
        shape(4, 6, 2, 3, 1, [1, 1, 1, 1], [6, 5]),
        shape(8, 8, 2, 1, 1, [0; 4], [4, 4]),
        shape(6, 12, 3, 3, 2, [1, 0, 1, 2], [9, 7]),
        shape(4, 8, 4, 3, 1, [1, 1, 1, 1], [5, 5]),
        shape(2, 2, 1, 3, 1, [0; 4], [2, 2]),
        // Ungrouped convs over several row tiles, parallel tasks and column panels with
        // column counts off the 32-lane panels and depths off the 4-byte groups (the
        // fused VNNI GEMM), and a depth past AMX's threshold.
        shape(24, 40, 1, 1, 1, [0; 4], [13, 11]),
        shape(3, 32, 1, 3, 2, [0, 0, 1, 1], [31, 29]),
        shape(6, 33, 1, 3, 1, [1, 1, 1, 1], [9, 10]),
        shape(130, 24, 1, 1, 1, [0; 4], [5, 7]),
        shape(17, 65, 1, 1, 1, [0; 4], [3, 3]),
    ];
    for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
        for (pads, hw) in [
            ([k / 2; 4], [7, 7]),
            ([k / 2; 4], [17, 33]),
            ([0, 0, 1, 1], [12, 16]),
            ([1, 2, 0, 1], [9, 40]),
            ([0; 4], [k, k]),
            ([k - 1, k - 1, k - 1, k - 1], [1, 1]),
        ] {
            shapes.push(shape(5, 5, 5, k, s, pads, hw));
        }
    }
    shapes.push(shape(3, 3, 3, 7, 1, [3, 3, 3, 3], [9, 8]));
    // Planes large enough that depthwise channels go in several accumulator blocks.
    shapes.push(shape(40, 40, 40, 3, 1, [1, 1, 1, 1], [64, 64]));
    shapes.push(shape(24, 24, 24, 5, 2, [2, 1, 2, 2], [70, 69]));
    shapes.push(shape(12, 12, 12, 7, 1, [3, 3, 3, 3], [48, 48]));
    shapes.push(shape(3, 3, 3, 3, 3, [1, 1, 1, 1], [10, 10]));
    let mut dilated = shape(3, 3, 3, 3, 1, [2, 2, 2, 2], [9, 9]);
    dilated.d = [2, 2];
    shapes.push(dilated);
    let mut dilated_dense = shape(4, 5, 1, 3, 1, [2, 1, 2, 1], [8, 9]);
    dilated_dense.d = [2, 1];
    shapes.push(dilated_dense);
    let mut rect = shape(4, 4, 4, 3, 1, [1, 0, 1, 0], [6, 9]);
    rect.k = [3, 1];
    rect.s = [1, 2];
    shapes.push(rect);
    for s in shapes.clone() {
        shapes.push(Shape { batch: 2, ..s });
    }
    shapes
}

#[test]
fn edge_shapes_match_reference_on_every_tier() {
    let mut failures = Vec::new();
    let mut histogram = [0usize; 256];
    for tier in tiers_to_test() {
        for (i, shape) in edge_shapes().into_iter().enumerate() {
            for (j, (zx, wzp, dtype)) in [
                (0u8, false, OutputType::U8),
                (128, true, OutputType::U8),
                (37, false, OutputType::I8),
                (255, true, OutputType::U8),
            ]
            .into_iter()
            .enumerate()
            {
                let case = make_case(shape, (i * 4 + j) as u64, zx, wzp, dtype);
                match check_returning_reference(tier, &case) {
                    Ok(expected) => expected.iter().for_each(|v| histogram[usize::from(*v)] += 1),
                    Err(e) => failures.push(e),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {}",
        failures.len(),
        failures[0]
    );
    // The data exercise the requantization, not just its clamps (ReLU-like ranges clamp
    // about half of their outputs by design).
    let distinct = histogram.iter().filter(|n| **n > 0).count();
    let total: usize = histogram.iter().sum();
    let at_bounds = histogram[0] + histogram[255] + histogram[7] + histogram[200];
    assert!(
        distinct > 200 && at_bounds * 5 < total * 2,
        "{distinct} distinct, {at_bounds}/{total} at bounds"
    );
}

#[test]
fn single_thread_pool_matches_reference() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        for tier in tiers_to_test() {
            for (i, s) in [
                shape(6, 6, 6, 3, 1, [1; 4], [9, 13]),
                shape(4, 6, 2, 3, 2, [1; 4], [9, 8]),
            ]
            .into_iter()
            .enumerate()
            {
                let case = make_case(Shape { batch: 2, ..s }, i as u64, 9, true, OutputType::U8);
                check(tier, &case).unwrap();
            }
        }
    });
}

#[test]
fn symmetric_shallow_convs_requantize_in_the_vnni_gemm() {
    // Whole-range outputs (zero point 0 or 128, u8 and i8) take the epilogue whose packs
    // saturate in place of the clamp; the capped u8 and i8 ranges keep the clamp. 13×11
    // pixels leave an odd last tile (its last row takes the single-row store).
    let outputs = [
        (0, OutputType::U8),
        (1, OutputType::U8),
        (2, OutputType::U8),
        (0, OutputType::I8),
        (1, OutputType::I8),
    ];
    for (seed, dtype) in outputs {
        for (cin, hw) in [(24, [13, 11]), (27, [9, 8])] {
            let symmetric = make_case(shape(cin, 40, 1, 1, 1, [0; 4], hw), seed, 9, false, dtype);
            for tier in [Tier::Avx512Vnni, Tier::Amx] {
                if !tier.is_available() {
                    continue;
                }
                let (got, kernel) = run(tier, &symmetric).unwrap();
                assert_eq!(kernel, "avx512vnni_gemm_requant_u8s8_8x32", "tier {tier}");
                assert_eq!(
                    got,
                    reference(&symmetric),
                    "tier {tier}, seed {seed}, {dtype:?}, cin {cin}"
                );
            }
        }
    }
    let asymmetric = make_case(
        shape(24, 40, 1, 1, 1, [0; 4], [13, 11]),
        2,
        9,
        true,
        OutputType::U8,
    );
    for tier in [Tier::Avx512Vnni, Tier::Amx] {
        if tier.is_available() {
            // Weight zero points other than 0 keep the general GEMM and its requantization.
            assert_ne!(
                run(tier, &asymmetric).unwrap().1,
                "avx512vnni_gemm_requant_u8s8_8x32"
            );
        }
    }
}

#[test]
fn depthwise_uses_vector_kernels_where_available() {
    let case = make_case(shape(8, 8, 8, 3, 2, [1; 4], [9, 9]), 1, 3, false, OutputType::U8);
    for tier in tiers_to_test() {
        let (_, kernel) = run(tier, &case).unwrap();
        let expected = match tier {
            Tier::Scalar => "scalar_dwconv_u8s8",
            Tier::Avx2 | Tier::AvxVnni => "avx2_dwconv3x3s2_u8s8",
            Tier::Avx512Vnni | Tier::Amx if std::is_x86_feature_detected!("avx512vbmi") => {
                "avx512vnni_dwconv3x3s2_u8s8"
            }
            Tier::Avx512Vnni | Tier::Amx => "avx512_dwconv3x3s2_u8s8",
        };
        assert_eq!(kernel, expected, "tier {tier}");
    }
    // Weights that only fit i16 after their zero point is removed avoid the VNNI kernels.
    let shifted = make_case(shape(8, 8, 8, 3, 2, [1; 4], [9, 9]), 1, 3, true, OutputType::U8);
    if Tier::Avx512Vnni.is_available() {
        assert_eq!(
            run(Tier::Avx512Vnni, &shifted).unwrap().1,
            "avx512_dwconv3x3s2_u8s8"
        );
    }
}

#[test]
fn bad_inputs_are_errors() {
    let case = make_case(shape(4, 6, 2, 3, 1, [1; 4], [5, 5]), 3, 0, false, OutputType::U8);
    let tier = Tier::Scalar;
    let params = QConvParams {
        weights: &case.weights,
        weight_zero_points: PerChannel::Same(0),
        input_zero_point: 0,
        bias: None,
        multiplier: PerChannel::Same(0.01),
        output_zero_point: 0,
        output_range: (0, 255),
        output_type: OutputType::U8,
    };
    let mut g = case.g.clone();
    g.group = 4;
    assert!(QConv2d::new(tier, g, &params).is_err(), "6 outputs in 4 groups");
    assert!(QConv2d::new(
        tier,
        case.g.clone(),
        &QConvParams {
            weights: &case.weights[1..],
            ..params
        }
    )
    .is_err());
    let bad_mult = QConvParams {
        multiplier: PerChannel::Same(-1.0),
        ..params
    };
    assert!(QConv2d::new(tier, case.g.clone(), &bad_mult).is_err());
    let bad_range = QConvParams {
        output_zero_point: 10,
        output_range: (20, 255),
        ..params
    };
    assert!(QConv2d::new(tier, case.g.clone(), &bad_range).is_err());
    let conv = QConv2d::new(tier, case.g.clone(), &params).unwrap();
    let mut out = vec![0u8; 6 * 25];
    assert!(conv.run(&case.x[1..], 1, 5, 5, &mut out).is_err(), "short input");
    assert!(
        conv.run_i8(&case.x, 1, 5, 5, &mut [0i8; 6 * 25]).is_err(),
        "wrong output type"
    );
    conv.run(&case.x, 1, 5, 5, &mut out).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_shapes_match_reference(
        group_kind in 0usize..3,
        cin_g in 1usize..6,
        cout_g in 1usize..6,
        groups in 1usize..4,
        k in 1usize..6,
        s in 1usize..3,
        pads in proptest::array::uniform4(0usize..3),
        h in 1usize..20,
        w in 1usize..24,
        batch in 1usize..3,
        zx in any::<u8>(),
        seed in any::<u64>(),
    ) {
        let (cin, cout, group) = match group_kind {
            0 => (cin_g, cout_g, 1),
            1 => (cin_g * groups, cout_g * groups, groups),
            _ => (cin_g + 1, cin_g + 1, cin_g + 1),
        };
        let pads = pads.map(|p| p.min(k - 1));
        let s = Shape { batch, ..shape(cin, cout, group, k, s, pads, [h.max(k), w]) };
        let dtype = if seed.is_multiple_of(4) { OutputType::I8 } else { OutputType::U8 };
        let case = make_case(s, seed, zx, seed.is_multiple_of(2), dtype);
        for tier in available_tiers() {
            if let Err(e) = check(tier, &case) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
