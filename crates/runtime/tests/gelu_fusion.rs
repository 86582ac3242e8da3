//! The fused erf-GELU step against the unfused chain (bit for bit) and an f64 reference,
//! and the cases where the chain must not be fused.

use lowbit_graph::ops::{BinaryOp, UnaryOp};
use lowbit_graph::{Fact, Graph, Node, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::{DType, Tensor};

fn node(name: &str, op: Op, inputs: &[ValueId], out: ValueId) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.iter().copied().map(Some).collect(),
        outputs: vec![out],
    }
}

/// `y = (x · 0.5) · (erf(x / √2) + 1)` as exporters write it; `swap` puts the constant
/// first in the scale Mul and the Add.
fn gelu_graph(shape: &[usize], swap: bool) -> Graph {
    let mut g = Graph::new("gelu");
    let x = g.add_input("x", Fact::known(DType::F32, shape)).unwrap();
    let scalar =
        |g: &mut Graph, name: &str, v: f32| g.add_const(name, Tensor::new(vec![], vec![v]).unwrap()).unwrap();
    let half = scalar(&mut g, "half", 0.5);
    let root2 = scalar(&mut g, "root2", std::f32::consts::SQRT_2);
    let one = scalar(&mut g, "one", 1.0);
    let values: Vec<ValueId> = ["a", "b", "c", "d", "y"]
        .iter()
        .map(|&n| g.add_value(n, Fact::unknown()).unwrap())
        .collect();
    let [a, b, c, d, y] = values[..] else {
        unreachable!()
    };
    let ordered = |p: ValueId, q: ValueId| if swap { [q, p] } else { [p, q] };
    g.add_node(node("scale", Op::Binary(BinaryOp::Mul), &ordered(x, half), a));
    g.add_node(node("div", Op::Binary(BinaryOp::Div), &[x, root2], b));
    g.add_node(node("erf", Op::Unary(UnaryOp::Erf), &[b], c));
    g.add_node(node("add", Op::Binary(BinaryOp::Add), &ordered(c, one), d));
    g.add_node(node("mul", Op::Binary(BinaryOp::Mul), &[a, d], y));
    g.outputs.push(y);
    g
}

/// Runs `graph` and returns its outputs and the names of the values computed.
fn run(graph: &Graph, optimize: bool, x: &Tensor) -> (Vec<Tensor>, Vec<String>) {
    let plan = Plan::new(graph.clone(), &PlanOptions { threads: 1, optimize }).unwrap();
    let mut seen = Vec::new();
    let mut observer = |name: &str, _: ValueId, _: &Tensor| seen.push(name.to_string());
    let outputs = plan.run_observed(std::slice::from_ref(x), &mut observer).unwrap();
    (outputs, seen)
}

fn input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..n).map(|i| ((i * 29 % 83) as f32 - 41.0) / 6.0).collect();
    if n > 3 {
        values[..4].copy_from_slice(&[-1e4, 1e4, 0.0, -0.0]);
    }
    Tensor::new(shape.to_vec(), values).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.as_slice::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn fused_gelu_is_the_unfused_chain_bit_for_bit() {
    for shape in [vec![1], vec![3, 37], vec![2, 5, 1536], vec![0, 4]] {
        for swap in [false, true] {
            let g = gelu_graph(&shape, swap);
            let x = input(&shape);
            let (fused, seen) = run(&g, true, &x);
            let (plain, plain_seen) = run(&g, false, &x);
            assert_eq!(seen, ["x", "y"], "{shape:?}: the chain is one step");
            assert_eq!(plain_seen.len(), 6, "{shape:?}: unfused runs every node");
            assert_eq!(fused[0].shape(), &shape[..]);
            assert_eq!(bits(&fused[0]), bits(&plain[0]), "{shape:?} swap {swap}");
            for (&v, &y) in x
                .as_slice::<f32>()
                .unwrap()
                .iter()
                .zip(fused[0].as_slice::<f32>().unwrap())
            {
                let v = f64::from(v);
                let want = 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2));
                assert!(
                    (f64::from(y) - want).abs() <= 1e-6 * (1.0 + want.abs()),
                    "gelu({v}) = {y}, want {want}"
                );
            }
        }
    }
}

#[test]
fn chains_with_exposed_intermediates_or_non_scalar_constants_stay_unfused() {
    let shape = [4, 8];
    let x = input(&shape);
    let mut exposed = gelu_graph(&shape, false);
    let c = exposed.value_id("c").unwrap();
    exposed.outputs.push(c);
    let (outputs, seen) = run(&exposed, true, &x);
    assert!(seen.contains(&"c".to_string()) && seen.contains(&"y".to_string()));
    let (plain, _) = run(&gelu_graph(&shape, false), false, &x);
    assert_eq!(bits(&outputs[0]), bits(&plain[0]));

    // A per-column divisor is not the scalar GELU constant.
    let mut g = gelu_graph(&shape, false);
    let root2 = g.value_id("root2").unwrap();
    g.initializers.insert(
        root2,
        std::sync::Arc::new(Tensor::new(vec![8], vec![1.5f32; 8]).unwrap()),
    );
    let (_, seen) = run(&g, true, &x);
    assert_eq!(seen.len(), 6, "{seen:?}");
}
