//! ONNX node conformance runner: imports each test model of ONNX's backend test suite,
//! runs it on every `test_data_set_*`, and compares with the expected outputs.
//!
//! Contract:
//! - A test is a directory holding `model.onnx` and `test_data_set_*/` folders of
//!   `input_<i>.pb` and `output_<i>.pb` (serialized `TensorProto`s). Directories are
//!   found recursively; a test is named by its path relative to the root.
//! - Outcomes: *unsupported* when lowbit declines the model or its data (an op, an
//!   attribute value or an element type it does not implement, see
//!   [`OnnxError::is_unsupported`]); *failed* for any other import error, a planning or
//!   run error, a panic, or a wrong output; *passed* otherwise.
//! - Outputs compare like ONNX's backend tests: f32 within `|got - want| <= atol + rtol *
//!   |want|` with rtol = 1e-3 and atol = 1e-7 (NaN matches NaN); integers and booleans
//!   exactly; dtypes and shapes must match.
//! - Per-op tally: a single-node model counts under its node's op type. Multi-node
//!   models (ONNX's `*_expanded` tests, which spell an op out as a function of simpler
//!   ops) count under `"<Op> (expanded)"`, taking the op from the test of the same name
//!   without the suffix, or under `"(multi-node)"` when there is no such test.
//! - Plans are built with one thread: the tests are tiny and this keeps runs
//!   deterministic. A panic in one test is caught and recorded; the run goes on.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lowbit_onnx::OnnxError;
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::{Data, Tensor};
use serde::Serialize;

/// Relative tolerance of f32 outputs, as in ONNX's backend tests.
pub const RTOL: f32 = 1e-3;
/// Absolute tolerance of f32 outputs, as in ONNX's backend tests.
pub const ATOL: f32 = 1e-7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Unsupported,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// The test directory relative to the root, e.g. `test_relu`.
    pub name: String,
    /// The op the test is counted under (see the module docs).
    pub op: String,
    pub outcome: Outcome,
    /// Why the test failed or is unsupported; `None` when it passed.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpTally {
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConformanceReport {
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
    /// Every test run, sorted by name.
    pub tests: Vec<TestResult>,
    /// Counts per op, sorted by op name.
    pub ops: BTreeMap<String, OpTally>,
}

impl ConformanceReport {
    /// The tests with the given outcome.
    pub fn with_outcome(&self, outcome: Outcome) -> impl Iterator<Item = &TestResult> {
        self.tests.iter().filter(move |t| t.outcome == outcome)
    }

    fn from_results(tests: Vec<TestResult>) -> Self {
        let mut report = ConformanceReport::default();
        for test in &tests {
            let tally = report.ops.entry(test.op.clone()).or_default();
            let (total, per_op) = match test.outcome {
                Outcome::Passed => (&mut report.passed, &mut tally.passed),
                Outcome::Failed => (&mut report.failed, &mut tally.failed),
                Outcome::Unsupported => (&mut report.unsupported, &mut tally.unsupported),
            };
            *total += 1;
            *per_op += 1;
        }
        report.tests = tests;
        report
    }
}

/// Runs every test under `dir` whose name contains `filter` (all when `None`).
pub fn run_conformance(dir: &Path, filter: Option<&str>) -> ConformanceReport {
    let mut test_dirs = Vec::new();
    find_tests(dir, &mut test_dirs);
    test_dirs.sort();
    let named: Vec<(String, PathBuf)> = test_dirs
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            (name, path)
        })
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f)))
        .collect();

    let ran: Vec<(String, Vec<String>, Outcome, Option<String>)> = with_quiet_panics(|| {
        named
            .iter()
            .map(|(name, path)| {
                let ops = model_op_types(&path.join("model.onnx"));
                let (outcome, reason) = run_one(path);
                (name.clone(), ops, outcome, reason)
            })
            .collect()
    });

    let single_op: BTreeMap<&str, &str> = ran
        .iter()
        .filter(|(_, ops, ..)| ops.len() == 1)
        .map(|(name, ops, ..)| (name.as_str(), ops[0].as_str()))
        .collect();
    let tests = ran
        .iter()
        .map(|(name, ops, outcome, reason)| TestResult {
            name: name.clone(),
            op: op_label(name, ops, &single_op),
            outcome: *outcome,
            reason: reason.clone(),
        })
        .collect();
    ConformanceReport::from_results(tests)
}

