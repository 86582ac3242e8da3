//! Criterion benchmarks of the INT8 GEMM per available tier, on one thread.
//!
//! `cargo bench -p lowbit-kernels --bench int8_gemm`; numbers go in docs/PERFORMANCE.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lowbit_kernels::int8::{available_tiers, gemm_u8i8_i32, BZeroPoints, PackedWeights, WeightLayout};

/// (M, N, K): square, a ResNet-style 3×3 conv as GEMM, a late 3×3 conv layer.
const SHAPES: [(usize, usize, usize); 3] = [(1024, 1024, 1024), (3136, 64, 576), (196, 256, 2304)];

fn bytes(len: usize, mut state: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

fn gemm(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("1-thread pool");
    let mut group = c.benchmark_group("int8_gemm");
    group.sample_size(10);
    for (m, n, k) in SHAPES {
        let a = bytes(m * k, 1);
        let b: Vec<i8> = bytes(k * n, 2).into_iter().map(|v| v as i8).collect();
        let mut out = vec![0i32; m * n];
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        for tier in available_tiers() {
            let packed = PackedWeights::pack(tier, WeightLayout::KByN, k, n, &b).expect("pack");
            let id = BenchmarkId::new(tier.name(), format!("{m}x{n}x{k}"));
            group.bench_function(id, |bench| {
                pool.install(|| {
                    bench.iter(|| {
                        gemm_u8i8_i32(m, &a, k, 128, &packed, BZeroPoints::PerTensor(0), &mut out)
                            .expect("gemm")
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, gemm);
criterion_main!(benches);
