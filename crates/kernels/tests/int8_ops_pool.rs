//! Quantized pooling and concatenation against naive references, bit for bit.

use lowbit_kernels::int8::isa::ALL_TIERS;
use lowbit_kernels::int8::ops::{
    qavg_pool2d, qconcat, qglobal_avg_pool, qmax_pool2d, PoolGeometry, PoolQuant, QInput, QParams,
};
use lowbit_kernels::int8::requant::scalar::requantize_one;
use lowbit_kernels::int8::{available_tiers, Tier};
use proptest::prelude::*;

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// ONNX dequantize then `QuantizeLinear`, then the clamp.
fn requant_ref(q: u8, input: QParams, output: QParams, range: (i32, i32)) -> u8 {
    let real = (i32::from(q) - input.zero_point) as f32 * input.scale;
    let y = (real / output.scale).round_ties_even() as i32 + output.zero_point;
    y.clamp(range.0, range.1) as u8
}

fn quant_sets() -> Vec<PoolQuant> {
    let q = QParams::new;
    vec![
        PoolQuant {
            input: q(0.1, 128),
            output: q(0.1, 128),
            range: (0, 255),
        },
        PoolQuant {
            input: q(0.1, 128),
            output: q(0.1, 128),
            range: (128, 255),
        },
        PoolQuant {
            input: q(0.05, 3),
            output: q(0.07, 20),
            range: (0, 255),
        },
        PoolQuant {
            input: q(1.0, 0),
            output: q(2.0, 0),
            range: (0, 255),
        },
    ]
}

/// Taps of output `o` along an axis inside the input, and the divisor with padding.
fn axis_taps(g: &PoolGeometry, axis: usize, o: usize, size: usize) -> (Vec<usize>, usize) {
    let start = (o * g.strides[axis]) as isize - g.pads[axis] as isize;
    let taps: Vec<isize> = (0..g.kernel[axis])
        .map(|i| start + (i * g.dilations[axis]) as isize)
        .collect();
    let padded = taps
        .iter()
        .filter(|t| **t < (size + g.pads[axis + 2]) as isize)
        .count();
    let inside = taps
        .into_iter()
        .filter(|t| (0..size as isize).contains(t))
        .map(|t| t as usize)
        .collect();
    (inside, padded)
}

fn check_pools(g: &PoolGeometry, planes: usize, (h, w): (usize, usize), q: &PoolQuant, seed: u64) {
    let x = bytes(planes * h * w, seed);
    let (oh, ow) = g.output_hw(h, w);
    let mut avg = vec![0u8; planes * oh * ow];
    let mut max = vec![0u8; planes * oh * ow];
    qavg_pool2d(g, &x, planes, (h, w), q, &mut avg).unwrap();
    qmax_pool2d(g, &x, planes, (h, w), q, &mut max).unwrap();
    let (zx, zy) = (q.input.zero_point, q.output.zero_point);
    let (lo, hi) = ((q.range.0 - zy) as f32, (q.range.1 - zy) as f32);
    for p in 0..planes {
        for oy in 0..oh {
            let (ys, ypad) = axis_taps(g, 0, oy, h);
            for ox in 0..ow {
                let (xs, xpad) = axis_taps(g, 1, ox, w);
                let values: Vec<u8> = ys
                    .iter()
                    .flat_map(|iy| xs.iter().map(move |ix| (iy, ix)))
                    .map(|(iy, ix)| x_at(&x, p, h, w, *iy, *ix))
                    .collect();
                let sum: i32 = values.iter().map(|v| i32::from(*v) - zx).sum();
                let count = if g.count_include_pad {
                    ypad * xpad
                } else {
                    values.len()
                };
                let e_avg = if count == 0 {
                    zy as u8
                } else {
                    requantize_one(
                        sum,
                        0,
                        q.input.scale / (q.output.scale * count as f32),
                        zy,
                        lo,
                        hi,
                    ) as u8
                };
                let e_max = requant_ref(
                    values.iter().copied().max().unwrap_or(zx as u8),
                    q.input,
                    q.output,
                    q.range,
                );
                let at = (p * oh + oy) * ow + ox;
                assert_eq!(
                    avg[at], e_avg,
                    "avg {g:?} {h}x{w} {q:?} at plane {p} ({oy}, {ox})"
                );
                assert_eq!(
                    max[at], e_max,
                    "max {g:?} {h}x{w} {q:?} at plane {p} ({oy}, {ox})"
                );
            }
        }
    }
}

fn x_at(x: &[u8], p: usize, h: usize, w: usize, y: usize, xx: usize) -> u8 {
    x[(p * h + y) * w + xx]
}

fn geometry(k: usize, s: usize, pads: [usize; 4], ceil_mode: bool, count_include_pad: bool) -> PoolGeometry {
    PoolGeometry {
        kernel: [k, k],
        strides: [s, s],
        pads,
        dilations: [1, 1],
        ceil_mode,
        count_include_pad,
    }
}