fn find_tests(dir: &Path, found: &mut Vec<PathBuf>) {
    if dir.join("model.onnx").is_file() {
        found.push(dir.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_tests(&path, found);
        }
    }
}

/// The op types of the model's nodes, read without importing so that it works even
/// when the import fails. Empty when the file cannot be decoded.
fn model_op_types(path: &Path) -> Vec<String> {
    lowbit_onnx::read_op_types(path).unwrap_or_default()
}

fn op_label(name: &str, ops: &[String], single_op: &BTreeMap<&str, &str>) -> String {
    match ops {
        [op] => op.clone(),
        _ => match name
            .strip_suffix("_expanded")
            .and_then(|base| single_op.get(base))
        {
            Some(op) => format!("{op} (expanded)"),
            None => "(multi-node)".to_string(),
        },
    }
}

/// Runs one test directory, catching panics.
fn run_one(dir: &Path) -> (Outcome, Option<String>) {
    match panic::catch_unwind(AssertUnwindSafe(|| run_checked(dir))) {
        Ok(Ok(())) => (Outcome::Passed, None),
        Ok(Err(Failure::Unsupported(reason))) => (Outcome::Unsupported, Some(reason)),
        Ok(Err(Failure::Failed(reason))) => (Outcome::Failed, Some(reason)),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown payload".to_string());
            (Outcome::Failed, Some(format!("panic: {message}")))
        }
    }
}

enum Failure {
    Unsupported(String),
    Failed(String),
}

impl Failure {
    fn from_onnx(stage: &str, error: OnnxError) -> Self {
        if error.is_unsupported() {
            Failure::Unsupported(error.to_string())
        } else {
            Failure::Failed(format!("{stage}: {error}"))
        }
    }
}

fn run_checked(dir: &Path) -> Result<(), Failure> {
    let graph = lowbit_onnx::load(&dir.join("model.onnx")).map_err(|e| Failure::from_onnx("import", e))?;
    let input_names: Vec<String> = graph
        .inputs
        .iter()
        .map(|&id| graph.value(id).name.clone())
        .collect();
    let options = PlanOptions {
        threads: 1,
        ..PlanOptions::default()
    };
    let plan = Plan::new(graph, &options).map_err(|e| Failure::Failed(format!("plan: {e}")))?;
    let data_sets = numbered_entries(dir, "test_data_set_", "");
    if data_sets.is_empty() {
        return Err(Failure::Failed("no test_data_set_* directory".to_string()));
    }
    for data_set in data_sets {
        let set_name = data_set
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let inputs = read_tensors(&data_set, "input_")?;
        let inputs =
            order_inputs(inputs, &input_names).map_err(|e| Failure::Failed(format!("{set_name}: {e}")))?;
        let expected = read_tensors(&data_set, "output_")?;
        if expected.is_empty() {
            return Err(Failure::Failed(format!("{set_name}: no output_*.pb file")));
        }
        let got = plan
            .run(&inputs)
            .map_err(|e| Failure::Failed(format!("{set_name}: run: {e}")))?;
        if got.len() != expected.len() {
            return Err(Failure::Failed(format!(
                "{set_name}: {} outputs, expected {}",
                got.len(),
                expected.len()
            )));
        }
        for (index, (got, (_, want))) in got.iter().zip(&expected).enumerate() {
            compare(got, want).map_err(|e| Failure::Failed(format!("{set_name}: output {index}: {e}")))?;
        }
    }
    Ok(())
}

