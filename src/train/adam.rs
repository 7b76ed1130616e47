//! Adam (Kingma & Ba 2015) over a named set of variables, with its state exposed so that a
//! checkpoint can save and restore it exactly.
//!
//! m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//! theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
//! No weight decay (the paper's Adam; candle's AdamW defaults to 0.01).

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// Adam over a list of named variables.
#[derive(Debug)]
pub struct Adam {
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
    /// Learning rate.
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl Adam {
    /// Adam with the usual betas (0.9, 0.999) and eps 1e-8 (TensorFlow uses 1e-8 too).
    pub fn new(params: Vec<(String, Var)>, lr: f64) -> Result<Self> {
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect::<Result<Vec<_>>>()?;
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect::<Result<Vec<_>>>()?;
        Ok(Adam { params, m, v, step: 0, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 })
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Names of the variables this optimiser owns.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(n, _)| n.as_str())
    }

    /// One update from the gradients in `grads` (variables without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            // Some of candle's backward rules (convolutions, embeddings) return gradients that
            // still record how they were made; detached, the moments do not keep every past
            // step's graph alive.
            let g = g.detach();
            let g = &g;
            let m = ((&self.m[i] * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            let v = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / c1)? / ((&v / c2)?.sqrt()? + self.eps)?)?;
            var.set(&(var.as_tensor() - (update * self.lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The moment tensors, named `{prefix}.m.{var}` and `{prefix}.v.{var}`.
    pub fn state(&self, prefix: &str) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.insert(format!("{prefix}.m.{name}"), self.m[i].clone());
            out.insert(format!("{prefix}.v.{name}"), self.v[i].clone());
        }
        out
    }

    /// Restores moments saved by [`Adam::state`] and the step count.
    pub fn restore(&mut self, prefix: &str, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        for (i, (name, _)) in self.params.iter().enumerate() {
            let get = |k: String| {
                tensors.get(&k).cloned().ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {k}")))
            };
            self.m[i] = get(format!("{prefix}.m.{name}"))?;
            self.v[i] = get(format!("{prefix}.v.{name}"))?;
        }
        self.step = steps;
        Ok(())
    }
}
