//! `stib train`, `stib eval` and `stib plot` for QM9 runs (configurations with
//! `experiment = "qm9"`); `stib train` and friends dispatch here.

use std::path::{Path, PathBuf};

use super::device::{describe, device};
use super::train::{EvalArgs, TrainArgs, progress_bar};
use crate::error::{Error, Result};
use crate::eval::probe::MIN_CODES;
use crate::eval::qm9_figures::qm9_figures;
use crate::eval::qm9_metrics::{Qm9Metrics, evaluate_molecules, invariance_probe};
use crate::train::Event;
use crate::train::checkpoint::write_atomic;
use crate::train::config::Experiment;
use crate::train::qm9_config::{AuxiliaryConfig, Qm9Config};
use crate::train::smiles_trainer::SmilesTrainer;

/// Default run folder of a QM9 configuration: `runs/qm9-KIND`.
pub fn default_run_dir(config: &Qm9Config) -> PathBuf {
    let kind = serde_json::to_value(config.model.kind).ok().and_then(|v| v.as_str().map(String::from));
    PathBuf::from("runs").join(format!("qm9-{}", kind.unwrap_or_else(|| "model".into())))
}

/// Trains a QM9 model (fresh from `--config`, or `--resume`), then evaluates it and draws
/// its figures.
pub fn train(args: &TrainArgs) -> Result<()> {
    let dev = device()?;
    let (mut trainer, out) = if args.resume {
        let out = args.out.clone().ok_or_else(|| Error::invalid("--resume needs --out RUN_FOLDER"))?;
        (SmilesTrainer::resume(&out, args.iterations, dev)?, out)
    } else {
        let path = args.config.as_ref().ok_or_else(|| Error::invalid("a QM9 run needs --config"))?;
        let mut config = Qm9Config::from_file(path)?;
        if let Some(n) = args.iterations {
            config.schedule.iterations = n;
        }
        if let Some(s) = args.seed {
            config.seed = s;
        }
        if let Some(d) = &args.data {
            config.data.path = Some(d.clone());
        }
        let out = args.out.clone().unwrap_or_else(|| default_run_dir(&config));
        if out.join("last.json").exists() {
            return Err(Error::invalid(format!(
                "{} already holds a run; pass --resume to continue it or choose another --out",
                out.display()
            )));
        }
        (SmilesTrainer::new(config, dev)?.with_run_dir(&out)?, out)
    };
    let total = trainer.config.schedule.iterations;
    eprintln!(
        "training {} on {} training molecules ({} parameters) for {} iterations (batch {}) on {} into {}",
        trainer.model.kind.label(),
        trainer.data.train.len(),
        trainer.parameter_count(),
        total,
        trainer.config.schedule.batch,
        describe(trainer.device()),
        out.display()
    );
    if let Some(set) = &trainer.auxiliary {
        let c = &trainer.config.auxiliary;
        eprintln!(
            "auxiliary: {} molecules of {} outside the data file, {} per iteration, weight {}{}",
            set.len(),
            c.resolved_path().display(),
            c.batch,
            c.weight,
            if c.predict.is_empty() { String::new() } else { format!(", predicting {}", c.predict.join(" and ")) }
        );
    }
    let config_file = args.config.clone().unwrap_or_else(|| out.join("config.toml"));
    warn_unused_auxiliary(&trainer.config.auxiliary, &config_file);
    warn_batch_above_split(&trainer.config, trainer.data.train.len(), &config_file);
    let bar = progress_bar(total, trainer.iteration());
    let mut last_val = String::new();
    trainer.train(|event| match event {
        Event::Step { iteration, lambda, stats } => {
            if iteration.is_multiple_of(10) {
                bar.set_position(iteration);
                // The auxiliary molecules' cross-entropy and prediction error, when they are used.
                let aux = match (stats.rec_aux > 0.0, stats.mse_aux > 0.0) {
                    (false, _) => String::new(),
                    (true, false) => format!(" ce_aux {:.3}", stats.rec_aux),
                    (true, true) => format!(" ce_aux {:.3} mse_aux {:.3}", stats.rec_aux, stats.mse_aux),
                };
                bar.set_message(format!(
                    "lambda {lambda:.2} kl {:.1} ce {:.3} mse_y {:.3} ir {:.3}{aux} {last_val}",
                    stats.kl, stats.rec_x, stats.mse_y, stats.ir
                ));
            }
        }
        Event::Validated { metrics, best, .. } => {
            last_val = format!("| val {}{}", short(&metrics), if best { " *" } else { "" });
        }
    })?;
    bar.finish_and_clear();
    if let Some((m, it)) = trainer.best() {
        eprintln!("best checkpoint: iteration {it}, validation {}", short(&m));
    }
    report(&EvalArgs { run: out, test: None, data: args.data.clone(), checkpoint: "best".into(), json: false }, true)
}

