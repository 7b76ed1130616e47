//! Run configuration: a typed TOML file, every field with a default, unknown keys refused.
//!
//! ```toml
//! seed = 0
//! [model]
//! kind = "stib"            # vae | stib-no-adversary | cvae | cvib | stib
//! [loss]
//! mi_weight = 400.0
//! [schedule]
//! iterations = 20000
//! ```
//! The file is echoed into the run folder so a run says exactly how it was made.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::model::{Architecture, ModelKind};

/// Which experiment a configuration file is for (its top-level `experiment` key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Experiment {
    /// The artificial spiral experiment (the default when the key is absent).
    #[default]
    Spiral,
    /// The QM9 experiment on SMILES.
    Qm9,
}

impl Experiment {
    /// The experiment named by the `experiment` key of a TOML file (spiral when absent; an
    /// unreadable file or value is reported by the full parse that follows).
    pub fn of_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let table: toml::Table = text.parse().unwrap_or_default();
        Ok(table.get("experiment").and_then(|v| v.clone().try_into().ok()).unwrap_or_default())
    }
}

/// A whole run configuration of the artificial experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `"spiral"` (or absent).
    pub experiment: Experiment,
    /// Seed of every random draw (initial weights, batches, noise).
    pub seed: u64,
    /// Which model and its sizes.
    pub model: ModelConfig,
    /// Loss weights.
    pub loss: LossConfig,
    /// Optimisation schedule.
    pub schedule: ScheduleConfig,
    /// Validation and checkpoint selection.
    pub validation: ValidationConfig,
    /// The refit after training: the decoder and predictor fitted to the noise-free code.
    pub refit: RefitConfig,
}

/// The refit ([`super::refit`]): after the schedule's iterations, the best checkpoint's
/// decoder and predictor are trained on the mean code z = mu, the one Table 1 reads, with the
/// encoder held fixed, so that Z0 and its MI with y stay as trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefitConfig {
    /// Refit iterations after the schedule's (0, the paper's setup and the default: none).
    /// Each draws a fresh batch of `schedule.batch` samples.
    pub iterations: u64,
    /// Adam's learning rate at the refit's first iteration (a fresh optimiser, beta1 0.9).
    pub learning_rate: f64,
    /// Learning rate at the refit's last iteration, reached by exponential decay; 0 keeps the
    /// rate constant.
    pub learning_rate_final: f64,
}

impl RefitConfig {
    /// The learning rate of refit iteration `k` (0-based).
    pub fn learning_rate_at(&self, k: u64) -> f64 {
        decayed_rate(self.learning_rate, self.learning_rate_final, k, self.iterations)
    }
}

impl Default for RefitConfig {
    fn default() -> Self {
        RefitConfig { iterations: 0, learning_rate: 1e-3, learning_rate_final: 1e-4 }
    }
}

/// Model choice and sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Which of the five models.
    pub kind: ModelKind,
    /// Input dimension.
    pub x_dim: usize,
    /// Target dimension.
    pub y_dim: usize,
    /// Invariant subspace Z0.
    pub z0_dim: usize,
    /// Property subspace Z1 (unused by CVAE and CVIB).
    pub z1_dim: usize,
    /// Width of every hidden layer.
    pub hidden: usize,
    /// Number of hidden layers of every network.
    pub depth: usize,
    /// Give the adversary's first layer to the main step, as the reference code does by
    /// accident (off: the adversary owns all its layers, as the paper intends). With the
    /// default schedule it made STIB's test MAE(X) 0.011-0.024 instead of 0.10-0.13 over seeds
    /// 0-2, at the same MI_K(Z0; Y) (0.30 bits): `experiments/spiral/stib-reference-split.toml`.
    pub reference_split: bool,
    /// `"fused"` (the fast CPU kernels, default) or `"plain"` (candle's own ops, the
    /// reference they are tested against).
    pub kernels: Kernels,
}

