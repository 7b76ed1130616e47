//! Run configuration of the QM9 experiment: a typed TOML file with `experiment = "qm9"`,
//! every field with a default, unknown keys refused.
//!
//! ```toml
//! experiment = "qm9"
//! [model]
//! kind = "stib"          # vae | stib-no-adversary | cvae | cvib | stib
//! [data]
//! path = "../shared/data/qm9_c7o2h10.csv"
//! [architecture]
//! gru_layers = 1
//! [schedule]
//! iterations = 10000
//! ```
//! A key left out takes the QM9 default, also inside a section that is given (so
//! `[schedule] iterations = 100` keeps the QM9 batch and learning rates).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::{Experiment, LossConfig, ScheduleConfig, parse_toml, read_file, upgrade_legacy_keys};
use crate::data::molecule_set::TARGETS;
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::model::{ModelKind, SmilesArchitecture};

/// A whole QM9 run configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Qm9Config {
    /// Must be `"qm9"`.
    pub experiment: Experiment,
    /// Seed of every random draw of training (initial weights, batch order, noise).
    pub seed: u64,
    /// Which data and how it is split.
    pub data: Qm9DataConfig,
    /// Which model.
    pub model: Qm9ModelConfig,
    /// Network sizes.
    pub architecture: SmilesArchitecture,
    /// Loss weights.
    pub loss: LossConfig,
    /// Optimisation schedule (iterations of one batch each).
    pub schedule: ScheduleConfig,
    /// Validation and checkpoints.
    pub validation: Qm9ValidationConfig,
    /// Auxiliary molecules, for reconstruction and optionally their targets (off by default).
    pub auxiliary: AuxiliaryConfig,
}

/// The data file and its split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Qm9DataConfig {
    /// A QM9 CSV, folder of .xyz files or .tar.bz2 archive; default
    /// `$STIB_DATA_DIR/qm9_c7o2h10.csv` (the paper's C7O2H10 isomers).
    pub path: Option<PathBuf>,
    /// Fraction of molecules held out for validation.
    pub validation_fraction: f64,
    /// Fraction held out for testing.
    pub test_fraction: f64,
    /// Seed of the split (independent of the training seed).
    pub split_seed: u64,
}

impl Default for Qm9DataConfig {
    fn default() -> Self {
        Qm9DataConfig { path: None, validation_fraction: 0.1, test_fraction: 0.1, split_seed: 0 }
    }
}

impl Qm9DataConfig {
    /// The data file to read.
    pub fn resolved_path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| crate::data::data_dir().join("qm9_c7o2h10.csv"))
    }
}

/// Auxiliary molecules: QM9 molecules outside the data file, which each main step also
/// reconstructs (KL + lambda rec_x, no MI term), so that the decoder learns SMILES from many
/// more strings than the training split's; with `predict`, the predictor also learns the
/// targets it names from them. Only molecules whose SMILES fit
/// the model's vocabulary and length are kept, and any molecule of the data file (compared
/// by canonical SMILES) is left out, so no validation or test molecule is ever seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuxiliaryConfig {
    /// A QM9 CSV, folder of .xyz files or .tar.bz2 archive; default `$STIB_DATA_DIR/qm9.csv`
    /// (all of QM9).
    pub path: Option<PathBuf>,
    /// Auxiliary molecules per main step (0: none, the default).
    pub batch: usize,
    /// Weight of their loss against the data's reconstruction (1).
    pub weight: f64,
    /// Use them in the first this many iterations only (0: in all).
    pub until: u64,
    /// Targets (`"gap"`, `"alpha"`) whose squared prediction error on the auxiliary molecules
    /// joins their loss, weighted by `loss.prediction_weight` as the data's (none by default:
    /// their properties then play no part). Only for models with a predictor.
    pub predict: Vec<String>,
}

impl Default for AuxiliaryConfig {
    fn default() -> Self {
        AuxiliaryConfig { path: None, batch: 0, weight: 1.0, until: 0, predict: Vec::new() }
    }
}

