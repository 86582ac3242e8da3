//! Graph rewrite passes (fusion, BatchNorm folding, ...).