impl ModelConfig {
    /// The network sizes.
    pub fn arch(&self) -> Architecture {
        Architecture {
            x_dim: self.x_dim,
            y_dim: self.y_dim,
            z0_dim: self.z0_dim,
            z1_dim: self.z1_dim,
            hidden: self.hidden,
            depth: self.depth,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        let a = Architecture::default();
        ModelConfig {
            kind: ModelKind::Stib,
            x_dim: a.x_dim,
            y_dim: a.y_dim,
            z0_dim: a.z0_dim,
            z1_dim: a.z1_dim,
            hidden: a.hidden,
            depth: a.depth,
            reference_split: false,
            kernels: Kernels::default(),
        }
    }
}

/// Loss weights (reference values as defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Weight of the MI term ir in the main step (400).
    pub mi_weight: f64,
    /// Scale of the adversary step's loss (3000).
    pub adversary_scale: f64,
    /// Weight beta of the bijection's reconstruction penalty inside the adversary step (0.01).
    pub bijection_weight: f64,
    /// CVAE/CVIB: weight of the KL term (0.1).
    pub conditional_kl_weight: f64,
    /// CVAE/CVIB: weight of the reconstruction (2).
    pub conditional_reconstruction_weight: f64,
    /// CVIB: weight of the pairwise KL penalty (1).
    pub pairwise_weight: f64,
    /// Least KL in nats that each latent dimension is charged ("free bits"; 0: plain KL).
    pub free_bits: f64,
    /// Measure the MI term on Z0's mean instead of a sample (false, as the reference). On a
    /// sample the encoder can lower the term by making Z0 noisier, which erases what Z0 holds
    /// about x as well as about y; on the mean it must take y out of the code itself, and the
    /// term matches the Table 1 metric, which is also taken at the mean.
    pub mi_on_mean: bool,
    /// How much of the main step's MI-term gradient reaches the noise scale log_sigma: 1 (the
    /// reference) trains it fully, 0 holds it fixed, values between scale it. The term itself
    /// reads the same sample either way (`mi_on_mean`, which reads no noise at all, takes
    /// precedence). At 1 the encoder can lower the term by raising Z0's noise, which blurs what
    /// Z0 holds about x while the mean, where Table 1 measures the MI, keeps y. On the spiral
    /// with the paper's split neither 0 (three seeds) nor 0.3 (five) held the game steady
    /// (README, "Table 1, artificial experiment"), so it stays at 1.
    pub mi_noise_gradient: f64,
    /// A ceiling on Z0's noise: its total signal-to-noise ratio (the sum over Z0's dimensions
    /// of the batch variance of the mean over the noise variance) is held at least
    /// 1 / ceiling^2, by scaling Z0's noise down where it falls short
    /// ([`crate::model::encoder::Posterior::with_noise_ceiling`]); 0, the default and the
    /// reference, sets none. The decoder and both steps' MI term read the same sample, so past
    /// the ceiling neither more noise nor a smaller mean lowers the MI term. On the spiral with
    /// the paper's split it lets y back into Z0's mean (README, "The paper's split hides y
    /// behind noise"), so it stays off.
    pub z0_noise_ceiling: f64,
    /// The iteration from which `z0_noise_ceiling` holds (0: from the start); before it the
    /// noise is free, as in the reference.
    pub z0_noise_ceiling_from: u64,
    /// Weight of the prediction error mse_y against the reconstruction error (1, as the
    /// reference).
    pub prediction_weight: f64,
    /// Weight of each target's squared error inside mse_y, in the data's order of targets
    /// (the spiral's two coordinates of y; QM9's gap, then alpha), for the main step and any
    /// auxiliary prediction; empty (the default): every target weighs 1, as the reference.
    /// The prediction weight multiplies them all. Logs and `history.jsonl` keep the plain
    /// mse_y of the data's batch.
    pub target_weights: Vec<f64>,
    /// Adversary steps per iteration (1, as the reference). More let the adversary keep up
    /// with an encoder that learns to hide y from it; STIB's spiral default
    /// (`experiments/spiral/stib.toml`) takes 3, with the refit and `validation.selection =
    /// "y-mi"`.
    pub adversary_steps: usize,
    /// Give each adversary step a batch of its own (false: every step reuses the main step's
    /// batch, as the reference). On one small batch, several steps fit that batch's chance
    /// correlations; fresh batches make the adversary learn what Z0 holds about y in general.
    pub adversary_fresh_batches: bool,
    /// Size of each adversary step's own batch (0: the main step's `schedule.batch`). Only
    /// with `adversary_fresh_batches`. The Gaussian MI term read on n codes has a sampling
    /// spread of about 1/sqrt(n); a larger batch gives the adversary a steadier signal at the
    /// cost of one encoder pass over it (no decoder pass).
    pub adversary_batch: usize,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            mi_weight: 400.0,
            adversary_scale: 3000.0,
            bijection_weight: 0.01,
            conditional_kl_weight: 0.1,
            conditional_reconstruction_weight: 2.0,
            pairwise_weight: 1.0,
            free_bits: 0.0,
            mi_on_mean: false,
            mi_noise_gradient: 1.0,
            z0_noise_ceiling: 0.0,
            z0_noise_ceiling_from: 0,
            adversary_steps: 1,
            adversary_fresh_batches: false,
            adversary_batch: 0,
            prediction_weight: 1.0,
            target_weights: Vec::new(),
        }
    }
}

impl LossConfig {
    /// Rows in each adversary step's own batch, given the main step's `main` rows.
    pub fn adversary_batch_or(&self, main: usize) -> usize {
        if self.adversary_batch > 0 { self.adversary_batch } else { main }
    }

