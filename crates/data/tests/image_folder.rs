//! The image folder dataset against PIL-preprocessed reference inputs.

mod common;

use lowbit_data::{batch, read_npy, DataSpec, Dataset, ImageFolder, Preprocess};

/// EfficientNet-Lite0's recipe, the one `efficientnet-lite0/inputs.npy` was made with.
fn efficientnet_preprocess() -> Preprocess {
    Preprocess {
        resize: Some(256),
        crop: Some(224),
        mean: [127.0; 3],
        std: [128.0; 3],
        gray: false,
    }
}

#[test]
fn matches_pil_reference_inputs() {
    let assets = common::assets_dir();
    let (Some(photos), Some(reference)) = (
        common::require(assets.join("imagenet-samples")),
        common::require(assets.join("efficientnet-lite0/inputs.npy")),
    ) else {
        return;
    };
    let data = ImageFolder::open(&photos, efficientnet_preprocess()).unwrap();
    let reference = read_npy(reference).unwrap();
    assert_eq!(data.len(), 20);
    assert_eq!(data.sample_shape(), vec![3, 224, 224]);
    let expected_labels = [
        243, 559, 438, 990, 949, 853, 609, 609, 915, 455, 541, 630, 741, 471, 129, 99, 251, 22, 317, 305,
    ];
    assert_eq!(data.labels(), expected_labels);

    let samples: Vec<_> = (0..data.len()).map(|i| data.get(i).unwrap()).collect();
    let (inputs, labels) = batch(&samples).unwrap();
    assert_eq!(inputs.shape(), reference.shape());
    assert_eq!(labels, expected_labels.map(Some).to_vec());
    let plane = 3 * 224 * 224;
    let ours = inputs.as_slice::<f32>().unwrap();
    let theirs = reference.as_slice::<f32>().unwrap();
    for (i, file) in data.files().iter().enumerate() {
        let diffs: Vec<f32> = ours[i * plane..(i + 1) * plane]
            .iter()
            .zip(&theirs[i * plane..(i + 1) * plane])
            .map(|(a, b)| (a - b).abs())
            .collect();
        let max = diffs.iter().fold(0f32, |m, &d| m.max(d));
        let mean = diffs.iter().sum::<f32>() / plane as f32;
        println!(
            "{}: max {max:.4} mean {mean:.5}",
            file.file_name().unwrap().to_string_lossy()
        );
        // JPEG decoders differ (zune-jpeg here, libjpeg-turbo in PIL) by a few grey
        // levels; resize and crop are PIL's (bit-exact on identical pixels), so only
        // that residue is left. A one-pixel crop shift would give a max near 1.
        assert!(mean < 0.01, "{}: mean abs diff {mean}", file.display());
        assert!(max < 0.04, "{}: max abs diff {max}", file.display());
    }
}

#[test]
fn spec_detects_an_image_folder() {
    let Some(photos) = common::require(common::assets_dir().join("imagenet-samples")) else {
        return;
    };
    let spec = DataSpec::parse(photos.to_str().unwrap()).unwrap();
    assert_eq!(spec, DataSpec::Images { dir: photos.clone() });
    let data = spec.open(&efficientnet_preprocess()).unwrap();
    assert_eq!(data.len(), 20);
    let gray = Preprocess {
        gray: true,
        ..efficientnet_preprocess()
    };
    let sample = spec.open(&gray).unwrap().get(0).unwrap();
    assert_eq!(sample.input.shape(), &[1, 224, 224]);
}

#[test]
fn misnamed_or_broken_images_are_errors_naming_the_file() {
    let dir = common::scratch_dir("images-bad");
    let pixel = image::RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30]));
    pixel.save(dir.join("ok_3.png")).unwrap();
    let preprocess = Preprocess {
        crop: Some(4),
        ..Preprocess::default()
    };
    let data = ImageFolder::open(&dir, preprocess.clone()).unwrap();
    let sample = data.get(0).unwrap();
    assert_eq!(sample.label, Some(3));
    assert_eq!(sample.input.as_slice::<f32>().unwrap()[..1], [10.0]);
    assert_eq!(sample.input.as_slice::<f32>().unwrap()[32..33], [30.0]);

    std::fs::write(dir.join("broken_1.jpg"), b"not a jpeg").unwrap();
    let data = ImageFolder::open(&dir, preprocess.clone()).unwrap();
    let err = data.get(0).unwrap_err().to_string();
    assert!(err.contains("broken_1.jpg"), "{err}");

    pixel.save(dir.join("nolabel.png")).unwrap();
    let err = ImageFolder::open(&dir, preprocess.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nolabel.png") && err.contains("no label"), "{err}");

    let err = ImageFolder::open(&dir, Preprocess::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("crop"), "{err}");
    let empty = common::scratch_dir("images-empty");
    let err = ImageFolder::open(&empty, preprocess).unwrap_err().to_string();
    assert!(err.contains("images-empty") && err.contains("no .jpg"), "{err}");
}
