//! A quick GEMM throughput probe per tier, for `lowbit sysinfo --bench` and tuning.
//!
//! Criterion benchmarks live in `benches/int8_gemm.rs`; this is the small in-library
//! measurement the CLI can call without a benchmark harness.

use std::time::Duration;

use super::error::{Int8Error, Result};
use super::gemm::{gemm_u8i8_i32, BZeroPoints};
use super::isa::Tier;
use super::packed::{PackedWeights, WeightLayout};
use crate::clock::time_calls;

/// Measured GEMM throughput in giga-operations per second (2·M·N·K operations per call:
/// one multiply and one add per term).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmThroughput {
    /// Per second of the calls' elapsed time: what a caller sees.
    pub wall_gops: f64,
    /// Per second of CPU time the process used: the rate per busy core, which stays
    /// meaningful when other processes compete for the cores.
    pub cpu_gops: f64,
    /// The core clock the calls ran at (median of readings after each, see `clock.rs`).
    pub clock_ghz: f64,
}

/// Measures `gemm_u8i8_i32` on `tier` for an M×K by K×N product on a private pool of
/// `threads` threads.
///
/// Weights are packed once outside the timed loop, as in inference; A has a nonzero zero
/// point so the correction pass is included. Calls repeat until they have taken
/// `min_time`, after one untimed warm-up call, and the mean rates are returned; the clock
/// readings between calls are left out of both rates.
pub fn measure_gemm_gops(
    tier: Tier,
    (m, n, k): (usize, usize, usize),
    threads: usize,
    min_time: Duration,
) -> Result<GemmThroughput> {
    let a = pseudo_random_bytes(m * k, 1);
    let b: Vec<i8> = pseudo_random_bytes(k * n, 2)
        .into_iter()
        .map(|v| v as i8)
        .collect();
    let packed = PackedWeights::pack(tier, WeightLayout::KByN, k, n, &b)?;
    // A and the output are plain `Vec`s, allocated as the runtime's tensors are: 64-byte
    // aligned under the `lowbit` binary's `CacheAligned` allocator, 16-byte aligned
    // under malloc's.
    let mut out = vec![0i32; m * n];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Int8Error::ThreadPool(e.to_string()))?;
    pool.install(|| {
        let mut call = || gemm_u8i8_i32(m, &a, k, 128, &packed, BZeroPoints::PerTensor(0), &mut out);
        // This call checks the arguments; the same call cannot fail afterwards.
        call()?;
        let cpu_start = process_cpu_seconds();
        let calls = time_calls(min_time, || {
            let _ = call();
        });
        let ops = 2.0 * (m * n * k) as f64;
        let cpu_seconds = process_cpu_seconds() - cpu_start - calls.probe_seconds();
        let wall_gops = calls.mean_rate(ops);
        Ok(GemmThroughput {
            wall_gops,
            // The warm-up call is in the CPU time but not in the count: one call's worth.
            cpu_gops: ops * (calls.count() + 1) as f64 / cpu_seconds.max(1e-9) / 1e9,
            clock_ghz: calls.clock_ghz(),
        })
    })
}

/// CPU time consumed so far by all threads of this process.
fn process_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time consumed so far by the calling thread: the timer for benchmarks that must stay
/// meaningful while other processes compete for the cores.
pub fn thread_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_seconds(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; both CPU-time clocks are always supported on
    // Linux, and on failure `ts` stays zero, which only spoils the figure.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Deterministic bytes from a 64-bit LCG (no `rand` dependency in the library).
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}
