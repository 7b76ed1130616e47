//! Adam (Kingma & Ba 2015) over a named set of variables, with its state exposed so that a
//! checkpoint can save and restore it exactly.
//!
//! m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//! theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
//! b1 may differ from one parameter to another, and may be negative (negative momentum).
//! No weight decay by default (the paper's Adam; candle's AdamW defaults to 0.01); with
//! `weight_decay` wd > 0, theta <- theta (1 - lr wd) before the update (AdamW).
//!
//! On the CPU with [`Kernels::Fused`] the moments live in plain buffers and each parameter is
//! updated in one pass ([`crate::kernels::adam`]); otherwise (the reference, and other
//! devices) with candle's tensor ops. Both do the same f32 arithmetic in the same order.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};

use crate::kernels::adam::{AdamStep, adam_update};
use crate::kernels::{Kernels, supports};

/// Adam over a list of named variables.
#[derive(Debug)]
pub struct Adam {
    params: Vec<(String, Var)>,
    moments: Moments,
    step: u64,
    /// Learning rate.
    pub lr: f64,
    /// beta1 of each parameter, in the order of `params`.
    beta1: Vec<f64>,
    beta2: f64,
    eps: f64,
    /// Decoupled weight decay (AdamW): theta <- theta (1 - lr wd) before each update of
    /// the parameters marked in `decayed`.
    weight_decay: f64,
    decayed: Vec<bool>,
}

/// The first and second moments of every parameter.
#[derive(Debug)]
enum Moments {
    /// Plain buffers, updated in place by the fused kernel.
    Host { m: Vec<Vec<f32>>, v: Vec<Vec<f32>> },
    /// Tensors, replaced at each step by tensor ops.
    Tensors { m: Vec<Tensor>, v: Vec<Tensor> },
}

impl Adam {
    /// Adam with the usual betas (0.9, 0.999) and eps 1e-8 (TensorFlow uses 1e-8 too).
    pub fn new(params: Vec<(String, Var)>, lr: f64, kernels: Kernels) -> Result<Self> {
        let host = kernels == Kernels::Fused && params.iter().all(|(_, p)| supports(p));
        let moments = if host {
            let zeros = || params.iter().map(|(_, p)| vec![0f32; p.elem_count()]).collect();
            Moments::Host { m: zeros(), v: zeros() }
        } else {
            let zeros = || params.iter().map(|(_, p)| p.zeros_like()).collect::<Result<Vec<_>>>();
            Moments::Tensors { m: zeros()?, v: zeros()? }
        };
        let decayed = vec![false; params.len()];
        let beta1 = vec![0.9; params.len()];
        Ok(Adam { params, moments, step: 0, lr, beta1, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decayed })
    }

    /// Decoupled weight decay `weight_decay` (AdamW) on the parameters whose names `decays`
    /// accepts.
    pub fn set_weight_decay(&mut self, weight_decay: f64, decays: impl Fn(&str) -> bool) {
        self.weight_decay = weight_decay;
        self.decayed = self.params.iter().map(|(name, _)| weight_decay > 0.0 && decays(name)).collect();
    }

    /// Sets beta1, the decay of the running mean of the gradient (0.9 by default), of every
    /// parameter.
    pub fn set_beta1(&mut self, beta1: f64) {
        self.set_beta1_where(beta1, |_| true);
    }

    /// Sets beta1 of the parameters whose names `takes` accepts; the others keep theirs.
    pub fn set_beta1_where(&mut self, beta1: f64, takes: impl Fn(&str) -> bool) {
        for ((name, _), b) in self.params.iter().zip(self.beta1.iter_mut()) {
            if takes(name) {
                *b = beta1;
            }
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Names of the variables this optimiser owns.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(n, _)| n.as_str())
    }

