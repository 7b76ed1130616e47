//! Decoder p(x | z): rebuilds the input from the whole latent code (STIB, VAE) or from Z0
//! joined with the target y (CVAE, CVIB). Shapes: `(batch, in) -> (batch, x_dim)`.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::mlp::Mlp;

/// The decoder network (softplus MLP with biases).
#[derive(Debug, Clone)]
pub struct Decoder {
    net: Mlp,
}

impl Decoder {
    /// `input -> hidden x depth -> x_dim` under `decoder`.
    pub fn new(input: usize, hidden: usize, depth: usize, x_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Decoder { net: Mlp::with_hidden(input, hidden, depth, x_dim, true, vb.pp("decoder"))? })
    }

    /// Chooses the implementation of its layers.
    pub fn set_kernels(&mut self, kernels: crate::kernels::Kernels) {
        self.net.set_kernels(kernels);
    }

    /// x_hat for a batch of codes.
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        self.net.forward(z)
    }
}
