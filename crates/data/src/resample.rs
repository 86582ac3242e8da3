//! Bicubic resampling that reproduces PIL's `Image.resize(..., Image.BICUBIC)` on 8-bit
//! images, so inputs match models calibrated and evaluated with PIL/torchvision.
//!
//! What has to agree with PIL, and why each matters for bit-exact output:
//! - Keys cubic with a = -0.5 whose support widens by the downscale factor (antialiasing).
//! - The taps of output pixel `o` are the input pixels from `round(c - support)` to
//!   `round(c + support)`, with `c = (o + 0.5) * scale`; weights are normalised to sum 1.
//! - Weights are converted to fixed point with 22 fractional bits, rounded away from zero.
//! - The horizontal pass runs first and its result is rounded and clamped to u8 before
//!   the vertical pass.
//!
//! `image::imageops::resize` with `CatmullRom` uses the same kernel and also widens it,
//! but runs the vertical pass first in f32 and picks taps with floor/ceil, so it
//! differs from PIL by up to a few grey levels.

use crate::pixels::Pixels;

/// Fractional bits of the fixed-point weights: 32 bits minus 8 for the pixel and 2 of headroom.
const PRECISION_BITS: u32 = 22;
/// Half-width of the bicubic kernel at scale 1.
const BICUBIC_SUPPORT: f64 = 2.0;

/// Resizes `src` to `width`×`height`.
pub(crate) fn resize_bicubic(src: &Pixels, width: usize, height: usize) -> Pixels {
    let horizontal = if width != src.width {
        resample_axis(src, width, Axis::Horizontal)
    } else {
        src.clone()
    };
    if height != src.height {
        resample_axis(&horizontal, height, Axis::Vertical)
    } else {
        horizontal
    }
}

#[derive(Clone, Copy)]
enum Axis {
    Horizontal,
    Vertical,
}

/// The input taps of one output pixel along an axis.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Keys cubic convolution kernel with a = -0.5 (Catmull-Rom).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

fn taps(in_size: usize, out_size: usize) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filter_scale;
    (0..out_size)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            // Truncation after +0.5 rounds: both bounds are non-negative here.
            let first = (center - support + 0.5).max(0.0) as usize;
            let end = ((center + support + 0.5) as usize).min(in_size);
            let raw: Vec<f64> = (first..end)
                .map(|i| bicubic((i as f64 - center + 0.5) / filter_scale))
                .collect();
            let sum: f64 = raw.iter().sum();
            let one = (1u32 << PRECISION_BITS) as f64;
            let weights = raw
                .iter()
                .map(|w| {
                    let w = if sum != 0.0 { w / sum } else { *w };
                    (w * one + 0.5f64.copysign(w)) as i32
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

/// Fixed-point accumulator back to a pixel, clamped to 0..=255.
fn to_u8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

fn resample_axis(src: &Pixels, out_size: usize, axis: Axis) -> Pixels {
    let (in_size, out_width, out_height) = match axis {
        Axis::Horizontal => (src.width, out_size, src.height),
        Axis::Vertical => (src.height, src.width, out_size),
    };
    let channels = src.channels;
    // Distance in the buffer between two neighbouring taps along the axis.
    let step = match axis {
        Axis::Horizontal => channels,
        Axis::Vertical => src.width * channels,
    };
    let taps = taps(in_size, out_size);
    let mut data = vec![0u8; out_width * out_height * channels];
    for y in 0..out_height {
        for x in 0..out_width {
            let (tap, base) = match axis {
                Axis::Horizontal => (&taps[x], (y * src.width + taps[x].first) * channels),
                Axis::Vertical => (&taps[y], (taps[y].first * src.width + x) * channels),
            };
            for c in 0..channels {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (k, &w) in tap.weights.iter().enumerate() {
                    acc += src.data[base + k * step + c] as i64 * w as i64;
                }
                data[(y * out_width + x) * channels + c] = to_u8(acc);
            }
        }
    }
    Pixels {
        width: out_width,
        height: out_height,
        channels,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: usize, height: usize, channels: usize, f: impl Fn(usize) -> u8) -> Pixels {
        Pixels {
            width,
            height,
            channels,
            data: (0..width * height * channels).map(f).collect(),
        }
    }

    #[test]
    fn constant_images_stay_constant() {
        for (w, h, nw, nh) in [(7, 5, 3, 2), (3, 4, 11, 9), (16, 16, 5, 16), (1, 1, 3, 2)] {
            let out = resize_bicubic(&image(w, h, 3, |_| 200), nw, nh);
            assert_eq!((out.width, out.height), (nw, nh));
            assert!(out.data.iter().all(|&v| v == 200), "{w}x{h} -> {nw}x{nh}");
        }
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (input, output) in [(512, 256), (683, 256), (1024, 384), (28, 56), (5, 3), (3, 1)] {
            for tap in taps(input, output) {
                let sum: i32 = tap.weights.iter().sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= tap.weights.len() as i32,
                    "{sum}"
                );
                assert!(tap.first + tap.weights.len() <= input);
            }
        }
    }

    /// Values computed with Pillow 13: `Image.frombytes("L", (6, 1), bytes([0, 50, 100,
    /// 150, 200, 250])).resize((4, 1), Image.BICUBIC)` the (1, 6) → (1, 3)
    /// column and the upscale `bytes([0, 255, 0])` (3, 1) → (6, 1).
    #[test]
    fn matches_pil_on_small_ramps() {
        let row = image(6, 1, 1, |i| (i * 50) as u8);
        assert_eq!(resize_bicubic(&row, 4, 1).data, vec![14, 85, 165, 236]);
        let column = image(1, 6, 1, |i| (i * 50) as u8);
        assert_eq!(resize_bicubic(&column, 1, 3).data, vec![27, 125, 223]);
        let up = image(3, 1, 1, |i| [0u8, 255, 0][i]);
        assert_eq!(resize_bicubic(&up, 6, 1).data, vec![0, 54, 216, 216, 54, 0]);
    }
}