impl AuxiliaryConfig {
    /// Whether iteration `it` (counted from 0) reconstructs auxiliary molecules.
    pub fn active_at(&self, it: u64) -> bool {
        self.batch > 0 && (self.until == 0 || it < self.until)
    }

    /// The auxiliary data file to read.
    pub fn resolved_path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| crate::data::data_dir().join("qm9.csv"))
    }

    /// For each target in the data's order, 1 when `predict` names it, else 0; `None` when it
    /// names none. Unknown names are left to [`Qm9Config::check`].
    pub fn prediction_mask(&self) -> Option<Vec<f64>> {
        let mask: Vec<f64> =
            TARGETS.iter().map(|(name, _)| if self.predict.iter().any(|p| p == name) { 1.0 } else { 0.0 }).collect();
        mask.contains(&1.0).then_some(mask)
    }

    /// The keys set away from their defaults although `batch` is 0, so that they do nothing
    /// (for a warning: a user who sets `predict` but forgets `batch` should hear of it).
    pub fn unused_keys(&self) -> Vec<&'static str> {
        if self.batch > 0 {
            return Vec::new();
        }
        let d = AuxiliaryConfig::default();
        [
            ("path", self.path != d.path),
            ("weight", self.weight != d.weight),
            ("until", self.until != d.until),
            ("predict", self.predict != d.predict),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}

/// Which model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Qm9ModelConfig {
    /// Which of the five models.
    pub kind: ModelKind,
    /// Give the adversary's first layer to the main step (the reference code's accident).
    pub reference_split: bool,
    /// `"fused"` (the fast CPU kernels, default) or `"plain"` (candle's own ops).
    pub kernels: Kernels,
}

impl Default for Qm9ModelConfig {
    fn default() -> Self {
        Qm9ModelConfig { kind: ModelKind::Stib, reference_split: false, kernels: Kernels::default() }
    }
}

/// Validation and checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Qm9ValidationConfig {
    /// Validate on the validation split (and write the resumable checkpoint) every this many
    /// iterations.
    pub every: u64,
}

impl Default for Qm9ValidationConfig {
    fn default() -> Self {
        Qm9ValidationConfig { every: 250 }
    }
}

