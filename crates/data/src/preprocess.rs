//! Image preprocessing: resize the shorter side, centre crop, normalise per channel.
//!
//! The pipeline reproduces the PIL/torchvision recipe most ImageNet models were
//! trained with, so that a model sees the same numbers here as in Python:
//! 1. decode to RGB (or PIL "L" luma when `gray`);
//! 2. bicubic resize (PIL's, see [`crate::resample`]) so the shorter side is `resize`
//!    and the longer one `round(resize * long / short)` (round half to even, as Python's
//!    `round`; torchvision's `Resize` truncates instead, which differs by one pixel on
//!    some aspect ratios: 1024×683 gives 384 here, 383 there);
//! 3. centre crop `crop`×`crop` at `round((h - crop) / 2)`, as torchvision's `CenterCrop`;
//! 4. `(value - mean[c]) / std[c]` on 0..255 values, CHW f32.

use std::path::Path;

use lowbit_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::pixels::Pixels;
use crate::resample::resize_bicubic;

/// ONNX metadata key whose value is the JSON of the [`Preprocess`] a model expects.
pub const PREPROCESS_METADATA_KEY: &str = "lowbit.preprocess";

/// How raw pixels become a model input. Serialised as JSON into model metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preprocess {
    /// Length of the shorter side after a bicubic resize; `None` keeps the decoded size.
    pub resize: Option<u32>,
    /// Side of the square centre crop; `None` keeps the whole (resized) image.
    pub crop: Option<u32>,
    /// Per-channel value subtracted from 0..255 pixels, in R, G, B order
    /// (only the first entry is used for one-channel images).
    pub mean: [f32; 3],
    /// Per-channel divisor applied after the mean.
    pub std: [f32; 3],
    /// Convert to one luma channel (PIL `convert("L")`) for one-channel models.
    pub gray: bool,
}

impl Default for Preprocess {
    /// No resize, no crop, raw 0..255 values, RGB.
    fn default() -> Self {
        Preprocess {
            resize: None,
            crop: None,
            mean: [0.0; 3],
            std: [1.0; 3],
            gray: false,
        }
    }
}

impl Preprocess {
    /// Checks the invariants every consumer relies on: positive sizes, a crop that fits
    /// inside the resized image, finite means and positive finite deviations.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(DataError::Preprocess(reason));
        if self.resize == Some(0) || self.crop == Some(0) {
            return fail("resize and crop sizes must be positive".to_string());
        }
        if let (Some(resize), Some(crop)) = (self.resize, self.crop) {
            if crop > resize {
                return fail(format!(
                    "crop {crop} is larger than the resized shorter side {resize}"
                ));
            }
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            return fail(format!("mean {m} is not a finite number"));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return fail(format!("std {s} is not a positive finite number"));
        }
        Ok(())
    }

    /// Channels of the produced tensors.
    pub fn channels(&self) -> usize {
        if self.gray {
            1
        } else {
            3
        }
    }

    /// `[C, crop, crop]` when every output has the same shape, else `None`.
    pub fn output_shape(&self) -> Option<Vec<usize>> {
        self.crop.map(|c| vec![self.channels(), c as usize, c as usize])
    }

    pub fn to_metadata_json(&self) -> String {
        serde_json::to_string(self).expect("Preprocess holds only plain numbers and options")
    }

    /// Parses and validates the value stored under [`PREPROCESS_METADATA_KEY`].
    pub fn from_metadata_json(json: &str) -> Result<Self> {
        let parsed: Preprocess = serde_json::from_str(json).map_err(|e| {
            DataError::Preprocess(format!("bad '{PREPROCESS_METADATA_KEY}' metadata JSON: {e}"))
        })?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// Decodes the image at `path` (JPEG or PNG) and preprocesses it into `[C, H, W]`.
    pub fn load_image(&self, path: &Path) -> Result<Tensor> {
        let image = image::ImageReader::open(path)
            .and_then(|reader| reader.with_guessed_format())
            .map_err(|e| DataError::io(path, e))?
            .decode()
            .map_err(|source| DataError::Image {
                path: path.to_path_buf(),
                source,
            })?;
        let rgb = image.to_rgb8();
        let pixels = Pixels {
            width: rgb.width() as usize,
            height: rgb.height() as usize,
            channels: 3,
            data: rgb.into_raw(),
        };
        let pixels = if self.gray { pixels.to_luma() } else { pixels };
        self.apply(pixels, path)
    }

    /// Resize, crop and normalise; `source` names the image in errors.
    pub(crate) fn apply(&self, pixels: Pixels, source: &Path) -> Result<Tensor> {
        let pixels = match self.resize {
            Some(side) => {
                let (width, height) = resized_size(pixels.width, pixels.height, side as usize);
                resize_bicubic(&pixels, width, height)
            }
            None => pixels,
        };
        let pixels = match self.crop {
            Some(side) => centre_crop(&pixels, side as usize).ok_or_else(|| {
                DataError::dataset(
                    source,
                    format!(
                        "image is {}x{} after resizing, smaller than the {side}x{side} crop",
                        pixels.width, pixels.height
                    ),
                )
            })?,
            None => pixels,
        };
        Ok(self.normalise(&pixels)?)
    }

    /// HWC u8 to CHW f32 with `(value - mean) / std` per channel.
    fn normalise(&self, pixels: &Pixels) -> lowbit_tensor::Result<Tensor> {
        let plane = pixels.width * pixels.height;
        let mut values = vec![0f32; plane * pixels.channels];
        for (c, out) in values.chunks_exact_mut(plane).enumerate() {
            let (mean, std) = (self.mean[c.min(2)], self.std[c.min(2)]);
            for (i, v) in out.iter_mut().enumerate() {
                *v = (pixels.data[i * pixels.channels + c] as f32 - mean) / std;
            }
        }
        Tensor::new(vec![pixels.channels, pixels.height, pixels.width], values)
    }
}

