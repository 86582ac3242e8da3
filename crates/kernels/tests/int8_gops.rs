//! GEMM throughput per tier on one thread. Ignored by default (it times, it does not
//! test); run with `cargo test --release -p lowbit-kernels --test int8_gops -- --ignored --nocapture`.
//! `LOWBIT_GOPS_SECONDS` sets the time per measurement (default 1).

use std::time::Duration;

use lowbit_kernels::int8::{available_tiers, bench::measure_gemm_gops, gemm_kernel_name};

#[test]
#[ignore = "timing run, not a test"]
fn print_gemm_gops_per_tier() {
    let seconds: f64 = std::env::var("LOWBIT_GOPS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    for (m, n, k) in [(1024, 1024, 1024), (3136, 64, 576), (196, 256, 2304)] {
        for tier in available_tiers() {
            let rate = measure_gemm_gops(tier, (m, n, k), 1, Duration::from_secs_f64(seconds)).unwrap();
            println!(
                "M={m:5} N={n:5} K={k:5} {:28} {:8.1} GOPS wall {:8.1} GOPS per CPU-second",
                gemm_kernel_name(tier),
                rate.wall_gops,
                rate.cpu_gops
            );
        }
    }
}
