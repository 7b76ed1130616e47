//! Row-major matrix products over `f32` slices on the `gemm` crate (the one candle's CPU
//! backend uses), with either operand read transposed through its strides, so that a layer's
//! forward and backward products need no transposed copies.

use gemm::Parallelism;

/// A row-major `rows x cols` matrix in a slice, read as is or transposed.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> View<'a> {
    /// The `rows x cols` row-major matrix in `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows} x {cols} matrix needs {} values", rows * cols);
        View { data, rows, cols, transposed: false }
    }

    /// The same matrix, transposed.
    pub fn t(self) -> Self {
        View { transposed: !self.transposed, ..self }
    }

    /// (rows, cols) as read.
    fn shape(&self) -> (usize, usize) {
        if self.transposed { (self.cols, self.rows) } else { (self.rows, self.cols) }
    }

    /// (row stride, column stride) as read.
    fn strides(&self) -> (isize, isize) {
        if self.transposed { (1, self.cols as isize) } else { (self.cols as isize, 1) }
    }
}

/// dst (m x n, row-major) = a b, or dst + a b with `accumulate`.
pub fn matmul(dst: &mut [f32], a: View<'_>, b: View<'_>, accumulate: bool) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "inner dimensions differ: {m} x {k} times {k2} x {n}");
    assert_eq!(dst.len(), m * n, "the product is {m} x {n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = a.strides();
    let (b_rs, b_cs) = b.strides();
    // SAFETY: the views hold exactly rows x cols values (checked in `View::new`) and the
    // strides address only those; `dst` holds m x n values (checked above) and is exclusive.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(m * n * k),
        )
    }
}

/// Products with fewer multiply-adds than this run on one thread: at batch 60 (a 2 x 256
/// layer is 3.9M) handing work to a second thread cost more than it saved on this project's
/// machines, at batch 512 (31M) it paid.
const PARALLEL_WORK: usize = 1 << 23;

/// Threads for a product of `work` multiply-adds: all of the pool for large products.
fn parallelism(work: usize) -> Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => Parallelism::None,
        _ if work < PARALLEL_WORK => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    #[test]
    fn products_with_transposed_operands() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let close = |got: &[f32]| got.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5);
        let mut c = vec![0.0; m * n];
        matmul(&mut c, View::new(&a, m, k), View::new(&b, k, n), false);
        assert!(close(&c));
        let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
        let mut c = vec![9.0; m * n];
        matmul(&mut c, View::new(&at, k, m).t(), View::new(&bt, n, k).t(), false);
        assert!(close(&c));
        // Accumulating adds to what is there.
        let mut c = vec![1.0; m * n];
        matmul(&mut c, View::new(&a, m, k), View::new(&bt, n, k).t(), true);
        assert!(c.iter().zip(&want).all(|(x, y)| (x - 1.0 - y).abs() < 1e-5));
    }
}
