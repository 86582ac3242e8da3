//! Sentence embeddings from a BERT-style encoder: tokenize with a Hugging Face
//! `tokenizer.json`, run the model, pool `last_hidden_state` over the real tokens, and
//! L2-normalise (the sentence-transformers recipe of all-MiniLM-L6-v2).
//!
//! Contracts:
//! - The model takes `input_ids`, and optionally `attention_mask` and `token_type_ids`
//!   (integer `[batch, sequence]`), and its first output is `[batch, sequence, hidden]`.
//! - The tokenizer's own padding and truncation settings are replaced: each batch is
//!   padded to its longest sentence, and sentences are truncated to
//!   [`EmbedOptions::max_length`] or, when unset, to the model's maximum position count
//!   (the rows of its position-embedding table). A truncated sentence is embedded from
//!   its first tokens and reported in [`Embeddings::truncated`]: it is a warning, not an
//!   error.
//! - A tokenizer whose vocabulary size differs from the rows of the model's word-embedding
//!   table (the initializer gathered by `input_ids`) is refused: its ids would index the
//!   wrong rows.

use std::path::Path;

use lowbit_graph::{Graph, Op, ValueId};
use lowbit_runtime::{Plan, PlanOptions};
use lowbit_tensor::{DType, Tensor};
use tokenizers::{Encoding, PaddingParams, Tokenizer, TruncationParams};

use crate::{Error, Result};

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Mean over the positions where `attention_mask` is 1.
    #[default]
    Mean,
    /// The first token's vector (`[CLS]`).
    Cls,
}

#[derive(Debug, Clone)]
pub struct EmbedOptions {
    pub pooling: Pooling,
    /// Longest token sequence (special tokens included); `None`: the model's maximum.
    pub max_length: Option<usize>,
    /// L2-normalise each embedding.
    pub normalize: bool,
    /// Sentences per model run.
    pub batch_size: usize,
    /// Plan threads (0: every core).
    pub threads: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            pooling: Pooling::Mean,
            max_length: None,
            normalize: true,
            batch_size: 32,
            threads: 0,
        }
    }
}

/// The embeddings of a list of sentences, in order.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// One vector of the model's hidden size per sentence.
    pub vectors: Vec<Vec<f32>>,
    /// `(sentence index, token count before truncation)` of each truncated sentence.
    pub truncated: Vec<(usize, usize)>,
    /// The length sentences were truncated to.
    pub max_length: usize,
}

/// A model and its tokenizer, ready to embed sentences.
pub struct Embedder {
    plan: Plan,
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation, to report a truncated sentence's length.
    untruncated: Tokenizer,
    inputs: ModelInputs,
    max_length: usize,
    options: EmbedOptions,
}

/// Where each tokenizer output goes among the graph inputs.
struct ModelInputs {
    dtype: DType,
    count: usize,
    ids: usize,
    mask: Option<usize>,
    type_ids: Option<usize>,
}

impl Embedder {
    /// Loads an ONNX model and a `tokenizer.json`.
    pub fn from_files(model: &Path, tokenizer: &Path, options: &EmbedOptions) -> Result<Embedder> {
        let graph = lowbit_onnx::load(model)?;
        let tokenizer = Tokenizer::from_file(tokenizer).map_err(|e| Error::File {
            path: tokenizer.to_path_buf(),
            message: format!("cannot load the tokenizer: {e}"),
        })?;
        Embedder::new(graph, tokenizer, options)
    }

