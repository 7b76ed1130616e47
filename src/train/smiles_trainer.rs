//! The training loop of the QM9 experiment: the same alternating steps as the artificial
//! experiment ([`super::alternating`], Eq. 6-7), over shuffled epochs of the training split
//! instead of fresh samples. Validation on the validation split every few hundred iterations
//! keeps the best checkpoint (lowest [`selection_score`]) and writes a resumable one.
//!
//! The data preparation (split, vocabulary, standardiser) is written to `data.json` in the run
//! folder, so evaluation and generation see exactly the training split. Every random draw
//! comes from seeded streams: the batch order of epoch e from the seed and e, the noise from
//! one stream saved in the checkpoint, so a resumed run continues as if never stopped.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::alternating::{Alternating, AuxiliaryBatch, internal, var_builder};
use super::checkpoint::{self, CheckpointState, write_atomic};
use super::objective::StepStats;
use super::qm9_config::Qm9Config;
use super::trainer::{BEST, Event, LAST};
use crate::data::auxiliary;
use crate::data::molecule_set::{MoleculeSet, Preparation};
use crate::data::qm9::{self, Molecule};
use crate::error::{Error, Result};
use crate::eval::qm9_metrics::{Qm9Metrics, evaluate_molecules, selection_score};
use crate::model::SmilesModel;

/// Batch stream of the auxiliary molecules (streams 1 to `adversary_steps` are the
/// adversary's).
const AUXILIARY_STREAM: u64 = 1 << 32;

/// File of the data preparation in a run folder.
pub const DATA_FILE: &str = "data.json";

/// The molecules of a run, split and encoded.
#[derive(Debug, Clone)]
pub struct Qm9Data {
    /// Every molecule of the data file, in file order.
    pub molecules: Vec<Molecule>,
    /// Split, vocabulary and standardiser.
    pub preparation: Preparation,
    /// Training split.
    pub train: MoleculeSet,
    /// Validation split.
    pub validation: MoleculeSet,
    /// Test split.
    pub test: MoleculeSet,
}

impl Qm9Data {
    /// Reads the data file; prepares it anew, or with a saved `preparation` checks and reuses it.
    pub fn load(path: &Path, config: &Qm9Config, preparation: Option<Preparation>, device: &Device) -> Result<Self> {
        let molecules = qm9::load(path, false)?.molecules;
        check_smiles(path, &molecules)?;
        let d = &config.data;
        let preparation = match preparation {
            Some(p) => {
                p.check(&molecules)?;
                p
            }
            None => Preparation::new(&molecules, d.validation_fraction, d.test_fraction, d.split_seed)?,
        };
        let s = &preparation.split;
        let train = MoleculeSet::new(&molecules, &s.train, &preparation, device)?;
        let validation = MoleculeSet::new(&molecules, &s.validation, &preparation, device)?;
        let test = MoleculeSet::new(&molecules, &s.test, &preparation, device)?;
        Ok(Qm9Data { molecules, preparation, train, validation, test })
    }

    /// Every molecule, encoded (for the MI on the whole data set, as in the paper).
    pub fn all(&self, device: &Device) -> Result<MoleculeSet> {
        let rows: Vec<usize> = (0..self.molecules.len()).collect();
        MoleculeSet::new(&self.molecules, &rows, &self.preparation, device)
    }
}

/// Every SMILES must tokenize; the first that does not is an error naming the file and, for a
/// CSV, the line.
fn check_smiles(path: &Path, molecules: &[Molecule]) -> Result<()> {
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    for (i, m) in molecules.iter().enumerate() {
        if let Err(e) = crate::data::smiles::tokenize(&m.smiles) {
            let message = format!("field smiles: '{}': {e}", m.smiles);
            return Err(if csv {
                Error::Data { path: path.to_path_buf(), line: i + 2, message }
            } else {
                Error::invalid(format!("{}: molecule {}: {message}", path.display(), i + 1))
            });
        }
    }
    Ok(())
}

/// A SMILES model, its optimisers, its data and the state of its run.
pub struct SmilesTrainer {
    /// The configuration.
    pub config: Qm9Config,
    /// The model.
    pub model: SmilesModel,
    /// The data.
    pub data: Qm9Data,
    /// Auxiliary molecules (training only; `None` when the run has none or is loaded for
    /// evaluation).
    pub auxiliary: Option<MoleculeSet>,
    /// The 0/1 mask (1, targets) of the auxiliary targets the predictor learns, built once
    /// with the auxiliary molecules (`None` without `[auxiliary] predict`).
    auxiliary_mask: Option<Tensor>,
    opt: Alternating,
    rng: ChaCha8Rng,
    best: Option<(Qm9Metrics, u64)>,
    device: Device,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for SmilesTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmilesTrainer").field("kind", &self.model.kind).field("iteration", &self.opt.iteration).finish()
    }
}

