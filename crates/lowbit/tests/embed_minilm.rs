//! `lowbit::embed` on all-MiniLM-L6-v2: tokenizing the 20 sentences itself, it must
//! reproduce ONNX Runtime's FP32 sentence embeddings; and its error cases.

use std::path::PathBuf;

use lowbit::embed::{cosine, EmbedOptions, Embedder};
use lowbit::tensor::Tensor;

fn minilm() -> Option<PathBuf> {
    let root = std::env::var_os("LOWBIT_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/assets")));
    let dir = root.join("all-minilm-l6-v2");
    if dir.join("model.onnx").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() != Ok("1"),
        "assets required but {} is missing",
        dir.display()
    );
    eprintln!("skipped: {} is missing", dir.display());
    None
}

fn sentences(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("sentences.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    let dim = t.shape()[1];
    t.as_slice::<f32>()
        .unwrap()
        .chunks(dim)
        .map(<[f32]>::to_vec)
        .collect()
}

#[test]
fn reproduces_the_reference_sentence_embeddings() {
    let Some(dir) = minilm() else { return };
    let embedder = Embedder::from_files(
        &dir.join("model.onnx"),
        &dir.join("tokenizer.json"),
        &EmbedOptions::default(),
    )
    .unwrap();
    let sentences = sentences(&dir);
    assert_eq!(sentences.len(), 20);
    let result = embedder.embed(&sentences).unwrap();
    assert!(result.truncated.is_empty());
    assert_eq!(result.max_length, 512);
    let reference = rows(&lowbit::data::read_npy(dir.join("sentence_embeddings.npy")).unwrap());
    for (i, (got, want)) in result.vectors.iter().zip(&reference).enumerate() {
        let c = cosine(got, want);
        assert!(c >= 0.99999, "sentence {i}: cosine {c}");
    }
}

#[test]
fn errors_and_truncation() {
    let Some(dir) = minilm() else { return };
    let model = dir.join("model.onnx");
    let tokenizer = dir.join("tokenizer.json");
    let short = EmbedOptions {
        max_length: Some(6),
        ..EmbedOptions::default()
    };
    let embedder = Embedder::from_files(&model, &tokenizer, &short).unwrap();
    let empty: [&str; 0] = [];
    let err = embedder.embed(&empty).unwrap_err().to_string();
    assert!(err.contains("no sentences"), "{err}");
    let result = embedder
        .embed(&["a b", "this sentence has rather more than six tokens in it"])
        .unwrap();
    assert_eq!(result.truncated.len(), 1);
    assert_eq!(result.truncated[0].0, 1);
    // 11 word pieces and [CLS], [SEP]: 13 tokens before truncation.
    assert_eq!(result.truncated[0].1, 13);
    let norm: f32 = result.vectors[1].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);

    // Without --max-length the limit is the model's 512 positions: a longer sentence is
    // truncated (a warning, not an error) and still embedded.
    let default = Embedder::from_files(&model, &tokenizer, &EmbedOptions::default()).unwrap();
    let long = "token ".repeat(600);
    let result = default.embed(&["short", long.as_str()]).unwrap();
    assert_eq!(result.max_length, 512);
    assert_eq!(result.truncated, vec![(1, 602)]);
    assert_eq!(result.vectors.len(), 2);
    assert!(result.vectors[1].iter().all(|v| v.is_finite()));

    let too_long = EmbedOptions {
        max_length: Some(513),
        ..EmbedOptions::default()
    };
    let err = Embedder::from_files(&model, &tokenizer, &too_long)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("512 positions"), "{err}");

    // A tokenizer with a different vocabulary: rejected before any run.
    let mut text = std::fs::read_to_string(&tokenizer).unwrap();
    text = text.replacen("\"[unused0]\":1,", "", 1);
    let odd = std::env::temp_dir().join(format!("lowbit-embed-vocab-{}.json", std::process::id()));
    std::fs::write(&odd, text).unwrap();
    let err = Embedder::from_files(&model, &odd, &EmbedOptions::default())
        .err()
        .unwrap()
        .to_string();
    std::fs::remove_file(&odd).ok();
    assert!(
        err.contains("30521 tokens") && err.contains("30522 rows"),
        "{err}"
    );

    let missing = Embedder::from_files(
        &model,
        &dir.join("no-such-tokenizer.json"),
        &EmbedOptions::default(),
    );
    assert!(missing
        .err()
        .unwrap()
        .to_string()
        .contains("no-such-tokenizer.json"));
}
