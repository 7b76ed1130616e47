//! Encoder q(z | x): x -> mu (and, for the conditional baselines, a per-sample log-variance).
//!
//! STIB's encoder has no biases and one global learned noise scale: z = mu + exp(log_sigma) *
//! eps with log_sigma a single vector of the latent size, initialised to 0 (reference setup).
//! The CVAE and CVIB encoders output (mu, log_var) per sample instead.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::mlp::Mlp;

/// How the encoder expresses its noise.
#[derive(Debug, Clone)]
pub enum Noise {
    /// One learned log standard deviation per latent dimension, shared by all samples.
    Global(Tensor),
    /// A log-variance per sample, from the encoder's second half of outputs.
    PerSample,
}

/// The encoder network and its noise.
#[derive(Debug, Clone)]
pub struct Encoder {
    net: Mlp,
    noise: Noise,
    latent: usize,
}

/// Output of the encoder: mean and log standard deviation, both `(batch, latent)` (the
/// global one broadcast).
#[derive(Debug, Clone)]
pub struct Posterior {
    /// Mean of q(z | x).
    pub mu: Tensor,
    /// Log standard deviation of q(z | x).
    pub log_sigma: Tensor,
}

impl Encoder {
    /// STIB/VAE encoder: `x_dim -> hidden x depth -> latent`, no biases, global log_sigma at
    /// `log_sigma` beside the network.
    pub fn global(x_dim: usize, hidden: usize, depth: usize, latent: usize, vb: VarBuilder) -> Result<Self> {
        let net = Mlp::with_hidden(x_dim, hidden, depth, latent, false, vb.pp("encoder"))?;
        let log_sigma = vb.get_with_hints(latent, "log_sigma", candle_nn::Init::Const(0.0))?;
        Ok(Encoder { net, noise: Noise::Global(log_sigma), latent })
    }

    /// CVAE/CVIB encoder: `x_dim -> hidden x depth -> 2 latent` (mean and log-variance).
    pub fn per_sample(x_dim: usize, hidden: usize, depth: usize, latent: usize, vb: VarBuilder) -> Result<Self> {
        let net = Mlp::with_hidden(x_dim, hidden, depth, 2 * latent, false, vb.pp("encoder"))?;
        Ok(Encoder { net, noise: Noise::PerSample, latent })
    }

    /// Chooses the implementation of its layers.
    pub fn set_kernels(&mut self, kernels: crate::kernels::Kernels) {
        self.net.set_kernels(kernels);
    }

    /// Size of the latent code.
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// q(z | x) for a batch.
    pub fn forward(&self, x: &Tensor) -> Result<Posterior> {
        self.noise.posterior(self.net.forward(x)?, self.latent)
    }
}

impl Noise {
    /// The posterior of an encoder network's output `(batch, latent)` (global noise) or
    /// `(batch, 2 latent)` (per-sample: mean, then log-variance).
    pub fn posterior(&self, out: Tensor, latent: usize) -> Result<Posterior> {
        match self {
            Noise::Global(log_sigma) => {
                let log_sigma = log_sigma.unsqueeze(0)?.broadcast_as(out.shape())?;
                Ok(Posterior { mu: out, log_sigma })
            }
            Noise::PerSample => {
                let mu = out.narrow(1, 0, latent)?;
                let log_var = out.narrow(1, latent, latent)?;
                Ok(Posterior { mu, log_sigma: (log_var * 0.5)? })
            }
        }
    }
}

impl Posterior {
    /// A reparameterised sample z = mu + exp(log_sigma) * eps, with eps drawn by the caller.
    pub fn sample(&self, eps: &Tensor) -> Result<Tensor> {
        &self.mu + (self.log_sigma.exp()? * eps)?
    }

    /// The posterior with a ceiling on the noise of its first `dims` dimensions: their total
    /// signal-to-noise ratio, S = sum_j sd_batch(mu_j)^2 / sigma_j^2, is held at least
    /// 1 / `ratio`^2 by scaling those sigmas down together by sqrt(S) `ratio` where it falls
    /// short. The ceiling moves with the means (scaling them scales the noise with them) and
    /// ignores a common scale of the sigmas, but keeps how the noise is shared out, so one
    /// dimension may still drown in noise while another carries the signal.
    pub fn with_noise_ceiling(&self, dims: usize, ratio: f64) -> Result<Posterior> {
        let latent = self.mu.dim(1)?;
        let head = self.mu.narrow(1, 0, dims)?;
        let centred = head.broadcast_sub(&head.mean_keepdim(0)?)?;
        let var = centred.sqr()?.mean_keepdim(0)?;
        let log_sigma = self.log_sigma.narrow(1, 0, dims)?;
        let snr2 = var.broadcast_div(&(&log_sigma * 2.0)?.exp()?)?.sum_keepdim(1)?;
        // log of the factor on the sigmas: min(0, log(sqrt(S) ratio)); the tiny offset keeps a
        // constant code finite.
        let shift = (((snr2 + 1e-24)?.log()? * 0.5)? + ratio.ln())?.minimum(0.0)?;
        let capped = log_sigma.broadcast_add(&shift)?;
        let log_sigma = if dims < latent {
            Tensor::cat(&[&capped, &self.log_sigma.narrow(1, dims, latent - dims)?], 1)?
        } else {
            capped
        };
        Ok(Posterior { mu: self.mu.clone(), log_sigma })
    }

