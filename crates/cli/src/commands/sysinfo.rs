//! `lowbit sysinfo`: CPU features, kernel tiers, and (with `--bench`) GEMM throughput.

use std::collections::BTreeMap;
use std::time::Duration;

use lowbit::kernels::int8;
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
}

pub fn run(args: SysinfoArgs, json: bool) -> anyhow::Result<()> {
    let info = sysinfo();
    let (mut gemm_u8s8_gops, mut gemm_f32_gflops) = (None, None);
    if args.bench {
        let time = Duration::from_millis(args.millis);
        let mut per_tier = BTreeMap::new();
        for tier in int8::available_tiers() {
            let measured =
                int8::bench::measure_gemm_gops(tier, (PROBE_SIZE, PROBE_SIZE, PROBE_SIZE), 1, time)?;
            per_tier.insert(tier.name(), measured.wall_gops);
        }
        gemm_u8s8_gops = Some(per_tier);
        gemm_f32_gflops = Some(measure_f32_gemm_gflops(PROBE_SIZE, time));
    }
    let report = SysinfoReport {
        info,
        gemm_u8s8_gops,
        gemm_f32_gflops,
    };
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
    if let (Some(int8), Some(f32)) = (&report.gemm_u8s8_gops, report.gemm_f32_gflops) {
        println!();
        let mut t = Table::new(["gemm 1024³, 1 thread", "throughput"]);
        for tier in int8::available_tiers() {
            t.row([
                format!("u8s8 {}", tier.name()),
                format!("{:.0} GOPS", int8[tier.name()]),
            ]);
        }
        t.row(["f32".to_string(), format!("{f32:.0} GFLOP/s")]);
        t.print();
    }
    Ok(())
}
