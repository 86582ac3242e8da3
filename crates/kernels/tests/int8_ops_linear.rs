//! `QLinear` and `QLinearDequantized` on every available tier against a naive i32 matmul
//! plus the scalar requantization (or the documented f32 epilogue), bit for bit.

use lowbit_kernels::int8::isa::ALL_TIERS;
use lowbit_kernels::int8::ops::{LinearWeights, OutputType, QLinear, QLinearDequantized, QLinearParams};
use lowbit_kernels::int8::requant::scalar::requantize_one;
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::{available_tiers, Tier, WeightLayout};
use proptest::prelude::*;

struct Case {
    m: usize,
    k: usize,
    n: usize,
    x: Vec<u8>,
    zx: u8,
    /// N×K (output-channel-major).
    w: Vec<i8>,
    zw: Vec<i32>,
    bias: Vec<i32>,
    multiplier: Vec<f32>,
}

fn make_case(m: usize, k: usize, n: usize, zx: u8, seed: u64) -> Case {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    Case {
        m,
        k,
        n,
        x: (0..m * k).map(|_| next() as u8).collect(),
        zx,
        w: (0..n * k).map(|_| next() as i8).collect(),
        zw: (0..n)
            .map(|j| {
                if seed.is_multiple_of(2) {
                    0
                } else {
                    [3, -128, 0, 127][j % 4]
                }
            })
            .collect(),
        bias: (0..n).map(|_| (next() % 4001) as i32 - 2000).collect(),
        multiplier: (0..n)
            .map(|_| (0.5 + (next() % 100) as f32 / 100.0) / (128.0 * 8.0 * (k as f32).sqrt()))
            .collect(),
    }
}

fn accumulators(c: &Case) -> Vec<i32> {
    let mut acc = vec![0i32; c.m * c.n];
    for i in 0..c.m {
        for j in 0..c.n {
            acc[i * c.n + j] = (0..c.k).fold(0i32, |s, kk| {
                let x = i32::from(c.x[i * c.k + kk]) - i32::from(c.zx);
                s.wrapping_add(x * (i32::from(c.w[j * c.k + kk]) - c.zw[j]))
            });
        }
    }
    acc
}

fn weights(c: &Case) -> LinearWeights<'_> {
    LinearWeights {
        k: c.k,
        n: c.n,
        layout: WeightLayout::NByK,
        values: &c.w,
        zero_points: PerChannel::Each(&c.zw),
    }
}

fn check_requantized(tier: Tier, c: &Case, dtype: OutputType) -> Result<(), String> {
    let (zy, range) = match dtype {
        OutputType::U8 => (100, (100, 255)),
        OutputType::I8 => (-5, (-128, 127)),
    };
    let (lo, hi) = ((range.0 - zy) as f32, (range.1 - zy) as f32);
    let expected: Vec<u8> = accumulators(c)
        .iter()
        .enumerate()
        .map(|(p, a)| requantize_one(*a, c.bias[p % c.n], c.multiplier[p % c.n], zy, lo, hi) as u8)
        .collect();
    let params = QLinearParams {
        weights: weights(c),
        input_zero_point: c.zx,
        bias: Some(&c.bias),
        multiplier: PerChannel::Each(&c.multiplier),
        output_zero_point: zy,
        output_range: range,
        output_type: dtype,
    };
    let linear = QLinear::new(tier, &params).map_err(|e| e.to_string())?;
    let got: Vec<u8> = match dtype {
        OutputType::U8 => {
            let mut out = vec![0u8; c.m * c.n];
            linear.run(c.m, &c.x, &mut out).map_err(|e| e.to_string())?;
            out
        }
        OutputType::I8 => {
            let mut out = vec![0i8; c.m * c.n];
            linear.run_i8(c.m, &c.x, &mut out).map_err(|e| e.to_string())?;
            out.into_iter().map(|v| v as u8).collect()
        }
    };
    compare(tier, c, &expected, &got)
}

