//! The per-row form of a dynamic product, in standard ONNX ops (opset 17), so that any
//! runtime computes the same per-row quantization as lowbit's fused kernel:
//!
//! ```text
//! lo = Min(ReduceMin(x, axes=[-1], keepdims=1), 0)      hi = Max(ReduceMax(x, …), 0)
//! scale = (hi − lo) / 255                               divisor = Where(scale == 0, 1, scale)
//! zp = Clip(RoundEven(−lo / divisor), 0, 255)           (f32, one per row)
//! q = Cast<u8>(Clip(RoundEven(x / divisor) + zp, 0, 255))
//! acc = MatMulInteger(q, W_q)                           (no zero points: W is symmetric)
//! y = Cast<f32>(acc − Cast<i32>(zp) · colsum(W_q)) · (scale · w_scale) [+ bias]
//! ```
//!
//! MatMulInteger takes only a scalar activation zero point, hence the exact i32
//! correction `zp_r · Σ_k W[k][j]`. Opset 17 has no `Round` in lowbit's op set, so
//! `RoundEven(v)` is `(v + 1.5·2²³) − 1.5·2²³`: f32 addition rounds to nearest-even, and
//! every rounded value here lies in [−256, 256], far inside the trick's |v| < 2²² range.
//! Each step is the f32 operation lowbit's per-row kernel performs, in the same order,
//! so both give the same bits (crates/runtime/src/dynamic).

use lowbit_graph::ops::{BinaryOp, Cast, Reduce, ReduceKind, UnaryOp};
use lowbit_graph::{Dim, Fact, Graph, Node, Op, ValueId};
use lowbit_tensor::{DType, Tensor};

use super::ops_of::add_node;
use super::rewrite::add_const;
use super::{DynamicError, QuantizedWeights};

/// `1.5 · 2²³`: adding and subtracting it rounds an f32 of magnitude < 2²² to the nearest
/// integer, ties to even.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// The product being rewritten: `out = x · W (+ bias)`, W K×N.
pub(super) struct PerRowProduct<'a> {
    pub name: &'a str,
    pub x: ValueId,
    pub out: ValueId,
    pub k: usize,
    pub n: usize,
    pub weights: QuantizedWeights,
    pub bias: Option<Tensor>,
}

/// Appends the nodes of the per-row form of `p` to `nodes`.
pub(super) fn emit_per_row(
    graph: &mut Graph,
    nodes: &mut Vec<Node>,
    p: PerRowProduct<'_>,
) -> Result<(), DynamicError> {
    let x_shape = graph.value(p.x).fact.shape.clone();
    let out_shape = graph.value(p.out).fact.shape.clone();
    let mut e = Emitter {
        graph,
        nodes,
        name: p.name,
        row_shape: x_shape.map(|mut s| {
            if let Some(last) = s.last_mut() {
                *last = Dim::Known(1);
            }
            s
        }),
        out_shape,
    };
    let zero = e.scalar("zero", 0.0)?;
    let one = e.scalar("one", 1.0)?;
    let levels = e.scalar("levels", 255.0)?;
    let magic = e.scalar("rounding_magic", ROUNDING_MAGIC)?;

    let reduce = |kind| {
        Op::Reduce(Reduce {
            kind,
            axes: Some(vec![-1]),
            keepdims: true,
            noop_with_empty_axes: false,
        })
    };
    let row_min = e.row("RowMin", reduce(ReduceKind::Min), &[p.x], DType::F32);
    let row_max = e.row("RowMax", reduce(ReduceKind::Max), &[p.x], DType::F32);
    let lo = e.row(
        "LowWithZero",
        Op::Binary(BinaryOp::Min),
        &[row_min, zero],
        DType::F32,
    );
    let hi = e.row(
        "HighWithZero",
        Op::Binary(BinaryOp::Max),
        &[row_max, zero],
        DType::F32,
    );
    let range = e.row("Range", Op::Binary(BinaryOp::Sub), &[hi, lo], DType::F32);
    let scale = e.row("Scale", Op::Binary(BinaryOp::Div), &[range, levels], DType::F32);
    let is_zero = e.row(
        "ScaleIsZero",
        Op::Binary(BinaryOp::Equal),
        &[scale, zero],
        DType::Bool,
    );
    let divisor = e.row("Divisor", Op::Where, &[is_zero, one, scale], DType::F32);
    let neg_lo = e.row("NegLow", Op::Unary(UnaryOp::Neg), &[lo], DType::F32);
    let zp_ratio = e.row(
        "ZeroPointRatio",
        Op::Binary(BinaryOp::Div),
        &[neg_lo, divisor],
        DType::F32,
    );
    let zp_rounded = e.round_even("ZeroPoint", zp_ratio, magic, false);
    let zp = e.row("ZeroPointClip", Op::Clip, &[zp_rounded, zero, levels], DType::F32);

    let ratio = e.full(
        "InputRatio",
        Op::Binary(BinaryOp::Div),
        &[p.x, divisor],
        DType::F32,
        false,
    );
    let rounded = e.round_even("Input", ratio, magic, true);
    let shifted = e.full(
        "InputShift",
        Op::Binary(BinaryOp::Add),
        &[rounded, zp],
        DType::F32,
        false,
    );
    let clipped = e.full("InputClip", Op::Clip, &[shifted, zero, levels], DType::F32, false);
    let x_q = e.full("QuantizeInput", cast(DType::U8), &[clipped], DType::U8, false);

    let w_q = e.constant(
        "w_quantized",
        Tensor::new(vec![p.k, p.n], p.weights.values.clone())?,
    );
    let column_sums = column_sums(&p.weights.values, p.n);
    let column_sums = e.constant("w_column_sums", Tensor::new(vec![p.n], column_sums)?);
    let w_scale_shape: Vec<usize> = if p.weights.scales.len() == 1 {
        vec![]
    } else {
        vec![p.n]
    };
    let w_scale = e.constant("w_scale", Tensor::new(w_scale_shape, p.weights.scales)?);

    // The MatMulInteger keeps the product's name, as in the per-tensor form.
    let acc = e.value("accumulator", DType::I32, e.out_shape.clone());
    e.push(p.name.to_string(), Op::MatMulInteger, &[x_q, w_q], acc);
    let zp_i32 = e.row("ZeroPointI32", cast(DType::I32), &[zp], DType::I32);
    let mul = || Op::Binary(BinaryOp::Mul);
    let correction = e.out_node("Correction", mul(), &[zp_i32, column_sums], DType::I32);
    let centered = e.out_node(
        "Center",
        Op::Binary(BinaryOp::Sub),
        &[acc, correction],
        DType::I32,
    );
    let acc_f32 = e.out_node("Cast", cast(DType::F32), &[centered], DType::F32);
    let out_scale = e.out_node("ScaleProduct", mul(), &[scale, w_scale], DType::F32);
    let rescale = format!("{}/Rescale", p.name);
    match p.bias {
        None => e.push(rescale, mul(), &[acc_f32, out_scale], p.out),
        Some(bias) => {
            let product = e.out_node("Rescale", mul(), &[acc_f32, out_scale], DType::F32);
            let bias = e.constant("bias", bias);
            let add = Op::Binary(BinaryOp::Add);
            e.push(format!("{}/Bias", p.name), add, &[product, bias], p.out);
        }
    }
    Ok(())
}

