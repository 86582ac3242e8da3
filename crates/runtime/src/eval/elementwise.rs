//! Unary and binary elementwise ops, Clip and Where, with numpy broadcasting.

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_tensor::{numel, DType, Data, Element, Tensor};
use rayon::prelude::*;

use super::broadcast::{broadcast_shapes, zip_into, Broadcast};
use super::{ensure, vmath, Cx, EvalError, EvalResult, Inputs};

pub(crate) fn unary(op: UnaryOp, inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    let data = match (x.data(), op) {
        (Data::F32(v), _) => {
            let mut out = cx.buffers.take_f32(v.len());
            unary_f32(op, v, &mut out)?;
            Data::F32(out)
        }
        (Data::Bool(v), UnaryOp::Not) => Data::Bool(v.iter().map(|b| !b).collect()),
        (Data::I64(v), _) => Data::I64(unary_int(op, v)?),
        (Data::I32(v), _) => Data::I32(unary_int(op, v)?),
        (Data::I8(v), _) => Data::I8(unary_int(op, v)?),
        _ => return Err(unsupported(op.name(), x.dtype())),
    };
    Ok(Tensor::from_data(x.shape(), data)?)
}

fn unsupported(op: &str, dtype: DType) -> EvalError {
    EvalError(format!("{op} does not support {dtype} inputs"))
}

/// `out[i] = op(v[i])`; each arm is its own monomorphic loop so it can vectorise.
fn unary_f32(op: UnaryOp, v: &[f32], out: &mut [f32]) -> EvalResult<()> {
    // Large tensors (GELU's Erf over a transformer's hidden states) go in parallel chunks.
    const CHUNK: usize = 1 << 14;
    fn apply_slices(v: &[f32], out: &mut [f32], f: impl Fn(&[f32], &mut [f32]) + Sync) {
        if v.len() <= CHUNK {
            f(v, out);
        } else {
            out.par_chunks_mut(CHUNK)
                .zip(v.par_chunks(CHUNK))
                .for_each(|(o, i)| f(i, o));
        }
    }
    fn apply(v: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
        apply_slices(v, out, |i, o| o.iter_mut().zip(i).for_each(|(y, &x)| *y = f(x)));
    }
    match op {
        UnaryOp::Relu => apply(v, out, |x| x.max(0.0)),
        UnaryOp::Sigmoid => apply(v, out, |x| 1.0 / (1.0 + (-x).exp())),
        UnaryOp::Tanh => apply(v, out, f32::tanh),
        // musl's erf, within 1 ulp: GELU in transformers needs it accurate.
        // Vectorised polynomial, within 3e-7 of erf: GELU in transformers needs it accurate.
        UnaryOp::Erf => apply_slices(v, out, vmath::erf),
        UnaryOp::Sqrt => apply(v, out, f32::sqrt),
        UnaryOp::Exp => apply_slices(v, out, vmath::exp),
        UnaryOp::Log => apply(v, out, f32::ln),
        UnaryOp::Neg => apply(v, out, |x| -x),
        UnaryOp::Abs => apply(v, out, f32::abs),
        UnaryOp::Reciprocal => apply(v, out, |x| 1.0 / x),
        UnaryOp::Floor => apply(v, out, f32::floor),
        UnaryOp::Ceil => apply(v, out, f32::ceil),
        UnaryOp::HardSwish => apply(v, out, |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0)),
        UnaryOp::Elu { alpha } => apply(v, out, |x| if x > 0.0 { x } else { alpha * x.exp_m1() }),
        UnaryOp::LeakyRelu { alpha } => apply(v, out, |x| if x >= 0.0 { x } else { alpha * x }),
        UnaryOp::HardSigmoid { alpha, beta } => apply(v, out, |x| (alpha * x + beta).clamp(0.0, 1.0)),
        UnaryOp::Not => return Err(unsupported(op.name(), DType::F32)),
    }
    Ok(())
}

