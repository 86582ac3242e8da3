//! Reading the constant parameters of QuantizeLinear / DequantizeLinear nodes.

use lowbit_graph::{Graph, Node, Op};
use lowbit_kernels::int8::ops::{QParams, SIGN_FLIP_SHIFT};
use lowbit_tensor::{DType, Tensor};

/// The constant scale and zero point of a QuantizeLinear or DequantizeLinear node.
pub(crate) struct NodeQuant {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    /// The quantized side's type: the zero point's, else the input's (DequantizeLinear)
    /// or u8 (QuantizeLinear, as ONNX defaults).
    pub dtype: DType,
    pub axis: i64,
}

impl NodeQuant {
    /// Parameters of `node` when it is a Q or DQ node whose scale and zero point are
    /// initializers; `None` otherwise.
    pub(crate) fn of(graph: &Graph, node: &Node) -> Option<NodeQuant> {
        let axis = match &node.op {
            Op::QuantizeLinear(a) | Op::DequantizeLinear(a) => a.axis,
            _ => return None,
        };
        let scales = graph
            .initializer(node.input(1)?)?
            .as_slice::<f32>()
            .ok()?
            .to_vec();
        let (zero_points, dtype) = match node.input(2) {
            Some(v) => {
                let zp = graph.initializer(v)?;
                (integers(zp)?, zp.dtype())
            }
            None => {
                let dtype = match node.op {
                    Op::DequantizeLinear(_) => {
                        let x = node.input(0)?;
                        match graph.initializer(x) {
                            Some(t) => t.dtype(),
                            None => graph.value(x).fact.dtype?,
                        }
                    }
                    _ => DType::U8,
                };
                (vec![0; scales.len()], dtype)
            }
        };
        let valid = !scales.is_empty()
            && (zero_points.len() == scales.len())
            && scales.iter().all(|s| s.is_finite() && *s > 0.0);
        valid.then_some(NodeQuant {
            scales,
            zero_points,
            dtype,
            axis,
        })
    }

    /// The per-tensor parameters of an activation as the u8 kernels see it: an i8
    /// tensor is read with its bytes' top bit flipped (value + 128, see
    /// `lowbit_kernels::int8::ops::u8_view`), so its zero point moves up by 128 too.
    pub(crate) fn per_tensor_activation(&self) -> Option<QParams> {
        let shift = match self.dtype {
            DType::U8 => 0,
            DType::I8 => SIGN_FLIP_SHIFT,
            _ => return None,
        };
        (self.scales.len() == 1).then(|| QParams::new(self.scales[0], self.zero_points[0] + shift))
    }

    /// The scales and zero points expanded to `channels` values, when they are
    /// per-tensor or per-channel along `axis` (resolved against `rank`).
    pub(crate) fn per_channel(
        &self,
        axis: usize,
        rank: usize,
        channels: usize,
    ) -> Option<(Vec<f32>, Vec<i32>)> {
        if self.scales.len() == 1 {
            return Some((
                vec![self.scales[0]; channels],
                vec![self.zero_points[0]; channels],
            ));
        }
        let a = if self.axis < 0 {
            self.axis + rank as i64
        } else {
            self.axis
        };
        (a == axis as i64 && self.scales.len() == channels)
            .then(|| (self.scales.clone(), self.zero_points.clone()))
    }
}

/// Integer tensor values as i32 (u8, i8 and i32 tensors).
pub(crate) fn integers(t: &Tensor) -> Option<Vec<i32>> {
    match t.dtype() {
        DType::U8 => Some(t.as_slice::<u8>().ok()?.iter().map(|&v| i32::from(v)).collect()),
        DType::I8 => Some(t.as_slice::<i8>().ok()?.iter().map(|&v| i32::from(v)).collect()),
        DType::I32 => Some(t.as_slice::<i32>().ok()?.to_vec()),
        _ => None,
    }
}

/// Whether two parameter sets are bit-for-bit equal (a reshape passes the bytes through
/// only then).
pub(crate) fn same_params(a: QParams, b: QParams) -> bool {
    a.scale.to_bits() == b.scale.to_bits() && a.zero_point == b.zero_point
}
