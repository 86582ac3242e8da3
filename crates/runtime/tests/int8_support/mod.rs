//! Builds QDQ graphs by hand and compares a fused plan (integer steps) with the unfused
//! reference plan (every node on the reference evaluators).
#![allow(dead_code)]

use lowbit_graph::ops::{Conv, QuantAxis};
use lowbit_graph::{Fact, Graph, Node, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::Tensor;

/// A deterministic pseudo-random source (an LCG), so the tests need no dependency.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }

    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// Uniform in `[lo, hi]`.
    pub fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next_u32() % (hi - lo + 1) as u32) as i32
    }

    pub fn float(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next_u32() as f32 / (1u64 << 31) as f32)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.int(0, 255) as u8).collect()
    }
}

/// A QDQ graph under construction.
pub struct Qdq {
    pub g: Graph,
    pub rng: Lcg,
    count: usize,
}

impl Qdq {
    pub fn new(seed: u64) -> Self {
        Qdq {
            g: Graph::new("qdq"),
            rng: Lcg::new(seed),
            count: 0,
        }
    }

    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}{}", self.count)
    }

    pub fn input_u8(&mut self, name: &str, shape: &[usize]) -> ValueId {
        self.g
            .add_input(name, Fact::known(lowbit_tensor::DType::U8, shape))
            .unwrap()
    }

    pub fn constant(&mut self, t: Tensor) -> ValueId {
        let name = self.fresh("c");
        self.g.add_const(name, t).unwrap()
    }

    /// Adds a node with one output and returns the output.
    pub fn node(&mut self, op: Op, inputs: &[Option<ValueId>]) -> ValueId {
        let name = self.fresh(op.name());
        let out = self.g.add_value(format!("{name}_out"), Fact::unknown()).unwrap();
        self.g.add_node(Node {
            name,
            op,
            inputs: inputs.to_vec(),
            outputs: vec![out],
        });
        out
    }

    /// `DequantizeLinear(x, scale, zp)` with a u8 zero point.
    pub fn dq(&mut self, x: ValueId, scale: f32, zp: u8) -> ValueId {
        self.quantization(
            Op::DequantizeLinear(QuantAxis::default()),
            x,
            scale,
            Tensor::scalar(zp),
        )
    }

    /// `QuantizeLinear(x, scale, zp)` to u8.
    pub fn q(&mut self, x: ValueId, scale: f32, zp: u8) -> ValueId {
        self.quantization(
            Op::QuantizeLinear(QuantAxis::default()),
            x,
            scale,
            Tensor::scalar(zp),
        )
    }

    pub fn input_f32(&mut self, name: &str, shape: &[usize]) -> ValueId {
        self.g
            .add_input(name, Fact::known(lowbit_tensor::DType::F32, shape))
            .unwrap()
    }

    /// `DequantizeLinear(x, scale, zp)` with an i8 zero point.
    pub fn dq_i8(&mut self, x: ValueId, scale: f32, zp: i8) -> ValueId {
        self.quantization(
            Op::DequantizeLinear(QuantAxis::default()),
            x,
            scale,
            Tensor::scalar(zp),
        )
    }

    /// `QuantizeLinear(x, scale, zp)` to i8.
    pub fn q_i8(&mut self, x: ValueId, scale: f32, zp: i8) -> ValueId {
        self.quantization(
            Op::QuantizeLinear(QuantAxis::default()),
            x,
            scale,
            Tensor::scalar(zp),
        )
    }

    /// A per-tensor QuantizeLinear or DequantizeLinear node with constant parameters.
    fn quantization(&mut self, op: Op, x: ValueId, scale: f32, zero_point: Tensor) -> ValueId {
        let s = self.constant(Tensor::scalar(scale));
        let z = self.constant(zero_point);
        self.node(op, &[Some(x), Some(s), Some(z)])
    }

    /// Random i8 weights of `shape` with per-channel scales on `axis`, through a
    /// DequantizeLinear; returns the float weights and their scales.
    pub fn weights(&mut self, shape: &[usize], axis: usize) -> (ValueId, Vec<f32>) {
        let len: usize = shape.iter().product();
        let values: Vec<i8> = (0..len).map(|_| self.rng.int(-127, 127) as i8).collect();
        let scales: Vec<f32> = (0..shape[axis]).map(|_| self.rng.float(0.002, 0.01)).collect();
        let w = self.constant(Tensor::new(shape, values).unwrap());
        let s = self.constant(Tensor::new(vec![scales.len()], scales.clone()).unwrap());
        let z = self.constant(Tensor::new(vec![scales.len()], vec![0i8; scales.len()]).unwrap());
        let out = self.node(
            Op::DequantizeLinear(QuantAxis { axis: axis as i64 }),
            &[Some(w), Some(s), Some(z)],
        );
        (out, scales)
    }

    /// An i32 bias at scale `x_scale · w_scale[c]`, through a DequantizeLinear.
    pub fn bias(&mut self, x_scale: f32, w_scales: &[f32]) -> ValueId {
        let n = w_scales.len();
        let values: Vec<i32> = (0..n).map(|_| self.rng.int(-3000, 3000)).collect();
        let scales: Vec<f32> = w_scales.iter().map(|&w| x_scale * w).collect();
        let b = self.constant(Tensor::new(vec![n], values).unwrap());
        let s = self.constant(Tensor::new(vec![n], scales).unwrap());
        let z = self.constant(Tensor::new(vec![n], vec![0i32; n]).unwrap());
        self.node(
            Op::DequantizeLinear(QuantAxis { axis: 0 }),
            &[Some(b), Some(s), Some(z)],
        )
    }

    /// DQ(x) → Conv(DQ(W), DQ(b)) with weights `[m, c/group, k, k]`.
    pub fn conv(&mut self, x_float: ValueId, x_scale: f32, c: usize, m: usize, attrs: Conv) -> ValueId {
        let (w, scales) = self.weights(&[m, c / attrs.group, attrs.kernel[0], attrs.kernel[1]], 0);
        let b = self.bias(x_scale, &scales);
        self.node(Op::Conv(attrs), &[Some(x_float), Some(w), Some(b)])
    }

    pub fn finish(mut self, outputs: &[ValueId]) -> Graph {
        self.g.outputs = outputs.to_vec();
        self.g
    }
}

