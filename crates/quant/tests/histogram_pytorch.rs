//! `HistogramObserver` against PyTorch's on fixed data.
//!
//! Golden values were produced once with torch 2.15.0 (CPU build, `pip install torch`)
//! by a throwaway script, kept out of the repository, which:
//! - wrote each dataset to `tests/data/<name>.f32` (little-endian f32):
//!   `normal`: `np.random.seed(0); normal(0, 1, 10000)`;
//!   `outliers`: seed 1, `normal(0, 1, 9950)` plus 50 `uniform(8, 30)`, shuffled;
//!   `growing_batches`: seed 2, 8 batches of 1000, batch k from `normal(0.2k, 0.5(k+1))`,
//!   so the range grows and earlier counts get re-binned;
//!   `sparse_outliers`: seed 4, `normal(0, 1, 10000)` plus 45, -30 and 60, shuffled;
//!   `laplace_batches`: seed 5, `laplace(0, 1, 40000)` in 4 batches of 10000 (the search
//!   trims about 127 bins off the top here);
//!   `relu`: seed 3, `maximum(normal(0.5, 1, 10000), 0)`;
//! - fed the batches to `torch.ao.quantization.observer.HistogramObserver()` (2048 bins)
//!   and printed `min_val`/`max_val`, `_non_linear_param_search()`, and
//!   `calculate_qparams()` for quint8 affine, quint8 affine with `reduce_range`, and
//!   qint8 symmetric.
//!
//! Our search range must be within one histogram bin, `(max - min) / 2048`, of PyTorch's.

use lowbit_quant::{HistogramObserver, Observer, QuantMode, QuantScheme};
use lowbit_tensor::DType;

struct Golden {
    name: &'static str,
    batch: usize,
    histogram_range: (f32, f32),
    search_range: (f32, f32),
    u8_affine: (f32, i32),
    u8_affine_reduced: (f32, i32),
    i8_symmetric: (f32, i32),
}

const GOLDEN: &[Golden] = &[
    Golden {
        name: "normal",
        batch: 10000,
        histogram_range: (-3.7401006, 3.8016603),
        search_range: (-3.7401006, 3.7979777),
        u8_affine: (0.029561091, 127),
        u8_affine_reduced: (0.059354946, 63),
        i8_symmetric: (0.02978806, 0),
    },
    Golden {
        name: "outliers",
        batch: 10000,
        histogram_range: (-3.65644, 29.695171),
        search_range: (-3.65644, 29.678886),
        u8_affine: (0.13072677, 28),
        u8_affine_reduced: (0.26248288, 14),
        i8_symmetric: (0.23277558, 0),
    },
    Golden {
        name: "growing_batches",
        batch: 1000,
        histogram_range: (-11.009684, 14.247364),
        search_range: (-11.009684, 14.235031),
        u8_affine: (0.09899888, 111),
        u8_affine_reduced: (0.19877729, 55),
        i8_symmetric: (0.1116473, 0),
    },
    Golden {
        name: "sparse_outliers",
        batch: 10003,
        histogram_range: (-30.0, 60.0),
        search_range: (-30.0, 59.956055),
        u8_affine: (0.35276884, 85),
        u8_affine_reduced: (0.7083154, 42),
        i8_symmetric: (0.47024357, 0),
    },
    Golden {
        name: "laplace_batches",
        batch: 10000,
        histogram_range: (-12.084012, 11.536948),
        search_range: (-12.084012, 10.072171),
        u8_affine: (0.086886995, 139),
        u8_affine_reduced: (0.17445813, 69),
        i8_symmetric: (0.09477656, 0),
    },
    Golden {
        name: "relu",
        batch: 10000,
        histogram_range: (0.0, 4.591393),
        search_range: (0.0, 4.589151),
        u8_affine: (0.01799667, 0),
        u8_affine_reduced: (0.036135048, 0),
        i8_symmetric: (0.03599334, 0),
    },
];

fn load(name: &str) -> Vec<f32> {
    let path = format!("{}/tests/data/{name}.f32", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn observe(golden: &Golden) -> HistogramObserver {
    let mut obs = HistogramObserver::default();
    for batch in load(golden.name).chunks(golden.batch) {
        obs.observe(batch);
    }
    obs
}

#[test]
fn histogram_range_matches_pytorch_exactly() {
    for g in GOLDEN {
        assert_eq!(
            observe(g).histogram().range(),
            Some(g.histogram_range),
            "{}",
            g.name
        );
    }
}

#[test]
fn search_range_is_within_one_bin_of_pytorch() {
    for g in GOLDEN {
        let (lo, hi) = observe(g).search_range().unwrap();
        let bin = (g.histogram_range.1 - g.histogram_range.0) / 2048.0;
        let (d_lo, d_hi) = ((lo - g.search_range.0).abs(), (hi - g.search_range.1).abs());
        println!(
            "{}: ours [{lo}, {hi}], pytorch [{}, {}], off by {:.3} and {:.3} bins",
            g.name,
            g.search_range.0,
            g.search_range.1,
            d_lo / bin,
            d_hi / bin
        );
        assert!(
            d_lo <= bin && d_hi <= bin,
            "{}: [{lo}, {hi}] vs {:?}",
            g.name,
            g.search_range
        );
    }
}

#[test]
fn qparams_match_pytorch_within_one_bin() {
    let schemes = [
        (QuantScheme::u8_affine(), "u8 affine"),
        (
            QuantScheme::new(DType::U8, QuantMode::Affine, true).unwrap(),
            "u8 affine reduced",
        ),
        (QuantScheme::i8_symmetric(), "i8 symmetric"),
    ];
    for g in GOLDEN {
        let obs = observe(g);
        let bin = (g.histogram_range.1 - g.histogram_range.0) / 2048.0;
        let expected = [g.u8_affine, g.u8_affine_reduced, g.i8_symmetric];
        for ((scheme, label), (scale, zero_point)) in schemes.iter().zip(expected) {
            let (qmin, qmax) = scheme.qrange();
            let q = obs.qparams(scheme).unwrap();
            // A one-bin move of an end changes the scale by at most bin / levels.
            let scale_tolerance = bin / (qmax - qmin) as f32 * 1.0001;
            assert!(
                (q.scale[0] - scale).abs() <= scale_tolerance,
                "{} {label}: scale {} vs {scale}",
                g.name,
                q.scale[0]
            );
            assert!(
                (q.zero_point[0] - zero_point).abs() <= 1,
                "{} {label}: zero point {} vs {zero_point}",
                g.name,
                q.zero_point[0]
            );
        }
    }
}
