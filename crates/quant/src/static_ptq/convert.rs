//! `convert`: the calibrated graph as an ONNX QDQ model.

use std::collections::HashMap;

use lowbit_graph::{Graph, ValueId};
use serde::Serialize;

use super::error::{PtqError, Result};
use super::prepare::Prepared;
use super::qdq::{
    activation_params, insert_qdq, quantize_bias_input, quantize_weight_input, skip_relus_before_quantizers,
    ActivationParams, BiasScale,
};
use crate::QuantError;

/// The ONNX `metadata_props` key holding the QConfig (TOML) a model was quantized with.
pub const QUANTIZATION_METADATA_KEY: &str = "lowbit.quantization";

/// The range calibration chose for one activation quantization point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChosenRange {
    pub value: String,
    /// The node computing the value; `None` for a graph input.
    pub node: Option<String>,
    pub observer: &'static str,
    pub scale: f32,
    pub zero_point: i32,
    /// The real interval the u8 codes cover.
    pub min: f32,
    pub max: f32,
}

/// The result of [`Prepared::convert`].
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The QDQ graph; dequantized activations keep their FP32 names.
    pub graph: Graph,
    pub ranges: Vec<ChosenRange>,
    /// Nodes left FP32 because their op has no integer kernel plan.
    pub warnings: Vec<String>,
    /// Nodes whose bias absorbed a bias correction.
    pub bias_corrected: usize,
}

impl Prepared {
    /// PyTorch's `convert`: replaces observers by QuantizeLinear/DequantizeLinear pairs,
    /// weights by i8 initializers and biases by i32 ones (with the measured bias
    /// corrections). Errors if a point was never observed.
    pub fn convert(&self) -> Result<Quantized> {
        let mut quantized = self.convert_with(&self.corrections)?;
        if skip_relus_before_quantizers(&mut quantized.graph) > 0 {
            quantized.graph.prune();
        }
        Ok(quantized)
    }

    /// [`Prepared::convert`] with the given bias corrections (keyed by index into
    /// `weighted`).
    pub(crate) fn convert_with(&self, corrections: &HashMap<usize, Vec<f32>>) -> Result<Quantized> {
        let scheme = self.qconfig.activations.scheme();
        let mut graph = self.graph.clone();
        let mut points: HashMap<ValueId, ActivationParams> = HashMap::new();
        let mut ranges = Vec::with_capacity(self.layout.points.len());
        for (point, observer) in self.layout.points.iter().zip(&self.observers) {
            let value = graph.value(point.value).name.clone();
            let qp = match point.clip_bounds {
                Some((lo, hi)) => scheme.params_for_range(lo, hi),
                _ => observer.qparams(&scheme),
            }
            .map_err(|e| match e {
                QuantError::NoData { .. } => PtqError::NotCalibrated { value: value.clone() },
                other => PtqError::quant(&value)(other),
            })?;
            let (scale, zero_point) = (qp.scale[0], qp.zero_point[0]);
            let (qmin, qmax) = scheme.qrange();
            ranges.push(ChosenRange {
                value,
                node: point.producer.clone(),
                observer: point.observer.name(),
                scale,
                zero_point,
                min: (qmin - zero_point) as f32 * scale,
                max: (qmax - zero_point) as f32 * scale,
            });
            let constants = activation_params(&mut graph, point.value, scale, zero_point);
            points.insert(point.value, constants);
        }
        for (i, w) in self.weighted.iter().enumerate() {
            let input = graph.nodes[w.node].input(0).and_then(|x| points.get(&x)).copied();
            let weight_scale_id = quantize_weight_input(&mut graph, w)?;
            let scale = input.map(|input| BiasScale {
                input,
                weight_scale_id,
            });
            quantize_bias_input(&mut graph, w, scale, corrections.get(&i))?;
        }
        for point in &self.layout.points {
            insert_qdq(&mut graph, point.value, points[&point.value]);
        }
        graph
            .metadata
            .insert(QUANTIZATION_METADATA_KEY.to_string(), self.qconfig.to_toml());
        // Prune walks nodes backwards from the outputs: it needs them sorted.
        graph.sort()?;
        graph.prune();
        graph.validate()?;
        Ok(Quantized {
            graph,
            ranges,
            warnings: self.layout.warnings.clone(),
            bias_corrected: corrections.len(),
        })
    }
}