/// Neg, Abs and Relu on signed integers (wrapping, as ONNX Runtime does for MIN).
fn unary_int<T: SignedInt>(op: UnaryOp, v: &[T]) -> EvalResult<Vec<T>> {
    let f: fn(T) -> T = match op {
        UnaryOp::Neg => T::wrapping_neg,
        UnaryOp::Abs => T::wrapping_abs,
        UnaryOp::Relu => |x| if x > T::default() { x } else { T::default() },
        _ => return Err(unsupported(op.name(), T::DTYPE)),
    };
    Ok(v.iter().map(|&x| f(x)).collect())
}

trait SignedInt: Element + PartialOrd {
    fn wrapping_neg(self) -> Self;
    fn wrapping_abs(self) -> Self;
}

macro_rules! signed_int {
    ($($t:ty),*) => {$(
        impl SignedInt for $t {
            fn wrapping_neg(self) -> Self { <$t>::wrapping_neg(self) }
            fn wrapping_abs(self) -> Self { <$t>::wrapping_abs(self) }
        }
    )*};
}
signed_int!(i8, i32, i64);

pub(crate) fn binary(op: BinaryOp, inputs: &Inputs, cx: &mut Cx) -> EvalResult<Tensor> {
    let (a, b) = (inputs.get(0)?, inputs.get(1)?);
    let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
    if op == BinaryOp::Pow {
        return pow(a, b, shape, cx);
    }
    ensure(a.dtype() == b.dtype(), || {
        format!("operands have different types: {} and {}", a.dtype(), b.dtype())
    })?;
    let mismatch = || unsupported(op.name(), a.dtype());
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let f: fn(bool, bool) -> bool = if op == BinaryOp::And {
                |x, y| x && y
            } else {
                |x, y| x || y
            };
            zip::<bool, bool, bool>(shape, a, b, f)
        }
        BinaryOp::Equal | BinaryOp::Less | BinaryOp::Greater => match a.dtype() {
            DType::F32 => compare::<f32>(op, shape, a, b),
            DType::I64 => compare::<i64>(op, shape, a, b),
            DType::I32 => compare::<i32>(op, shape, a, b),
            DType::I8 => compare::<i8>(op, shape, a, b),
            DType::U8 => compare::<u8>(op, shape, a, b),
            DType::Bool => compare::<bool>(op, shape, a, b),
        },
        _ => match a.dtype() {
            DType::F32 => {
                let mut out = cx.buffers.take_f32(numel(&shape));
                arith_f32(op, &shape, a, b, &mut out)?;
                Ok(Tensor::new(shape, out)?)
            }
            DType::I64 => arith_int::<i64>(op, shape, a, b),
            DType::I32 => arith_int::<i32>(op, shape, a, b),
            DType::I8 => arith_int::<i8>(op, shape, a, b),
            DType::U8 => arith_int::<u8>(op, shape, a, b),
            DType::Bool => Err(mismatch()),
        },
    }
}

/// Broadcasts `f` over two typed tensors into a new tensor of `shape`.
fn zip<A: Element, B: Element, O: Element>(
    shape: Vec<usize>,
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(A, B) -> O,
) -> EvalResult<Tensor> {
    let mut out = vec![O::default(); numel(&shape)];
    zip_into(
        &shape,
        (a.as_slice()?, a.shape()),
        (b.as_slice()?, b.shape()),
        &mut out,
        f,
    );
    Ok(Tensor::new(shape, out)?)
}

/// Float arithmetic into `out`.
fn arith_f32(op: BinaryOp, shape: &[usize], a: &Tensor, b: &Tensor, out: &mut [f32]) -> EvalResult<()> {
    let (a, b) = (
        (a.as_slice::<f32>()?, a.shape()),
        (b.as_slice::<f32>()?, b.shape()),
    );
    arith_f32_slices(op, shape, a, b, out)
}

vmath::dispatch! {
    /// Each arm is a separate monomorphic loop, compiled per x86 tier, so the compiler
    /// inlines and vectorises the operation at the CPU's width.
    fn arith_f32_slices(
        op: BinaryOp,
        shape: &[usize],
        a: (&[f32], &[usize]),
        b: (&[f32], &[usize]),
        out: &mut [f32]
    ) -> EvalResult<()> = arith_f32_generic;
}

