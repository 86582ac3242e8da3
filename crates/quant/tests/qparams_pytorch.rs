//! Scale and zero point against PyTorch's `MinMaxObserver` / `PerChannelMinMaxObserver`.
//!
//! Golden values were printed once by torch 2.15.0 (CPU) from a throwaway script kept
//! out of the repository: for each `(min, max)` it fed the tensor `[min, max]` to
//! `MinMaxObserver(dtype, qscheme, reduce_range)` and printed `calculate_qparams()`.
//! Scales are compared exactly: we do the same f32 arithmetic.

use lowbit_quant::{
    ChannelObserver, MinMaxObserver, Observer, PerChannelMinMaxObserver, QuantError, QuantMode, QuantScheme,
};
use lowbit_tensor::{DType, Tensor};

/// `(min, max, dtype, mode, reduce_range, scale, zero_point)`.
#[rustfmt::skip]
const PYTORCH: &[(f32, f32, &str, &str, bool, f32, i32)] = &[
    (-1.0, 3.0, "u8", "affine", false, 0.015686275, 64),
    (-1.0, 3.0, "u8", "affine", true, 0.031496063, 32),
    (-1.0, 3.0, "i8", "affine", false, 0.015686275, -64),
    (-1.0, 3.0, "i8", "affine", true, 0.031496063, -32),
    (-1.0, 3.0, "u8", "symmetric", false, 0.023529412, 128),
    (-1.0, 3.0, "i8", "symmetric", false, 0.023529412, 0),
    (-1.0, 3.0, "i8", "symmetric", true, 0.047244094, 0),
    (0.5, 3.0, "u8", "affine", false, 0.011764706, 0),
    (0.5, 3.0, "u8", "affine", true, 0.023622047, 0),
    (0.5, 3.0, "i8", "affine", false, 0.011764706, -128),
    (0.5, 3.0, "i8", "affine", true, 0.023622047, -64),
    (0.5, 3.0, "u8", "symmetric", false, 0.023529412, 128),
    (0.5, 3.0, "i8", "symmetric", false, 0.023529412, 0),
    (0.5, 3.0, "i8", "symmetric", true, 0.047244094, 0),
    (-2.5, -0.5, "u8", "affine", false, 0.009803922, 255),
    (-2.5, -0.5, "u8", "affine", true, 0.01968504, 127),
    (-2.5, -0.5, "i8", "affine", false, 0.009803922, 127),
    (-2.5, -0.5, "i8", "affine", true, 0.01968504, 63),
    (-2.5, -0.5, "u8", "symmetric", false, 0.019607844, 128),
    (-2.5, -0.5, "i8", "symmetric", false, 0.019607844, 0),
    (-2.5, -0.5, "i8", "symmetric", true, 0.03937008, 0),
    (-0.3, 0.7, "u8", "affine", false, 0.003921569, 76),
    (-0.3, 0.7, "u8", "affine", true, 0.007874016, 38),
    (-0.3, 0.7, "i8", "affine", false, 0.003921569, -52),
    (-0.3, 0.7, "i8", "affine", true, 0.007874016, -26),
    (-0.3, 0.7, "u8", "symmetric", false, 0.005490196, 128),
    (-0.3, 0.7, "i8", "symmetric", false, 0.005490196, 0),
    (-0.3, 0.7, "i8", "symmetric", true, 0.011023622, 0),
    (0.0, 0.0, "u8", "affine", false, 1.1920929e-07, 0),
    (0.0, 0.0, "u8", "affine", true, 1.1920929e-07, 0),
    (0.0, 0.0, "i8", "affine", false, 1.1920929e-07, -128),
    (0.0, 0.0, "i8", "affine", true, 1.1920929e-07, -64),
    (0.0, 0.0, "u8", "symmetric", false, 1.1920929e-07, 128),
    (0.0, 0.0, "i8", "symmetric", false, 1.1920929e-07, 0),
    (0.0, 0.0, "i8", "symmetric", true, 1.1920929e-07, 0),
    (-1e-09, 2e-09, "u8", "affine", false, 1.1920929e-07, 0),
    (-1e-09, 2e-09, "u8", "affine", true, 1.1920929e-07, 0),
    (-1e-09, 2e-09, "i8", "affine", false, 1.1920929e-07, -128),
    (-1e-09, 2e-09, "i8", "affine", true, 1.1920929e-07, -64),
    (-1e-09, 2e-09, "u8", "symmetric", false, 1.1920929e-07, 128),
    (-1e-09, 2e-09, "i8", "symmetric", false, 1.1920929e-07, 0),
    (-1e-09, 2e-09, "i8", "symmetric", true, 1.1920929e-07, 0),
    (-6.0, 6.0, "u8", "affine", false, 0.047058824, 128),
    (-6.0, 6.0, "u8", "affine", true, 0.09448819, 64),
    (-6.0, 6.0, "i8", "affine", false, 0.047058824, 0),
    (-6.0, 6.0, "i8", "affine", true, 0.09448819, 0),
    (-6.0, 6.0, "u8", "symmetric", false, 0.047058824, 128),
    (-6.0, 6.0, "i8", "symmetric", false, 0.047058824, 0),
    (-6.0, 6.0, "i8", "symmetric", true, 0.09448819, 0),
    (-0.1234, 5.678, "u8", "affine", false, 0.022750588, 5),
    (-0.1234, 5.678, "u8", "affine", true, 0.045680318, 3),
    (-0.1234, 5.678, "i8", "affine", false, 0.022750588, -123),
    (-0.1234, 5.678, "i8", "affine", true, 0.045680318, -61),
    (-0.1234, 5.678, "u8", "symmetric", false, 0.044533335, 128),
    (-0.1234, 5.678, "i8", "symmetric", false, 0.044533335, 0),
    (-0.1234, 5.678, "i8", "symmetric", true, 0.08941732, 0),
];

