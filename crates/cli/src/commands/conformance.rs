//! `lowbit conformance`: ONNX node tests, counted per op.

use lowbit::conformance::{run_conformance, ConformanceReport, Outcome};
use serde::Serialize;

use crate::args::ConformanceArgs;
use crate::output::{print_json, Table};

#[derive(Serialize)]
struct ConformanceJson<'a> {
    #[serde(flatten)]
    report: &'a ConformanceReport,
    failed_tests: Vec<&'a str>,
    unsupported_tests: Vec<&'a str>,
}

pub fn run(args: ConformanceArgs, json: bool) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        anyhow::bail!("{}: not a directory of ONNX node tests", args.dir.display());
    }
    let report = run_conformance(&args.dir, args.filter.as_deref());
    let names = |outcome| report.with_outcome(outcome).map(|t| t.name.as_str()).collect();
    if json {
        return print_json(&ConformanceJson {
            report: &report,
            failed_tests: names(Outcome::Failed),
            unsupported_tests: names(Outcome::Unsupported),
        });
    }
    let mut table = Table::new(["op", "passed", "failed", "unsupported"]);
    for (op, tally) in &report.ops {
        table.row([
            op.clone(),
            tally.passed.to_string(),
            tally.failed.to_string(),
            tally.unsupported.to_string(),
        ]);
    }
    table.print();
    println!(
        "\npassed {}, failed {}, unsupported {}",
        report.passed, report.failed, report.unsupported
    );
    if args.verbose {
        for test in report.tests.iter().filter(|t| t.outcome != Outcome::Passed) {
            let outcome = if test.outcome == Outcome::Failed {
                "failed"
            } else {
                "unsupported"
            };
            println!(
                "{outcome:<11} {}: {}",
                test.name,
                test.reason.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}