/// The QM9 defaults: batch 128, Adam 6e-4 decaying to 5e-5 over 10,000 iterations (about 260
/// epochs; at 2e-3 the five-step adversary game destabilised: after 500 iterations the code's
/// KL fell from 40 to 20 nats and reconstruction got worse), lambda from 100 growing 1.02x every 50 iterations up to 1000 (so the KL weighs
/// little against the reconstruction from the start: at lambda 1-10 the code collapsed), and
/// the MI term weighted 100 instead of the spiral's 400 (at batch 128 the Gaussian MI term's
/// finite-sample floor, about d_a d_b / n = 0.03 nats, times 400 outweighed the
/// reconstruction and kept the encoder from using Z0: reconstruction cross-entropy 10.9 nats
/// after 1,000 iterations, against 5.5 without the adversary). The MI term is measured on
/// the mean code (`mi_on_mean`): on a sample, the encoder lowered it by keeping Z0's noise
/// scale near 1, which erased Z0's information about the molecule too (after 1,500
/// iterations, validation SMILES accuracy 0.226 on the mean against 0.003 on a sample, token
/// accuracy 0.71 against 0.40). On the mean, one adversary step per iteration left the
/// adversary behind (MI_K(Z0; Y) 0.97 bits after 1,500 iterations); five per iteration
/// (`adversary_steps`) halved that (0.45 bits) for a slower start of the reconstruction.
/// The prediction error weighs 3 against the reconstruction's cross-entropy (summed over ~16
/// tokens, it outweighed mse_y on 2 standardised targets): STIB with a 4-dimensional Z1, seed 0,
/// 10,000 iterations, test split, went from SMILES 0.846, gap 0.396 eV, alpha 0.878 bohr^3,
/// MI 0.38 bits at weight 1 to 0.807, 0.362, 0.765, 0.27 at weight 3.
/// Each of the five adversary steps takes a batch of its own (`adversary_fresh_batches`):
/// five steps on the main step's 128 molecules fitted that batch, and a fresh adversary
/// trained after the fact still read 0.79-1.06 bits about the targets from the test split's
/// Z0 (the probe; STIB, Z1 of 8, seeds 0-2). With fresh batches the probe read 0.39-0.74 bits
/// and MI_K fell from 0.38-0.41 to 0.24-0.31 bits, lower for every seed, while SMILES
/// accuracy, gap and alpha stayed within the seed spread. Batches of 512 for those steps
/// (`adversary_batch`) were measured only on `experiments/qm9/stib-best.toml`, which has them.
/// Validation, the best checkpoint and evaluation read a moving average of the weights
/// (`ema_decay = 0.999`): the trained weights reconstruct every training SMILES but only
/// 0.83-0.88 of the test split's. On a machine with AVX-512 the average raised STIB's test
/// accuracy with each of seeds 0-2 (0.874, 0.880, 0.851 against 0.862, 0.859, 0.831) and the
/// VAE's (0.930 against 0.920); on one without, seed 0, it did not (0.877 against 0.879). Gap,
/// alpha and MI stayed within the seed spread throughout.
impl Default for Qm9Config {
    fn default() -> Self {
        Qm9Config {
            experiment: Experiment::Qm9,
            seed: 0,
            data: Qm9DataConfig::default(),
            model: Qm9ModelConfig::default(),
            architecture: SmilesArchitecture::default(),
            loss: LossConfig {
                mi_weight: 100.0,
                mi_on_mean: true,
                adversary_steps: 5,
                adversary_fresh_batches: true,
                prediction_weight: 3.0,
                ..LossConfig::default()
            },
            schedule: ScheduleConfig {
                iterations: 10_000,
                batch: 128,
                learning_rate: 6e-4,
                learning_rate_final: 5e-5,
                lambda_start: 100.0,
                lambda_growth: 1.02,
                lambda_every: 50,
                lambda_max: 1000.0,
                ema_decay: 0.999,
                ..ScheduleConfig::default()
            },
            validation: Qm9ValidationConfig::default(),
            auxiliary: AuxiliaryConfig::default(),
        }
    }
}

