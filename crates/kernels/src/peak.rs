//! Instruction ceilings: loops of the instruction each GEMM is built on (`tdpbusd`,
//! `vpdpbusd`, `vfmadd231ps`), each timed with the clock it ran at.
//!
//! On a shared machine every absolute rate drifts with the other tenants and the clock
//! (by a quarter from hour to hour here). A ceiling measured next to a GEMM, in the same
//! run, turns the GEMM's rate into the share of what the core offered at that moment,
//! which is the figure a kernel change can be judged by; per cycle, that share no longer
//! depends on which clock each loop was granted (see `clock.rs`).
//!
//! The register-only loops give each instruction's peak per cycle. For AMX there is also
//! a loop fed by tile loads from L1, one per `tdpbusd` as in a GEMM on 2×2 tiles (the most
//! reuse eight tile registers allow): it shows the clock and rate the core grants any
//! AMX code that loads its operands.

use std::arch::asm;
use std::time::Duration;

use crate::clock::{time_calls, ClockedRate};
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
/// (AVX512-VNNI) / 256-bit (AVX-VNNI) `vpdpbusd` on twelve accumulators, all on
/// registers. `None` for tiers that are unavailable or not built on one dot-product
/// instruction (AVX2, scalar).
pub fn int8_peak_gops(tier: Tier, min_time: Duration) -> Option<ClockedRate> {
    if !tier.is_available() {
        return None;
    }
    match tier {
        // SAFETY: AMX is available and permitted (checked above); `with_tiles` loads the
        // tile configuration.
        Tier::Amx => Some(with_tiles(|| {
            rate(4.0 * TDPBUSD_OPS, 10_000, min_time, |n| unsafe {
                tdpbusd_loop(n)
            })
        })),
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

/// `tdpbusd` on four accumulator tiles fed by four tile loads per four `tdpbusd` from an
/// L1-resident buffer (`None` without AMX), measured for at least `min_time`.
pub fn amx_fed_peak_gops(min_time: Duration) -> Option<ClockedRate> {
    if !Tier::Amx.is_available() {
        return None;
    }
    let tiles = FedTiles([0x5a; 4096]);
    // SAFETY: as for `int8_peak_gops`; `tiles` holds the four kilobyte tiles read.
    Some(with_tiles(|| {
        rate(4.0 * TDPBUSD_OPS, 10_000, min_time, |n| unsafe {
            fed_tdpbusd_loop(n, &tiles)
        })
    }))
}

/// The f32 FMA ceiling in GFLOP/s on the calling thread (512-bit `vfmadd231ps` on twelve
/// accumulators), measured for at least `min_time`; `None` without AVX-512F.
pub fn f32_peak_gflops(min_time: Duration) -> Option<ClockedRate> {
    if !std::is_x86_feature_detected!("avx512f") {
        return None;
    }
    // SAFETY: AVX-512F was detected just above.
    Some(rate(12.0 * FMA_ZMM_FLOPS, 100_000, min_time, |n| unsafe {
        fma_zmm_loop(n)
    }))
}

/// Runs `measure` with the AMX tile configuration loaded, and releases the tiles after.
/// Only called once AMX is known to be available and permitted.
fn with_tiles(measure: impl FnOnce() -> ClockedRate) -> ClockedRate {
    amx::load_tile_config();
    let rate = measure();
    amx::release_tiles();
    rate
}

/// The median rate of `run(iterations)` batches (each iteration `ops` operations) run
/// over at least `min_time` after one untimed warm-up, and the median clock after them.
///
/// The median, not the mean or the fastest: a batch lasts under a millisecond, so
/// preempted batches (slow) and moments of higher turbo clock (fast; this machine's cores
/// run 2.4 to 3.8 GHz) are both outliers, and the median is the rate of the clock the core
/// ran at for most of the window, which is what a GEMM timed over the same length of time
/// is compared with.
fn rate(ops: f64, iterations: usize, min_time: Duration, mut run: impl FnMut(usize)) -> ClockedRate {
    let batches = time_calls(min_time, || run(iterations));
    ClockedRate {
        giga_per_second: batches.median_rate(ops * iterations as f64),
        clock_ghz: batches.clock_ghz(),
    }
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

/// The four A and B tiles `fed_tdpbusd_loop` reloads, each a contiguous kilobyte.
#[repr(C, align(64))]
struct FedTiles([u8; 4096]);

/// [`tdpbusd_loop`] with each source tile reloaded right after its last use in an
/// iteration, in the order of the GEMM kernel's pipelined K step (`microkernels/amx.rs`):
/// two A tiles with `tileloadd`, two B tiles with `tileloaddt1`.
///
/// # Safety
/// As for [`tdpbusd_loop`].
unsafe fn fed_tdpbusd_loop(iterations: usize, tiles: &FedTiles) {
    let base = tiles.0.as_ptr();
    asm!(
        "2:",
        "tdpbusd tmm0, tmm4, tmm6",
        "tdpbusd tmm2, tmm5, tmm6",
        "tileloaddt1 tmm6, [{b0} + {s}]",
        "tdpbusd tmm1, tmm4, tmm7",
        "tileloadd tmm4, [{a0} + {s}]",
        "tdpbusd tmm3, tmm5, tmm7",
        "tileloaddt1 tmm7, [{b1} + {s}]",
        "tileloadd tmm5, [{a1} + {s}]",
        "dec {n}",
        "jnz 2b",
        a0 = in(reg) base, a1 = in(reg) base.add(1024),
        b0 = in(reg) base.add(2048), b1 = in(reg) base.add(3072),
        s = in(reg) 64usize,
        n = inout(reg) iterations.max(1) => _,
        options(nostack, readonly),
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
                Tier::Amx | Tier::Avx512Vnni | Tier::AvxVnni => {
                    let peak = peak.unwrap();
                    assert!(peak.giga_per_second > 0.0 && peak.clock_ghz > 0.0, "{tier}");
                }
                Tier::Avx2 | Tier::Scalar => assert_eq!(peak, None),
            }
        }
        assert_eq!(amx_fed_peak_gops(time).is_some(), Tier::Amx.is_available());
        assert_eq!(
            f32_peak_gflops(time).is_some(),
            std::is_x86_feature_detected!("avx512f")
        );
    }
}
