//! Instruction ceilings: register-only loops of the instruction each GEMM is built on
//! (`tdpbusd`, `vpdpbusd`, `vfmadd231ps`), with no loads or stores.
//!
//! On a shared machine every absolute rate drifts with the other tenants and the clock
//! (by a quarter from hour to hour here). A ceiling measured next to a GEMM, in the same
//! run, turns the GEMM's rate into the share of what the core offered at that moment,
//! which is the figure a kernel change can be judged by.

use std::arch::asm;
use std::time::{Duration, Instant};

use crate::int8::microkernels::amx;
use crate::int8::Tier;

/// Operations of one AMX `tdpbusd` on 16×64 u8 by 64×16 i8 tiles: 16·16·64 multiply-adds.
const TDPBUSD_OPS: f64 = 2.0 * 16.0 * 16.0 * 64.0;
/// Operations of one 512-bit `vpdpbusd`: 16 lanes of 4 multiply-adds.
const VPDPBUSD_ZMM_OPS: f64 = 2.0 * 16.0 * 4.0;
/// Operations of one 256-bit `vpdpbusd`: 8 lanes of 4 multiply-adds.
const VPDPBUSD_YMM_OPS: f64 = 2.0 * 8.0 * 4.0;
/// Floating-point operations of one 512-bit `vfmadd231ps`: 16 lanes, multiply and add.
const FMA_ZMM_FLOPS: f64 = 2.0 * 16.0;

/// The INT8 dot-product ceiling of `tier`'s instruction in GOPS on the calling thread,
/// measured for at least `min_time`: AMX `tdpbusd` on four accumulator tiles, or 512-bit
/// (AVX512-VNNI) / 256-bit (AVX-VNNI) `vpdpbusd` on twelve accumulators. `None` for
/// tiers that are unavailable or not built on one dot-product instruction (AVX2, scalar).
pub fn int8_peak_gops(tier: Tier, min_time: Duration) -> Option<f64> {
    if !tier.is_available() {
        return None;
    }
    match tier {
        Tier::Amx => {
            amx::load_tile_config();
            // SAFETY: AMX is available and permitted (checked above) and the tile
            // configuration was just loaded on this thread.
            let rate = rate(4.0 * TDPBUSD_OPS, 10_000, min_time, |n| unsafe {
                tdpbusd_loop(n)
            });
            amx::release_tiles();
            Some(rate)
        }
        // SAFETY: the tiers exist only on CPUs with these instructions (see `isa.rs`).
        Tier::Avx512Vnni => Some(rate(12.0 * VPDPBUSD_ZMM_OPS, 100_000, min_time, |n| unsafe {
            vpdpbusd_zmm_loop(n)
        })),
        Tier::AvxVnni => Some(rate(12.0 * VPDPBUSD_YMM_OPS, 100_000, min_time, |n| unsafe {
            vpdpbusd_ymm_loop(n)
        })),
        Tier::Avx2 | Tier::Scalar => None,
    }
}

/// The f32 FMA ceiling in GFLOP/s on the calling thread (512-bit `vfmadd231ps` on twelve
/// accumulators), measured for at least `min_time`; `None` without AVX-512F.
pub fn f32_peak_gflops(min_time: Duration) -> Option<f64> {
    if !std::is_x86_feature_detected!("avx512f") {
        return None;
    }
    // SAFETY: AVX-512F was detected just above.
    Some(rate(12.0 * FMA_ZMM_FLOPS, 100_000, min_time, |n| unsafe {
        fma_zmm_loop(n)
    }))
}

/// Giga-operations per second of the median of the `run(iterations)` batches (each
/// iteration `ops` operations) run over at least `min_time`, after one untimed warm-up.
///
/// The median, not the mean or the fastest: a batch lasts under a millisecond, so
/// preempted batches (slow) and moments of higher turbo clock (fast; this machine's cores
/// run 3.1 to 3.8 GHz) are both outliers, and the median is the rate of the clock the core
/// ran at for most of the window, which is what a GEMM timed over the same length of time
/// is compared with.
fn rate(ops: f64, iterations: usize, min_time: Duration, mut run: impl FnMut(usize)) -> f64 {
    run(iterations);
    let start = Instant::now();
    let mut batches = Vec::new();
    while batches.is_empty() || start.elapsed() < min_time {
        let batch = Instant::now();
        run(iterations);
        batches.push(batch.elapsed());
    }
    batches.sort_unstable();
    ops * iterations as f64 / batches[batches.len() / 2].as_secs_f64() / 1e9
}

