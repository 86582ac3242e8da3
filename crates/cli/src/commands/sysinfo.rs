//! `lowbit sysinfo`: CPU features, kernel tiers, and (with `--bench`) GEMM throughput
//! next to the ceiling of its instruction, measured in the same run, each with the core
//! clock it ran at (the core runs AMX GEMMs at a lower clock than a register-only
//! `tdpbusd` loop, so shares are taken per cycle; see `kernels/src/clock.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use lowbit::kernels::clock::ClockedRate;
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
    #[serde(flatten)]
    bench: Option<BenchReport>,
}

/// What `--bench` measured: rates keyed by tier, and the clock each ran at.
#[derive(Serialize)]
struct BenchReport {
    gemm_u8s8_gops: BTreeMap<&'static str, f64>,
    gemm_f32_gflops: f64,
    /// Register-only rate of each tier's dot-product instruction, measured right before
    /// its GEMM (tiers without one are absent).
    peak_u8s8_gops: BTreeMap<&'static str, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_f32_gflops: Option<f64>,
    /// `tdpbusd` fed by tile loads from L1, as a GEMM feeds it (AMX only).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_amx_fed_gops: Option<f64>,
    clock_ghz: Clocks,
    /// GEMM operations per cycle over its instruction's register-only peak per cycle.
    share_per_cycle: BTreeMap<&'static str, f64>,
}

#[derive(Serialize)]
struct Clocks {
    gemm_u8s8: BTreeMap<&'static str, f64>,
    gemm_f32: f64,
    peak_u8s8: BTreeMap<&'static str, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_f32: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_amx_fed: Option<f64>,
}

/// One GEMM and its instruction ceiling, as measured.
struct Measured {
    /// The int8 tier, or `None` for the f32 GEMM.
    tier: Option<int8::Tier>,
    gemm: ClockedRate,
    peak: Option<ClockedRate>,
}

impl Measured {
    /// The row's name in the tables.
    fn what(&self) -> String {
        match self.tier {
            Some(tier) => format!("u8s8 {}", tier.name()),
            None => "f32".to_string(),
        }
    }

    fn unit(&self) -> &'static str {
        if self.tier.is_some() {
            "GOPS"
        } else {
            "GFLOP/s"
        }
    }
}

pub fn run(args: SysinfoArgs, json: bool) -> anyhow::Result<()> {
    let info = sysinfo();
    let measured = if args.bench {
        Some(bench(Duration::from_millis(args.millis))?)
    } else {
        None
    };
    let report = SysinfoReport {
        info,
        bench: measured.as_ref().map(|(rows, fed)| bench_report(rows, *fed)),
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
    if let Some((rows, amx_fed)) = &measured {
        println!();
        print_gemm_table(rows);
        println!();
        print_ceiling_table(rows, *amx_fed);
    }
    Ok(())
}

/// Each available int8 tier's GEMM after its ceiling, then f32, with `time` each; and the
/// AMX loop fed by tile loads.
fn bench(time: Duration) -> anyhow::Result<(Vec<Measured>, Option<ClockedRate>)> {
    let size = (PROBE_SIZE, PROBE_SIZE, PROBE_SIZE);
    let mut rows = Vec::new();
    for tier in int8::available_tiers() {
        let peak = peak::int8_peak_gops(tier, time);
        let gemm = int8::bench::measure_gemm_gops(tier, size, 1, time)?;
        rows.push(Measured {
            tier: Some(tier),
            gemm: ClockedRate {
                giga_per_second: gemm.wall_gops,
                clock_ghz: gemm.clock_ghz,
            },
            peak,
        });
    }
    let peak = peak::f32_peak_gflops(time);
    rows.push(Measured {
        tier: None,
        gemm: measure_f32_gemm_gflops(PROBE_SIZE, time),
        peak,
    });
    Ok((rows, peak::amx_fed_peak_gops(time)))
}

fn bench_report(rows: &[Measured], amx_fed: Option<ClockedRate>) -> BenchReport {
    let f32_row = rows
        .iter()
        .find(|m| m.tier.is_none())
        .expect("the f32 GEMM is measured");
    let by_tier = |value: fn(&Measured) -> Option<f64>| -> BTreeMap<&'static str, f64> {
        rows.iter()
            .filter_map(|m| Some((m.tier?.name(), value(m)?)))
            .collect()
    };
    let mut shares = by_tier(share_per_cycle);
    if let Some(share) = share_per_cycle(f32_row) {
        shares.insert("f32", share);
    }
    BenchReport {
        gemm_u8s8_gops: by_tier(|m| Some(m.gemm.giga_per_second)),
        gemm_f32_gflops: f32_row.gemm.giga_per_second,
        peak_u8s8_gops: by_tier(|m| Some(m.peak?.giga_per_second)),
        peak_f32_gflops: f32_row.peak.map(|p| p.giga_per_second),
        peak_amx_fed_gops: amx_fed.map(|p| p.giga_per_second),
        clock_ghz: Clocks {
            gemm_u8s8: by_tier(|m| Some(m.gemm.clock_ghz)),
            gemm_f32: f32_row.gemm.clock_ghz,
            peak_u8s8: by_tier(|m| Some(m.peak?.clock_ghz)),
            peak_f32: f32_row.peak.map(|p| p.clock_ghz),
            peak_amx_fed: amx_fed.map(|p| p.clock_ghz),
        },
        share_per_cycle: shares,
    }
}

/// The GEMM's operations per cycle as a share of its instruction's peak per cycle.
fn share_per_cycle(m: &Measured) -> Option<f64> {
    Some(m.gemm.per_cycle() / m.peak?.per_cycle())
}

fn print_gemm_table(rows: &[Measured]) {
    let mut t = Table::new([
        "gemm 1024³, 1 thread",
        "throughput",
        "clock",
        "ceiling at that clock",
        "share",
    ]);
    for m in rows {
        let (ceiling, share) = match (m.peak, share_per_cycle(m)) {
            (Some(p), Some(share)) => (
                format!("{:.0} {}", p.per_cycle() * m.gemm.clock_ghz, m.unit()),
                format!("{:.0}%", 100.0 * share),
            ),
            _ => ("-".to_string(), "-".to_string()),
        };
        t.row([
            m.what(),
            format!("{:.0} {}", m.gemm.giga_per_second, m.unit()),
            format!("{:.2} GHz", m.gemm.clock_ghz),
            ceiling,
            share,
        ]);
    }
    t.print();
    println!("(ceiling: the instruction's peak per cycle, on registers, times the GEMM's clock)");
}

fn print_ceiling_table(rows: &[Measured], amx_fed: Option<ClockedRate>) {
    let mut t = Table::new(["instruction loop, same run", "rate", "clock", "per cycle"]);
    let mut row = |what: String, rate: ClockedRate, unit: &str| {
        t.row([
            what,
            format!("{:.0} {unit}", rate.giga_per_second),
            format!("{:.2} GHz", rate.clock_ghz),
            format!("{:.0}", rate.per_cycle()),
        ]);
    };
    for m in rows {
        if let Some(p) = m.peak {
            row(format!("{}, registers", m.what()), p, m.unit());
        }
    }
    if let Some(fed) = amx_fed {
        row("u8s8 amx, fed by tile loads from L1".to_string(), fed, "GOPS");
    }
    t.print();
}
