//! Predictor p(y | Z1): the property from the property subspace (STIB) or from the whole code
//! (VAE). Shapes: `(batch, z1_dim) -> (batch, y_dim)`.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::mlp::Mlp;

/// The predictor network (softplus MLP with biases).
#[derive(Debug, Clone)]
pub struct Predictor {
    net: Mlp,
}

impl Predictor {
    /// `input -> hidden x depth -> y_dim` under `predictor`.
    pub fn new(input: usize, hidden: usize, depth: usize, y_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Predictor { net: Mlp::with_hidden(input, hidden, depth, y_dim, true, vb.pp("predictor"))? })
    }

    /// Chooses the implementation of its layers.
    pub fn set_kernels(&mut self, kernels: crate::kernels::Kernels) {
        self.net.set_kernels(kernels);
    }

    /// y_hat for a batch of property codes.
    pub fn forward(&self, z1: &Tensor) -> Result<Tensor> {
        self.net.forward(z1)
    }
}
