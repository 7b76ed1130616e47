//! `stib reproduce spiral|qm9`: trains (or reuses) the five models and writes the artificial
//! or the QM9 half of Table 1 next to the paper's numbers; for the spiral also the variants of
//! [`VARIANTS`] whose configuration is in the folder. With `--jobs N`, N models train at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::{Args, ValueEnum};
use indicatif::MultiProgress;

use super::device::device;
use super::qm9::warn_unused_auxiliary;
use super::train::{default_config, progress_bar};
use crate::data::spiral;
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::eval::qm9_figures::qm9_figures;
use crate::eval::qm9_metrics::{evaluate_molecules, invariance_probe};
use crate::eval::qm9_table::{self, Qm9Row};
use crate::eval::table::{ROWS, Row, VARIANTS, markdown};
use crate::model::ModelKind;
use crate::train::checkpoint::write_atomic;
use crate::train::config::differing_sections;
use crate::train::qm9_config::Qm9Config;
use crate::train::smiles_trainer::SmilesTrainer;
use crate::train::trainer::{BEST, LAST};
use crate::train::{Config, Event, Trainer, load_run};

/// Which experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Experiment {
    /// The artificial experiment (left half of Table 1).
    Spiral,
    /// The QM9 experiment (right half of Table 1, Figure 5).
    Qm9,
}

/// Arguments of `stib reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Which experiment.
    #[arg(value_enum)]
    pub experiment: Experiment,
    /// Folder of the model configurations (`<kind>.toml`; default `experiments/<experiment>`);
    /// models without a file use the built-in default configuration.
    #[arg(long)]
    pub configs: Option<PathBuf>,
    /// Folder of the runs (`<experiment>-<kind>`); finished runs are reused and unfinished ones
    /// resumed, if they were made with the same configuration (else it stops and says so).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Override every model's number of iterations.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Override the refit's number of iterations of the spiral models that have one (STIB).
    #[arg(long)]
    pub refit_iterations: Option<u64>,
    /// Where the table goes (default `results/<experiment>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Test set (default: $STIB_DATA_DIR/spiral_test.csv).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// QM9: the data file (default: the configurations', `$STIB_DATA_DIR/qm9_c7o2h10.csv`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How many models train at the same time. Without --threads, each gets an equal share of
    /// the cores (at least one); on 2 cores, `--jobs 2` trains the QM9 models in about half
    /// the time of one after another.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: usize,
}

/// A model that still has iterations to train.
struct Task<C> {
    /// The row's label.
    label: String,
    /// Its run folder.
    dir: PathBuf,
    /// Its configuration, for a fresh run.
    config: C,
    /// Whether it continues from the last checkpoint in `dir`.
    resume: bool,
    /// Iterations done.
    done: u64,
    /// Iterations to reach.
    iterations: u64,
}

/// Trains `tasks`, `jobs` at a time, each with a progress bar; `train` runs one task and
/// reports its progress to the bar. After a failure no further task starts (those already
/// running finish and keep their checkpoints), and the first failure is returned.
fn train_all<C: Sync>(
    tasks: &[Task<C>],
    jobs: usize,
    train: impl Fn(&Task<C>, &dyn Fn(u64)) -> Result<()> + Sync,
) -> Result<()> {
    let bars = MultiProgress::new();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let errors: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(tasks.len()) {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(task) = tasks.get(i) else { break };
                    let bar = bars.add(progress_bar(task.iterations, task.done));
                    bar.set_message(task.label.clone());
                    let result = train(task, &|iteration| bar.set_position(iteration));
                    bar.finish_and_clear();
                    bars.remove(&bar);
                    if let Err(e) = result {
                        failed.store(true, Ordering::SeqCst);
                        if let Ok(mut errors) = errors.lock() {
                            errors.push((i, e));
                        }
                    } else {
                        bars.suspend(|| eprintln!("trained {} into {}", task.label, task.dir.display()));
                    }
                }
            });
        }
    });
    let mut errors = errors.into_inner().unwrap_or_default();
    errors.sort_by_key(|(i, _)| *i);
    match errors.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Moves a progress bar along with a trainer's events.
