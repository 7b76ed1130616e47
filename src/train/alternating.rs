//! The alternating optimisation of STIB (paper Eq. 6-7), independent of the data: the
//! parameters split between the main step (encoder, log_sigma, decoder, predictor) and the
//! adversary step (adversary, bijection), one Adam state each, the learning-rate decay and the
//! lambda schedule. The spiral and the SMILES trainers both drive their models through it.
//!
//! Initial weights are Glorot-uniform (fans from the shape, kernel size included for
//! convolutions), biases and log_sigma zero, as the reference's TensorFlow defaults, all drawn
//! from the run's seeded stream in the order of the parameters' names.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use rand_distr::{Distribution, StandardNormal};

use super::adam::Adam;
use super::averaging::{self, WeightAverage};
use super::config::{LossConfig, ScheduleConfig};
use super::objective::{StepStats, adversary_loss, auxiliary_loss, fixed_posterior, main_loss};
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::model::networks::Networks;

/// Parameters by name, in name order.
pub type NamedVars = Vec<(String, Var)>;

/// The parameters, their two optimisers, and where the schedule stands.
pub struct Alternating {
    varmap: VarMap,
    main_opt: Adam,
    adversary_opt: Option<Adam>,
    reference_split: bool,
    average: Option<WeightAverage>,
    /// Iterations completed.
    pub iteration: u64,
    /// Current lambda.
    pub lambda: f64,
}

/// A batch of auxiliary molecules for the main step (see [`auxiliary_loss`]).
pub struct AuxiliaryBatch<'a, I> {
    /// The molecules.
    pub x: &'a I,
    /// Their standardised targets.
    pub y: &'a Tensor,
    /// Weight of their loss against the data's.
    pub weight: f64,
    /// 0/1 mask (1, targets) of the targets the predictor learns from them, if any.
    pub predict: Option<&'a Tensor>,
}

/// Maps a candle error to an internal one.
pub fn internal(e: candle_core::Error) -> Error {
    Error::Internal(e.to_string())
}

impl Alternating {
    /// Initialises every parameter of `varmap` from `rng` and builds the two optimisers; with
    /// `reference_split` the adversary's first layer goes to the main step, as in the
    /// reference code.
    /// `kernels` picks the optimisers' implementation (see [`Adam`]).
    pub fn new(
        varmap: VarMap,
        rng: &mut ChaCha8Rng,
        reference_split: bool,
        schedule: &ScheduleConfig,
        kernels: Kernels,
    ) -> Result<Self> {
        initialise(&varmap, rng)?;
        let (main_vars, adversary_vars) = split_parameters(&varmap, reference_split);
        let lr = schedule.learning_rate;
        let mut main_opt = Adam::new(main_vars, lr, kernels).map_err(internal)?;
        main_opt.set_beta1_where(schedule.adam_beta1, in_networks(&schedule.adam_beta1_networks));
        main_opt.set_weight_decay(schedule.weight_decay, in_networks(&schedule.weight_decay_networks));
        let adversary_opt = if adversary_vars.is_empty() {
            None
        } else {
            let mut opt = Adam::new(adversary_vars, lr, kernels).map_err(internal)?;
            opt.set_beta1(schedule.adversary_adam_beta1);
            Some(opt)
        };
        let average = if schedule.ema_decay > 0.0 {
            Some(WeightAverage::new(sorted_vars(&varmap), schedule.ema_decay).map_err(internal)?)
        } else {
            None
        };
        Ok(Alternating {
            varmap,
            main_opt,
            adversary_opt,
            reference_split,
            average,
            iteration: 0,
            lambda: schedule.lambda_start,
        })
    }

    /// Whether there is an adversary step.
    pub fn has_adversary(&self) -> bool {
        self.adversary_opt.is_some()
    }

    /// Sets both learning rates for the coming iteration.
    pub fn set_learning_rate(&mut self, schedule: &ScheduleConfig) {
        let lr = schedule.learning_rate_at(self.iteration);
        self.main_opt.lr = lr;
        if let Some(opt) = self.adversary_opt.as_mut() {
            opt.lr = lr * schedule.adversary_learning_rate_scale;
        }
    }

    /// Back-propagates the main loss and updates the main step's parameters, with the
    /// gradient scaled down where its norm over lambda exceeds `clip_norm` (0: never).
    /// Returns that norm, before clipping.
    pub fn main_step(&mut self, loss: &Tensor, clip_norm: f64) -> Result<f64> {
        let grads = loss.backward().map_err(internal)?;
        let norm = self.main_opt.gradient_norm(&grads).map_err(internal)? / self.lambda;
        let scale = if clip_norm > 0.0 && norm > clip_norm { clip_norm / norm } else { 1.0 };
        self.main_opt.step_scaled(&grads, scale).map_err(internal)?;
        Ok(norm)
    }

