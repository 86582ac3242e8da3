//! `lowbit sysinfo`: CPU features, kernel tiers, and (with `--bench`) GEMM throughput
//! next to the ceiling of its instruction, measured in the same run.

use std::collections::BTreeMap;
use std::time::Duration;

use lowbit::kernels::{int8, peak};
use lowbit::sysinfo::{measure_f32_gemm_gflops, sysinfo, SysInfo};
use serde::Serialize;

use crate::args::SysinfoArgs;
use crate::output::{print_json, Table};

/// GEMM size of the throughput probe (M = N = K), one thread.
const PROBE_SIZE: usize = 1024;

#[derive(Serialize)]
struct SysinfoReport {
    #[serde(flatten)]
    info: SysInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    gemm_u8s8_gops: Option<BTreeMap<&'static str, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gemm_f32_gflops: Option<f64>,
    /// Register-only rate of each tier's dot-product instruction, measured right before
    /// its GEMM (tiers without one are absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_u8s8_gops: Option<BTreeMap<&'static str, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_f32_gflops: Option<f64>,
}

pub fn run(args: SysinfoArgs, json: bool) -> anyhow::Result<()> {
    let info = sysinfo();
    let mut report = SysinfoReport {
        info,
        gemm_u8s8_gops: None,
        gemm_f32_gflops: None,
        peak_u8s8_gops: None,
        peak_f32_gflops: None,
    };
    if args.bench {
        let time = Duration::from_millis(args.millis);
        let (mut gemm, mut peaks) = (BTreeMap::new(), BTreeMap::new());
        for tier in int8::available_tiers() {
            if let Some(p) = peak::int8_peak_gops(tier, time) {
                peaks.insert(tier.name(), p);
            }
            let measured =
                int8::bench::measure_gemm_gops(tier, (PROBE_SIZE, PROBE_SIZE, PROBE_SIZE), 1, time)?;
            gemm.insert(tier.name(), measured.wall_gops);
        }
        report.gemm_u8s8_gops = Some(gemm);
        report.peak_u8s8_gops = Some(peaks);
        report.peak_f32_gflops = peak::f32_peak_gflops(time);
        report.gemm_f32_gflops = Some(measure_f32_gemm_gflops(PROBE_SIZE, time));
    }
    if json {
        return print_json(&report);
    }
    let info = &report.info;
    println!("cpu        {} ({} cores)", info.cpu, info.cores);
    println!("features   {}", info.features.join(" "));
    println!("int8 tiers {}", info.isa_tiers.join(" > "));
    println!();
    let mut kernels = Table::new(["kernel family", "tier", "kernel"]);
    for k in &info.kernels {
        kernels.row([k.family, k.tier.as_str(), k.kernel.as_str()]);
    }
    kernels.print();
    if let (Some(int8), Some(peaks), Some(f32)) = (
        &report.gemm_u8s8_gops,
        &report.peak_u8s8_gops,
        report.gemm_f32_gflops,
    ) {
        println!();
        let mut t = Table::new(["gemm 1024³, 1 thread", "throughput", "ceiling", "share"]);
        for tier in int8::available_tiers() {
            let (rate, ceiling) = (int8[tier.name()], peaks.get(tier.name()).copied());
            t.row(throughput_row(
                format!("u8s8 {}", tier.name()),
                rate,
                ceiling,
                "GOPS",
            ));
        }
        t.row(throughput_row(
            "f32".to_string(),
            f32,
            report.peak_f32_gflops,
            "GFLOP/s",
        ));
        t.print();
        println!("(ceiling: the tier's dot-product or FMA instruction alone, on registers, same run)");
    }
    Ok(())
}

/// A table row: what ran, its rate, the instruction ceiling and the share of it.
fn throughput_row(what: String, rate: f64, ceiling: Option<f64>, unit: &str) -> [String; 4] {
    let (ceiling, share) = match ceiling {
        Some(c) => (format!("{c:.0} {unit}"), format!("{:.0}%", 100.0 * rate / c)),
        None => ("-".to_string(), "-".to_string()),
    };
    [what, format!("{rate:.0} {unit}"), ceiling, share]
}
