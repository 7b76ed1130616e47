//! `stib reproduce spiral|qm9`: trains (or reuses) the five models and writes the artificial
//! or the QM9 half of Table 1 next to the paper's numbers; for the spiral also the variants of
//! [`VARIANTS`] whose configuration is in the folder.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::train::device;
use crate::data::spiral;
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::eval::qm9_figures::qm9_figures;
use crate::eval::qm9_metrics::evaluate_molecules;
use crate::eval::qm9_table::{self, Qm9Row};
use crate::eval::table::{ROWS, Row, VARIANTS, markdown};
use crate::model::ModelKind;
use crate::train::checkpoint::write_atomic;
use crate::train::qm9_config::Qm9Config;
use crate::train::smiles_trainer::SmilesTrainer;
use crate::train::trainer::{BEST, LAST};
use crate::train::{Config, Trainer, load_run};

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
    /// Where the table goes (default `results/<experiment>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Test set (default: $STIB_DATA_DIR/spiral_test.csv).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// QM9: the data file (default: the configurations', `$STIB_DATA_DIR/qm9_c7o2h10.csv`).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Runs `stib reproduce spiral`.
pub fn run(args: &ReproduceArgs) -> Result<()> {
    let name = match args.experiment {
        Experiment::Spiral => "spiral",
        Experiment::Qm9 => "qm9",
    };
    let configs = args.configs.clone().unwrap_or_else(|| PathBuf::from("experiments").join(name));
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(name));
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
    let table = |c: &T| -> Result<toml::Table> {
        let mut t = toml::Table::try_from(c).map_err(|e| Error::Internal(e.to_string()))?;
        for (section, key) in [("schedule", "iterations"), ("data", "path")] {
            if let Some(toml::Value::Table(s)) = t.get_mut(section) {
                s.remove(key);
            }
        }
        Ok(t)
    };
    let (saved, wanted) = (table(saved)?, table(wanted)?);
    let differing: Vec<&str> =
        wanted.iter().filter(|(k, v)| saved.get(k.as_str()) != Some(v)).map(|(k, _)| k.as_str()).collect();
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
    let dev = device();
    let mut rows = Vec::new();
    let mut source = String::new();
    for kind in ROWS {
        let name = kind_name(kind);
        let file = configs.join(format!("{name}.toml"));
        let mut config = if file.exists() { Qm9Config::from_file(&file)? } else { Qm9Config::default() };
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
            refuse_another_configuration(&dir, &t.config, &config, &file)?;
        }
        let finished = last.filter(|t| t.iteration() >= config.schedule.iterations);
        if finished.is_none() {
            eprintln!("training {} ({} iterations) into {}", kind.label(), config.schedule.iterations, dir.display());
            let mut trainer = if dir.join("last.json").exists() {
                SmilesTrainer::resume(&dir, Some(config.schedule.iterations), dev.clone())?
            } else {
                SmilesTrainer::new(config, dev.clone())?.with_run_dir(&dir)?
            };
            trainer.train(|_| {})?;
        } else {
            eprintln!("reusing {}", dir.display());
        }
        let best = SmilesTrainer::load(&dir, BEST, args.data.as_deref(), dev.clone())?;
        let all = best.data.all(&dev)?;
        let sd = &best.data.preparation.standardiser;
        let metrics = evaluate_molecules(&best.model, &best.data.test, sd, Some(&all))?;
        qm9_figures(&best.model, &all, sd, &dir)?;
        eprintln!("{}: {metrics:?}", kind.label());
        rows.push(Qm9Row::new(kind, best.iteration(), metrics));
    }
    write_tables(out, &qm9_table::markdown(&rows, &source), &rows)
}

fn spiral(args: &ReproduceArgs, configs: &Path, out: &Path) -> Result<()> {
    let dev = device();
    let (test, source) = spiral::test_set(args.test.as_deref())?;
    // The five models (built-in defaults where a file is missing), then the variants whose
    // configuration is present.
    let mut plan: Vec<(String, ModelKind, Option<&str>)> = ROWS.iter().map(|&k| (kind_name(k), k, None)).collect();
    for (stem, kind, label) in VARIANTS {
        if configs.join(format!("{stem}.toml")).exists() {
            plan.push((stem.to_string(), kind, Some(label)));
        }
    }
    let mut rows = Vec::new();
    for (name, kind, label) in plan {
        let file = configs.join(format!("{name}.toml"));
        let mut config = if file.exists() { Config::from_file(&file)? } else { Config::default() };
        config.model.kind = kind;
        if let Some(n) = args.iterations {
            config.schedule.iterations = n;
        }
        let dir = args.runs.join(format!("spiral-{name}"));
        let last = load_run(&dir, "last", dev.clone()).ok();
        if let Some(t) = &last {
            refuse_another_configuration(&dir, &t.config, &config, &file)?;
        }
        let finished = last.filter(|t| t.iteration >= config.schedule.iterations);
        let label = label.unwrap_or(kind.label());
        if finished.is_none() {
            eprintln!("training {label} ({} iterations) into {}", config.schedule.iterations, dir.display());
            let mut trainer = if dir.join("last.json").exists() {
                Trainer::resume(&dir, Some(config.schedule.iterations), dev.clone())?
            } else {
                Trainer::new(config, dev.clone())?.with_run_dir(&dir)?
            };
            trainer.train(|_| {})?;
        } else {
            eprintln!("reusing {}", dir.display());
        }
        let best = load_run(&dir, "best", dev.clone())?;
        let metrics = evaluate(&best.model, &test, &dev, true)?;
        eprintln!("{label}: {metrics:?}");
        rows.push(Row::new(kind, best.iteration, metrics).labelled(label));
    }
    write_tables(out, &markdown(&rows, &source), &rows)
}