    /// Back-propagates the adversary's loss and updates the adversary and bijection.
    pub fn adversary_step(&mut self, loss: &Tensor) -> Result<()> {
        let Some(opt) = self.adversary_opt.as_mut() else { return Ok(()) };
        let grads = loss.backward().map_err(internal)?;
        opt.step(&grads).map_err(internal)
    }

    /// One iteration on a batch: the main step, then (with an adversary) the adversary steps
    /// with their own noise drawn after the main step's, then the schedule advances. Noise is
    /// standard normal from `rng`, of the model's code size. Adversary step j takes
    /// `adversary_batches[j]` when there is one, else the main step's batch. An `auxiliary`
    /// batch adds `weight` times its [`auxiliary_loss`] to the main step's loss, with noise
    /// drawn after the main batch's.
    #[allow(clippy::too_many_arguments)] // the parts of one step, each used once
    pub fn iterate<M: Networks>(
        &mut self,
        model: &M,
        weights: &LossConfig,
        schedule: &ScheduleConfig,
        x: &M::Input,
        y: &Tensor,
        adversary_batches: &[(M::Input, Tensor)],
        auxiliary: Option<AuxiliaryBatch<'_, M::Input>>,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<StepStats> {
        let n = y.dim(0).map_err(internal)?;
        let latent = model.latent_dim();
        let held;
        let weights = if weights.z0_noise_ceiling > 0.0 && self.iteration < weights.z0_noise_ceiling_from {
            held = LossConfig { z0_noise_ceiling: 0.0, ..weights.clone() };
            &held
        } else {
            weights
        };
        let eps = standard_normal(rng, n, latent, device)?;
        self.set_learning_rate(schedule);
        let (mut loss, mut stats) =
            main_loss(model, weights, x, y, &eps, self.lambda, self.reference_split).map_err(internal)?;
        if let Some(a) = auxiliary {
            let eps = standard_normal(rng, a.y.dim(0).map_err(internal)?, latent, device)?;
            let (aux, rec, mse) =
                auxiliary_loss(model, weights, a.x, a.y, &eps, self.lambda, a.predict).map_err(internal)?;
            (stats.rec_aux, stats.mse_aux) = (rec, mse);
            loss = (loss + (aux * a.weight).map_err(internal)?).map_err(internal)?;
        }
        stats.grad_norm = self.main_step(&loss, schedule.clip_norm)?;
        if self.has_adversary() {
            // The main batch's code, for the steps without a batch of their own.
            let main_posterior = if adversary_batches.len() < weights.adversary_steps {
                Some(fixed_posterior(model, x).map_err(internal)?)
            } else {
                None
            };
            for step in 0..weights.adversary_steps {
                let (posterior, y) = match (adversary_batches.get(step), &main_posterior) {
                    (Some((x, y)), _) => (fixed_posterior(model, x).map_err(internal)?, y),
                    (None, Some(p)) => (p.clone(), y),
                    (None, None) => return Err(Error::Internal("no batch for an adversary step".into())),
                };
                let eps = standard_normal(rng, y.dim(0).map_err(internal)?, latent, device)?;
                if let Some((loss, ir)) = adversary_loss(model, weights, &posterior, y, &eps).map_err(internal)? {
                    self.adversary_step(&loss)?;
                    stats.ir = ir;
                }
            }
        }
        if !stats.main.is_finite() {
            return Err(Error::Internal(format!(
                "the loss became {} at iteration {}; lower schedule.learning_rate",
                stats.main,
                self.iteration + 1
            )));
        }
        self.advance(schedule)?;
        Ok(stats)
    }

    /// Ends an iteration: counts it, folds the weights into their average (if kept) and grows
    /// lambda on schedule.
    pub fn advance(&mut self, s: &ScheduleConfig) -> Result<()> {
        self.iteration += 1;
        if let Some(average) = self.average.as_mut() {
            average.update(self.iteration).map_err(internal)?;
        }
        if self.iteration.is_multiple_of(s.lambda_every) {
            self.lambda *= s.lambda_growth;
            if s.lambda_max > 0.0 {
                self.lambda = self.lambda.min(s.lambda_max);
            }
        }
        Ok(())
    }

    /// Steps taken by the main and the adversary optimiser.
    pub fn steps(&self) -> (u64, u64) {
        (self.main_opt.steps(), self.adversary_opt.as_ref().map_or(0, Adam::steps))
    }

    /// The model's weights by name.
    pub fn weights(&self) -> HashMap<String, Tensor> {
        sorted_vars(&self.varmap).into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect()
    }

    /// The weights a model is judged by: their moving average when the schedule keeps one
    /// (`ema_decay`), else the weights themselves. The best checkpoint holds these.
    pub fn evaluation_weights(&self) -> HashMap<String, Tensor> {
        self.average.as_ref().map_or_else(|| self.weights(), WeightAverage::averaged)
    }

