//! Quantization ops. Expected values come from the ONNX reference implementation
//! (`onnx.reference.ReferenceEvaluator`, onnx 1.23) run on the same inputs.

mod common;
mod int8_support;

use common::*;
use int8_support::Lcg;
use lowbit_graph::ops::{Conv, QuantAxis};
use lowbit_graph::Op;

#[test]
fn quantize_linear_rounds_half_to_even_and_saturates() {
    let x = f32s(&[6], &[0., 2., 3., 1000., -254., -1000.]);
    let y = run(
        Op::QuantizeLinear(QuantAxis::default()),
        vec![x, f32s(&[], &[2.]), t(&[], vec![128u8])],
    );
    assert_eq!(values::<u8>(&y), vec![128, 129, 130, 255, 1, 0]);
    let x = f32s(&[7], &[-1.5, -0.5, 0.5, 1.5, 2.5, 300., -300.]);
    let y = run(
        Op::QuantizeLinear(QuantAxis::default()),
        vec![x, f32s(&[], &[1.]), t(&[], vec![0i8])],
    );
    assert_eq!(values::<i8>(&y), vec![-2, 0, 0, 2, 2, 127, -128]);
    // No zero point: u8 with zero point 0.
    let y = run_op(
        Op::QuantizeLinear(QuantAxis::default()),
        &[Some(f32s(&[2], &[-1., 3.])), Some(f32s(&[], &[1.])), None],
    );
    assert_eq!(values::<u8>(&y.unwrap()), vec![0, 3]);
}

#[test]
fn quantize_linear_per_axis() {
    let x = [
        -162., 10., -100., 232., -20., -50., -76., 0., 0., 252., 32., -44., 245., 485., -960., -270., -375.,
        -470.,
    ];
    let y = run(
        Op::QuantizeLinear(QuantAxis { axis: 1 }),
        vec![
            f32s(&[1, 3, 3, 2], &x),
            f32s(&[3], &[2., 4., 5.]),
            t(&[3], vec![84u8, 24, 196]),
        ],
    );
    assert_eq!(
        values::<u8>(&y),
        vec![3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 255, 4, 142, 121, 102]
    );
}

#[test]
fn dequantize_linear_per_tensor_and_per_axis() {
    let y = run(
        Op::DequantizeLinear(QuantAxis::default()),
        vec![
            t(&[4], vec![0u8, 3, 128, 255]),
            f32s(&[], &[2.]),
            t(&[], vec![128u8]),
        ],
    );
    assert_eq!(values::<f32>(&y), vec![-256., -250., 0., 254.]);
    let y = run(
        Op::DequantizeLinear(QuantAxis { axis: 0 }),
        vec![
            t(&[2, 2], vec![-128i8, 0, 5, 127]),
            f32s(&[2], &[0.5, 2.]),
            t(&[2], vec![1i8, -1]),
        ],
    );
    assert_eq!(values::<f32>(&y), vec![-64.5, -0.5, 12., 256.]);
    let y = run(
        Op::DequantizeLinear(QuantAxis::default()),
        vec![t(&[2], vec![-7i32, 9]), f32s(&[], &[0.5])],
    );
    assert_eq!(values::<f32>(&y), vec![-3.5, 4.5]);
}

#[test]
fn dequantize_linear_matches_the_plain_rule_on_a_middle_axis_and_odd_lengths() {
    // The rule is one rounding of f32(x − zp) · scale, per channel of axis 1 here.
    let mut rng = Lcg::new(5);
    let shape = [3usize, 5, 37];
    let len: usize = shape.iter().product();
    let bytes: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
    let scales: Vec<f32> = (0..5).map(|c| 0.013 * (c as f32 + 1.0) / 7.0).collect();
    let plain = |v: i32, s: f32, z: i32| (v - z) as f32 * s;
    let y = run(
        Op::DequantizeLinear(QuantAxis { axis: 1 }),
        vec![
            t(&shape, bytes.clone()),
            f32s(&[5], &scales),
            t(&[5], vec![0u8, 7, 128, 200, 255]),
        ],
    );
    let zps = [0, 7, 128, 200, 255];
    let expected: Vec<f32> = (0..len)
        .map(|i| plain(i32::from(bytes[i]), scales[(i / 37) % 5], zps[(i / 37) % 5]))
        .collect();
    assert_eq!(values::<f32>(&y), expected);
    let signed: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
    let y = run(
        Op::DequantizeLinear(QuantAxis::default()),
        vec![
            t(&[len], signed.clone()),
            f32s(&[], &[0.0371]),
            t(&[], vec![-3i8]),
        ],
    );
    let expected: Vec<f32> = signed.iter().map(|&v| plain(i32::from(v), 0.0371, -3)).collect();
    assert_eq!(values::<f32>(&y), expected);
    // ONNX does not forbid a negative scale; the rule still applies.
    let y = run(
        Op::DequantizeLinear(QuantAxis::default()),
        vec![t(&[3], vec![0u8, 10, 255]), f32s(&[], &[-2.]), t(&[], vec![10u8])],
    );
    assert_eq!(values::<f32>(&y), vec![20., 0., -490.]);
}

