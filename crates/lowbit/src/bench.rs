//! Latency and throughput measurement, with synthetic inputs made from the declared
//! input shapes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lowbit_graph::{Dim, Graph};
use lowbit_runtime::Plan;
use lowbit_tensor::{DType, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;

use crate::{Error, Result};

/// Makes one input per graph input from its declared shape.
///
/// A symbolic dimension takes its value from `dims` by name; otherwise a symbolic
/// first dimension is the batch. Float inputs get uniform noise in [-1, 1); integer
/// inputs get 1 everywhere, a valid token id, attention mask and segment id alike.
pub fn synthetic_inputs(graph: &Graph, batch: usize, dims: &HashMap<String, usize>) -> Result<Vec<Tensor>> {
    let mut rng = StdRng::seed_from_u64(0);
    graph
        .inputs
        .iter()
        .map(|&id| {
            let value = graph.value(id);
            let dims_of = value.fact.shape.as_ref().ok_or_else(|| {
                Error::Invalid(format!(
                    "input '{}' has no declared shape: pass --input",
                    value.name
                ))
            })?;
            let shape = dims_of
                .iter()
                .enumerate()
                .map(|(axis, dim)| match dim {
                    Dim::Known(n) => Ok(*n),
                    Dim::Sym(name) => match dims.get(name) {
                        Some(&n) => Ok(n),
                        None if axis == 0 => Ok(batch),
                        None => Err(Error::Invalid(format!(
                            "input '{}' has a symbolic dimension '{name}': set it with --dim {name}=N",
                            value.name
                        ))),
                    },
                })
                .collect::<Result<Vec<usize>>>()?;
            let len: usize = shape.iter().product();
            let tensor = match value.fact.dtype.unwrap_or(DType::F32) {
                DType::F32 => Tensor::new(shape, (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect())?,
                DType::I64 => Tensor::new(shape, vec![1i64; len])?,
                DType::I32 => Tensor::new(shape, vec![1i32; len])?,
                DType::U8 => Tensor::new(shape, (0..len).map(|_| rng.gen()).collect::<Vec<u8>>())?,
                DType::I8 => Tensor::new(shape, (0..len).map(|_| rng.gen()).collect::<Vec<i8>>())?,
                DType::Bool => Tensor::new(shape, vec![true; len])?,
            };
            Ok(tensor)
        })
        .collect()
}

/// Latency statistics of repeated runs.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub batch: usize,
    pub threads: usize,
    pub iters: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    /// Samples per second at the mean latency.
    pub throughput: f64,
}

/// Runs `plan` `warmup` times untimed, then `iters` times timed.
pub fn bench(
    plan: &Plan,
    inputs: &[Tensor],
    batch: usize,
    threads: usize,
    warmup: usize,
    iters: usize,
) -> Result<BenchReport> {
    if iters == 0 {
        return Err(Error::Invalid("--iters must be at least 1".into()));
    }
    for _ in 0..warmup {
        plan.run(inputs)?;
    }
    let mut times: Vec<Duration> = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        plan.run(inputs)?;
        times.push(start.elapsed());
    }
    Ok(report(&mut times, batch, threads))
}

fn report(times: &mut [Duration], batch: usize, threads: usize) -> BenchReport {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let percentile = |p: f64| ms(times[((times.len() - 1) as f64 * p).round() as usize]);
    let mean_ms = times.iter().map(|&d| ms(d)).sum::<f64>() / times.len() as f64;
    BenchReport {
        batch,
        threads,
        iters: times.len(),
        p50_ms: percentile(0.5),
        p90_ms: percentile(0.9),
        mean_ms,
        min_ms: ms(times[0]),
        throughput: batch as f64 / (mean_ms / 1e3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowbit_graph::Fact;

    #[test]
    fn percentiles_of_known_times() {
        let mut times: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        let r = report(&mut times, 2, 1);
        assert_eq!(r.p50_ms.round(), 6.0);
        assert_eq!(r.p90_ms.round(), 9.0);
        assert!((r.mean_ms - 5.5).abs() < 1e-9);
        assert!((r.throughput - 2.0 / 0.0055).abs() < 1e-6);
    }

    #[test]
    fn synthetic_inputs_resolve_symbolic_dims() {
        let mut g = Graph::new("t");
        g.add_input(
            "ids",
            Fact::new(DType::I64, [Dim::from("batch"), Dim::from("sequence")]),
        )
        .unwrap();
        g.add_input("x", Fact::new(DType::F32, [Dim::from("batch"), Dim::Known(3)]))
            .unwrap();
        let missing = synthetic_inputs(&g, 2, &HashMap::new()).unwrap_err();
        assert!(missing.to_string().contains("--dim sequence=N"));
        let dims = HashMap::from([("sequence".to_string(), 7)]);
        let inputs = synthetic_inputs(&g, 2, &dims).unwrap();
        assert_eq!(inputs[0].shape(), &[2, 7]);
        assert_eq!(inputs[1].shape(), &[2, 3]);
        assert!(inputs[0].as_slice::<i64>().unwrap().iter().all(|&v| v == 1));
    }
}
