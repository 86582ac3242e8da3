//! Shape and data-movement ops over several dtypes.

mod common;

use common::*;
use lowbit_graph::ops::{Cast, ConstantOfShape, Slice, Split};
use lowbit_graph::Op;
use lowbit_tensor::{DType, Tensor};

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    t(shape, (0..n as i64).collect())
}

#[test]
fn reshape_with_zero_and_minus_one() {
    let x = f32s(&[2, 3, 4], &[0.; 24]);
    let y = run(Op::Reshape { allowzero: false }, vec![x.clone(), i64s(&[0, -1])]);
    assert_eq!(y.shape(), &[2, 12]);
    let y = run(
        Op::Reshape { allowzero: false },
        vec![x.clone(), i64s(&[-1, 3, 2, 2])],
    );
    assert_eq!(y.shape(), &[2, 3, 2, 2]);
    assert!(run_op(Op::Reshape { allowzero: false }, &[Some(x), Some(i64s(&[5, -1]))]).is_err());
}

#[test]
fn flatten_squeeze_unsqueeze() {
    let x = iota(&[2, 1, 3, 1]);
    assert_eq!(run(Op::Flatten { axis: 2 }, vec![x.clone()]).shape(), &[2, 3]);
    assert_eq!(run(Op::Flatten { axis: -1 }, vec![x.clone()]).shape(), &[6, 1]);
    assert_eq!(run(Op::Flatten { axis: 0 }, vec![x.clone()]).shape(), &[1, 6]);
    assert_eq!(run(Op::Squeeze { axes: None }, vec![x.clone()]).shape(), &[2, 3]);
    assert_eq!(
        run(Op::Squeeze { axes: Some(vec![-1]) }, vec![x.clone()]).shape(),
        &[2, 1, 3]
    );
    assert_eq!(
        run(Op::Squeeze { axes: None }, vec![x.clone(), i64s(&[1])]).shape(),
        &[2, 3, 1]
    );
    assert!(run_op(Op::Squeeze { axes: Some(vec![0]) }, &[Some(x.clone())]).is_err());
    let y = run(Op::Unsqueeze { axes: None }, vec![iota(&[2, 3]), i64s(&[0, -1])]);
    assert_eq!(y.shape(), &[1, 2, 3, 1]);
    assert_eq!(values::<i64>(&y), (0..6).collect::<Vec<_>>());
    assert_eq!(
        run(Op::Unsqueeze { axes: Some(vec![1]) }, vec![iota(&[2])]).shape(),
        &[2, 1]
    );
}

#[test]
fn transpose_any_rank_and_dtype() {
    let y = run(
        Op::Transpose {
            perm: Some(vec![1, 2, 0]),
        },
        vec![iota(&[2, 3, 2])],
    );
    assert_eq!(y.shape(), &[3, 2, 2]);
    // y[i,j,k] = x[k,i,j] = k*6 + i*2 + j
    assert_eq!(values::<i64>(&y), vec![0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]);
    let b = t(&[2, 2], vec![true, false, false, false]);
    let y = run(Op::Transpose { perm: None }, vec![b]);
    assert_eq!(values::<bool>(&y), vec![true, false, false, false]);
    let y = run(
        Op::Transpose { perm: None },
        vec![f32s(&[2, 3], &[1., 2., 3., 4., 5., 6.])],
    );
    assert_eq!(values::<f32>(&y), vec![1., 4., 2., 5., 3., 6.]);
    assert!(run_op(
        Op::Transpose {
            perm: Some(vec![0, 0])
        },
        &[Some(iota(&[2, 2]))]
    )
    .is_err());
}

#[test]
fn concat_and_split() {
    let a = iota(&[2, 1]);
    let b = t(&[2, 2], vec![10i64, 11, 12, 13]);
    let y = run(Op::Concat { axis: -1 }, vec![a.clone(), b]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(values::<i64>(&y), vec![0, 10, 11, 1, 12, 13]);
    assert!(run_op(Op::Concat { axis: 0 }, &[Some(a.clone()), Some(iota(&[2, 2]))]).is_err());

    let x = iota(&[2, 5]);
    let split =
        |attrs: Split, inputs: Vec<Option<Tensor>>, n| run_op_n(Op::Split(attrs), &inputs, n).unwrap();
    let parts = split(
        Split {
            axis: 1,
            split: None,
            num_outputs: None,
        },
        vec![Some(x.clone()), Some(i64s(&[2, 3]))],
        2,
    );
    assert_eq!(values::<i64>(&parts[0]), vec![0, 1, 5, 6]);
    assert_eq!(values::<i64>(&parts[1]), vec![2, 3, 4, 7, 8, 9]);
    // Opset 18: three parts of ceil(5/3) = 2, the last one smaller.
    let parts = split(
        Split {
            axis: -1,
            split: None,
            num_outputs: Some(3),
        },
        vec![Some(x.clone())],
        3,
    );
    let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape()).collect();
    assert_eq!(shapes, vec![&[2, 2][..], &[2, 2], &[2, 1]]);
    let parts = split(
        Split {
            axis: 0,
            split: Some(vec![1, 1]),
            num_outputs: None,
        },
        vec![Some(x)],
        2,
    );
    assert_eq!(values::<i64>(&parts[1]), vec![5, 6, 7, 8, 9]);
}