fn cast(to: DType) -> Op {
    Op::Cast(Cast { to })
}

/// `Σ_k w[k][j]` of the row-major K×N matrix, per column j.
fn column_sums(values: &[i8], n: usize) -> Vec<i32> {
    let mut sums = vec![0i32; n];
    for row in values.chunks_exact(n.max(1)) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += i32::from(v);
        }
    }
    sums
}

/// Adds values and nodes named after the product.
struct Emitter<'a> {
    graph: &'a mut Graph,
    nodes: &'a mut Vec<Node>,
    name: &'a str,
    /// The input's shape with the last dim 1, when known.
    row_shape: Option<Vec<Dim>>,
    /// The product's output shape, when known.
    out_shape: Option<Vec<Dim>>,
}

impl Emitter<'_> {
    fn scalar(&mut self, what: &str, value: f32) -> Result<ValueId, DynamicError> {
        Ok(self.constant(what, Tensor::new(vec![], vec![value])?))
    }

    fn constant(&mut self, what: &str, tensor: Tensor) -> ValueId {
        add_const(self.graph, &format!("{}/{what}", self.name), tensor)
    }

    fn push(&mut self, name: String, op: Op, inputs: &[ValueId], out: ValueId) {
        self.nodes.push(add_node(name, op, inputs.to_vec(), vec![out]));
    }

    fn value(&mut self, what: &str, dtype: DType, shape: Option<Vec<Dim>>) -> ValueId {
        let fact = Fact {
            dtype: Some(dtype),
            shape,
        };
        self.graph
            .add_value_unique(&format!("{}/{what}", self.name), fact)
    }

    /// A node whose output has one value per row of the input.
    fn row(&mut self, what: &str, op: Op, inputs: &[ValueId], dtype: DType) -> ValueId {
        let out = self.value(&format!("{what}_out"), dtype, self.row_shape.clone());
        self.push(format!("{}/{what}", self.name), op, inputs, out);
        out
    }

    /// A node whose output has the input's shape (`is_row` false) or one value per row.
    fn full(&mut self, what: &str, op: Op, inputs: &[ValueId], dtype: DType, is_row: bool) -> ValueId {
        if is_row {
            return self.row(what, op, inputs, dtype);
        }
        let shape = self.graph.value(inputs[0]).fact.shape.clone();
        let out = self.value(&format!("{what}_out"), dtype, shape);
        self.push(format!("{}/{what}", self.name), op, inputs, out);
        out
    }

    /// A node whose output has the product's output shape.
    fn out_node(&mut self, what: &str, op: Op, inputs: &[ValueId], dtype: DType) -> ValueId {
        let out = self.value(&format!("{what}_out"), dtype, self.out_shape.clone());
        self.push(format!("{}/{what}", self.name), op, inputs, out);
        out
    }

    /// `(v + magic) − magic`; `full` says whether `v` has the input's shape.
    fn round_even(&mut self, what: &str, v: ValueId, magic: ValueId, full: bool) -> ValueId {
        let add = Op::Binary(BinaryOp::Add);
        let sub = Op::Binary(BinaryOp::Sub);
        let shifted = self.full(&format!("{what}RoundShift"), add, &[v, magic], DType::F32, !full);
        self.full(&format!("{what}Round"), sub, &[shifted, magic], DType::F32, !full)
    }
}