    /// Runs `f` (a validation) with the model's variables set to [`Self::evaluation_weights`],
    /// then sets the trained weights back.
    pub fn with_evaluation_weights<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        match &self.average {
            Some(average) => average.with_averaged(f, internal),
            None => f(),
        }
    }

    /// Weights, both optimisers' moments and the weights' average, for a resumable checkpoint.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut all = self.weights();
        if let Some(average) = &self.average {
            all.extend(average.state());
        }
        all.extend(self.main_opt.state("opt.main").map_err(internal)?);
        if let Some(opt) = &self.adversary_opt {
            all.extend(opt.state("opt.adversary").map_err(internal)?);
        }
        Ok(all)
    }

    /// Sets the model's weights from tensors named as in the model.
    pub fn load_weights(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
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

    /// Restores weights, optimiser moments and step counts written by [`Alternating::state`].
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, main_steps: u64, adversary_steps: u64) -> Result<()> {
        self.load_weights(tensors)?;
        self.main_opt.restore("opt.main", tensors, main_steps).map_err(internal)?;
        if let Some(opt) = self.adversary_opt.as_mut() {
            opt.restore("opt.adversary", tensors, adversary_steps).map_err(internal)?;
        }
        if let Some(average) = self.average.as_mut() {
            average.restore(tensors).map_err(internal)?;
        }
        Ok(())
    }

    /// Sets the model's weights for evaluation from a checkpoint: a best checkpoint's as they
    /// are; from a resumable one, their average when the schedule keeps one.
    pub fn load_for_evaluation(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.load_weights(tensors)?;
        let prefix = format!("{}.", averaging::PREFIX);
        let resumable = tensors.keys().any(|k| k.starts_with(&prefix));
        if let (Some(average), true) = (self.average.as_mut(), resumable) {
            average.restore(tensors).map_err(internal)?;
            average.apply().map_err(internal)?;
        }
        Ok(())
    }

    /// The parameters of `networks` (by their names in a checkpoint), in name order.
    pub fn parameters_of(&self, networks: &[&str]) -> NamedVars {
        sorted_vars(&self.varmap).into_iter().filter(|(name, _)| networks.contains(&network(name))).collect()
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        sorted_vars(&self.varmap).iter().map(|(_, v)| v.elem_count()).sum()
    }
}

/// An `(n, latent)` tensor of standard normal draws from `rng`.
pub fn standard_normal(rng: &mut ChaCha8Rng, n: usize, latent: usize, device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..n * latent).map(|_| StandardNormal.sample(rng)).collect();
    Tensor::from_vec(v, (n, latent), device).map_err(internal)
}

/// A new variable map and the device it lives on, for building a model.
pub fn var_builder(varmap: &VarMap, device: &Device) -> candle_nn::VarBuilder<'static> {
    candle_nn::VarBuilder::from_varmap(varmap, DType::F32, device)
}

/// Variables sorted by name (a fixed order for seeding and saving).
/// Draws every parameter of `varmap` from `rng`, in name order: weights Glorot-uniform (fan
/// in and out counting a convolution's receptive field), biases zero.
pub fn initialise(varmap: &VarMap, rng: &mut ChaCha8Rng) -> Result<()> {
    for (name, var) in sorted_vars(varmap) {
        let shape = var.shape().clone();
        let dims = shape.dims();
        let values: Vec<f32> = if name.ends_with("weight") && dims.len() >= 2 {
            let receptive: usize = dims[2..].iter().product();
            let (fan_out, fan_in) = (dims[0] * receptive, dims[1] * receptive);
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..shape.elem_count()).map(|_| (limit * (2.0 * rng.random::<f64>() - 1.0)) as f32).collect()
        } else {
            vec![0.0; shape.elem_count()]
        };
        let t = Tensor::from_vec(values, shape, var.device()).map_err(internal)?;
        var.set(&t).map_err(internal)?;
    }
    Ok(())
}

/// Every variable of `varmap` with its name, sorted by name.
pub fn sorted_vars(varmap: &VarMap) -> NamedVars {
    let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut vars: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Parameters of the main step and of the adversary step. The adversary owns `adversary.*`
/// and `bijection.*`; with `reference_split` its first layer goes to the main step instead.
fn split_parameters(varmap: &VarMap, reference_split: bool) -> (NamedVars, NamedVars) {
    sorted_vars(varmap).into_iter().partition(|(name, _)| {
        let adversarial = matches!(network(name), "adversary" | "bijection");
        !adversarial || (reference_split && name.starts_with("adversary.0."))
    })
}

/// Whether a parameter belongs to one of `networks` (by their names in a checkpoint); an empty
/// list takes every parameter.
fn in_networks(networks: &[String]) -> impl Fn(&str) -> bool + '_ {
    move |name| networks.is_empty() || networks.iter().any(|n| n == network(name))
}

/// The network a variable belongs to: its name up to the first dot (`decoder.out.weight` is
/// the decoder's; `log_sigma` is its own).
fn network(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}
