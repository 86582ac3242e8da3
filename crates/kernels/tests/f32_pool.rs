//! Pooling kernels against naive loops written from the ONNX definitions.

use lowbit_kernels::f32::{avg_pool2d, global_avg_pool, max_pool2d, PoolGeometry};
use proptest::prelude::*;

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Output size along one axis, from the ONNX formula (ceil mode drops a window that
/// would start in the end padding).
fn out_size(size: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize, ceil: bool) -> usize {
    let room = (size + pb + pe - (d * (k - 1) + 1)) as f64 / s as f64;
    let mut o = if ceil { room.ceil() } else { room.floor() } as usize + 1;
    if ceil && (o - 1) * s >= size + pb {
        o -= 1;
    }
    o
}

/// Naive pooling: (max or mean) over taps; padded taps count in the mean's divisor when
/// `count_include_pad`, taps past the end padding (ceil mode) never do.
fn naive(
    g: &PoolGeometry,
    x: &[f32],
    planes: usize,
    h: usize,
    w: usize,
    max: bool,
) -> (Vec<f32>, usize, usize) {
    let oh = out_size(
        h,
        g.kernel[0],
        g.strides[0],
        g.dilations[0],
        g.pads[0],
        g.pads[2],
        g.ceil_mode,
    );
    let ow = out_size(
        w,
        g.kernel[1],
        g.strides[1],
        g.dilations[1],
        g.pads[1],
        g.pads[3],
        g.ceil_mode,
    );
    let mut out = Vec::new();
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut best, mut sum, mut inside, mut padded) = (f32::NEG_INFINITY, 0.0f64, 0, 0);
                for ky in 0..g.kernel[0] {
                    for kx in 0..g.kernel[1] {
                        let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pads[0] as isize;
                        let ix = (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.pads[1] as isize;
                        if iy < (h + g.pads[2]) as isize && ix < (w + g.pads[3]) as isize {
                            padded += 1;
                        }
                        if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize {
                            let v = x[(p * h + iy as usize) * w + ix as usize];
                            best = best.max(v);
                            sum += v as f64;
                            inside += 1;
                        }
                    }
                }
                let divisor = if g.count_include_pad { padded } else { inside };
                // A window wholly in padding (possible with dilation) averages to 0.
                let mean = if divisor == 0 {
                    0.0
                } else {
                    (sum / divisor as f64) as f32
                };
                out.push(if max { best } else { mean });
            }
        }
    }
    (out, oh, ow)
}

fn check(g: &PoolGeometry, planes: usize, h: usize, w: usize) {
    let x = values(planes * h * w, 3);
    for max in [true, false] {
        let (want, oh, ow) = naive(g, &x, planes, h, w, max);
        assert_eq!(g.output_hw(h, w), (oh, ow), "{g:?} on {h}x{w}");
        let mut got = vec![f32::NAN; planes * oh * ow];
        if max {
            max_pool2d(g, &x, planes, h, w, &mut got);
        } else {
            avg_pool2d(g, &x, planes, h, w, &mut got);
        }
        for (i, (&got, &want)) in got.iter().zip(&want).enumerate() {
            assert!(
                got == want || (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{g:?} max={max} on {planes}x{h}x{w}: out[{}, {}, {}] = {got}, want {want}",
                i / (oh * ow),
                i / ow % oh,
                i % ow
            );
        }
    }
}

fn geometry(
    k: [usize; 2],
    s: [usize; 2],
    pads: [usize; 4],
    d: [usize; 2],
    ceil: bool,
    include: bool,
) -> PoolGeometry {
    PoolGeometry {
        kernel: k,
        strides: s,
        pads,
        dilations: d,
        ceil_mode: ceil,
        count_include_pad: include,
    }
}

#[test]
fn edge_cases() {
    for ceil in [false, true] {
        for include in [false, true] {
            for g in [
                geometry([3, 3], [2, 2], [1, 1, 1, 1], [1, 1], ceil, include),
                geometry([2, 2], [2, 2], [0; 4], [1, 1], ceil, include),
                geometry([3, 3], [2, 2], [0; 4], [1, 1], ceil, include),
                geometry([3, 2], [1, 2], [1, 0, 2, 1], [1, 1], ceil, include),
                geometry([3, 3], [1, 1], [2, 2, 2, 2], [2, 2], ceil, include),
                geometry([1, 1], [1, 1], [0; 4], [1, 1], ceil, include),
                geometry([7, 7], [1, 1], [0; 4], [1, 1], ceil, include),
            ] {
                for (h, w) in [(7, 7), (8, 9), (1, 1), (12, 5)] {
                    let (ph, pw) = (h + g.pads[0] + g.pads[2], w + g.pads[1] + g.pads[3]);
                    if ph > g.dilations[0] * (g.kernel[0] - 1) && pw > g.dilations[1] * (g.kernel[1] - 1) {
                        check(&g, 3, h, w);
                    }
                }
            }
        }
    }
}

#[test]
fn ceil_mode_window_in_end_padding_only_counts_up_to_the_padding() {
    // 4×4 input, 3×3 window, stride 2, ceil mode: the last window overhangs the input.
    let g = geometry([3, 3], [2, 2], [0; 4], [1, 1], true, true);
    let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
    let mut out = [0.0; 4];
    avg_pool2d(&g, &x, 1, 4, 4, &mut out);
    assert_eq!(out, [6.0, 7.5, 12.0, 13.5]);
}

#[test]
fn global_average() {
    let x = values(5 * 13, 1);
    let mut out = [0.0; 5];
    global_avg_pool(&x, 5, 13, &mut out);
    for (p, &got) in out.iter().enumerate() {
        let want = x[p * 13..(p + 1) * 13].iter().map(|&v| v as f64).sum::<f64>() / 13.0;
        assert!((got as f64 - want).abs() < 1e-6, "plane {p}: {got} vs {want}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn random_geometry(
        kh in 1usize..5, kw in 1usize..5, sh in 1usize..4, sw in 1usize..4, dh in 1usize..3, dw in 1usize..3,
        pads in proptest::array::uniform4(0usize..3), h in 1usize..12, w in 1usize..12, ceil: bool, include: bool,
    ) {
        // ONNX requires pads smaller than the kernel.
        prop_assume!(pads[0] < kh && pads[2] < kh && pads[1] < kw && pads[3] < kw);
        let g = geometry([kh, kw], [sh, sw], pads, [dh, dw], ceil, include);
        prop_assume!(h + pads[0] + pads[2] > dh * (kh - 1) && w + pads[1] + pads[3] > dw * (kw - 1));
        check(&g, 2, h, w);
    }
}
