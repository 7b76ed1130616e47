//! `stib encode`: writes a trained run's codes z = mu, with targets and predictions, to a CSV
//! file (the spiral test set, or every QM9 molecule with its split).

use std::path::PathBuf;

use clap::Args;

use super::device::device;
use super::qm9::is_qm9_run;
use super::train::{check_data_arguments, check_run};
use crate::data::spiral;
use crate::error::Result;
use crate::eval::codes::{CodeTable, molecule_codes, spiral_codes};
use crate::train::checkpoint::write_atomic;
use crate::train::load_run;
use crate::train::smiles_trainer::SmilesTrainer;

/// Arguments of `stib encode`.
#[derive(Debug, Args)]
#[command(after_help = "Example: stib encode --run runs/qm9-stib\n\
Then, e.g.: stib mi runs/qm9-stib/codes.csv --x 'z0_*' --y gap_ev,alpha_bohr3")]
pub struct EncodeArgs {
    /// Run folder written by `stib train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Where the CSV goes (default: RUN/codes.csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Which checkpoint: best, last, or (spiral runs with a refit) trained, the best before the
    /// refit.
    #[arg(long, default_value = "best", value_parser = ["best", "last", "trained"])]
    pub checkpoint: String,
    /// Spiral runs: the samples to encode (default: $STIB_DATA_DIR/spiral_test.csv).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// QM9 runs: the data file, when it has moved since training.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Runs `stib encode`.
pub fn run(args: &EncodeArgs) -> Result<()> {
    check_run(&args.run)?;
    let qm9 = is_qm9_run(&args.run);
    check_data_arguments(qm9, args.data.as_deref(), args.test.as_deref())?;
    let dev = device()?;
    let (table, source): (CodeTable, String) = if qm9 {
        let t = SmilesTrainer::load(&args.run, &args.checkpoint, args.data.as_deref(), dev.clone())?;
        let all = t.data.all(&dev)?;
        let prep = &t.data.preparation;
        let table = molecule_codes(&t.model, &all, &prep.standardiser, &prep.split, &prep.vocabulary)?;
        (table, "every molecule of the data set".into())
    } else {
        let t = load_run(&args.run, &args.checkpoint, dev.clone())?;
        let (test, source) = spiral::test_set(args.test.as_deref())?;
        (spiral_codes(&t.model, &test, &dev)?, source)
    };
    let out = args.out.clone().unwrap_or_else(|| args.run.join("codes.csv"));
    write_atomic(&out, &table.to_csv()?)?;
    println!("{}: {} rows ({source}), columns {}", out.display(), table.rows.len(), table.header.join(","));
    Ok(())
}
