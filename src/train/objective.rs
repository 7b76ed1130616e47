//! The two objectives of STIB's alternating optimisation (paper Eq. 6-7, reference weights)
//! and the baselines' single objective, for any model that implements [`Networks`].
//!
//! Main step, over encoder + log_sigma + decoder + predictor:
//!   STIB:            KL + lambda (rec_x + w_y mse_y + 400 ir)
//!   VAE, STIB w/o a: KL + lambda (rec_x + w_y mse_y)          (w_y = 1 in the reference)
//!   CVAE:            0.1 KL + lambda 2 rec_x
//!   CVIB:            0.1 KL + lambda 2 rec_x + pairwise KL
//! Adversary step, over adversary + bijection (STIB only):
//!   -3000 (ir - 0.01 bi),  bi = mean ||h^-1(h(y)) - y||^2, with Z0 held fixed.
//!
//! rec_x is the squared error of x for vectors and the token cross-entropy for SMILES; mse_y
//! sums the targets' squared errors, each times its `target_weights` entry (1 by default). With
//! `free_bits` > 0 each latent dimension's KL counts as at least that many nats (the cure for
//! posterior collapse of the SMILES decoder). With `mi_noise_gradient` below 1 the main step's
//! MI term reads the usual sample but passes only that fraction of its gradient to the noise
//! scale log_sigma (0: it trains the mean code alone). With `z0_noise_ceiling` > 0 STIB's code
//! is sampled with Z0's total signal-to-noise ratio (in variances) held at least 1 / ceiling^2
//! ([`Posterior::with_noise_ceiling`]), in the main step (decoder and MI term alike) and the
//! adversary step.

use candle_core::{Result, Tensor};

use super::config::LossConfig;
use crate::model::ModelKind;
use crate::model::encoder::Posterior;
use crate::model::mi_term::{gaussian_ir, sum_squared_error};
use crate::model::networks::Networks;

/// Scalars of one step, for progress and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// KL(q(z|x) || p(z)), batch mean.
    pub kl: f64,
    /// Reconstruction error of x (squared error, or cross-entropy in nats for SMILES).
    pub rec_x: f64,
    /// Squared prediction error of y (0 without a predictor).
    pub mse_y: f64,
    /// The Gaussian MI term ir = 2 I(a(Z0); h(y)) in nats (0 without an adversary).
    pub ir: f64,
    /// The main step's loss on the data's batch (auxiliary molecules not counted).
    pub main: f64,
    /// Reconstruction error of the auxiliary molecules (0 without them).
    #[serde(default)]
    pub rec_aux: f64,
    /// Squared prediction error of the auxiliary molecules' predicted targets (0 without
    /// `[auxiliary] predict`).
    #[serde(default)]
    pub mse_aux: f64,
    /// Norm of the main step's gradient divided by lambda, before any clipping
    /// (`schedule.clip_norm`): the gradient of KL / lambda + the fit terms, whose scale does
    /// not grow with lambda.
    #[serde(default)]
    pub grad_norm: f64,
}

