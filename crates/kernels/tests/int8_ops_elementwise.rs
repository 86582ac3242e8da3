//! `qadd` / `qmul` on every available tier against ONNX's dequantize–operate–quantize
//! definition written out in f32, bit for bit.

use lowbit_kernels::int8::isa::ALL_TIERS;
use lowbit_kernels::int8::ops::{qadd, qmul, QParams};
use lowbit_kernels::int8::{available_tiers, Tier};
use proptest::prelude::*;

fn tiers_to_test() -> Vec<Tier> {
    for tier in ALL_TIERS {
        if !tier.is_available() {
            println!("note: tier {tier} is not available on this CPU; its tests are skipped");
        }
    }
    available_tiers()
}

/// ONNX: dequantize both, combine, `QuantizeLinear` (divide, round half to even, add the
/// zero point, saturate), then the fused clamp.
fn reference(mul: bool, a: u8, pa: QParams, b: u8, pb: QParams, py: QParams, range: (i32, i32)) -> u8 {
    let fa = (i32::from(a) - pa.zero_point) as f32 * pa.scale;
    let fb = (i32::from(b) - pb.zero_point) as f32 * pb.scale;
    let s = if mul { fa * fb } else { fa + fb };
    let q = i64::from((s / py.scale).round_ties_even() as i32) + i64::from(py.zero_point);
    q.clamp(0, 255).clamp(i64::from(range.0), i64::from(range.1)) as u8
}

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

fn check(
    tier: Tier,
    mul: bool,
    len: usize,
    params: [QParams; 3],
    range: (i32, i32),
    seed: u64,
) -> Result<(), String> {
    let [pa, pb, py] = params;
    let (a, b) = (bytes(len, seed), bytes(len, seed + 1));
    let mut out = vec![0u8; len];
    let op = if mul { qmul } else { qadd };
    op(tier, &a, pa, &b, pb, py, range, &mut out).map_err(|e| e.to_string())?;
    for i in 0..len {
        let e = reference(mul, a[i], pa, b[i], pb, py, range);
        if out[i] != e {
            return Err(format!(
                "{} on {tier}, len {len}, {params:?} {range:?}: out[{i}] = {} but reference = {e} (a={}, b={})",
                if mul { "qmul" } else { "qadd" },
                out[i],
                a[i],
                b[i]
            ));
        }
    }
    Ok(())
}

#[test]
fn fixed_cases_match_reference_on_every_tier() {
    let q = QParams::new;
    let param_sets = [
        [q(0.05, 128), q(0.05, 128), q(0.1, 128)],
        [q(0.02, 0), q(0.7, 255), q(0.3, 3)],
        [q(1.0, 0), q(1.0, 0), q(2.0, 0)], // many exact halves: round-half-even matters
        [q(0.5, 10), q(0.25, 200), q(1.0, 128)],
    ];
    for tier in tiers_to_test() {
        for (i, params) in param_sets.iter().enumerate() {
            for len in [0, 1, 7, 8, 15, 16, 17, 33, 1000] {
                for range in [
                    (0, 255),
                    (params[2].zero_point, 255),
                    (0, 200.max(params[2].zero_point)),
                ] {
                    for mul in [false, true] {
                        check(tier, mul, len, *params, range, (i * 7 + len) as u64).unwrap();
                    }
                }
            }
        }
    }
}

#[test]
fn bad_parameters_are_errors() {
    let q = QParams::new;
    let mut out = [0u8; 4];
    let t = Tier::Scalar;
    assert!(qadd(
        t,
        &[1; 4],
        q(0.1, 0),
        &[1; 3],
        q(0.1, 0),
        q(0.1, 0),
        (0, 255),
        &mut out
    )
    .is_err());
    assert!(qadd(
        t,
        &[1; 4],
        q(0.0, 0),
        &[1; 4],
        q(0.1, 0),
        q(0.1, 0),
        (0, 255),
        &mut out
    )
    .is_err());
    assert!(qmul(
        t,
        &[1; 4],
        q(0.1, 300),
        &[1; 4],
        q(0.1, 0),
        q(0.1, 0),
        (0, 255),
        &mut out
    )
    .is_err());
    assert!(qmul(
        t,
        &[1; 4],
        q(0.1, 0),
        &[1; 4],
        q(0.1, 0),
        q(0.1, 50),
        (60, 255),
        &mut out
    )
    .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_parameters_match_reference(
        len in 0usize..100,
        scales in proptest::array::uniform3(1e-3f32..4.0),
        zps in proptest::array::uniform3(0i32..256),
        lo_cut in 0i32..40,
        mul in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let params = [0, 1, 2].map(|i| QParams::new(scales[i], zps[i]));
        let range = ((zps[2] - lo_cut).max(0), 255);
        for tier in available_tiers() {
            if let Err(e) = check(tier, mul, len, params, range, seed) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
