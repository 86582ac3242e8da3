//! Fake quantization (quantize then dequantize) with a straight-through gradient.
//!
//! Forward: `y = (clamp(round_half_even(x / s) + zp, qmin, qmax) − zp) · s`, per tensor or
//! per channel along one axis. Backward (straight-through estimator): `dx = dy` where `x`
//! lies in the representable range `[(qmin − zp)·s, (qmax − zp)·s]` and `0` outside it,
//! so clamped values stop pulling. The graph IR has no FakeQuantize op yet: the executor
//! attaches a [`FakeQuantize`] to a value instead (`TrainingExecutor::set_fake_quant`).

use lowbit_tensor::Tensor;

use crate::error::{AutogradError, Result};

/// Quantization parameters of one fake-quantize site.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeQuantize {
    /// One scale (per tensor) or one per channel of `axis`.
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    /// `None` per tensor, else the channel axis.
    pub axis: Option<usize>,
    pub qmin: i32,
    pub qmax: i32,
}

/// The fake-quantized values and the pass-through mask the gradient needs.
#[derive(Debug, Clone)]
pub struct FakeQuantOutput {
    pub output: Tensor,
    /// Where `x` was inside the representable range.
    pub pass: Vec<bool>,
}

impl FakeQuantize {
    pub fn per_tensor(scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> Result<Self> {
        Self::checked(vec![scale], vec![zero_point], None, qmin, qmax)
    }

    pub fn per_channel(
        scale: Vec<f32>,
        zero_point: Vec<i32>,
        axis: usize,
        qmin: i32,
        qmax: i32,
    ) -> Result<Self> {
        Self::checked(scale, zero_point, Some(axis), qmin, qmax)
    }

    fn checked(
        scale: Vec<f32>,
        zero_point: Vec<i32>,
        axis: Option<usize>,
        qmin: i32,
        qmax: i32,
    ) -> Result<Self> {
        let invalid = |why: String| Err(AutogradError::Invalid(format!("fake-quantize: {why}")));
        if scale.is_empty() || scale.len() != zero_point.len() {
            return invalid(format!(
                "{} scales and {} zero points",
                scale.len(),
                zero_point.len()
            ));
        }
        if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return invalid(format!("scale {s} is not positive and finite"));
        }
        if qmin >= qmax || zero_point.iter().any(|zp| !(qmin..=qmax).contains(zp)) {
            return invalid(format!("range [{qmin}, {qmax}] or zero points {zero_point:?}"));
        }
        Ok(FakeQuantize {
            scale,
            zero_point,
            axis,
            qmin,
            qmax,
        })
    }

    /// The channel of each element of a tensor of `shape`.
    fn channels(&self, shape: &[usize]) -> Result<impl Fn(usize) -> usize> {
        let (inner, count) = match self.axis {
            None => (1, 1),
            Some(axis) if axis < shape.len() => (shape[axis + 1..].iter().product::<usize>(), shape[axis]),
            Some(axis) => {
                return Err(AutogradError::Invalid(format!(
                    "fake-quantize axis {axis} is out of range for shape {shape:?}"
                )))
            }
        };
        if count != self.scale.len() {
            return Err(AutogradError::Invalid(format!(
                "fake-quantize has {} scales for {count} channels of {shape:?}",
                self.scale.len()
            )));
        }
        Ok(move |i: usize| (i / inner.max(1)) % count)
    }

    pub fn forward(&self, x: &Tensor) -> Result<FakeQuantOutput> {
        let channel = self.channels(x.shape())?;
        let xs = x.as_slice::<f32>()?;
        let (qmin, qmax) = (self.qmin as f32, self.qmax as f32);
        let mut pass = Vec::with_capacity(xs.len());
        let y = xs
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = channel(i);
                let (s, zp) = (self.scale[c], self.zero_point[c] as f32);
                pass.push(v >= (qmin - zp) * s && v <= (qmax - zp) * s);
                let q = ((v / s).round_ties_even() + zp).clamp(qmin, qmax);
                (q - zp) * s
            })
            .collect();
        Ok(FakeQuantOutput {
            output: Tensor::new(x.shape().to_vec(), y)?,
            pass,
        })
    }
}

/// The straight-through gradient: `dy` where the forward passed, 0 where it clamped.
pub fn fake_quant_backward(pass: &[bool], dy: &Tensor) -> Result<Tensor> {
    let d = dy.as_slice::<f32>()?;
    if d.len() != pass.len() {
        return Err(AutogradError::Invalid(format!(
            "fake-quantize gradient has {} values for {} inputs",
            d.len(),
            pass.len()
        )));
    }
    let dx = d
        .iter()
        .zip(pass)
        .map(|(&g, &p)| if p { g } else { 0.0 })
        .collect();
    Ok(Tensor::new(dy.shape().to_vec(), dx)?)
}

/// The tape record of a fake-quantize site inside the executor.
pub(crate) struct StraightThrough {
    pub(crate) shape: Vec<usize>,
    pub(crate) pass: Vec<bool>,
}

impl super::Backward for StraightThrough {
    fn backward(&self, dy: Vec<f32>, _needed: &[bool]) -> crate::error::RuleResult<Vec<Option<Tensor>>> {
        let mut dx = dy;
        dx.iter_mut()
            .zip(&self.pass)
            .for_each(|(g, &p)| *g = if p { *g } else { 0.0 });
        Ok(vec![super::grad(&self.shape, dx)?])
    }
}
