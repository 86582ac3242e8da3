//! The observer contracts: what calibration calls on every observed tensor.

use lowbit_tensor::{QuantParams, Tensor};

use crate::{QuantScheme, Result};

/// Collects statistics of one tensor's values over a calibration run and turns them into
/// per-tensor quantization parameters.
///
/// Contract shared by the implementations:
/// - `observe` streams: state stays bounded (a few numbers or a fixed histogram) however
///   many values are observed;
/// - `merge` folds in an observer of the same configuration that saw other batches
///   (for instance on another thread); each implementation documents whether the result
///   equals observing all batches in one observer;
/// - `qparams` does not change the state, so it can be asked with several schemes.
pub trait Observer: Send {
    /// Records a batch of values. NaN and infinities are ignored.
    fn observe(&mut self, values: &[f32]);

    /// Folds in the statistics of `other`.
    fn merge(&mut self, other: &Self)
    where
        Self: Sized;

    /// Per-tensor scale and zero point for `scheme`; an error before any finite value.
    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams>;

    /// Records every value of an f32 tensor, whatever its shape.
    fn observe_tensor(&mut self, tensor: &Tensor) -> Result<()> {
        self.observe(tensor.as_slice::<f32>()?);
        Ok(())
    }
}

/// Like [`Observer`], with one set of statistics per channel along a fixed axis
/// (weights are quantized per output channel).
pub trait ChannelObserver: Send {
    /// The channel axis of observed tensors.
    fn axis(&self) -> usize;

    /// Records an f32 tensor; every call must have the same number of channels.
    fn observe_tensor(&mut self, tensor: &Tensor) -> Result<()>;

    /// Folds in the statistics of `other`, which must have as many channels.
    fn merge(&mut self, other: &Self) -> Result<()>
    where
        Self: Sized;

    /// Per-channel scales and zero points along [`ChannelObserver::axis`].
    fn qparams(&self, scheme: &QuantScheme) -> Result<QuantParams>;
}