pub fn conv_attrs(k: usize, stride: usize, pads: [usize; 4], group: usize) -> Conv {
    Conv {
        kernel: [k, k],
        strides: [stride, stride],
        pads,
        dilations: [1, 1],
        group,
    }
}

fn options(optimize: bool) -> PlanOptions {
    PlanOptions { threads: 1, optimize }
}

/// What [`compare`] found.
pub struct Comparison {
    pub fused: Plan,
    /// Largest |fused − reference| over every output byte.
    pub max_diff: i32,
    /// Output bytes that differ.
    pub differing: usize,
    pub total: usize,
}

/// A quantized output's bytes, i8 ones shifted by 128 so that distances stay distances.
fn u8_view(t: &Tensor) -> Vec<u8> {
    match t.as_slice::<i8>() {
        Ok(signed) => signed.iter().map(|&v| (v as u8) ^ 0x80).collect(),
        Err(_) => t.as_slice::<u8>().unwrap().to_vec(),
    }
}

/// Runs `graph` fused and unfused on `inputs` and compares the u8 or i8 outputs.
pub fn compare(graph: Graph, inputs: &[Tensor]) -> Comparison {
    let reference = Plan::new(graph.clone(), &options(false)).unwrap();
    let fused = Plan::new(graph, &options(true)).unwrap();
    let want = reference.run(inputs).unwrap();
    let got = fused.run(inputs).unwrap();
    assert_eq!(want.len(), got.len());
    let (mut max_diff, mut differing, mut total) = (0, 0, 0);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.shape(), g.shape(), "output shapes differ");
        let (w, g) = (u8_view(w), u8_view(g));
        // A comparison of saturated outputs would prove nothing.
        let mut seen = [false; 256];
        w.iter().for_each(|&v| seen[usize::from(v)] = true);
        let distinct = seen.iter().filter(|&&s| s).count();
        assert!(
            distinct >= w.len().min(8),
            "only {distinct} distinct output values"
        );
        for (a, b) in w.iter().zip(&g) {
            let d = (i32::from(*a) - i32::from(*b)).abs();
            max_diff = max_diff.max(d);
            differing += usize::from(d != 0);
        }
        total += w.len();
    }
    eprintln!("{differing} of {total} output bytes differ, max diff {max_diff}");
    Comparison {
        fused,
        max_diff,
        differing,
        total,
    }
}

impl Comparison {
    /// Every byte equal.
    pub fn assert_exact(&self) {
        assert_eq!(
            self.differing, 0,
            "{} of {} bytes differ",
            self.differing, self.total
        );
    }

    /// At most one step apart, on at most 1% of the bytes: the f32 reference rounds
    /// its float sum, the kernel its exact integer sum, so halfway cases may split.
    pub fn assert_within_one_step(&self) {
        self.assert_close(1, 1);
    }

    /// At most `steps` apart, on at most `percent`% of the bytes.
    pub fn assert_close(&self, steps: i32, percent: usize) {
        assert!(self.max_diff <= steps, "max diff {}", self.max_diff);
        assert!(
            self.differing * 100 <= self.total * percent,
            "{} of {} bytes differ",
            self.differing,
            self.total
        );
    }

    /// The kernels of the integer steps, in order.
    pub fn kernels(&self) -> Vec<String> {
        self.fused.integer_steps().into_iter().map(|(_, k)| k).collect()
    }
}