impl Qm9Config {
    /// Reads and checks a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self> {
        read_file(path, Self::from_toml)
    }

    /// Parses and checks TOML text; keys left out take the QM9 defaults.
    pub fn from_toml(text: &str) -> Result<Self> {
        let text = &*upgrade_legacy_keys(text);
        // First pass: errors (unknown keys, wrong types) with their line numbers.
        parse_toml::<Qm9Config>(text)?;
        // Second pass: the given keys over the QM9 defaults, section by section.
        let mut merged = toml::Table::try_from(Qm9Config::default()).map_err(|e| Error::Internal(e.to_string()))?;
        let given: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::invalid(e.to_string()))?;
        merge(&mut merged, given);
        let config: Qm9Config = merged.try_into().map_err(|e: toml::de::Error| Error::invalid(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Reads the configuration a run folder was trained with (`config.toml`). A run writes
    /// every key; one written before a key existed reads that key as the behaviour of its
    /// time, not as today's default: `loss.adversary_fresh_batches` (added later, and on by
    /// default for QM9) as false, and `schedule.ema_decay` (added later, 0.999 by default
    /// for QM9) as 0, no weight average.
    pub fn from_run_file(path: &Path) -> Result<Self> {
        read_file(path, |text| {
            let mut config = Self::from_toml(text)?;
            let given: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::invalid(e.to_string()))?;
            let has = |section: &str, key: &str| given.get(section).and_then(|s| s.get(key)).is_some();
            if !has("loss", "adversary_fresh_batches") {
                config.loss.adversary_fresh_batches = false;
            }
            if !has("schedule", "ema_decay") {
                config.schedule.ema_decay = 0.0;
            }
            Ok(config)
        })
    }

    /// This configuration with the keys its model does not read taken from `other`, so that
    /// two configurations that train the same model compare equal: CVAE and CVIB have no Z1
    /// (they are conditioned on y instead), so `architecture.z1_dim` does not change them.
    pub fn with_unread_keys_of(&self, other: &Qm9Config) -> Qm9Config {
        let mut c = self.clone();
        if c.model.kind.is_conditional() {
            c.architecture.z1_dim = other.architecture.z1_dim;
        }
        c
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Rejects values that cannot train.
    pub fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::invalid(format!("invalid configuration: {m}")));
        if self.experiment != Experiment::Qm9 {
            return bad("a QM9 configuration needs experiment = \"qm9\"");
        }
        self.schedule.check()?;
        self.loss.check()?;
        self.loss.check_target_weights(TARGETS.len())?;
        let a = &self.architecture;
        if a.z0_dim == 0 || a.dense == 0 || a.gru_hidden == 0 || a.gru_layers == 0 || a.mlp_hidden == 0 {
            return bad("architecture sizes must be at least 1");
        }
        if a.conv_channels.is_empty() || a.conv_channels.contains(&0) || a.conv_kernel == 0 {
            return bad("architecture.conv_channels needs at least one non-zero width, and conv_kernel at least 1");
        }
        if a.z1_dim < 2 && !self.model.kind.is_conditional() {
            return bad("architecture.z1_dim must be at least 2 (one per target)");
        }
        if self.validation.every == 0 {
            return bad("validation.every must be at least 1");
        }
        if !(self.auxiliary.weight.is_finite() && self.auxiliary.weight >= 0.0) {
            return bad("auxiliary.weight must be a finite number of at least 0");
        }
        let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
        if let Some(p) = self.auxiliary.predict.iter().find(|p| !names.contains(&p.as_str())) {
            return bad(&format!("auxiliary.predict: unknown target \"{p}\" (known: {})", names.join(", ")));
        }
        if !self.auxiliary.predict.is_empty() && self.model.kind.is_conditional() {
            return bad(&format!(
                "auxiliary.predict: the {} has no predictor; leave predict empty",
                self.model.kind.label()
            ));
        }
        Ok(())
    }
}

