//! `lowbit eval`: top-1 and top-5 accuracy on a labelled dataset.

use anyhow::Context;
use lowbit::data::{parse_triplet, Preprocess};
use lowbit::evaluate::evaluate;
use lowbit::model::Model;
use lowbit::runtime::PlanOptions;
use serde::Serialize;

use crate::args::{EvalArgs, PreprocessArgs};
use crate::output::{print_json, Table};
use crate::progress;

#[derive(Serialize)]
struct EvalReport {
    model: String,
    data: String,
    n: usize,
    top1: f64,
    top5: f64,
    preprocess: Preprocess,
}

pub fn run(args: EvalArgs, json: bool) -> anyhow::Result<()> {
    let options = PlanOptions {
        threads: args.runtime.threads,
        ..PlanOptions::default()
    };
    let model = Model::load(&args.model, &options)?;
    let preprocess = resolve_preprocess(&args.preprocess, model.preprocess()?)?;
    let dataset = lowbit::data::open(&args.data, &preprocess)?;
    let total = args.limit.map_or(dataset.len(), |l| l.min(dataset.len()));
    let bar = progress::bar(total as u64, "eval");
    let accuracy = evaluate(
        &model.plan,
        dataset.as_ref(),
        args.limit,
        args.batch,
        &mut |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let report = EvalReport {
        model: args.model.display().to_string(),
        data: args.data.clone(),
        n: accuracy.n,
        top1: accuracy.top1(),
        top5: accuracy.top5(),
        preprocess,
    };
    if json {
        return print_json(&report);
    }
    let mut table = Table::new(["model", "n", "top-1", "top-5"]);
    table.row([
        report.model.clone(),
        report.n.to_string(),
        format!("{:.4} ({}/{})", report.top1, accuracy.top1_hits, accuracy.n),
        format!("{:.4} ({}/{})", report.top5, accuracy.top5_hits, accuracy.n),
    ]);
    table.print();
    Ok(())
}

/// The preprocessing to use: the model's own (or the default) with any flag given on
/// the command line taking precedence.
pub fn resolve_preprocess(
    flags: &PreprocessArgs,
    from_model: Option<Preprocess>,
) -> anyhow::Result<Preprocess> {
    let mut p = from_model.unwrap_or_default();
    if let Some(s) = flags.resize {
        p.resize = Some(s);
    }
    if let Some(c) = flags.crop {
        p.crop = Some(c);
    }
    if let Some(m) = &flags.mean {
        p.mean = parse_triplet(m).context("--mean")?;
    }
    if let Some(s) = &flags.std {
        p.std = parse_triplet(s).context("--std")?;
    }
    if flags.gray {
        p.gray = true;
    }
    p.validate()?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_model_preprocessing() {
        let from_model = Preprocess {
            resize: Some(256),
            crop: Some(224),
            mean: [127.0; 3],
            std: [128.0; 3],
            gray: false,
        };
        let flags = PreprocessArgs {
            crop: Some(200),
            std: Some("64".into()),
            ..Default::default()
        };
        let p = resolve_preprocess(&flags, Some(from_model)).unwrap();
        assert_eq!(
            (p.resize, p.crop, p.mean, p.std),
            (Some(256), Some(200), [127.0; 3], [64.0; 3])
        );
        let bad = PreprocessArgs {
            mean: Some("1,2".into()),
            ..Default::default()
        };
        assert!(resolve_preprocess(&bad, None).is_err());
    }
}