#[inline(always)]
fn arith_f32_generic(
    op: BinaryOp,
    shape: &[usize],
    a: (&[f32], &[usize]),
    b: (&[f32], &[usize]),
    out: &mut [f32],
) -> EvalResult<()> {
    match op {
        BinaryOp::Add => zip_into(shape, a, b, out, |x, y| x + y),
        BinaryOp::Sub => zip_into(shape, a, b, out, |x, y| x - y),
        BinaryOp::Mul => zip_into(shape, a, b, out, |x, y| x * y),
        BinaryOp::Div => zip_into(shape, a, b, out, |x, y| x / y),
        BinaryOp::Max => zip_into(shape, a, b, out, f32::max),
        BinaryOp::Min => zip_into(shape, a, b, out, f32::min),
        _ => return Err(unsupported(op.name(), DType::F32)),
    }
    Ok(())
}

fn compare<T: Element + PartialOrd>(
    op: BinaryOp,
    shape: Vec<usize>,
    a: &Tensor,
    b: &Tensor,
) -> EvalResult<Tensor> {
    match op {
        BinaryOp::Equal => zip::<T, T, bool>(shape, a, b, |x, y| x == y),
        BinaryOp::Less => zip::<T, T, bool>(shape, a, b, |x, y| x < y),
        _ => zip::<T, T, bool>(shape, a, b, |x, y| x > y),
    }
}

/// Integer arithmetic wraps on overflow; division truncates and rejects a zero divisor.
fn arith_int<T: Int>(op: BinaryOp, shape: Vec<usize>, a: &Tensor, b: &Tensor) -> EvalResult<Tensor> {
    let f: fn(T, T) -> T = match op {
        BinaryOp::Add => T::wrapping_add,
        BinaryOp::Sub => T::wrapping_sub,
        BinaryOp::Mul => T::wrapping_mul,
        BinaryOp::Div => {
            ensure(!b.as_slice::<T>()?.contains(&T::default()), || {
                "integer division by zero".to_string()
            })?;
            T::wrapping_div
        }
        BinaryOp::Max => |x, y| if x >= y { x } else { y },
        BinaryOp::Min => |x, y| if x <= y { x } else { y },
        _ => return Err(unsupported(op.name(), T::DTYPE)),
    };
    zip::<T, T, T>(shape, a, b, f)
}

trait Int: Element + PartialOrd {
    fn wrapping_add(self, other: Self) -> Self;
    fn wrapping_sub(self, other: Self) -> Self;
    fn wrapping_mul(self, other: Self) -> Self;
    fn wrapping_div(self, other: Self) -> Self;
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            fn wrapping_add(self, o: Self) -> Self { <$t>::wrapping_add(self, o) }
            fn wrapping_sub(self, o: Self) -> Self { <$t>::wrapping_sub(self, o) }
            fn wrapping_mul(self, o: Self) -> Self { <$t>::wrapping_mul(self, o) }
            fn wrapping_div(self, o: Self) -> Self { <$t>::wrapping_div(self, o) }
        }
    )*};
}
int!(i8, u8, i32, i64);

/// Pow: an f32 base with an f32 or integer exponent, or an integer base and exponent.
fn pow(a: &Tensor, b: &Tensor, shape: Vec<usize>, cx: &mut Cx) -> EvalResult<Tensor> {
    match a.dtype() {
        DType::F32 => {
            let exponent = if b.dtype() == DType::F32 {
                None
            } else {
                Some(b.to_f32_vec())
            };
            let e = exponent.as_deref().map_or_else(|| b.as_slice::<f32>(), Ok)?;
            let mut out = cx.buffers.take_f32(numel(&shape));
            zip_into(&shape, (a.as_slice()?, a.shape()), (e, b.shape()), &mut out, powf);
            Ok(Tensor::new(shape, out)?)
        }
        DType::I64 | DType::I32 if b.dtype().is_integer() => {
            let (base, e) = (a.to_i64_vec(), b.to_i64_vec());
            let mut out = vec![0i64; numel(&shape)];
            zip_into(&shape, (&base, a.shape()), (&e, b.shape()), &mut out, |x, y| {
                x.wrapping_pow(y.clamp(0, u32::MAX as i64) as u32)
            });
            Ok(Tensor::new(shape, out)?.cast(a.dtype()))
        }
        // The output has the base's type: a float power truncates back to the integer.
        DType::I64 | DType::I32 if b.dtype() == DType::F32 => {
            let base: Vec<f64> = a.to_i64_vec().into_iter().map(|x| x as f64).collect();
            let e: Vec<f64> = b.as_slice::<f32>()?.iter().map(|&y| y as f64).collect();
            let mut out = vec![0f64; numel(&shape)];
            zip_into(&shape, (&base, a.shape()), (&e, b.shape()), &mut out, f64::powf);
            let out: Vec<i64> = out.into_iter().map(|v| v as i64).collect();
            Ok(Tensor::new(shape, out)?.cast(a.dtype()))
        }
        other => Err(unsupported("Pow", other)),
    }
}

