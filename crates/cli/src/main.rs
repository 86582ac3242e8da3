//! The `lowbit` command-line tool.
//!
//! Every command prints aligned tables for people, or one JSON object with `--json`.
//! Errors go to stderr as one line with their cause chain; the exit code is 1 for a
//! failed command and 2 for a usage error (clap's).

mod args;
mod commands;
mod output;
mod progress;

use clap::Parser;

/// Large tensors on cache lines: the integer kernels load and stream them in whole lines.
#[global_allocator]
static ALLOC: lowbit::tensor::CacheAligned = lowbit::tensor::CacheAligned;

fn main() {
    let cli = args::Cli::parse();
    if let Err(err) = commands::dispatch(cli) {
        let chain: Vec<String> = err.chain().map(|cause| cause.to_string()).collect();
        eprintln!("error: {}", chain.join(": "));
        std::process::exit(1);
    }
}
