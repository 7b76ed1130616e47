//! The one place that builds a multilayer perceptron: every network of the artificial
//! experiment is `in -> hidden -> hidden -> out` with softplus after each hidden layer.
//!
//! softplus(x) = max(x, 0) + ln(1 + exp(-|x|)), the overflow-free form.
//!
//! With [`Kernels::Fused`] (the default) each layer of an `f32` CPU batch is one fused op
//! ([`crate::kernels::dense`]); with [`Kernels::Plain`], or on another device, candle's
//! `Linear` and element-wise ops.
//!
//! Shapes: `(batch, in) -> (batch, out)`.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use crate::kernels::dense::{Activation, dense};
use crate::kernels::{Kernels, supports};

/// A softplus MLP.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    kernels: Kernels,
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
        Ok(Mlp { layers, kernels: Kernels::default() })
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

    /// Chooses the layers' implementation.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// The forward pass for a step that trains only the first `trained` layers: a fused pass
    /// gives the other layers' weights no gradient (the input always gets one); the plain
    /// path computes them all and the step ignores the rest.
    pub fn forward_training(&self, x: &Tensor, trained: usize) -> Result<Tensor> {
        let fused = self.kernels == Kernels::Fused && supports(x);
        // candle's CUDA matrix product refuses a strided left operand, and the networks read
        // column slices of the code (Z0, Z1); on the CPU this copies only such slices.
        let mut h = if fused { x.clone() } else { x.contiguous()? };
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let activation = if i < last { Activation::Softplus } else { Activation::Identity };
            h = if fused {
                dense(&h, layer.weight(), layer.bias(), activation, i < trained)?
            } else {
                let z = layer.forward(&h)?;
                if activation == Activation::Softplus { softplus(&z)? } else { z }
            };
        }
        Ok(h)
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_training(x, self.layers.len())
    }
}

/// softplus(x) = max(x, 0) + ln(1 + exp(-|x|)).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};
    use candle_nn::VarMap;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn softplus_is_stable_and_exact() {
        let x = Tensor::new(&[-100f32, -1.0, 0.0, 1.0, 100.0], &Device::Cpu).unwrap();
        let y = softplus(&x).unwrap().to_vec1::<f32>().unwrap();
        let want = [0.0f32, (1.0f32 + (-1.0f32).exp()).ln(), 2f32.ln(), 1.0 + (1.0f32 + (-1.0f32).exp()).ln(), 100.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// Fused and plain layers give the same output and the same gradients for the input and
    /// every weight and bias, with and without biases; without weight gradients the fused
    /// pass leaves the weights out and keeps the input's; trained layers keep theirs.
    #[test]
    fn fused_layers_match_the_plain_path() {
        let dev = Device::Cpu;
        for (bias, n) in [(true, 60), (false, 33)] {
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
            let mut mlp = Mlp::with_hidden(3, 40, 2, 2, bias, vb).unwrap();
            // Non-zero biases and larger weights, so both softplus branches are exercised.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64);
            let mut normal = |shape: &[usize], scale: f32| {
                let count = shape.iter().product::<usize>();
                let v: Vec<f32> = (0..count)
                    .map(|_| {
                        let s: f32 = StandardNormal.sample(&mut rng);
                        scale * s
                    })
                    .collect();
                Tensor::from_vec(v, shape, &dev).unwrap()
            };
            let mut vars: Vec<(String, Var)> =
                vm.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, var) in &vars {
                let scale = if name.ends_with("bias") { 1.0 } else { 1.5 };
                var.set(&normal(var.dims(), scale)).unwrap();
            }
            let x = Var::from_tensor(&normal(&[n, 3], 2.0)).unwrap();
            let run = |mlp: &Mlp, trained: usize| {
                let y = mlp.forward_training(x.as_tensor(), trained).unwrap();
                let loss = (y.sqr().unwrap().sum_all().unwrap() + y.sum_all().unwrap()).unwrap();
                (y, loss.backward().unwrap())
            };
            let (y_fused, g_fused) = run(&mlp, 3);
            let (_, g_input_only) = run(&mlp, 0);
            let (_, g_first_layer) = run(&mlp, 1);
            mlp.set_kernels(Kernels::Plain);
            let (y_plain, g_plain) = run(&mlp, 3);
            let y_scale = y_plain.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(max_abs_diff(&y_fused, &y_plain) <= 1e-5 * y_scale.max(1.0), "outputs differ");
            let vars: Vec<Var> = vars.into_iter().map(|(_, v)| v).collect();
            assert_eq!(vars.len(), if bias { 6 } else { 3 });
            for var in vars.iter().chain([&x]) {
                let (f, p) = (g_fused.get(var).unwrap(), g_plain.get(var).unwrap());
                let scale = p.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
                assert!(
                    max_abs_diff(f, p) <= 1e-5 * scale.max(1.0),
                    "gradient of a {:?} parameter differs",
                    var.dims()
                );
                assert_eq!(g_input_only.get(var).is_some(), var.dims() == x.dims(), "{:?}", var.dims());
            }
            // Only the first layer's weight (3 inputs) and bias (40 outputs) besides the input.
            let first: Vec<&Var> = vars.iter().filter(|v| g_first_layer.get(v).is_some()).collect();
            assert_eq!(first.len(), if bias { 2 } else { 1 });
            assert!(first.iter().all(|v| v.dims() == [40, 3] || v.dims() == [40]));
            assert!(max_abs_diff(g_input_only.get(&x).unwrap(), g_fused.get(&x).unwrap()) == 0.0);
        }
    }
}
