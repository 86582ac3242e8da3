//! Requantization: the documented rule, and every tier equal to the scalar reference.

use lowbit_kernels::int8::requant::{
    activation_range, requantize_i8, requantize_u8, scalar::requantize_one, ChannelAxis, PerChannel,
    RequantParams,
};
use lowbit_kernels::int8::{available_tiers, Int8Error, Tier};

fn u8_out(tier: Tier, acc: &[i32], params: &RequantParams<'_>) -> Vec<u8> {
    let mut out = vec![0u8; acc.len()];
    requantize_u8(tier, (1, acc.len()), acc, ChannelAxis::Columns, params, &mut out).unwrap();
    out
}

fn per_tensor(multiplier: f32, zero_point: i32, range: (i32, i32)) -> RequantParams<'static> {
    RequantParams {
        multiplier: PerChannel::Same(multiplier),
        bias: PerChannel::Same(0),
        zero_point,
        range,
    }
}

#[test]
fn halfway_cases_round_to_even() {
    // acc · 0.5 lands exactly on .5 for odd acc.
    let acc = [1, 3, 5, 7, -1, -3, -5, 0, 2, 9, 11, 13, 15, 17, 19, 21, -7, -9];
    let want: Vec<u8> = [0, 2, 2, 4, 0, -2, -2, 0, 1, 4, 6, 6, 8, 8, 10, 10, -4, -4]
        .iter()
        .map(|v: &i32| (v + 100) as u8)
        .collect();
    for tier in available_tiers() {
        assert_eq!(
            u8_out(tier, &acc, &per_tensor(0.5, 100, (0, 255))),
            want,
            "tier {tier}"
        );
    }
}

#[test]
fn saturates_to_the_type_range() {
    let acc = [
        i32::MAX,
        i32::MIN,
        1 << 20,
        -(1 << 20),
        400,
        -400,
        0,
        155,
        156,
        -100,
        -101,
    ];
    for tier in available_tiers() {
        let got = u8_out(tier, &acc, &per_tensor(1.0, 100, (0, 255)));
        assert_eq!(got, [255, 0, 255, 0, 255, 0, 100, 255, 255, 0, 0], "tier {tier}");
        let mut out = vec![0i8; acc.len()];
        let params = per_tensor(1.0, -3, (-128, 127));
        requantize_i8(
            tier,
            (1, acc.len()),
            &acc,
            ChannelAxis::Columns,
            &params,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            [127, -128, 127, -128, 127, -128, -3, 127, 127, -103, -104],
            "tier {tier}"
        );
    }
}

#[test]
fn fused_relu_and_relu6_ranges() {
    let scale = 0.05; // 6.0 / 0.05 = 120 steps above the zero point
    let relu = activation_range((0, 255), scale, 20, 0.0, f32::INFINITY);
    let relu6 = activation_range((0, 255), scale, 20, 0.0, 6.0);
    assert_eq!(relu, (20, 255));
    assert_eq!(relu6, (20, 140));
    assert_eq!(activation_range((-128, 127), 0.01, 0, 0.0, 6.0), (0, 127));
    let acc = [-50, -1, 0, 1, 119, 120, 121, 500];
    for tier in available_tiers() {
        assert_eq!(
            u8_out(tier, &acc, &per_tensor(1.0, 20, relu)),
            [20, 20, 20, 21, 139, 140, 141, 255]
        );
        assert_eq!(
            u8_out(tier, &acc, &per_tensor(1.0, 20, relu6)),
            [20, 20, 20, 21, 139, 140, 140, 140]
        );
    }
}

#[test]
fn per_channel_bias_and_multipliers_on_both_axes() {
    let (rows, cols) = (3, 21);
    let acc: Vec<i32> = (0..rows * cols).map(|i| i as i32 * 37 - 1000).collect();
    let col_mult: Vec<f32> = (0..cols).map(|c| 0.01 + c as f32 * 0.013).collect();
    let col_bias: Vec<i32> = (0..cols).map(|c| c as i32 * 11 - 90).collect();
    let row_mult = [0.02f32, 0.5, 0.125];
    let row_bias = [5, -7, 1000];
    for tier in available_tiers() {
        for axis in [ChannelAxis::Columns, ChannelAxis::Rows] {
            let (mult, bias) = match axis {
                ChannelAxis::Columns => (&col_mult[..], &col_bias[..]),
                ChannelAxis::Rows => (&row_mult[..], &row_bias[..]),
            };
            let params = RequantParams {
                multiplier: PerChannel::Each(mult),
                bias: PerChannel::Each(bias),
                zero_point: -5,
                range: (-128, 120),
            };
            let mut out = vec![0i8; rows * cols];
            requantize_i8(tier, (rows, cols), &acc, axis, &params, &mut out).unwrap();
            for r in 0..rows {
                for c in 0..cols {
                    let ch = if axis == ChannelAxis::Columns { c } else { r };
                    let want = requantize_one(acc[r * cols + c], bias[ch], mult[ch], -5, -123.0, 125.0);
                    assert_eq!(
                        i32::from(out[r * cols + c]),
                        want,
                        "tier {tier} {axis:?} at [{r}][{c}]"
                    );
                }
            }
        }
    }
}