/// Entries of `dir` named `<prefix><number><suffix>`, sorted by number.
fn numbered_entries(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut numbered: Vec<(usize, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let number = name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    numbered.sort();
    numbered.into_iter().map(|(_, path)| path).collect()
}

fn read_tensors(dir: &Path, prefix: &str) -> Result<Vec<(String, Tensor)>, Failure> {
    numbered_entries(dir, prefix, ".pb")
        .iter()
        .map(|path| {
            lowbit_onnx::read_named_tensor_proto(path).map_err(|e| Failure::from_onnx("test data", e))
        })
        .collect()
}

/// Puts the test inputs in the graph's input order: by name when every tensor is named
/// after a graph input, else by position.
fn order_inputs(inputs: Vec<(String, Tensor)>, names: &[String]) -> Result<Vec<Tensor>, String> {
    if inputs.len() != names.len() {
        return Err(format!(
            "{} input files for a graph of {} inputs",
            inputs.len(),
            names.len()
        ));
    }
    let mut by_name: BTreeMap<String, Tensor> = BTreeMap::new();
    let mut positional = Vec::with_capacity(inputs.len());
    for (name, tensor) in inputs {
        positional.push(tensor.clone());
        by_name.insert(name, tensor);
    }
    if names.iter().all(|n| by_name.contains_key(n)) {
        return Ok(names.iter().filter_map(|n| by_name.remove(n)).collect());
    }
    Ok(positional)
}

/// Checks one output against its expected value (see the module docs for tolerances).
pub fn compare(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("element type {}, expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    let mismatch = match (got.data(), want.data()) {
        (Data::F32(g), Data::F32(w)) => g.iter().zip(w).position(|(&g, &w)| !close(g, w)),
        (Data::I8(g), Data::I8(w)) => first_difference(g, w),
        (Data::U8(g), Data::U8(w)) => first_difference(g, w),
        (Data::I32(g), Data::I32(w)) => first_difference(g, w),
        (Data::I64(g), Data::I64(w)) => first_difference(g, w),
        (Data::Bool(g), Data::Bool(w)) => first_difference(g, w),
        _ => unreachable!("dtypes were checked to be equal"),
    };
    match mismatch {
        None => Ok(()),
        Some(i) => Err(format!(
            "element {i} of {} is {}, expected {}",
            want.len(),
            element(got, i),
            element(want, i)
        )),
    }
}

fn close(got: f32, want: f32) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= ATOL + RTOL * want.abs()
}

fn first_difference<T: PartialEq>(got: &[T], want: &[T]) -> Option<usize> {
    got.iter().zip(want).position(|(g, w)| g != w)
}

