//! One module per subcommand; each resolves its arguments, does the work through the
//! `lowbit` facade, and prints a table or JSON.

mod bench;
mod compare;
mod conformance;
mod demo;
mod demo_fashion;
mod demo_foundation;
mod demo_ptq;
mod embed;
mod eval;
mod inspect;
mod quantize;
mod quantize_qat;
mod quantize_static;
mod run;
mod sysinfo;
mod train;
mod tune;
mod zoo;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use lowbit::graph::Graph;
use lowbit::tensor::Tensor;

use crate::args::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args, cli.json),
        Command::Run(args) => run::run(args, cli.json),
        Command::Eval(args) => eval::run(args, cli.json),
        Command::Bench(args) => bench::run(args, cli.json),
        Command::Conformance(args) => conformance::run(args, cli.json),
        Command::Demo(args) => demo::run(args, cli.json),
        Command::Zoo(args) => zoo::run(args, cli.json),
        Command::Sysinfo(args) => sysinfo::run(args, cli.json),
        Command::Embed(args) => embed::run(args, cli.json),
        Command::Quantize(args) => quantize::run(args, cli.json),
        Command::Compare(args) => compare::run(args, cli.json),
        Command::Train(args) => train::run(args, cli.json),
        Command::Tune(args) => tune::run(args, cli.json),
    }
}

/// Reads `NAME=FILE.npy` pairs into tensors ordered like the graph's inputs.
/// Every graph input must be given once, and no unknown name.
fn read_named_inputs(graph: &Graph, given: &[(String, PathBuf)]) -> anyhow::Result<Vec<Tensor>> {
    let mut by_name: HashMap<&str, &PathBuf> = HashMap::new();
    for (name, path) in given {
        if graph.inputs.iter().all(|&id| graph.value(id).name != *name) {
            let names: Vec<&str> = graph
                .inputs
                .iter()
                .map(|&id| graph.value(id).name.as_str())
                .collect();
            bail!(
                "the model has no input '{name}' (its inputs: {})",
                names.join(", ")
            );
        }
        if by_name.insert(name, path).is_some() {
            bail!("input '{name}' is given twice");
        }
    }
    graph
        .inputs
        .iter()
        .map(|&id| {
            let name = &graph.value(id).name;
            let path = by_name
                .get(name.as_str())
                .with_context(|| format!("missing --input {name}=FILE.npy"))?;
            lowbit::data::read_npy(path).with_context(|| format!("reading input '{name}'"))
        })
        .collect()
}
