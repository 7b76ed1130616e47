//! `stib reproduce spiral`: trains (or reuses) the five models and writes the artificial half
//! of Table 1 next to the paper's numbers.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::train::device;
use crate::data::spiral;
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::eval::table::{ROWS, Row, markdown};
use crate::train::checkpoint::write_atomic;
use crate::train::{Config, Trainer, load_run};

/// Which experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Experiment {
    /// The artificial experiment (left half of Table 1).
    Spiral,
}

/// Arguments of `stib reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Which experiment.
    #[arg(value_enum)]
    pub experiment: Experiment,
    /// Folder of the model configurations (`<kind>.toml`); models without a file use the
    /// built-in default configuration.
    #[arg(long, default_value = "experiments/spiral")]
    pub configs: PathBuf,
    /// Folder of the runs (`spiral-<kind>`); finished runs are reused.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Override every model's number of iterations.
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Where the table goes.
    #[arg(long, default_value = "results/spiral")]
    pub out: PathBuf,
    /// Test set (default: $STIB_DATA_DIR/spiral_test.csv).
    #[arg(long)]
    pub test: Option<PathBuf>,
}

/// Runs `stib reproduce spiral`.
pub fn run(args: &ReproduceArgs) -> Result<()> {
    let dev = device();
    let (test, source) = spiral::test_set(args.test.as_deref())?;
    let mut rows = Vec::new();
    for kind in ROWS {
        let name = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let file = args.configs.join(format!("{name}.toml"));
        let mut config = if file.exists() { Config::from_file(&file)? } else { Config::default() };
        config.model.kind = kind;
        if let Some(n) = args.iterations {
            config.schedule.iterations = n;
        }
        let dir = args.runs.join(format!("spiral-{name}"));
        let finished = load_run(&dir, "last", dev.clone()).ok().filter(|t| t.iteration >= config.schedule.iterations);
        if finished.is_none() {
            eprintln!("training {} ({} iterations) into {}", kind.label(), config.schedule.iterations, dir.display());
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
        eprintln!("{}: {metrics:?}", kind.label());
        rows.push(Row::new(kind, best.iteration, metrics));
    }
    std::fs::create_dir_all(&args.out).map_err(|source| Error::Io { path: args.out.clone(), source })?;
    let md = markdown(&rows, &source);
    write_atomic(&args.out.join("table1.md"), md.as_bytes())?;
    let json = serde_json::to_vec_pretty(&rows).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(&args.out.join("table1.json"), &json)?;
    print!("{md}");
    Ok(())
}
