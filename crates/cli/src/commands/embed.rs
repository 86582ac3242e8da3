//! `lowbit embed`: sentence embeddings, printed or written as .npy.

use anyhow::{bail, Context};
use lowbit::embed::{EmbedOptions, Embedder, Pooling};
use lowbit::tensor::Tensor;
use serde::Serialize;

use crate::args::{EmbedArgs, PoolingArg};
use crate::output::{print_json, Table};

/// Values of each embedding shown in the table.
const SHOWN: usize = 4;

#[derive(Serialize)]
struct EmbedReport<'a> {
    n: usize,
    dim: usize,
    embeddings: &'a [Vec<f32>],
    truncated: Vec<usize>,
}

pub fn run(args: EmbedArgs, json: bool) -> anyhow::Result<()> {
    let mut sentences = Vec::new();
    if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        sentences.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    sentences.extend(args.sentences.iter().cloned());
    if sentences.is_empty() {
        bail!("no sentences to embed: give them as arguments or with --file");
    }
    let options = EmbedOptions {
        pooling: match args.pooling {
            PoolingArg::Mean => Pooling::Mean,
            PoolingArg::Cls => Pooling::Cls,
        },
        max_length: args.max_length,
        batch_size: args.batch,
        threads: args.runtime.threads,
        ..EmbedOptions::default()
    };
    let embedder = Embedder::from_files(&args.model, &args.tokenizer, &options)?;
    let result = embedder.embed(&sentences)?;
    for &(i, tokens) in &result.truncated {
        eprintln!(
            "warning: sentence {} has {tokens} tokens, truncated to {}",
            i + 1,
            result.max_length
        );
    }
    let dim = result.vectors.first().map_or(0, Vec::len);
    if let Some(path) = &args.output {
        let flat: Vec<f32> = result.vectors.iter().flatten().copied().collect();
        let tensor = Tensor::new(vec![result.vectors.len(), dim], flat)?;
        lowbit::data::write_npy(path, &tensor).with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        return print_json(&EmbedReport {
            n: result.vectors.len(),
            dim,
            embeddings: &result.vectors,
            truncated: result.truncated.iter().map(|&(i, _)| i).collect(),
        });
    }
    let mut table = Table::new(["#", "sentence", "first values", "norm"]);
    for (i, (sentence, v)) in sentences.iter().zip(&result.vectors).enumerate() {
        let first: Vec<String> = v.iter().take(SHOWN).map(|x| format!("{x:+.4}")).collect();
        let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        table.row([
            (i + 1).to_string(),
            shorten(sentence, 40),
            format!("[{}, ...]", first.join(", ")),
            format!("{norm:.4}"),
        ]);
    }
    table.print();
    if let Some(path) = &args.output {
        println!(
            "wrote {} embeddings of {dim} values to {}",
            result.vectors.len(),
            path.display()
        );
    }
    Ok(())
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}
