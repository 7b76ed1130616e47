//! The networks of STIB (paper Figure 2) and the five models of Table 1 built from them.
//!
//! - [`encoder`]: q(z | x), with STIB's global noise scale or a per-sample variance.
//! - [`decoder`]: p(x | z).
//! - [`predictor`]: p(y | Z1).
//! - [`adversary`]: a(Z0), the adversary that looks for y in Z0.
//! - [`bijection`]: h and h^-1 between y and the proxy y~.
//! - [`smiles_encoder`], [`gru_decoder`]: the SMILES encoder (1-D convolutions) and decoder (GRU).
//! - [`smiles_vae`]: the five models over SMILES (QM9 experiment).
//! - [`mi_term`]: the differentiable Gaussian MI term (Eq. 8-9).
//! - [`mlp`]: the one place that builds an MLP.
//! - [`networks`]: what the objectives need from any model (spiral MLPs or SMILES VAE).
//! - [`variants`]: VAE, STIB without adversary, CVAE, CVIB and STIB.

pub mod adversary;
pub mod bijection;
pub mod decoder;
pub mod encoder;
pub mod gru_decoder;
pub mod mi_term;
pub mod mlp;
pub mod networks;
pub mod predictor;
pub mod smiles_encoder;
pub mod smiles_vae;
pub mod variants;

pub use smiles_vae::{SmilesArchitecture, SmilesBatch, SmilesModel};
pub use variants::{Architecture, ModelKind, SpiralModel};
