//! The one place that builds a multilayer perceptron: every network of the artificial
//! experiment is `in -> hidden -> hidden -> out` with softplus after each hidden layer.
//!
//! softplus(x) = max(x, 0) + ln(1 + exp(-|x|)), the overflow-free form.
//!
//! Shapes: `(batch, in) -> (batch, out)`.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

/// A softplus MLP.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    /// Builds layers of the given sizes (`[in, hidden.., out]`) under `vb`, with or without
    /// biases. Layer `i` lives at `vb.pp(i)`.
    pub fn new(sizes: &[usize], bias: bool, vb: VarBuilder) -> Result<Self> {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| candle_nn::linear_b(w[0], w[1], bias, vb.pp(i.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp { layers })
    }

    /// `in -> hidden x depth -> out`.
    pub fn with_hidden(
        input: usize,
        hidden: usize,
        depth: usize,
        output: usize,
        bias: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let mut sizes = vec![input];
        sizes.extend(std::iter::repeat_n(hidden, depth));
        sizes.push(output);
        Self::new(&sizes, bias, vb)
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = softplus(&h)?;
            }
        }
        Ok(h)
    }
}

/// softplus(x) = max(x, 0) + ln(1 + exp(-|x|)).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn softplus_is_stable_and_exact() {
        let x = Tensor::new(&[-100f32, -1.0, 0.0, 1.0, 100.0], &Device::Cpu).unwrap();
        let y = softplus(&x).unwrap().to_vec1::<f32>().unwrap();
        let want = [0.0f32, (1.0f32 + (-1.0f32).exp()).ln(), 2f32.ln(), 1.0 + (1.0f32 + (-1.0f32).exp()).ln(), 100.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