/// Deep merge of TOML tables: keys of `over` replace those of `base`, tables recursively.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_qm9_config_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/qm9");
        let mut kinds = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let c = Qm9Config::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            kinds.push(c.model.kind);
            if path.ends_with("stib-gpu.toml") {
                let a = &c.architecture;
                assert_eq!((a.gru_layers, a.gru_hidden, a.mlp_hidden), (3, 488, 256));
                assert_eq!(c.schedule, Qm9Config::default().schedule);
            }
            if path.ends_with("stib-best.toml") {
                // The default but for the five keys its comment names.
                let mut plain = Qm9Config::default();
                (plain.architecture.z1_dim, plain.loss.prediction_weight, plain.auxiliary.batch) = (16, 4.5, 128);
                (plain.architecture.z0_dim, plain.loss.adversary_batch) = (8, 512);
                assert_eq!(c, plain);
            }
            if path.ends_with("stib-best-gap.toml") {
                // stib-best.toml with the gap weighted three times alpha, and nothing else.
                let mut best = Qm9Config::from_file(&dir.join("stib-best.toml")).unwrap();
                best.loss.target_weights = vec![1.5, 0.5];
                assert_eq!(c, best);
            }
        }
        for kind in [ModelKind::Vae, ModelKind::StibNoAdversary, ModelKind::Cvae, ModelKind::Cvib, ModelKind::Stib] {
            assert!(kinds.contains(&kind), "no config for {kind:?}");
        }
    }

    /// `experiments/qm9-no-average` is `experiments/qm9` without the weight average (the
    /// previous defaults), and nothing else.
    #[test]
    fn the_configs_without_the_average_differ_from_the_defaults_only_in_the_average() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut seen = 0;
        for entry in std::fs::read_dir(root.join("qm9-no-average")).unwrap() {
            let path = entry.unwrap().path();
            let mut c = Qm9Config::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let plain = Qm9Config::from_file(&root.join("qm9").join(path.file_name().unwrap())).unwrap();
            assert_eq!((c.schedule.ema_decay, plain.schedule.ema_decay), (0.0, 0.999), "{}", path.display());
            c.schedule.ema_decay = plain.schedule.ema_decay;
            assert_eq!(c, plain, "{}", path.display());
            seen += 1;
        }
        assert_eq!(seen, 5);
    }

    /// `experiments/qm9-auxiliary` is `experiments/qm9` with 128 auxiliary molecules per
    /// step, and nothing else.
    #[test]
    fn the_configs_with_auxiliary_molecules_differ_from_the_defaults_only_in_those() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut seen = 0;
        for entry in std::fs::read_dir(root.join("qm9-auxiliary")).unwrap() {
            let path = entry.unwrap().path();
            let mut c = Qm9Config::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let plain = Qm9Config::from_file(&root.join("qm9").join(path.file_name().unwrap())).unwrap();
            assert_eq!((c.auxiliary.batch, plain.auxiliary.batch), (128, 0), "{}", path.display());
            c.auxiliary = plain.auxiliary.clone();
            assert_eq!(c, plain, "{}", path.display());
            seen += 1;
        }
        assert_eq!(seen, 5);
    }

    #[test]
    fn a_run_written_before_fresh_batches_and_the_average_reads_them_as_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let old = "experiment = \"qm9\"\n[loss]\nadversary_steps = 5\n";
        std::fs::write(&path, old).unwrap();
        assert!(Qm9Config::from_file(&path).unwrap().loss.adversary_fresh_batches, "a new file takes the default");
        assert!(!Qm9Config::from_run_file(&path).unwrap().loss.adversary_fresh_batches);
        assert_eq!(Qm9Config::from_file(&path).unwrap().schedule.ema_decay, 0.999);
        assert_eq!(Qm9Config::from_run_file(&path).unwrap().schedule.ema_decay, 0.0, "no average then");
        std::fs::write(&path, Qm9Config::default().to_toml()).unwrap();
        assert_eq!(Qm9Config::from_run_file(&path).unwrap(), Qm9Config::default());
    }

    #[test]
    fn the_width_of_z1_is_unread_by_the_conditional_models_only() {
        let mut wide = Qm9Config::default();
        wide.architecture.z1_dim += 8;
        for kind in [ModelKind::Cvae, ModelKind::Cvib, ModelKind::Stib, ModelKind::Vae] {
            let mut saved = Qm9Config::default();
            saved.model.kind = kind;
            let mut wanted = wide.clone();
            wanted.model.kind = kind;
            let same = saved.with_unread_keys_of(&wanted) == wanted;
            assert_eq!(same, kind.is_conditional(), "{kind:?}");
            wanted.architecture.z0_dim += 1;
            assert_ne!(saved.with_unread_keys_of(&wanted), wanted, "{kind:?}: Z0 is read by every model");
        }
    }

    #[test]
    fn partial_sections_keep_the_qm9_defaults() {
        let c = Qm9Config::from_toml("experiment = \"qm9\"\n[schedule]\niterations = 100\n").unwrap();
        assert_eq!(c.schedule.iterations, 100);
        assert_eq!(c.schedule.batch, Qm9Config::default().schedule.batch);
        assert_eq!(Qm9Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn bad_keys_and_values_are_named_with_their_line() {
        let e = Qm9Config::from_toml("experiment = \"qm9\"\n[architecture]\ngru_width = 3\n").unwrap_err().to_string();
        assert!(e.contains(":3") && e.contains("gru_width"), "{e}");
        let e = Qm9Config::from_toml("experiment = \"qm9\"\n[architecture]\nz1_dim = 1\n").unwrap_err().to_string();
        assert!(e.contains("z1_dim"), "{e}");
        let e = Qm9Config::from_toml("experiment = \"spiral\"\n").unwrap_err().to_string();
        assert!(e.contains("experiment"), "{e}");
        let e = Qm9Config::from_toml("experiment = \"qm9\"\n[auxiliary]\nweight = -1.0\n").unwrap_err().to_string();
        assert!(e.contains("auxiliary.weight"), "{e}");
    }

    #[test]
    fn auxiliary_molecules_are_off_unless_asked_for() {
        assert_eq!(Qm9Config::default().auxiliary.batch, 0);
        let c = Qm9Config::from_toml("experiment = \"qm9\"\n[auxiliary]\nbatch = 64\n").unwrap();
        assert_eq!((c.auxiliary.batch, c.auxiliary.weight, c.auxiliary.path.is_none()), (64, 1.0, true));
        assert!(c.auxiliary.resolved_path().ends_with("qm9.csv"));
        assert!(c.auxiliary.active_at(0) && c.auxiliary.active_at(1_000_000));
        assert!(!Qm9Config::default().auxiliary.active_at(0));
        assert_eq!(c.auxiliary.prediction_mask(), None, "their properties play no part by default");
        let until = AuxiliaryConfig { until: 3, ..c.auxiliary };
        assert_eq!((0..5).map(|it| until.active_at(it)).collect::<Vec<_>>(), [true, true, true, false, false]);
    }

    #[test]
    fn auxiliary_predict_names_targets_of_a_model_with_a_predictor() {
        let with = |kind: &str, predict: &str| {
            Qm9Config::from_toml(&format!(
                "experiment = \"qm9\"\n[model]\nkind = \"{kind}\"\n[auxiliary]\nbatch = 8\npredict = {predict}\n"
            ))
        };
        assert_eq!(with("stib", "[\"alpha\"]").unwrap().auxiliary.prediction_mask(), Some(vec![0.0, 1.0]));
        assert_eq!(with("vae", "[\"gap\"]").unwrap().auxiliary.prediction_mask(), Some(vec![1.0, 0.0]));
        let e = with("stib", "[\"gap\", \"homo\"]").unwrap_err().to_string();
        assert!(e.contains("auxiliary.predict") && e.contains("\"homo\"") && e.contains("gap, alpha"), "{e}");
        let e = with("cvae", "[\"gap\"]").unwrap_err().to_string();
        assert!(e.contains("auxiliary.predict") && e.contains("CVAE has no predictor"), "{e}");
        assert!(with("cvib", "[]").is_ok());
        let e = with("stib", "\"gap\"").unwrap_err().to_string();
        assert!(e.contains(":6") && e.contains("sequence"), "a string where a list belongs: {e}");
    }

    #[test]
    fn target_weights_give_one_finite_weight_to_each_target() {
        let with = |w: &str| Qm9Config::from_toml(&format!("experiment = \"qm9\"\n[loss]\ntarget_weights = {w}\n"));
        assert_eq!(with("[1.5, 0.5]").unwrap().loss.target_weights, [1.5, 0.5]);
        assert!(with("[]").unwrap().loss.target_weights.is_empty());
        for bad in ["[2.0]", "[1.0, 1.0, 1.0]"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("loss.target_weights needs one weight for each of the data's 2 targets"), "{bad}: {e}");
        }
        for bad in ["[1.0, -1.0]", "[nan, 1.0]", "[1.0, inf]"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("loss.target_weights must be finite numbers >= 0"), "{bad}: {e}");
        }
    }

    #[test]
    fn auxiliary_keys_without_a_batch_are_named_as_unused() {
        let aux =
            |body: &str| Qm9Config::from_toml(&format!("experiment = \"qm9\"\n[auxiliary]\n{body}")).unwrap().auxiliary;
        assert!(aux("").unused_keys().is_empty(), "the defaults set nothing");
        assert_eq!(aux("predict = [\"gap\"]\n").unused_keys(), ["predict"]);
        assert_eq!(aux("batch = 0\nweight = 2.0\nuntil = 100\n").unused_keys(), ["weight", "until"]);
        assert_eq!(aux("path = \"x.csv\"\npredict = [\"alpha\"]\n").unused_keys(), ["path", "predict"]);
        assert!(
            aux("batch = 8\npredict = [\"gap\"]\nweight = 2.0\n").unused_keys().is_empty(),
            "all used with a batch"
        );
    }
}
