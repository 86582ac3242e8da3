//! Quantization-aware training: `prepare_qat`, the freeze schedule, and conversion to a
//! QDQ model.