/// Four independent `tdpbusd` per iteration on whatever the tiles hold: their latency is
/// below four times their issue interval, so the loop runs at the issue rate.
///
/// # Safety
/// AMX-INT8 is available and permitted and the tile configuration is loaded.
unsafe fn tdpbusd_loop(iterations: usize) {
    asm!(
        "2:",
        "tdpbusd tmm0, tmm4, tmm6",
        "tdpbusd tmm1, tmm4, tmm7",
        "tdpbusd tmm2, tmm5, tmm6",
        "tdpbusd tmm3, tmm5, tmm7",
        "dec {n}",
        "jnz 2b",
        n = inout(reg) iterations.max(1) => _,
        options(nostack, nomem),
    );
}

/// Defines `unsafe fn $name(iterations)`: twelve independent `$op $r{0..11}, $r12, $r13`
/// per iteration on sources zeroed by `$xor` (zeros also keep FMA off its denormal slow
/// path).
/// Twelve accumulators cover a 4-5 cycle latency at two instructions per cycle.
macro_rules! twelve_accumulator_loop {
    ($(#[$attr:meta])* $name:ident, $features:literal, $xor:literal, $op:literal, $r:literal) => {
        $(#[$attr])*
        #[target_feature(enable = $features)]
        unsafe fn $name(iterations: usize) {
            asm!(
                concat!($xor, " ", $r, "12, ", $r, "12, ", $r, "12"),
                concat!($xor, " ", $r, "13, ", $r, "13, ", $r, "13"),
                "2:",
                concat!($op, " ", $r, "0, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "1, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "2, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "3, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "4, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "5, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "6, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "7, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "8, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "9, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "10, ", $r, "12, ", $r, "13"),
                concat!($op, " ", $r, "11, ", $r, "12, ", $r, "13"),
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iterations.max(1) => _,
                // The zmm registers contain the ymm ones.
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _,
                out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
                out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _,
                options(nostack, nomem),
            );
        }
    };
}

twelve_accumulator_loop!(
    /// 512-bit `vpdpbusd`.
    ///
    /// # Safety
    /// AVX512-VNNI is available.
    vpdpbusd_zmm_loop, "avx512f,avx512vnni", "vpxord", "vpdpbusd", "zmm"
);
twelve_accumulator_loop!(
    /// 256-bit VEX `vpdpbusd`.
    ///
    /// # Safety
    /// AVX-VNNI is available (AVX-512 is not needed: the VEX form only writes ymm).
    vpdpbusd_ymm_loop, "avx2,avxvnni", "vpxor", "{{vex}} vpdpbusd", "ymm"
);
twelve_accumulator_loop!(
    /// 512-bit `vfmadd231ps`.
    ///
    /// # Safety
    /// AVX-512F is available.
    fma_zmm_loop, "avx512f", "vpxord", "vfmadd231ps", "zmm"
);

#[cfg(test)]
mod tests {
    use super::*;

    /// A ceiling exists exactly for the available dot-product tiers, and is positive.
    #[test]
    fn ceilings_exist_for_dot_product_tiers() {
        let time = Duration::from_millis(5);
        for tier in crate::int8::available_tiers() {
            let peak = int8_peak_gops(tier, time);
            match tier {
                Tier::Amx | Tier::Avx512Vnni | Tier::AvxVnni => assert!(peak.unwrap() > 0.0, "{tier}"),
                Tier::Avx2 | Tier::Scalar => assert_eq!(peak, None),
            }
        }
        assert_eq!(
            f32_peak_gflops(time).is_some(),
            std::is_x86_feature_detected!("avx512f")
        );
    }
}
