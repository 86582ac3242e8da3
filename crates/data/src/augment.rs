//! Training-time augmentation of preprocessed `[C, H, W]` f32 samples, as torchvision's
//! `RandomCrop(size, padding=pad)` followed by `RandomHorizontalFlip()`.
//!
//! Augmentation runs after [`crate::Preprocess`], on normalised values, so the padding is
//! not 0 but [`Augment::fill`]: the normalised value of a black pixel,
//! `(0 − mean) / std`, which is what torchvision's zero fill becomes after `Normalize`.

use lowbit_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::SplitMix64;

/// Random crop with padding and random horizontal flip; the output has the input's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Pixels of padding on every side before a crop of the original size.
    pub pad: usize,
    /// Value of the padding pixels (already normalised).
    pub fill: f32,
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
}

/// One draw of the augmentation: where the crop window starts in the padded image, and
/// whether the crop is mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AugmentDraw {
    pub top: usize,
    pub left: usize,
    pub flip: bool,
}

impl Augment {
    /// The padding (zero pixels after normalisation) for a [`crate::Preprocess`] with
    /// `mean[0]` and `std[0]`, i.e. one-channel images such as Fashion-MNIST.
    pub fn black_fill(mean: f32, std: f32) -> f32 {
        -mean / std
    }

    /// Draws the crop offset (`top`, then `left`, each in `0..=2·pad`) and then the flip
    /// from `rng`, in that order.
    pub fn draw(&self, rng: &mut SplitMix64) -> AugmentDraw {
        let span = 2 * self.pad + 1;
        let top = rng.below(span);
        let left = rng.below(span);
        let flip = self.flip && rng.coin();
        AugmentDraw { top, left, flip }
    }

    /// Augments one sample with a fresh draw from `rng`.
    pub fn apply(&self, input: &Tensor, rng: &mut SplitMix64) -> Result<Tensor> {
        let draw = self.draw(rng);
        self.apply_draw(input, draw)
    }

    /// Augments one `[C, H, W]` f32 sample with a given draw: output pixel `(y, x)` is the
    /// padded input at `(y + top − pad, x' + left − pad)`, where `x' = W − 1 − x` when
    /// flipped, else `x`; positions outside the input read [`Augment::fill`].
    pub fn apply_draw(&self, input: &Tensor, draw: AugmentDraw) -> Result<Tensor> {
        let &[channels, height, width] = input.shape() else {
            return Err(DataError::Preprocess(format!(
                "augmentation needs [C, H, W] samples, got shape {:?}",
                input.shape()
            )));
        };
        if draw.top > 2 * self.pad || draw.left > 2 * self.pad {
            return Err(DataError::Preprocess(format!(
                "crop offset ({}, {}) lies outside the padding of {}",
                draw.top, draw.left, self.pad
            )));
        }
        let src = input.as_slice::<f32>()?;
        let mut out = vec![self.fill; src.len()];
        // Rows and columns of the output that read inside the input; the rest stay `fill`.
        let shift_y = draw.top as isize - self.pad as isize;
        let shift_x = draw.left as isize - self.pad as isize;
        for c in 0..channels {
            let plane = c * height * width;
            for y in 0..height {
                let sy = y as isize + shift_y;
                if sy < 0 || sy >= height as isize {
                    continue;
                }
                let src_row = &src[plane + sy as usize * width..][..width];
                let out_row = &mut out[plane + y * width..][..width];
                for (x, o) in out_row.iter_mut().enumerate() {
                    let cx = if draw.flip { width - 1 - x } else { x };
                    let sx = cx as isize + shift_x;
                    if (0..width as isize).contains(&sx) {
                        *o = src_row[sx as usize];
                    }
                }
            }
        }
        Ok(Tensor::new(input.shape().to_vec(), out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook form: build the padded image, cut the window, then mirror it.
    fn reference(input: &[f32], shape: [usize; 3], pad: usize, fill: f32, draw: AugmentDraw) -> Vec<f32> {
        let [c, h, w] = shape;
        let (ph, pw) = (h + 2 * pad, w + 2 * pad);
        let mut padded = vec![fill; c * ph * pw];
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    padded[(ch * ph + y + pad) * pw + x + pad] = input[(ch * h + y) * w + x];
                }
            }
        }
        let mut crop = vec![0.0; c * h * w];
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    crop[(ch * h + y) * w + x] = padded[(ch * ph + y + draw.top) * pw + x + draw.left];
                }
            }
        }
        if draw.flip {
            for row in crop.chunks_mut(w) {
                row.reverse();
            }
        }
        crop
    }

    #[test]
    fn matches_the_pad_crop_flip_reference_over_every_offset() {
        for (shape, pad) in [([1, 5, 7], 2), ([3, 4, 4], 1), ([2, 3, 6], 4), ([1, 1, 1], 0)] {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let input = Tensor::new(shape.to_vec(), values.clone()).unwrap();
            let augment = Augment {
                pad,
                fill: -0.75,
                flip: true,
            };
            for top in 0..=2 * pad {
                for left in 0..=2 * pad {
                    for flip in [false, true] {
                        let draw = AugmentDraw { top, left, flip };
                        let got = augment.apply_draw(&input, draw).unwrap();
                        assert_eq!(got.shape(), &shape);
                        assert_eq!(
                            got.as_slice::<f32>().unwrap(),
                            reference(&values, shape, pad, -0.75, draw).as_slice(),
                            "shape {shape:?} pad {pad} draw {draw:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn centre_draw_without_flip_is_the_identity() {
        let input = Tensor::new(vec![1, 3, 3], (0..9).map(|i| i as f32).collect::<Vec<_>>()).unwrap();
        let augment = Augment {
            pad: 2,
            fill: 0.0,
            flip: true,
        };
        let draw = AugmentDraw {
            top: 2,
            left: 2,
            flip: false,
        };
        assert_eq!(augment.apply_draw(&input, draw).unwrap(), input);
    }

    #[test]
    fn draws_cover_the_offsets_and_both_flips() {
        let augment = Augment {
            pad: 2,
            fill: 0.0,
            flip: true,
        };
        let mut rng = SplitMix64::new(11);
        let draws: Vec<AugmentDraw> = (0..500).map(|_| augment.draw(&mut rng)).collect();
        for offset in 0..=4 {
            assert!(draws.iter().any(|d| d.top == offset) && draws.iter().any(|d| d.left == offset));
        }
        let flips = draws.iter().filter(|d| d.flip).count();
        assert!((200..300).contains(&flips), "{flips} flips in 500");
        let no_flip = Augment {
            flip: false,
            ..augment
        };
        assert!((0..100).all(|_| !no_flip.draw(&mut rng).flip));
    }

    #[test]
    fn rejects_bad_shapes_and_offsets() {
        let augment = Augment {
            pad: 1,
            fill: 0.0,
            flip: false,
        };
        let flat = Tensor::new(vec![4], vec![0f32; 4]).unwrap();
        let draw = AugmentDraw {
            top: 0,
            left: 0,
            flip: false,
        };
        assert!(augment
            .apply_draw(&flat, draw)
            .unwrap_err()
            .to_string()
            .contains("[C, H, W]"));
        let image = Tensor::new(vec![1, 2, 2], vec![0f32; 4]).unwrap();
        let far = AugmentDraw {
            top: 3,
            left: 0,
            flip: false,
        };
        assert!(augment.apply_draw(&image, far).is_err());
    }

    #[test]
    fn black_fill_is_the_normalised_zero_pixel() {
        assert_eq!(Augment::black_fill(72.0, 90.0), -0.8);
    }
}
