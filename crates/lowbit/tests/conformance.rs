//! ONNX's node conformance tests (Debian package `libonnx-testdata`): every test of a
//! supported op must pass; none may fail.

use std::path::Path;

use lowbit::conformance::{run_conformance, Outcome};

const NODE_TESTS: &str = "/usr/share/libonnx-testdata/data/node";

#[test]
fn onnx_node_tests_pass_for_supported_ops() {
    let dir = Path::new(NODE_TESTS);
    if !dir.is_dir() {
        let reason = format!("{NODE_TESTS} not found (apt-get install libonnx-testdata)");
        if std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() == Ok("1") {
            panic!("{reason}, and LOWBIT_REQUIRE_ASSETS=1");
        }
        eprintln!("skipped: {reason}");
        return;
    }
    let report = run_conformance(dir, None);
    let failures: Vec<String> = report
        .with_outcome(Outcome::Failed)
        .map(|t| format!("{}: {}", t.name, t.reason.as_deref().unwrap_or("")))
        .collect();
    eprintln!(
        "conformance: passed {}, failed {}, unsupported {}",
        report.passed, report.failed, report.unsupported
    );
    assert!(failures.is_empty(), "failed tests:\n{}", failures.join("\n"));
    // The quantization ops the INT8 engine relies on must all be exercised and pass.
    for op in [
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeLinear",
    ] {
        let tally = report
            .ops
            .get(op)
            .unwrap_or_else(|| panic!("no {op} tests found"));
        assert!(tally.passed > 0 && tally.unsupported == 0, "{op}: {tally:?}");
    }
    assert!(report.passed >= 400, "only {} tests passed", report.passed);
}