#[test]
fn vector_tiers_equal_scalar_bit_for_bit() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for len in [1usize, 7, 8, 15, 16, 17, 33, 100, 1000] {
        let acc: Vec<i32> = (0..len)
            .map(|i| match i % 4 {
                0 => next() as i32,
                1 => (next() % 4001) as i32 - 2000,
                _ => (next() % 200_001) as i32 - 100_000,
            })
            .collect();
        let mult: Vec<f32> = (0..len)
            .map(|_| f32::from_bits(0x3800_0000 + (next() % 0x0400_0000) as u32))
            .collect();
        let bias: Vec<i32> = (0..len).map(|_| (next() % 20_001) as i32 - 10_000).collect();
        let params = RequantParams {
            multiplier: PerChannel::Each(&mult),
            bias: PerChannel::Each(&bias),
            zero_point: 77,
            range: (3, 250),
        };
        let reference = u8_out(Tier::Scalar, &acc, &params);
        for tier in available_tiers() {
            let got = u8_out(tier, &acc, &params);
            if let Some(i) = reference.iter().zip(&got).position(|(r, g)| r != g) {
                panic!(
                    "tier {tier} len {len} at {i}: acc {} got {} want {}",
                    acc[i], got[i], reference[i]
                );
            }
        }
    }
}

/// Matrices whose rows end around the vector kernels' 16- and 64-value steps, per-column
/// parameters, both output types (signed results narrow differently from unsigned ones)
/// and a clamped range, against the scalar reference element by element.
#[test]
fn matrices_with_rows_around_the_vector_steps_match_scalar() {
    let mut state = 0x0bad_5eed_1234_5678u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for cols in [1usize, 15, 24, 63, 64, 65, 96, 130, 200] {
        let rows = 5;
        let acc: Vec<i32> = (0..rows * cols)
            .map(|_| (next() % 400_001) as i32 - 200_000)
            .collect();
        let mult: Vec<f32> = (0..cols).map(|_| 1e-4 + (next() % 1000) as f32 * 2e-6).collect();
        let bias: Vec<i32> = (0..cols).map(|_| (next() % 2001) as i32 - 1000).collect();
        for (zero_point, range) in [(128, (0, 255)), (3, (3, 200)), (-5, (-128, 127)), (0, (0, 127))] {
            let params = RequantParams {
                multiplier: PerChannel::Each(&mult),
                bias: PerChannel::Each(&bias),
                zero_point,
                range,
            };
            let (lo, hi) = ((range.0 - zero_point) as f32, (range.1 - zero_point) as f32);
            let want = |i: usize| requantize_one(acc[i], bias[i % cols], mult[i % cols], zero_point, lo, hi);
            for tier in available_tiers() {
                let got: Vec<i32> = if range.0 < 0 {
                    let mut out = vec![0i8; rows * cols];
                    requantize_i8(tier, (rows, cols), &acc, ChannelAxis::Columns, &params, &mut out).unwrap();
                    out.iter().map(|v| i32::from(*v)).collect()
                } else {
                    let mut out = vec![0u8; rows * cols];
                    requantize_u8(tier, (rows, cols), &acc, ChannelAxis::Columns, &params, &mut out).unwrap();
                    out.iter().map(|v| i32::from(*v)).collect()
                };
                if let Some(i) = (0..got.len()).find(|&i| got[i] != want(i)) {
                    panic!(
                        "{tier} {rows}x{cols} {range:?} at {i}: got {} want {}",
                        got[i],
                        want(i)
                    );
                }
            }
        }
    }
}

#[test]
fn bad_parameters_are_typed_errors() {
    let acc = [0; 4];
    let mut out = [0u8; 4];
    let cases = [
        per_tensor(0.0, 0, (0, 255)),
        per_tensor(f32::NAN, 0, (0, 255)),
        per_tensor(1.0, 300, (0, 255)),
        per_tensor(1.0, 10, (20, 255)),
        per_tensor(1.0, 10, (0, 256)),
        RequantParams {
            bias: PerChannel::Each(&[1, 2, 3]),
            ..per_tensor(1.0, 0, (0, 255))
        },
    ];
    for params in cases {
        let r = requantize_u8(
            Tier::Scalar,
            (2, 2),
            &acc,
            ChannelAxis::Columns,
            &params,
            &mut out,
        );
        assert!(matches!(r, Err(Int8Error::Requant(_))), "{params:?}");
    }
    let ok = per_tensor(1.0, 0, (0, 255));
    let r = requantize_u8(Tier::Scalar, (3, 2), &acc, ChannelAxis::Columns, &ok, &mut out);
    assert!(matches!(r, Err(Int8Error::LengthMismatch { .. })));
}
