//! Every INT8 GEMM tier against the naive reference, bit for bit.
//!
//! Tiers this CPU lacks are skipped with a printed note.

use lowbit_kernels::int8::{
    available_tiers, gemm_kernel_name, gemm_u8i8_i32, isa::ALL_TIERS, reference_gemm_u8i8_i32, BZeroPoints,
    Int8Error, PackedWeights, Tier, WeightLayout,
};
use proptest::prelude::*;

/// Operands of one test case.
struct Case {
    m: usize,
    k: usize,
    n: usize,
    lda: usize,
    a: Vec<u8>,
    a_zero_point: i32,
    b: Vec<i8>,
    layout: WeightLayout,
    b_zero_points: Vec<i32>,
    per_column: bool,
}

/// Full-range data with the extremes 0/255 and −128/127 planted at the corners.
fn make_case(m: usize, k: usize, n: usize, seed: u64) -> Case {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let lda = k + (next() % 3) as usize;
    let mut a: Vec<u8> = (0..m * lda).map(|_| next() as u8).collect();
    let mut b: Vec<i8> = (0..k * n).map(|_| next() as i8).collect();
    if !a.is_empty() && !b.is_empty() {
        a[0] = 255;
        *a.last_mut().unwrap() = 0;
        b[0] = -128;
        *b.last_mut().unwrap() = 127;
    }
    let b_zero_points = (0..n)
        .map(|j| [0, -128, 127, 3][(j + seed as usize) % 4])
        .collect();
    let layout = if seed.is_multiple_of(2) {
        WeightLayout::KByN
    } else {
        WeightLayout::NByK
    };
    Case {
        m,
        k,
        n,
        lda,
        a,
        a_zero_point: 0,
        b,
        layout,
        b_zero_points,
        per_column: true,
    }
}

fn tiers_to_test() -> Vec<Tier> {
    for tier in ALL_TIERS {
        if !tier.is_available() {
            println!("note: tier {tier} is not available on this CPU; its tests are skipped");
        }
    }
    available_tiers()
}

/// Runs `tier` and the reference on `case` and reports the first differing element.
fn check(tier: Tier, case: &Case) -> Result<(), String> {
    check_on(tier, case, &case.a)
}

/// As [`check`], with the kernel reading A from `a` (equal to `case.a`, stored elsewhere).
fn check_on(tier: Tier, case: &Case, a: &[u8]) -> Result<(), String> {
    check_into(tier, case, a, &mut vec![i32::MIN; case.m * case.n])
}

/// As [`check_on`], with the kernel writing into `got` (M×N, contents ignored).
fn check_into(tier: Tier, case: &Case, a: &[u8], got: &mut [i32]) -> Result<(), String> {
    let Case { m, k, n, lda, .. } = *case;
    let zb = if case.per_column {
        BZeroPoints::PerColumn(&case.b_zero_points)
    } else {
        BZeroPoints::PerTensor(case.b_zero_points.first().copied().unwrap_or(0))
    };
    let mut expected = vec![0i32; m * n];
    reference_gemm_u8i8_i32(
        (m, k, n),
        &case.a,
        lda,
        case.a_zero_point,
        &case.b,
        case.layout,
        zb,
        &mut expected,
    );
    let packed = PackedWeights::pack(tier, case.layout, k, n, &case.b).map_err(|e| e.to_string())?;
    gemm_u8i8_i32(m, a, lda, case.a_zero_point, &packed, zb, got).map_err(|e| e.to_string())?;
    match expected.iter().zip(got.iter()).position(|(e, g)| e != g) {
        None => Ok(()),
        Some(p) => Err(format!(
            "{} M={m} K={k} N={n} lda={lda} za={} {:?}: out[{}][{}] = {} but reference = {}",
            gemm_kernel_name(tier),
            case.a_zero_point,
            case.layout,
            p / n,
            p % n,
            got[p],
            expected[p]
        )),
    }
}