    /// Rejects settings that cannot train.
    pub fn check(&self) -> Result<()> {
        if self.adversary_steps == 0 {
            return Err(Error::invalid("invalid configuration: loss.adversary_steps must be at least 1"));
        }
        if self.adversary_batch != 0 && !self.adversary_fresh_batches {
            return Err(Error::invalid(
                "invalid configuration: loss.adversary_batch needs loss.adversary_fresh_batches = true \
                 (without it the adversary steps reuse the main step's batch)",
            ));
        }
        if !(0.0..=1.0).contains(&self.mi_noise_gradient) {
            return Err(Error::invalid(format!(
                "invalid configuration: loss.mi_noise_gradient must be between 0 and 1, not {}",
                self.mi_noise_gradient
            )));
        }
        if self.adversary_batch == 1 || self.adversary_batch == 2 {
            return Err(Error::invalid("invalid configuration: loss.adversary_batch must be 0 or at least 3"));
        }
        let weights = [
            ("mi_weight", self.mi_weight),
            ("adversary_scale", self.adversary_scale),
            ("bijection_weight", self.bijection_weight),
            ("conditional_kl_weight", self.conditional_kl_weight),
            ("conditional_reconstruction_weight", self.conditional_reconstruction_weight),
            ("pairwise_weight", self.pairwise_weight),
            ("free_bits", self.free_bits),
            ("z0_noise_ceiling", self.z0_noise_ceiling),
            ("prediction_weight", self.prediction_weight),
        ];
        // A negative weight turns a penalty into a reward (a negative MI weight trains the
        // encoder to put y into Z0), and a NaN one poisons the first step; neither can be meant.
        if let Some((name, w)) = weights.iter().find(|(_, w)| !(*w >= 0.0 && w.is_finite())) {
            return Err(Error::invalid(format!(
                "invalid configuration: loss.{name} must be a finite number >= 0, not {w}"
            )));
        }
        Ok(())
    }

    /// Rejects `target_weights` that do not give one finite weight of at least 0 to each of
    /// the data's `targets` targets (an empty list is the default: all 1).
    pub fn check_target_weights(&self, targets: usize) -> Result<()> {
        let w = &self.target_weights;
        if w.is_empty() {
            return Ok(());
        }
        if w.len() != targets {
            return Err(Error::invalid(format!(
                "invalid configuration: loss.target_weights needs one weight for each of the data's {targets} \
                 targets, in their order, not {} (leave it out to weigh each 1)",
                w.len()
            )));
        }
        if let Some(v) = w.iter().find(|v| !(**v >= 0.0 && v.is_finite())) {
            return Err(Error::invalid(format!(
                "invalid configuration: loss.target_weights must be finite numbers >= 0, not {v}"
            )));
        }
        Ok(())
    }
}

/// The networks the main step trains, by their names in a checkpoint.
pub const MAIN_NETWORKS: [&str; 4] = ["encoder", "decoder", "predictor", "log_sigma"];

/// Optimisation schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Number of iterations (one main step and, for STIB, one adversary step each).
    pub iterations: u64,
    /// Fresh samples per iteration.
    pub batch: usize,
    /// Adam learning rate of both steps (at the start).
    pub learning_rate: f64,
    /// Learning rate at the last iteration, reached by exponential decay; 0 keeps the rate
    /// constant.
    pub learning_rate_final: f64,
    /// lambda at the start.
    pub lambda_start: f64,
    /// lambda is multiplied by this ...
    pub lambda_growth: f64,
    /// ... after every this many iterations.
    pub lambda_every: u64,
    /// Largest lambda (growth stops there); 0 means no limit.
    pub lambda_max: f64,
    /// Decoupled weight decay of the main step's Adam (AdamW, Loshchilov & Hutter 2019:
    /// theta <- theta (1 - lr wd) before each update); 0, the paper's Adam, is off. The
    /// adversary step never decays.
    pub weight_decay: f64,
    /// The networks whose weights decay, by their names in a checkpoint (`encoder`,
    /// `decoder`, `predictor`, `log_sigma`); empty: all of the main step's.
    pub weight_decay_networks: Vec<String>,
    /// Decay of an exponential moving average of the weights ([`super::averaging`]; early in
    /// training a ramp keeps it lower), which then stands in for the weights in validation,
    /// the best checkpoint and evaluation; 0, the paper's setup and the spiral's default, keeps
    /// no average (the QM9 default is 0.999).
    pub ema_decay: f64,
    /// Gradient clipping of the main step: where the norm of its gradient divided by lambda
    /// (the gradient of KL / lambda + the fit terms, whose scale does not grow with lambda)
    /// exceeds this, the gradient is scaled down to it before Adam sees it; 0 (the default,
    /// and the paper's setup) does not clip. Each validation's `train.grad_norm` in
    /// `history.jsonl` shows the norms a run meets.
    pub clip_norm: f64,
    /// The adversary step's Adam rate as a multiple of the main step's, at every iteration (1,
    /// as the reference, where both steps share one rate). Below 1 the adversary follows the
    /// encoder more slowly.
    pub adversary_learning_rate_scale: f64,
    /// Adam's beta1 (the decay of its running mean of the gradient) in the main step; 0.9, the
    /// usual value and the reference's. Lower values follow the gradient more closely, as
    /// adversarial training often uses (0.5) against the oscillation of a two-player game; on
    /// the spiral it did not steady STIB (README, "Table 1, artificial experiment"). Values
    /// below 0, down to (not including) -1, are negative momentum (Gidel et al. 2019), which
    /// damps the rotation of an alternating game; `adam_beta1_networks` limits it to the
    /// encoder (README, "Negative momentum").
    pub adam_beta1: f64,
    /// The main step's networks that take `adam_beta1`, by their names in a checkpoint
    /// (`encoder`, `decoder`, `predictor`, `log_sigma`); empty (the default): all of them. The
    /// others keep 0.9. With negative momentum this confines it to the encoder and its noise,
    /// the main step's player in the game, while the decoder and predictor, which only fit,
    /// keep the usual Adam.
    pub adam_beta1_networks: Vec<String>,
    /// Adam's beta1 in the adversary step (0.9, as the reference). On the spiral with the
    /// reference split and checkpoints on the two MAEs, 0.5 lowered MI_K(Z0; Y) a little
    /// (0.25-0.31 bits over five seeds, mean 0.29, against 0.30 with each of three seeds at
    /// 0.9); with the default three-cell rule the two are level (README). Negative values,
    /// above -1, are negative momentum, as for `adam_beta1`.
    pub adversary_adam_beta1: f64,
}

