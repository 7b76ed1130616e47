//! The refit: after the alternating optimisation, the decoder and the predictor are fitted to
//! the noise-free code z = mu, with the encoder held fixed.
//!
//! Training samples z = mu + sigma eps (paper Eq. 3), so the decoder learns E[x | z] of a
//! blurred code, while Table 1 and every figure read the mean mu. The refit minimises
//!   rec_x(x, d(mu)) + w_y mse_y(y, f(Z1(mu)))
//! (w_y the main step's `prediction_weight`, targets weighted as there)
//! over the decoder d and predictor f alone (its own Adam), with mu a constant: Z0, and so
//! MI(Z0; Y), stay as the alternating optimisation left them. On the paper's parameter split
//! the encoder hides y from the adversary behind noise as well as by removing it (README,
//! "The paper's split hides y behind noise"); the refit takes that noise's blur out of the
//! reconstruction without letting y back into the code.

use std::collections::HashMap;

use candle_core::Tensor;

use super::adam::Adam;
use super::alternating::{NamedVars, internal};
use super::config::{LossConfig, RefitConfig};
use super::objective::{StepStats, prediction_error, scalar};
use crate::error::Result;
use crate::kernels::Kernels;
use crate::model::networks::Networks;

/// The networks the refit trains, by their names in a checkpoint.
pub const REFIT_NETWORKS: [&str; 2] = ["decoder", "predictor"];

/// Prefix of the refit optimiser's moments in a resumable checkpoint.
const PREFIX: &str = "opt.refit";

/// The refit's optimiser over the decoder and predictor.
pub struct Refit {
    opt: Adam,
    config: RefitConfig,
}

impl Refit {
    /// A fresh Adam over `vars` (the decoder's and predictor's), on `config`'s learning rates.
    pub fn new(vars: NamedVars, config: &RefitConfig, kernels: Kernels) -> Result<Self> {
        let opt = Adam::new(vars, config.learning_rate, kernels).map_err(internal)?;
        Ok(Refit { opt, config: config.clone() })
    }

    /// One step on a batch: rec_x + w_y mse_y from the mean code, then Adam on the decoder
    /// and predictor at the refit's learning rate for this step. Returns rec_x and mse_y (and
    /// as `main` the loss).
    pub fn step<M: Networks>(
        &mut self,
        model: &M,
        weights: &LossConfig,
        x: &M::Input,
        y: &Tensor,
    ) -> Result<StepStats> {
        self.opt.lr = self.config.learning_rate_at(self.opt.steps());
        let (loss, stats) = refit_loss(model, weights, x, y).map_err(internal)?;
        let grads = loss.backward().map_err(internal)?;
        self.opt.step(&grads).map_err(internal)?;
        Ok(stats)
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.opt.steps()
    }

    /// The optimiser's moments, for a resumable checkpoint.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        self.opt.state(PREFIX).map_err(internal)
    }

    /// Restores the moments written by [`Refit::state`] after `steps` steps.
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        self.opt.restore(PREFIX, tensors, steps).map_err(internal)
    }
}

/// The refit's loss, rec_x + w_y mse_y on the mean code held constant (a model without a
/// predictor, the CVAE and CVIB, fits its decoder alone), with its parts.
pub fn refit_loss<M: Networks>(
    model: &M,
    weights: &LossConfig,
    x: &M::Input,
    y: &Tensor,
) -> candle_core::Result<(Tensor, StepStats)> {
    let mu = model.encode(x)?.mu.detach();
    let rec_x = model.reconstruction_error(&mu, x, y)?;
    let mut stats = StepStats { rec_x: scalar(&rec_x)?, ..StepStats::default() };
    let loss = match model.predict(&mu)? {
        Some(y_hat) => {
            let (weighted, mse_y) = prediction_error(weights, &y_hat, y)?;
            stats.mse_y = mse_y;
            (rec_x + weighted)?
        }
        None => rec_x,
    };
    stats.main = scalar(&loss)?;
    Ok((loss, stats))
}
