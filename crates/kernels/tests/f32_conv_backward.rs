//! Convolution gradients (depthwise and pointwise dX, dW) against the naive adjoint of a
//! direct convolution, over odd sizes, padding, strides 1 and 2, dilation and batches.

use lowbit_kernels::f32::{
    depthwise_input_grad, depthwise_weight_grad, pointwise_input_grad, pointwise_weight_grad, ConvGeometry,
    ConvInput,
};

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// dX and dW of a grouped NCHW convolution in f64, visiting every (output, tap) pair of the
/// definition `y[b, co, oy, ox] = Σ x[b, ci, oy·s + ky·d − p, ox·s + kx·d − p] · w[co, ci, ky, kx]`.
fn naive_grads(g: &ConvGeometry, input: ConvInput, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let ConvInput { batch, h, w: width } = input;
    let (oh, ow) = g.output_hw(h, width);
    let (cin_g, cout_g) = (g.in_channels / g.group, g.out_channels / g.group);
    let [kh, kw] = g.kernel;
    let mut dx = vec![0.0f64; x.len()];
    let mut dw = vec![0.0f64; w.len()];
    for b in 0..batch {
        for co in 0..g.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let d = dy[((b * g.out_channels + co) * oh + oy) * ow + ox] as f64;
                    for ci in 0..cin_g {
                        let c = (co / cout_g) * cin_g + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy =
                                    (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pads[0] as isize;
                                let ix =
                                    (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= width as isize {
                                    continue;
                                }
                                let xi = ((b * g.in_channels + c) * h + iy as usize) * width + ix as usize;
                                let wi = ((co * cin_g + ci) * kh + ky) * kw + kx;
                                dx[xi] += d * w[wi] as f64;
                                dw[wi] += d * x[xi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw)
}

fn assert_close(what: &str, g: &ConvGeometry, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * (1.0 + b.abs());
        assert!(
            (a as f64 - b).abs() <= tol,
            "{what} of {g:?}: index {i}: got {a}, want {b}"
        );
    }
}

type Kernel = fn(&ConvGeometry, ConvInput, &[f32], &[f32], &mut [f32]);

/// Runs both gradients of `g` on `input` and compares them with [`naive_grads`]. Outputs
/// start as NaN to show they are fully overwritten.
fn check(g: &ConvGeometry, input: ConvInput, input_grad: Kernel, weight_grad: Kernel) {
    let (oh, ow) = g.output_hw(input.h, input.w);
    let x = values(input.batch * g.in_channels * input.h * input.w, 1);
    let w = values(
        g.out_channels * (g.in_channels / g.group) * g.kernel[0] * g.kernel[1],
        2,
    );
    let dy = values(input.batch * g.out_channels * oh * ow, 3);
    let (want_dx, want_dw) = naive_grads(g, input, &x, &w, &dy);
    let mut dx = vec![f32::NAN; x.len()];
    input_grad(g, input, &w, &dy, &mut dx);
    assert_close("dX", g, &dx, &want_dx);
    let mut dw = vec![f32::NAN; w.len()];
    weight_grad(g, input, &x, &dy, &mut dw);
    assert_close("dW", g, &dw, &want_dw);
}

fn depthwise(channels: usize, k: usize, stride: usize, pad: usize, dilation: usize) -> ConvGeometry {
    ConvGeometry {
        in_channels: channels,
        out_channels: channels,
        kernel: [k, k],
        strides: [stride, stride],
        pads: [pad; 4],
        dilations: [dilation, dilation],
        group: channels,
    }
}

fn input(batch: usize, h: usize, w: usize) -> ConvInput {
    ConvInput { batch, h, w }
}

#[test]
fn depthwise_3x3_stride1_same_padding() {
    check(
        &depthwise(5, 3, 1, 1, 1),
        input(3, 7, 9),
        depthwise_input_grad,
        depthwise_weight_grad,
    );
}

#[test]
fn depthwise_3x3_stride2_odd_and_even_sizes() {
    for (h, w) in [(7, 7), (8, 6), (5, 10), (1, 1)] {
        check(
            &depthwise(4, 3, 2, 1, 1),
            input(2, h, w),
            depthwise_input_grad,
            depthwise_weight_grad,
        );
    }
}

#[test]
fn depthwise_5x5_strides_1_and_2() {
    for stride in [1, 2] {
        check(
            &depthwise(3, 5, stride, 2, 1),
            input(2, 11, 9),
            depthwise_input_grad,
            depthwise_weight_grad,
        );
    }
}

#[test]
fn depthwise_unpadded_dilated_and_asymmetric() {
    check(
        &depthwise(2, 3, 1, 0, 1),
        input(2, 6, 5),
        depthwise_input_grad,
        depthwise_weight_grad,
    );
    check(
        &depthwise(3, 3, 1, 2, 2),
        input(2, 7, 6),
        depthwise_input_grad,
        depthwise_weight_grad,
    );
    let g = ConvGeometry {
        kernel: [3, 2],
        strides: [2, 1],
        pads: [1, 0, 0, 1],
        ..depthwise(3, 3, 1, 0, 1)
    };
    check(&g, input(2, 9, 7), depthwise_input_grad, depthwise_weight_grad);
}

#[test]
fn depthwise_stride1_asymmetric_and_oversized_pads() {
    // Pads within the kernel's reach take the whole-plane path, larger ones the tap loops.
    for pads in [[1, 0, 2, 1], [0, 2, 1, 0], [3, 1, 0, 3]] {
        let g = ConvGeometry {
            pads,
            ..depthwise(3, 3, 1, 0, 1)
        };
        for (h, w) in [(5, 7), (1, 4), (6, 1)] {
            check(&g, input(2, h, w), depthwise_input_grad, depthwise_weight_grad);
        }
    }
}

#[test]
fn depthwise_large_plane_spans_many_lane_blocks() {
    check(
        &depthwise(2, 3, 1, 1, 1),
        input(3, 28, 28),
        depthwise_input_grad,
        depthwise_weight_grad,
    );
}

#[test]
fn depthwise_kernel_larger_than_padded_input_gives_zero_gradients() {
    let g = depthwise(2, 5, 1, 0, 1);
    check(&g, input(2, 3, 3), depthwise_input_grad, depthwise_weight_grad);
}

#[test]
fn pointwise_shapes() {
    for (cin, cout, b, h, w) in [
        (1, 1, 1, 1, 1),
        (3, 5, 2, 7, 9),
        (8, 16, 5, 4, 4),
        (17, 3, 9, 3, 5),
    ] {
        let g = ConvGeometry {
            in_channels: cin,
            out_channels: cout,
            kernel: [1, 1],
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
        };
        check(&g, input(b, h, w), pointwise_input_grad, pointwise_weight_grad);
    }
}

#[test]
#[should_panic(expected = "not depthwise")]
fn depthwise_rejects_grouped_geometry() {
    let g = ConvGeometry {
        out_channels: 8,
        ..depthwise(4, 3, 1, 1, 1)
    };
    let mut dx = vec![0.0; 16 * 4];
    depthwise_input_grad(&g, input(1, 4, 4), &[0.0; 72], &[0.0; 128], &mut dx);
}