impl SmilesTrainer {
    /// A fresh model on freshly prepared data.
    pub fn new(config: Qm9Config, device: Device) -> Result<Self> {
        config.check()?;
        let data = Qm9Data::load(&config.data.resolved_path(), &config, None, &device)?;
        Self::with_data(config, data, device)?.with_auxiliary()
    }

    /// Reads the auxiliary molecules when the configuration asks for them.
    fn with_auxiliary(mut self) -> Result<Self> {
        let a = &self.config.auxiliary;
        if a.batch > 0 {
            let d = &self.data;
            let set = auxiliary::load(&a.resolved_path(), &d.molecules, &d.preparation, a.batch, &self.device)?;
            self.auxiliary_mask = a
                .prediction_mask()
                .map(|mask| {
                    let n = mask.len();
                    Tensor::from_vec(mask, (1, n), &self.device)?.to_dtype(set.y_std.dtype())
                })
                .transpose()
                .map_err(internal)?;
            self.auxiliary = Some(set);
        }
        Ok(self)
    }

    /// A fresh model on the given data.
    pub fn with_data(config: Qm9Config, data: Qm9Data, device: Device) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let varmap = VarMap::new();
        let vocab = &data.preparation.vocabulary;
        let vb = var_builder(&varmap, &device);
        let mut model = SmilesModel::new(config.model.kind, &config.architecture, vocab.len(), vocab.max_len, 2, vb)
            .map_err(|e| Error::invalid(format!("invalid configuration: {e}")))?;
        model.set_kernels(config.model.kernels);
        let opt =
            Alternating::new(varmap, &mut rng, config.model.reference_split, &config.schedule, config.model.kernels)?;
        Ok(SmilesTrainer {
            config,
            model,
            data,
            auxiliary: None,
            auxiliary_mask: None,
            opt,
            rng,
            best: None,
            device,
            dir: None,
        })
    }

    /// Writes checkpoints into `dir` (created if needed), with the configuration and the data
    /// preparation beside them.
    pub fn with_run_dir(mut self, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        write_atomic(&dir.join("config.toml"), self.config.to_toml().as_bytes())?;
        let prep = serde_json::to_vec_pretty(&self.data.preparation).map_err(|e| Error::Internal(e.to_string()))?;
        write_atomic(&dir.join(DATA_FILE), &prep)?;
        self.dir = Some(dir.to_path_buf());
        Ok(self)
    }

    /// Loads the run in `dir` for evaluation at checkpoint `which` (`best` or `last`; from
    /// `last`, the weights' average when the run keeps one), on the data file of its
    /// configuration or `data` when given.
    pub fn load(dir: &Path, which: &str, data: Option<&Path>, device: Device) -> Result<Self> {
        Self::open(dir, which, data, device, false)
    }

    fn open(dir: &Path, which: &str, data: Option<&Path>, device: Device, resume: bool) -> Result<Self> {
        let config = Qm9Config::from_run_file(&dir.join("config.toml"))?;
        let prep_path = dir.join(DATA_FILE);
        let text =
            std::fs::read_to_string(&prep_path).map_err(|source| Error::Io { path: prep_path.clone(), source })?;
        let prep: Preparation = serde_json::from_str(&text).map_err(|e| Error::Data {
            path: prep_path.clone(),
            line: e.line(),
            message: format!("not a stib data preparation: {e}"),
        })?;
        let path = data.map_or_else(|| config.data.resolved_path(), Path::to_path_buf);
        let data = Qm9Data::load(&path, &config, Some(prep), &device)?;
        let mut trainer = Self::with_data(config, data, device.clone())?;
        let (state, tensors) = checkpoint::load::<Qm9Metrics>(dir, which, &device)?;
        if resume {
            trainer.opt.restore(&tensors, state.main_steps, state.adversary_steps)?;
        } else {
            trainer.opt.load_for_evaluation(&tensors)?;
        }
        trainer.rng = state.rng;
        (trainer.opt.iteration, trainer.opt.lambda) = (state.iteration, state.lambda);
        trainer.best = state.best.zip(state.best_iteration);
        trainer.dir = Some(dir.to_path_buf());
        Ok(trainer)
    }

    /// Resumes the run in `dir` from its last checkpoint (`iterations` extends it).
    pub fn resume(dir: &Path, iterations: Option<u64>, device: Device) -> Result<Self> {
        let mut trainer = Self::open(dir, LAST, None, device, true)?.with_auxiliary()?;
        if let Some(n) = iterations {
            trainer.config.schedule.iterations = n;
            write_atomic(&dir.join("config.toml"), trainer.config.to_toml().as_bytes())?;
        }
        Ok(trainer)
    }

    /// Iterations completed.
    pub fn iteration(&self) -> u64 {
        self.opt.iteration
    }

    /// Current lambda.
    pub fn lambda(&self) -> f64 {
        self.opt.lambda
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        self.opt.parameter_count()
    }

    /// Validation metrics and iteration of the best checkpoint so far.
    pub fn best(&self) -> Option<(Qm9Metrics, u64)> {
        self.best
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Positions in the training split of the batch of iteration `it`: epochs are seeded
    /// permutations (the last partial batch of an epoch is dropped). Stream 0 feeds the main
    /// step; stream j > 0, an independent permutation, the adversary's j-th fresh batch (of
    /// `loss.adversary_batch` rows when that is set).
    fn batch_rows(&self, it: u64, stream: u64) -> Vec<u32> {
        let c = &self.config;
        let batch = if stream > 0 { c.loss.adversary_batch_or(c.schedule.batch) } else { c.schedule.batch };
        self.rows_of(self.data.train.len(), batch, it, stream)
    }

    /// Batch `it` of `batch` rows from seeded permutations of `0..n`, on stream `stream`.
    fn rows_of(&self, n: usize, batch: usize, it: u64, stream: u64) -> Vec<u32> {
        let b = batch.min(n);
        let per_epoch = (n / b).max(1) as u64;
        let (epoch, k) = (it / per_epoch, (it % per_epoch) as usize);
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let seed = self.config.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        let seed = if stream == 0 { seed } else { seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03) };
        perm.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        perm[k * b..(k + 1) * b].to_vec()
    }

    /// One iteration: the next batch, the main step, then the adversary step.
    pub fn step(&mut self) -> Result<StepStats> {
        let it = self.opt.iteration;
        let (x, y) = self.data.train.batch(&self.batch_rows(it, 0)).map_err(internal)?;
        let c = &self.config;
        let fresh = if c.loss.adversary_fresh_batches && self.opt.has_adversary() { c.loss.adversary_steps } else { 0 };
        let adversary_batches = (1..=fresh as u64)
            .map(|stream| self.data.train.batch(&self.batch_rows(it, stream)))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(internal)?;
        let auxiliary = match &self.auxiliary {
            Some(set) if c.auxiliary.active_at(it) => {
                Some(set.batch(&self.rows_of(set.len(), c.auxiliary.batch, it, AUXILIARY_STREAM)).map_err(internal)?)
            }
            _ => None,
        };
        let auxiliary = auxiliary.as_ref().map(|(x, y)| AuxiliaryBatch {
            x,
            y,
            weight: c.auxiliary.weight,
            predict: self.auxiliary_mask.as_ref(),
        });
        let (rng, dev) = (&mut self.rng, &self.device);
        self.opt.iterate(&self.model, &c.loss, &c.schedule, &x, &y, &adversary_batches, auxiliary, rng, dev)
    }

    /// Metrics on the validation split (no MI).
    pub fn validate(&self) -> Result<Qm9Metrics> {
        evaluate_molecules(&self.model, &self.data.validation, &self.data.preparation.standardiser, None)
    }

    /// Trains until the configured number of iterations, validating and checkpointing on the
    /// way, and reports each step and validation to `on_event`.
    pub fn train(&mut self, mut on_event: impl FnMut(Event<Qm9Metrics>)) -> Result<()> {
        let total = self.config.schedule.iterations;
        let started = std::time::Instant::now();
        while self.opt.iteration < total {
            let stats = self.step()?;
            let iteration = self.opt.iteration;
            on_event(Event::Step { iteration, lambda: self.opt.lambda, stats });
            if iteration.is_multiple_of(self.config.validation.every) || iteration == total {
                let metrics = self.opt.with_evaluation_weights(|| self.validate())?;
                let sd = &self.data.preparation.standardiser;
                let best = self.best.is_none_or(|(b, _)| selection_score(&metrics, sd) < selection_score(&b, sd));
                if best {
                    self.best = Some((metrics, iteration));
                }
                self.checkpoint(best, metrics)?;
                if let Some(dir) = &self.dir {
                    let line = serde_json::json!({
                        "iteration": iteration, "lambda": self.opt.lambda, "best": best,
                        "seconds": started.elapsed().as_secs_f64(), "train": stats, "validation": metrics,
                    });
                    checkpoint::append_history(dir, &line)?;
                }
                on_event(Event::Validated { iteration, metrics, best });
            }
        }
        Ok(())
    }

    /// Writes the resumable checkpoint (and the best one when `best`).
    pub fn checkpoint(&self, best: bool, metrics: Qm9Metrics) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let (main_steps, adversary_steps) = self.opt.steps();
        let state = CheckpointState {
            tensors: String::new(),
            iteration: self.opt.iteration,
            lambda: self.opt.lambda,
            rng: self.rng.clone(),
            main_steps,
            adversary_steps,
            refit_steps: 0,
            best: self.best.map(|b| b.0),
            best_iteration: self.best.map(|b| b.1),
            metrics: Some(metrics),
        };
        if best {
            checkpoint::save(dir, BEST, &self.opt.evaluation_weights(), state.clone())?;
        }
        checkpoint::save(dir, LAST, &self.opt.state()?, state)
    }
}
