//! `lowbit embed` on bad input, end to end on all-MiniLM-L6-v2: each case gives a clear
//! one-line error (or, for an over-long sentence, a warning), never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .output()
        .expect("the lowbit binary runs")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn minilm() -> Option<PathBuf> {
    let dir = lowbit::assets::assets_dir().map(|d| d.join("all-minilm-l6-v2"));
    match dir {
        Some(d) if d.join("model.onnx").is_file() => Some(d),
        _ => {
            let reason = "asset 'all-minilm-l6-v2' not found (set LOWBIT_ASSETS)";
            assert!(
                std::env::var("LOWBIT_REQUIRE_ASSETS").as_deref() != Ok("1"),
                "{reason}, and LOWBIT_REQUIRE_ASSETS=1"
            );
            eprintln!("skipped: {reason}");
            None
        }
    }
}

/// Runs `lowbit embed` on the MiniLM model with `tokenizer` and `extra` arguments.
fn embed(dir: &Path, tokenizer: &Path, extra: &[&str]) -> (bool, String) {
    let model = dir.join("model.onnx");
    let mut args = vec![
        "embed",
        "--model",
        s(&model),
        "--tokenizer",
        s(tokenizer),
        "--threads",
        "1",
    ];
    args.extend_from_slice(extra);
    let out = lowbit(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stderr)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowbit-embed-errors-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_empty_sentence_list_is_an_error() {
    let Some(dir) = minilm() else { return };
    let tokenizer = dir.join("tokenizer.json");
    let (ok, stderr) = embed(&dir, &tokenizer, &[]);
    assert!(!ok && stderr.contains("no sentences to embed"), "{stderr}");

    let tmp = scratch("empty");
    let blank = tmp.join("blank.txt");
    std::fs::write(&blank, "\n   \n\n").unwrap();
    let (ok, stderr) = embed(&dir, &tokenizer, &["--file", s(&blank)]);
    std::fs::remove_dir_all(&tmp).ok();
    assert!(!ok && stderr.contains("no sentences to embed"), "{stderr}");
}

#[test]
fn a_sentence_longer_than_the_model_is_truncated_with_a_warning() {
    let Some(dir) = minilm() else { return };
    let long = "token ".repeat(600);
    let (ok, stderr) = embed(&dir, &dir.join("tokenizer.json"), &["short one", &long]);
    // 600 words and [CLS], [SEP]; the model has 512 positions.
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: sentence 2 has 602 tokens, truncated to 512"),
        "{stderr}"
    );
    assert!(!stderr.contains("sentence 1 "), "{stderr}");
}

#[test]
fn a_tokenizer_of_another_vocabulary_is_refused() {
    let Some(dir) = minilm() else { return };
    let text = std::fs::read_to_string(dir.join("tokenizer.json")).unwrap();
    let tmp = scratch("vocab");
    let odd = tmp.join("tokenizer.json");
    std::fs::write(&odd, text.replacen("\"[unused0]\":1,", "", 1)).unwrap();
    let (ok, stderr) = embed(&dir, &odd, &["hello"]);
    std::fs::remove_dir_all(&tmp).ok();
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("30521 tokens") && stderr.contains("30522 rows"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
