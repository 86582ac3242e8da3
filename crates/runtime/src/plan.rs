//! The plan: a graph optimised and compiled once, run many times.

use lowbit_graph::infer::infer_facts;
use lowbit_graph::{passes, Graph};
use lowbit_tensor::Tensor;

use crate::compile::compile;
use crate::exec::{execute, Hooks, Lifetimes, Program};
use crate::{fold, int8, Observer, RuntimeError};

/// How [`Plan::new`] prepares a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Worker threads of the plan's pool; 0 uses every core. With 1, kernels and
    /// evaluators take their sequential paths: nothing is split across threads (the
    /// pool's single worker runs the whole graph).
    pub threads: usize,
    /// Run the rewrite passes, constant folding and Conv+activation fusion.
    pub optimize: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            threads: 0,
            optimize: true,
        }
    }
}

/// A compiled graph. `Send + Sync`: one plan may serve runs from several threads.
pub struct Plan {
    program: Program,
    pool: rayon::ThreadPool,
    fallbacks: Vec<(String, String)>,
}

impl Plan {
    /// Validates, optimises (if asked) and compiles the graph. Errors name the node and op.
    pub fn new(mut graph: Graph, options: &PlanOptions) -> Result<Plan, RuntimeError> {
        graph.sort()?;
        graph.validate()?;
        let mut quantized = int8::Matches::default();
        if options.optimize {
            let applied = passes::optimize(&mut graph)?;
            for (pass, count) in applied {
                log::debug!("pass {pass}: {count} rewrites");
            }
            // Imported files declare few intermediate facts (QDQ writers, lowbit's
            // included, declare almost none), and rewrites add values: matching needs
            // every value's dtype, and the layout choice every rank.
            infer_facts(&mut graph)?;
            // Before folding, which would dequantize the i8 weights into f32 constants;
            // only parameters computed from constants (a bias scale `Mul(x_scale,
            // w_scale)`) are folded first, since matching needs them as constants.
            fold::fold_quantization_parameters(&mut graph)?;
            quantized = int8::find(&graph);
            let folded = fold::fold_constants(&mut graph)?;
            log::debug!("constant folding: {folded} nodes");
        }
        let steps = compile(&graph, options.optimize, quantized)?;
        let fallbacks = int8::fallbacks(&steps);
        let lifetimes = Lifetimes::new(&graph, &steps);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads)
            .thread_name(|i| format!("lowbit-{i}"))
            .build()
            .map_err(|e| RuntimeError::ThreadPool {
                threads: options.threads,
                message: e.to_string(),
            })?;
        Ok(Plan {
            program: Program {
                graph,
                steps,
                lifetimes,
                pools: Default::default(),
            },
            pool,
            fallbacks,
        })
    }

    /// `(node name, op)` of the nodes of quantized regions that run in f32 between a
    /// DequantizeLinear and a QuantizeLinear (or on the reference integer evaluators)
    /// instead of an integer kernel, in execution order.
    pub fn fallbacks(&self) -> &[(String, String)] {
        &self.fallbacks
    }

    /// `(step name, kernel)` of the quantized patterns that run on the integer kernels,
    /// in execution order.
    pub fn integer_steps(&self) -> Vec<(String, String)> {
        int8::integer_steps(&self.program.steps)
    }

    /// The graph as it will be executed (after passes).
    pub fn graph(&self) -> &Graph {
        &self.program.graph
    }

    /// Number of worker threads the plan runs on.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs with `inputs` in the order of `graph().inputs`; returns `graph().outputs` in order.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RuntimeError> {
        self.pool.install(|| execute(&self.program, inputs, None))
    }

    /// Same as [`Plan::run`], calling `observer` for every value computed (the inputs,
    /// then each node output) in execution order. The observer is called on the calling
    /// thread, so it need not be `Send`; each step's computation goes to the plan's pool.
    pub fn run_observed(
        &self,
        inputs: &[Tensor],
        observer: &mut dyn Observer,
    ) -> Result<Vec<Tensor>, RuntimeError> {
        let hooks = Hooks {
            observer,
            pool: &self.pool,
        };
        execute(&self.program, inputs, Some(hooks))
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Plan>();
};