/// Size after scaling the shorter side to `short_side`, keeping the aspect ratio.
fn resized_size(width: usize, height: usize, short_side: usize) -> (usize, usize) {
    let long_side = |long: usize, short: usize| {
        ((short_side as f64 * long as f64 / short as f64).round_ties_even() as usize).max(1)
    };
    if width <= height {
        (short_side, long_side(height, width))
    } else {
        (long_side(width, height), short_side)
    }
}

/// The centred `side`×`side` window, or `None` when the image is smaller.
fn centre_crop(pixels: &Pixels, side: usize) -> Option<Pixels> {
    let offset = |len: usize| Some((len.checked_sub(side)? as f64 / 2.0).round_ties_even() as usize);
    let (left, top) = (offset(pixels.width)?, offset(pixels.height)?);
    Some(pixels.crop(left, top, side, side))
}

/// Parses a `--mean`/`--std` value: three comma-separated numbers (R,G,B), or one
/// number used for every channel.
pub fn parse_triplet(text: &str) -> Result<[f32; 3]> {
    let values =
        text.split(',')
            .map(|part| {
                let part = part.trim();
                part.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    DataError::Preprocess(format!("'{part}' in '{text}' is not a finite number"))
                })
            })
            .collect::<Result<Vec<f32>>>()?;
    match values.as_slice() {
        [v] => Ok([*v; 3]),
        [r, g, b] => Ok([*r, *g, *b]),
        _ => Err(DataError::Preprocess(format!(
            "'{text}' has {} values; give one value or three (R,G,B)",
            values.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_triplet_accepts_one_or_three_values() {
        assert_eq!(
            parse_triplet("0.485,0.456, 0.406").unwrap(),
            [0.485, 0.456, 0.406]
        );
        assert_eq!(parse_triplet("127").unwrap(), [127.0; 3]);
        assert_eq!(parse_triplet("-1e2,0,+3").unwrap(), [-100.0, 0.0, 3.0]);
        for bad in ["", "1,2", "1,2,3,4", "a,b,c", "1,,3", "nan", "1,inf,2"] {
            let err = parse_triplet(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn metadata_json_round_trips_and_validates() {
        let p = Preprocess {
            resize: Some(256),
            crop: Some(224),
            mean: [127.0; 3],
            std: [128.0; 3],
            gray: false,
        };
        let json = p.to_metadata_json();
        assert_eq!(Preprocess::from_metadata_json(&json).unwrap(), p);
        let partial = Preprocess::from_metadata_json(r#"{"std": [255, 255, 255], "gray": true}"#).unwrap();
        assert_eq!(partial.std, [255.0; 3]);
        assert_eq!(partial.resize, None);
        assert!(Preprocess::from_metadata_json(r#"{"std": [0, 1, 1]}"#).is_err());
        assert!(Preprocess::from_metadata_json(r#"{"resize": 100, "crop": 224}"#).is_err());
        let err = Preprocess::from_metadata_json(r#"{"sdt": [1, 1, 1]}"#).unwrap_err();
        assert!(err.to_string().contains("lowbit.preprocess"), "{err}");
    }

    #[test]
    fn resized_size_rounds_the_long_side() {
        assert_eq!(resized_size(1024, 683, 256), (384, 256));
        assert_eq!(resized_size(512, 512, 256), (256, 256));
        assert_eq!(resized_size(300, 500, 224), (224, 373));
        // 255 * 3 / 2 = 382.5 rounds half to even.
        assert_eq!(resized_size(2, 3, 255), (255, 382));
        assert_eq!(resized_size(1000, 1, 2), (2000, 2));
    }

    #[test]
    fn centre_crop_rounds_half_to_even() {
        let img = Pixels {
            width: 5,
            height: 4,
            channels: 1,
            data: (0..20).collect(),
        };
        // (5 - 2) / 2 = 1.5 -> 2 and (4 - 2) / 2 = 1.
        assert_eq!(centre_crop(&img, 2).unwrap().data, vec![7, 8, 12, 13]);
        // (5 - 4) / 2 = 0.5 -> 0 and (4 - 4) / 2 = 0.
        assert_eq!(centre_crop(&img, 4).unwrap().data[..4], [0, 1, 2, 3]);
        assert!(centre_crop(&img, 6).is_none());
    }

    #[test]
    fn normalise_gives_chw_per_channel() {
        let p = Preprocess {
            mean: [10.0, 20.0, 30.0],
            std: [2.0, 4.0, 5.0],
            ..Preprocess::default()
        };
        let img = Pixels {
            width: 2,
            height: 1,
            channels: 3,
            data: vec![10, 20, 30, 12, 28, 40],
        };
        let t = p.apply(img, Path::new("x.png")).unwrap();
        assert_eq!(t.shape(), &[3, 1, 2]);
        assert_eq!(t.as_slice::<f32>().unwrap(), &[0.0, 1.0, 0.0, 2.0, 0.0, 2.0]);
    }

    #[test]
    fn crop_larger_than_image_names_the_file() {
        let p = Preprocess {
            crop: Some(3),
            ..Preprocess::default()
        };
        let img = Pixels {
            width: 2,
            height: 2,
            channels: 1,
            data: vec![0; 4],
        };
        let err = p.apply(img, Path::new("tiny_1.png")).unwrap_err().to_string();
        assert!(err.contains("tiny_1.png") && err.contains("3x3 crop"), "{err}");
    }
}
