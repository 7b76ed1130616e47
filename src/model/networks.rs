//! What the two objectives of STIB (paper Eq. 6-7) need from a model, whatever its data: an
//! encoder q(z | x), a reconstruction error of x from z, a predictor p(y | Z1), and (STIB
//! only) the adversary a(Z0) with the bijection h. The spiral MLPs ([`super::SpiralModel`]) and
//! the SMILES VAE ([`super::SmilesModel`]) both implement it, so one objective trains both.
//!
//! The code is z = [Z0, Z1]: Z0 first (invariant), Z1 last (property); the VAE's predictor
//! reads the whole code.

use candle_core::{Result, Tensor};

use super::adversary::Adversary;
use super::bijection::Bijection;
use super::encoder::Posterior;
use super::predictor::Predictor;
use super::variants::ModelKind;
use crate::kernels::Kernels;

/// A STIB-style model: encoder, decoder, predictor, and optionally adversary and bijection.
pub trait Networks {
    /// What the encoder reads and the decoder rebuilds (a tensor, or a batch of SMILES).
    type Input;

    /// Which of the five models.
    fn kind(&self) -> ModelKind;

    /// Size of Z0.
    fn z0_dim(&self) -> usize;

    /// Size of the whole code.
    fn latent_dim(&self) -> usize;

    /// q(z | x) for a batch.
    fn encode(&self, x: &Self::Input) -> Result<Posterior>;

    /// The batch mean of the decoder's error on x from the code `z` (conditional models
    /// decode from [Z0, y]): squared error for vectors, cross-entropy in nats for sequences.
    fn reconstruction_error(&self, z: &Tensor, x: &Self::Input, y: &Tensor) -> Result<Tensor>;

    /// p(y | Z1) (p(y | z) for the VAE); `None` for the conditional models.
    fn predictor(&self) -> Option<&Predictor>;

    /// The adversary and the bijection; STIB only.
    fn adversary(&self) -> Option<(&Adversary, &Bijection)>;

    /// The implementation of the layers and of the MI term.
    fn kernels(&self) -> Kernels;

    /// The invariant part Z0 of a code.
    fn z0(&self, z: &Tensor) -> Result<Tensor> {
        z.narrow(1, 0, self.z0_dim())
    }

    /// The property part Z1 of a code (the whole code for the VAE).
    fn z1(&self, z: &Tensor) -> Result<Tensor> {
        match self.kind() {
            ModelKind::Vae => Ok(z.clone()),
            _ => z.narrow(1, self.z0_dim(), self.latent_dim() - self.z0_dim()),
        }
    }

    /// The predicted y of a batch of codes, when the model has a predictor.
    fn predict(&self, z: &Tensor) -> Result<Option<Tensor>> {
        self.predictor().map(|p| p.forward(&self.z1(z)?)).transpose()
    }
}
