//! Reductions and ArgMax.

mod common;

use common::*;
use lowbit_graph::ops::{Reduce, ReduceKind};
use lowbit_graph::Op;

fn reduce(kind: ReduceKind, axes: Option<Vec<i64>>, keepdims: bool) -> Op {
    Op::Reduce(Reduce {
        kind,
        axes,
        keepdims,
        noop_with_empty_axes: false,
    })
}

#[test]
fn reductions_over_axes_with_and_without_keepdims() {
    // x[i, j, k] = i*6 + j*2 + k, shape [2, 3, 2]
    let x = f32s(&[2, 3, 2], &(0..12).map(|v| v as f32).collect::<Vec<_>>());
    let y = run(reduce(ReduceKind::Sum, Some(vec![1]), true), vec![x.clone()]);
    assert_eq!(y.shape(), &[2, 1, 2]);
    assert_eq!(values::<f32>(&y), vec![6., 9., 24., 27.]);
    let y = run(reduce(ReduceKind::Mean, Some(vec![-1]), false), vec![x.clone()]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(values::<f32>(&y), vec![0.5, 2.5, 4.5, 6.5, 8.5, 10.5]);
    let y = run(reduce(ReduceKind::Max, Some(vec![0, 2]), false), vec![x.clone()]);
    assert_eq!(values::<f32>(&y), vec![7., 9., 11.]);
    let y = run(reduce(ReduceKind::Min, None, false), vec![x.clone()]);
    assert_eq!(y.shape(), &[] as &[usize]);
    assert_eq!(values::<f32>(&y), vec![0.]);
    let y = run(
        reduce(ReduceKind::SumSquare, Some(vec![2]), false),
        vec![x.clone()],
    );
    assert_eq!(values::<f32>(&y)[..2], [1., 13.]);
    let y = run(reduce(ReduceKind::L2, Some(vec![2]), false), vec![x.clone()]);
    assert_eq!(values::<f32>(&y)[1], 13f32.sqrt());
    let y = run(reduce(ReduceKind::Prod, Some(vec![2]), false), vec![x.clone()]);
    assert_eq!(values::<f32>(&y)[..2], [0., 6.]);
    // Axes as an input (opset 13 ReduceSum, opset 18 others).
    let y = run(reduce(ReduceKind::Sum, None, false), vec![x, i64s(&[0, 1])]);
    assert_eq!(values::<f32>(&y), vec![30., 36.]);
}

#[test]
fn empty_axes_input_with_noop_flag_returns_the_input() {
    let x = f32s(&[2], &[1., 2.]);
    let op = Op::Reduce(Reduce {
        kind: ReduceKind::Sum,
        axes: None,
        keepdims: true,
        noop_with_empty_axes: true,
    });
    assert_eq!(run(op, vec![x.clone()]), x);
}

#[test]
fn integer_reductions() {
    let x = t(&[2, 2], vec![1i64, 2, 3, 4]);
    assert_eq!(
        values::<i64>(&run(
            reduce(ReduceKind::Sum, Some(vec![0]), false),
            vec![x.clone()]
        )),
        vec![4, 6]
    );
    assert_eq!(
        values::<i64>(&run(reduce(ReduceKind::Prod, Some(vec![1]), false), vec![x])),
        vec![2, 12]
    );
}

#[test]
fn argmax_picks_first_or_last_of_ties() {
    let x = f32s(&[2, 3], &[1., 5., 5., 7., 0., 7.]);
    let op = |keepdims, select_last_index| Op::ArgMax {
        axis: 1,
        keepdims,
        select_last_index,
    };
    let y = run(op(true, false), vec![x.clone()]);
    assert_eq!(y.shape(), &[2, 1]);
    assert_eq!(values::<i64>(&y), vec![1, 0]);
    assert_eq!(values::<i64>(&run(op(false, true), vec![x.clone()])), vec![2, 2]);
    let y = run(
        Op::ArgMax {
            axis: -2,
            keepdims: false,
            select_last_index: false,
        },
        vec![x],
    );
    assert_eq!(values::<i64>(&y), vec![1, 0, 1]);
}
