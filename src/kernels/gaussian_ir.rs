//! The Gaussian MI block of the loss, ir = ln det R_A + ln det R_B - ln det R (paper Eq. 8-9,
//! the same quantity as [`crate::model::mi_term::gaussian_ir`]), as one op whose value and
//! gradient are computed together in f64 when the forward pass runs.
//!
//! With S the standardised batch (n x d, columns s_j = c_j / sd_j, c_j = x_j - mean,
//! sd_j = sqrt(mean(c_j^2) + 1e-8)) and R = S^T S / (n - 1), d ln det R = tr(R^-1 dR) gives
//!   d ir / dS = 2 / (n - 1) S (blockdiag(R_A^-1, R_B^-1) - R^-1),
//! and through the standardisation, column by column,
//!   d/dc_i = (g_i - s_i mean(g s)) / sd,   d/dx_i = d/dc_i - mean(d/dc).
//! Inverses come from the Cholesky factors (R_A's factor is the leading block of R's).
//! A batch where a pivot falls under [`PIVOT_FLOOR`] is left to the plain path, whose guard
//! defines the value there.
//!
//! Shapes: `a: (n, d_a)`, `b: (n, d_b)`, result a scalar.

use candle_core::{CpuStorage, CustomOp2, DType, Device, Layout, Result, Shape, Tensor};

use super::{supports, with_values};

use crate::model::mi_term::PIVOT_FLOOR;

/// ir for `f32` CPU tensors, or `None` when the fused op does not apply (another device or
/// type, fewer than two samples, or a pivot under the floor).
pub fn gaussian_ir(a: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    if !(supports(a) && supports(b)) {
        return Ok(None);
    }
    let (n, da) = a.dims2()?;
    let (nb, db) = b.dims2()?;
    if n != nb {
        candle_core::bail!("gaussian_ir: {n} rows against {nb}");
    }
    if n < 2 || da == 0 || db == 0 {
        return Ok(None);
    }
    let (a, b) = (a.contiguous()?, b.contiguous()?);
    let columns = read_columns(&[(&a, da), (&b, db)], n)?;
    let Some(block) = Block::new(columns, n, da) else { return Ok(None) };
    let (grad_a, grad_b) = block.gradient(n, da);
    let op = Ir { value: block.value as f32, grad_a, grad_b, da, db };
    Ok(Some(a.apply_op2(&b, op)?))
}

/// The columns of row-major `f32` matrices side by side, as f64.
fn read_columns(parts: &[(&Tensor, usize)], n: usize) -> Result<Vec<Vec<f64>>> {
    let mut columns = Vec::new();
    for &(t, d) in parts {
        with_values(t, |values| {
            for j in 0..d {
                columns.push((0..n).map(|i| values[i * d + j] as f64).collect());
            }
            Ok(())
        })?;
    }
    Ok(columns)
}

/// The standardised batch, its correlation matrix's inverses and the value.
struct Block {
    /// Standardised columns s_j.
    s: Vec<Vec<f64>>,
    /// Standard deviations sd_j.
    sd: Vec<f64>,
    /// blockdiag(R_A^-1, R_B^-1) - R^-1, row-major d x d.
    m: Vec<f64>,
    value: f64,
}

impl Block {
    fn new(mut columns: Vec<Vec<f64>>, n: usize, da: usize) -> Option<Block> {
        let d = columns.len();
        let mut sd = Vec::with_capacity(d);
        for col in &mut columns {
            let mean = col.iter().sum::<f64>() / n as f64;
            col.iter_mut().for_each(|v| *v -= mean);
            let var = col.iter().map(|v| v * v).sum::<f64>() / n as f64;
            let s = (var + 1e-8).sqrt();
            col.iter_mut().for_each(|v| *v /= s);
            sd.push(s);
        }
        let mut r = vec![0.0; d * d];
        for j in 0..d {
            for k in 0..=j {
                let v = columns[j].iter().zip(&columns[k]).map(|(x, y)| x * y).sum::<f64>() / (n as f64 - 1.0);
                r[j * d + k] = v;
                r[k * d + j] = v;
            }
        }
        let (l, pivots) = cholesky(&r, d)?;
        let db = d - da;
        let rb: Vec<f64> = (da..d).flat_map(|j| (da..d).map(move |k| (j, k))).map(|(j, k)| r[j * d + k]).collect();
        let (lb, pivots_b) = cholesky(&rb, db)?;
        let ln = |p: &[f64]| p.iter().map(|v| v.ln()).sum::<f64>();
        let value = ln(&pivots[..da]) + ln(&pivots_b) - ln(&pivots);
        // R^-1 and R_A^-1 from R's factor (the inverse of a triangular factor's leading block
        // is the leading block of its inverse), R_B^-1 from its own.
        let l_inv = lower_inverse(&l, d);
        let lb_inv = lower_inverse(&lb, db);
        let mut m = vec![0.0; d * d];
        for j in 0..d {
            for k in 0..d {
                // (L^-T L^-1)_jk = sum_p L^-1_pj L^-1_pk over p >= max(j, k).
                let full: f64 = (j.max(k)..d).map(|p| l_inv[p * d + j] * l_inv[p * d + k]).sum();
                let diag = if j < da && k < da {
                    (j.max(k)..da).map(|p| l_inv[p * d + j] * l_inv[p * d + k]).sum()
                } else if j >= da && k >= da {
                    let (jb, kb) = (j - da, k - da);
                    (jb.max(kb)..db).map(|p| lb_inv[p * db + jb] * lb_inv[p * db + kb]).sum()
                } else {
                    0.0
                };
                m[j * d + k] = diag - full;
            }
        }
        Some(Block { s: columns, sd, m, value })
    }

