//! GEMM throughput per tier on one thread. Ignored by default (they time, they do not
//! test); run with `cargo test --release -p lowbit-kernels --test int8_gops -- --ignored --nocapture`.
//!
//! - `print_gemm_gops_per_tier`: the library's probe (`bench::measure_gemm_gops`, mean
//!   rate over `LOWBIT_GOPS_SECONDS`, default 1).
//! - `print_best_gemm_gops_per_tier`: the best of `LOWBIT_GOPS_REPEATS` (default 30) calls
//!   timed by this thread's CPU time, which stays meaningful on a loaded machine, for
//!   plain `Vec` buffers and for 64-byte aligned ones (which let the AMX tier read A in
//!   place instead of packing it, and stream large outputs without realigning them).

use std::time::Duration;

use lowbit_kernels::int8::{
    available_tiers,
    bench::{measure_gemm_gops, thread_cpu_seconds},
    gemm_kernel_name, gemm_u8i8_i32, BZeroPoints, PackedWeights, Tier, WeightLayout,
};

const SHAPES: [(usize, usize, usize); 3] = [(1024, 1024, 1024), (3136, 64, 576), (196, 256, 2304)];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "timing run, not a test"]
fn print_gemm_gops_per_tier() {
    let seconds: f64 = env_or("LOWBIT_GOPS_SECONDS", 1.0);
    for (m, n, k) in SHAPES {
        for tier in available_tiers() {
            let rate = measure_gemm_gops(tier, (m, n, k), 1, Duration::from_secs_f64(seconds)).unwrap();
            println!(
                "M={m:5} N={n:5} K={k:5} {:28} {:8.1} GOPS wall {:8.1} GOPS per CPU-second at {:.2} GHz",
                gemm_kernel_name(tier),
                rate.wall_gops,
                rate.cpu_gops,
                rate.clock_ghz
            );
        }
    }
}

#[test]
#[ignore = "timing run, not a test"]
fn print_best_gemm_gops_per_tier() {
    let repeats: usize = env_or("LOWBIT_GOPS_REPEATS", 30);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        for (m, n, k) in SHAPES {
            for tier in available_tiers() {
                let plain = best_gops(tier, (m, n, k), false, repeats);
                let aligned = best_gops(tier, (m, n, k), true, repeats);
                println!(
                    "M={m:5} N={n:5} K={k:5} {:28} best {:8.1} GOPS per CPU-second (Vec buffers), {:8.1} (64-byte aligned)",
                    gemm_kernel_name(tier),
                    plain,
                    aligned
                );
            }
        }
    });
}

/// One cache line; `Vec`s of these are 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// The highest rate of `repeats` timed calls (after one warm-up), with operands as in
/// `bench::measure_gemm_gops` (za = 128, zb = 0).
fn best_gops(tier: Tier, (m, n, k): (usize, usize, usize), aligned: bool, repeats: usize) -> f64 {
    let b: Vec<i8> = (0..k * n).map(|i| (i * 7 + i / 5) as i8).collect();
    let packed = PackedWeights::pack(tier, WeightLayout::KByN, k, n, &b).unwrap();
    let a_plain: Vec<u8> = (0..m * k).map(|i| (i * 13 + i / 3) as u8).collect();
    let mut a_lines = vec![Line([0; 64]); (m * k).div_ceil(64)];
    let mut out_plain = vec![0i32; m * n];
    let mut out_lines = vec![Line([0; 64]); (m * n * 4).div_ceil(64)];
    let (a, out): (&[u8], &mut [i32]) = if aligned {
        // SAFETY: `Line` is 64 plain bytes without padding, so the lines are at least
        // `m·k` initialised bytes.
        let a = unsafe { std::slice::from_raw_parts_mut(a_lines.as_mut_ptr().cast::<u8>(), m * k) };
        a.copy_from_slice(&a_plain);
        // SAFETY: as above, `m·n` i32s, aligned to 64 bytes (more than i32 needs).
        let out = unsafe { std::slice::from_raw_parts_mut(out_lines.as_mut_ptr().cast::<i32>(), m * n) };
        (a, out)
    } else {
        (&a_plain, &mut out_plain)
    };
    let mut call = || gemm_u8i8_i32(m, a, k, 128, &packed, BZeroPoints::PerTensor(0), out).unwrap();
    call();
    let best = (0..repeats)
        .map(|_| {
            let start = thread_cpu_seconds();
            call();
            thread_cpu_seconds() - start
        })
        .fold(f64::INFINITY, f64::min);
    2.0 * (m * n * k) as f64 / best.max(1e-9) / 1e9
}