impl ScheduleConfig {
    /// Rejects schedules that cannot train.
    pub fn check(&self) -> Result<()> {
        let s = self;
        let bad = |m: &str| Err(Error::invalid(format!("invalid configuration: {m}")));
        if s.iterations == 0 {
            return bad("schedule.iterations must be at least 1");
        }
        if s.batch < 3 {
            return bad("schedule.batch must be at least 3 (the MI term needs correlations)");
        }
        if !(s.learning_rate > 0.0 && s.learning_rate.is_finite()) {
            return bad("schedule.learning_rate must be positive");
        }
        if s.learning_rate_final < 0.0 || !s.learning_rate_final.is_finite() {
            return bad("schedule.learning_rate_final must be 0 (constant rate) or positive");
        }
        let positive = |v: f64| v > 0.0 && v.is_finite();
        if !(positive(s.lambda_start) && positive(s.lambda_growth)) || s.lambda_every == 0 {
            return bad("schedule.lambda_start and lambda_growth must be finite and positive, lambda_every at least 1");
        }
        if !(s.lambda_max >= 0.0 && s.lambda_max.is_finite()) {
            return bad("schedule.lambda_max must be 0 (no limit) or positive");
        }
        if !(0.0..1.0).contains(&(s.weight_decay * s.learning_rate)) {
            return bad("schedule.weight_decay must be 0 or positive, and below 1 / learning_rate");
        }
        for (key, networks) in
            [("weight_decay_networks", &s.weight_decay_networks), ("adam_beta1_networks", &s.adam_beta1_networks)]
        {
            if let Some(n) = networks.iter().find(|n| !MAIN_NETWORKS.contains(&n.as_str())) {
                return bad(&format!("schedule.{key}: '{n}' is not one of {}", MAIN_NETWORKS.join(", ")));
            }
        }
        if !(s.clip_norm >= 0.0 && s.clip_norm.is_finite()) {
            return bad("schedule.clip_norm must be 0 (no clipping) or positive");
        }
        if !positive(s.adversary_learning_rate_scale) {
            return bad("schedule.adversary_learning_rate_scale must be finite and positive");
        }
        // Negative values are negative momentum (Gidel et al. 2019), which damps the rotation of
        // an alternating two-player game; -1 and below would make the running mean diverge.
        let beta = |b: f64| b > -1.0 && b < 1.0;
        if !(beta(s.adam_beta1) && beta(s.adversary_adam_beta1)) {
            return bad("schedule.adam_beta1 and adversary_adam_beta1 must be above -1 and below 1");
        }
        if !(0.0..1.0).contains(&s.ema_decay) {
            return bad("schedule.ema_decay must be 0 (no average) or between 0 and 1");
        }
        Ok(())
    }

    /// The learning rate for iteration `it` (0-based).
    pub fn learning_rate_at(&self, it: u64) -> f64 {
        decayed_rate(self.learning_rate, self.learning_rate_final, it, self.iterations)
    }
}

/// A learning rate decaying exponentially from `start` at step 0 to `end` at step `steps`, at
/// step `k`; `end` = 0 (or no steps) keeps `start`.
fn decayed_rate(start: f64, end: f64, k: u64, steps: u64) -> f64 {
    if end <= 0.0 || steps == 0 {
        return start;
    }
    start * (end / start).powf(k as f64 / steps as f64)
}

