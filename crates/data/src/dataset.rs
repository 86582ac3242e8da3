//! The dataset abstraction every evaluation and calibration loop consumes.

use lowbit_tensor::{Data, Tensor};

use crate::error::{DataError, Result};

/// One labelled (or unlabelled) example.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// One item, without the batch dimension.
    pub input: Tensor,
    /// Class index, when the dataset knows it.
    pub label: Option<i64>,
}

/// Random access to samples of one shape. `Sync` so callers can decode in parallel.
pub trait Dataset: Sync {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample at `index`; errors name the file it comes from.
    fn get(&self, index: usize) -> Result<Sample>;

    /// Shape of every sample's input, without the batch dimension.
    fn sample_shape(&self) -> Vec<usize>;
}

/// Stacks samples of one shape and dtype into a `[B, ...]` tensor plus their labels.
pub fn batch(samples: &[Sample]) -> Result<(Tensor, Vec<Option<i64>>)> {
    let first = samples
        .first()
        .ok_or_else(|| DataError::Batch("no samples to batch".to_string()))?;
    if let Some((i, odd)) = samples
        .iter()
        .enumerate()
        .find(|(_, s)| s.input.shape() != first.input.shape() || s.input.dtype() != first.input.dtype())
    {
        return Err(DataError::Batch(format!(
            "sample {i} is {} {:?} but sample 0 is {} {:?}",
            odd.input.dtype(),
            odd.input.shape(),
            first.input.dtype(),
            first.input.shape()
        )));
    }
    let parts: Vec<&Data> = samples.iter().map(|s| s.input.data()).collect();
    let mut shape = vec![samples.len()];
    shape.extend_from_slice(first.input.shape());
    let stacked = Tensor::from_data(shape, concat(&parts))?;
    Ok((stacked, samples.iter().map(|s| s.label).collect()))
}

/// Item `index` of the leading axis of `tensor`, as a tensor of the remaining axes.
pub(crate) fn item(tensor: &Tensor, index: usize) -> Result<Tensor> {
    let (&len, item_shape) = tensor
        .shape()
        .split_first()
        .ok_or_else(|| DataError::Batch("a scalar has no items".to_string()))?;
    if index >= len {
        return Err(DataError::OutOfRange { index, len });
    }
    let size = lowbit_tensor::numel(item_shape);
    let range = index * size..(index + 1) * size;
    let data = match tensor.data() {
        Data::F32(v) => Data::F32(v[range].to_vec()),
        Data::I8(v) => Data::I8(v[range].to_vec()),
        Data::U8(v) => Data::U8(v[range].to_vec()),
        Data::I32(v) => Data::I32(v[range].to_vec()),
        Data::I64(v) => Data::I64(v[range].to_vec()),
        Data::Bool(v) => Data::Bool(v[range].to_vec()),
    };
    Ok(Tensor::from_data(item_shape.to_vec(), data)?)
}

/// Concatenates buffers of one dtype (checked by the caller).
fn concat(parts: &[&Data]) -> Data {
    macro_rules! join {
        ($variant:ident) => {
            Data::$variant(
                parts
                    .iter()
                    .flat_map(|d| match d {
                        Data::$variant(v) => v.as_slice(),
                        _ => unreachable!("batch checked that every sample has the same dtype"),
                    })
                    .copied()
                    .collect(),
            )
        };
    }
    match parts[0] {
        Data::F32(_) => join!(F32),
        Data::I8(_) => join!(I8),
        Data::U8(_) => join!(U8),
        Data::I32(_) => join!(I32),
        Data::I64(_) => join!(I64),
        Data::Bool(_) => join!(Bool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(values: Vec<f32>, label: Option<i64>) -> Sample {
        Sample {
            input: Tensor::new(vec![1, values.len()], values).unwrap(),
            label,
        }
    }

    #[test]
    fn batch_stacks_inputs_and_labels() {
        let (t, labels) = batch(&[sample(vec![1.0, 2.0], Some(3)), sample(vec![4.0, 5.0], None)]).unwrap();
        assert_eq!(t.shape(), &[2, 1, 2]);
        assert_eq!(t.as_slice::<f32>().unwrap(), &[1.0, 2.0, 4.0, 5.0]);
        assert_eq!(labels, vec![Some(3), None]);
        let ints = Sample {
            input: Tensor::new(vec![2], vec![7i64, 8]).unwrap(),
            label: None,
        };
        let (t, _) = batch(&[ints.clone(), ints]).unwrap();
        assert_eq!(t.as_slice::<i64>().unwrap(), &[7, 8, 7, 8]);
    }

    #[test]
    fn batch_rejects_mixed_shapes_dtypes_and_empty_input() {
        let err = batch(&[sample(vec![1.0], None), sample(vec![1.0, 2.0], None)]).unwrap_err();
        assert!(err.to_string().contains("sample 1 is f32 [1, 2]"), "{err}");
        let int = Sample {
            input: Tensor::new(vec![1, 1], vec![1i32]).unwrap(),
            label: None,
        };
        assert!(batch(&[sample(vec![1.0], None), int]).is_err());
        assert!(batch(&[]).is_err());
    }

    #[test]
    fn item_slices_the_leading_axis() {
        let t = Tensor::new(vec![3, 2], vec![0u8, 1, 2, 3, 4, 5]).unwrap();
        let second = item(&t, 1).unwrap();
        assert_eq!(second.shape(), &[2]);
        assert_eq!(second.as_slice::<u8>().unwrap(), &[2, 3]);
        assert!(matches!(
            item(&t, 3),
            Err(DataError::OutOfRange { index: 3, len: 3 })
        ));
        assert!(item(&Tensor::scalar(1f32), 0).is_err());
    }
}
