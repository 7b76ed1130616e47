//! Fused CPU kernels: the training step's hot operations, each computed in one pass with a
//! hand-written backward, in place of chains of candle's element-wise ops.
//!
//! - [`dense`]: a layer act(x W^T + b) (softplus or none) as one op; its backward gives the
//!   input, weight and bias gradients from one intermediate.
//! - [`gaussian_ir`]: the Gaussian MI block of Eq. 8-9 with its analytic gradient, in f64.
//! - [`adam`]: the Adam update of one parameter in place, moments in plain buffers.
//! - [`elementwise`]: softplus and its derivative as SIMD loops; [`matmul`]: row-major
//!   products on the `gemm` crate.
//!
//! The plain path (candle's own ops and autodiff) stays the reference: [`Kernels::Plain`]
//! selects it, the tests check that both give the same values and gradients, and every
//! non-CPU device (the `cuda` build) uses it.

pub mod adam;
pub mod dense;
pub mod elementwise;
pub mod gaussian_ir;
pub mod matmul;

use serde::{Deserialize, Serialize};

/// Which implementation of the layers, the MI term and Adam a model trains with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// The fused kernels of this module on the CPU (candle's ops on other devices).
    #[default]
    Fused,
    /// candle's own tensor ops and autodiff everywhere: the reference.
    Plain,
}
