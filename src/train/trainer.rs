//! The training loop: one iteration is a main step, then (STIB only) an adversary step, on the
//! same fresh batch from the data process (paper Eq. 6-7). Validation on a separate set every
//! few hundred iterations keeps the best checkpoint and writes a resumable one.
//!
//! Every random draw (initial weights, batches, noise) comes from one seeded ChaCha8 stream,
//! saved in the checkpoint, so a resumed run continues exactly as if never stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::adam::Adam;
use super::checkpoint::{self, CheckpointState};
use super::config::{Config, Selection};
use super::objective::{StepStats, adversary_loss, main_loss};
use crate::data::spiral::{self, SpiralSample};
use crate::error::{Error, Result};
use crate::eval::metrics::{Metrics, evaluate, to_tensor};
use crate::model::SpiralModel;

/// Name of the resumable checkpoint.
pub const LAST: &str = "last";
/// Name of the best checkpoint.
pub const BEST: &str = "best";

/// What the loop reports to its caller (progress bars, logs).
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// An iteration finished.
    Step {
        /// Iterations completed.
        iteration: u64,
        /// lambda used.
        lambda: f64,
        /// Scalars of the main step.
        stats: StepStats,
    },
    /// A validation finished.
    Validated {
        /// Iterations completed.
        iteration: u64,
        /// Validation metrics.
        metrics: Metrics,
        /// Whether this became the best checkpoint.
        best: bool,
    },
}

/// A model, its optimisers and the state of its run.
pub struct Trainer {
    /// The configuration.
    pub config: Config,
    /// The model.
    pub model: SpiralModel,
    varmap: VarMap,
    main_opt: Adam,
    adversary_opt: Option<Adam>,
    rng: ChaCha8Rng,
    /// Iterations completed.
    pub iteration: u64,
    /// Current lambda.
    pub lambda: f64,
    best: Option<Metrics>,
    best_iteration: Option<u64>,
    validation: SpiralSample,
    device: Device,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer").field("kind", &self.model.kind).field("iteration", &self.iteration).finish()
    }
}

fn internal(e: candle_core::Error) -> Error {
    Error::Internal(e.to_string())
}

impl Trainer {
    /// A fresh model with seeded initial weights (Glorot-uniform weights, zero biases, zero
    /// log_sigma, as the reference's TensorFlow defaults).
    pub fn new(config: Config, device: Device) -> Result<Self> {
        config.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let model = SpiralModel::new(config.model.kind, config.model.arch(), vb).map_err(internal)?;
        for (name, var) in sorted_vars(&varmap) {
            let shape = var.shape().clone();
            let values: Vec<f32> = if name.ends_with(".weight") {
                let (fan_out, fan_in) = shape.dims2().map_err(internal)?;
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
                (0..shape.elem_count()).map(|_| (limit * (2.0 * rng.random::<f64>() - 1.0)) as f32).collect()
            } else {
                vec![0.0; shape.elem_count()]
            };
            var.set(&Tensor::from_vec(values, shape, &device).map_err(internal)?).map_err(internal)?;
        }
        let (main_vars, adversary_vars) = split_parameters(&varmap, config.model.reference_split);
        let lr = config.schedule.learning_rate;
        let main_opt = Adam::new(main_vars, lr).map_err(internal)?;
        let adversary_opt =
            if adversary_vars.is_empty() { None } else { Some(Adam::new(adversary_vars, lr).map_err(internal)?) };
        let mut vrng = ChaCha8Rng::seed_from_u64(config.validation.seed);
        let validation = spiral::sample(&mut vrng, config.validation.size);
        let lambda = config.schedule.lambda_start;
        Ok(Trainer {
            config,
            model,
            varmap,
            main_opt,
            adversary_opt,
            rng,
            iteration: 0,
            lambda,
            best: None,
            best_iteration: None,
            validation,
            device,
            dir: None,
        })
    }

    /// Writes checkpoints into `dir` (created if needed), with the configuration beside them.
    pub fn with_run_dir(mut self, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        checkpoint::write_atomic(&dir.join("config.toml"), self.config.to_toml().as_bytes())?;
        self.dir = Some(dir.to_path_buf());
        Ok(self)
    }

