//! The fake-quantize sites of a QAT model and their observers, plugged into the training
//! executor as its [`FakeQuantObserver`].
//!
//! - Activation sites (the values static PTQ puts a QDQ pair on) keep a
//!   [`MovingAverageMinMaxObserver`], PyTorch's default QAT activation observer, fed in
//!   every training-mode pass while observers are on. Evaluation passes do not move it, so
//!   scoring a model never changes what it converts to. The site quantizes with the
//!   qconfig's u8 affine scheme once it has seen data, and passes values through before.
//! - Weight sites (the folded weight of a Conv+BN unit, or the weight of any other
//!   quantized conv/linear) are observed with per-channel (or per-tensor) symmetric i8
//!   min-max on the current weight in every pass while observers are on, the same
//!   observer static PTQ quantizes weights with. Once observers are off the last scales
//!   are frozen, and weights that outgrow them saturate.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use lowbit_autograd::{AutogradError, FakeQuantObserver, FakeQuantize, Mode};
use lowbit_graph::ValueId;
use lowbit_quant::{
    ChannelObserver, MinMaxObserver, MovingAverageMinMaxObserver, Observer, PerChannelMinMaxObserver,
    QuantError, QuantScheme,
};
use lowbit_tensor::Tensor;

/// An activation quantization point.
#[derive(Debug, Clone)]
pub(crate) struct ActivationSite {
    /// The value's name, shared with the fused graph static PTQ converts.
    pub name: String,
    pub observer: MovingAverageMinMaxObserver,
}

/// A quantized weight.
#[derive(Debug, Clone)]
pub(crate) struct WeightSite {
    /// The conv/linear node the weight belongs to.
    pub node: String,
    pub axis: usize,
    pub per_channel: bool,
    /// The scales last observed, one per channel (or one).
    pub scales: Option<Vec<f32>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Sites {
    pub activations: BTreeMap<ValueId, ActivationSite>,
    pub weights: BTreeMap<ValueId, WeightSite>,
    pub activation_scheme: QuantScheme,
    pub observing: bool,
    pub quantizing: bool,
}

fn invalid(e: QuantError) -> AutogradError {
    AutogradError::Invalid(e.to_string())
}

impl WeightSite {
    fn observe(&mut self, tensor: &Tensor) -> Result<(), QuantError> {
        let scheme = QuantScheme::i8_symmetric();
        let params = if self.per_channel {
            let mut observer = PerChannelMinMaxObserver::new(self.axis);
            observer.observe_tensor(tensor)?;
            observer.qparams(&scheme)?
        } else {
            let mut observer = MinMaxObserver::new();
            observer.observe_tensor(tensor)?;
            observer.qparams(&scheme)?
        };
        self.scales = Some(params.scale);
        Ok(())
    }

    fn quantizer(&self) -> lowbit_autograd::Result<Option<FakeQuantize>> {
        let Some(scales) = &self.scales else {
            return Ok(None);
        };
        let (qmin, qmax) = QuantScheme::i8_symmetric().qrange();
        let zeros = vec![0; scales.len()];
        let q = if self.per_channel {
            FakeQuantize::per_channel(scales.clone(), zeros, self.axis, qmin, qmax)?
        } else {
            FakeQuantize::per_tensor(scales[0], 0, qmin, qmax)?
        };
        Ok(Some(q))
    }
}

impl Sites {
    fn observe(
        &mut self,
        id: ValueId,
        tensor: &Tensor,
        mode: Mode,
    ) -> lowbit_autograd::Result<Option<FakeQuantize>> {
        if let Some(site) = self.activations.get_mut(&id) {
            if self.observing && mode == Mode::Train {
                site.observer.observe_tensor(tensor).map_err(invalid)?;
            }
            let range = site.observer.range().filter(|_| self.quantizing);
            let Some((lo, hi)) = range else {
                return Ok(None);
            };
            let (scale, zero_point) = self.activation_scheme.scale_zero_point(lo, hi);
            let (qmin, qmax) = self.activation_scheme.qrange();
            return FakeQuantize::per_tensor(scale, zero_point, qmin, qmax).map(Some);
        }
        if let Some(site) = self.weights.get_mut(&id) {
            if self.observing || site.scales.is_none() {
                site.observe(tensor).map_err(invalid)?;
            }
            return if self.quantizing {
                site.quantizer()
            } else {
                Ok(None)
            };
        }
        Ok(None)
    }
}

/// The sites shared between a [`super::QatModel`] (which switches them and reads them at
/// conversion) and its executor (which feeds them).
#[derive(Debug, Clone)]
pub(crate) struct SharedSites(pub Arc<Mutex<Sites>>);

impl SharedSites {
    pub fn lock(&self) -> MutexGuard<'_, Sites> {
        // A panic while observing leaves plain numbers behind, never a broken invariant.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl FakeQuantObserver for SharedSites {
    fn observe(
        &mut self,
        value: ValueId,
        tensor: &Tensor,
        mode: Mode,
    ) -> lowbit_autograd::Result<Option<FakeQuantize>> {
        self.lock().observe(value, tensor, mode)
    }
}
