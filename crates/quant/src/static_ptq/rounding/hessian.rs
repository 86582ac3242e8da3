//! The second moment `H = Σ x xᵀ` of the vectors a conv/linear weight row multiplies:
//! the input rows of a linear layer, the receptive-field patches of one conv group.

use lowbit_graph::ops::Conv;
use lowbit_tensor::Tensor;

use crate::static_ptq::error::{PtqError, Result};

/// How a node reads its input: `groups` independent `dim × dim` second moments.
#[derive(Debug, Clone)]
pub(crate) enum Reader {
    /// `x` is `[..., dim]`.
    Linear {
        dim: usize,
    },
    Conv(Conv),
}

/// Accumulated second moments, one per group, row-major `dim × dim` (upper triangle
/// filled; mirrored by [`Moments::full`]).
#[derive(Debug, Clone)]
pub(crate) struct Moments {
    pub dim: usize,
    pub sums: Vec<Vec<f64>>,
    /// Vectors added to each group.
    pub counts: Vec<usize>,
}

impl Moments {
    pub fn new(groups: usize, dim: usize) -> Moments {
        Moments {
            dim,
            sums: vec![vec![0.0; dim * dim]; groups],
            counts: vec![0; groups],
        }
    }

    /// Group `g`'s matrix with both triangles filled.
    pub fn full(&self, g: usize) -> Vec<f64> {
        let d = self.dim;
        let mut h = self.sums[g].clone();
        for i in 0..d {
            for j in 0..i {
                h[i * d + j] = h[j * d + i];
            }
        }
        h
    }

    fn add(&mut self, g: usize, p: &[f32]) {
        let d = self.dim;
        self.counts[g] += 1;
        let h = &mut self.sums[g];
        for (i, &pi) in p.iter().enumerate() {
            if pi == 0.0 {
                continue;
            }
            let pi = pi as f64;
            let row = &mut h[i * d + i..(i + 1) * d];
            for (hij, &pj) in row.iter_mut().zip(&p[i..]) {
                *hij += pi * pj as f64;
            }
        }
    }

    /// Adds the vectors `reader` takes from `x`.
    pub fn observe(&mut self, reader: &Reader, x: &Tensor, node: &str) -> Result<()> {
        let values = x.as_slice::<f32>()?;
        match reader {
            Reader::Linear { dim } => {
                for row in values.chunks_exact(*dim) {
                    self.add(0, row);
                }
                Ok(())
            }
            Reader::Conv(conv) => self.observe_conv(conv, x.shape(), values, node),
        }
    }

    fn observe_conv(&mut self, conv: &Conv, shape: &[usize], values: &[f32], node: &str) -> Result<()> {
        let &[n, c, h, w] = shape else {
            return Err(PtqError::Calibration(format!(
                "conv '{node}' input is not 4-D: {shape:?}"
            )));
        };
        let groups = conv.group.max(1);
        let per_group = c / groups;
        let [kh, kw] = conv.kernel;
        let (oh, ow) = conv.output_hw(h, w);
        let mut patch = vec![0.0f32; per_group * kh * kw];
        for b in 0..n {
            for g in 0..groups {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut k = 0;
                        for ci in 0..per_group {
                            let plane = &values[((b * c) + g * per_group + ci) * h * w..][..h * w];
                            for ky in 0..kh {
                                let y = (oy * conv.strides[0] + ky * conv.dilations[0]) as isize
                                    - conv.pads[0] as isize;
                                for kx in 0..kw {
                                    let xx = (ox * conv.strides[1] + kx * conv.dilations[1]) as isize
                                        - conv.pads[1] as isize;
                                    let inside =
                                        (0..h as isize).contains(&y) && (0..w as isize).contains(&xx);
                                    patch[k] = if inside {
                                        plane[y as usize * w + xx as usize]
                                    } else {
                                        0.0
                                    };
                                    k += 1;
                                }
                            }
                        }
                        self.add(g, &patch);
                    }
                }
            }
        }
        Ok(())
    }
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
                .observe(&Reader::Conv(conv.clone()), &tensor, "c")
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
    fn linear_rows_and_bad_input() {
        let x = Tensor::new(vec![2, 3], vec![1.0f32, 2.0, 0.0, -1.0, 0.5, 3.0]).unwrap();
        let mut moments = Moments::new(1, 3);
        moments.observe(&Reader::Linear { dim: 3 }, &x, "fc").unwrap();
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
        assert!(moments.observe(&Reader::Conv(conv), &x, "c").is_err());
    }
}
