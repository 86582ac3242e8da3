//! Helpers shared by the zoo tests.

use lowbit_graph::Graph;
use lowbit_tensor::Tensor;

/// The printed fact of the value named `name`, e.g. `f32[N,32,112,112]`.
pub fn fact(graph: &Graph, name: &str) -> String {
    let id = graph
        .find_value(name)
        .unwrap_or_else(|| panic!("no value named {name}"));
    graph.value(id).fact.to_string()
}

/// The initializer named `name`.
pub fn weight<'g>(graph: &'g Graph, name: &str) -> &'g Tensor {
    let id = graph
        .find_value(name)
        .unwrap_or_else(|| panic!("no value named {name}"));
    graph
        .initializer(id)
        .unwrap_or_else(|| panic!("{name} is not an initializer"))
}

/// Mean and (population) standard deviation of a tensor's values.
pub fn mean_std(tensor: &Tensor) -> (f64, f64) {
    let values = tensor.to_f32_vec();
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Asserts that `tensor` looks like N(0, std²): std within `tolerance` (relative) and
/// mean within three standard errors of 0.
pub fn assert_normal(tensor: &Tensor, std: f64, tolerance: f64, what: &str) {
    let (m, s) = mean_std(tensor);
    let n = tensor.len() as f64;
    assert!(
        (s / std - 1.0).abs() < tolerance,
        "{what}: std {s} vs expected {std}"
    );
    assert!(
        m.abs() < 3.0 * std / n.sqrt() + 1e-12,
        "{what}: mean {m} is not near 0"
    );
}
