//! What this machine offers lowbit's kernels, and how fast they run on it.

use std::time::Duration;

use lowbit_kernels::clock::{time_calls, ClockedRate};
use lowbit_kernels::int8::ops::{ConvGeometry, OutputType, QConv2d, QConvParams};
use lowbit_kernels::int8::requant::PerChannel;
use lowbit_kernels::int8::{self, Tier};
use serde::Serialize;

/// CPU flags (as /proc/cpuinfo spells them) the kernels care about, in reading order.
const FEATURES: [&str; 8] = [
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
];

#[derive(Debug, Clone, Serialize)]
pub struct KernelChoice {
    pub family: &'static str,
    pub tier: String,
    pub kernel: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SysInfo {
    pub cpu: String,
    pub cores: usize,
    pub features: Vec<&'static str>,
    /// INT8 tiers this CPU can run, best first.
    pub isa_tiers: Vec<&'static str>,
    pub kernels: Vec<KernelChoice>,
}

pub fn sysinfo() -> SysInfo {
    let tier = int8::selected_tier();
    let (cpu, flags) = cpu_model_and_flags();
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    let f32_tier = if has("avx512f") && has("fma") {
        "avx512"
    } else if has("avx2") && has("fma") {
        "avx2"
    } else {
        "scalar"
    };
    SysInfo {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        features: FEATURES.into_iter().filter(|f| has(f)).collect(),
        isa_tiers: int8::available_tiers().into_iter().map(Tier::name).collect(),
        kernels: vec![
            KernelChoice {
                family: "int8 gemm u8s8",
                tier: tier.name().to_string(),
                kernel: int8::gemm_kernel_name(tier).to_string(),
            },
            depthwise_choice(tier),
            KernelChoice {
                family: "f32 gemm / conv",
                tier: f32_tier.to_string(),
                kernel: "gemm crate (faer) + lowbit conv/depthwise".to_string(),
            },
        ],
    }
}

/// The kernels an INT8 3×3 stride-1 depthwise conv gets on `tier`, asked of the conv
/// itself (the choice depends on the filter; 3×3 is the common case), for NCHW and NHWC
/// activations (one name when the NHWC path runs the plane kernel between transposes).
fn depthwise_choice(tier: Tier) -> KernelChoice {
    let channels = 32;
    let geometry = ConvGeometry {
        in_channels: channels,
        out_channels: channels,
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: channels,
    };
    let weights = vec![1i8; channels * 9];
    let params = QConvParams {
        weights: &weights,
        weight_zero_points: PerChannel::Same(0),
        input_zero_point: 0,
        bias: None,
        multiplier: PerChannel::Same(0.01),
        output_zero_point: 0,
        output_range: (0, 255),
        output_type: OutputType::U8,
    };
    let kernel = match QConv2d::new(tier, geometry, &params) {
        Ok(conv) if conv.kernel_name() == conv.nhwc_kernel_name() => conv.kernel_name().to_string(),
        Ok(conv) => format!(
            "{} (NCHW), {} (NHWC)",
            conv.kernel_name(),
            conv.nhwc_kernel_name()
        ),
        Err(e) => format!("unavailable: {e}"),
    };
    KernelChoice {
        family: "int8 depthwise 3x3",
        tier: tier.name().to_string(),
        kernel,
    }
}

/// The first "model name" and "flags" lines of /proc/cpuinfo (empty where unreadable).
fn cpu_model_and_flags() -> (String, Vec<String>) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, value)| value.trim().to_string())
    };
    let model = field("model name").unwrap_or_else(|| "unknown".to_string());
    let flags = field("flags").unwrap_or_default();
    (model, flags.split_whitespace().map(str::to_string).collect())
}

/// f32 GEMM throughput (GFLOP/s, 2·n³ flops per call) for an n×n×n product on one thread,
/// with the clock it ran at: the mean over calls that take at least `min_time` together.
pub fn measure_f32_gemm_gflops(n: usize, min_time: Duration) -> ClockedRate {
    let a: Vec<f32> = (0..n * n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect();
    let b = a.clone();
    let mut c = vec![0f32; n * n];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    pool.install(|| {
        let ld = n as isize;
        let calls = time_calls(min_time, || {
            lowbit_kernels::f32::gemm(n, n, n, 1.0, &a, ld, 1, &b, ld, 1, 0.0, &mut c, ld, 1)
        });
        ClockedRate {
            giga_per_second: calls.mean_rate(2.0 * (n * n * n) as f64),
            clock_ghz: calls.clock_ghz(),
        }
    })
}
