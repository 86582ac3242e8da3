//! `convert`: the QAT model as an ONNX QDQ graph, through static PTQ's own fusion, QDQ
//! placement and weight/bias quantization, with the ranges and scales QAT learned.

use lowbit_quant::static_ptq::{prepare, Quantized};

use super::error::{QatError, Result};
use super::model::QatModel;

/// PyTorch's `convert` of a QAT model: BatchNorm is folded into each conv with the final
/// running statistics (the same fold the units simulated), weights become i8 with the
/// observed per-channel scales (frozen ones once observers are off; with observers still
/// on, the min-max of the final folded weight, which is what the observer would see
/// next), and each activation point gets a QDQ pair with its moving-average range.
/// Errors if an activation point was never observed.
pub fn convert(model: &QatModel) -> Result<Quantized> {
    let mut prepared = prepare(model.trained_graph(), &model.qconfig)?;
    let sites = model.sites.lock();
    for site in sites.activations.values() {
        let (lo, hi) = site.observer.range().ok_or_else(|| QatError::NotObserved {
            value: site.name.clone(),
        })?;
        prepared.set_activation_range(&site.name, lo, hi)?;
    }
    if !sites.observing {
        for site in sites.weights.values() {
            if let Some(scales) = &site.scales {
                prepared.set_weight_scales(&site.node, scales)?;
            }
        }
    }
    Ok(prepared.convert()?)
}