/// `x^y`, exact for the squares that variance computations use.
fn powf(x: f32, y: f32) -> f32 {
    if y == 2.0 {
        x * x
    } else {
        x.powf(y)
    }
}

/// Clip(x, min?, max?) = min(max(x, min), max); a missing bound is unbounded.
pub(crate) fn clip(inputs: &Inputs) -> EvalResult<Tensor> {
    let x = inputs.get(0)?;
    for i in 1..3 {
        if let Some(bound) = inputs.opt(i) {
            ensure(bound.dtype() == x.dtype() && bound.len() == 1, || {
                format!(
                    "bound {i} must be one {} value, got {} {:?}",
                    x.dtype(),
                    bound.dtype(),
                    bound.shape()
                )
            })?;
        }
    }
    let data = match x.data() {
        Data::F32(v) => Data::F32(clip_typed(v, inputs, f32::NEG_INFINITY, f32::INFINITY)?),
        Data::I64(v) => Data::I64(clip_typed(v, inputs, i64::MIN, i64::MAX)?),
        Data::I32(v) => Data::I32(clip_typed(v, inputs, i32::MIN, i32::MAX)?),
        Data::I8(v) => Data::I8(clip_typed(v, inputs, i8::MIN, i8::MAX)?),
        Data::U8(v) => Data::U8(clip_typed(v, inputs, u8::MIN, u8::MAX)?),
        Data::Bool(_) => return Err(unsupported("Clip", DType::Bool)),
    };
    Ok(Tensor::from_data(x.shape(), data)?)
}

fn clip_typed<T: Element + PartialOrd>(
    v: &[T],
    inputs: &Inputs,
    lowest: T,
    highest: T,
) -> EvalResult<Vec<T>> {
    let lo = inputs
        .opt(1)
        .map_or(Ok(lowest), |t| t.as_slice::<T>().map(|s| s[0]))?;
    let hi = inputs
        .opt(2)
        .map_or(Ok(highest), |t| t.as_slice::<T>().map(|s| s[0]))?;
    Ok(v.iter()
        .map(|&x| {
            let x = if x < lo { lo } else { x };
            if x > hi {
                hi
            } else {
                x
            }
        })
        .collect())
}

/// Where(cond, x, y) with three-way broadcasting.
pub(crate) fn where_(inputs: &Inputs) -> EvalResult<Tensor> {
    let (cond, x, y) = (inputs.get(0)?, inputs.get(1)?, inputs.get(2)?);
    let c = inputs.slice::<bool>(0)?;
    ensure(x.dtype() == y.dtype(), || {
        format!("x and y have different types: {} and {}", x.dtype(), y.dtype())
    })?;
    let shape = broadcast_shapes(&[cond.shape(), x.shape(), y.shape()])?;
    let plan = Broadcast::new(&shape, [cond.shape(), x.shape(), y.shape()]);
    let n = plan.inner();
    let [sc, sx, sy] = plan.inner_strides();
    let data = map_data!(x.data(), xv => {
        let yv = y.as_slice()?;
        let mut out = Vec::with_capacity(numel(&shape));
        plan.for_each_row(|_, [ic, ix, iy]| {
            out.extend((0..n).map(|i| if c[ic + i * sc] { xv[ix + i * sx] } else { yv[iy + i * sy] }));
        });
        out
    });
    Ok(Tensor::from_data(shape, data)?)
}
