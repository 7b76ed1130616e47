//! One dense layer, y = act(x W^T + b), as a single candle op with a hand-written backward:
//! the forward is one matrix product into a buffer pre-filled with the bias, then softplus in
//! one pass over the output; the backward forms dz = g * act'(z) once (from the output alone,
//! see [`super::elementwise`]) and from it dx = dz W, dW = dz^T x and db = sum of dz's rows.
//!
//! Shapes: `x: (n, in)`, `W: (out, in)` (candle's `Linear` layout), `b: (out)`, `y: (n, out)`.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Device, Layout, Result, Shape, Tensor};

use super::elementwise::{mul_softplus_derivative, softplus_in_place};
use super::matmul::{View, matmul};
use super::{values, with_values};

/// What follows the affine map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// softplus(z) = ln(1 + e^z).
    Softplus,
    /// z itself (an output layer).
    Identity,
}

/// act(x W^T + b) for an `f32` CPU tensor `x` (see [`super::supports`]), with `b` optional. With `weight_grads` false
/// the backward pass gives the input its gradient but not W and b (for a network whose
/// weights the current step does not train).
pub fn dense(x: &Tensor, w: &Tensor, b: Option<&Tensor>, activation: Activation, weight_grads: bool) -> Result<Tensor> {
    let op = Dense { activation, weight_grads };
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}

struct Dense {
    activation: Activation,
    weight_grads: bool,
}

impl Dense {
    fn forward(
        &self,
        x: &[f32],
        lx: &Layout,
        w: &[f32],
        lw: &Layout,
        b: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, input) = lx.shape().dims2()?;
        let (out, input_w) = lw.shape().dims2()?;
        if input != input_w {
            candle_core::bail!("dense: input has {input} features, the weight {input_w}");
        }
        let mut y = match b {
            Some(b) => {
                if b.len() != out {
                    candle_core::bail!("dense: bias of {} for {out} outputs", b.len());
                }
                b.repeat(n)
            }
            None => vec![0.0; n * out],
        };
        matmul(&mut y, View::new(x, n, input), View::new(w, out, input).t(), b.is_some());
        if self.activation == Activation::Softplus {
            softplus_in_place(&mut y);
        }
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    /// (dx, dW, db) from the operands, the output and the output's gradient.
    #[allow(clippy::type_complexity)] // the three gradients of one op
    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: bool,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, input) = x.dims2()?;
        let (out, _) = w.dims2()?;
        let mut dz = with_values(&grad.contiguous()?, |g| Ok(g.to_vec()))?;
        if self.activation == Activation::Softplus {
            with_values(y, |y| {
                mul_softplus_derivative(&mut dz, y);
                Ok(())
            })?;
        }
        let cpu = Device::Cpu;
        let mut dx = vec![0.0; n * input];
        with_values(w, |w| {
            matmul(&mut dx, View::new(&dz, n, out), View::new(w, out, input), false);
            Ok(())
        })?;
        let dx = Tensor::from_vec(dx, (n, input), &cpu)?;
        if !self.weight_grads {
            return Ok((Some(dx), None, None));
        }
        let mut dw = vec![0.0; out * input];
        with_values(x, |x| {
            matmul(&mut dw, View::new(&dz, n, out).t(), View::new(x, n, input), false);
            Ok(())
        })?;
        let dw = Tensor::from_vec(dw, (out, input), &cpu)?;
        let db = if bias {
            let mut db = vec![0.0f32; out];
            for row in dz.chunks_exact(out) {
                for (d, g) in db.iter_mut().zip(row) {
                    *d += g;
                }
            }
            Some(Tensor::from_vec(db, out, &cpu)?)
        } else {
            None
        };
        Ok((Some(dx), Some(dw), db))
    }
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward(values(sx, lx)?, lx, values(sw, lw)?, lw, Some(values(sb, lb)?))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.backward(x, w, true, y, grad)
    }
}

impl CustomOp2 for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn cpu_fwd(&self, sx: &CpuStorage, lx: &Layout, sw: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        self.forward(values(sx, lx)?, lx, values(sw, lw)?, lw, None)
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, y: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.backward(x, w, false, y, grad)?;
        Ok((dx, dw))
    }
}