/// The default is a fast schedule: 12,000 iterations instead of the reference's 150,000 (whose
/// best checkpoints came at 60,000-120,000), batch 512 instead of 60 (which also lowers the
/// Gaussian MI term's small-batch bias, about d_a d_b / n), Adam at 1e-3 decaying to 1e-4, and
/// lambda starting at 10 and growing 1.03x every 60 iterations. Against the earlier 6,000
/// iterations at batch 256 (lambda every 30) it gave STIB a lower and steadier test MAE(Y) and
/// MAE(X) over seeds 0-2. `experiments/spiral/reference.toml` keeps the reference schedule.
impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            iterations: 12_000,
            batch: 512,
            learning_rate: 1e-3,
            learning_rate_final: 1e-4,
            lambda_start: 10.0,
            lambda_growth: 1.03,
            lambda_every: 60,
            lambda_max: 0.0,
            weight_decay: 0.0,
            weight_decay_networks: Vec::new(),
            ema_decay: 0.0,
            clip_norm: 0.0,
            adversary_learning_rate_scale: 1.0,
            adam_beta1: 0.9,
            adam_beta1_networks: Vec::new(),
            adversary_adam_beta1: 0.9,
        }
    }
}

/// How the best checkpoint is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// Keep a checkpoint when neither validation MAE(X) nor MAE(Y) got worse (the reference's
    /// rule, on a separate validation set).
    Both,
    /// Keep a checkpoint when MAE(X) + MAE(Y) improved.
    Sum,
    /// Keep a checkpoint when MAE(X) + MAE(Y) + MI_K(Z0; Y) in bits improved: Table 1's
    /// three cells, summed (needs `mi = true`).
    SumMi,
    /// For runs with a refit: in the schedule, keep a checkpoint when MAE(Y) + MI_K(Z0; Y) in
    /// bits improved; in the refit, when all three cells summed improved, as `sum-mi` (needs
    /// `mi = true` and `refit.iterations > 0`). In the schedule the decoder learns from noisy
    /// codes, and MAE(X) at the mean code says little about what the refit, which fits the
    /// decoder to that mean, makes of it: on the spiral a checkpoint with validation MAE(X)
    /// 1.41 reached 0.012 after the refit.
    YMi,
    /// Keep the last iterate.
    Last,
}

/// Validation and checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    /// Validate (and write the resumable checkpoint) every this many iterations.
    pub every: u64,
    /// Size of the validation set, drawn from the data process (10,000, the test set's size,
    /// so that its MI_K reads as the test set's does).
    pub size: usize,
    /// Seed of the validation set (independent of the training seed).
    pub seed: u64,
    /// Rule that picks the best checkpoint (default `sum-mi`, Table 1's three cells; the
    /// reference used `both`, on MAE(X) and MAE(Y) alone). Over the second half of a STIB run
    /// with the reference split (seed 0) the validation MI_K moves between 0.22 and 0.29 bits
    /// from one validation to the next while both MAEs barely move, so a rule blind to it
    /// picks a checkpoint at random in that range.
    pub selection: Selection,
    /// Also measure MI_K(Z0; Y) (KSG, k = 20, bits) on the validation set at every validation,
    /// for `history.jsonl` and the `sum-mi` selection (a few milliseconds for 2,000 points,
    /// under 0.1 s for 10,000; KSG with k = 20 reads lower on 2,000 points than on the
    /// 10,000-point test set, and about the same on 10,000).
    pub mi: bool,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig { every: 300, size: 10_000, seed: 1_000_003, selection: Selection::SumMi, mi: true }
    }
}