#[test]
fn slice_with_negative_steps_axes_and_clamping() {
    let x = iota(&[3, 4]);
    let y = run(Op::Slice(Slice), vec![x.clone(), i64s(&[0, 1]), i64s(&[2, 3])]);
    assert_eq!(values::<i64>(&y), vec![1, 2, 5, 6]);
    // Reverse the last axis: starts -1, ends INT64_MIN, step -1.
    let y = run(
        Op::Slice(Slice),
        vec![
            x.clone(),
            i64s(&[-1]),
            i64s(&[i64::MIN]),
            i64s(&[-1]),
            i64s(&[-1]),
        ],
    );
    assert_eq!(values::<i64>(&y), vec![3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]);
    // Every second row backwards from the end, ends beyond range.
    let y = run(
        Op::Slice(Slice),
        vec![x.clone(), i64s(&[10]), i64s(&[-10]), i64s(&[0]), i64s(&[-2])],
    );
    assert_eq!(values::<i64>(&y), vec![8, 9, 10, 11, 0, 1, 2, 3]);
    let y = run(
        Op::Slice(Slice),
        vec![x.clone(), i64s(&[1]), i64s(&[i64::MAX]), i64s(&[1]), i64s(&[2])],
    );
    assert_eq!(values::<i64>(&y), vec![1, 3, 5, 7, 9, 11]);
    let y = run(Op::Slice(Slice), vec![x, i64s(&[3]), i64s(&[1]), i64s(&[1])]);
    assert_eq!(y.shape(), &[3, 0]);
}

#[test]
fn gather_with_negative_and_scalar_indices() {
    let x = f32s(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
    let y = run(
        Op::Gather { axis: 0 },
        vec![x.clone(), t(&[2, 2], vec![0i64, -1, 1, 0])],
    );
    assert_eq!(y.shape(), &[2, 2, 2]);
    assert_eq!(values::<f32>(&y), vec![1., 2., 5., 6., 3., 4., 1., 2.]);
    let y = run(Op::Gather { axis: 1 }, vec![x.clone(), t(&[], vec![-1i32])]);
    assert_eq!(y.shape(), &[3]);
    assert_eq!(values::<f32>(&y), vec![2., 4., 6.]);
    let err = run_op(Op::Gather { axis: 0 }, &[Some(x), Some(i64s(&[3]))]).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn shape_with_start_and_end() {
    let x = f32s(&[2, 3, 4], &[0.; 24]);
    assert_eq!(
        values::<i64>(&run(Op::Shape { start: 0, end: None }, vec![x.clone()])),
        vec![2, 3, 4]
    );
    assert_eq!(
        values::<i64>(&run(Op::Shape { start: -2, end: None }, vec![x.clone()])),
        vec![3, 4]
    );
    assert_eq!(
        values::<i64>(&run(
            Op::Shape {
                start: 1,
                end: Some(-1)
            },
            vec![x.clone()]
        )),
        vec![3]
    );
    assert!(values::<i64>(&run(
        Op::Shape {
            start: 5,
            end: Some(1)
        },
        vec![x]
    ))
    .is_empty());
}

#[test]
fn cast_expand_constant_of_shape_range() {
    let y = run(Op::Cast(Cast { to: DType::I32 }), vec![f32s(&[2], &[-1.7, 2.9])]);
    assert_eq!(values::<i32>(&y), vec![-1, 2]);
    let y = run(Op::Expand, vec![t(&[3, 1], vec![1i64, 2, 3]), i64s(&[2, 1, 2])]);
    assert_eq!(y.shape(), &[2, 3, 2]);
    assert_eq!(values::<i64>(&y), vec![1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
    // Expand is bidirectional: a target dim of 1 keeps the input's dim.
    assert_eq!(
        run(Op::Expand, vec![iota(&[1, 3]), i64s(&[2, 1])]).shape(),
        &[2, 3]
    );
    let c = Op::ConstantOfShape(ConstantOfShape {
        value: t(&[1], vec![7i64]),
    });
    let y = run(c, vec![i64s(&[2, 2])]);
    assert_eq!(values::<i64>(&y), vec![7; 4]);
    let y = run(
        Op::Range,
        vec![t(&[], vec![10i64]), t(&[], vec![4i64]), t(&[], vec![-3i64])],
    );
    assert_eq!(values::<i64>(&y), vec![10, 7]);
    let y = run(
        Op::Range,
        vec![f32s(&[], &[0.]), f32s(&[], &[1.]), f32s(&[], &[0.25])],
    );
    assert_eq!(values::<f32>(&y), vec![0., 0.25, 0.5, 0.75]);
}

#[test]
fn identity_and_dropout_pass_values_through() {
    let x = f32s(&[2], &[1., 2.]);
    assert_eq!(run(Op::Identity, vec![x.clone()]), x);
    let out = run_op_n(Op::Dropout { ratio: 0.5 }, &[Some(x.clone())], 2).unwrap();
    assert_eq!(out[0], x);
    assert_eq!(values::<bool>(&out[1]), vec![true, true]);
}
