//! Shape and data-movement ops, and Constant (which becomes an initializer).

use lowbit_graph::ops::{Cast, ConstantOfShape, Slice, Split};
use lowbit_graph::Op;
use lowbit_tensor::Tensor;

use super::Registry;
use crate::import::context::{Lowered, NodeCtx};
use crate::pb::tensor_proto::DataType;
use crate::tensor_proto::{dtype_from_onnx, onnx_dtype_name};
use crate::Result;

pub(super) fn register_all_ops(registry: &mut Registry) {
    registry.register("Reshape", reshape);
    registry.register("Flatten", flatten);
    registry.register("Transpose", transpose);
    registry.register("Squeeze", squeeze);
    registry.register("Unsqueeze", unsqueeze);
    registry.register("Concat", concat);
    registry.register("Split", split);
    registry.register("Slice", slice);
    registry.register("Gather", gather);
    registry.register("Shape", shape);
    registry.register("Cast", cast);
    registry.register("Expand", |_| Ok(Lowered::Op(Op::Expand)));
    registry.register("ConstantOfShape", constant_of_shape);
    registry.register("Range", |_| Ok(Lowered::Op(Op::Range)));
    registry.register("Identity", |_| Ok(Lowered::Op(Op::Identity)));
    registry.register("Constant", constant);
}

fn i64_vector(ctx: &NodeCtx, values: Vec<i64>) -> Result<Tensor> {
    Tensor::new(vec![values.len()], values).map_err(|e| ctx.error(e.to_string()))
}

/// The target shape was an attribute before opset 5.
fn reshape(ctx: &mut NodeCtx) -> Result<Lowered> {
    if ctx.opset < 5 {
        let shape = ctx
            .ints("shape")?
            .ok_or_else(|| ctx.bad_attr("shape", "is required before opset 5"))?;
        let shape = i64_vector(ctx, shape)?;
        ctx.set_const_input(1, "shape", shape);
    }
    Ok(Lowered::Op(Op::Reshape {
        allowzero: ctx.flag("allowzero", false)?,
    }))
}

fn flatten(ctx: &mut NodeCtx) -> Result<Lowered> {
    Ok(Lowered::Op(Op::Flatten {
        axis: ctx.int_or("axis", 1)?,
    }))
}

fn transpose(ctx: &mut NodeCtx) -> Result<Lowered> {
    let perm = match ctx.ints("perm")? {
        None => None,
        Some(perm) => Some(
            perm.iter()
                .map(|&p| usize::try_from(p).map_err(|_| ctx.bad_attr("perm", format!("negative axis {p}"))))
                .collect::<Result<Vec<usize>>>()?,
        ),
    };
    Ok(Lowered::Op(Op::Transpose { perm }))
}

/// Squeeze and Unsqueeze took `axes` as an attribute before opset 13, an input since.
fn squeeze(ctx: &mut NodeCtx) -> Result<Lowered> {
    let axes = if ctx.opset < 13 { ctx.ints("axes")? } else { None };
    Ok(Lowered::Op(Op::Squeeze { axes }))
}

fn unsqueeze(ctx: &mut NodeCtx) -> Result<Lowered> {
    let axes = if ctx.opset < 13 {
        Some(
            ctx.ints("axes")?
                .ok_or_else(|| ctx.bad_attr("axes", "is required before opset 13"))?,
        )
    } else {
        None
    };
    Ok(Lowered::Op(Op::Unsqueeze { axes }))
}

/// `axis` is required since opset 4 and defaulted to 1 before.
fn concat(ctx: &mut NodeCtx) -> Result<Lowered> {
    let axis = match ctx.int("axis")? {
        Some(axis) => axis,
        None if ctx.opset < 4 => 1,
        None => return Err(ctx.bad_attr("axis", "is required")),
    };
    Ok(Lowered::Op(Op::Concat { axis }))
}

/// The split sizes were an attribute before opset 13 and are an input since; opset 18
/// added `num_outputs` for uneven equal-ish splits.
fn split(ctx: &mut NodeCtx) -> Result<Lowered> {
    let split = if ctx.opset < 13 { ctx.ints("split")? } else { None };
    let num_outputs = match ctx.int("num_outputs")? {
        None => None,
        Some(n) => Some(usize::try_from(n).map_err(|_| ctx.bad_attr("num_outputs", "must be >= 0"))?),
    };
    Ok(Lowered::Op(Op::Split(Split {
        axis: ctx.int_or("axis", 0)?,
        split,
        num_outputs,
    })))
}

