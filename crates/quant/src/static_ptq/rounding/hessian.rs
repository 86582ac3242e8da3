//! The second moment `H = Σ x xᵀ` of the vectors a conv/linear weight row multiplies:
//! the input rows of a linear layer, the receptive-field patches of one conv group.
//!
//! A `dim × dim` moment needs a few tens of vectors per dimension, while a high-resolution
//! conv offers far more (10 images of 112×112 give 125 440 patches for a 9- or 32-wide
//! `H`): each sample contributes at most [`Moments::per_sample`] patches per group, at
//! evenly spaced output positions with a seeded offset, so the cost is bounded by the
//! moment's size rather than the image's. The vectors of one batch are gathered into a
//! matrix `X` and added as `XᵀX` by the f32 GEMM kernel.

use lowbit_graph::ops::Conv;
use lowbit_kernels::f32::gemm;
use lowbit_tensor::Tensor;

use crate::static_ptq::error::{PtqError, Result};

/// Below this width a moment is accumulated by plain rank-1 updates: a GEMM call per
/// depthwise channel and batch costs more in dispatch than it computes.
const GEMM_MIN_DIM: usize = 64;

/// How a node reads its input: `groups` independent `dim × dim` second moments.
#[derive(Debug, Clone)]
pub(crate) enum Reader {
    /// `x` is `[..., dim]`.
    Linear {
        dim: usize,
    },
    Conv(Conv),
}

/// Accumulated second moments, one per group, row-major `dim × dim`.
#[derive(Debug, Clone)]
pub(crate) struct Moments {
    pub dim: usize,
    pub sums: Vec<Vec<f64>>,
    /// Vectors added to each group.
    pub counts: Vec<usize>,
    /// At most this many output positions per sample and group are read (conv only: a
    /// linear layer's rows are all read).
    pub per_sample: usize,
    /// Samples observed so far; seeds each sample's positions.
    samples: u64,
}

impl Moments {
    pub fn new(groups: usize, dim: usize) -> Moments {
        Moments {
            dim,
            sums: vec![vec![0.0; dim * dim]; groups],
            counts: vec![0; groups],
            per_sample: usize::MAX,
            samples: 0,
        }
    }

    /// Group `g`'s matrix.
    pub fn full(&self, g: usize) -> Vec<f64> {
        self.sums[g].clone()
    }

    /// Adds `XᵀX` for the row-major `rows × dim` matrix `x` to group `g`.
    fn add_rows(&mut self, g: usize, x: &[f32], scratch: &mut [f32]) {
        let d = self.dim;
        let rows = x.len() / d;
        if rows == 0 {
            return;
        }
        self.counts[g] += rows;
        let h = &mut self.sums[g];
        if d < GEMM_MIN_DIM {
            for p in x.chunks_exact(d) {
                for (i, &pi) in p.iter().enumerate().filter(|(_, &pi)| pi != 0.0) {
                    let pi = pi as f64;
                    for (hij, &pj) in h[i * d..(i + 1) * d].iter_mut().zip(p) {
                        *hij += pi * pj as f64;
                    }
                }
            }
            return;
        }
        let di = d as isize;
        gemm(d, d, rows, 1.0, x, 1, di, x, di, 1, 0.0, scratch, di, 1);
        for (h, &v) in h.iter_mut().zip(scratch.iter()) {
            *h += v as f64;
        }
    }

    /// Adds the vectors `reader` takes from the first `samples` samples of the batch `x`.
    pub fn observe(&mut self, reader: &Reader, x: &Tensor, samples: usize, node: &str) -> Result<()> {
        let values = x.as_slice::<f32>()?;
        let mut scratch = vec![0.0f32; self.dim * self.dim];
        match reader {
            Reader::Linear { dim } => {
                let batch = x.shape().first().copied().unwrap_or(1).max(1);
                let kept = samples.min(batch);
                let rows = values.len() / dim / batch * kept;
                self.add_rows(0, &values[..rows * dim], &mut scratch);
                self.samples += kept as u64;
                Ok(())
            }
            Reader::Conv(conv) => self.observe_conv(conv, x.shape(), values, samples, node),
        }
    }