/// Edge shapes: M=1, N=1, K below and across the 4/64 groupings, tall/skinny, wide.
const EDGE_SHAPES: [(usize, usize, usize); 16] = [
    (1, 1, 1),
    (1, 3, 1),
    (1, 64, 33),
    (5, 1, 7),
    (7, 5, 3),
    (8, 4, 32),
    (9, 63, 31),
    (17, 65, 1),
    (31, 127, 47),
    (32, 64, 32),
    (33, 129, 65),
    (64, 130, 96),
    (257, 10, 3),
    (3, 300, 129),
    (1, 1030, 300),
    (40, 2, 200),
];

#[test]
fn edge_shapes_match_reference_on_every_tier() {
    for tier in tiers_to_test() {
        for (i, &(m, k, n)) in EDGE_SHAPES.iter().enumerate() {
            for za in [0, 128, 37, 255] {
                let mut case = make_case(m, k, n, i as u64 * 7 + za as u64);
                case.a_zero_point = za;
                check(tier, &case).unwrap();
                case.per_column = false;
                check(tier, &case).unwrap();
            }
        }
    }
}

#[test]
fn big_matrix_matches_reference_on_every_tier() {
    for tier in tiers_to_test() {
        for layout in [WeightLayout::KByN, WeightLayout::NByK] {
            let mut case = make_case(300, 1030, 257, 11);
            case.layout = layout;
            case.a_zero_point = 128;
            check(tier, &case).unwrap();
        }
    }
}

#[test]
fn extreme_values_everywhere() {
    // All-255 A against all −128 B with za = 0 and zb = 127 maximises every product.
    for tier in tiers_to_test() {
        for (m, k, n) in [(33, 1030, 65), (8, 256, 32)] {
            let mut case = make_case(m, k, n, 5);
            case.a.iter_mut().for_each(|v| *v = 255);
            case.b.iter_mut().for_each(|v| *v = -128);
            case.b_zero_points.iter_mut().for_each(|z| *z = 127);
            check(tier, &case).unwrap();
            case.b.iter_mut().for_each(|v| *v = 127);
            case.b_zero_points.iter_mut().for_each(|z| *z = -128);
            case.a_zero_point = 255;
            check(tier, &case).unwrap();
        }
    }
}

/// One cache line of test data; a `Vec` of these is 64-byte aligned.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

#[test]
fn aligned_activations_match_reference() {
    // The AMX tier reads 64-byte-aligned rows with lda % 64 == 0 in place instead of
    // packing them; this exercises that path, including a short last tile.
    for tier in tiers_to_test() {
        for (m, k, n, lda) in [(70, 128, 200, 128), (33, 192, 130, 256), (32, 64, 300, 64)] {
            let mut case = make_case(m, k, n, 21);
            case.a_zero_point = 77;
            case.lda = lda;
            let mut lines = vec![Line([0; 64]); (m * lda).div_ceil(64)];
            for (i, line) in lines.iter_mut().enumerate() {
                line.0
                    .iter_mut()
                    .enumerate()
                    .for_each(|(j, v)| *v = ((i * 64 + j) * 131 % 256) as u8);
            }
            let bytes: Vec<[u8; 64]> = lines.iter().map(|l| l.0).collect();
            case.a = bytes.as_flattened()[..m * lda].to_vec();
            // SAFETY: Line is `[u8; 64]` with 64-byte alignment and no padding.
            let aligned = unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<u8>(), m * lda) };
            assert_eq!(aligned.as_ptr() as usize % 64, 0);
            check_on(tier, &case, aligned).unwrap();
        }
    }
}

/// The 64-byte aligned start of `lines`, as `len` i32 (which must fit).
fn aligned_i32s(lines: &mut [Line], len: usize) -> &mut [i32] {
    assert!(len * 4 <= lines.len() * 64);
    // SAFETY: Line is `[u8; 64]` without padding, any bytes are valid i32s, and the
    // alignment of Line (64) exceeds that of i32.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<i32>(), len) }
}

