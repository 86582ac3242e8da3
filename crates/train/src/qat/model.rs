//! `prepare_qat` and the QAT model: a training executor over the rewritten graph, with
//! fake-quantize sites where static PTQ would put QDQ pairs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lowbit_autograd::{softmax_cross_entropy, Mode, Sgd, Tape, TrainingExecutor};
use lowbit_graph::{Graph, ValueId};
use lowbit_quant::static_ptq::{prepare, ActivationQConfig, ObserverKind, Preset, QConfig, WeightQConfig};
use lowbit_quant::MovingAverageMinMaxObserver;
use lowbit_tensor::Tensor;

use super::error::{QatError, Result};
use super::rewrite::{freeze_bn, inverse_std, rewrite_conv_bn, ConvBnUnit};
use super::sites::{ActivationSite, SharedSites, Sites, WeightSite};

/// The QAT form of a PTQ preset, as PyTorch's `get_default_qat_qconfig`: activations u8
/// affine with a moving-average min/max observer, weights i8 symmetric (per channel for
/// x86), reduced range as the static preset, no bias correction (training absorbs the
/// weight error itself).
pub fn qat_qconfig(preset: Preset) -> QConfig {
    let base = QConfig::preset(preset);
    QConfig {
        bias_correction: false,
        gptq_rounding: false,
        activations: ActivationQConfig {
            observer: ObserverKind::MovingAverage,
            reduce_range: base.activations.reduce_range,
            quantize_outputs: base.activations.quantize_outputs,
        },
        weights: WeightQConfig {
            per_channel: base.weights.per_channel,
        },
        overrides: base.overrides,
    }
}

/// One training step's loss and correct predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    pub loss: f32,
    pub correct: usize,
}

/// A model prepared for quantization-aware training.
pub struct QatModel {
    /// The FP32 graph as given; conversion writes the trained parameters back into it.
    pub(crate) original: Graph,
    pub(crate) qconfig: QConfig,
    exec: TrainingExecutor,
    units: Vec<ConvBnUnit>,
    pub(crate) sites: SharedSites,
    bn_frozen: bool,
    /// Executors rebuilt so far (freezing BN rewrites the graph); varies dropout seeds.
    rebuilds: u64,
}

/// PyTorch's `prepare_qat`: fuses Conv+BN(+ReLU) into units that simulate BN folding
/// ([`super::rewrite`]) and attaches fake quantization from `qconfig` at the activations
/// static PTQ quantizes and at every quantized weight. The model starts in PyTorch's
/// initial state: observers and fake quantization on, BatchNorm using batch statistics.
pub fn prepare_qat(graph: &Graph, qconfig: &QConfig) -> Result<QatModel> {
    let mut original = graph.clone();
    original.sort()?;
    original.validate()?;
    if original.inputs.len() != 1 || original.outputs.is_empty() {
        return Err(QatError::Invalid(format!(
            "the model has {} inputs and {} outputs; QAT trains one input to logits",
            original.inputs.len(),
            original.outputs.len()
        )));
    }
    // Where the PTQ convert will put QDQ pairs and quantize weights.
    let ptq = prepare(original.clone(), qconfig)?;
    let mut qat_graph = original.clone();
    let units = rewrite_conv_bn(&mut qat_graph)?;
    let mut activations = BTreeMap::new();
    for name in ptq.quantization_points() {
        let id = qat_graph
            .find_value(name)
            .ok_or_else(|| QatError::Invalid(format!("quantization point '{name}' is not in the model")))?;
        let site = ActivationSite {
            name: name.to_string(),
            observer: MovingAverageMinMaxObserver::default(),
        };
        activations.insert(id, site);
    }
    let mut weights = BTreeMap::new();
    for w in ptq.weight_sites() {
        let unit = units.iter().find(|u| u.conv == w.node);
        let id = match unit {
            Some(u) => u.folded_weight,
            None => weight_of(&qat_graph, &w.node)?,
        };
        let site = WeightSite {
            node: w.node.clone(),
            axis: w.axis,
            per_channel: w.per_channel,
            scales: None,
        };
        weights.insert(id, site);
    }
    let sites = SharedSites(Arc::new(Mutex::new(Sites {
        activations,
        weights,
        activation_scheme: qconfig.activations.scheme(),
        observing: true,
        quantizing: true,
    })));
    let exec = executor(&qat_graph, &units, &sites, 0)?;
    Ok(QatModel {
        original,
        qconfig: qconfig.clone(),
        exec,
        units,
        sites,
        bn_frozen: false,
        rebuilds: 0,
    })
}

/// The weight input of node `node`.
fn weight_of(graph: &Graph, node: &str) -> Result<ValueId> {
    graph
        .nodes
        .iter()
        .find(|n| n.name == node)
        .and_then(|n| n.input(1))
        .ok_or_else(|| QatError::Invalid(format!("node '{node}' has no weight input")))
}

/// A training executor for the rewritten graph, with every parameter trainable: the
/// rewrite moves conv weights and biases off the Conv inputs the executor looks at, and
/// freezing removes the BatchNorm nodes that mark γ and β.
fn executor(graph: &Graph, units: &[ConvBnUnit], sites: &SharedSites, seed: u64) -> Result<TrainingExecutor> {
    let mut exec = TrainingExecutor::new(graph, seed)?;
    for unit in units {
        let params = [Some(unit.weight), unit.bias, Some(unit.gamma), Some(unit.beta)];
        for id in params.into_iter().flatten() {
            exec.set_requires_grad(id, true);
        }
    }
    exec.set_fake_quant_observer(Some(Box::new(sites.clone())));
    Ok(exec)
}