    /// Resumes the run in `dir` from its last checkpoint (`iterations` overrides the
    /// configured length, to extend a run).
    pub fn resume(dir: &Path, iterations: Option<u64>, device: Device) -> Result<Self> {
        let mut config = Config::from_file(&dir.join("config.toml"))?;
        if let Some(n) = iterations {
            config.schedule.iterations = n;
        }
        let mut trainer = Trainer::new(config, device.clone())?.with_run_dir(dir)?;
        let (state, tensors) = checkpoint::load(dir, LAST, &device)?;
        trainer.load_weights(&tensors)?;
        trainer.main_opt.restore("opt.main", &tensors, state.main_steps).map_err(internal)?;
        if let Some(opt) = trainer.adversary_opt.as_mut() {
            opt.restore("opt.adversary", &tensors, state.adversary_steps).map_err(internal)?;
        }
        trainer.rng = state.rng;
        trainer.iteration = state.iteration;
        trainer.lambda = state.lambda;
        trainer.best = state.best;
        trainer.best_iteration = state.best_iteration;
        Ok(trainer)
    }

    /// Sets the model's weights from tensors named as in the model.
    pub fn load_weights(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in sorted_vars(&self.varmap) {
            let t =
                tensors.get(&name).ok_or_else(|| Error::invalid(format!("the checkpoint lacks weight '{name}'")))?;
            if t.shape() != var.shape() {
                return Err(Error::invalid(format!(
                    "weight '{name}' has shape {:?} in the checkpoint but {:?} in the model",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t.to_dtype(DType::F32).map_err(internal)?).map_err(internal)?;
        }
        Ok(())
    }

    /// The model's weights by name.
    pub fn weights(&self) -> HashMap<String, Tensor> {
        sorted_vars(&self.varmap).into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect()
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Validation metrics and iteration of the best checkpoint so far.
    pub fn best(&self) -> Option<(Metrics, u64)> {
        self.best.zip(self.best_iteration)
    }

    /// One iteration: a fresh batch, the main step, then the adversary step.
    pub fn step(&mut self) -> Result<StepStats> {
        let n = self.config.schedule.batch;
        let batch = spiral::sample(&mut self.rng, n);
        let x = to_tensor(&batch.x, &self.device).map_err(internal)?;
        let y = to_tensor(&batch.y, &self.device).map_err(internal)?;
        let eps = self.noise(n)?;
        let lr = self.config.schedule.learning_rate_at(self.iteration);
        self.main_opt.lr = lr;
        if let Some(opt) = self.adversary_opt.as_mut() {
            opt.lr = lr;
        }
        let (loss, mut stats) =
            main_loss(&self.model, &self.config.loss, &x, &y, &eps, self.lambda).map_err(internal)?;
        let grads = loss.backward().map_err(internal)?;
        self.main_opt.step(&grads).map_err(internal)?;
        // The adversary step draws its own noise (after the main step, in the same stream).
        let adversary_eps = if self.adversary_opt.is_some() { Some(self.noise(n)?) } else { None };
        if let (Some(opt), Some(eps)) = (self.adversary_opt.as_mut(), adversary_eps)
            && let Some((loss, ir)) = adversary_loss(&self.model, &self.config.loss, &x, &y, &eps).map_err(internal)?
        {
            let grads = loss.backward().map_err(internal)?;
            opt.step(&grads).map_err(internal)?;
            stats.ir = ir;
        }
        if !stats.main.is_finite() {
            return Err(Error::Internal(format!(
                "the loss became {} at iteration {}; lower schedule.learning_rate",
                stats.main,
                self.iteration + 1
            )));
        }
        self.iteration += 1;
        let s = &self.config.schedule;
        if self.iteration.is_multiple_of(s.lambda_every) {
            self.lambda *= s.lambda_growth;
            if s.lambda_max > 0.0 {
                self.lambda = self.lambda.min(s.lambda_max);
            }
        }
        Ok(stats)
    }

    fn noise(&mut self, n: usize) -> Result<Tensor> {
        let latent = self.model.latent_dim();
        let v: Vec<f32> = (0..n * latent).map(|_| StandardNormal.sample(&mut self.rng)).collect();
        Tensor::from_vec(v, (n, latent), &self.device).map_err(internal)
    }

    /// Metrics on the validation set (no MI).
    pub fn validate(&self) -> Result<Metrics> {
        evaluate(&self.model, &self.validation, &self.device, false)
    }

    /// Trains until the configured number of iterations, validating and checkpointing on the
    /// way, and reports each step and validation to `on_event`.
    pub fn train(&mut self, mut on_event: impl FnMut(Event)) -> Result<()> {
        let total = self.config.schedule.iterations;
        while self.iteration < total {
            let stats = self.step()?;
            on_event(Event::Step { iteration: self.iteration, lambda: self.lambda, stats });
            if self.iteration.is_multiple_of(self.config.validation.every) || self.iteration == total {
                let metrics = self.validate()?;
                let best = self.is_better(&metrics);
                if best {
                    self.best = Some(metrics);
                    self.best_iteration = Some(self.iteration);
                }
                self.checkpoint(best, metrics)?;
                self.log_validation(&stats, &metrics, best)?;
                on_event(Event::Validated { iteration: self.iteration, metrics, best });
            }
        }
        Ok(())
    }

    /// Appends one JSON line per validation to `history.jsonl` in the run folder.
    fn log_validation(&self, stats: &StepStats, metrics: &Metrics, best: bool) -> Result<()> {
        use std::io::Write;
        let Some(dir) = &self.dir else { return Ok(()) };
        let path = dir.join("history.jsonl");
        let line = serde_json::json!({
            "iteration": self.iteration, "lambda": self.lambda, "best": best,
            "train": stats, "validation": metrics,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io { path: path.clone(), source })?;
        writeln!(f, "{line}").map_err(|source| Error::Io { path, source })
    }

    fn is_better(&self, m: &Metrics) -> bool {
        let Some(best) = &self.best else { return true };
        let y_ok = |cmp: fn(f64, f64) -> bool| match (m.mae_y, best.mae_y) {
            (Some(a), Some(b)) => cmp(a, b),
            _ => true,
        };
        match self.config.validation.selection {
            Selection::Last => true,
            Selection::Both => m.mae_x <= best.mae_x && y_ok(|a, b| a <= b),
            Selection::Sum => m.mae_x + m.mae_y.unwrap_or(0.0) < best.mae_x + best.mae_y.unwrap_or(0.0),
        }
    }

    /// Writes the resumable checkpoint (and the best one when `best`).
    pub fn checkpoint(&self, best: bool, metrics: Metrics) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let weights = self.weights();
        let state = CheckpointState {
            tensors: String::new(),
            iteration: self.iteration,
            lambda: self.lambda,
            rng: self.rng.clone(),
            main_steps: self.main_opt.steps(),
            adversary_steps: self.adversary_opt.as_ref().map_or(0, Adam::steps),
            best: self.best,
            best_iteration: self.best_iteration,
            metrics: Some(metrics),
        };
        if best {
            checkpoint::save(dir, BEST, &weights, state.clone())?;
        }
        let mut all = weights;
        all.extend(self.main_opt.state("opt.main"));
        if let Some(opt) = &self.adversary_opt {
            all.extend(opt.state("opt.adversary"));
        }
        checkpoint::save(dir, LAST, &all, state)
    }
}

/// Variables with their names.
type NamedVars = Vec<(String, Var)>;

/// Variables sorted by name (a fixed order for seeding and saving).
fn sorted_vars(varmap: &VarMap) -> NamedVars {
    let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut vars: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Parameters of the main step and of the adversary step. The adversary owns `adversary.*`
/// and `bijection.*`; with `reference_split` its first layer goes to the main step instead,
/// as in the reference code.
fn split_parameters(varmap: &VarMap, reference_split: bool) -> (NamedVars, NamedVars) {
    sorted_vars(varmap).into_iter().partition(|(name, _)| {
        let adversarial = name.starts_with("adversary.") || name.starts_with("bijection.");
        !adversarial || (reference_split && name.starts_with("adversary.0."))
    })
}

/// Loads a trained model from a run folder: its configuration and the `which` checkpoint
/// (`best` or `last`).
pub fn load_run(dir: &Path, which: &str, device: Device) -> Result<Trainer> {
    let config = Config::from_file(&dir.join("config.toml"))?;
    let mut trainer = Trainer::new(config, device.clone())?;
    let (state, tensors) = checkpoint::load(dir, which, &device)?;
    trainer.load_weights(&tensors)?;
    trainer.iteration = state.iteration;
    trainer.lambda = state.lambda;
    trainer.best = state.best;
    trainer.best_iteration = state.best_iteration;
    Ok(trainer)
}