/// The main step's loss and its parts (`reference_split`: the adversary's first layer is
/// trained here, as in the reference code).
pub fn main_loss<M: Networks>(
    model: &M,
    weights: &LossConfig,
    x: &M::Input,
    y: &Tensor,
    eps: &Tensor,
    lambda: f64,
    reference_split: bool,
) -> Result<(Tensor, StepStats)> {
    let (posterior, z, kl, rec_x) = encode_and_reconstruct(model, weights, x, y, eps)?;
    let mut stats = StepStats { kl: scalar(&kl)?, rec_x: scalar(&rec_x)?, ..StepStats::default() };
    let loss = match model.kind() {
        ModelKind::Cvae | ModelKind::Cvib => {
            let mut loss = conditional_elbo(weights, &kl, &rec_x, lambda)?;
            if model.kind() == ModelKind::Cvib {
                loss = (loss + (posterior.pairwise_kl()? * weights.pairwise_weight)?)?;
            }
            loss
        }
        ModelKind::Vae | ModelKind::StibNoAdversary | ModelKind::Stib => {
            let y_hat = model.predict(&z)?.ok_or_else(|| candle_core::Error::Msg("no predictor".into()))?;
            let (weighted, mse_y) = prediction_error(weights, &y_hat, y)?;
            stats.mse_y = mse_y;
            let mut fit = (&rec_x + weighted)?;
            if let Some((adversary, bijection)) = model.adversary() {
                // Tensors share their storage, so these clones copy no data.
                let code = if weights.mi_on_mean {
                    posterior.mu.clone()
                } else if weights.mi_noise_gradient != 1.0 {
                    // The same value as log_sigma, with the gradient scaled by the fraction.
                    let (ls, held) = (&posterior.log_sigma, posterior.log_sigma.detach());
                    let scaled = (&held + ((ls - &held)? * weights.mi_noise_gradient)?)?;
                    Posterior { mu: posterior.mu.clone(), log_sigma: scaled }.sample(eps)?
                } else {
                    z.clone()
                };
                // The main step never trains the bijection (h(y) is a constant here) and trains
                // the adversary's first layer only with `reference_split`.
                let y_tilde = bijection.forward(y)?.detach();
                let guess = adversary.forward_main_step(&model.z0(&code)?, reference_split)?;
                let ir = gaussian_ir(&guess, &y_tilde, model.kernels())?;
                stats.ir = scalar(&ir)?;
                fit = (fit + (ir * weights.mi_weight)?)?;
            }
            (kl + (fit * lambda)?)?
        }
    };
    stats.main = scalar(&loss)?;
    Ok((loss, stats))
}

/// The loss of auxiliary molecules: KL + lambda (rec_x + w_y mse), where mse is the squared
/// prediction error of the targets that `predict` (a 0/1 mask over the targets, shape
/// (1, targets)) selects, each times its `target_weights` entry, or KL + lambda rec_x
/// without it; the CVAE and CVIB with their own weights, 0.1 KL + lambda 2 rec_x. No MI
/// term. Returns the loss, rec_x and mse.
pub fn auxiliary_loss<M: Networks>(
    model: &M,
    weights: &LossConfig,
    x: &M::Input,
    y: &Tensor,
    eps: &Tensor,
    lambda: f64,
    predict: Option<&Tensor>,
) -> Result<(Tensor, f64, f64)> {
    let (_, z, kl, rec_x) = encode_and_reconstruct(model, weights, x, y, eps)?;
    let rec_value = scalar(&rec_x)?;
    if model.kind().is_conditional() {
        return Ok((conditional_elbo(weights, &kl, &rec_x, lambda)?, rec_value, 0.0));
    }
    let (fit, mse_value) = match (predict, model.predict(&z)?) {
        (Some(mask), Some(y_hat)) => {
            let mask = match target_scales(weights, y)? {
                Some(s) => mask.broadcast_mul(&s)?,
                None => mask.clone(),
            };
            let mse = sum_squared_error(&y_hat.broadcast_mul(&mask)?, &y.broadcast_mul(&mask)?)?;
            let mse_value = scalar(&mse)?;
            ((rec_x + (mse * weights.prediction_weight)?)?, mse_value)
        }
        _ => (rec_x, 0.0),
    };
    Ok(((kl + (fit * lambda)?)?, rec_value, mse_value))
}

/// The prediction's term of the fit, w_y times the squared error of `y_hat` with each target
/// weighted by its `target_weights` entry, and the plain squared error's value (`mse_y`).
pub(super) fn prediction_error(weights: &LossConfig, y_hat: &Tensor, y: &Tensor) -> Result<(Tensor, f64)> {
    let mse_y = sum_squared_error(y_hat, y)?;
    let value = scalar(&mse_y)?;
    let weighted = match target_scales(weights, y)? {
        Some(s) => sum_squared_error(&y_hat.broadcast_mul(&s)?, &y.broadcast_mul(&s)?)?,
        None => mse_y,
    };
    Ok(((weighted * weights.prediction_weight)?, value))
}

