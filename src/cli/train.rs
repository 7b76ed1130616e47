//! `stib train`, `stib eval` and `stib plot` for the artificial experiment.

use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::device::{describe, device};
use crate::data::spiral;
use crate::error::{Error, Result};
use crate::eval::figures::spiral_figures;
use crate::eval::{Metrics, evaluate};
use crate::train::checkpoint::write_atomic;
use crate::train::config::{Experiment, differing_sections};
use crate::train::qm9_config::Qm9Config;
use crate::train::trainer::{BEST, TRAINED};
use crate::train::{Config, Event, Trainer, load_run};

/// Arguments of `stib train`.
#[derive(Debug, Args)]
#[command(after_help = "Example: stib train --config experiments/spiral/stib.toml --out runs/spiral-stib\n\
QM9: stib train --config experiments/qm9/stib.toml --out runs/qm9-stib\n\
Without --config, STIB is trained with the built-in default configuration.")]
pub struct TrainArgs {
    /// TOML configuration (see experiments/spiral/ and experiments/qm9/). Default: the
    /// built-in spiral STIB configuration.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run folder for the configuration, checkpoints, metrics and figures.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the configured number of iterations.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Override the configured number of refit iterations (spiral; 0: no refit), for quick
    /// looks together with --iterations. A resumed run keeps its own.
    #[arg(long)]
    pub refit_iterations: Option<u64>,
    /// Override the configured seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// QM9 runs: the data file (CSV, folder of .xyz files or .tar.bz2), instead of the
    /// configuration's.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test set for the final evaluation (default: $STIB_DATA_DIR/spiral_test.csv).
    #[arg(long)]
    pub test: Option<PathBuf>,
}

