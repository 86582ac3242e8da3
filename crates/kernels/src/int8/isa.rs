//! CPU feature probing and the choice of INT8 kernel tier.
//!
//! Features are probed once and cached. AMX needs, besides the CPUID bits, a one-time
//! permission from Linux (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`) before any
//! tile instruction may run; without it the first `tileloadd` kills the process with SIGILL.
//! The permission is per process, so asking once here covers every thread.
//!
//! `LOWBIT_ISA=amx|avx512vnni|avxvnni|avx2|scalar` caps the selected tier. An unknown
//! value or a tier this CPU lacks is logged as a warning and the best available tier at or
//! below the request is used instead: the variable can lower the tier, never crash.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// INT8 kernel tiers, weakest first so that `Ord` ranks them (`Amx` is the best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Plain Rust; the reference every other tier must match bit for bit.
    Scalar,
    /// AVX2 `vpmaddwd` on inputs widened to i16 (exact, unlike `vpmaddubsw`).
    Avx2,
    /// VEX-encoded 256-bit `vpdpbusd`.
    AvxVnni,
    /// 512-bit `vpdpbusd`.
    Avx512Vnni,
    /// AMX tiles, `tdpbusd`. Only offered where the AVX-512 tier is available too.
    Amx,
}

/// Every tier, best first.
pub const ALL_TIERS: [Tier; 5] = [
    Tier::Amx,
    Tier::Avx512Vnni,
    Tier::AvxVnni,
    Tier::Avx2,
    Tier::Scalar,
];

impl Tier {
    /// Short lower-case name used in logs, kernel names, the CLI and `LOWBIT_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::Avx2 => "avx2",
            Tier::AvxVnni => "avxvnni",
            Tier::Avx512Vnni => "avx512vnni",
            Tier::Amx => "amx",
        }
    }

    /// Whether this CPU (and OS) can run the tier's kernels.
    pub fn is_available(self) -> bool {
        probe().available.contains(&self)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text was not the name of a tier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ISA tier `{0}` (expected one of amx, avx512vnni, avxvnni, avx2, scalar)")]
pub struct UnknownTier(pub String);

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        ALL_TIERS
            .into_iter()
            .find(|t| t.name() == wanted)
            .ok_or_else(|| UnknownTier(s.to_string()))
    }
}

/// The tiers this machine can run, best first (always ends with `Scalar`).
pub fn available_tiers() -> Vec<Tier> {
    probe().available.clone()
}

/// The tier kernels use when the caller does not name one: the best available tier,
/// capped by `LOWBIT_ISA` when set.
pub fn selected_tier() -> Tier {
    *SELECTED.get_or_init(|| {
        let best = probe().available[0];
        let chosen = match std::env::var("LOWBIT_ISA") {
            Ok(value) => cap_by_request(&value, &probe().available),
            Err(_) => best,
        };
        log::info!(
            "lowbit int8: available tiers [{}], selected {}",
            names(&probe().available),
            chosen
        );
        chosen
    })
}

static SELECTED: OnceLock<Tier> = OnceLock::new();

/// Resolves a `LOWBIT_ISA` value against the available tiers (best first).
fn cap_by_request(value: &str, available: &[Tier]) -> Tier {
    let best = available[0];
    match value.parse::<Tier>() {
        Err(err) => {
            log::warn!("LOWBIT_ISA: {err}; using {best}");
            best
        }
        Ok(requested) => {
            let chosen = available
                .iter()
                .copied()
                .find(|t| *t <= requested)
                .unwrap_or(Tier::Scalar);
            if chosen != requested {
                log::warn!("LOWBIT_ISA={requested} is not available on this CPU; using {chosen}");
            }
            chosen
        }
    }
}

fn names(tiers: &[Tier]) -> String {
    tiers.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}

struct Probe {
    available: Vec<Tier>,
}

fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        let mut available = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vnni");
            if avx512 && amx_int8_usable() {
                available.push(Tier::Amx);
            }
            if avx512 {
                available.push(Tier::Avx512Vnni);
            }
            let avx2 = std::is_x86_feature_detected!("avx2");
            if avx2 && std::is_x86_feature_detected!("avxvnni") {
                available.push(Tier::AvxVnni);
            }
            if avx2 {
                available.push(Tier::Avx2);
            }
        }
        available.push(Tier::Scalar);
        log::debug!("lowbit int8: CPU probe found tiers [{}]", names(&available));
        Probe { available }
    })
}

/// CPUID says AMX-TILE and AMX-INT8 exist and Linux granted this process tile data.
///
/// `is_x86_feature_detected!("amx-int8")` is still unstable, hence the raw CPUID read.
#[cfg(target_arch = "x86_64")]
fn amx_int8_usable() -> bool {
    use std::arch::x86_64::__cpuid_count;
    // CPUID.(EAX=7,ECX=0):EDX bit 24 = AMX-TILE, bit 25 = AMX-INT8.
    let leaf7 = __cpuid_count(7, 0);
    let has_tile = leaf7.edx & (1 << 24) != 0;
    let has_int8 = leaf7.edx & (1 << 25) != 0;
    has_tile && has_int8 && request_amx_permission()
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_amx_permission() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM only changes this process's XSAVE
    // permission set; it reads and writes no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) };
    if rc != 0 {
        log::warn!(
            "lowbit int8: CPU has AMX but the kernel refused tile permission ({}); AMX disabled",
            std::io::Error::last_os_error()
        );
    }
    rc == 0
}

#[cfg(all(target_arch = "x86_64", not(target_os = "linux")))]
fn request_amx_permission() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for tier in ALL_TIERS {
            assert_eq!(tier.name().parse::<Tier>().unwrap(), tier);
        }
        assert!("avx512".parse::<Tier>().is_err());
        assert!(Tier::Amx > Tier::Avx512Vnni && Tier::Avx2 > Tier::Scalar);
    }

    #[test]
    fn request_caps_to_an_available_tier() {
        let avail = [Tier::Avx512Vnni, Tier::Avx2, Tier::Scalar];
        assert_eq!(cap_by_request("amx", &avail), Tier::Avx512Vnni);
        assert_eq!(cap_by_request("avxvnni", &avail), Tier::Avx2);
        assert_eq!(cap_by_request("SCALAR", &avail), Tier::Scalar);
        assert_eq!(cap_by_request("bogus", &avail), Tier::Avx512Vnni);
    }

    #[test]
    fn scalar_is_always_available_and_last() {
        let tiers = available_tiers();
        assert_eq!(tiers.last(), Some(&Tier::Scalar));
        assert!(tiers.windows(2).all(|w| w[0] > w[1]));
        assert!(tiers.contains(&selected_tier()));
    }
}