fn element(tensor: &Tensor, i: usize) -> String {
    match tensor.data() {
        Data::F32(v) => v[i].to_string(),
        Data::I8(v) => v[i].to_string(),
        Data::U8(v) => v[i].to_string(),
        Data::I32(v) => v[i].to_string(),
        Data::I64(v) => v[i].to_string(),
        Data::Bool(v) => v[i].to_string(),
    }
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work` with panic messages of this thread silenced (they are recorded in the
/// report instead); other threads keep the previous panic hook's behaviour.
fn with_quiet_panics<T>(work: impl FnOnce() -> T) -> T {
    type Hook = dyn Fn(&panic::PanicHookInfo<'_>) + Send + Sync;
    let previous: Arc<Hook> = Arc::from(panic::take_hook());
    let chained = Arc::clone(&previous);
    panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            chained(info);
        }
    }));
    QUIET.with(|q| q.set(true));
    let result = work();
    QUIET.with(|q| q.set(false));
    panic::set_hook(Box::new(move |info| previous(info)));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_tolerance_follows_onnx() {
        assert!(close(1000.0, 1000.9));
        assert!(!close(1000.0, 998.0));
        assert!(close(0.0, 1e-8));
        assert!(!close(0.0, 1e-6));
        assert!(close(f32::NAN, f32::NAN));
        assert!(!close(1.0, f32::NAN));
        assert!(close(f32::INFINITY, f32::INFINITY));
        assert!(!close(f32::MAX, f32::INFINITY));
    }

    #[test]
    fn compare_reports_dtype_shape_and_first_mismatch() {
        let a = Tensor::new(vec![3], vec![1i64, 2, 3]).unwrap();
        let b = Tensor::new(vec![3], vec![1i64, 2, 4]).unwrap();
        assert_eq!(compare(&a, &a), Ok(()));
        assert_eq!(compare(&a, &b).unwrap_err(), "element 2 of 3 is 3, expected 4");
        let f = Tensor::new(vec![3], vec![1f32, 2.0, 3.0]).unwrap();
        assert!(compare(&f, &a)
            .unwrap_err()
            .contains("element type f32, expected i64"));
        let r = f.clone().reshape(vec![1, 3]).unwrap();
        assert!(compare(&r, &f)
            .unwrap_err()
            .contains("shape [1, 3], expected [3]"));
    }

    #[test]
    fn expanded_tests_count_under_their_op() {
        let single: BTreeMap<&str, &str> = [("test_softmax_axis_0", "Softmax")].into_iter().collect();
        let many = vec!["Exp".to_string(), "Div".to_string()];
        assert_eq!(
            op_label("test_softmax_axis_0_expanded", &many, &single),
            "Softmax (expanded)"
        );
        assert_eq!(op_label("test_other", &many, &single), "(multi-node)");
        assert_eq!(op_label("test_relu", &["Relu".to_string()], &single), "Relu");
    }

    /// Writes a one-node test directory: `y = Relu(x)` with the given expected output.
    fn write_relu_test(root: &Path, name: &str, expected: &[f32]) {
        use lowbit_graph::ops::UnaryOp;
        use lowbit_graph::{Fact, Graph, Node, Op};
        use lowbit_tensor::DType;
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("test_data_set_0")).unwrap();
        let mut graph = Graph::new(name);
        let x = graph.add_input("x", Fact::known(DType::F32, &[3])).unwrap();
        let y = graph.add_value("y", Fact::known(DType::F32, &[3])).unwrap();
        graph.add_node(Node {
            name: "relu".into(),
            op: Op::Unary(UnaryOp::Relu),
            inputs: vec![Some(x)],
            outputs: vec![y],
        });
        graph.outputs = vec![y];
        lowbit_onnx::save(&graph, &dir.join("model.onnx")).unwrap();
        let input = Tensor::new(vec![3], vec![-1f32, 0.5, 2.0]).unwrap();
        let output = Tensor::new(vec![3], expected.to_vec()).unwrap();
        let data = dir.join("test_data_set_0");
        std::fs::write(data.join("input_0.pb"), lowbit_onnx::tensor_to_bytes("x", &input)).unwrap();
        std::fs::write(
            data.join("output_0.pb"),
            lowbit_onnx::tensor_to_bytes("y", &output),
        )
        .unwrap();
    }

    #[test]
    fn runner_classifies_pass_fail_and_broken_models() {
        let root = std::env::temp_dir().join(format!("lowbit-conformance-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        write_relu_test(&root, "test_relu_right", &[0.0, 0.5, 2.0]);
        write_relu_test(&root, "test_relu_wrong", &[0.0, 0.5, 2.1]);
        std::fs::create_dir_all(root.join("test_garbage")).unwrap();
        std::fs::write(root.join("test_garbage/model.onnx"), [0xff; 16]).unwrap();

        let report = run_conformance(&root, None);
        let outcomes: Vec<(&str, Outcome)> = report
            .tests
            .iter()
            .map(|t| (t.name.as_str(), t.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("test_garbage", Outcome::Failed),
                ("test_relu_right", Outcome::Passed),
                ("test_relu_wrong", Outcome::Failed),
            ]
        );
        assert_eq!((report.passed, report.failed, report.unsupported), (1, 2, 0));
        let relu = &report.ops["Relu"];
        assert_eq!((relu.passed, relu.failed), (1, 1));
        let wrong = report.tests[2].reason.as_deref().unwrap();
        assert!(
            wrong.contains("output 0: element 2 of 3 is 2, expected 2.1"),
            "{wrong}"
        );
        assert_eq!(run_conformance(&root, Some("right")).tests.len(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn inputs_are_ordered_by_name_when_possible() {
        let t = |v: f32| Tensor::scalar(v);
        let names = vec!["a".to_string(), "b".to_string()];
        let named = vec![("b".to_string(), t(2.0)), ("a".to_string(), t(1.0))];
        let ordered = order_inputs(named, &names).unwrap();
        assert_eq!(ordered, vec![t(1.0), t(2.0)]);
        let unnamed = vec![(String::new(), t(2.0)), (String::new(), t(1.0))];
        assert_eq!(order_inputs(unnamed, &names).unwrap(), vec![t(2.0), t(1.0)]);
        assert!(order_inputs(vec![], &names).is_err());
    }
}