/// Arguments of `stib eval` and `stib plot`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run folder written by `stib train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Test set (default: $STIB_DATA_DIR/spiral_test.csv, else a generated one).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// QM9 runs: the data file, when it has moved since training.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which checkpoint: best, last, or (spiral runs with a refit) trained, the best before the
    /// refit.
    #[arg(long, default_value = "best", value_parser = ["best", "last", "trained"])]
    pub checkpoint: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--data` names a QM9 data file and `--test` a spiral test set; each given for the other
/// experiment would be silently ignored, so it is an error instead.
pub(super) fn check_data_arguments(qm9: bool, data: Option<&Path>, test: Option<&Path>) -> Result<()> {
    match (qm9, data, test) {
        (true, _, Some(test)) => Err(Error::invalid(format!(
            "--test {} is for spiral runs: a QM9 run is evaluated on the test split of its data file (--data)",
            test.display()
        ))),
        (false, Some(data), _) => Err(Error::invalid(format!(
            "--data {} is for QM9 runs (configurations with experiment = \"qm9\"): the spiral data are \
             generated, and --test names the test set",
            data.display()
        ))),
        _ => Ok(()),
    }
}

/// A resumed run continues with the configuration it was started with. A `--config` or
/// `--seed` given beside `--resume` must therefore describe that run (the number of iterations
/// aside, which `--iterations` may extend); one that does not is an error naming what differs,
/// rather than being ignored.
fn check_resume_arguments(args: &TrainArgs) -> Result<()> {
    let Some(out) = &args.out else { return Ok(()) };
    let saved_path = out.join("config.toml");
    if (args.config.is_none() && args.seed.is_none()) || !saved_path.exists() {
        return Ok(());
    }
    let given = args.config.clone().unwrap_or_else(|| saved_path.clone());
    let (run_kind, given_kind) = (Experiment::of_file(&saved_path)?, Experiment::of_file(&given)?);
    let name = |e: Experiment| if e == Experiment::Qm9 { "QM9" } else { "spiral" };
    if run_kind != given_kind {
        return Err(Error::invalid(format!(
            "{} is a {} configuration, but {} holds a {} run; --resume continues that run",
            given.display(),
            name(given_kind),
            out.display(),
            name(run_kind)
        )));
    }
    let differing = match run_kind {
        Experiment::Spiral => {
            let mut wanted = Config::from_file(&given)?;
            wanted.seed = args.seed.unwrap_or(wanted.seed);
            differing_sections(&Config::from_file(&saved_path)?, &wanted)?
        }
        Experiment::Qm9 => {
            let mut wanted = Qm9Config::from_file(&given)?;
            wanted.seed = args.seed.unwrap_or(wanted.seed);
            differing_sections(&Qm9Config::from_file(&saved_path)?, &wanted)?
        }
    };
    if differing.is_empty() {
        return Ok(());
    }
    let what = match &args.config {
        Some(c) => format!("--config {}{}", c.display(), if args.seed.is_some() { " with --seed" } else { "" }),
        None => "--seed".to_string(),
    };
    Err(Error::invalid(format!(
        "{what} differs from the configuration of the run in {} (in: {}); --resume continues that run as it was \
         started (only --iterations may change), so leave out --config and --seed, or train into another --out",
        out.display(),
        differing.join(", ")
    )))
}

/// Runs `stib train`.
pub fn train(args: &TrainArgs) -> Result<()> {
    if args.resume {
        check_resume_arguments(args)?;
    }
    let qm9 = match (&args.config, &args.out) {
        (Some(config), _) if !args.resume => Experiment::of_file(config)? == Experiment::Qm9,
        (_, Some(out)) if args.resume => super::qm9::is_qm9_run(out),
        _ => false,
    };
    check_data_arguments(qm9, args.data.as_deref(), args.test.as_deref())?;
    if args.refit_iterations.is_some() && (qm9 || args.resume) {
        return Err(Error::invalid(if qm9 {
            "--refit-iterations: QM9 runs have no refit"
        } else {
            "--refit-iterations sets the refit of a new run; a resumed run keeps its own"
        }));
    }
    if qm9 {
        return super::qm9::train(args);
    }
    let dev = device()?;
    let mut trainer = if args.resume {
        let out = args.out.as_ref().ok_or_else(|| Error::invalid("--resume needs --out RUN_FOLDER"))?;
        if !out.join("last.json").exists() {
            return Err(Error::invalid(format!("{}: no checkpoint to resume from (last.json)", out.display())));
        }
        Trainer::resume(out, args.iterations, dev)?
    } else {
        let mut config = match &args.config {
            Some(p) => Config::from_file(p)?,
            None => default_config()?,
        };
        if let Some(n) = args.iterations {
            config.schedule.iterations = n;
        }
        if let Some(n) = args.refit_iterations {
            config.refit.iterations = n;
        }
        if let Some(s) = args.seed {
            config.seed = s;
        }
        let out = args.out.clone().unwrap_or_else(|| default_run_dir(&config));
        if out.join("last.json").exists() {
            return Err(Error::invalid(format!(
                "{} already holds a run; pass --resume to continue it or choose another --out",
                out.display()
            )));
        }
        Trainer::new(config, dev)?.with_run_dir(&out)?
    };
    let out = args.out.clone().unwrap_or_else(|| default_run_dir(&trainer.config));
    let total = trainer.config.total_iterations();
    let refit = match trainer.config.refit.iterations {
        0 => String::new(),
        n => format!(" and {n} refit iterations"),
    };
    eprintln!(
        "training {} for {} iterations{refit} (batch {}) on {} into {}",
        trainer.model.kind.label(),
        trainer.config.schedule.iterations,
        trainer.config.schedule.batch,
        describe(trainer.device()),
        out.display()
    );
    let bar = progress_bar(total, trainer.iteration);
    let mut last_val = String::new();
    trainer.train(|event| match event {
        Event::Step { iteration, lambda, stats } => {
            if iteration.is_multiple_of(25) {
                bar.set_position(iteration);
                bar.set_message(format!(
                    "lambda {lambda:.3} kl {:.2} rec_x {:.3} mse_y {:.3} ir {:.3} {last_val}",
                    stats.kl, stats.rec_x, stats.mse_y, stats.ir
                ));
            }
        }
        Event::Validated { metrics, best, .. } => {
            last_val =
                format!("| val mae_x {:.3}{}{}", metrics.mae_x, fmt_mae_y(&metrics), if best { " *" } else { "" });
        }
    })?;
    bar.finish_and_clear();
    if let Some((m, it)) = trainer.best() {
        eprintln!("best checkpoint: iteration {it}, validation mae_x {:.4}{}", m.mae_x, fmt_mae_y(&m));
    }
    report(&EvalArgs { run: out, test: args.test.clone(), data: None, checkpoint: "best".into(), json: false }, true)
}

fn fmt_mae_y(m: &Metrics) -> String {
    m.mae_y.map(|v| format!(" mae_y {v:.3}")).unwrap_or_default()
}

/// The training progress bar (iteration, rate, time left, a message).
pub fn progress_bar(total: u64, position: u64) -> ProgressBar {
    let bar = ProgressBar::new(total).with_position(position);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The configuration `stib train` runs without `--config`, and `stib reproduce spiral` for
/// STIB when its folder of configurations has no `stib.toml`: `experiments/spiral/stib.toml`,
/// built in.
pub const DEFAULT_CONFIG: &str = include_str!("../../experiments/spiral/stib.toml");

/// [`DEFAULT_CONFIG`], parsed.
pub fn default_config() -> Result<Config> {
    Config::from_toml(DEFAULT_CONFIG)
}

/// `runs/spiral-<kind>`.
pub fn default_run_dir(config: &Config) -> PathBuf {
    let kind = serde_json::to_value(config.model.kind).ok().and_then(|v| v.as_str().map(String::from));
    PathBuf::from("runs").join(format!("spiral-{}", kind.unwrap_or_else(|| "model".into())))
}

/// Evaluates a run on the test set, writes `metrics.json` and, with `figures`, the plots.
fn report(args: &EvalArgs, figures: bool) -> Result<()> {
    let dev = device()?;
    let trainer = load_run(&args.run, &args.checkpoint, dev.clone())?;
    let (test, source) = spiral::test_set(args.test.as_deref())?;
    let metrics = evaluate(&trainer.model, &test, &dev, true)?;
    let mut json = serde_json::json!({
        "model": trainer.model.kind.label(),
        "checkpoint": args.checkpoint,
        "iteration": trainer.iteration,
        "test_set": source,
        "mae_x": metrics.mae_x,
        "mae_y": metrics.mae_y,
        "mi_bits": metrics.mi_bits,
    });
    // After a refit, the best checkpoint before it too, as the alternating optimisation left it.
    let before_refit = if args.checkpoint == BEST && args.run.join(format!("{TRAINED}.json")).exists() {
        let trained = load_run(&args.run, TRAINED, dev.clone())?;
        let m = evaluate(&trained.model, &test, &dev, true)?;
        json["before_refit"] = serde_json::json!({
            "iteration": trained.iteration, "mae_x": m.mae_x, "mae_y": m.mae_y, "mi_bits": m.mi_bits,
        });
        Some((trained.iteration, m))
    } else {
        None
    };
    write_atomic(&args.run.join("metrics.json"), format!("{json:#}\n").as_bytes())?;
    if args.json {
        println!("{json}");
    } else {
        print_table(trainer.model.kind.label(), trainer.iteration, &source, &metrics);
        if let Some((iteration, m)) = before_refit {
            print_row(&format!("{}, before the refit", trainer.model.kind.label()), iteration, &m);
        }
    }
    if figures {
        let files = spiral_figures(&trainer.model, &test, &dev, &args.run)?;
        if !args.json {
            println!("figures: {}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
        }
    }
    Ok(())
}

fn print_table(label: &str, iteration: u64, source: &str, m: &Metrics) {
    println!("test set: {source}");
    println!("| model | iteration | MAE(X) | MAE(Y) | MI(Z0;Y) bits |");
    println!("|---|---|---|---|---|");
    print_row(label, iteration, m);
}

fn print_row(label: &str, iteration: u64, m: &Metrics) {
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |x| format!("{x:.p$}"));
    println!("| {label} | {iteration} | {:.3} | {} | {} |", m.mae_x, opt(m.mae_y, 3), opt(m.mi_bits, 2));
}

/// Runs `stib eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    check_run(&args.run)?;
    let qm9 = super::qm9::is_qm9_run(&args.run);
    check_data_arguments(qm9, args.data.as_deref(), args.test.as_deref())?;
    if qm9 {
        return super::qm9::report(args, false);
    }
    report(args, false)
}

/// Runs `stib plot`.
pub fn plot(args: &EvalArgs) -> Result<()> {
    check_run(&args.run)?;
    let qm9 = super::qm9::is_qm9_run(&args.run);
    check_data_arguments(qm9, args.data.as_deref(), args.test.as_deref())?;
    if qm9 {
        return super::qm9::plot(args);
    }
    let dev = device()?;
    let trainer = load_run(&args.run, &args.checkpoint, dev.clone())?;
    let (test, _) = spiral::test_set(args.test.as_deref())?;
    for f in spiral_figures(&trainer.model, &test, &dev, &args.run)? {
        println!("{}", f.display());
    }
    Ok(())
}

/// A run folder must hold the `config.toml` that `stib train` writes.
pub fn check_run(dir: &Path) -> Result<()> {
    if !dir.join("config.toml").exists() {
        return Err(Error::invalid(format!(
            "{}: not a run folder (no config.toml); train one with `stib train`",
            dir.display()
        )));
    }
    Ok(())
}
