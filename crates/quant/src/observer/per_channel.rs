//! Running min and max per channel: PyTorch's `PerChannelMinMaxObserver`, for weights.

use lowbit_tensor::{QuantParams, Tensor};

use crate::histogram::finite_extent;
use crate::observer::min_max::union;
use crate::observer::ChannelObserver;
use crate::{QuantError, QuantScheme, Result};

const NAME: &str = "PerChannelMinMaxObserver";

/// One `(min, max)` per index along `axis`. Like [`crate::MinMaxObserver`] it is order-
/// and batch-independent: merging halves equals observing everything.
///
/// A channel that only ever held NaN or infinities gets the range `[0, 0]`, hence the
/// smallest scale; the other channels are unaffected.
#[derive(Debug, Clone)]
pub struct PerChannelMinMaxObserver {
    axis: usize,
    /// Empty until the first tensor fixes the channel count.
    ranges: Vec<Option<(f32, f32)>>,
}

impl PerChannelMinMaxObserver {
    pub fn new(axis: usize) -> Self {
        PerChannelMinMaxObserver {
            axis,
            ranges: Vec::new(),
        }
    }

    /// Per-channel `(min, max)`, `None` for a channel without finite values.
    pub fn ranges(&self) -> &[Option<(f32, f32)>] {
        &self.ranges
    }

    fn check_channels(&self, channels: usize) -> Result<()> {
        if !self.ranges.is_empty() && self.ranges.len() != channels {
            return Err(QuantError::Shape {
                observer: NAME,
                reason: format!(
                    "{channels} channels along axis {}, but earlier tensors had {}",
                    self.axis,
                    self.ranges.len()
                ),
            });
        }
        Ok(())
    }
}

impl ChannelObserver for PerChannelMinMaxObserver {
    fn axis(&self) -> usize {
        self.axis
    }

    fn observe_tensor(&mut self, tensor: &Tensor) -> Result<()> {
        let values = tensor.as_slice::<f32>()?;
        let shape = tensor.shape();
        let Some(&channels) = shape.get(self.axis) else {
            return Err(QuantError::Shape {
                observer: NAME,
                reason: format!("channel axis {} is out of range for shape {shape:?}", self.axis),
            });
        };
        self.check_channels(channels)?;
        if self.ranges.is_empty() {
            self.ranges = vec![None; channels];
        }
        // Row-major: the tensor is `outer` blocks of `channels` runs of `inner` values.
        let inner: usize = shape[self.axis + 1..].iter().product();
        if inner == 0 {
            return Ok(());
        }
        for (run_index, run) in values.chunks_exact(inner).enumerate() {
            let channel = run_index % channels;
            self.ranges[channel] = union(self.ranges[channel], finite_extent(run, |x| x));
        }
        Ok(())
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        if other.ranges.is_empty() {
            return Ok(());
        }
        self.check_channels(other.ranges.len())?;
        if self.ranges.is_empty() {
            self.ranges = other.ranges.clone();
            return Ok(());
        }
        for (mine, theirs) in self.ranges.iter_mut().zip(&other.ranges) {
            *mine = union(*mine, *theirs);
        }
        Ok(())
    }

    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams> {
        if self.ranges.iter().all(Option::is_none) {
            return Err(QuantError::NoData { observer: NAME });
        }
        let (mins, maxs): (Vec<f32>, Vec<f32>) = self.ranges.iter().map(|r| r.unwrap_or((0.0, 0.0))).unzip();
        scheme.params_for_channels(&mins, &maxs, self.axis)
    }
}
