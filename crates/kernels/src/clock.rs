//! The core's clock, read in user space, and rates measured together with it.
//!
//! This machine's cores change clock with what they run, not only with the load: a loop
//! of `tdpbusd` on registers runs at ~3.1 GHz, but as soon as tile loads feed it the core
//! drops to ~2.5 GHz, and every AMX GEMM must load tiles. An instruction ceiling timed on
//! registers is therefore a rate no GEMM can be held to. Dividing each measured rate by
//! the clock it ran at gives operations per cycle, which compares a GEMM with its
//! instruction's peak whatever clock each was granted. There are no hardware counters in
//! this VM (`perf stat -e cycles` is not supported), so the clock is measured directly.

use std::arch::asm;
use std::time::{Duration, Instant};

/// Dependent 64-bit `imul`s per clock reading: ~16-19 µs, short enough that a reading
/// taken right after a kernel still sees the kernel's clock (after an AMX GEMM it reads
/// ~2.5 GHz, after a register-only `tdpbusd` loop ~3.1, with no drift between readings).
const PROBE_MULTIPLIES: usize = 16_000;
/// Latency of `imul r64, r64` in cycles on every x86-64 core of the last fifteen years.
/// Register-only loops read against this clock reach 96-105% of their instruction's
/// documented peak per cycle (`tdpbusd` 2048, 512-bit `vpdpbusd` 256 operations), which
/// is the check that the reading is right.
const IMUL_LATENCY_CYCLES: f64 = 3.0;

/// The clock the calling core runs at now, in GHz, from the time a chain of dependent
/// multiplies takes.
pub fn core_clock_ghz() -> f64 {
    let start = Instant::now();
    // SAFETY: register arithmetic only.
    unsafe {
        asm!(
            "2:",
            "imul {x}, {x}",
            "imul {x}, {x}",
            "imul {x}, {x}",
            "imul {x}, {x}",
            "imul {x}, {x}",
            "imul {x}, {x}",
            "imul {x}, {x}",
            "imul {x}, {x}",
            "dec {n}",
            "jnz 2b",
            x = inout(reg) 3u64 => _,
            n = inout(reg) PROBE_MULTIPLIES / 8 => _,
            options(nostack, nomem),
        );
    }
    PROBE_MULTIPLIES as f64 * IMUL_LATENCY_CYCLES / start.elapsed().as_secs_f64() / 1e9
}

/// Durations of repeated calls, each followed by a clock reading (not timed).
pub struct TimedCalls {
    durations: Vec<Duration>,
    clocks_ghz: Vec<f64>,
}

/// Runs `call` once untimed, then repeatedly until the calls have taken at least
/// `min_time`, reading the clock after each.
pub fn time_calls(min_time: Duration, mut call: impl FnMut()) -> TimedCalls {
    call();
    let mut timed = TimedCalls {
        durations: Vec::new(),
        clocks_ghz: Vec::new(),
    };
    let mut total = Duration::ZERO;
    while timed.durations.is_empty() || total < min_time {
        let start = Instant::now();
        call();
        let elapsed = start.elapsed();
        total += elapsed;
        timed.durations.push(elapsed);
        timed.clocks_ghz.push(core_clock_ghz());
    }
    timed
}

impl TimedCalls {
    /// Timed calls (the warm-up call is not one).
    pub fn count(&self) -> usize {
        self.durations.len()
    }

    /// Giga-operations per second over all calls together (`ops` per call).
    pub fn mean_rate(&self, ops: f64) -> f64 {
        let total: Duration = self.durations.iter().sum();
        ops * self.durations.len() as f64 / total.as_secs_f64() / 1e9
    }

    /// Giga-operations per second of the median call.
    pub fn median_rate(&self, ops: f64) -> f64 {
        ops / median(self.durations.iter().map(Duration::as_secs_f64)) / 1e9
    }

    /// The median clock reading, in GHz.
    pub fn clock_ghz(&self) -> f64 {
        median(self.clocks_ghz.iter().copied())
    }

    /// Time spent reading the clock, to be left out of CPU-time rates.
    pub fn probe_seconds(&self) -> f64 {
        self.clocks_ghz.len() as f64 * PROBE_MULTIPLIES as f64 * IMUL_LATENCY_CYCLES
            / (self.clock_ghz() * 1e9)
    }
}

/// A rate and the clock it was measured at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockedRate {
    /// Giga-operations per second.
    pub giga_per_second: f64,
    pub clock_ghz: f64,
}

impl ClockedRate {
    pub fn per_cycle(&self) -> f64 {
        self.giga_per_second / self.clock_ghz
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_unstable_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading is a plausible clock for any x86-64 server or desktop core.
    #[test]
    fn clock_reading_is_plausible() {
        let ghz = core_clock_ghz();
        assert!((0.5..8.0).contains(&ghz), "{ghz} GHz");
    }

    /// Every call is timed and followed by a reading; rates follow from the durations.
    #[test]
    fn timed_calls_cover_the_window() {
        let mut count = 0;
        let timed = time_calls(Duration::from_millis(2), || {
            count += 1;
            std::thread::sleep(Duration::from_micros(200));
        });
        assert_eq!(count, timed.durations.len() + 1, "one untimed warm-up call");
        assert!(timed.durations.iter().sum::<Duration>() >= Duration::from_millis(2));
        assert_eq!(timed.clocks_ghz.len(), timed.durations.len());
        // 1e9 operations per call of at least 200 µs: at most 5000 G/s.
        assert!(timed.mean_rate(1e9) <= 5000.0 && timed.median_rate(1e9) <= 5000.0);
        assert!(timed.probe_seconds() > 0.0);
    }
}