    /// d ir / d a and d ir / d b, row-major.
    fn gradient(&self, n: usize, da: usize) -> (Vec<f32>, Vec<f32>) {
        let d = self.s.len();
        let db = d - da;
        let scale = 2.0 / (n as f64 - 1.0);
        let mut grad_a = vec![0.0f32; n * da];
        let mut grad_b = vec![0.0f32; n * db];
        for j in 0..d {
            // g = d ir / d s_j = scale * sum_k s_k m_kj.
            let g: Vec<f64> =
                (0..n).map(|i| scale * (0..d).map(|k| self.s[k][i] * self.m[k * d + j]).sum::<f64>()).collect();
            let s = &self.s[j];
            let gs_mean = g.iter().zip(s).map(|(g, s)| g * s).sum::<f64>() / n as f64;
            let gc: Vec<f64> = g.iter().zip(s).map(|(g, s)| (g - s * gs_mean) / self.sd[j]).collect();
            let gc_mean = gc.iter().sum::<f64>() / n as f64;
            let (out, width, col) = if j < da { (&mut grad_a, da, j) } else { (&mut grad_b, db, j - da) };
            for i in 0..n {
                out[i * width + col] = (gc[i] - gc_mean) as f32;
            }
        }
        (grad_a, grad_b)
    }
}

/// The Cholesky factor L (row-major, lower) of a d x d SPD matrix and its squared diagonal,
/// or `None` when a pivot is under [`PIVOT_FLOOR`].
#[allow(clippy::needless_range_loop)] // the textbook index form of Cholesky reads best
fn cholesky(r: &[f64], d: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let mut l = vec![0.0; d * d];
    let mut pivots = Vec::with_capacity(d);
    for i in 0..d {
        for j in 0..=i {
            let s = r[i * d + j] - (0..j).map(|p| l[i * d + p] * l[j * d + p]).sum::<f64>();
            if i == j {
                if s.is_nan() || s < PIVOT_FLOOR {
                    return None;
                }
                pivots.push(s);
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some((l, pivots))
}

/// The inverse of a lower-triangular d x d matrix (row-major), itself lower-triangular.
fn lower_inverse(l: &[f64], d: usize) -> Vec<f64> {
    let mut inv = vec![0.0; d * d];
    for j in 0..d {
        inv[j * d + j] = 1.0 / l[j * d + j];
        for i in j + 1..d {
            let s: f64 = (j..i).map(|p| l[i * d + p] * inv[p * d + j]).sum();
            inv[i * d + j] = -s / l[i * d + i];
        }
    }
    inv
}

/// Carries the value and the gradients computed with it into candle's graph.
struct Ir {
    value: f32,
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
    da: usize,
    db: usize,
}

impl CustomOp2 for Ir {
    fn name(&self) -> &'static str {
        "gaussian_ir"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(vec![self.value]), Shape::from(())))
    }

    fn bwd(&self, _a: &Tensor, _b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let scaled = |v: &[f32], d: usize| {
            Tensor::from_vec(v.iter().map(|x| x * g).collect::<Vec<_>>(), (v.len() / d, d), &Device::Cpu)
        };
        Ok((Some(scaled(&self.grad_a, self.da)?), Some(scaled(&self.grad_b, self.db)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    fn batch(n: usize, d: usize, seed: u64) -> Vec<f32> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| StandardNormal.sample(&mut rng)).collect()
    }

    /// Value and both gradients equal the plain autodiff path's on correlated batches.
    #[test]
    fn matches_the_plain_path() {
        let dev = Device::Cpu;
        for (n, da, db, seed) in [(60, 2, 2, 1), (128, 2, 2, 2), (17, 3, 1, 3), (40, 1, 4, 4)] {
            let mut av = batch(n, da, seed);
            let bv = batch(n, db, seed + 100);
            for i in 0..n {
                av[i * da] += 0.8 * bv[i * db]; // some dependence
            }
            let a = Var::from_vec(av, (n, da), &dev).unwrap();
            let b = Var::from_vec(bv, (n, db), &dev).unwrap();
            let fused = gaussian_ir(a.as_tensor(), b.as_tensor()).unwrap().expect("regular batch");
            let plain = crate::model::mi_term::plain_gaussian_ir(a.as_tensor(), b.as_tensor()).unwrap();
            let (fv, pv) = (fused.to_scalar::<f32>().unwrap(), plain.to_scalar::<f32>().unwrap());
            assert!((fv - pv).abs() < 1e-5 * (1.0 + pv.abs()), "value {fv} vs {pv}");
            let (fg, pg) = (fused.backward().unwrap(), plain.backward().unwrap());
            for var in [&a, &b] {
                let f = fg.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let p = pg.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let scale = p.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (x, y) in f.iter().zip(&p) {
                    assert!((x - y).abs() < 1e-4 * scale, "n {n}: gradient {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn singular_batches_go_to_the_plain_path() {
        let dev = Device::Cpu;
        let a = Tensor::from_vec(vec![1f32; 20], (10, 2), &dev).unwrap();
        let b = Tensor::from_vec((0..20).map(|v| v as f32).collect::<Vec<_>>(), (10, 2), &dev).unwrap();
        assert!(gaussian_ir(&a, &b).unwrap().is_none());
        let a64 = a.to_dtype(DType::F64).unwrap();
        assert!(gaussian_ir(&a64, &b).unwrap().is_none());
    }
}
