//! The digamma function psi at positive integers, as the KSG estimator needs it.
//!
//! psi(1) = -gamma (Euler-Mascheroni) and psi(n + 1) = psi(n) + 1/n, so a table of psi(1..=n)
//! costs n additions and is exact to a few ulps; no general special-function crate is needed.

/// Euler-Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Table of psi(1), psi(2), ..., psi(n) (index i holds psi(i); index 0 is unused).
#[derive(Debug, Clone)]
pub struct DigammaTable {
    values: Vec<f64>,
}

impl DigammaTable {
    /// Builds the table for arguments 1..=n.
    pub fn new(n: usize) -> Self {
        let mut values = Vec::with_capacity(n + 1);
        values.push(f64::NAN);
        if n >= 1 {
            // Kahan-compensated running sum keeps the error at one rounding for any n.
            let mut sum = -EULER_GAMMA;
            let mut carry = 0.0f64;
            values.push(sum);
            for i in 1..n {
                let term = 1.0 / i as f64 - carry;
                let next = sum + term;
                carry = (next - sum) - term;
                sum = next;
                values.push(sum);
            }
        }
        DigammaTable { values }
    }

    /// psi(m) for 1 <= m <= n.
    ///
    /// # Panics
    /// If `m` is 0 or beyond the table (a bug in the caller, never user input).
    #[inline]
    pub fn psi(&self, m: usize) -> f64 {
        assert!(m >= 1, "digamma is undefined at 0");
        self.values[m]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_values() {
        let t = DigammaTable::new(100_001);
        assert!((t.psi(1) + EULER_GAMMA).abs() < 1e-15);
        // psi(2) = 1 - gamma, psi(20) and psi(10^5) from the asymptotic series.
        assert!((t.psi(2) - (1.0 - EULER_GAMMA)).abs() < 1e-15);
        let asymptotic = |x: f64| x.ln() - 1.0 / (2.0 * x) - 1.0 / (12.0 * x * x) + 1.0 / (120.0 * x.powi(4));
        assert!((t.psi(20) - asymptotic(20.0)).abs() < 1e-9);
        assert!((t.psi(100_000) - asymptotic(100_000.0)).abs() < 1e-13);
    }
}