fn scheme(dtype: &str, mode: &str, reduce_range: bool) -> QuantScheme {
    let dtype = if dtype == "u8" { DType::U8 } else { DType::I8 };
    let mode = if mode == "affine" {
        QuantMode::Affine
    } else {
        QuantMode::Symmetric
    };
    QuantScheme::new(dtype, mode, reduce_range).unwrap()
}

#[test]
fn min_max_qparams_equal_pytorch() {
    for &(lo, hi, dtype, mode, reduce_range, scale, zero_point) in PYTORCH {
        let mut obs = MinMaxObserver::new();
        obs.observe(&[lo, hi]);
        let q = obs.qparams(&scheme(dtype, mode, reduce_range)).unwrap();
        let case = format!("[{lo}, {hi}] {dtype} {mode} reduce_range={reduce_range}");
        assert_eq!(q.scale, vec![scale], "{case}");
        assert_eq!(q.zero_point, vec![zero_point], "{case}");
        assert_eq!(q.axis, None, "{case}");
    }
}

#[test]
fn hand_computed_examples() {
    // [-1, 3] u8 affine: scale 4/255, zero point 0 - round(-1 / (4/255)) = round(63.75) = 64.
    let mut obs = MinMaxObserver::new();
    obs.observe(&[0.5, -1.0, 3.0, 2.0]);
    let q = obs.qparams(&QuantScheme::u8_affine()).unwrap();
    assert_eq!((q.scale[0], q.zero_point[0]), (4.0 / 255.0, 64));
    // Reduced range 0..=127: scale 4/127, zero point round(31.75) = 32.
    let q = obs.qparams(&scheme("u8", "affine", true)).unwrap();
    assert_eq!((q.scale[0], q.zero_point[0]), (4.0 / 127.0, 32));
    // i8 symmetric: scale 3 / 127.5, zero point 0.
    let q = obs.qparams(&QuantScheme::i8_symmetric()).unwrap();
    assert_eq!((q.scale[0], q.zero_point[0]), (3.0 / 127.5, 0));
    // i8 symmetric reduced -64..=63: scale 3 / 63.5.
    let q = obs.qparams(&scheme("i8", "symmetric", true)).unwrap();
    assert_eq!((q.scale[0], q.zero_point[0]), (3.0 / 63.5, 0));
}

#[test]
fn empty_observer_is_an_error_not_a_default() {
    let mut obs = MinMaxObserver::new();
    obs.observe(&[]);
    obs.observe(&[f32::NAN, f32::INFINITY]);
    assert!(matches!(
        obs.qparams(&QuantScheme::u8_affine()),
        Err(QuantError::NoData { .. })
    ));
}

fn weight() -> Tensor {
    // Shape [3, 2, 2]; channel 1 along axis 0 is all zeros.
    let values = vec![-1.0, 0.5, 0.25, 2.0, 0.0, 0.0, 0.0, 0.0, -3.0, -1.0, -2.0, -0.5];
    Tensor::new(vec![3, 2, 2], values).unwrap()
}

/// PyTorch `PerChannelMinMaxObserver(ch_axis, dtype, qscheme)` on `weight()`.
#[test]
fn per_channel_qparams_equal_pytorch() {
    let cases: [(usize, QuantScheme, Vec<f32>, Vec<i32>); 4] = [
        (
            0,
            QuantScheme::i8_symmetric(),
            vec![0.015686275, 1.1920929e-07, 0.023529412],
            vec![0, 0, 0],
        ),
        (
            0,
            QuantScheme::u8_affine(),
            vec![0.011764706, 1.1920929e-07, 0.011764706],
            vec![85, 0, 255],
        ),
        (
            1,
            QuantScheme::i8_symmetric(),
            vec![0.023529412, 0.015686275],
            vec![0, 0],
        ),
        (
            1,
            QuantScheme::u8_affine(),
            vec![0.01372549, 0.015686275],
            vec![219, 127],
        ),
    ];
    for (axis, scheme, scales, zero_points) in cases {
        let mut obs = PerChannelMinMaxObserver::new(axis);
        obs.observe_tensor(&weight()).unwrap();
        let q = obs.qparams(&scheme).unwrap();
        assert_eq!(q.scale, scales, "axis {axis} {scheme:?}");
        assert_eq!(q.zero_point, zero_points, "axis {axis} {scheme:?}");
        assert_eq!(q.axis, Some(axis));
    }
}

#[test]
fn per_channel_last_axis_and_shape_errors() {
    let mut obs = PerChannelMinMaxObserver::new(2);
    obs.observe_tensor(&weight()).unwrap();
    // Along the last axis the channels interleave: {-1, 0.25, 0, 0, -3, -2} and {0.5, 2, 0, 0, -1, -0.5}.
    assert_eq!(obs.ranges(), &[Some((-3.0, 0.25)), Some((-1.0, 2.0))]);
    let wrong_channels = Tensor::new(vec![2, 3], vec![0.0f32; 6]).unwrap();
    assert!(matches!(
        obs.observe_tensor(&wrong_channels),
        Err(QuantError::Shape { .. })
    ));
    let mut rank_one = PerChannelMinMaxObserver::new(1);
    let vector = Tensor::new(vec![4], vec![0.0f32; 4]).unwrap();
    assert!(matches!(
        rank_one.observe_tensor(&vector),
        Err(QuantError::Shape { .. })
    ));
    let ints = Tensor::new(vec![2, 2], vec![1i32; 4]).unwrap();
    assert!(matches!(
        rank_one.observe_tensor(&ints),
        Err(QuantError::Tensor(_))
    ));
}
