//! The Adam update of one parameter tensor in place, in one pass over parameter, gradient
//! and both moments (plain buffers), with the same f32 arithmetic, in the same order, as the
//! tensor-op form in [`crate::train::adam`]:
//!
//! m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//! theta <- theta keep - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps),
//! keep = 1 - lr wd (decoupled weight decay; 1 without).

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp2, Layout, Result, Tensor};

use super::{PARALLEL_CHUNK, split_across_threads, values};

/// The coefficients of one Adam step (bias corrections included).
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub eps: f64,
    /// 1 - beta1^t.
    pub correction1: f64,
    /// 1 - beta2^t.
    pub correction2: f64,
    /// Factor on the parameter before the update, 1 - lr wd (decoupled weight decay; 1 is
    /// none).
    pub keep: f64,
}

/// Updates `param` (a contiguous `f32` CPU tensor, e.g. a variable) from `grad` and the
/// moments `m` and `v` (as long as the parameter), all in place.
pub fn adam_update(param: &Tensor, grad: &Tensor, m: &mut [f32], v: &mut [f32], step: AdamStep) -> Result<()> {
    if m.len() != param.elem_count() || v.len() != param.elem_count() {
        candle_core::bail!("adam: moments of {} values for a parameter of {}", m.len(), param.elem_count());
    }
    let op = Update { moments: RefCell::new((m, v)), step };
    param.inplace_op2(&grad.contiguous()?, &op)
}

struct Update<'a> {
    moments: RefCell<(&'a mut [f32], &'a mut [f32])>,
    step: AdamStep,
}

impl InplaceOp2 for Update<'_> {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn cpu_fwd(&self, sp: &mut CpuStorage, lp: &Layout, sg: &CpuStorage, lg: &Layout) -> Result<()> {
        let g = values(sg, lg)?;
        let (p0, p1) = lp
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("adam: the parameter must be contiguous".into()))?;
        let CpuStorage::F32(p) = sp else { candle_core::bail!("adam: f32 parameters only") };
        let p = &mut p[p0..p1];
        if g.len() != p.len() {
            candle_core::bail!("adam: a gradient of {} values for a parameter of {}", g.len(), p.len());
        }
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        let s = self.step;
        // The tensor form's scalars, as candle casts them: x * f + 0 for each scaling.
        let c = Coefficients {
            b1: s.beta1 as f32,
            one_b1: (1.0 - s.beta1) as f32,
            b2: s.beta2 as f32,
            one_b2: (1.0 - s.beta2) as f32,
            inv_c1: (1.0 / s.correction1) as f32,
            inv_c2: (1.0 / s.correction2) as f32,
            eps: s.eps as f32,
            lr: s.lr as f32,
            keep: s.keep as f32,
        };
        update(p, g, m, v, &c);
        Ok(())
    }
}

/// The step's coefficients in f32.
struct Coefficients {
    b1: f32,
    one_b1: f32,
    b2: f32,
    one_b2: f32,
    inv_c1: f32,
    inv_c2: f32,
    eps: f32,
    lr: f32,
    keep: f32,
}

/// The update over the slices, on the widest SIMD the CPU has, in chunks spread over the
/// thread pool for large tensors (each value's arithmetic is the same either way).
fn update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &Coefficients) {
    use rayon::prelude::*;
    if split_across_threads(p.len()) {
        p.par_chunks_mut(PARALLEL_CHUNK)
            .zip(g.par_chunks(PARALLEL_CHUNK))
            .zip(m.par_chunks_mut(PARALLEL_CHUNK))
            .zip(v.par_chunks_mut(PARALLEL_CHUNK))
            .for_each(|(((p, g), m), v)| update_dispatch(p, g, m, v, c));
    } else {
        update_dispatch(p, g, m, v, c)
    }
}

fn update_dispatch(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &Coefficients) {
    simd_dispatch!(update_loop(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &Coefficients))
}

/// Each value rounds exactly as in candle's separate ops (no multiply-add is fused).
#[inline(always)]
fn update_loop(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &Coefficients) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let m_new = *m * c.b1 + g * c.one_b1;
        let v_new = *v * c.b2 + (g * g) * c.one_b2;
        let step = (m_new * c.inv_c1) / ((v_new * c.inv_c2).sqrt() + c.eps);
        // keep = 1 leaves the value as it is (x * 1 is exact).
        *p = *p * c.keep - step * c.lr;
        *m = m_new;
        *v = v_new;
    }
}
