//! `lowbit run`: outputs of a model for given inputs, written as .npy files.

use anyhow::Context;
use lowbit::model::Model;
use lowbit::runtime::PlanOptions;
use serde::Serialize;

use crate::args::RunArgs;
use crate::output::{print_json, Table};

#[derive(Serialize)]
struct WrittenOutput {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    file: String,
}

pub fn run(args: RunArgs, json: bool) -> anyhow::Result<()> {
    let options = PlanOptions {
        threads: args.runtime.threads,
        ..PlanOptions::default()
    };
    let model = Model::load(&args.model, &options)?;
    let inputs = super::read_named_inputs(&model.graph, &args.inputs)?;
    let outputs = model.plan.run(&inputs)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating output directory {}", args.output.display()))?;
    let mut written = Vec::new();
    for (&id, tensor) in model.graph.outputs.iter().zip(&outputs) {
        let name = model.graph.value(id).name.clone();
        // Output names may hold '/' (e.g. "/encoder/Add_output_0"): keep one file per output.
        let file = args
            .output
            .join(format!("{}.npy", name.replace(['/', '\\'], "_")));
        lowbit::data::write_npy(&file, tensor).with_context(|| format!("writing {}", file.display()))?;
        written.push(WrittenOutput {
            name,
            shape: tensor.shape().to_vec(),
            dtype: tensor.dtype().to_string(),
            file: file.display().to_string(),
        });
    }
    if json {
        return print_json(&serde_json::json!({ "outputs": written }));
    }
    let mut table = Table::new(["output", "dtype", "shape", "file"]);
    for w in &written {
        table.row([
            w.name.clone(),
            w.dtype.clone(),
            format!("{:?}", w.shape),
            w.file.clone(),
        ]);
    }
    table.print();
    Ok(())
}