/// The square roots of `loss.target_weights` as a (1, targets) row of `y`'s type, which
/// scale prediction and target alike so that their squared error is weighted by target;
/// `None` when no weights are set (each target weighs 1).
fn target_scales(weights: &LossConfig, y: &Tensor) -> Result<Option<Tensor>> {
    let w = &weights.target_weights;
    if w.is_empty() {
        return Ok(None);
    }
    let roots: Vec<f64> = w.iter().map(|v| v.sqrt()).collect();
    Ok(Some(Tensor::from_vec(roots, (1, w.len()), y.device())?.to_dtype(y.dtype())?))
}

/// What every objective starts from: the posterior of `x`, a code sampled with noise `eps`,
/// its KL (with free bits) and the reconstruction error rec_x.
fn encode_and_reconstruct<M: Networks>(
    model: &M,
    weights: &LossConfig,
    x: &M::Input,
    y: &Tensor,
    eps: &Tensor,
) -> Result<(Posterior, Tensor, Tensor, Tensor)> {
    let posterior = noise_ceiling(model, weights, model.encode(x)?)?;
    let z = posterior.sample(eps)?;
    let kl = posterior.kl_free_bits(weights.free_bits)?;
    let rec_x = model.reconstruction_error(&z, x, y)?;
    Ok((posterior, z, kl, rec_x))
}

/// STIB's posterior with `z0_noise_ceiling` applied to Z0 (see
/// [`Posterior::with_noise_ceiling`]); other models' and ceiling 0's as it is.
fn noise_ceiling<M: Networks>(model: &M, weights: &LossConfig, posterior: Posterior) -> Result<Posterior> {
    if weights.z0_noise_ceiling > 0.0 && model.adversary().is_some() {
        posterior.with_noise_ceiling(model.z0_dim(), weights.z0_noise_ceiling)
    } else {
        Ok(posterior)
    }
}

/// The CVAE's and CVIB's weighting: 0.1 KL + lambda 2 rec_x (reference weights).
fn conditional_elbo(weights: &LossConfig, kl: &Tensor, rec_x: &Tensor, lambda: f64) -> Result<Tensor> {
    (kl * weights.conditional_kl_weight)? + (rec_x * (lambda * weights.conditional_reconstruction_weight))?
}

/// The encoder's posterior held fixed for the adversary steps of one iteration (they do not
/// move the encoder, so one encoding serves them all).
pub fn fixed_posterior<M: Networks>(model: &M, x: &M::Input) -> Result<Posterior> {
    let p = model.encode(x)?;
    Ok(Posterior { mu: p.mu.detach(), log_sigma: p.log_sigma.detach() })
}

/// The adversary step's loss -scale (ir - beta bi) on the code drawn from `posterior` (its
/// mean with `mi_on_mean`, else a sample with noise `eps`), and ir.
pub fn adversary_loss<M: Networks>(
    model: &M,
    weights: &LossConfig,
    posterior: &Posterior,
    y: &Tensor,
    eps: &Tensor,
) -> Result<Option<(Tensor, f64)>> {
    let Some((adversary, bijection)) = model.adversary() else { return Ok(None) };
    let posterior = noise_ceiling(model, weights, posterior.clone())?;
    let z = if weights.mi_on_mean { posterior.mu.clone() } else { posterior.sample(eps)? };
    let y_tilde = bijection.forward(y)?;
    let ir = gaussian_ir(&adversary.forward(&model.z0(&z)?)?, &y_tilde, model.kernels())?;
    let bi = sum_squared_error(&bijection.inverse(&y_tilde)?, y)?;
    let ir_value = scalar(&ir)?;
    let loss = ((ir - (bi * weights.bijection_weight)?)? * (-weights.adversary_scale))?;
    Ok(Some((loss, ir_value)))
}

