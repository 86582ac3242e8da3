//! `Conv2d` (every algorithm it picks) against a naive direct convolution.

use lowbit_kernels::f32::{Activation, Conv2d, ConvGeometry, KernelError};
use proptest::prelude::*;

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Direct NCHW convolution in f64, straight from the definition.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    g: &ConvGeometry,
    x: &[f32],
    batch: usize,
    h: usize,
    w: usize,
    weights: &[f32],
    bias: &[f32],
    act: Activation,
) -> Vec<f32> {
    let (oh, ow) = g.output_hw(h, w);
    let (cin_g, cout_g) = (g.in_channels / g.group, g.out_channels / g.group);
    let [kh, kw] = g.kernel;
    let mut out = vec![0.0; batch * g.out_channels * oh * ow];
    for b in 0..batch {
        for co in 0..g.out_channels {
            let grp = co / cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias[co] as f64;
                    for ci in 0..cin_g {
                        let c = grp * cin_g + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy =
                                    (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pads[0] as isize;
                                let ix =
                                    (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xv = x[((b * g.in_channels + c) * h + iy as usize) * w + ix as usize];
                                let wv = weights[((co * cin_g + ci) * kh + ky) * kw + kx];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    out[((b * g.out_channels + co) * oh + oy) * ow + ox] = act.apply(acc as f32);
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn geometry(
    cin: usize,
    cout: usize,
    k: [usize; 2],
    s: [usize; 2],
    pads: [usize; 4],
    d: [usize; 2],
    group: usize,
) -> ConvGeometry {
    ConvGeometry {
        in_channels: cin,
        out_channels: cout,
        kernel: k,
        strides: s,
        pads,
        dilations: d,
        group,
    }
}

fn check(g: &ConvGeometry, batch: usize, h: usize, w: usize, act: Activation, with_bias: bool) {
    let weights = values(
        g.out_channels * g.in_channels / g.group * g.kernel[0] * g.kernel[1],
        7,
    );
    let bias = if with_bias {
        values(g.out_channels, 9)
    } else {
        vec![0.0; g.out_channels]
    };
    let x = values(batch * g.in_channels * h * w, 11);
    let conv = Conv2d::new(g.clone(), &weights, with_bias.then_some(&bias[..]), act).expect("valid geometry");
    let (oh, ow) = g.output_hw(h, w);
    let mut out = vec![f32::NAN; batch * g.out_channels * oh * ow];
    conv.run(&x, batch, h, w, &mut out);
    let want = naive_conv(g, &x, batch, h, w, &weights, &bias, act);
    let depth = (g.in_channels / g.group * g.kernel[0] * g.kernel[1]) as f32;
    for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
        let plane = oh * ow;
        let (b, c, p) = (
            i / (g.out_channels * plane),
            i / plane % g.out_channels,
            i % plane,
        );
        assert!(
            (got - want).abs() <= 1e-5 * (1.0 + want.abs()) * depth.sqrt(),
            "{g:?} batch {batch} input {h}x{w} {act:?}: out[b={b}, c={c}, y={}, x={}] = {got}, want {want}",
            p / ow,
            p % ow
        );
    }
}

const ACTIVATIONS: [Activation; 3] = [
    Activation::None,
    Activation::Relu,
    Activation::Clip { min: -0.5, max: 0.75 },
];

#[test]
fn pointwise() {
    for act in ACTIVATIONS {
        check(
            &geometry(5, 7, [1, 1], [1, 1], [0; 4], [1, 1], 1),
            2,
            3,
            5,
            act,
            true,
        );
        check(
            &geometry(16, 3, [1, 1], [1, 1], [0; 4], [1, 1], 1),
            1,
            1,
            1,
            act,
            false,
        );
    }
    // Strided or padded 1×1 go through im2col.
    check(
        &geometry(6, 4, [1, 1], [2, 2], [0; 4], [1, 1], 1),
        2,
        7,
        9,
        Activation::Relu,
        true,
    );
    check(
        &geometry(3, 4, [1, 1], [1, 1], [1, 0, 0, 2], [1, 1], 1),
        1,
        4,
        5,
        Activation::None,
        true,
    );
}

#[test]
fn general_kernels() {
    let cases = [
        geometry(3, 8, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1),
        geometry(3, 8, [3, 3], [2, 2], [0, 0, 1, 1], [1, 1], 1),
        geometry(4, 5, [5, 5], [1, 2], [2, 1, 2, 3], [1, 1], 1),
        geometry(3, 6, [7, 7], [2, 2], [3, 3, 3, 3], [1, 1], 1),
        geometry(4, 4, [3, 3], [1, 1], [2, 2, 2, 2], [2, 2], 1),
        geometry(4, 6, [3, 2], [1, 1], [0; 4], [2, 1], 2),
        geometry(6, 9, [3, 3], [2, 1], [1, 0, 1, 2], [1, 1], 3),
        geometry(4, 8, [1, 1], [1, 1], [0; 4], [1, 1], 2),
    ];
    for g in &cases {
        for act in ACTIVATIONS {
            check(g, 2, 9, 11, act, true);
        }
        check(g, 1, 8, 8, Activation::None, false);
    }
}

#[test]
fn depthwise() {
    for k in [3, 5] {
        for s in [1, 2] {
            let pads = [
                [k / 2; 4],
                [0, 0, k - 1, k - 1],
                [k / 2 - 1, k / 2 - 1, k / 2, k / 2],
                [0; 4],
            ];
            for p in pads {
                for act in ACTIVATIONS {
                    for (h, w) in [(k, k), (7, 9), (16, 13), (1 + k, 40)] {
                        check(&geometry(5, 5, [k, k], [s, s], p, [1, 1], 5), 2, h, w, act, true);
                    }
                }
            }
        }
    }
    check(
        &geometry(3, 3, [3, 3], [1, 1], [2, 2, 2, 2], [2, 2], 3),
        1,
        10,
        12,
        Activation::Relu,
        true,
    );
    check(
        &geometry(4, 4, [7, 7], [1, 1], [3, 3, 3, 3], [1, 1], 4),
        1,
        6,
        20,
        Activation::None,
        true,
    );
    check(
        &geometry(2, 2, [1, 1], [1, 1], [0; 4], [1, 1], 2),
        1,
        3,
        3,
        Activation::None,
        true,
    );
    check(
        &geometry(3, 3, [3, 3], [3, 3], [1, 1, 1, 1], [1, 1], 3),
        1,
        11,
        11,
        Activation::None,
        true,
    );
    check(
        &geometry(3, 3, [2, 4], [1, 2], [0, 1, 1, 2], [1, 1], 3),
        1,
        6,
        23,
        Activation::None,
        true,
    );
}

#[test]
fn rejects_inconsistent_geometry() {
    let g = geometry(6, 4, [3, 3], [1, 1], [0; 4], [1, 1], 4);
    assert!(matches!(
        Conv2d::new(g, &[], None, Activation::None),
        Err(KernelError::InvalidGeometry(_))
    ));
    let g = geometry(4, 4, [3, 3], [1, 1], [0; 4], [1, 1], 1);
    let err = Conv2d::new(g.clone(), &[0.0; 10], None, Activation::None).err();
    assert_eq!(
        err,
        Some(KernelError::LengthMismatch {
            what: "weights",
            expected: 144,
            actual: 10
        })
    );
    let err = Conv2d::new(g, &[0.0; 144], Some(&[0.0; 3]), Activation::None).err();
    assert_eq!(
        err,
        Some(KernelError::LengthMismatch {
            what: "bias",
            expected: 4,
            actual: 3
        })
    );
}

#[test]
fn output_is_overwritten_and_runs_in_parallel_pool() {
    let g = geometry(8, 8, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 8);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    pool.install(|| check(&g, 2, 12, 12, Activation::Relu, true));
    let g = geometry(8, 16, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1);
    pool.install(|| check(&g, 2, 12, 12, Activation::Relu, true));
}

#[test]
fn outputs_split_into_many_gemm_tiles() {
    // Wide and tall outputs are computed in several row and column tiles.
    let wide = geometry(5, 8, [1, 1], [1, 1], [0; 4], [1, 1], 1);
    let tall = geometry(3, 600, [1, 1], [1, 1], [0; 4], [1, 1], 1);
    let grouped = geometry(4, 300, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 2);
    check(&wide, 1, 60, 70, Activation::Relu, true);
    check(&tall, 1, 9, 9, Activation::Clip { min: 0.0, max: 0.5 }, true);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("pool");
    pool.install(|| {
        check(&wide, 2, 60, 70, Activation::Relu, true);
        check(&tall, 1, 9, 9, Activation::None, true);
        check(&grouped, 1, 10, 13, Activation::Relu, true);
    });
}

#[test]
fn im2col_panels_split_across_output_rows() {
    // Many output channels make 64-column tiles, which start and end mid output row.
    check(
        &geometry(3, 600, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1),
        1,
        20,
        23,
        Activation::Relu,
        true,
    );
    // A deep patch (300 · 3 · 3 rows) caps the panel width below the output width.
    check(
        &geometry(300, 8, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1),
        1,
        12,
        13,
        Activation::None,
        true,
    );
}

#[test]
fn wide_strided_rows() {
    // Rows wide enough for the vector paths of strided patch copies and depthwise phases,
    // with odd widths so a scalar tail remains.
    for (k, pads) in [(3, [0, 0, 1, 1]), (7, [3, 3, 3, 3]), (5, [1, 2, 2, 1])] {
        check(
            &geometry(3, 8, [k, k], [2, 2], pads, [1, 1], 1),
            1,
            9,
            101,
            Activation::Relu,
            true,
        );
        check(
            &geometry(4, 4, [k, k], [2, 2], pads, [1, 1], 4),
            2,
            8,
            131,
            Activation::Relu,
            true,
        );
    }
    check(
        &geometry(6, 6, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 6),
        1,
        5,
        77,
        Activation::None,
        true,
    );
    check(
        &geometry(3, 5, [3, 3], [2, 2], [1, 0, 1, 0], [2, 1], 1),
        1,
        11,
        97,
        Activation::None,
        true,
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_geometry(
        group in 1usize..4, cin_g in 1usize..4, cout_g in 1usize..4, depthwise: bool,
        kh in 1usize..6, kw in 1usize..6, sh in 1usize..3, sw in 1usize..3, dh in 1usize..3, dw in 1usize..3,
        pads in proptest::array::uniform4(0usize..3), h in 1usize..14, w in 1usize..14, batch in 1usize..3,
    ) {
        let (cin_g, cout_g) = if depthwise { (1, 1) } else { (cin_g, cout_g) };
        let g = geometry(group * cin_g, group * cout_g, [kh, kw], [sh, sw], pads, [dh, dw], group);
        let (oh, ow) = g.output_hw(h, w);
        prop_assume!(oh > 0 && ow > 0);
        check(&g, batch, h, w, Activation::Relu, true);
    }
}
