//! `lowbit demo [foundation|ptq]`: picks the walk-through.

use crate::args::{DemoArgs, DemoCommand};

pub fn run(args: DemoArgs, json: bool) -> anyhow::Result<()> {
    match args.walkthrough {
        None => super::demo_fashion::run(&args, json),
        Some(DemoCommand::Foundation) => super::demo_foundation::run(&args, json),
        Some(DemoCommand::Ptq(ptq)) => super::demo_ptq::run(ptq, json),
    }
}