    fn observe_conv(
        &mut self,
        conv: &Conv,
        shape: &[usize],
        values: &[f32],
        samples: usize,
        node: &str,
    ) -> Result<()> {
        let &[n, c, h, w] = shape else {
            return Err(PtqError::Calibration(format!(
                "conv '{node}' input is not 4-D: {shape:?}"
            )));
        };
        let groups = conv.group.max(1);
        let per_group = c / groups;
        let [kh, kw] = conv.kernel;
        let (oh, ow) = conv.output_hw(h, w);
        let d = per_group * kh * kw;
        let positions = oh * ow;
        let take = positions.min(self.per_sample.max(1));
        let kept = n.min(samples);
        let mut scratch = vec![0.0f32; d * d];
        let mut x = Vec::with_capacity(kept * take * d);
        for g in 0..groups {
            x.clear();
            for b in 0..kept {
                let sample = self.samples + b as u64;
                for p in sampled_positions(positions, take, sample, g) {
                    let (oy, ox) = (p / ow, p % ow);
                    for ci in 0..per_group {
                        let plane = &values[((b * c) + g * per_group + ci) * h * w..][..h * w];
                        for ky in 0..kh {
                            let y = (oy * conv.strides[0] + ky * conv.dilations[0]) as isize
                                - conv.pads[0] as isize;
                            for kx in 0..kw {
                                let xx = (ox * conv.strides[1] + kx * conv.dilations[1]) as isize
                                    - conv.pads[1] as isize;
                                let inside = (0..h as isize).contains(&y) && (0..w as isize).contains(&xx);
                                x.push(if inside {
                                    plane[y as usize * w + xx as usize]
                                } else {
                                    0.0
                                });
                            }
                        }
                    }
                }
            }
            self.add_rows(g, &x, &mut scratch);
        }
        self.samples += kept as u64;
        Ok(())
    }
}

/// `take` of the `positions` output positions, evenly spaced from an offset drawn from
/// `(sample, group)`: all of them when `take == positions`.
fn sampled_positions(
    positions: usize,
    take: usize,
    sample: u64,
    group: usize,
) -> impl Iterator<Item = usize> {
    let offset = if take == positions {
        0.0
    } else {
        (splitmix(sample << 32 ^ group as u64) >> 11) as f64 / (1u64 << 53) as f64
    };
    let step = positions as f64 / take as f64;
    (0..take).map(move |k| (((k as f64 + offset) * step) as usize).min(positions - 1))
}