impl QatModel {
    /// The model's input value.
    pub fn input(&self) -> ValueId {
        self.exec.graph().inputs[0]
    }

    /// The logits value.
    pub fn output(&self) -> ValueId {
        self.exec.graph().outputs[0]
    }

    /// The rewritten training graph.
    pub fn graph(&self) -> &Graph {
        self.exec.graph()
    }

    pub fn qconfig(&self) -> &QConfig {
        &self.qconfig
    }

    /// The executor, for optimizers and for reading parameters.
    pub fn executor_mut(&mut self) -> &mut TrainingExecutor {
        &mut self.exec
    }

    /// Names of the activation quantization points.
    pub fn activation_points(&self) -> Vec<String> {
        let sites = self.sites.lock();
        sites.activations.values().map(|s| s.name.clone()).collect()
    }

    /// Names of the nodes whose weights are fake-quantized.
    pub fn weight_nodes(&self) -> Vec<String> {
        let sites = self.sites.lock();
        sites.weights.values().map(|s| s.node.clone()).collect()
    }

    /// Number of Conv+BN pairs trained as folded units.
    pub fn conv_bn_units(&self) -> usize {
        self.units.len()
    }

    /// Runs the model. In [`Mode::Train`] BatchNorm (unless frozen) uses and updates batch
    /// statistics and observers (unless disabled) update; [`Mode::Eval`] is the
    /// fake-quantized forward that conversion reproduces.
    pub fn forward(&mut self, images: Tensor, mode: Mode) -> Result<Tape> {
        let input = self.input();
        let tape = self.exec.forward(&[(input, images)], mode)?;
        if mode == Mode::Train {
            self.refresh_inverse_std()?;
        }
        Ok(tape)
    }

    /// One SGD step on a labelled batch.
    pub fn train_step(&mut self, images: Tensor, labels: &[usize], sgd: &mut Sgd) -> Result<StepStats> {
        let output = self.output();
        let tape = self.forward(images, Mode::Train)?;
        let logits = tape
            .output()
            .ok_or_else(|| QatError::Invalid("the model produced no output".into()))?;
        let ce = softmax_cross_entropy(logits, labels)?;
        let grads = tape.backward(&[(output, ce.grad)])?;
        sgd.step(&mut self.exec, &grads)?;
        Ok(StepStats {
            loss: ce.loss,
            correct: ce.correct,
        })
    }

    /// The fake-quantized logits in evaluation mode (running statistics, no dropout).
    pub fn eval_logits(&mut self, images: Tensor) -> Result<Tensor> {
        let tape = self.forward(images, Mode::Eval)?;
        tape.output()
            .cloned()
            .ok_or_else(|| QatError::Invalid("the model produced no output".into()))
    }

    /// BatchNorm updated σ² as the step ended; the units' `1/sqrt(σ² + ε)` follows it.
    fn refresh_inverse_std(&mut self) -> Result<()> {
        if self.bn_frozen {
            return Ok(());
        }
        for unit in &self.units {
            let var = self
                .exec
                .state(unit.running_var)
                .map(|t| t.to_f32_vec())
                .ok_or_else(|| QatError::Invalid(format!("'{}' lost its running variance", unit.conv)))?;
            let inv = inverse_std(&var, unit.epsilon);
            if let Some(slot) = self.exec.state_mut(unit.inv_std) {
                slot.as_mut_slice::<f32>()?.copy_from_slice(&inv);
            }
        }
        Ok(())
    }

    /// PyTorch's `disable_observer`: ranges and weight scales stop moving.
    pub fn disable_observer(&mut self) {
        self.sites.lock().observing = false;
    }

    /// PyTorch's `enable_observer`.
    pub fn enable_observer(&mut self) {
        self.sites.lock().observing = true;
    }

    pub fn observers_enabled(&self) -> bool {
        self.sites.lock().observing
    }

    /// PyTorch's `disable_fake_quant`: values pass through unquantized (observers still
    /// observe when enabled), so the model trains as the FP32 one.
    pub fn disable_fake_quant(&mut self) {
        self.sites.lock().quantizing = false;
    }

    /// PyTorch's `enable_fake_quant`.
    pub fn enable_fake_quant(&mut self) {
        self.sites.lock().quantizing = true;
    }

    pub fn bn_frozen(&self) -> bool {
        self.bn_frozen
    }

    /// PyTorch's `freeze_bn_stats`: every unit's BatchNorm switches to its running
    /// statistics, which stop updating; γ and β keep training. Optimizer state stays
    /// valid: parameters keep their value ids.
    pub fn freeze_bn_stats(&mut self) -> Result<()> {
        if self.bn_frozen {
            return Ok(());
        }
        let mut graph = self.exec.to_graph();
        freeze_bn(&mut graph, &self.units)?;
        self.rebuilds += 1;
        self.exec = executor(&graph, &self.units, &self.sites, self.rebuilds)?;
        self.bn_frozen = true;
        Ok(())
    }

    /// The input FP32 graph with the trained parameters and running statistics: what
    /// conversion folds and quantizes.
    pub fn trained_graph(&self) -> Graph {
        let mut graph = self.original.clone();
        for (id, tensor) in graph.initializers.iter_mut() {
            if let Some(trained) = self.exec.state(*id) {
                *tensor = Arc::new(trained.clone());
            }
        }
        graph
    }
}
