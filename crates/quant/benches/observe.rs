//! Observer update throughput on one million values (the calibration hot loop).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lowbit_quant::{HistogramObserver, MinMaxObserver, Observer};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn values(n: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n).map(|_| rng.gen_range(-3.0f32..3.0)).collect()
}

fn observe(c: &mut Criterion) {
    let data = values(1 << 20);
    let mut group = c.benchmark_group("observe_1M");
    group.throughput(Throughput::Elements(data.len() as u64));
    group.bench_function("min_max", |b| {
        let mut obs = MinMaxObserver::new();
        b.iter(|| obs.observe(black_box(&data)))
    });
    group.bench_function("histogram_2048", |b| {
        let mut obs = HistogramObserver::default();
        obs.observe(&data);
        b.iter(|| obs.observe(black_box(&data)))
    });
    group.finish();
}

criterion_group!(benches, observe);
criterion_main!(benches);