    /// The Euclidean norm of the gradients in `grads` of this optimiser's variables, all
    /// together (as one vector); each variable's sum of squares in its own type, their total
    /// in f64 on the variables' device, read back once.
    pub fn gradient_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut total: Option<Tensor> = None;
        for (_, var) in &self.params {
            if let Some(g) = grads.get(var.as_tensor()) {
                let sum = g.sqr()?.sum_all()?.to_dtype(DType::F64)?;
                total = Some(match total {
                    Some(t) => (t + sum)?,
                    None => sum,
                });
            }
        }
        Ok(total.map_or(Ok(0.0), |t| t.to_scalar::<f64>())?.sqrt())
    }

    /// One update from the gradients in `grads` (variables without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_scaled(grads, 1.0)
    }

    /// One update from the gradients in `grads` times `scale` (gradient clipping scales them
    /// down; 1 leaves them as they are).
    pub fn step_scaled(&mut self, grads: &GradStore, scale: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let c2 = 1.0 - self.beta2.powi(t);
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let beta1 = self.beta1[i];
            let c1 = 1.0 - beta1.powi(t);
            let mut coefficients = AdamStep {
                lr: self.lr,
                beta1,
                beta2: self.beta2,
                eps: self.eps,
                correction1: c1,
                correction2: c2,
                keep: 1.0,
            };
            if self.decayed[i] {
                coefficients.keep = 1.0 - self.lr * self.weight_decay;
            }
            // Some of candle's backward rules (convolutions, embeddings) return gradients that
            // still record how they were made; detached, the moments do not keep every past
            // step's graph alive.
            let g = if scale == 1.0 { g.detach() } else { (g.detach() * scale)? };
            match &mut self.moments {
                Moments::Host { m, v } => adam_update(var.as_tensor(), &g, &mut m[i], &mut v[i], coefficients)?,
                Moments::Tensors { m, v } => {
                    let g = &g;
                    let m_new = ((&m[i] * beta1)? + (g * (1.0 - beta1))?)?;
                    let v_new = ((&v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
                    let update = ((&m_new / c1)? / ((&v_new / c2)?.sqrt()? + self.eps)?)?;
                    let theta =
                        if self.decayed[i] { (var.as_tensor() * coefficients.keep)? } else { var.as_tensor().clone() };
                    var.set(&(theta - (update * self.lr)?)?)?;
                    m[i] = m_new;
                    v[i] = v_new;
                }
            }
        }
        Ok(())
    }

    /// The moment tensors, named `{prefix}.m.{var}` and `{prefix}.v.{var}`.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (i, (name, var)) in self.params.iter().enumerate() {
            let (m, v) = match &self.moments {
                Moments::Host { m, v } => (
                    Tensor::from_slice(&m[i], var.shape(), &Device::Cpu)?,
                    Tensor::from_slice(&v[i], var.shape(), &Device::Cpu)?,
                ),
                Moments::Tensors { m, v } => (m[i].clone(), v[i].clone()),
            };
            out.insert(format!("{prefix}.m.{name}"), m);
            out.insert(format!("{prefix}.v.{name}"), v);
        }
        Ok(out)
    }

    /// Restores moments saved by [`Adam::state`] and the step count.
    pub fn restore(&mut self, prefix: &str, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        for (i, (name, var)) in self.params.iter().enumerate() {
            let get = |k: String| {
                let t = tensors.get(&k).ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {k}")))?;
                if t.shape() != var.shape() {
                    candle_core::bail!(
                        "{k} has shape {:?} in the checkpoint but {:?} in the model",
                        t.dims(),
                        var.dims()
                    );
                }
                Ok(t.clone())
            };
            let (tm, tv) = (get(format!("{prefix}.m.{name}"))?, get(format!("{prefix}.v.{name}"))?);
            match &mut self.moments {
                Moments::Host { m, v } => {
                    let host = |t: &Tensor| t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>();
                    m[i] = host(&tm)?;
                    v[i] = host(&tv)?;
                }
                Moments::Tensors { m, v } => {
                    m[i] = tm.to_dtype(var.dtype())?.to_device(var.device())?;
                    v[i] = tv.to_dtype(var.dtype())?.to_device(var.device())?;
                }
            }
        }
        self.step = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused update gives the tensor-op update bit for bit over several steps.
    #[test]
    fn fused_update_equals_the_tensor_form() {
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..300).map(|i| ((i as f32) * 0.7).sin()).collect();
        let run = |kernels: Kernels, weight_decay: f64| {
            let var = Var::from_vec(init.clone(), (20, 15), &dev).unwrap();
            let mut opt = Adam::new(vec![("w".into(), var.clone())], 0.01, kernels).unwrap();
            opt.set_weight_decay(weight_decay, |name| name == "w");
            for step in 0..5 {
                let loss = (var.as_tensor().sqr().unwrap() * (1.0 + step as f64)).unwrap().sum_all().unwrap();
                opt.step(&loss.backward().unwrap()).unwrap();
            }
            let state = opt.state("o").unwrap();
            let moments = ["o.m.w", "o.v.w"].map(|k| state[k].flatten_all().unwrap().to_vec1::<f32>().unwrap());
            (var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(), moments)
        };
        let fused = run(Kernels::Fused, 0.0);
        assert_eq!(fused, run(Kernels::Plain, 0.0));
        assert_ne!(fused.0, init);
        let decayed = run(Kernels::Fused, 5.0);
        assert_eq!(decayed, run(Kernels::Plain, 5.0));
        assert_ne!(decayed.0, fused.0);
        let norm = |w: &[f32]| w.iter().map(|x| x * x).sum::<f32>();
        assert!(norm(&decayed.0) < norm(&fused.0), "decay shrinks the weights");
    }

    /// The norm is that of all gradients as one vector, and a scaled step is the step on the
    /// scaled gradient: once Adam has settled, a spike of 100 times the usual gradient moves the
    /// weights about 3.2 times as far as a usual step (m takes a tenth of it, the root of v a
    /// third), and the spike scaled down to the usual norm as far as a usual step. With beta1
    /// 0.5, m takes half of the spike, and it moves the weights about 15 learning rates.
    #[test]
    fn gradient_norm_and_scaled_steps() {
        let dev = Device::Cpu;
        // loss = k (3 a0 + 4 a1 + 12 b0): gradient k (3, 4, 12), norm 13 k.
        let loss = |a: &Var, b: &Var, k: f64| {
            let weights = Tensor::new(&[3f32, 4.0], &dev).unwrap();
            let a = (a.as_tensor() * &weights).unwrap().sum_all().unwrap();
            ((a + (b.as_tensor() * 12.0).unwrap().sum_all().unwrap()).unwrap() * k).unwrap()
        };
        for kernels in [Kernels::Fused, Kernels::Plain] {
            let step_after_settling = |scale: f64, beta1: f64| {
                let a = Var::from_vec(vec![1f32, 2.0], 2, &dev).unwrap();
                let b = Var::from_vec(vec![0.5f32], 1, &dev).unwrap();
                let mut opt = Adam::new(vec![("a".into(), a.clone()), ("b".into(), b.clone())], 0.01, kernels).unwrap();
                opt.set_beta1(beta1);
                for _ in 0..3000 {
                    let grads = loss(&a, &b, 1.0).backward().unwrap();
                    assert!((opt.gradient_norm(&grads).unwrap() - 13.0).abs() < 1e-9);
                    opt.step(&grads).unwrap();
                }
                let before = a.as_tensor().to_vec1::<f32>().unwrap()[0];
                let spike = loss(&a, &b, 100.0).backward().unwrap();
                assert!((opt.gradient_norm(&spike).unwrap() - 1300.0).abs() < 1e-6);
                opt.step_scaled(&spike, scale).unwrap();
                f64::from((before - a.as_tensor().to_vec1::<f32>().unwrap()[0]).abs()) / 0.01
            };
            let (spike, clipped) = (step_after_settling(1.0, 0.9), step_after_settling(0.01, 0.9));
            assert!((3.1..3.3).contains(&spike), "{kernels:?}: the spike moved {spike} learning rates");
            assert!((clipped - 1.0).abs() < 0.05, "{kernels:?}: the clipped spike moved {clipped}");
            // m = 0.5 * 100 g + 0.5 g = 50.5 g against 10.9 g, over the same sqrt(v) = 3.39 g
            // (v = (0.001 * 100^2 + 0.999 * 0.95) g^2 over the bias correction 0.95): 14.9
            // learning rates against 3.2.
            let light = step_after_settling(1.0, 0.5);
            assert!((14.7..15.1).contains(&light), "{kernels:?}: with beta1 0.5 the spike moved {light}");
        }
    }

    /// beta1 set for some parameters leaves the others at 0.9, and a negative beta1 (negative
    /// momentum) amplifies a gradient that flips sign at every step instead of averaging it
    /// away: the running mean settles at m = c s_t g with c = (1 - b1) / (1 + b1), 3 at -0.5
    /// against 0.053 at 0.9, and each step moves the weight c learning rates (v settles at
    /// g^2). Both kernels agree bit for bit.
    #[test]
    fn beta1_per_parameter_and_negative_momentum() {
        let dev = Device::Cpu;
        let run = |kernels: Kernels| {
            let a = Var::from_vec(vec![1f32], 1, &dev).unwrap();
            let b = Var::from_vec(vec![1f32], 1, &dev).unwrap();
            let mut opt =
                Adam::new(vec![("enc.w".into(), a.clone()), ("dec.w".into(), b.clone())], 0.01, kernels).unwrap();
            opt.set_beta1_where(-0.5, |name| name.starts_with("enc"));
            let mut moves = (0.0, 0.0);
            for step in 0..400 {
                let sign = if step % 2 == 0 { 1.0 } else { -1.0 };
                let loss = ((a.as_tensor() + b.as_tensor()).unwrap() * (2.0 * sign)).unwrap().sum_all().unwrap();
                let before = (a.as_tensor().to_vec1::<f32>().unwrap()[0], b.as_tensor().to_vec1::<f32>().unwrap()[0]);
                opt.step(&loss.backward().unwrap()).unwrap();
                let after = (a.as_tensor().to_vec1::<f32>().unwrap()[0], b.as_tensor().to_vec1::<f32>().unwrap()[0]);
                moves = (f64::from((after.0 - before.0).abs()) / 0.01, f64::from((after.1 - before.1).abs()) / 0.01);
            }
            moves
        };
        let (negative, usual) = run(Kernels::Fused);
        assert!((negative - 3.0).abs() < 0.01, "beta1 -0.5 moved {negative} learning rates");
        assert!((usual - 0.1 / 1.9).abs() < 0.005, "beta1 0.9 moved {usual} learning rates");
        assert_eq!(run(Kernels::Plain), (negative, usual));
    }
}
