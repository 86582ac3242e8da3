//! Quantize / dequantize on every available tier against ONNX `QuantizeLinear` /
//! `DequantizeLinear` written out in scalar f32, bit for bit, per tensor and per channel.

use lowbit_kernels::int8::isa::ALL_TIERS;
use lowbit_kernels::int8::ops::{
    dequantize_i8_to_f32, dequantize_u8_to_f32, quantize_linear_f32_to_i8, quantize_linear_f32_to_u8,
    AxisShape, ChannelQuant,
};
use lowbit_kernels::int8::{available_tiers, Tier};
use proptest::prelude::*;

fn tiers_to_test() -> Vec<Tier> {
    for tier in ALL_TIERS {
        if !tier.is_available() {
            println!("note: tier {tier} is not available on this CPU; its tests are skipped");
        }
    }
    available_tiers()
}

/// `saturate(round_half_even(x / scale) + zp)`; NaN gives the type's lowest value.
fn quantize_ref(x: f32, scale: f32, zp: i32, (lo, hi): (i32, i32)) -> i32 {
    if x.is_nan() {
        return lo;
    }
    let q = (x / scale).round_ties_even() as i64; // `as` saturates ±inf and huge values
    q.saturating_add(i64::from(zp))
        .clamp(i64::from(lo), i64::from(hi)) as i32
}

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let special = [
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        1e30,
        -1e30,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.0,
        -0.0,
    ];
    (0..len)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if i % 11 == 3 {
                special[(s % special.len() as u64) as usize]
            } else {
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 40.0
            }
        })
        .collect()
}

fn check(tier: Tier, shape: AxisShape, seed: u64) {
    let len = shape.outer * shape.channels * shape.inner;
    let x = values(len, seed);
    // Scale 0.5 makes many halfway cases from the x.5 values; others are irregular.
    let scales: Vec<f32> = (0..shape.channels)
        .map(|c| [0.5, 0.1, 0.037, 3.0][c % 4])
        .collect();
    let zu: Vec<i32> = (0..shape.channels).map(|c| [128, 0, 255, 7][c % 4]).collect();
    let zi: Vec<i32> = (0..shape.channels).map(|c| [0, -128, 127, -7][c % 4]).collect();
    let channel = |i: usize| (i / shape.inner) % shape.channels;
    let mut u = vec![0u8; len];
    let uq = ChannelQuant {
        scales: &scales,
        zero_points: &zu,
    };
    quantize_linear_f32_to_u8(tier, &x, shape, uq, &mut u).unwrap();
    let mut s = vec![0i8; len];
    let sq = ChannelQuant {
        scales: &scales,
        zero_points: &zi,
    };
    quantize_linear_f32_to_i8(tier, &x, shape, sq, &mut s).unwrap();
    for i in 0..len {
        let c = channel(i);
        let eu = quantize_ref(x[i], scales[c], zu[c], (0, 255));
        let es = quantize_ref(x[i], scales[c], zi[c], (-128, 127));
        assert_eq!(
            i32::from(u[i]),
            eu,
            "u8 {tier} {shape:?} [{i}] x={} scale={}",
            x[i],
            scales[c]
        );
        assert_eq!(
            i32::from(s[i]),
            es,
            "i8 {tier} {shape:?} [{i}] x={} scale={}",
            x[i],
            scales[c]
        );
    }
    let mut fu = vec![0f32; len];
    dequantize_u8_to_f32(tier, &u, shape, uq, &mut fu).unwrap();
    let mut fs = vec![0f32; len];
    dequantize_i8_to_f32(tier, &s, shape, sq, &mut fs).unwrap();
    for i in 0..len {
        let c = channel(i);
        let eu = (i32::from(u[i]) - zu[c]) as f32 * scales[c];
        let es = (i32::from(s[i]) - zi[c]) as f32 * scales[c];
        assert_eq!(fu[i].to_bits(), eu.to_bits(), "dequant u8 {tier} {shape:?} [{i}]");
        assert_eq!(fs[i].to_bits(), es.to_bits(), "dequant i8 {tier} {shape:?} [{i}]");
    }
}

fn shape(outer: usize, channels: usize, inner: usize) -> AxisShape {
    AxisShape {
        outer,
        channels,
        inner,
    }
}

#[test]
fn fixed_shapes_match_reference_on_every_tier() {
    for tier in tiers_to_test() {
        for len in [0, 1, 7, 8, 9, 16, 17, 100, 1027] {
            check(tier, AxisShape::per_tensor(len), len as u64);
        }
        for s in [
            shape(1, 3, 17),
            shape(2, 5, 16),
            shape(3, 4, 1),
            shape(1, 64, 9),
            shape(2, 2, 33),
        ] {
            check(tier, s, 5);
        }
    }
}

#[test]
fn bad_parameters_are_errors() {
    let t = Tier::Scalar;
    let mut out = [0u8; 6];
    let s = shape(1, 2, 3);
    let ok = ChannelQuant {
        scales: &[0.1, 0.2],
        zero_points: &[0, 1],
    };
    quantize_linear_f32_to_u8(t, &[0.0; 6], s, ok, &mut out).unwrap();
    let one_scale = ChannelQuant {
        scales: &[0.1],
        zero_points: &[0, 1],
    };
    assert!(quantize_linear_f32_to_u8(t, &[0.0; 6], s, one_scale, &mut out).is_err());
    let zero_scale = ChannelQuant {
        scales: &[0.0, 0.2],
        zero_points: &[0, 1],
    };
    assert!(quantize_linear_f32_to_u8(t, &[0.0; 6], s, zero_scale, &mut out).is_err());
    let bad_zp = ChannelQuant {
        scales: &[0.1, 0.2],
        zero_points: &[0, 200],
    };
    assert!(quantize_linear_f32_to_i8(t, &[0.0; 6], s, bad_zp, &mut [0i8; 6]).is_err());
    assert!(dequantize_u8_to_f32(t, &[0; 5], s, ok, &mut [0.0; 6]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_shapes_match_reference(outer in 1usize..4, channels in 1usize..6, inner in 1usize..70, seed in any::<u64>()) {
        for tier in available_tiers() {
            check(tier, shape(outer, channels, inner), seed);
        }
    }
}