#[test]
fn pools_match_reference() {
    for (i, q) in quant_sets().iter().enumerate() {
        for g in [
            geometry(3, 2, [1, 1, 1, 1], false, false),
            geometry(3, 2, [1, 1, 1, 1], false, true),
            geometry(2, 2, [0; 4], true, false),
            geometry(3, 1, [0, 1, 2, 0], true, true),
            geometry(7, 1, [0; 4], false, false),
            geometry(1, 1, [0; 4], false, false),
            // Dilated taps, and end padding wide enough for windows wholly in padding.
            PoolGeometry {
                dilations: [2, 2],
                ..geometry(3, 1, [1, 0, 2, 1], false, false)
            },
            geometry(2, 2, [0, 0, 3, 3], false, false),
        ] {
            for hw in [(7, 7), (8, 5), (1, 9), (13, 12)] {
                if hw.0 + g.pads[0] + g.pads[2] >= g.kernel[0] && hw.1 + g.pads[1] + g.pads[3] >= g.kernel[1]
                {
                    check_pools(&g, 3, hw, q, i as u64);
                }
            }
        }
    }
}

#[test]
fn global_average_pool_matches_reference_on_every_tier() {
    for tier in ALL_TIERS.into_iter().filter(|t| !t.is_available()) {
        println!("note: tier {tier} is not available on this CPU; its tests are skipped");
    }
    for tier in available_tiers() {
        for q in quant_sets() {
            for (planes, hw) in [(1, 1), (3, 49), (17, 196), (40, 7)] {
                let x = bytes(planes * hw, hw as u64);
                let mut out = vec![0u8; planes];
                qglobal_avg_pool(tier, &x, planes, hw, &q, &mut out).unwrap();
                let zy = q.output.zero_point;
                let (lo, hi) = ((q.range.0 - zy) as f32, (q.range.1 - zy) as f32);
                for p in 0..planes {
                    let sum: i32 = x[p * hw..][..hw]
                        .iter()
                        .map(|v| i32::from(*v) - q.input.zero_point)
                        .sum();
                    let m = q.input.scale / (q.output.scale * hw as f32);
                    let e = requantize_one(sum, 0, m, zy, lo, hi) as u8;
                    assert_eq!(out[p], e, "{tier} {q:?} plane {p} of {planes}x{hw}");
                }
            }
        }
    }
}

#[test]
fn concat_matches_reference() {
    let q = QParams::new;
    let a = bytes(2 * 3 * 4, 1);
    let b = bytes(2 * 5 * 4, 2);
    let c = bytes(2 * 4, 3);
    let inputs = [
        QInput {
            data: &a,
            params: q(0.1, 128),
        },
        QInput {
            data: &b,
            params: q(0.2, 10),
        },
        QInput {
            data: &c,
            params: q(0.1, 128),
        },
    ];
    for (output, range) in [
        (q(0.1, 128), (0, 255)),
        (q(0.1, 128), (128, 255)),
        (q(0.15, 100), (0, 255)),
    ] {
        let mut out = vec![0u8; 2 * 9 * 4];
        qconcat(&inputs, 2, output, range, &mut out).unwrap();
        for outer in 0..2 {
            let mut expected = Vec::new();
            for input in &inputs {
                let block = input.data.len() / 2;
                for v in &input.data[outer * block..][..block] {
                    expected.push(requant_ref(*v, input.params, output, range));
                }
            }
            assert_eq!(
                &out[outer * 36..][..36],
                &expected[..],
                "outer {outer}, {output:?} {range:?}"
            );
        }
    }
    let mut short = vec![0u8; 10];
    assert!(qconcat(&inputs, 2, q(0.1, 128), (0, 255), &mut short).is_err());
    assert!(qconcat(&inputs, 5, q(0.1, 128), (0, 255), &mut [0; 72]).is_err());
}

#[test]
fn bad_pool_parameters_are_errors() {
    let g = geometry(3, 0, [0; 4], false, false);
    let q = quant_sets()[0];
    assert!(qmax_pool2d(&g, &[0; 9], 1, (3, 3), &q, &mut [0; 1]).is_err());
    let g = geometry(3, 1, [0; 4], false, false);
    assert!(qavg_pool2d(&g, &[0; 9], 1, (3, 3), &q, &mut [0; 2]).is_err());
    let bad = PoolQuant { range: (0, 100), ..q };
    assert!(qavg_pool2d(&g, &[0; 9], 1, (3, 3), &bad, &mut [0; 1]).is_err());
    assert!(qglobal_avg_pool(Tier::Scalar, &[0; 9], 1, 0, &q, &mut [0; 1]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_pools_match_reference(
        k in 1usize..5, s in 1usize..4, pads in proptest::array::uniform4(0usize..3),
        h in 1usize..14, w in 1usize..14, ceil in any::<bool>(), include in any::<bool>(),
        which in 0usize..4, seed in any::<u64>(),
    ) {
        let pads = pads.map(|p| p.min(k - 1));
        let g = geometry(k, s, pads, ceil, include);
        prop_assume!(h + pads[0] + pads[2] >= k && w + pads[1] + pads[3] >= k);
        check_pools(&g, 2, (h, w), &quant_sets()[which], seed);
    }
}