fn check_dequantized(tier: Tier, c: &Case) -> Result<(), String> {
    let x_scale = 0.037f32;
    let w_scales: Vec<f32> = (0..c.n).map(|j| 0.001 * (j + 1) as f32).collect();
    let bias: Vec<f32> = (0..c.n).map(|j| j as f32 * 0.25 - 1.0).collect();
    let expected: Vec<u32> = accumulators(c)
        .iter()
        .enumerate()
        .map(|(p, a)| (*a as f32 * (x_scale * w_scales[p % c.n]) + bias[p % c.n]).to_bits())
        .collect();
    let linear = QLinearDequantized::new(tier, weights(c), PerChannel::Each(&w_scales), Some(&bias))
        .map_err(|e| e.to_string())?;
    let mut out = vec![0f32; c.m * c.n];
    linear
        .run_with_scale(c.m, &c.x, x_scale, c.zx, &mut out)
        .map_err(|e| e.to_string())?;
    let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
    if expected == got {
        Ok(())
    } else {
        Err(format!(
            "dequantized output differs on {tier} for M={} K={} N={}",
            c.m, c.k, c.n
        ))
    }
}

fn compare(tier: Tier, c: &Case, expected: &[u8], got: &[u8]) -> Result<(), String> {
    match expected.iter().zip(got).position(|(e, g)| e != g) {
        None => Ok(()),
        Some(p) => Err(format!(
            "{tier} M={} K={} N={} zx={}: out[{}][{}] = {} but reference = {}",
            c.m,
            c.k,
            c.n,
            c.zx,
            p / c.n,
            p % c.n,
            got[p],
            expected[p]
        )),
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

#[test]
fn edge_shapes_match_reference_on_every_tier() {
    let shapes = [
        (1, 1, 1),
        (1, 64, 10),
        (3, 7, 5),
        (17, 33, 65),
        (64, 128, 32),
        (5, 300, 3),
        (2, 1280, 1000),
    ];
    for tier in tiers_to_test() {
        for (i, &(m, k, n)) in shapes.iter().enumerate() {
            for (zx, dtype) in [
                (0u8, OutputType::U8),
                (128, OutputType::I8),
                (201, OutputType::U8),
            ] {
                let case = make_case(m, k, n, zx, i as u64 + u64::from(zx));
                check_requantized(tier, &case, dtype).unwrap();
                check_dequantized(tier, &case).unwrap();
            }
        }
    }
}

#[test]
fn mismatched_lengths_are_errors() {
    let c = make_case(2, 8, 4, 0, 1);
    let params = QLinearParams {
        weights: weights(&c),
        input_zero_point: 0,
        bias: None,
        multiplier: PerChannel::Same(0.01),
        output_zero_point: 0,
        output_range: (0, 255),
        output_type: OutputType::U8,
    };
    let linear = QLinear::new(Tier::Scalar, &params).unwrap();
    assert!(linear.run(2, &c.x[1..], &mut [0u8; 8]).is_err());
    assert!(linear.run(2, &c.x, &mut [0u8; 7]).is_err());
    assert!(linear.run_i8(2, &c.x, &mut [0i8; 8]).is_err(), "planned as u8");
    let short_bias = QLinearParams {
        bias: Some(&[1, 2]),
        ..params
    };
    assert!(QLinear::new(Tier::Scalar, &short_bias).is_err());
    let bad_zero_point = QLinearParams {
        weights: LinearWeights {
            zero_points: PerChannel::Same(128),
            ..weights(&c)
        },
        ..params
    };
    assert!(QLinear::new(Tier::Scalar, &bad_zero_point).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_shapes_match_reference(m in 1usize..40, k in 1usize..200, n in 1usize..70, zx in any::<u8>(), seed in any::<u64>()) {
        let case = make_case(m, k, n, zx, seed);
        for tier in available_tiers() {
            let dtype = if seed.is_multiple_of(3) { OutputType::I8 } else { OutputType::U8 };
            if let Err(e) = check_requantized(tier, &case, dtype).and_then(|_| check_dequantized(tier, &case)) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
