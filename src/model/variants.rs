//! The five models of Table 1, all with the same widths and the same data:
//!
//! | kind | encoder | decoder input | predictor input | adversary |
//! |---|---|---|---|---|
//! | VAE | global noise | z | z (all dims) | no |
//! | STIB without adversary | global noise | z | Z1 | no |
//! | CVAE (Sohn et al. 2015) | per-sample variance, Z0 only | [Z0, y] | none | no |
//! | CVIB (Moyer et al. 2018) | as CVAE, plus the pairwise KL penalty | [Z0, y] | none | no |
//! | STIB | global noise | z | Z1 | a(Z0) with bijection h |
//!
//! The latent code is z = [Z0, Z1]: Z0 first (invariant), Z1 last (property).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::adversary::Adversary;
use super::bijection::Bijection;
use super::decoder::Decoder;
use super::encoder::{Encoder, Posterior};
use super::mi_term::sum_squared_error;
use super::networks::Networks;
use super::predictor::Predictor;
use crate::kernels::Kernels;

/// Which of the five models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Variational autoencoder with a predictor on the whole code.
    Vae,
    /// STIB's partitioned code without the adversary.
    StibNoAdversary,
    /// Conditional VAE.
    Cvae,
    /// Conditional VAE with the pairwise-KL invariance penalty.
    Cvib,
    /// The full model.
    Stib,
}

impl ModelKind {
    /// The name used in tables and run folders.
    pub fn label(self) -> &'static str {
        match self {
            ModelKind::Vae => "VAE",
            ModelKind::StibNoAdversary => "STIB w/o adv",
            ModelKind::Cvae => "CVAE",
            ModelKind::Cvib => "CVIB",
            ModelKind::Stib => "STIB",
        }
    }

    /// True for the models that condition the decoder on y (no predictor).
    pub fn is_conditional(self) -> bool {
        matches!(self, ModelKind::Cvae | ModelKind::Cvib)
    }

    /// True for the model with the adversary and bijection.
    pub fn has_adversary(self) -> bool {
        self == ModelKind::Stib
    }
}

/// Sizes of the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// Input dimension.
    pub x_dim: usize,
    /// Target dimension.
    pub y_dim: usize,
    /// Invariant subspace Z0.
    pub z0_dim: usize,
    /// Property subspace Z1 (unused by CVAE and CVIB).
    pub z1_dim: usize,
    /// Width of every hidden layer.
    pub hidden: usize,
    /// Number of hidden layers of every network.
    pub depth: usize,
}

impl Default for Architecture {
    fn default() -> Self {
        Architecture { x_dim: 2, y_dim: 2, z0_dim: 2, z1_dim: 1, hidden: 256, depth: 2 }
    }
}

/// One of the five models with its networks.
#[derive(Debug, Clone)]
pub struct SpiralModel {
    /// Which model.
    pub kind: ModelKind,
    /// Sizes.
    pub arch: Architecture,
    /// q(z | x).
    pub encoder: Encoder,
    /// p(x | z) or p(x | Z0, y).
    pub decoder: Decoder,
    /// p(y | Z1) or p(y | z); absent for the conditional models.
    pub predictor: Option<Predictor>,
    /// a(Z0); STIB only.
    pub adversary: Option<Adversary>,
    /// h and h^-1; STIB only.
    pub bijection: Option<Bijection>,
    /// The implementation of the layers and of the MI term.
    pub kernels: Kernels,
}

/// What one forward pass of the main path produces.
#[derive(Debug, Clone)]
pub struct Pass {
    /// q(z | x).
    pub posterior: Posterior,
    /// The code used (a sample, or mu).
    pub z: Tensor,
    /// Reconstructed x.
    pub x_hat: Tensor,
    /// Predicted y, when the model has a predictor.
    pub y_hat: Option<Tensor>,
}

impl SpiralModel {
    /// Builds the networks of `kind` under `vb` (names: `encoder.*`, `log_sigma`, `decoder.*`,
    /// `predictor.*`, `adversary.*`, `bijection.h.*`, `bijection.h_inv.*`).
    pub fn new(kind: ModelKind, arch: Architecture, vb: VarBuilder) -> Result<Self> {
        let Architecture { x_dim, y_dim, z0_dim, z1_dim, hidden, depth } = arch;
        let latent = z0_dim + z1_dim;
        let (encoder, decoder, predictor) = if kind.is_conditional() {
            (
                Encoder::per_sample(x_dim, hidden, depth, z0_dim, vb.clone())?,
                Decoder::new(z0_dim + y_dim, hidden, depth, x_dim, vb.clone())?,
                None,
            )
        } else {
            let predictor_in = if kind == ModelKind::Vae { latent } else { z1_dim };
            (
                Encoder::global(x_dim, hidden, depth, latent, vb.clone())?,
                Decoder::new(latent, hidden, depth, x_dim, vb.clone())?,
                Some(Predictor::new(predictor_in, hidden, depth, y_dim, vb.clone())?),
            )
        };
        let (adversary, bijection) = if kind.has_adversary() {
            (
                Some(Adversary::new(z0_dim, hidden, depth, y_dim, vb.clone())?),
                Some(Bijection::new(y_dim, hidden, depth, vb)?),
            )
        } else {
            (None, None)
        };
        Ok(SpiralModel { kind, arch, encoder, decoder, predictor, adversary, bijection, kernels: Kernels::default() })
    }

    /// Chooses the implementation of every network's layers and of the MI term.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
        self.encoder.set_kernels(kernels);
        self.decoder.set_kernels(kernels);
        self.predictor.iter_mut().for_each(|n| n.set_kernels(kernels));
        self.adversary.iter_mut().for_each(|n| n.set_kernels(kernels));
        self.bijection.iter_mut().for_each(|n| n.set_kernels(kernels));
    }

    /// Encodes, samples (or takes mu when `eps` is `None`), decodes and predicts.
    pub fn pass(&self, x: &Tensor, y: &Tensor, eps: Option<&Tensor>) -> Result<Pass> {
        let posterior = self.encoder.forward(x)?;
        let z = match eps {
            Some(eps) => posterior.sample(eps)?,
            None => posterior.mu.clone(),
        };
        let x_hat = if self.kind.is_conditional() {
            self.decoder.forward(&Tensor::cat(&[&z, y], 1)?)?
        } else {
            self.decoder.forward(&z)?
        };
        let y_hat = self.predict(&z)?;
        Ok(Pass { posterior, z, x_hat, y_hat })
    }
}

impl Networks for SpiralModel {
    type Input = Tensor;

    fn kind(&self) -> ModelKind {
        self.kind
    }

    fn z0_dim(&self) -> usize {
        self.arch.z0_dim
    }

    fn latent_dim(&self) -> usize {
        self.encoder.latent()
    }

    fn encode(&self, x: &Tensor) -> Result<Posterior> {
        self.encoder.forward(x)
    }

    fn reconstruction_error(&self, z: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let x_hat = if self.kind.is_conditional() {
            self.decoder.forward(&Tensor::cat(&[z, y], 1)?)?
        } else {
            self.decoder.forward(z)?
        };
        sum_squared_error(&x_hat, x)
    }

    fn predictor(&self) -> Option<&Predictor> {
        self.predictor.as_ref()
    }

    fn adversary(&self) -> Option<(&Adversary, &Bijection)> {
        self.adversary.as_ref().zip(self.bijection.as_ref())
    }

    fn kernels(&self) -> Kernels {
        self.kernels
    }
}