/// Opset 1 Slice had `starts`, `ends` and `axes` attributes; they become the constant
/// inputs of the opset-10 form.
fn slice(ctx: &mut NodeCtx) -> Result<Lowered> {
    if ctx.opset < 10 {
        ctx.truncate_inputs(1);
        for (index, name) in [(1, "starts"), (2, "ends"), (3, "axes")] {
            match ctx.ints(name)? {
                Some(values) => {
                    let values = i64_vector(ctx, values)?;
                    ctx.set_const_input(index, name, values);
                }
                None if name != "axes" => return Err(ctx.bad_attr(name, "is required before opset 10")),
                None => {}
            }
        }
    }
    Ok(Lowered::Op(Op::Slice(Slice)))
}

fn gather(ctx: &mut NodeCtx) -> Result<Lowered> {
    Ok(Lowered::Op(Op::Gather {
        axis: ctx.int_or("axis", 0)?,
    }))
}

fn shape(ctx: &mut NodeCtx) -> Result<Lowered> {
    Ok(Lowered::Op(Op::Shape {
        start: ctx.int_or("start", 0)?,
        end: ctx.int("end")?,
    }))
}

/// `to` is a data type code; before opset 6 it was the type's name as a string.
fn cast(ctx: &mut NodeCtx) -> Result<Lowered> {
    let code = if ctx.opset < 6 {
        let name = ctx
            .string("to")?
            .ok_or_else(|| ctx.bad_attr("to", "is required"))?;
        DataType::from_str_name(&name).ok_or_else(|| ctx.bad_attr("to", format!("unknown type '{name}'")))?
            as i32
    } else {
        ctx.int("to")?.ok_or_else(|| ctx.bad_attr("to", "is required"))? as i32
    };
    let to =
        dtype_from_onnx(code).ok_or_else(|| ctx.unsupported(format!("cast to {}", onnx_dtype_name(code))))?;
    Ok(Lowered::Op(Op::Cast(Cast { to })))
}

fn constant_of_shape(ctx: &mut NodeCtx) -> Result<Lowered> {
    let value = match ctx.tensor("value")? {
        None => Tensor::new(vec![1], vec![0f32]).map_err(|e| ctx.error(e.to_string()))?,
        Some(t) if t.len() == 1 => t,
        Some(t) => return Err(ctx.bad_attr("value", format!("must hold one element, holds {}", t.len()))),
    };
    Ok(Lowered::Op(Op::ConstantOfShape(ConstantOfShape { value })))
}

/// A Constant node defines its output as an initializer; no node remains.
fn constant(ctx: &mut NodeCtx) -> Result<Lowered> {
    let value = if let Some(t) = ctx.tensor("value")? {
        t
    } else if let Some(v) = ctx.float("value_float")? {
        Tensor::scalar(v)
    } else if let Some(v) = ctx.int("value_int")? {
        Tensor::scalar(v)
    } else if let Some(v) = ctx.floats("value_floats")? {
        Tensor::new(vec![v.len()], v).map_err(|e| ctx.error(e.to_string()))?
    } else if let Some(v) = ctx.ints("value_ints")? {
        i64_vector(ctx, v)?
    } else if ["value_string", "value_strings", "sparse_value"]
        .iter()
        .any(|a| ctx.has_attr(a))
    {
        return Err(ctx.unsupported("string and sparse constants"));
    } else {
        return Err(ctx.bad_attr("value", "no value attribute is given"));
    };
    let &output = ctx.outputs.first().ok_or_else(|| ctx.error("has no output"))?;
    ctx.bind_const(output, value);
    Ok(Lowered::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowbit_tensor::DType;

    #[test]
    fn data_type_names_map_to_dtypes() {
        let code = DataType::from_str_name("FLOAT").unwrap() as i32;
        assert_eq!(dtype_from_onnx(code), Some(DType::F32));
        let code = DataType::from_str_name("INT64").unwrap() as i32;
        assert_eq!(dtype_from_onnx(code), Some(DType::I64));
    }
}
