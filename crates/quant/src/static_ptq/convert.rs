//! `convert`: the calibrated graph as an ONNX QDQ model.

use std::collections::HashMap;
use std::sync::Arc;

use lowbit_graph::ops::QuantAxis;
use lowbit_graph::{Fact, Graph, Node, Op, ValueId};
use lowbit_tensor::{DType, Tensor};
use serde::Serialize;

use super::error::{PtqError, Result};
use super::prepare::Prepared;
use super::weights::{quantize_bias, WeightedNode};
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
        self.convert_with(&self.corrections)
    }

    /// [`Prepared::convert`] with the given bias corrections (keyed by index into
    /// `weighted`).
    pub(crate) fn convert_with(&self, corrections: &HashMap<usize, Vec<f32>>) -> Result<Quantized> {
        let scheme = self.qconfig.activations.scheme();
        let mut graph = self.graph.clone();
        let mut params: HashMap<ValueId, (f32, i32)> = HashMap::new();
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
            params.insert(point.value, (scale, zero_point));
        }
        for (i, w) in self.weighted.iter().enumerate() {
            let x_scale = graph.nodes[w.node]
                .input(0)
                .and_then(|x| params.get(&x))
                .map(|p| p.0);
            quantize_weight_input(&mut graph, w)?;
            quantize_bias_input(&mut graph, w, x_scale, corrections.get(&i))?;
        }
        for point in &self.layout.points {
            let (scale, zero_point) = params[&point.value];
            insert_qdq(&mut graph, point.value, scale, zero_point)?;
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

/// Adds a constant named `base` (or `base_N`).
fn add_const(graph: &mut Graph, base: &str, tensor: Tensor) -> ValueId {
    let id = graph.add_value_unique(base, Fact::known(tensor.dtype(), tensor.shape()));
    graph.initializers.insert(id, Arc::new(tensor));
    id
}

/// `DequantizeLinear(q, scale)` producing a new f32 value named `base`. The zero point
/// is omitted: weights and biases are symmetric (zero point 0), which is ONNX's default.
fn add_dequantize(graph: &mut Graph, base: &str, inputs: [ValueId; 2], axis: usize, fact: Fact) -> ValueId {
    let out = graph.add_value_unique(base, fact);
    graph.add_node(Node {
        name: format!("{}_DequantizeLinear", graph.value(out).name),
        op: Op::DequantizeLinear(QuantAxis { axis: axis as i64 }),
        inputs: inputs.map(Some).to_vec(),
        outputs: vec![out],
    });
    out
}

/// The scale constant: a scalar per tensor, `[C]` per channel.
fn add_scale(graph: &mut Graph, base: &str, scales: Vec<f32>) -> Result<ValueId> {
    let shape = if scales.len() == 1 {
        vec![]
    } else {
        vec![scales.len()]
    };
    Ok(add_const(
        graph,
        &format!("{base}_scale"),
        Tensor::new(shape, scales)?,
    ))
}

fn quantize_weight_input(graph: &mut Graph, w: &WeightedNode) -> Result<()> {
    let name = graph.value(w.weight).name.clone();
    let fact = graph.value(w.weight).fact.clone();
    let shape = graph
        .initializer(w.weight)
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let q = add_const(
        graph,
        &format!("{name}_quantized"),
        Tensor::new(shape, w.quantized.clone())?,
    );
    let s = add_scale(graph, &name, w.params.scale.clone())?;
    let deq = add_dequantize(graph, &format!("{name}_dequantized"), [q, s], w.weight_axis, fact);
    graph.nodes[w.node].inputs[1] = Some(deq);
    Ok(())
}

/// The bias (corrected when measured) as i32 with scale `x_scale * w_scale[c]`; kept
/// FP32 when the input has no quantization point to take its scale from.
fn quantize_bias_input(
    graph: &mut Graph,
    w: &WeightedNode,
    x_scale: Option<f32>,
    correction: Option<&Vec<f32>>,
) -> Result<()> {
    let original = w.bias.and_then(|b| graph.initializer(b)).map(|t| t.to_f32_vec());
    let bias: Vec<f32> = match (original, correction) {
        (None, None) => return Ok(()),
        (Some(b), None) => b,
        (None, Some(c)) => c.clone(),
        (Some(b), Some(c)) => b.iter().zip(c).map(|(b, c)| b + c).collect(),
    };
    let node_name = graph.nodes[w.node].name.clone();
    let base = w
        .bias
        .map_or(format!("{node_name}.bias"), |b| graph.value(b).name.clone());
    let fact = Fact::known(DType::F32, &[bias.len()]);
    let id = match x_scale {
        None => add_const(
            graph,
            &format!("{base}_corrected"),
            Tensor::new(vec![bias.len()], bias)?,
        ),
        Some(x_scale) => {
            let scales: Vec<f32> = (0..bias.len()).map(|c| w.bias_scale(x_scale, c)).collect();
            let q = quantize_bias(&bias, |c| scales[c]);
            let q = add_const(
                graph,
                &format!("{base}_quantized"),
                Tensor::new(vec![q.len()], q)?,
            );
            let s = add_scale(graph, &base, scales)?;
            add_dequantize(graph, &format!("{base}_dequantized"), [q, s], 0, fact)
        }
    };
    let node = &mut graph.nodes[w.node];
    node.inputs.resize(3, None);
    node.inputs[2] = Some(id);
    Ok(())
}

/// Puts `QuantizeLinear → DequantizeLinear` on `value`. The dequantized value keeps the
/// id and name of `value`; the producer's output is renamed `<name>_float`. A graph
/// input keeps its name and its readers move to `<name>_dequantized`.
fn insert_qdq(graph: &mut Graph, value: ValueId, scale: f32, zero_point: i32) -> Result<()> {
    let name = graph.value(value).name.clone();
    let fact = graph.value(value).fact.clone();
    let s = add_const(graph, &format!("{name}_scale"), Tensor::scalar(scale));
    let z = add_const(
        graph,
        &format!("{name}_zero_point"),
        Tensor::scalar(zero_point as u8),
    );
    let q_fact = Fact {
        dtype: Some(DType::U8),
        shape: fact.shape.clone(),
    };
    let q = graph.add_value_unique(&format!("{name}_quantized"), q_fact);
    let (float, dequantized) = match graph.producer(value) {
        Some(p) => {
            let float = graph.add_value_unique(&format!("{name}_float"), fact);
            for out in &mut graph.nodes[p].outputs {
                if *out == value {
                    *out = float;
                }
            }
            (float, value)
        }
        None => {
            let dequantized = graph.add_value_unique(&format!("{name}_dequantized"), fact);
            graph.replace_uses(value, dequantized);
            (value, dequantized)
        }
    };
    graph.add_node(Node {
        name: format!("{name}_QuantizeLinear"),
        op: Op::QuantizeLinear(QuantAxis::default()),
        inputs: vec![Some(float), Some(s), Some(z)],
        outputs: vec![q],
    });
    graph.add_node(Node {
        name: format!("{name}_DequantizeLinear"),
        op: Op::DequantizeLinear(QuantAxis::default()),
        inputs: vec![Some(q), Some(s), Some(z)],
        outputs: vec![dequantized],
    });
    Ok(())
}