fn short(m: &Qm9Metrics) -> String {
    let opt = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.3}"));
    format!("acc {:.3} tok {:.3} gap {} alpha {}", m.accuracy, m.token_accuracy, opt(m.mae_gap), opt(m.mae_alpha))
}

/// Test-split metrics (MI on the whole data set) of a QM9 run, printed and written to
/// `metrics.json`; with `figures`, Figure 5 too.
pub fn report(args: &EvalArgs, figures: bool) -> Result<()> {
    let dev = device()?;
    let trainer = SmilesTrainer::load(&args.run, &args.checkpoint, args.data.as_deref(), dev.clone())?;
    let all = trainer.data.all(&dev)?;
    let sd = &trainer.data.preparation.standardiser;
    let mut m = evaluate_molecules(&trainer.model, &trainer.data.test, sd, Some(&all))?;
    m.probe_bits = invariance_probe(&trainer.model, &trainer.data.train, &trainer.data.test, sd)?;
    if m.probe_bits.is_none() {
        eprintln!(
            "note: the probe needs at least {MIN_CODES} training and {MIN_CODES} test molecules, and the split has {} and {}; \
             its column is left empty (more molecules, or a larger data.test_fraction)",
            trainer.data.train.len(),
            trainer.data.test.len()
        );
    }
    let json = serde_json::json!({
        "model": trainer.model.kind.label(),
        "checkpoint": args.checkpoint,
        "iteration": trainer.iteration(),
        "test_molecules": trainer.data.test.len(),
        "accuracy": m.accuracy,
        "token_accuracy": m.token_accuracy,
        "mae_gap_ev": m.mae_gap,
        "mae_alpha_bohr3": m.mae_alpha,
        "mi_bits": m.mi_bits,
        "probe_bits": m.probe_bits,
    });
    write_atomic(&args.run.join("metrics.json"), format!("{json:#}\n").as_bytes())?;
    if args.json {
        println!("{json}");
    } else {
        let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |x| format!("{x:.p$}"));
        println!("test split: {} molecules (MI on all {})", trainer.data.test.len(), all.len());
        println!("| model | iteration | SMILES | gap (eV) | alpha (bohr^3) | MI(Z0;Y) bits | probe bits |");
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {:.3} | {} | {} | {} | {} |",
            trainer.model.kind.label(),
            trainer.iteration(),
            m.accuracy,
            opt(m.mae_gap, 3),
            opt(m.mae_alpha, 3),
            opt(m.mi_bits, 2),
            opt(m.probe_bits, 2)
        );
    }
    if figures {
        let files = qm9_figures(&trainer.model, &all, sd, &args.run)?;
        if !args.json {
            println!("figures: {}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
        }
    }
    Ok(())
}

/// Draws Figure 5 of a QM9 run.
pub fn plot(args: &EvalArgs) -> Result<()> {
    let dev = device()?;
    let trainer = SmilesTrainer::load(&args.run, &args.checkpoint, args.data.as_deref(), dev.clone())?;
    let all = trainer.data.all(&dev)?;
    for f in qm9_figures(&trainer.model, &all, &trainer.data.preparation.standardiser, &args.run)? {
        println!("{}", f.display());
    }
    Ok(())
}

/// Whether the run folder holds a QM9 run (its configuration says `experiment = "qm9"`).
pub fn is_qm9_run(dir: &Path) -> bool {
    Experiment::of_file(&dir.join("config.toml")).is_ok_and(|e| e == Experiment::Qm9)
}

/// Warns, naming the configuration `file`, when `schedule.batch` (or `loss.adversary_batch`,
/// where the adversary steps draw their own) is larger than the training split: every such
/// batch is then the whole split, in a new order each epoch.
fn warn_batch_above_split(config: &Qm9Config, train: usize, file: &Path) {
    // The configuration's check refuses an adversary_batch without fresh batches, and 0 means none.
    let batches = [("schedule.batch", config.schedule.batch), ("loss.adversary_batch", config.loss.adversary_batch)];
    for (key, batch) in batches.into_iter().filter(|&(_, b)| b > train) {
        eprintln!(
            "warning: {}: {key} is {batch}, more than the {train} training molecules, so every such batch is the whole training split",
            file.display()
        );
    }
}

/// Warns, naming the configuration `file`, when `[auxiliary]` keys are set while `batch` is 0
/// (they then do nothing).
pub(super) fn warn_unused_auxiliary(auxiliary: &AuxiliaryConfig, file: &Path) {
    let unused = auxiliary.unused_keys();
    if !unused.is_empty() {
        eprintln!(
            "warning: {}: auxiliary.batch is 0, so no auxiliary molecule is drawn and auxiliary.{} {} nothing",
            file.display(),
            unused.join(", auxiliary."),
            if unused.len() == 1 { "does" } else { "do" }
        );
    }
}