pub(super) fn scalar(t: &Tensor) -> Result<f64> {
    t.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Architecture, SpiralModel};
    use crate::train::config::Config;
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    /// With `mi_on_mean` the MI term reads the mean code, so the noise draw cannot change it;
    /// on a sample it does.
    #[test]
    fn mi_on_mean_ignores_the_noise() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let model = SpiralModel::new(
            ModelKind::Stib,
            Architecture { hidden: 16, ..Architecture::default() },
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
        )
        .unwrap();
        let x = Tensor::randn(0f32, 1.0, (64, 2), &dev).unwrap();
        let y = Tensor::randn(0f32, 1.0, (64, 2), &dev).unwrap();
        let (e1, e2) =
            (Tensor::randn(0f32, 1.0, (64, 3), &dev).unwrap(), Tensor::randn(0f32, 1.0, (64, 3), &dev).unwrap());
        let ir = |on_mean: bool, eps: &Tensor| {
            let w = LossConfig { mi_on_mean: on_mean, ..LossConfig::default() };
            let main = main_loss(&model, &w, &x, &y, eps, 1.0, false).unwrap().1.ir;
            let posterior = fixed_posterior(&model, &x).unwrap();
            let adversary = adversary_loss(&model, &w, &posterior, &y, eps).unwrap().unwrap().1;
            (main, adversary)
        };
        assert_eq!(ir(true, &e1), ir(true, &e2));
        assert_eq!(ir(true, &e1).0, ir(true, &e1).1);
        assert_ne!(ir(false, &e1).0, ir(false, &e2).0);
    }

    /// With `mi_noise_gradient` the main step's MI term reads the same sample (same loss) and
    /// moves the mean as before, but passes only that fraction of its gradient to log_sigma:
    /// there the gradient is the one without the MI term plus the fraction of the term's share.
    #[test]
    fn mi_noise_gradient_scales_the_mi_term_on_the_noise_scale() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let arch = Architecture { hidden: 16, ..Architecture::default() };
        let model = SpiralModel::new(ModelKind::Stib, arch, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let x = Tensor::randn(0f32, 1.0, (64, 2), &dev).unwrap();
        let y = (x.narrow(1, 0, 1).unwrap().broadcast_as((64, 2)).unwrap() * 2.0).unwrap();
        let eps = Tensor::randn(0f32, 1.0, (64, 3), &dev).unwrap();
        let vars = vm.data().lock().unwrap().clone();
        let grads = |w: LossConfig| {
            let (loss, stats) = main_loss(&model, &w, &x, &y, &eps, 10.0, false).unwrap();
            let g = loss.backward().unwrap();
            let read = |name: &str| g.get(&vars[name]).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (stats.main, read("log_sigma"), read("encoder.0.weight"))
        };
        let with = |f: f64| grads(LossConfig { mi_noise_gradient: f, ..LossConfig::default() });
        let (plain, fixed, part) = (grads(LossConfig::default()), with(0.0), with(0.3));
        let without = grads(LossConfig { mi_weight: 0.0, ..LossConfig::default() });
        assert_eq!((plain.0, plain.0), (fixed.0, part.0));
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + p.abs()));
        assert!(close(&fixed.1, &without.1), "{:?} vs {:?}", fixed.1, without.1);
        assert!(!close(&plain.1, &without.1), "the MI term should move log_sigma at 1");
        let expected: Vec<f32> = without.1.iter().zip(&plain.1).map(|(w, p)| w + 0.3 * (p - w)).collect();
        assert!(close(&part.1, &expected), "{:?} vs {:?}", part.1, expected);
        assert!(close(&fixed.2, &plain.2) && close(&part.2, &plain.2));
        let e = Config::from_toml("[loss]\nmi_noise_gradient = 1.5\n").unwrap_err().to_string();
        assert!(e.contains("mi_noise_gradient must be between 0 and 1"), "{e}");
    }

    /// The mask picks which targets' squared error joins the auxiliary loss, weighted by
    /// lambda times the prediction weight; models without a predictor ignore it.
    #[test]
    fn auxiliary_prediction_adds_the_masked_squared_error() {
        let dev = Device::Cpu;
        let (x, y) =
            (Tensor::randn(0f32, 1.0, (32, 2), &dev).unwrap(), Tensor::randn(0f32, 1.0, (32, 2), &dev).unwrap());
        let mask = |m: [f32; 2]| Tensor::from_vec(m.to_vec(), (1, 2), &dev).unwrap();
        let w = LossConfig { prediction_weight: 3.0, ..LossConfig::default() };
        let lambda = 10.0;
        for kind in [ModelKind::Stib, ModelKind::Vae, ModelKind::Cvae] {
            let vm = VarMap::new();
            let arch = Architecture { hidden: 16, ..Architecture::default() };
            let model = SpiralModel::new(kind, arch, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
            let eps = Tensor::randn(0f32, 1.0, (32, model.latent_dim()), &dev).unwrap();
            let run = |m: Option<&Tensor>| {
                let (loss, rec, mse) = auxiliary_loss(&model, &w, &x, &y, &eps, lambda, m).unwrap();
                (scalar(&loss).unwrap(), rec, mse)
            };
            let (plain, rec, none) = run(None);
            let (gap, alpha, both) =
                (run(Some(&mask([1.0, 0.0]))), run(Some(&mask([0.0, 1.0]))), run(Some(&mask([1.0, 1.0]))));
            assert_eq!((gap.1, both.1), (rec, rec), "{kind:?}: the reconstruction does not change");
            assert_eq!(none, 0.0);
            if kind.is_conditional() {
                assert_eq!((gap.2, both.0), (0.0, plain), "{kind:?}: no predictor, no prediction term");
                continue;
            }
            assert!(gap.2 > 0.0 && alpha.2 > 0.0, "{kind:?}");
            assert!((both.2 - (gap.2 + alpha.2)).abs() < 1e-4 * both.2, "{kind:?}: {both:?} {gap:?} {alpha:?}");
            for (loss, _, mse) in [gap, alpha, both] {
                let added = lambda * w.prediction_weight * mse;
                assert!((loss - plain - added).abs() < 1e-4 * loss.abs(), "{kind:?}: {loss} - {plain} against {added}");
            }
        }
    }

    /// `target_weights` weigh each target's squared error in the main step's loss (and in the
    /// auxiliary molecules', on top of the mask), while `mse_y` stays the plain sum.
    #[test]
    fn target_weights_weigh_each_targets_squared_error() {
        let dev = Device::Cpu;
        let (x, y) =
            (Tensor::randn(0f32, 1.0, (32, 2), &dev).unwrap(), Tensor::randn(0f32, 1.0, (32, 2), &dev).unwrap());
        let lambda = 10.0;
        for kind in [ModelKind::Stib, ModelKind::Vae] {
            let vm = VarMap::new();
            let arch = Architecture { hidden: 16, ..Architecture::default() };
            let model = SpiralModel::new(kind, arch, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
            let eps = Tensor::randn(0f32, 1.0, (32, model.latent_dim()), &dev).unwrap();
            let weights =
                |t: &[f64]| LossConfig { prediction_weight: 3.0, target_weights: t.to_vec(), ..LossConfig::default() };
            let main = |t: &[f64]| main_loss(&model, &weights(t), &x, &y, &eps, lambda, false).unwrap().1;
            let (none, first, second, both, plain) =
                (main(&[0.0, 0.0]), main(&[1.0, 0.0]), main(&[0.0, 1.0]), main(&[2.0, 0.5]), main(&[]));
            // Each target's squared error, read off the loss: lambda 3 mse_j.
            let per_target = |s: StepStats| (s.main - none.main) / (lambda * 3.0);
            let (m0, m1) = (per_target(first), per_target(second));
            assert!(m0 > 0.0 && m1 > 0.0, "{kind:?}: {m0} {m1}");
            let close = |a: f64, b: f64| (a - b).abs() < 1e-4 * a.abs().max(b.abs());
            assert!(close(m0 + m1, plain.mse_y), "{kind:?}: {m0} + {m1} against {}", plain.mse_y);
            assert!(close(per_target(both), 2.0 * m0 + 0.5 * m1), "{kind:?}: {both:?}");
            assert!(close(plain.main, main(&[1.0, 1.0]).main), "{kind:?}: no weights weigh each 1");
            for s in [none, first, both] {
                assert_eq!(s.mse_y, plain.mse_y, "{kind:?}: the logged mse_y is the plain sum");
            }
            let mask = Tensor::from_vec(vec![1f32, 1.0], (1, 2), &dev).unwrap();
            let aux = |t: &[f64]| auxiliary_loss(&model, &weights(t), &x, &y, &eps, lambda, Some(&mask)).unwrap().2;
            assert!(close(aux(&[2.0, 0.0]), 2.0 * m0), "{kind:?}: {} against 2 x {m0}", aux(&[2.0, 0.0]));
        }
    }
}
