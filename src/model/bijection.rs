//! Bijection h: Y <-> Y~ (paper Section 3.3, Figure 3). The Gaussian MI term assumes Gaussian
//! marginals; mapping y through a learned invertible-by-training network h widens that to all
//! non-linearly transformed Gaussians. h^-1 is trained with the reconstruction penalty
//! beta * ||h^-1(h(y)) - y||^2 so that h stays one-to-one.
//! Shapes: `(batch, y_dim) -> (batch, y_dim)` both ways.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::mlp::Mlp;

/// The pair of networks h and h^-1.
#[derive(Debug, Clone)]
pub struct Bijection {
    h: Mlp,
    h_inv: Mlp,
}

impl Bijection {
    /// Both networks `y_dim -> hidden x depth -> y_dim`, under `bijection.h` and
    /// `bijection.h_inv`.
    pub fn new(y_dim: usize, hidden: usize, depth: usize, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("bijection");
        Ok(Bijection {
            h: Mlp::with_hidden(y_dim, hidden, depth, y_dim, true, vb.pp("h"))?,
            h_inv: Mlp::with_hidden(y_dim, hidden, depth, y_dim, true, vb.pp("h_inv"))?,
        })
    }

    /// Chooses the implementation of both networks' layers.
    pub fn set_kernels(&mut self, kernels: crate::kernels::Kernels) {
        self.h.set_kernels(kernels);
        self.h_inv.set_kernels(kernels);
    }

    /// y~ = h(y).
    pub fn forward(&self, y: &Tensor) -> Result<Tensor> {
        self.h.forward(y)
    }

    /// y = h^-1(y~).
    pub fn inverse(&self, y_tilde: &Tensor) -> Result<Tensor> {
        self.h_inv.forward(y_tilde)
    }
}
