//! The training loop: one iteration is a main step, then (STIB only) an adversary step, on the
//! same fresh batch from the data process (paper Eq. 6-7). Validation on a separate set every
//! few hundred iterations keeps the best checkpoint and writes a resumable one. With
//! `[refit] iterations`, the schedule's iterations are followed by the refit ([`super::refit`]),
//! which starts from the best checkpoint and is validated and checkpointed the same way.
//!
//! Every random draw (initial weights, batches, noise) comes from one seeded ChaCha8 stream,
//! saved in the checkpoint, so a resumed run continues exactly as if never stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::alternating::{Alternating, internal, var_builder};
use super::checkpoint::{self, CheckpointState};
use super::config::{Config, Selection};
use super::objective::StepStats;
use super::refit::{REFIT_NETWORKS, Refit};
use crate::data::spiral::{self, SpiralSample};
use crate::error::{Error, Result};
use crate::eval::metrics::{Metrics, evaluate, to_tensor};
use crate::model::SpiralModel;

/// Name of the resumable checkpoint.
pub const LAST: &str = "last";
/// Name of the best checkpoint.
pub const BEST: &str = "best";
/// Name of the best checkpoint of the schedule, kept when a refit follows it (the refit's
/// checkpoints may then take the name `best`).
pub const TRAINED: &str = "trained";

/// What the loop reports to its caller (progress bars, logs); `M` is the experiment's
/// validation metrics.
#[derive(Debug, Clone, Copy)]
pub enum Event<M = Metrics> {
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
        metrics: M,
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
    opt: Alternating,
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
    /// The refit's optimiser, once the refit has begun.
    refit: Option<Refit>,
    /// A copy of the best checkpoint's weights, which the refit starts from (kept only when
    /// the run has a refit and it has not begun).
    best_weights: Option<HashMap<String, Tensor>>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer").field("kind", &self.model.kind).field("iteration", &self.iteration).finish()
    }
}

