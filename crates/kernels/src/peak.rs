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

/// Giga-operations per second of the fastest of the `run(iterations)` batches (each
/// iteration `ops` operations) run over at least `min_time`, after one untimed warm-up.
///
/// The fastest, not the mean: a batch lasts under a millisecond, so the best one is the
/// rate of a core that nothing preempted, which is what a ceiling means.
fn rate(ops: f64, iterations: usize, min_time: Duration, mut run: impl FnMut(usize)) -> f64 {
    run(iterations);
    let start = Instant::now();
    let mut fastest = Duration::MAX;
    while fastest == Duration::MAX || start.elapsed() < min_time {
        let batch = Instant::now();
        run(iterations);
        fastest = fastest.min(batch.elapsed());
    }
    ops * iterations as f64 / fastest.as_secs_f64() / 1e9
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

/// Twelve independent `vpdpbusd` per iteration: enough to cover a 5-cycle latency at two
/// per cycle.
///
/// # Safety
/// AVX512-VNNI is available.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn vpdpbusd_zmm_loop(iterations: usize) {
    asm!(
        "vpxord zmm12, zmm12, zmm12",
        "vpxord zmm13, zmm13, zmm13",
        "2:",
        "vpdpbusd zmm0, zmm12, zmm13",
        "vpdpbusd zmm1, zmm12, zmm13",
        "vpdpbusd zmm2, zmm12, zmm13",
        "vpdpbusd zmm3, zmm12, zmm13",
        "vpdpbusd zmm4, zmm12, zmm13",
        "vpdpbusd zmm5, zmm12, zmm13",
        "vpdpbusd zmm6, zmm12, zmm13",
        "vpdpbusd zmm7, zmm12, zmm13",
        "vpdpbusd zmm8, zmm12, zmm13",
        "vpdpbusd zmm9, zmm12, zmm13",
        "vpdpbusd zmm10, zmm12, zmm13",
        "vpdpbusd zmm11, zmm12, zmm13",
        "dec {n}",
        "jnz 2b",
        n = inout(reg) iterations.max(1) => _,
        out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _,
        out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
        out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _,
        options(nostack, nomem),
    );
}

/// As [`vpdpbusd_zmm_loop`] with the 256-bit VEX form (half the operations each).
///
/// # Safety
/// AVX-VNNI is available.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn vpdpbusd_ymm_loop(iterations: usize) {
    asm!(
        "vpxor ymm12, ymm12, ymm12",
        "vpxor ymm13, ymm13, ymm13",
        "2:",
        "{{vex}} vpdpbusd ymm0, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm1, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm2, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm3, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm4, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm5, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm6, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm7, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm8, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm9, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm10, ymm12, ymm13",
        "{{vex}} vpdpbusd ymm11, ymm12, ymm13",
        "dec {n}",
        "jnz 2b",
        n = inout(reg) iterations.max(1) => _,
        out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _,
        out("ymm5") _, out("ymm6") _, out("ymm7") _, out("ymm8") _, out("ymm9") _,
        out("ymm10") _, out("ymm11") _, out("ymm12") _, out("ymm13") _,
        options(nostack, nomem),
    );
}

/// Twelve independent `vfmadd231ps` per iteration on zeros (no denormal slow path):
/// enough to cover a 4-cycle latency at two per cycle.
///
/// # Safety
/// AVX-512F is available.
#[target_feature(enable = "avx512f")]
unsafe fn fma_zmm_loop(iterations: usize) {
    asm!(
        "vpxord zmm12, zmm12, zmm12",
        "vpxord zmm13, zmm13, zmm13",
        "2:",
        "vfmadd231ps zmm0, zmm12, zmm13",
        "vfmadd231ps zmm1, zmm12, zmm13",
        "vfmadd231ps zmm2, zmm12, zmm13",
        "vfmadd231ps zmm3, zmm12, zmm13",
        "vfmadd231ps zmm4, zmm12, zmm13",
        "vfmadd231ps zmm5, zmm12, zmm13",
        "vfmadd231ps zmm6, zmm12, zmm13",
        "vfmadd231ps zmm7, zmm12, zmm13",
        "vfmadd231ps zmm8, zmm12, zmm13",
        "vfmadd231ps zmm9, zmm12, zmm13",
        "vfmadd231ps zmm10, zmm12, zmm13",
        "vfmadd231ps zmm11, zmm12, zmm13",
        "dec {n}",
        "jnz 2b",
        n = inout(reg) iterations.max(1) => _,
        out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _,
        out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
        out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _,
        options(nostack, nomem),
    );
}

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