    /// KL(q(z | x) || N(0, I)) per sample, averaged over the batch:
    /// sum_j( -log_sigma_j + (mu_j^2 + sigma_j^2) / 2 - 1/2 ).
    pub fn kl(&self) -> Result<Tensor> {
        let sigma2 = (&self.log_sigma * 2.0)?.exp()?;
        let per_dim = ((self.log_sigma.neg()? + ((self.mu.sqr()? + sigma2)? * 0.5)?)? - 0.5)?;
        per_dim.sum(1)?.mean_all()
    }

    /// The KL to the prior with "free bits": each dimension's batch-mean KL counts as at least
    /// `free_bits` nats (0 gives [`Posterior::kl`]). Below the floor a dimension gets no
    /// gradient from the KL, so the decoder cannot profit from ignoring it.
    pub fn kl_free_bits(&self, free_bits: f64) -> Result<Tensor> {
        if free_bits <= 0.0 {
            return self.kl();
        }
        let sigma2 = (&self.log_sigma * 2.0)?.exp()?;
        let per_dim = ((self.log_sigma.neg()? + ((self.mu.sqr()? + sigma2)? * 0.5)?)? - 0.5)?.mean(0)?;
        per_dim.maximum(free_bits)?.sum_all()
    }

    /// Mean over all ordered pairs (i, j) of KL(q(z | x_i) || q(z | x_j)): the penalty of
    /// Moyer et al. 2018 that bounds I(z; x) without an adversary.
    ///
    /// Computed in O(n d) instead of over the n^2 pairs. Per dimension, with v = sigma^2,
    /// w = 1 / v and c = mu - mean(mu) (pair differences do not see the mean),
    ///   sum_ij KL_ij = 1/2 [ (sum_i v_i + sum_i c_i^2) sum_j w_j + n sum_j c_j^2 w_j ] - n^2 / 2,
    /// since the log-ratio terms cancel over all ordered pairs and the cross term
    /// -2 (sum_i c_i)(sum_j c_j w_j) is zero. Centring first keeps the squares free of
    /// cancellation when the means sit far from 0.
    pub fn pairwise_kl(&self) -> Result<Tensor> {
        let n = self.mu.dim(0)? as f64;
        let w = (&self.log_sigma * -2.0)?.exp()?; // 1 / sigma^2, (n, d)
        let v = (&self.log_sigma * 2.0)?.exp()?;
        let c2 = self.mu.broadcast_sub(&self.mu.mean_keepdim(0)?)?.sqr()?;
        let sum_w = w.sum(0)?; // (d)
        let spread = (v.sum(0)? + c2.sum(0)?)?; // sum_i v_i + sum_i c_i^2
        let weighted = (c2 * &w)?.sum(0)?; // sum_j c_j^2 w_j
        let per_dim = (((spread * sum_w)? + (weighted * n)?)? * 0.5)?;
        (per_dim.sum_all()? / (n * n))? - per_dim.dim(0)? as f64 * 0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn posterior(mu: &[f64], log_sigma: &[f64], n: usize, d: usize) -> Posterior {
        let dev = Device::Cpu;
        Posterior {
            mu: Tensor::from_vec(mu.to_vec(), (n, d), &dev).unwrap(),
            log_sigma: Tensor::from_vec(log_sigma.to_vec(), (n, d), &dev).unwrap(),
        }
    }

    /// KL(N(m1, s1^2) || N(m2, s2^2)) for one dimension.
    fn kl1(m1: f64, s1: f64, m2: f64, s2: f64) -> f64 {
        (s2 / s1).ln() + (s1 * s1 + (m1 - m2).powi(2)) / (2.0 * s2 * s2) - 0.5
    }

    #[test]
    fn kl_to_the_prior_matches_the_closed_form() {
        let (mu, ls) = ([0.5, -1.0, 2.0, 0.0], [0.1, -0.3, 0.0, 0.7]);
        let p = posterior(&mu, &ls, 2, 2);
        let want = (0..4).map(|i| kl1(mu[i], ls[i].exp(), 0.0, 1.0)).sum::<f64>() / 2.0;
        let got = p.kl().unwrap().to_scalar::<f64>().unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn free_bits_floor_each_dimension() {
        // Dimension 0 has KL 0 (the prior itself), dimension 1 a large one.
        let p = posterior(&[0.0, 3.0, 0.0, 3.0], &[0.0, 0.0, 0.0, 0.0], 2, 2);
        let plain = p.kl().unwrap().to_scalar::<f64>().unwrap();
        assert!((plain - 4.5).abs() < 1e-12);
        let floored = p.kl_free_bits(1.0).unwrap().to_scalar::<f64>().unwrap();
        assert!((floored - 5.5).abs() < 1e-12, "{floored}");
        assert_eq!(p.kl_free_bits(0.0).unwrap().to_scalar::<f64>().unwrap(), plain);
    }

    #[test]
    fn pairwise_kl_is_the_mean_over_ordered_pairs() {
        let (mu, ls) = ([0.5, -1.0, 2.0], [0.1, -0.3, 0.4]);
        let p = posterior(&mu, &ls, 3, 1);
        let mut want = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                want += kl1(mu[i], ls[i].exp(), mu[j], ls[j].exp());
            }
        }
        want /= 9.0;
        let got = p.pairwise_kl().unwrap().to_scalar::<f64>().unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn pairwise_kl_needs_no_pairs_and_keeps_f32_precision_far_from_zero() {
        // 200 samples in 3 dimensions, means centred near 50 (where expanding (mu_i - mu_j)^2
        // around 0 would lose every digit in f32), per-sample scales: against the explicit
        // double loop in f64.
        let (n, d) = (200, 3);
        let mu: Vec<f64> = (0..n * d).map(|k| 50.0 + ((k * 37 % 101) as f64 / 101.0 - 0.5) * 3.0).collect();
        let ls: Vec<f64> = (0..n * d).map(|k| ((k * 53 % 89) as f64 / 89.0 - 0.5) * 1.5).collect();
        let mut want = 0.0;
        for i in 0..n {
            for j in 0..n {
                for k in 0..d {
                    want += kl1(mu[i * d + k], ls[i * d + k].exp(), mu[j * d + k], ls[j * d + k].exp());
                }
            }
        }
        want /= (n * n) as f64;
        let p = posterior(&mu, &ls, n, d);
        let f32 = Posterior {
            mu: p.mu.to_dtype(candle_core::DType::F32).unwrap(),
            log_sigma: p.log_sigma.to_dtype(candle_core::DType::F32).unwrap(),
        };
        let got64 = p.pairwise_kl().unwrap().to_scalar::<f64>().unwrap();
        let got32 = f32.pairwise_kl().unwrap().to_scalar::<f32>().unwrap() as f64;
        assert!((got64 - want).abs() < 1e-9 * want, "{got64} vs {want}");
        assert!((got32 - want).abs() < 1e-5 * want, "{got32} vs {want}");
    }

    #[test]
    fn pairwise_kl_gradients_match_the_pairwise_form() {
        // The n^2 form written with broadcasting, differentiated by candle, against the O(n d)
        // form: same gradients with respect to the means and the log-scales.
        let (n, d) = (7, 2);
        let dev = Device::Cpu;
        let mu0: Vec<f64> = (0..n * d).map(|k| ((k * 29 % 17) as f64 - 8.0) / 4.0).collect();
        let ls0: Vec<f64> = (0..n * d).map(|k| ((k * 11 % 13) as f64 - 6.0) / 10.0).collect();
        let mu = candle_core::Var::from_vec(mu0, (n, d), &dev).unwrap();
        let ls = candle_core::Var::from_vec(ls0, (n, d), &dev).unwrap();
        let pairwise = |mu: &Tensor, ls: &Tensor| -> Tensor {
            let var = (ls * 2.0).unwrap().exp().unwrap();
            let diff2 = mu.unsqueeze(1).unwrap().broadcast_sub(&mu.unsqueeze(0).unwrap()).unwrap().sqr().unwrap();
            let ratio =
                var.unsqueeze(1).unwrap().broadcast_add(&diff2).unwrap().broadcast_div(&var.unsqueeze(0).unwrap());
            let logs = ls.unsqueeze(0).unwrap().broadcast_sub(&ls.unsqueeze(1).unwrap()).unwrap();
            let kl = ((logs + (ratio.unwrap() * 0.5).unwrap()).unwrap() - 0.5).unwrap();
            (kl.sum_all().unwrap() / (n * n) as f64).unwrap()
        };
        let p = Posterior { mu: mu.as_tensor().clone(), log_sigma: ls.as_tensor().clone() };
        let fast = p.pairwise_kl().unwrap().backward().unwrap();
        let slow = pairwise(mu.as_tensor(), ls.as_tensor()).backward().unwrap();
        for v in [&mu, &ls] {
            let a: Vec<f64> = fast.get(v).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let b: Vec<f64> = slow.get(v).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }

    /// Where the first dimensions' total signal-to-noise ratio falls short of 1 / ratio, their
    /// sigmas are scaled down together to meet it exactly, in proportion, and the others are
    /// left alone; above it nothing changes. The ceiling scales with the means, ignores a
    /// common shift of log_sigma, and passes the gradient of how the noise is shared out.
    #[test]
    fn noise_ceiling_holds_the_total_signal_to_noise_ratio_of_the_first_dimensions() {
        let dev = Device::Cpu;
        // Three dimensions over four samples; population variances of the first two.
        let mu = [1.0, 0.0, 3.0, 2.0, 1.0, -1.0, 3.0, 1.0, 1.0, 4.0, 1.0, -3.0];
        let var = |j: usize| {
            let c: Vec<f64> = (0..4).map(|i| mu[i * 3 + j]).collect();
            let m = c.iter().sum::<f64>() / 4.0;
            c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 4.0
        };
        let m = Var::from_vec(mu.to_vec(), (4, 3), &dev).unwrap();
        let effective = |mu: &Tensor, ls: [f64; 3], dims: usize, ratio: f64| {
            let ls = Var::from_vec(ls.to_vec(), 3, &dev).unwrap();
            let p = Posterior {
                mu: mu.clone(),
                log_sigma: ls.as_tensor().unsqueeze(0).unwrap().broadcast_as((4, 3)).unwrap(),
            };
            let out = p.with_noise_ceiling(dims, ratio).unwrap().log_sigma;
            (out.to_vec2::<f64>().unwrap()[0].clone(), out, ls)
        };
        let snr2 = |row: &[f64]| var(0) / (2.0 * row[0]).exp() + var(1) / (2.0 * row[1]).exp();
        // Noise 1 and 0.5 on sds of about 1.1 and 0.43: S is about 2, far below 1 / 0.1^2.
        let (row, out, ls) = effective(m.as_tensor(), [0.0, 0.5f64.ln(), 0.7], 2, 0.1);
        assert!((snr2(&row) - 100.0).abs() < 1e-9, "meets the floor exactly: {row:?}");
        assert!((row[0] - row[1] - 2f64.ln()).abs() < 1e-12, "in proportion: {row:?}");
        assert_eq!(row[2], 0.7, "outside the first dimensions: unchanged");
        let (shifted, _, _) = effective(m.as_tensor(), [-1.0, 0.5f64.ln() - 1.0, 0.7], 2, 0.1);
        assert!((shifted[0] - row[0]).abs() < 1e-12, "a common shift changes nothing: {shifted:?}");
        // Ten times the means give S about 200: against a floor of 1 / 0.01^2 both bind.
        let (tight, _, _) = effective(m.as_tensor(), [0.0, 0.5f64.ln(), 0.7], 2, 0.01);
        let (scaled, _, _) = effective(&(m.as_tensor() * 10.0).unwrap(), [0.0, 0.5f64.ln(), 0.7], 2, 0.01);
        assert!((scaled[0] - tight[0] - 10f64.ln()).abs() < 1e-9, "scales with the means: {scaled:?} {tight:?}");
        let (above, _, _) = effective(m.as_tensor(), [-4.0, -5.0, 0.7], 2, 0.1);
        assert_eq!(above, vec![-4.0, -5.0, 0.7], "above the floor: unchanged");
        // d(sum of the first two effective log-sigmas) / d log_sigma: each 1 - 2 w_k, with w_k
        // the dimension's share of S (the two shares sum to 1).
        let grads = out.narrow(1, 0, 2).unwrap().sum_all().unwrap().backward().unwrap();
        let g: Vec<f64> = grads.get(&ls).unwrap().to_vec1().unwrap();
        let w0 = (var(0) / 1.0) / (var(0) + var(1) / 0.25);
        assert!((g[0] - 4.0 * (1.0 - 2.0 * w0)).abs() < 1e-9 && (g[0] + g[1]).abs() < 1e-9, "{g:?}");
        assert!(grads.get(&m).is_some(), "the ceiling moves with the means");
    }
}
