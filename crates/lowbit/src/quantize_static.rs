//! Static post-training quantization of an ONNX file: prepare, calibrate, convert with
//! [`lowbit_quant::static_ptq`], and write the QDQ model to a different path.

use std::path::{Path, PathBuf};

use lowbit_data::Dataset;
use lowbit_graph::Graph;
use lowbit_quant::static_ptq::{prepare, QConfig, Quantized};

use crate::{Error, Result};

/// Quantizes `graph` with `qconfig`, calibrating on the first `calib_limit` samples of
/// `calibration`. `progress` receives the number of samples done.
pub fn quantize_static(
    graph: Graph,
    qconfig: &QConfig,
    calibration: &dyn Dataset,
    calib_limit: Option<usize>,
    progress: &mut dyn FnMut(usize),
) -> Result<Quantized> {
    let invalid = |e: lowbit_quant::static_ptq::PtqError| Error::Invalid(e.to_string());
    let mut prepared = prepare(graph, qconfig).map_err(invalid)?;
    prepared
        .calibrate(calibration, calib_limit, progress)
        .map_err(invalid)?;
    prepared.convert().map_err(invalid)
}

/// Errors when `output` resolves to the same file as `input` (canonicalised, so
/// `dir/../model.onnx` is caught), so a quantizer never overwrites its input.
pub fn check_distinct_output(input: &Path, output: &Path) -> Result<()> {
    let input_real = input.canonicalize().map_err(|e| Error::File {
        path: input.to_path_buf(),
        message: e.to_string(),
    })?;
    let output_real = output.canonicalize().ok().or_else(|| {
        let parent = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(parent.canonicalize().ok()?.join(output.file_name()?))
    });
    if output_real.as_deref() == Some(input_real.as_path()) {
        return Err(Error::Invalid(format!(
            "the output {} is the input model: choose another path",
            output.display()
        )));
    }
    Ok(())
}