#[test]
fn dynamic_quantize_linear() {
    let out = run_op_n(
        Op::DynamicQuantizeLinear,
        &[Some(f32s(&[6], &[0., 2., -3., -2.5, 1.34, 0.5]))],
        3,
    )
    .unwrap();
    assert_eq!(values::<u8>(&out[0]), vec![153, 255, 0, 26, 221, 179]);
    assert_close(&values::<f32>(&out[1]), &[0.019_607_84], 1e-8);
    assert_eq!(values::<u8>(&out[2]), vec![153]);
    let x = [1., 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0, 2.345];
    let out = run_op_n(Op::DynamicQuantizeLinear, &[Some(f32s(&[3, 4], &x))], 3).unwrap();
    assert_eq!(
        values::<u8>(&out[0]),
        vec![64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149]
    );
    assert_eq!(values::<u8>(&out[2]), vec![0]);
}

#[test]
fn qlinear_matmul() {
    let a = t(&[2, 4], vec![208u8, 236, 0, 238, 3, 214, 255, 29]);
    let b = t(
        &[4, 3],
        vec![152u8, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247],
    );
    let s = |v: f32| f32s(&[], &[v]);
    let zp = |v: u8| t(&[], vec![v]);
    let y = run(
        Op::QLinearMatMul,
        vec![a, s(0.0066), zp(113), b, s(0.00705), zp(114), s(0.0107), zp(118)],
    );
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(values::<u8>(&y), vec![168, 115, 255, 1, 66, 151]);
}

/// QLinearMatMul written plainly: exact centred sums per batch item (B 2-D or batched
/// like A), then `round_half_even(acc · a_scale · b_scale / y_scale) + y_zp`, saturated.
#[allow(clippy::too_many_arguments)]
fn plain_qlinear_matmul(
    a: &[u8],
    sa: &[usize],
    b: &[i32],
    sb: &[usize],
    (a_zp, b_zp): (i32, i32),
    multiplier: f32,
    y_zp: i32,
    (lo, hi): (i32, i32),
) -> Vec<i32> {
    let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
    let shared_b = sb.len() == 2;
    let mut out = Vec::new();
    for (t, x) in a.chunks(m * k).enumerate() {
        let w = if shared_b {
            b
        } else {
            &b[t * k * n..(t + 1) * k * n]
        };
        for i in 0..m {
            for j in 0..n {
                let acc: i32 = (0..k)
                    .map(|p| (x[i * k + p] as i32 - a_zp) * (w[p * n + j] - b_zp))
                    .sum();
                let q = (acc as f32 * multiplier).round_ties_even() as i32 + y_zp;
                out.push(q.clamp(lo, hi));
            }
        }
    }
    out
}

#[test]
fn qlinear_matmul_of_two_activations_matches_a_plain_product() {
    // Attention-like products (both operands computed): odd sizes, K past one GEMM
    // block, batched B and a shared 2-D B.
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[1, 1], &[1, 1]),
        (&[3, 33], &[33, 17]),
        (&[2, 5, 7], &[2, 7, 9]),
        (&[1, 3, 4, 64], &[1, 3, 64, 5]),
        (&[2, 6, 31], &[31, 3]),
        (&[1, 2, 9, 130], &[1, 2, 130, 33]),
    ];
    // (B signed, A zero point, B zero point, Y signed, Y zero point)
    let params = [
        (false, 0, 128, false, 0),
        (false, 113, 7, false, 130),
        (true, 200, -3, true, -5),
        (true, 128, 0, false, 128),
    ];
    let (a_scale, b_scale) = (0.02f32, 0.015f32);
    for (case, &(sa, sb)) in shapes.iter().enumerate() {
        for (variant, &(b_signed, a_zp, b_zp, y_signed, y_zp)) in params.iter().enumerate() {
            let mut rng = Lcg::new((case * 10 + variant) as u64);
            let a_values = rng.bytes(sa.iter().product());
            let raw_b = rng.bytes(sb.iter().product());
            let k = sa[sa.len() - 1];
            let y_scale = a_scale * b_scale * 40.0 * (k as f32).sqrt();
            let s = |v: f32| f32s(&[], &[v]);
            let (b, b_ints, b_zp_tensor) = if b_signed {
                let v: Vec<i8> = raw_b.iter().map(|&x| x as i8).collect();
                let ints: Vec<i32> = v.iter().map(|&x| x as i32).collect();
                (t(sb, v), ints, t(&[], vec![b_zp as i8]))
            } else {
                let ints: Vec<i32> = raw_b.iter().map(|&x| x as i32).collect();
                (t(sb, raw_b), ints, t(&[], vec![b_zp as u8]))
            };
            let (y_zp_tensor, range) = if y_signed {
                (t(&[], vec![y_zp as i8]), (-128, 127))
            } else {
                (t(&[], vec![y_zp as u8]), (0, 255))
            };
            let y = run(
                Op::QLinearMatMul,
                vec![
                    t(sa, a_values.clone()),
                    s(a_scale),
                    t(&[], vec![a_zp as u8]),
                    b,
                    s(b_scale),
                    b_zp_tensor,
                    s(y_scale),
                    y_zp_tensor,
                ],
            );
            let want = plain_qlinear_matmul(
                &a_values,
                sa,
                &b_ints,
                sb,
                (a_zp, b_zp),
                a_scale * b_scale / y_scale,
                y_zp,
                range,
            );
            let got: Vec<i32> = if y_signed {
                values::<i8>(&y).into_iter().map(i32::from).collect()
            } else {
                values::<u8>(&y).into_iter().map(i32::from).collect()
            };
            let mut out_shape = sa.to_vec();
            *out_shape.last_mut().unwrap() = sb[sb.len() - 1];
            assert_eq!(y.shape(), &out_shape[..], "case {case} variant {variant}");
            assert_eq!(got, want, "case {case} variant {variant}");
        }
    }
}