fn follow<M>(event: Event<M>, position: &dyn Fn(u64)) {
    if let Event::Step { iteration, .. } = event {
        position(iteration);
    }
}

/// Says what will train and what is reused.
fn announce<C>(tasks: &[Task<C>], reused: &[PathBuf]) {
    for dir in reused {
        eprintln!("reusing {}", dir.display());
    }
    for t in tasks {
        let how = if t.resume { format!("continuing from {}", t.done) } else { "from scratch".into() };
        eprintln!("training {} ({} iterations, {how}) into {}", t.label, t.iterations, t.dir.display());
    }
}

/// Runs `stib reproduce spiral`.
pub fn run(args: &ReproduceArgs) -> Result<()> {
    let name = match args.experiment {
        Experiment::Spiral => "spiral",
        Experiment::Qm9 => "qm9",
    };
    let configs = args.configs.clone().unwrap_or_else(|| PathBuf::from("experiments").join(name));
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(name));
    if args.experiment == Experiment::Qm9 && args.refit_iterations.is_some() {
        return Err(Error::invalid("--refit-iterations: the QM9 models have no refit"));
    }
    match args.experiment {
        Experiment::Spiral => spiral(args, &configs, &out),
        Experiment::Qm9 => qm9(args, &configs, &out),
    }
}

/// The kebab-case name of a model kind (file and folder names).
fn kind_name(kind: ModelKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// A run folder (its last checkpoint's configuration, `saved`) is reused or resumed only for
/// the configuration it was made with, the number of iterations (which `--iterations` and a
/// longer schedule may change) and the data file (which `--data` may move) aside; otherwise
/// this names the sections that differ.
fn refuse_another_configuration<T: serde::Serialize>(dir: &Path, saved: &T, wanted: &T, file: &Path) -> Result<()> {
    let differing = differing_sections(saved, wanted)?;
    if differing.is_empty() {
        return Ok(());
    }
    let source = if file.exists() { file.display().to_string() } else { "the built-in default".into() };
    Err(Error::invalid(format!(
        "{} was trained with another configuration than {source} (differs in: {}); move it away or pass another --runs folder",
        dir.display(),
        differing.join(", ")
    )))
}

fn write_tables<T: serde::Serialize>(out: &Path, md: &str, rows: &T) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_path_buf(), source })?;
    write_atomic(&out.join("table1.md"), md.as_bytes())?;
    let json = serde_json::to_vec_pretty(rows).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(&out.join("table1.json"), &json)?;
    print!("{md}");
    Ok(())
}

fn qm9(args: &ReproduceArgs, configs: &Path, out: &Path) -> Result<()> {
    let dev = device()?;
    let mut source = String::new();
    let (mut tasks, mut reused) = (Vec::new(), Vec::new());
    for kind in ROWS {
        let name = kind_name(kind);
        let file = configs.join(format!("{name}.toml"));
        let mut config = if file.exists() { Qm9Config::from_file(&file)? } else { Qm9Config::default() };
        warn_unused_auxiliary(&config.auxiliary, &file);
        config.model.kind = kind;
        if let Some(n) = args.iterations {
            config.schedule.iterations = n;
        }
        if let Some(d) = &args.data {
            config.data.path = Some(d.clone());
        }
        source = config.data.resolved_path().display().to_string();
        let dir = args.runs.join(format!("qm9-{name}"));
        let last = SmilesTrainer::load(&dir, LAST, args.data.as_deref(), dev.clone()).ok();
        if let Some(t) = &last {
            refuse_another_configuration(&dir, &t.config.with_unread_keys_of(&config), &config, &file)?;
        }
        let resume = dir.join("last.json").exists();
        let done = last.map_or(0, |t| t.iteration());
        if done >= config.schedule.iterations {
            reused.push(dir);
        } else {
            let iterations = config.schedule.iterations;
            tasks.push(Task { label: kind.label().to_string(), dir, config, resume, done, iterations });
        }
    }
    announce(&tasks, &reused);
    train_all(&tasks, args.jobs, |task, position| {
        let dev = device()?;
        let mut trainer = if task.resume {
            SmilesTrainer::resume(&task.dir, Some(task.iterations), dev)?
        } else {
            SmilesTrainer::new(task.config.clone(), dev)?.with_run_dir(&task.dir)?
        };
        trainer.train(|e| follow(e, position))
    })?;
    let mut rows = Vec::new();
    for kind in ROWS {
        let dir = args.runs.join(format!("qm9-{}", kind_name(kind)));
        let best = SmilesTrainer::load(&dir, BEST, args.data.as_deref(), dev.clone())?;
        let all = best.data.all(&dev)?;
        let sd = &best.data.preparation.standardiser;
        let mut metrics = evaluate_molecules(&best.model, &best.data.test, sd, Some(&all))?;
        metrics.probe_bits = invariance_probe(&best.model, &best.data.train, &best.data.test, sd)?;
        qm9_figures(&best.model, &all, sd, &dir)?;
        eprintln!("{}: {metrics:?}", kind.label());
        rows.push(Qm9Row::new(kind, best.iteration(), metrics));
    }
    write_tables(out, &qm9_table::markdown(&rows, &source), &rows)
}

