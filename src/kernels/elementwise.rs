//! Softplus and its derivative over `f32` slices, without calls into libm and without
//! branches, so that the compiler turns each loop into SIMD code. Each loop is compiled three
//! times (AVX-512, AVX2 + FMA, the baseline) and the widest one the CPU has runs.
//!
//! softplus(x) = max(x, 0) + ln(1 + t), t = e^-|x| in (0, 1];
//! ln(1 + t) = 2 atanh(s), s = t / (2 + t) in (0, 1/3], as an odd series in s (no
//! cancellation for small t);
//! d softplus / dx = sigmoid(x) = 1 - e^-softplus(x) = -expm1(-y), so the backward pass needs
//! only the layer's output y.
//! e^r: r = n ln 2 + f with |f| <= ln 2 / 2, e^f by its Taylor series to degree 7, 2^n put
//! into the exponent bits. Relative error of each function below 3e-7.

use std::f32::consts::{LN_2, LOG2_E};

use super::{PARALLEL_CHUNK, split_across_threads};

/// softplus applied in place.
pub fn softplus_in_place(v: &mut [f32]) {
    use rayon::prelude::*;
    if split_across_threads(v.len()) {
        v.par_chunks_mut(PARALLEL_CHUNK).for_each(softplus_dispatch);
    } else {
        softplus_dispatch(v)
    }
}

fn softplus_dispatch(v: &mut [f32]) {
    simd_dispatch!(softplus_loop(v: &mut [f32]))
}

/// g <- g * sigmoid(x), where `y` = softplus(x) is the layer's output.
pub fn mul_softplus_derivative(g: &mut [f32], y: &[f32]) {
    use rayon::prelude::*;
    assert_eq!(g.len(), y.len(), "gradient and output differ in length");
    if split_across_threads(g.len()) {
        g.par_chunks_mut(PARALLEL_CHUNK).zip(y.par_chunks(PARALLEL_CHUNK)).for_each(|(g, y)| derivative_dispatch(g, y));
    } else {
        derivative_dispatch(g, y)
    }
}

fn derivative_dispatch(g: &mut [f32], y: &[f32]) {
    simd_dispatch!(derivative_loop(g: &mut [f32], y: &[f32]))
}

#[inline(always)]
fn softplus_loop(v: &mut [f32]) {
    for x in v {
        *x = softplus(*x);
    }
}

#[inline(always)]
fn derivative_loop(g: &mut [f32], y: &[f32]) {
    for (g, &y) in g.iter_mut().zip(y) {
        *g *= sigmoid_from_softplus(y);
    }
}

/// softplus(x) = max(x, 0) + ln(1 + e^-|x|).
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    let t = exp_non_positive(-x.abs());
    x.max(0.0) + ln_1p_unit(t)
}

/// sigmoid(x) from y = softplus(x) >= 0: 1 - e^-y, by the series of -expm1(-y) for small y.
#[inline(always)]
pub fn sigmoid_from_softplus(y: f32) -> f32 {
    // -expm1(-y) = y - y^2/2 + y^3/6 - ... for y < 0.35 (error below 3e-9 there).
    let series = y
        * (1.0
            + y * (-1.0 / 2.0
                + y * (1.0 / 6.0
                    + y * (-1.0 / 24.0
                        + y * (1.0 / 120.0 + y * (-1.0 / 720.0 + y * (1.0 / 5040.0 + y * (-1.0 / 40320.0))))))));
    let direct = 1.0 - exp_non_positive(-y);
    if y < 0.35 { series } else { direct }
}

/// e^r for r <= 0 (clamped at -87, where e^r is still a normal float).
#[inline(always)]
fn exp_non_positive(r: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    const LN_2_HI: f32 = 0.693_145_75;
    const LN_2_LO: f32 = LN_2 - LN_2_HI;
    let r = r.max(-87.0);
    let shifted = r * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let n_bits = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let f = (r - n * LN_2_HI) - n * LN_2_LO;
    let p = 1.0
        + f * (1.0
            + f * (1.0 / 2.0
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0 + f * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n_bits + 127) << 23) as u32)
}

/// ln(1 + t) for t in [0, 1]: 2 atanh(s) with s = t / (2 + t).
#[inline(always)]
fn ln_1p_unit(t: f32) -> f32 {
    let s = t / (2.0 + t);
    let w = s * s;
    let series = 1.0
        + w * (1.0 / 3.0
            + w * (1.0 / 5.0 + w * (1.0 / 7.0 + w * (1.0 / 9.0 + w * (1.0 / 11.0 + w * (1.0 / 13.0 + w / 15.0))))));
    2.0 * s * series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_softplus(x: f64) -> f64 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }

    #[test]
    fn softplus_matches_f64_over_the_whole_range() {
        let xs: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 5e-4).chain([-300.0, -88.0, 88.0, 300.0]).collect();
        let mut v = xs.clone();
        softplus_in_place(&mut v);
        for (&x, &y) in xs.iter().zip(&v) {
            let want = exact_softplus(x as f64);
            let err = (y as f64 - want).abs();
            assert!(err <= 3e-7 * want + 2e-38, "softplus({x}) = {y}, want {want}");
        }
        // The scalar loop (no SIMD) agrees bit for bit with the dispatched one.
        let mut scalar = xs.clone();
        softplus_loop(&mut scalar);
        assert_eq!(scalar, v);
    }

    #[test]
    fn derivative_is_the_sigmoid() {
        let xs: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 * 1e-3).collect();
        let mut y = xs.clone();
        softplus_in_place(&mut y);
        let mut g = vec![2.0f32; xs.len()];
        mul_softplus_derivative(&mut g, &y);
        for ((&x, &g), &y) in xs.iter().zip(&g).zip(&y) {
            let sigmoid = 1.0 / (1.0 + (-(x as f64)).exp());
            // Relative to the sigmoid, plus what y's own rounding carries over (dy ~ 6e-8 y).
            let tol = 1e-6 * sigmoid + 2e-7 * (y as f64);
            assert!((g as f64 / 2.0 - sigmoid).abs() <= tol, "x {x}: {} vs {sigmoid}", g / 2.0);
        }
    }
}