impl Config {
    /// Reads and checks a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self> {
        read_file(path, Self::from_toml)
    }

    /// Parses and checks TOML text (errors carry the line; the path is filled in by
    /// [`Config::from_file`]).
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: Config = parse_toml(&upgrade_legacy_keys(text))?;
        config.check()?;
        Ok(config)
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Iterations of the whole run: the schedule's, then the refit's.
    pub fn total_iterations(&self) -> u64 {
        self.schedule.iterations + self.refit.iterations
    }

    /// Rejects values that cannot train.
    pub fn check(&self) -> Result<()> {
        let s = &self.schedule;
        let a = &self.model.arch();
        let bad = |m: &str| Err(Error::invalid(format!("invalid configuration: {m}")));
        if self.experiment != Experiment::Spiral {
            return bad("experiment = \"qm9\" files are QM9 configurations, not spiral ones");
        }
        s.check()?;
        self.loss.check()?;
        if a.hidden == 0 || a.depth == 0 || a.z0_dim == 0 || a.x_dim == 0 || a.y_dim == 0 {
            return bad("model sizes must be at least 1");
        }
        if a.z1_dim == 0 && !self.model.kind.is_conditional() {
            return bad("model.z1_dim must be at least 1");
        }
        if (a.x_dim, a.y_dim) != (2, 2) {
            return bad(&format!(
                "model.x_dim and model.y_dim must be 2, the spiral data's x and y (not {} and {})",
                a.x_dim, a.y_dim
            ));
        }
        self.loss.check_target_weights(a.y_dim)?;
        if self.validation.every == 0 || self.validation.size < 21 {
            return bad("validation.every must be at least 1 and validation.size at least 21 (KSG with k = 20)");
        }
        let r = &self.refit;
        if !(r.learning_rate > 0.0 && r.learning_rate.is_finite()) {
            return bad("refit.learning_rate must be positive");
        }
        if r.learning_rate_final < 0.0 || !r.learning_rate_final.is_finite() {
            return bad("refit.learning_rate_final must be 0 (constant rate) or positive");
        }
        if r.iterations > 0 && s.ema_decay > 0.0 {
            return bad("refit.iterations and schedule.ema_decay cannot both be on: the refit trains the best \
                 checkpoint's weights, and a weight average would stand in for them");
        }
        if self.validation.selection == Selection::SumMi && !self.validation.mi {
            return bad("validation.selection = \"sum-mi\" (the default) adds the validation MI, so it needs \
                 validation.mi = true; without the MI choose selection = \"sum\"");
        }
        if self.validation.selection == Selection::YMi && !(self.validation.mi && r.iterations > 0) {
            return bad("validation.selection = \"y-mi\" ranks the schedule's checkpoints by MAE(Y) and the \
                 validation MI, leaving MAE(X) to the refit, so it needs validation.mi = true and \
                 refit.iterations > 0");
        }
        Ok(())
    }
}

/// The top-level keys and sections in which two configurations differ, the number of
/// iterations and the data file's path aside: a longer schedule or a moved data file continue
/// the same run.
pub fn differing_sections<T: Serialize>(a: &T, b: &T) -> Result<Vec<String>> {
    let table = |c: &T| -> Result<toml::Table> {
        let mut t = toml::Table::try_from(c).map_err(|e| Error::Internal(e.to_string()))?;
        for (section, key) in [("schedule", "iterations"), ("data", "path")] {
            if let Some(toml::Value::Table(s)) = t.get_mut(section) {
                s.remove(key);
            }
        }
        Ok(t)
    };
    let (a, b) = (table(a)?, table(b)?);
    let mut keys: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    Ok(keys.into_iter().filter(|k| a.get(k) != b.get(k)).collect())
}

/// Reads a configuration file with `parse`, naming the file in its errors.
pub fn read_file<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse(&text).map_err(|e| match e {
        Error::Data { line, message, .. } => Error::Data { path: path.to_path_buf(), line, message },
        // A value the checks refuse (a field, not a line): name the file.
        Error::InvalidInput(message) => Error::InvalidInput(format!("{}: {message}", path.display())),
        other => other,
    })
}

/// Rewrites keys of earlier versions into today's, line for line (so errors keep their line
/// numbers): `mi_noise_fixed = true` / `false`, which run folders written before
/// `mi_noise_gradient` still hold, becomes `mi_noise_gradient = 0.0` / `1.0`.
pub fn upgrade_legacy_keys(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("mi_noise_fixed") {
        return text.into();
    }
    let upgrade = |line: &str| {
        let (key, value) = line.split_once('=')?;
        let value = value.split('#').next()?.trim();
        let fraction = match (key.trim(), value) {
            ("mi_noise_fixed", "true") => "0.0",
            ("mi_noise_fixed", "false") => "1.0",
            _ => return None,
        };
        Some(format!("mi_noise_gradient = {fraction}"))
    };
    let lines: Vec<String> = text.split('\n').map(|l| upgrade(l).unwrap_or_else(|| l.to_string())).collect();
    lines.join("\n").into()
}