    /// Checks the tokenizer against the graph and compiles the graph.
    pub fn new(graph: Graph, mut tokenizer: Tokenizer, options: &EmbedOptions) -> Result<Embedder> {
        if options.batch_size == 0 {
            return Err(Error::Invalid(
                "the embedding batch size must be at least 1".into(),
            ));
        }
        let inputs = ModelInputs::of(&graph)?;
        let ids = graph.inputs[inputs.ids];
        if let Some(rows) = gathered_table_rows(&graph, |g, data| is_gather_of(g, data, ids)) {
            let vocab = tokenizer.get_vocab_size(true);
            if vocab != rows {
                return Err(Error::Invalid(format!(
                    "the tokenizer has {vocab} tokens but the model's word-embedding table has {rows} rows"
                )));
            }
        }
        let max_positions = position_table_rows(&graph);
        let max_length = match (options.max_length, max_positions) {
            (Some(0), _) => return Err(Error::Invalid("--max-length must be at least 1".into())),
            (Some(asked), Some(limit)) if asked > limit => {
                return Err(Error::Invalid(format!(
                    "max length {asked} exceeds the model's {limit} positions"
                )))
            }
            (Some(asked), _) => asked,
            (None, Some(limit)) => limit,
            (None, None) => usize::MAX,
        };
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Invalid(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        let mut untruncated = tokenizer.clone();
        untruncated
            .with_truncation(None)
            .map_err(|e| Error::Invalid(format!("tokenizer truncation: {e}")))?;
        let plan = Plan::new(
            graph,
            &PlanOptions {
                threads: options.threads,
                optimize: true,
            },
        )?;
        Ok(Embedder {
            plan,
            tokenizer,
            untruncated,
            inputs,
            max_length,
            options: options.clone(),
        })
    }

    /// The compiled model.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Embeds `sentences` (at least one).
    pub fn embed<S: AsRef<str>>(&self, sentences: &[S]) -> Result<Embeddings> {
        if sentences.is_empty() {
            return Err(Error::Invalid("no sentences to embed".into()));
        }
        let mut vectors = Vec::with_capacity(sentences.len());
        let mut truncated = Vec::new();
        for (b, batch) in sentences.chunks(self.options.batch_size).enumerate() {
            let texts: Vec<&str> = batch.iter().map(AsRef::as_ref).collect();
            let encodings = self
                .tokenizer
                .encode_batch(texts, true)
                .map_err(|e| Error::Invalid(format!("tokenizing: {e}")))?;
            for (i, e) in encodings.iter().enumerate() {
                if !e.get_overflowing().is_empty() {
                    let full = self
                        .untruncated
                        .encode(batch[i].as_ref(), true)
                        .map_err(|e| Error::Invalid(format!("tokenizing: {e}")))?;
                    truncated.push((b * self.options.batch_size + i, full.len()));
                }
            }
            vectors.extend(self.embed_encoded(&encodings)?);
        }
        Ok(Embeddings {
            vectors,
            truncated,
            max_length: self.max_length,
        })
    }

    fn embed_encoded(&self, encodings: &[Encoding]) -> Result<Vec<Vec<f32>>> {
        let batch = encodings.len();
        let seq = encodings.iter().map(Encoding::len).max().unwrap_or(0);
        let column = |f: fn(&Encoding) -> &[u32]| -> Vec<i64> {
            encodings
                .iter()
                .flat_map(|e| f(e).iter().map(|&v| i64::from(v)))
                .collect()
        };
        let masks = column(Encoding::get_attention_mask);
        let mut feeds: Vec<Option<Tensor>> = vec![None; self.inputs.count];
        let tensor = |values: Vec<i64>| -> Result<Tensor> {
            let t = Tensor::new(vec![batch, seq], values)?;
            Ok(if self.inputs.dtype == DType::I64 {
                t
            } else {
                t.cast(self.inputs.dtype)
            })
        };
        feeds[self.inputs.ids] = Some(tensor(column(Encoding::get_ids))?);
        if let Some(m) = self.inputs.mask {
            feeds[m] = Some(tensor(masks.clone())?);
        }
        if let Some(t) = self.inputs.type_ids {
            feeds[t] = Some(tensor(column(Encoding::get_type_ids))?);
        }
        let feeds: Vec<Tensor> = feeds
            .into_iter()
            .map(|f| f.expect("every input is fed"))
            .collect();
        let outputs = self.plan.run(&feeds)?;
        let hidden = outputs
            .first()
            .ok_or_else(|| Error::Invalid("the model has no output".into()))?;
        let shape = hidden.shape();
        if shape.len() != 3 || shape[0] != batch || shape[1] != seq {
            return Err(Error::Invalid(format!(
                "the model's first output is {shape:?}, expected [{batch}, {seq}, hidden]"
            )));
        }
        let values = hidden.to_f32_vec();
        Ok(pool(
            &values,
            &masks,
            (batch, seq, shape[2]),
            self.options.pooling,
            self.options.normalize,
        ))
    }
}

impl ModelInputs {
    fn of(graph: &Graph) -> Result<ModelInputs> {
        let position = |name: &str| graph.inputs.iter().position(|&id| graph.value(id).name == name);
        let ids = position("input_ids")
            .ok_or_else(|| Error::Invalid("the model has no 'input_ids' input: not a text encoder".into()))?;
        let (mask, type_ids) = (position("attention_mask"), position("token_type_ids"));
        let known = 1 + usize::from(mask.is_some()) + usize::from(type_ids.is_some());
        if known != graph.inputs.len() {
            let names: Vec<&str> = graph
                .inputs
                .iter()
                .map(|&id| graph.value(id).name.as_str())
                .collect();
            return Err(Error::Invalid(format!(
                "the model's inputs ({}) are not input_ids, attention_mask and token_type_ids",
                names.join(", ")
            )));
        }
        let dtype = graph.value(graph.inputs[ids]).fact.dtype.unwrap_or(DType::I64);
        if !matches!(dtype, DType::I64 | DType::I32) {
            return Err(Error::Invalid(format!(
                "input_ids must be an integer tensor, the model declares {dtype}"
            )));
        }
        Ok(ModelInputs {
            dtype,
            count: graph.inputs.len(),
            ids,
            mask,
            type_ids,
        })
    }
}

/// Whether `data` is the table of a Gather indexed by `indices`.
fn is_gather_of(graph: &Graph, data: ValueId, indices: ValueId) -> bool {
    graph.nodes.iter().any(|n| {
        matches!(n.op, Op::Gather { axis: 0 }) && n.input(0) == Some(data) && n.input(1) == Some(indices)
    })
}

/// Rows of the first rank-2 initializer accepted by `pick`.
fn gathered_table_rows(graph: &Graph, pick: impl Fn(&Graph, ValueId) -> bool) -> Option<usize> {
    graph
        .initializers
        .iter()
        .find(|(&id, t)| t.rank() == 2 && pick(graph, id))
        .map(|(_, t)| t.shape()[0])
}

/// The model's maximum positions: the rows of a rank-2 initializer named like a
/// position-embedding table (BERT exports read it with a Gather or a Slice).
fn position_table_rows(graph: &Graph) -> Option<usize> {
    gathered_table_rows(graph, |g, id| g.value(id).name.contains("position_embeddings"))
}

/// Pools `[batch, seq, dim]` hidden states into one vector per sentence.
pub fn pool(
    hidden: &[f32],
    mask: &[i64],
    (batch, seq, dim): (usize, usize, usize),
    pooling: Pooling,
    normalize: bool,
) -> Vec<Vec<f32>> {
    (0..batch)
        .map(|b| {
            let token = |t: usize| &hidden[(b * seq + t) * dim..(b * seq + t + 1) * dim];
            let mut v = match pooling {
                Pooling::Cls if seq > 0 => token(0).to_vec(),
                Pooling::Cls => vec![0.0; dim],
                Pooling::Mean => {
                    let mut sum = vec![0f64; dim];
                    let mut count = 0usize;
                    for t in (0..seq).filter(|&t| mask[b * seq + t] != 0) {
                        count += 1;
                        sum.iter_mut()
                            .zip(token(t))
                            .for_each(|(s, &x)| *s += f64::from(x));
                    }
                    let count = count.max(1) as f64;
                    sum.into_iter().map(|s| (s / count) as f32).collect()
                }
            };
            if normalize {
                let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
                }
            }
            v
        })
        .collect()
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let na: f64 = a.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
