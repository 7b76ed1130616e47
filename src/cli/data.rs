//! `stib data qm9`: QM9 from any of its layouts into one CSV, optionally only one formula.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::chem;
use crate::data::qm9::{Molecule, load};
use crate::error::{Error, Result};
use crate::train::checkpoint::write_atomic;

/// Arguments of `stib data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Which data set.
    #[command(subcommand)]
    pub dataset: Dataset,
}

/// Data sets `stib data` prepares.
#[derive(Debug, Subcommand)]
pub enum Dataset {
    /// QM9 molecules with HOMO-LUMO gap (eV) and polarisability (bohr^3).
    #[command(
        after_help = "Example: stib data qm9 --from ../shared/data/qm9.csv --formula C7H10O2 --out data/qm9_c7o2h10.csv"
    )]
    Qm9(Qm9Args),
}

/// Arguments of `stib data qm9`.
#[derive(Debug, Args)]
pub struct Qm9Args {
    /// A CSV (shared or MoleculeNet layout), a folder of dsgdb9nsd_*.xyz files, or the official
    /// dsgdb9nsd.xyz.tar.bz2 archive.
    #[arg(long)]
    pub from: PathBuf,
    /// Keep only molecules with this formula (Hill order, implicit hydrogens), e.g. C7H10O2.
    #[arg(long)]
    pub formula: Option<String>,
    /// Output CSV (columns qm9_index,smiles,gap_ev,alpha_bohr3).
    #[arg(long)]
    pub out: PathBuf,
    /// Skip malformed records with a warning instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
}

/// Runs `stib data`.
pub fn run(args: &DataArgs) -> Result<()> {
    match &args.dataset {
        Dataset::Qm9(a) => qm9(a),
    }
}

fn qm9(args: &Qm9Args) -> Result<()> {
    // Checked before the (slow) read; written as `formula` writes it, so H10C7O2 finds C7H10O2.
    let formula = args.formula.as_deref().map(chem::hill_formula).transpose()?;
    let loaded = load(&args.from, args.skip_bad)?;
    for e in &loaded.skipped {
        eprintln!("warning: skipped: {e}");
    }
    let total = loaded.molecules.len();
    let mut kept: Vec<&Molecule> = Vec::with_capacity(total);
    let mut unparsable = 0usize;
    for m in &loaded.molecules {
        match &formula {
            None => kept.push(m),
            Some(want) => match chem::formula(&m.smiles) {
                Ok(f) if &f == want => kept.push(m),
                Ok(_) => {}
                Err(e) if args.skip_bad => {
                    eprintln!("warning: skipped: {e}");
                    unparsable += 1;
                }
                Err(e) => return Err(e),
            },
        }
    }
    if let (Some(want), true) = (&formula, kept.is_empty()) {
        return Err(Error::invalid(format!(
            "none of the {total} molecules of {} has the formula {want}; nothing written",
            args.from.display()
        )));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| Error::Internal(e.to_string());
    w.write_record(["qm9_index", "smiles", "gap_ev", "alpha_bohr3"]).map_err(internal)?;
    for m in &kept {
        let index = m.index.map(|i| i.to_string()).unwrap_or_default();
        w.write_record([index, m.smiles.clone(), format!("{}", m.gap_ev), format!("{}", m.alpha_bohr3)])
            .map_err(internal)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    }
    write_atomic(&args.out, &bytes)?;
    println!(
        "read {total} molecules ({} malformed records skipped, {unparsable} unparsable SMILES), kept {}{}, wrote {}",
        loaded.skipped.len(),
        kept.len(),
        formula.map(|f| format!(" with formula {f}")).unwrap_or_default(),
        args.out.display()
    );
    Ok(())
}