impl Trainer {
    /// A fresh model with seeded initial weights (see [`Alternating::new`]).
    pub fn new(config: Config, device: Device) -> Result<Self> {
        config.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let varmap = VarMap::new();
        let mut model = SpiralModel::new(config.model.kind, config.model.arch(), var_builder(&varmap, &device))
            .map_err(internal)?;
        model.set_kernels(config.model.kernels);
        let opt =
            Alternating::new(varmap, &mut rng, config.model.reference_split, &config.schedule, config.model.kernels)?;
        let mut vrng = ChaCha8Rng::seed_from_u64(config.validation.seed);
        let validation = spiral::sample(&mut vrng, config.validation.size);
        let lambda = opt.lambda;
        Ok(Trainer {
            config,
            model,
            opt,
            rng,
            iteration: 0,
            lambda,
            best: None,
            best_iteration: None,
            validation,
            device,
            dir: None,
            refit: None,
            best_weights: None,
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
    /// configured length, to extend a run, unless the run's refit has begun).
    pub fn resume(dir: &Path, iterations: Option<u64>, device: Device) -> Result<Self> {
        let mut config = Config::from_file(&dir.join("config.toml"))?;
        let (state, tensors) = checkpoint::load::<Metrics>(dir, LAST, &device)?;
        let schedule = config.schedule.iterations;
        let refitting = config.refit.iterations > 0 && state.iteration > schedule;
        if let Some(n) = iterations {
            if refitting && n != schedule {
                return Err(Error::invalid(format!(
                    "{}: the refit of this run began after the {schedule} iterations of its schedule, so \
                     --iterations cannot change them",
                    dir.display()
                )));
            }
            config.schedule.iterations = n;
        }
        let mut trainer = Trainer::new(config, device.clone())?.with_run_dir(dir)?;
        trainer.opt.restore(&tensors, state.main_steps, state.adversary_steps)?;
        trainer.rng = state.rng;
        trainer.set_position(state.iteration, state.lambda);
        trainer.best = state.best;
        trainer.best_iteration = state.best_iteration;
        if refitting {
            trainer.begin_refit()?;
            if let Some(refit) = trainer.refit.as_mut() {
                refit.restore(&tensors, state.refit_steps)?;
            }
        } else if trainer.config.refit.iterations > 0 && dir.join(format!("{BEST}.json")).exists() {
            trainer.best_weights = Some(checkpoint::load::<Metrics>(dir, BEST, &device)?.1);
        }
        Ok(trainer)
    }

    /// The model's weights by name.
    pub fn weights(&self) -> HashMap<String, Tensor> {
        self.opt.weights()
    }

    fn set_position(&mut self, iteration: u64, lambda: f64) {
        (self.iteration, self.lambda) = (iteration, lambda);
        (self.opt.iteration, self.opt.lambda) = (iteration, lambda);
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Validation metrics and iteration of the best checkpoint so far.
    pub fn best(&self) -> Option<(Metrics, u64)> {
        self.best.zip(self.best_iteration)
    }

    /// `n` fresh samples from the data process, as x and y tensors.
    fn fresh_batch(&mut self, n: usize) -> Result<(Tensor, Tensor)> {
        let batch = spiral::sample(&mut self.rng, n);
        let x = to_tensor(&batch.x, &self.device).map_err(internal)?;
        Ok((x, to_tensor(&batch.y, &self.device).map_err(internal)?))
    }

    /// One iteration: a fresh batch, the main step, then the adversary step.
    pub fn step(&mut self) -> Result<StepStats> {
        let n = self.config.schedule.batch;
        let (x, y) = self.fresh_batch(n)?;
        let loss = &self.config.loss;
        let fresh = if loss.adversary_fresh_batches && self.opt.has_adversary() { loss.adversary_steps } else { 0 };
        let adversary_n = loss.adversary_batch_or(n);
        let adversary_batches = (0..fresh).map(|_| self.fresh_batch(adversary_n)).collect::<Result<Vec<_>>>()?;
        let c = &self.config;
        let (x, y, rng, dev) = (&x, &y, &mut self.rng, &self.device);
        let stats = self.opt.iterate(&self.model, &c.loss, &c.schedule, x, y, &adversary_batches, None, rng, dev)?;
        (self.iteration, self.lambda) = (self.opt.iteration, self.opt.lambda);
        Ok(stats)
    }

    /// One refit iteration ([`super::refit`]) on a fresh batch; the first sets the model to the
    /// best checkpoint's weights and starts the refit's optimiser.
    pub fn refit_step(&mut self) -> Result<StepStats> {
        if self.refit.is_none() {
            if let Some(best) = self.best_weights.take() {
                self.opt.load_weights(&best)?;
            }
            self.save_trained()?;
            self.begin_refit()?;
        }
        let (x, y) = self.fresh_batch(self.config.schedule.batch)?;
        let refit = self.refit.as_mut().ok_or_else(|| Error::Internal("the refit did not begin".into()))?;
        let stats = refit.step(&self.model, &self.config.loss, &x, &y)?;
        self.iteration += 1;
        self.opt.iteration = self.iteration;
        Ok(stats)
    }

    /// Writes the weights the refit starts from, the schedule's best, as the checkpoint
    /// [`TRAINED`], so that the model as the alternating optimisation left it can still be
    /// evaluated (`stib eval --checkpoint trained`).
    fn save_trained(&self) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let state = self.sidecar(self.best_iteration.unwrap_or(self.iteration), self.best);
        checkpoint::save(dir, TRAINED, &self.opt.weights(), state)
    }

    /// Starts the refit's optimiser over the decoder and predictor as they are.
    fn begin_refit(&mut self) -> Result<()> {
        let vars = self.opt.parameters_of(&REFIT_NETWORKS);
        self.refit = Some(Refit::new(vars, &self.config.refit, self.config.model.kernels)?);
        Ok(())
    }

    /// Metrics on the validation set, MI_K(Z0; Y) included unless `validation.mi` is off.
    pub fn validate(&self) -> Result<Metrics> {
        evaluate(&self.model, &self.validation, &self.device, self.config.validation.mi)
    }

    /// The validation of [`Trainer::train`]: [`Trainer::validate`] on the weights a model is
    /// judged by; in the refit, which leaves the encoder as it was at the best checkpoint, the
    /// MI is that checkpoint's instead of a new KSG estimate of the same codes.
    fn validate_now(&self) -> Result<Metrics> {
        if self.refit.is_none() {
            return self.opt.with_evaluation_weights(|| self.validate());
        }
        let mut metrics = evaluate(&self.model, &self.validation, &self.device, false)?;
        metrics.mi_bits = self.best.and_then(|b| b.mi_bits);
        Ok(metrics)
    }

    /// Trains until the configured number of iterations, validating and checkpointing on the
    /// way, and reports each step and validation to `on_event`.
    pub fn train(&mut self, mut on_event: impl FnMut(Event)) -> Result<()> {
        let (schedule, total) = (self.config.schedule.iterations, self.config.total_iterations());
        let started = std::time::Instant::now();
        while self.iteration < total {
            let stats = if self.iteration < schedule { self.step()? } else { self.refit_step()? };
            on_event(Event::Step { iteration: self.iteration, lambda: self.lambda, stats });
            let end = self.iteration == schedule || self.iteration == total;
            if self.iteration.is_multiple_of(self.config.validation.every) || end {
                let metrics = self.validate_now()?;
                let best = self.is_better(&metrics);
                if best {
                    self.best = Some(metrics);
                    self.best_iteration = Some(self.iteration);
                    if self.config.refit.iterations > 0 && self.refit.is_none() {
                        self.best_weights = Some(deep_copy(&self.opt.evaluation_weights())?);
                    }
                }
                self.checkpoint(best, metrics)?;
                self.log_validation(&stats, &metrics, best, started.elapsed().as_secs_f64())?;
                on_event(Event::Validated { iteration: self.iteration, metrics, best });
            }
        }
        Ok(())
    }

    /// Appends one JSON line per validation to `history.jsonl` in the run folder; `seconds`
    /// is the wall time since this call of [`Trainer::train`] began (a resumed run restarts it).
    fn log_validation(&self, stats: &StepStats, metrics: &Metrics, best: bool, seconds: f64) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        checkpoint::append_history(
            dir,
            &serde_json::json!({
                "iteration": self.iteration, "lambda": self.lambda, "best": best,
                "seconds": seconds, "train": stats, "validation": metrics,
            }),
        )
    }

    fn is_better(&self, m: &Metrics) -> bool {
        let Some(best) = &self.best else { return true };
        let y_ok = |cmp: fn(f64, f64) -> bool| match (m.mae_y, best.mae_y) {
            (Some(a), Some(b)) => cmp(a, b),
            _ => true,
        };
        // MAE(X) when `with_x`, plus MAE(Y), plus the MI in bits when `with_mi` (in this order, so
        // that the sums are those of the rules before `y-mi`).
        let score = |m: &Metrics, with_x: bool, with_mi: bool| {
            let part = |on: bool, v: f64| if on { v } else { 0.0 };
            part(with_x, m.mae_x) + m.mae_y.unwrap_or(0.0) + part(with_mi, m.mi_bits.unwrap_or(0.0))
        };
        let better = |with_x: bool, with_mi: bool| score(m, with_x, with_mi) < score(best, with_x, with_mi);
        match self.config.validation.selection {
            Selection::Last => true,
            Selection::Both => m.mae_x <= best.mae_x && y_ok(|a, b| a <= b),
            Selection::Sum => better(true, false),
            Selection::SumMi => better(true, true),
            // The refit fits the decoder to the mean code, so before it MAE(X) is left out.
            Selection::YMi => better(self.refit.is_some(), true),
        }
    }

    /// Writes the resumable checkpoint (and the best one when `best`).
    pub fn checkpoint(&self, best: bool, metrics: Metrics) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let state = self.sidecar(self.iteration, Some(metrics));
        if best {
            checkpoint::save(dir, BEST, &self.opt.evaluation_weights(), state.clone())?;
        }
        let mut tensors = self.opt.state()?;
        if let Some(refit) = &self.refit {
            tensors.extend(refit.state()?);
        }
        checkpoint::save(dir, LAST, &tensors, state)
    }

    /// A checkpoint's sidecar: the run's state now, labelled with `iteration` and `metrics`.
    fn sidecar(&self, iteration: u64, metrics: Option<Metrics>) -> CheckpointState {
        let (main_steps, adversary_steps) = self.opt.steps();
        CheckpointState {
            tensors: String::new(),
            iteration,
            lambda: self.lambda,
            rng: self.rng.clone(),
            main_steps,
            adversary_steps,
            refit_steps: self.refit.as_ref().map_or(0, Refit::steps),
            best: self.best,
            best_iteration: self.best_iteration,
            metrics,
        }
    }
}

/// Tensors with storage of their own (a variable's tensor shares the variable's, which the
/// optimiser updates in place).
fn deep_copy(tensors: &HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    tensors.iter().map(|(n, t)| Ok((n.clone(), t.copy().map_err(internal)?))).collect()
}

/// Loads a trained model from a run folder for evaluation: its configuration and the `which`
/// checkpoint (`best` or `last`; from `last`, the weights' average when the run keeps one).
pub fn load_run(dir: &Path, which: &str, device: Device) -> Result<Trainer> {
    let config = Config::from_file(&dir.join("config.toml"))?;
    let mut trainer = Trainer::new(config, device.clone())?;
    let (state, tensors) = checkpoint::load::<Metrics>(dir, which, &device)?;
    trainer.opt.load_for_evaluation(&tensors)?;
    trainer.set_position(state.iteration, state.lambda);
    trainer.best = state.best;
    trainer.best_iteration = state.best_iteration;
    Ok(trainer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_measures_the_mi_unless_asked_not_to() {
        let mut c = Config::default();
        c.model.hidden = 8;
        c.validation.size = 200;
        let mut t = Trainer::new(c, Device::Cpu).unwrap();
        assert!(t.validate().unwrap().mi_bits.is_some_and(|b| b.is_finite() && b > 0.0));
        t.config.validation.mi = false;
        assert!(t.validate().unwrap().mi_bits.is_none());
    }

    /// `sum` ranks checkpoints by MAE(X) + MAE(Y) alone, `sum-mi` (the default) adds the
    /// validation MI in bits, and a configuration cannot ask for `sum-mi` without measuring
    /// the MI.
    #[test]
    fn sum_mi_selection_weighs_the_mi_with_the_two_maes() {
        let mut c = Config::default();
        c.model.hidden = 8;
        c.validation.size = 200;
        let kept = Metrics { mae_x: 0.03, mae_y: Some(0.45), mi_bits: Some(0.30) };
        let less_mi = Metrics { mae_x: 0.04, mae_y: Some(0.45), mi_bits: Some(0.25) };
        c.validation.selection = Selection::Sum;
        let mut t = Trainer::new(c.clone(), Device::Cpu).unwrap();
        t.best = Some(kept);
        assert!(!t.is_better(&less_mi));
        t.config.validation.selection = Selection::SumMi;
        assert!(t.is_better(&less_mi));
        assert!(!t.is_better(&Metrics { mi_bits: Some(0.295), ..less_mi }));
        c.validation.selection = Selection::SumMi;
        c.validation.mi = false;
        assert!(c.check().unwrap_err().to_string().contains("validation.mi"));
    }

    /// `y-mi` ranks the schedule's checkpoints by MAE(Y) + MI alone, and the refit's by all
    /// three cells; a configuration cannot ask for it without a refit and the MI.
    #[test]
    fn y_mi_selection_leaves_mae_x_to_the_refit() {
        let mut c = Config::default();
        c.model.hidden = 8;
        c.validation.size = 200;
        c.refit.iterations = 10;
        c.validation.selection = Selection::YMi;
        let kept = Metrics { mae_x: 0.03, mae_y: Some(0.45), mi_bits: Some(0.30) };
        let blurred = Metrics { mae_x: 1.40, mae_y: Some(0.46), mi_bits: Some(0.25) };
        let mut t = Trainer::new(c.clone(), Device::Cpu).unwrap();
        t.best = Some(kept);
        assert!(t.is_better(&blurred), "before the refit MAE(X) does not count");
        assert!(!t.is_better(&Metrics { mae_y: Some(0.51), ..blurred }));
        t.best = Some(blurred);
        t.begin_refit().unwrap();
        let refitted = Metrics { mae_x: 0.05, mae_y: Some(0.47), mi_bits: Some(0.25) };
        assert!(t.is_better(&refitted), "in the refit MAE(X) counts again");
        t.best = Some(refitted);
        assert!(!t.is_better(&Metrics { mae_x: 0.08, mae_y: Some(0.46), ..refitted }));
        c.refit.iterations = 0;
        assert!(c.check().unwrap_err().to_string().contains("refit.iterations"));
        c.refit.iterations = 10;
        c.validation.mi = false;
        assert!(c.check().unwrap_err().to_string().contains("validation.mi"));
    }

    /// The largest change of any weight whose name starts with `prefix` over `steps` iterations.
    fn movement(c: Config, prefix: &str, steps: usize) -> f32 {
        let mut t = Trainer::new(c, Device::Cpu).unwrap();
        let owned = |t: &Trainer| -> Vec<(String, Vec<f32>)> {
            let mut w: Vec<_> = t.opt.weights().into_iter().filter(|(n, _)| n.starts_with(prefix)).collect();
            w.sort_by(|a, b| a.0.cmp(&b.0));
            w.into_iter().map(|(n, w)| (n, w.flatten_all().unwrap().to_vec1::<f32>().unwrap())).collect()
        };
        let before = owned(&t);
        assert!(!before.is_empty(), "no weight named {prefix}*");
        for _ in 0..steps {
            t.step().unwrap();
        }
        let after = owned(&t);
        before
            .iter()
            .zip(&after)
            .flat_map(|(b, a)| b.1.iter().zip(&a.1).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f32::max)
    }

    /// The default configuration with small networks and batches, for a few quick steps.
    fn small() -> Config {
        let mut c = Config::default();
        c.model.hidden = 8;
        c.schedule.batch = 64;
        c
    }

    #[test]
    fn the_adversary_rate_scale_slows_the_adversary_alone() {
        let c = small();
        let mut slow = c.clone();
        slow.schedule.adversary_learning_rate_scale = 0.1;
        let (full, tenth) = (movement(c.clone(), "adversary", 3), movement(slow.clone(), "adversary", 3));
        // Adam's steps are about the learning rate each, whatever the gradient's scale.
        assert!(full > 0.0 && (0.05..0.2).contains(&(tenth / full)), "moved {full} at full rate, {tenth} at a tenth");
        // The main step comes first in an iteration, so its first step cannot see the scale.
        let (main_full, main_slow) = (movement(c, "encoder", 1), movement(slow, "encoder", 1));
        assert!(main_full > 0.0 && main_full == main_slow, "the encoder moved {main_full} and {main_slow}");
    }

    /// `z0_noise_ceiling_from` leaves the iterations before it as without the ceiling (same
    /// weights, bit for bit); from it on the ceiling changes the training.
    #[test]
    fn the_noise_ceiling_takes_hold_from_its_iteration() {
        let c = small();
        let mut late = c.clone();
        late.loss.z0_noise_ceiling = 0.05;
        late.loss.z0_noise_ceiling_from = 2;
        let weights = |c: &Config, steps: usize| {
            let mut t = Trainer::new(c.clone(), Device::Cpu).unwrap();
            for _ in 0..steps {
                t.step().unwrap();
            }
            let mut w: Vec<_> = t.opt.weights().into_iter().collect();
            w.sort_by(|a, b| a.0.cmp(&b.0));
            w.into_iter().flat_map(|(_, w)| w.flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect::<Vec<f32>>()
        };
        assert_eq!(weights(&c, 2), weights(&late, 2));
        assert_ne!(weights(&c, 3), weights(&late, 3));
    }
}