/// SplitMix64's output function: a well-mixed 64-bit hash of `x`.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: zero-pads the image explicitly, then reads each patch in the weight's
    /// `[c / group, kh, kw]` order with plain indexing.
    fn reference(conv: &Conv, shape: [usize; 4], x: &[f32]) -> Vec<Vec<f64>> {
        let [n, c, h, w] = shape;
        let [top, left, bottom, right] = conv.pads;
        let (ph, pw) = (h + top + bottom, w + left + right);
        let mut padded = vec![0.0f32; n * c * ph * pw];
        for i in 0..n * c {
            for y in 0..h {
                for xx in 0..w {
                    padded[(i * ph + y + top) * pw + xx + left] = x[(i * h + y) * w + xx];
                }
            }
        }
        let groups = conv.group;
        let per = c / groups;
        let [kh, kw] = conv.kernel;
        let d = per * kh * kw;
        let (oh, ow) = conv.output_hw(h, w);
        let mut sums = vec![vec![0.0f64; d * d]; groups];
        for b in 0..n {
            for (g, sum) in sums.iter_mut().enumerate() {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut p = Vec::with_capacity(d);
                        for ci in 0..per {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let y = oy * conv.strides[0] + ky * conv.dilations[0];
                                    let xx = ox * conv.strides[1] + kx * conv.dilations[1];
                                    p.push(padded[((b * c + g * per + ci) * ph + y) * pw + xx] as f64);
                                }
                            }
                        }
                        for i in 0..d {
                            for j in 0..d {
                                sum[i * d + j] += p[i] * p[j];
                            }
                        }
                    }
                }
            }
        }
        sums
    }

    fn values(n: usize) -> Vec<f32> {
        // Some exact zeros, as after a ReLU.
        (0..n)
            .map(|i| ((i * 37 % 23) as f32 - 9.0).max(0.0) * 0.25 - 0.5 * (i % 3) as f32)
            .collect()
    }

    #[test]
    fn conv_patches_match_a_padded_reference() {
        let cases = [
            // kernel, strides, pads, dilations, group, [n, c, h, w]
            ([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1, [1, 2, 5, 5]),
            ([3, 3], [2, 2], [0, 1, 1, 0], [1, 1], 1, [2, 3, 7, 6]),
            ([3, 3], [2, 1], [1, 1, 1, 1], [1, 1], 4, [1, 4, 6, 5]),
            ([1, 1], [1, 1], [0, 0, 0, 0], [1, 1], 1, [2, 5, 3, 3]),
            ([3, 2], [1, 2], [2, 0, 1, 1], [2, 1], 2, [1, 4, 7, 7]),
        ];
        for (kernel, strides, pads, dilations, group, shape) in cases {
            let conv = Conv {
                kernel,
                strides,
                pads,
                dilations,
                group,
            };
            let x = values(shape.iter().product());
            let tensor = Tensor::new(shape.to_vec(), x.clone()).unwrap();
            let d = shape[1] / group * kernel[0] * kernel[1];
            let mut moments = Moments::new(group, d);
            moments
                .observe(&Reader::Conv(conv.clone()), &tensor, usize::MAX, "c")
                .unwrap();
            let want = reference(&conv, shape, &x);
            assert_eq!(want.len(), group);
            for (g, want) in want.iter().enumerate() {
                let got = moments.full(g);
                for (a, b) in got.iter().zip(want) {
                    assert!((a - b).abs() < 1e-9, "{conv:?} {shape:?} group {g}: {a} vs {b}");
                }
            }
            let (oh, ow) = conv.output_hw(shape[2], shape[3]);
            assert_eq!(moments.counts, vec![shape[0] * oh * ow; group]);
        }
    }

    #[test]
    fn wide_moments_take_the_gemm_path() {
        // 8 channels × 3×3 = 72 ≥ GEMM_MIN_DIM: summed in f32 blocks, so compared loosely.
        let conv = Conv {
            kernel: [3, 3],
            strides: [1, 2],
            pads: [1, 0, 1, 1],
            dilations: [1, 1],
            group: 1,
        };
        let shape = [2, 8, 6, 7];
        let x = values(shape.iter().product());
        let tensor = Tensor::new(shape.to_vec(), x.clone()).unwrap();
        let d = 72;
        assert!(d >= GEMM_MIN_DIM);
        let mut moments = Moments::new(1, d);
        moments
            .observe(&Reader::Conv(conv.clone()), &tensor, 2, "c")
            .unwrap();
        let want = &reference(&conv, shape, &x)[0];
        for (a, b) in moments.full(0).iter().zip(want) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        // Only the first sample of the batch when asked for one.
        let mut first = Moments::new(1, d);
        first
            .observe(&Reader::Conv(conv.clone()), &tensor, 1, "c")
            .unwrap();
        let (oh, ow) = conv.output_hw(6, 7);
        assert_eq!(first.counts, vec![oh * ow]);
    }

    #[test]
    fn subsampled_positions_are_distinct_seeded_and_bounded() {
        for (positions, take) in [(12544, 9), (49, 48), (7, 7), (100, 1)] {
            for sample in 0..3u64 {
                let picked: Vec<usize> = sampled_positions(positions, take, sample, 5).collect();
                assert_eq!(picked.len(), take);
                assert!(
                    picked.windows(2).all(|w| w[0] < w[1]),
                    "{positions} {take}: distinct, in order"
                );
                assert!(picked.iter().all(|&p| p < positions));
                let again: Vec<usize> = sampled_positions(positions, take, sample, 5).collect();
                assert_eq!(picked, again, "seeded");
            }
        }
        // Different samples see different positions of a large grid.
        let a: Vec<usize> = sampled_positions(12544, 9, 0, 0).collect();
        let b: Vec<usize> = sampled_positions(12544, 9, 1, 0).collect();
        assert_ne!(a, b);
        // A capped conv reads exactly `per_sample` patches of each sample and group.
        let conv = Conv {
            kernel: [3, 3],
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
            group: 2,
        };
        let shape = [3, 4, 9, 9];
        let tensor = Tensor::new(shape.to_vec(), values(shape.iter().product())).unwrap();
        let mut moments = Moments::new(2, 18);
        moments.per_sample = 10;
        moments.observe(&Reader::Conv(conv), &tensor, 3, "c").unwrap();
        assert_eq!(moments.counts, vec![30, 30]);
    }

    #[test]
    fn linear_rows_and_bad_input() {
        let x = Tensor::new(vec![2, 3], vec![1.0f32, 2.0, 0.0, -1.0, 0.5, 3.0]).unwrap();
        let mut moments = Moments::new(1, 3);
        moments.observe(&Reader::Linear { dim: 3 }, &x, 2, "fc").unwrap();
        let want = [2.0, 1.5, -3.0, 1.5, 4.25, 1.5, -3.0, 1.5, 9.0];
        assert_eq!(moments.full(0), want.to_vec());
        assert_eq!(moments.counts, vec![2]);
        let conv = Conv {
            kernel: [1, 1],
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
        };
        assert!(moments.observe(&Reader::Conv(conv), &x, 2, "c").is_err());
    }
}
