//! Regenerates the checked-in prost code for ONNX.
//!
//! Run from anywhere: `cargo run --manifest-path crates/onnx/build-proto/Cargo.toml`.
//! It compiles `crates/onnx/proto/onnx.proto3` with protox (a pure-Rust protobuf
//! compiler, so no `protoc` is needed) and writes `crates/onnx/src/pb/onnx.rs`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("build-proto lives inside crates/onnx");
    let proto_dir = crate_dir.join("proto");
    let out_dir = crate_dir.join("src/pb");
    match regenerate(&proto_dir, &out_dir) {
        Ok(()) => {
            println!("wrote {}", out_dir.join("onnx.rs").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn regenerate(proto_dir: &Path, out_dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile([proto_dir.join("onnx.proto3")], [proto_dir])?;
    std::fs::create_dir_all(out_dir)?;
    prost_build::Config::new()
        .out_dir(out_dir)
        .compile_fds(descriptors)?;
    Ok(())
}
