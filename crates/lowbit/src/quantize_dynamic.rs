//! Dynamic quantization of an ONNX file: load, rewrite with
//! [`lowbit_quant::dynamic::quantize_dynamic`], write atomically to a different path.

use std::path::Path;

use lowbit_quant::dynamic::{quantize_dynamic, DynamicConfig};
use serde::Serialize;

use crate::{Error, Result};

/// What a dynamic quantization did.
#[derive(Debug, Clone, Serialize)]
pub struct DynamicReport {
    /// Size of the input file.
    pub fp32_bytes: u64,
    /// Size of the written file.
    pub int8_bytes: u64,
    /// MatMul/Gemm nodes turned into MatMulInteger chains.
    pub quantized_matmuls: usize,
    /// Embedding tables stored as i8.
    pub quantized_embeddings: usize,
    /// Candidates left in FP32 by a keep pattern.
    pub kept_fp32: Vec<String>,
}

/// Quantizes the model at `input` and writes it to `output`, which must not name the
/// same file (the input is never overwritten).
pub fn quantize_dynamic_file(input: &Path, output: &Path, config: &DynamicConfig) -> Result<DynamicReport> {
    let file_error = |path: &Path, e: std::io::Error| Error::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    crate::quantize_static::check_distinct_output(input, output)?;
    let graph = lowbit_onnx::load(input)?;
    let result = quantize_dynamic(&graph, config).map_err(|e| Error::File {
        path: input.to_path_buf(),
        message: e.to_string(),
    })?;
    lowbit_onnx::save(&result.graph, output)?;
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| file_error(path, e))
    };
    Ok(DynamicReport {
        fp32_bytes: size(input)?,
        int8_bytes: size(output)?,
        quantized_matmuls: result.quantized.len(),
        quantized_embeddings: result.embeddings.len(),
        kept_fp32: result.kept_fp32,
    })
}
