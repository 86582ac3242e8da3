//! An 8-bit interleaved image, the form every preprocessing step works on.

/// Pixels in row-major HWC order, `channels` values per pixel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pixels {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Pixels {
    /// The `width`×`height` window whose top-left corner is (`left`, `top`); the caller
    /// keeps the window inside the image.
    pub fn crop(&self, left: usize, top: usize, width: usize, height: usize) -> Pixels {
        debug_assert!(left + width <= self.width && top + height <= self.height);
        let row_len = width * self.channels;
        let mut data = Vec::with_capacity(height * row_len);
        for y in top..top + height {
            let start = (y * self.width + left) * self.channels;
            data.extend_from_slice(&self.data[start..start + row_len]);
        }
        Pixels {
            width,
            height,
            channels: self.channels,
            data,
        }
    }

    /// One luma channel from RGB with PIL's `convert("L")` integer weights
    /// (ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B in 16-bit fixed point, rounded).
    pub fn to_luma(&self) -> Pixels {
        if self.channels == 1 {
            return self.clone();
        }
        let data = self
            .data
            .chunks_exact(self.channels)
            .map(|p| ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as u8)
            .collect();
        Pixels {
            width: self.width,
            height: self.height,
            channels: 1,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_takes_the_window() {
        let img = Pixels {
            width: 3,
            height: 2,
            channels: 2,
            data: (0..12).collect(),
        };
        let c = img.crop(1, 1, 2, 1);
        assert_eq!((c.width, c.height, c.channels), (2, 1, 2));
        assert_eq!(c.data, vec![8, 9, 10, 11]);
    }

    #[test]
    fn luma_uses_pil_weights() {
        let img = Pixels {
            width: 4,
            height: 1,
            channels: 3,
            data: vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 77, 77, 77],
        };
        // PIL: Image.new("RGB", ...).convert("L") gives 76, 150, 29 and keeps greys.
        assert_eq!(img.to_luma().data, vec![76, 150, 29, 77]);
    }
}