#[test]
fn matmul_integer_with_zero_points() {
    let a = t(&[4, 3], vec![11u8, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0]);
    let b = t(&[3, 2], vec![1u8, 4, 2, 5, 3, 6]);
    let y = run_op(
        Op::MatMulInteger,
        &[Some(a), Some(b), Some(t(&[], vec![12u8])), None],
    )
    .unwrap();
    assert_eq!(values::<i32>(&y), vec![-38, -83, -44, -98, -50, -113, -56, -128]);
}

const X: [u8; 40] = [
    172, 47, 117, 192, 67, 251, 195, 103, 9, 211, 21, 242, 36, 87, 70, 216, 88, 140, 58, 193, 230, 39, 87,
    174, 88, 81, 165, 25, 77, 72, 9, 148, 115, 208, 243, 197, 254, 79, 175, 192,
];
const W: [i8; 36] = [
    -46, -29, 88, 49, 115, -99, 19, 19, 14, 39, -96, 65, -119, 57, -1, -96, -97, 74, 116, 23, 35, 126, 75,
    -14, 55, -100, -94, 0, 0, 36, -75, 5, -90, 104, 116, -111,
];

fn grouped_conv() -> Conv {
    Conv {
        kernel: [3, 3],
        strides: [2, 1],
        pads: [1, 0, 1, 1],
        dilations: [1, 1],
        group: 2,
    }
}

#[test]
fn qlinear_conv_grouped_strided_padded_per_channel() {
    let inputs = [
        t(&[1, 2, 5, 4], X.to_vec()),
        f32s(&[], &[0.02]),
        t(&[], vec![120u8]),
        t(&[4, 1, 3, 3], W.to_vec()),
        f32s(&[4], &[0.01, 0.02, 0.015, 0.03]),
        t(&[4], vec![0i8; 4]),
        f32s(&[], &[0.1]),
        t(&[], vec![100u8]),
        t(&[4], vec![-165i32, -112, 117, -458]),
    ];
    let y = run(Op::QLinearConv(grouped_conv()), inputs.to_vec());
    assert_eq!(y.shape(), &[1, 4, 3, 3]);
    let want = [
        94u8, 85, 118, 134, 42, 114, 114, 96, 109, 50, 49, 95, 165, 81, 175, 106, 115, 101, 119, 67, 136, 7,
        0, 71, 157, 141, 185, 0, 174, 76, 161, 169, 255, 33, 95, 75,
    ];
    assert_eq!(values::<u8>(&y), want.to_vec());
}

#[test]
fn conv_integer_subtracts_zero_points() {
    // 1x1x2x2 input, one 2x2 filter: a single dot product.
    let x = t(&[1, 1, 2, 2], vec![10u8, 20, 30, 40]);
    let w = t(&[1, 1, 2, 2], vec![1u8, 2, 3, 4]);
    let conv = Conv {
        kernel: [2, 2],
        strides: [1, 1],
        pads: [0; 4],
        dilations: [1, 1],
        group: 1,
    };
    let y = run(
        Op::ConvInteger(conv),
        vec![x, w, t(&[], vec![10u8]), t(&[], vec![1u8])],
    );
    // (0*0 + 10*1 + 20*2 + 30*3)
    assert_eq!(values::<i32>(&y), vec![140]);
}
