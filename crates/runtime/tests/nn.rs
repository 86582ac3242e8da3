//! Convolution, pooling and normalisation against plain references.

mod common;

use common::*;
use lowbit_graph::ops::{BatchNorm, Conv, LayerNorm, Pool};
use lowbit_graph::Op;

/// Direct convolution, the textbook loop nest.
fn reference_conv(
    attrs: &Conv,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    b: Option<&[f32]>,
) -> (Vec<f32>, [usize; 4]) {
    let [n, c, h, wd] = xs;
    let [m, cg, kh, kw] = ws;
    let (oh, ow) = attrs.output_hw(h, wd);
    let mut out = vec![0f32; n * m * oh * ow];
    for b_ in 0..n {
        for oc in 0..m {
            let g = oc / (m / attrs.group);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[oc]) as f64;
                    for ic in 0..cg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let y = (oy * attrs.strides[0] + ky * attrs.dilations[0]) as isize
                                    - attrs.pads[0] as isize;
                                let xx = (ox * attrs.strides[1] + kx * attrs.dilations[1]) as isize
                                    - attrs.pads[1] as isize;
                                if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                let xv = x[((b_ * c + g * cg + ic) * h + y as usize) * wd + xx as usize];
                                acc += (xv * w[((oc * cg + ic) * kh + ky) * kw + kx]) as f64;
                            }
                        }
                    }
                    out[((b_ * m + oc) * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
    }
    (out, [n, m, oh, ow])
}

fn check_conv(attrs: Conv, xs: [usize; 4], out_channels: usize, with_bias: bool) {
    let ws = [
        out_channels,
        xs[1] / attrs.group,
        attrs.kernel[0],
        attrs.kernel[1],
    ];
    let x = noise(xs.iter().product(), 1);
    let w = noise(ws.iter().product(), 2);
    let b = noise(out_channels, 3);
    let (want, shape) = reference_conv(&attrs, &x, xs, &w, ws, with_bias.then_some(&b[..]));
    let mut inputs = vec![Some(f32s(&xs, &x)), Some(f32s(&ws, &w))];
    if with_bias {
        inputs.push(Some(f32s(&[out_channels], &b)));
    }
    let y = run_op(Op::Conv(attrs.clone()), &inputs).unwrap();
    assert_eq!(y.shape(), &shape, "{attrs:?}");
    assert_close(&values::<f32>(&y), &want, 1e-4);
}

fn conv(kernel: usize, stride: usize, pads: [usize; 4], dilation: usize, group: usize) -> Conv {
    Conv {
        kernel: [kernel, kernel],
        strides: [stride, stride],
        pads,
        dilations: [dilation, dilation],
        group,
    }
}

#[test]
fn conv_matches_reference_on_edge_shapes() {
    check_conv(conv(3, 1, [1; 4], 1, 1), [1, 3, 7, 5], 4, true);
    check_conv(conv(3, 2, [0, 1, 2, 0], 1, 1), [2, 2, 9, 8], 3, false);
    check_conv(conv(1, 1, [0; 4], 1, 1), [2, 5, 3, 3], 7, true);
    check_conv(conv(3, 1, [2; 4], 2, 1), [1, 2, 6, 6], 2, true);
    check_conv(conv(3, 2, [1; 4], 1, 6), [1, 6, 11, 11], 6, true); // depthwise
    check_conv(conv(2, 1, [0; 4], 1, 2), [1, 4, 5, 4], 6, true); // grouped
    check_conv(conv(5, 3, [2; 4], 1, 1), [1, 1, 5, 5], 1, false);
}

#[test]
fn conv_rejects_mismatched_channels() {
    let x = f32s(&[1, 3, 4, 4], &[0.; 48]);
    let w = f32s(&[2, 2, 1, 1], &[0.; 4]);
    let err = run_op(Op::Conv(conv(1, 1, [0; 4], 1, 1)), &[Some(x), Some(w)]).unwrap_err();
    assert!(err.to_string().contains("node 'node' (Conv)"), "{err}");
}

fn pool(kernel: usize, stride: usize, pads: [usize; 4], ceil_mode: bool, count_include_pad: bool) -> Pool {
    Pool {
        kernel: [kernel, kernel],
        strides: [stride, stride],
        pads,
        dilations: [1, 1],
        ceil_mode,
        count_include_pad,
    }
}

#[test]
fn max_and_average_pool() {
    // 1x1x4x4 with values 0..16
    let x = f32s(&[1, 1, 4, 4], &(0..16).map(|v| v as f32).collect::<Vec<_>>());
    let y = run(Op::MaxPool(pool(2, 2, [0; 4], false, false)), vec![x.clone()]);
    assert_eq!(y.shape(), &[1, 1, 2, 2]);
    assert_eq!(values::<f32>(&y), vec![5., 7., 13., 15.]);
    let y = run(Op::AveragePool(pool(2, 2, [0; 4], false, false)), vec![x.clone()]);
    assert_eq!(values::<f32>(&y), vec![2.5, 4.5, 10.5, 12.5]);
    // 3x3 stride 2 with ceil mode: output 2x2 (windows start at 0 and 2).
    let y = run(Op::MaxPool(pool(3, 2, [0; 4], true, false)), vec![x.clone()]);
    assert_eq!(values::<f32>(&y), vec![10., 11., 14., 15.]);
    // Padding 1: the corner window holds x[0,0], x[0,1], x[1,0], x[1,1] and 5 pads.
    let exclude = run(Op::AveragePool(pool(3, 1, [1; 4], false, false)), vec![x.clone()]);
    let include = run(Op::AveragePool(pool(3, 1, [1; 4], false, true)), vec![x]);
    assert_eq!(values::<f32>(&exclude)[0], (0. + 1. + 4. + 5.) / 4.);
    assert_eq!(values::<f32>(&include)[0], (0. + 1. + 4. + 5.) / 9.);
}