#[test]
fn big_outputs_match_reference() {
    // An output of at least 2 MB is written with non-temporal stores by the AMX tier,
    // whole cache lines at a time: lines straddling two tiles, when the output is not
    // 64-byte aligned (offset) or rows start at varying offsets into a line (N % 16 != 0),
    // are assembled from both tiles' results. Aligned rows of whole lines go to the AMX run
    // kernel, whose last tile is then the left neighbour of a partial edge tile (1040).
    for tier in tiers_to_test() {
        for (n, offset) in [(1024, 0), (1024, 1), (1040, 0), (1040, 15), (1030, 0), (1030, 7)] {
            let m = 530;
            let mut case = make_case(m, 128, n, 17 + offset as u64);
            case.a_zero_point = 128;
            let mut lines = vec![Line([0; 64]); (m * n + offset) * 4 / 64 + 1];
            let out = &mut aligned_i32s(&mut lines, m * n + offset)[offset..];
            check_into(tier, &case, &case.a, out).unwrap();
        }
    }
}

#[test]
fn k_deeper_than_one_pass_matches_reference() {
    // Deeper than every tier's K pass (`kc`), so later passes accumulate onto C, including
    // the partial tiles at the edges.
    for tier in tiers_to_test() {
        for (m, k, n) in [(40, 4200, 40), (33, 4160, 17)] {
            let mut case = make_case(m, k, n, 29);
            case.a_zero_point = 200;
            check(tier, &case).unwrap();
        }
    }
}

#[test]
fn many_threads_match_reference() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    pool.install(|| {
        for tier in tiers_to_test() {
            for (m, k, n) in [(300, 200, 257), (2, 64, 900), (1000, 16, 3)] {
                let mut case = make_case(m, k, n, 3);
                case.a_zero_point = 129;
                check(tier, &case).unwrap();
            }
        }
    });
}

#[test]
fn empty_dimensions() {
    for tier in tiers_to_test() {
        for (m, k, n) in [(0, 5, 3), (4, 0, 3), (4, 5, 0)] {
            let mut case = make_case(m, k, n, 1);
            case.a_zero_point = 9;
            check(tier, &case).unwrap();
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let packed = PackedWeights::pack(Tier::Scalar, WeightLayout::KByN, 4, 3, &[1; 12]).unwrap();
    let mut out = vec![0; 6];
    let a = vec![0u8; 8];
    let zb = BZeroPoints::PerTensor(0);
    assert!(matches!(
        gemm_u8i8_i32(2, &a, 4, 256, &packed, zb, &mut out),
        Err(Int8Error::OutOfRange { .. })
    ));
    assert!(matches!(
        gemm_u8i8_i32(2, &a, 4, 0, &packed, BZeroPoints::PerColumn(&[0, 0]), &mut out),
        Err(Int8Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        gemm_u8i8_i32(2, &a, 4, 0, &packed, BZeroPoints::PerTensor(-129), &mut out),
        Err(Int8Error::OutOfRange { .. })
    ));
    assert!(matches!(
        gemm_u8i8_i32(3, &a, 4, 0, &packed, zb, &mut out),
        Err(Int8Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        gemm_u8i8_i32(2, &a, 3, 0, &packed, zb, &mut out),
        Err(Int8Error::OutOfRange { .. })
    ));
    for tier in ALL_TIERS.into_iter().filter(|t| !t.is_available()) {
        let packed = PackedWeights::pack(tier, WeightLayout::KByN, 4, 3, &[1; 12]).unwrap();
        assert_eq!(
            gemm_u8i8_i32(2, &a, 4, 0, &packed, zb, &mut out),
            Err(Int8Error::TierUnavailable { tier })
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_shapes_match_reference(
        m in 1usize..70,
        k in 1usize..300,
        n in 1usize..80,
        za in prop_oneof![Just(0), Just(128), Just(255), 0i32..256],
        seed in any::<u64>(),
    ) {
        for tier in available_tiers() {
            let mut case = make_case(m, k, n, seed);
            case.a_zero_point = za;
            if let Err(msg) = check(tier, &case) {
                prop_assert!(false, "{}", msg);
            }
        }
    }
}
