//! Adversary a_delta(Z0): tries to predict the (bijected) property from the invariant subspace
//! Z0 (paper Eq. 6-7). Its output and h(y) feed the Gaussian MI term; the adversary step
//! maximises that MI, the main step minimises it through the encoder.
//! Shapes: `(batch, z0_dim) -> (batch, y_dim)`.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::mlp::Mlp;

/// The adversary network (softplus MLP with biases).
#[derive(Debug, Clone)]
pub struct Adversary {
    net: Mlp,
}

impl Adversary {
    /// `z0_dim -> hidden x depth -> y_dim` under `adversary`.
    pub fn new(z0_dim: usize, hidden: usize, depth: usize, y_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Adversary { net: Mlp::with_hidden(z0_dim, hidden, depth, y_dim, true, vb.pp("adversary"))? })
    }

    /// Chooses the implementation of its layers.
    pub fn set_kernels(&mut self, kernels: crate::kernels::Kernels) {
        self.net.set_kernels(kernels);
    }

    /// The guess in the main step, which trains none of the adversary's layers, or its first
    /// with `reference_split`: the gradient reaches Z0, and only those layers' weights.
    pub fn forward_main_step(&self, z0: &Tensor, reference_split: bool) -> Result<Tensor> {
        self.net.forward_training(z0, usize::from(reference_split))
    }

    /// The adversary's guess of h(y) from Z0.
    pub fn forward(&self, z0: &Tensor) -> Result<Tensor> {
        self.net.forward(z0)
    }
}