#[test]
fn global_pools() {
    let x = f32s(&[1, 2, 2, 2], &[1., 2., 3., 6., -1., -2., -3., -4.]);
    let y = run(Op::GlobalAveragePool, vec![x.clone()]);
    assert_eq!(y.shape(), &[1, 2, 1, 1]);
    assert_eq!(values::<f32>(&y), vec![3., -2.5]);
    assert_eq!(values::<f32>(&run(Op::GlobalMaxPool, vec![x])), vec![6., -1.]);
}

#[test]
fn batch_norm_inference() {
    let x = f32s(&[1, 2, 1, 2], &[1., 2., 3., 4.]);
    let p = |v: [f32; 2]| f32s(&[2], &v);
    let op = Op::BatchNorm(BatchNorm {
        epsilon: 0.0,
        momentum: 0.9,
    });
    let y = run(op, vec![x, p([1., 2.]), p([0., 1.]), p([1., 3.]), p([4., 1.])]);
    // c0: (x - 1) / 2; c1: (x - 3) * 2 + 1
    assert_eq!(values::<f32>(&y), vec![0., 0.5, 1., 3.]);
}

#[test]
fn softmax_along_any_axis() {
    let x = f32s(&[2, 3], &[1., 2., 3., 1., 1., 1.]);
    let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
    let s: f32 = e.iter().sum();
    let y = run(Op::Softmax { axis: -1 }, vec![x.clone()]);
    assert_close(
        &values::<f32>(&y),
        &[e[0] / s, e[1] / s, e[2] / s, 1. / 3., 1. / 3., 1. / 3.],
        1e-7,
    );
    let y = run(Op::LogSoftmax { axis: 1 }, vec![x.clone()]);
    assert_close(
        &values::<f32>(&y)[..3],
        &[1. - s.ln(), 2. - s.ln(), 3. - s.ln()],
        1e-6,
    );
    // Axis 0: pairs (1,1) (2,1) (3,1) down the columns.
    let y = run(Op::Softmax { axis: 0 }, vec![x]);
    let v = values::<f32>(&y);
    assert_close(&[v[0], v[3]], &[0.5, 0.5], 1e-7);
    let s1 = 1. / (1. + (-1f32).exp());
    assert_close(&[v[1], v[4]], &[s1, 1. - s1], 1e-7);
    // Huge logits stay finite.
    let y = run(Op::Softmax { axis: -1 }, vec![f32s(&[2], &[1000., 0.])]);
    assert_eq!(values::<f32>(&y), vec![1., 0.]);
}

#[test]
fn layer_norm_with_statistics_outputs() {
    let x = f32s(&[2, 4], &[1., 2., 3., 4., 2., 2., 2., 2.]);
    let scale = f32s(&[4], &[1., 2., 1., 1.]);
    let bias = f32s(&[4], &[0., 0., 1., 0.]);
    let op = Op::LayerNorm(LayerNorm {
        axis: -1,
        epsilon: 1e-5,
    });
    let out = run_op_n(op, &[Some(x), Some(scale), Some(bias)], 3).unwrap();
    let inv = 1. / (1.25f32 + 1e-5).sqrt();
    assert_close(
        &values::<f32>(&out[0]),
        &[
            -1.5 * inv,
            -0.5 * inv * 2.,
            0.5 * inv + 1.,
            1.5 * inv,
            0.,
            0.,
            1.,
            0.,
        ],
        1e-6,
    );
    assert_eq!(out[1].shape(), &[2, 1]);
    assert_eq!(values::<f32>(&out[1]), vec![2.5, 2.]);
    // A constant row has zero variance: only epsilon keeps its inverse deviation finite.
    assert_close(&values::<f32>(&out[2]), &[inv, 1e-5f32.sqrt().recip()], 1e-3);
}

#[test]
fn max_pool_on_8_bit_integers() {
    let x = t(&[1, 1, 2, 2], vec![3u8, 250, 7, 1]);
    let y = run(Op::MaxPool(pool(2, 1, [0; 4], false, false)), vec![x]);
    assert_eq!(values::<u8>(&y), vec![250]);
    let x = t(&[1, 1, 1, 3], vec![-128i8, -5, -7]);
    let p = Pool {
        kernel: [1, 2],
        strides: [1, 1],
        pads: [0; 4],
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: false,
    };
    assert_eq!(values::<i8>(&run(Op::MaxPool(p), vec![x])), vec![-5, -5]);
    // Padded, strided windows over odd planes: the 8-bit paths agree with f32 on the same
    // values.
    let bytes: Vec<u8> = (0..2 * 3 * 9 * 7)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let signed: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
    let p = || Op::MaxPool(pool(3, 2, [1, 1, 1, 1], false, false));
    let shape = [2, 3, 9, 7];
    let via_f32 = |v: Vec<f32>| values::<f32>(&run(p(), vec![f32s(&shape, &v)]));
    let u = values::<u8>(&run(p(), vec![t(&shape, bytes.clone())]));
    let expected = via_f32(bytes.iter().map(|&b| f32::from(b)).collect());
    assert_eq!(u.iter().map(|&b| f32::from(b)).collect::<Vec<_>>(), expected);
    let i = values::<i8>(&run(p(), vec![t(&shape, signed.clone())]));
    let expected = via_f32(signed.iter().map(|&b| f32::from(b)).collect());
    assert_eq!(i.iter().map(|&b| f32::from(b)).collect::<Vec<_>>(), expected);
}