/// Deserialises TOML text; an error carries its line (the path is filled in by
/// [`read_file`]).
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        Error::Data { path: "<config>".into(), line, message: e.message().to_string() }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder written before `mi_noise_gradient` (its config holds `mi_noise_fixed`)
    /// still loads, as the same fraction, and its errors keep their line numbers.
    #[test]
    fn earlier_noise_keys_read_as_the_gradient_fraction() {
        let read = |v: &str| Config::from_toml(&format!("[loss]\nmi_noise_fixed = {v}\n")).map(|c| c.loss);
        assert_eq!(read("true").unwrap().mi_noise_gradient, 0.0);
        assert_eq!(read("false").unwrap(), LossConfig::default());
        let e = Config::from_toml("[loss]\nmi_noise_fixed = false\nmi_wieght = 1\n").unwrap_err();
        assert!(matches!(e, Error::Data { line: 3, .. }), "{e}");
    }

    #[test]
    fn the_reference_config_is_the_reference_setup() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/spiral/reference.toml");
        let c = Config::from_file(&path).unwrap();
        assert_eq!((c.schedule.iterations, c.schedule.batch), (150_000, 60));
        assert_eq!((c.schedule.learning_rate, c.schedule.learning_rate_final), (1e-4, 0.0));
        assert_eq!((c.schedule.lambda_start, c.schedule.lambda_growth, c.schedule.lambda_every), (0.7, 1.03, 300));
        assert_eq!(c.validation.selection, Selection::Both);
        assert_eq!((c.loss.mi_weight, c.loss.adversary_scale, c.loss.bijection_weight), (400.0, 3000.0, 0.01));
        assert_eq!((c.model.hidden, c.model.depth, c.model.z0_dim, c.model.z1_dim), (256, 2, 2, 1));
        assert_eq!(c.schedule.learning_rate_at(100_000), 1e-4);
        assert_eq!(c.refit.iterations, 0, "the reference has no refit");
    }

    #[test]
    fn every_shipped_spiral_config_parses_and_only_the_cvae_holds_lambda() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/spiral");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let c = Config::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
            let s = &c.schedule;
            if c.model.kind == ModelKind::Cvae {
                // The reference's 0.1 KL + 2 rec_x, lambda never grows.
                assert_eq!((s.lambda_start, s.lambda_growth), (1.0, 1.0), "{}", path.display());
                assert_eq!((s.iterations, s.batch), (12_000, 512));
            } else {
                assert!(s.lambda_growth > 1.0, "{}", path.display());
            }
        }
        assert_eq!(seen, 8);
    }

    #[test]
    fn defaults_round_trip_and_decay_the_learning_rate() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
        let s = &c.schedule;
        assert_eq!(s.learning_rate_at(0), s.learning_rate);
        assert!((s.learning_rate_at(s.iterations) - s.learning_rate_final).abs() < 1e-12);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_named() {
        let e = Config::from_toml("seed = 1\n[schedule]\nbatchsize = 3\n").unwrap_err().to_string();
        assert!(e.contains(":3") && e.contains("batchsize"), "{e}");
        let e = Config::from_toml("[schedule]\niterations = \"many\"\n").unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("invalid type"), "{e}");
        let e = Config::from_toml("[model]\nkind = \"gan\"\n").unwrap_err().to_string();
        assert!(e.contains("gan"), "{e}");
        let e = Config::from_toml("[schedule]\nbatch = 1\n").unwrap_err().to_string();
        assert!(e.contains("batch"), "{e}");
        let e = Config::from_toml("[loss]\nadversary_steps = 0\n").unwrap_err().to_string();
        assert!(e.contains("adversary_steps"), "{e}");
        let e = Config::from_toml("[loss]\nadversary_batch = 256\n").unwrap_err().to_string();
        assert!(e.contains("adversary_batch needs loss.adversary_fresh_batches"), "{e}");
        let e =
            Config::from_toml("[loss]\nadversary_fresh_batches = true\nadversary_batch = 2\n").unwrap_err().to_string();
        assert!(e.contains("adversary_batch must be 0 or at least 3"), "{e}");
        let c = Config::from_toml("[loss]\nadversary_fresh_batches = true\nadversary_batch = 256\n").unwrap();
        assert_eq!((c.loss.adversary_batch_or(128), LossConfig::default().adversary_batch_or(128)), (256, 128));
        for bad in ["0", "-0.5", "nan"] {
            let e = Config::from_toml(&format!("[schedule]\nadversary_learning_rate_scale = {bad}\n")).unwrap_err();
            assert!(e.to_string().contains("adversary_learning_rate_scale must be finite and positive"), "{e}");
        }
        for (key, bad) in [("adam_beta1", "1.0"), ("adversary_adam_beta1", "-1.0"), ("adam_beta1", "nan")] {
            let e = Config::from_toml(&format!("[schedule]\n{key} = {bad}\n")).unwrap_err().to_string();
            assert!(e.contains("adam_beta1 and adversary_adam_beta1 must be above -1 and below 1"), "{key} {bad}: {e}");
        }
        let c = Config::from_toml("[schedule]\nadversary_adam_beta1 = -0.5\n").unwrap();
        assert_eq!(c.schedule.adversary_adam_beta1, -0.5);
        for key in ["weight_decay_networks", "adam_beta1_networks"] {
            let e = Config::from_toml(&format!("[schedule]\n{key} = [\"encoder\", \"adversary\"]\n")).unwrap_err();
            assert!(e.to_string().contains(&format!("schedule.{key}: 'adversary' is not one of encoder")), "{e}");
        }
        let e = Config::from_toml("[loss]\nprediction_weight = -1.0\n").unwrap_err().to_string();
        assert!(e.contains("prediction_weight"), "{e}");
        for bad in ["1.0", "-0.5", "nan"] {
            let e = Config::from_toml(&format!("[schedule]\nema_decay = {bad}\n")).unwrap_err().to_string();
            assert!(e.contains("ema_decay"), "{bad}: {e}");
        }
        assert_eq!(Config::from_toml("[schedule]\nema_decay = 0.999\n").unwrap().schedule.ema_decay, 0.999);
        for bad in ["-1.0", "inf", "nan"] {
            let e = Config::from_toml(&format!("[schedule]\nclip_norm = {bad}\n")).unwrap_err().to_string();
            assert!(e.contains("clip_norm"), "{bad}: {e}");
        }
        assert_eq!(Config::from_toml("[schedule]\nclip_norm = 5.0\n").unwrap().schedule.clip_norm, 5.0);
    }

    /// The refit's rates are checked, it cannot share a run with a weight average, and its
    /// rate decays from the first to the last refit iteration.
    #[test]
    fn refit_configurations_are_checked() {
        for (key, bad) in [("learning_rate", "0.0"), ("learning_rate", "nan"), ("learning_rate_final", "-1e-4")] {
            let e = Config::from_toml(&format!("[refit]\niterations = 100\n{key} = {bad}\n")).unwrap_err();
            assert!(e.to_string().contains(&format!("refit.{key} must be")), "{key} {bad}: {e}");
        }
        let e = Config::from_toml("[refit]\niterations = 100\n[schedule]\nema_decay = 0.99\n").unwrap_err();
        assert!(e.to_string().contains("refit.iterations and schedule.ema_decay"), "{e}");
        let e = Config::from_toml("[refit]\nsteps = 100\n").unwrap_err();
        assert!(e.to_string().contains("steps"), "{e}");
        let c = Config::from_toml("[refit]\niterations = 100\n").unwrap();
        assert_eq!(c.total_iterations(), c.schedule.iterations + 100);
        let r = &c.refit;
        assert_eq!(r.learning_rate_at(0), r.learning_rate);
        assert!((r.learning_rate_at(50) - (r.learning_rate * r.learning_rate_final).sqrt()).abs() < 1e-12);
        assert!((r.learning_rate_at(100) - r.learning_rate_final).abs() < 1e-15);
    }

    #[test]
    fn differing_sections_ignore_the_iterations_only() {
        let a = Config::default();
        let mut b = a.clone();
        b.schedule.iterations += 1000;
        assert!(differing_sections(&a, &b).unwrap().is_empty());
        b.schedule.batch += 1;
        b.seed += 1;
        b.loss.mi_weight = 1.0;
        assert_eq!(differing_sections(&a, &b).unwrap(), ["loss", "schedule", "seed"]);
    }

    #[test]
    fn negative_or_non_finite_weights_and_lambdas_are_named() {
        let weights = [
            "mi_weight",
            "adversary_scale",
            "bijection_weight",
            "conditional_kl_weight",
            "conditional_reconstruction_weight",
            "pairwise_weight",
            "free_bits",
            "z0_noise_ceiling",
            "prediction_weight",
        ];
        for key in weights {
            for bad in ["-1.0", "nan", "inf"] {
                let e = Config::from_toml(&format!("[loss]\n{key} = {bad}\n")).unwrap_err().to_string();
                assert!(e.contains(&format!("loss.{key}")) && e.contains(">= 0"), "{key} = {bad}: {e}");
            }
            // Zero switches a term off and is allowed.
            assert!(Config::from_toml(&format!("[loss]\n{key} = 0.0\n")).is_ok(), "{key} = 0");
        }
        let e = Config::from_toml("[loss]\ntarget_weights = [1.0]\n").unwrap_err().to_string();
        assert!(e.contains("loss.target_weights needs one weight for each of the data's 2 targets"), "{e}");
        assert!(e.contains("not 1"), "{e}");
        let e = Config::from_toml("[loss]\ntarget_weights = [1.0, -2.0]\n").unwrap_err().to_string();
        assert!(e.contains("loss.target_weights must be finite numbers >= 0, not -2"), "{e}");
        assert_eq!(Config::from_toml("[loss]\ntarget_weights = [0.0, 3.0]\n").unwrap().loss.target_weights, [0.0, 3.0]);
        for key in ["x_dim", "y_dim"] {
            let e = Config::from_toml(&format!("[model]\n{key} = 3\n")).unwrap_err().to_string();
            assert!(e.contains("x_dim and model.y_dim must be 2") && e.contains("not"), "{key}: {e}");
        }
        for (key, bad) in [
            ("lambda_start", "inf"),
            ("lambda_growth", "nan"),
            ("lambda_start", "0.0"),
            ("lambda_max", "-1.0"),
            ("lambda_max", "inf"),
        ] {
            let e = Config::from_toml(&format!("[schedule]\n{key} = {bad}\n")).unwrap_err().to_string();
            assert!(e.contains(key), "{key} = {bad}: {e}");
        }
    }
}
