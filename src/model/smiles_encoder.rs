//! The SMILES encoder q(z | x) of the QM9 experiment, in the style of Gomez-Bombarelli et
//! al. 2018: 1-D convolutions over the one-hot sequence, then a dense layer, then the code.
//!
//! `(batch, vocabulary, length)` one-hot -> conv(k) -> tanh -> ... -> flatten -> dense -> tanh
//! -> mu (and, for CVAE/CVIB, a per-sample log-variance). STIB and the VAE use the same global
//! learned log_sigma as the spiral encoder (see [`super::encoder`]).
//!
//! tanh, not softplus: over sparse one-hot input, softplus features share a large positive
//! offset, and Adam's first steps move every pre-activation of a layer the same way until the
//! features are constant (the code's spread across molecules fell 100-fold in 50 steps, with
//! or without the KL term). Zero-centred tanh features do not have this failure.

use candle_core::{Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Linear, Module, VarBuilder};

use super::encoder::{Noise, Posterior};

/// Sizes of the convolutional encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSizes {
    /// Tokens in the vocabulary (input channels).
    pub vocabulary: usize,
    /// Sequence length.
    pub length: usize,
    /// Output channels of each convolution.
    pub channels: Vec<usize>,
    /// Kernel width of every convolution (no padding, stride 1).
    pub kernel: usize,
    /// Width of the dense layer after the convolutions.
    pub dense: usize,
}

impl ConvSizes {
    /// Sequence length left after the convolutions (0 when the kernel is too wide).
    pub fn output_length(&self) -> usize {
        let shrink = self.channels.len() * (self.kernel.saturating_sub(1));
        self.length.saturating_sub(shrink)
    }
}

/// The convolutional SMILES encoder with its noise.
#[derive(Debug, Clone)]
pub struct SmilesEncoder {
    convs: Vec<Conv1d>,
    dense: Linear,
    head: Linear,
    noise: Noise,
    latent: usize,
}

impl SmilesEncoder {
    /// Builds the encoder under `encoder.*` (and `log_sigma` beside it when `global_noise`).
    pub fn new(sizes: &ConvSizes, latent: usize, global_noise: bool, vb: VarBuilder) -> Result<Self> {
        if sizes.output_length() == 0 {
            candle_core::bail!(
                "{} convolutions of width {} leave nothing of a sequence of {} tokens",
                sizes.channels.len(),
                sizes.kernel,
                sizes.length
            );
        }
        let enc = vb.pp("encoder");
        let mut convs = Vec::with_capacity(sizes.channels.len());
        let mut input = sizes.vocabulary;
        for (i, &c) in sizes.channels.iter().enumerate() {
            convs.push(candle_nn::conv1d(input, c, sizes.kernel, Conv1dConfig::default(), enc.pp(format!("conv{i}")))?);
            input = c;
        }
        let flat = input * sizes.output_length();
        let dense = candle_nn::linear(flat, sizes.dense, enc.pp("dense"))?;
        let out = if global_noise { latent } else { 2 * latent };
        let head = candle_nn::linear(sizes.dense, out, enc.pp("head"))?;
        let noise = if global_noise {
            Noise::Global(vb.get_with_hints(latent, "log_sigma", candle_nn::Init::Const(0.0))?)
        } else {
            Noise::PerSample
        };
        Ok(SmilesEncoder { convs, dense, head, noise, latent })
    }

    /// Size of the code.
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// q(z | x) for a batch of one-hot sequences `(batch, vocabulary, length)`.
    pub fn forward(&self, one_hot: &Tensor) -> Result<Posterior> {
        let mut h = one_hot.clone();
        for conv in &self.convs {
            h = conv.forward(&h)?.tanh()?;
        }
        let h = self.dense.forward(&h.flatten_from(1)?)?.tanh()?;
        self.noise.posterior(self.head.forward(&h)?, self.latent)
    }
}
