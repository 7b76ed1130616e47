//! The networks of STIB (paper Figure 2) and the five models of Table 1 built from them.
//!
//! - [`encoder`]: q(z | x), with STIB's global noise scale or a per-sample variance.
//! - [`decoder`]: p(x | z).
//! - [`predictor`]: p(y | Z1).
//! - [`adversary`]: a(Z0), the adversary that looks for y in Z0.
//! - [`bijection`]: h and h^-1 between y and the proxy y~.
//! - [`mi_term`]: the differentiable Gaussian MI term (Eq. 8-9).
//! - [`mlp`]: the one place that builds an MLP.
//! - [`variants`]: VAE, STIB without adversary, CVAE, CVIB and STIB.

pub mod adversary;
pub mod bijection;
pub mod decoder;
pub mod encoder;
pub mod mi_term;
pub mod mlp;
pub mod predictor;
pub mod variants;

pub use variants::{Architecture, ModelKind, SpiralModel};