fn spiral(args: &ReproduceArgs, configs: &Path, out: &Path) -> Result<()> {
    let dev = device()?;
    let (test, source) = spiral::test_set(args.test.as_deref())?;
    // The five models (built-in defaults where a file is missing), then the variants whose
    // configuration is present.
    let mut plan: Vec<(String, ModelKind, Option<&str>)> = ROWS.iter().map(|&k| (kind_name(k), k, None)).collect();
    for (stem, kind, label) in VARIANTS {
        if configs.join(format!("{stem}.toml")).exists() {
            plan.push((stem.to_string(), kind, Some(label)));
        }
    }
    let (mut tasks, mut reused) = (Vec::new(), Vec::new());
    for (name, kind, label) in &plan {
        let file = configs.join(format!("{name}.toml"));
        let mut config = match (file.exists(), kind) {
            (true, _) => Config::from_file(&file)?,
            (false, ModelKind::Stib) => default_config()?,
            (false, _) => Config::default(),
        };
        config.model.kind = *kind;
        if let Some(n) = args.iterations {
            config.schedule.iterations = n;
        }
        if let (Some(n), true) = (args.refit_iterations, config.refit.iterations > 0) {
            config.refit.iterations = n;
        }
        let dir = args.runs.join(format!("spiral-{name}"));
        let last = load_run(&dir, "last", dev.clone()).ok();
        if let Some(t) = &last {
            refuse_another_configuration(&dir, &t.config, &config, &file)?;
        }
        let resume = dir.join("last.json").exists();
        let done = last.map_or(0, |t| t.iteration);
        if done >= config.total_iterations() {
            reused.push(dir);
        } else {
            let iterations = config.total_iterations();
            let label = label.unwrap_or(kind.label()).to_string();
            tasks.push(Task { label, dir, config, resume, done, iterations });
        }
    }
    announce(&tasks, &reused);
    train_all(&tasks, args.jobs, |task, position| {
        let dev = device()?;
        let mut trainer = if task.resume {
            Trainer::resume(&task.dir, Some(task.config.schedule.iterations), dev)?
        } else {
            Trainer::new(task.config.clone(), dev)?.with_run_dir(&task.dir)?
        };
        trainer.train(|e| follow(e, position))
    })?;
    let mut rows = Vec::new();
    for (name, kind, label) in plan {
        let dir = args.runs.join(format!("spiral-{name}"));
        let best = load_run(&dir, "best", dev.clone())?;
        let metrics = evaluate(&best.model, &test, &dev, true)?;
        let label = label.unwrap_or(kind.label());
        eprintln!("{label}: {metrics:?}");
        rows.push(Row::new(kind, best.iteration, metrics).labelled(label));
    }
    write_tables(out, &markdown(&rows, &source), &rows)
}
