//! `stib generate`: keep a reference's Z1, sample Z0, decode (paper Experiment 5). QM9 runs
//! take reference SMILES and write kept molecules, a summary and Figure 6; spiral runs take a
//! point x and report how little the true symmetry coordinate t moves.

use std::path::{Path, PathBuf};

use clap::Args;

use super::device::device;
use crate::error::{Error, Result};
use crate::generate::molecules::{self, CSV_HEADER, Generation, GenerationOptions};
use crate::generate::{Z0Sampling, check_count, figure6, spiral};
use crate::plot::scatter::{Scatter, write};
use crate::train::checkpoint::write_atomic;
use crate::train::load_run;
use crate::train::smiles_trainer::SmilesTrainer;

/// Arguments of `stib generate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
stib generate --run runs/qm9-stib --reference 'OCC1(CC=CC1)C=O' --reference 'CC1OC2CC3COC123'\n  \
stib generate --run runs/spiral-stib --x 1.0,-2.0")]
pub struct GenerateArgs {
    /// Run folder of a STIB (or STIB without adversary) model, QM9 or spiral.
    #[arg(long)]
    pub run: PathBuf,
    /// QM9 runs: a reference SMILES whose Z1 is kept; repeat for several references.
    #[arg(long = "reference", value_name = "SMILES")]
    pub references: Vec<String>,
    /// Spiral runs: the reference point as `x0,x1`.
    #[arg(long, value_name = "X0,X1", allow_hyphen_values = true)]
    pub x: Option<String>,
    /// Number of codes to sample and decode per reference (at most 1,000,000).
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Seed of every draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where Z0 comes from: `prior` N(0, I) as in the paper, `data` (the codes of the
    /// training data: the aggregate posterior), or `around` the reference (needs --radius).
    #[arg(long, default_value = "prior", value_parser = ["prior", "data", "around"])]
    pub z0: String,
    /// With --z0 around: the standard deviation of Z0 around the reference's.
    #[arg(long)]
    pub radius: Option<f64>,
    /// QM9 runs: keep molecules of this formula (default: each reference's own).
    #[arg(long)]
    pub formula: Option<String>,
    /// Which checkpoint: best, last, or (spiral runs with a refit) trained, the best before the
    /// refit.
    #[arg(long, default_value = "best", value_parser = ["best", "last", "trained"])]
    pub checkpoint: String,
    /// QM9 runs: the data file, when it has moved since training.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Folder for the CSV, summary and figures (default: RUN/generated).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `stib generate`.
pub fn run(args: &GenerateArgs) -> Result<()> {
    check_count(args.n)?;
    let sampling = Z0Sampling::parse(&args.z0, args.radius)?;
    if !args.run.join("config.toml").exists() {
        return Err(Error::invalid(format!("{} is not a run folder (no config.toml)", args.run.display())));
    }
    let out = args.out.clone().unwrap_or_else(|| args.run.join("generated"));
    if super::qm9::is_qm9_run(&args.run) {
        if args.x.is_some() {
            return Err(Error::invalid("this is a QM9 run: give reference molecules with --reference SMILES, not --x"));
        }
        molecules_command(args, sampling, &out)
    } else {
        if !args.references.is_empty() || args.formula.is_some() || args.data.is_some() {
            return Err(Error::invalid(
                "this is a spiral run: give the reference point with --x X0,X1 (--reference, --formula and --data are for QM9 runs)",
            ));
        }
        spiral_command(args, sampling, &out)
    }
}

fn create(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_path_buf(), source })
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))
}

fn molecules_command(args: &GenerateArgs, sampling: Z0Sampling, out: &Path) -> Result<()> {
    if args.references.is_empty() {
        return Err(Error::invalid("give at least one reference molecule with --reference SMILES"));
    }
    let dev = device()?;
    let trainer = SmilesTrainer::load(&args.run, &args.checkpoint, args.data.as_deref(), dev.clone())?;
    let context = molecules::Context::new(&trainer.model, &trainer.data)?;
    let mae = context.test_mae;
    let options = GenerationOptions { n: args.n, sampling, formula: args.formula.clone(), seed: args.seed };
    let generations = args
        .references
        .iter()
        .map(|r| molecules::generate(&trainer.model, &trainer.data, &context, r, &options, &dev))
        .collect::<Result<Vec<Generation>>>()?;
    create(out)?;
    let mut csv = CSV_HEADER.to_string();
    generations.iter().for_each(|g| csv.push_str(&g.csv_rows()));
    write_atomic(&out.join("molecules.csv"), csv.as_bytes())?;
    let summaries: Vec<_> = generations.iter().map(|g| &g.summary).collect();
    let summary_json = json(&summaries)?;
    write_atomic(&out.join("summary.json"), summary_json.as_bytes())?;
    let mut files = vec![figure6::write_depictions(&out.join("fig6_molecules.svg"), &generations)?];
    files.extend(figure6::write_boxplots(&out.join("fig6_properties"), &generations)?);
    if args.json {
        println!("{summary_json}");
        return Ok(());
    }
    println!(
        "{} model, {} samples per reference (Z0 from {}), seed {}; error band = test MAE {:.3} eV / {:.3} bohr^3",
        generations[0].summary.model,
        args.n,
        sampling.describe(),
        args.seed,
        mae[0],
        mae[1]
    );
    println!(
        "| reference | gap / alpha (eV / bohr^3) | reference predicted | valid | formula kept | unique | novel (not in data) | predicted gap median [IQR] | predicted alpha median [IQR] | in band (gap / alpha) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for g in &generations {
        let s = &g.summary;
        let c = centre_label(s);
        let q = |sp: &Option<crate::generate::Spread>| {
            sp.map_or("-".to_string(), |v| format!("{:.2} [{:.2}, {:.2}]", v.median, v.q1, v.q3))
        };
        println!(
            "| {} | {c} | {:.2} / {:.2} | {} ({:.1}%) | {} | {} | {} ({}) | {} | {} | {:.0}% / {:.0}% |",
            s.reference.canonical,
            s.reference.predicted[0],
            s.reference.predicted[1],
            s.counts.valid,
            100.0 * s.valid_fraction,
            s.counts.formula_kept,
            s.counts.unique,
            s.counts.novel,
            s.counts.outside_data,
            q(&s.gap),
            q(&s.alpha),
            100.0 * s.gap_in_band,
            100.0 * s.alpha_in_band
        );
    }
    println!("molecules: {}", out.join("molecules.csv").display());
    println!("summary: {}", out.join("summary.json").display());
    println!("figures: {}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(())
}

/// The reference's properties for a table: data values when known, else predicted.
fn centre_label(s: &molecules::GenerationSummary) -> String {
    let [g, a] = s.reference.centre();
    let source = if s.reference.known.is_some() { "data" } else { "predicted" };
    format!("{g:.2} / {a:.2} ({source})")
}

/// Parses `x0,x1`.
fn parse_point(text: &str) -> Result<[f64; 2]> {
    let bad = || Error::invalid(format!("--x must be two numbers as X0,X1 (e.g. 1.0,-2.0), not '{text}'"));
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 2 {
        return Err(bad());
    }
    let v: Vec<f64> = parts.iter().map(|p| p.parse::<f64>().map_err(|_| bad())).collect::<Result<_>>()?;
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad());
    }
    Ok([v[0], v[1]])
}

fn spiral_command(args: &GenerateArgs, sampling: Z0Sampling, out: &Path) -> Result<()> {
    let text = args.x.as_deref().ok_or_else(|| Error::invalid("give the reference point with --x X0,X1"))?;
    let x = parse_point(text)?;
    let dev = device()?;
    let trainer = load_run(&args.run, &args.checkpoint, dev.clone())?;
    let g = spiral::generate(&trainer.model, x, args.n, sampling, args.seed, &dev)?;
    create(out)?;
    write_atomic(&out.join("points.csv"), g.to_csv().as_bytes())?;
    let summary_json = json(&g.summary)?;
    write_atomic(&out.join("summary.json"), summary_json.as_bytes())?;
    let panel = Scatter {
        title: format!("{}: Z1 of x = ({}, {}) kept, Z0 from {}", g.summary.model, x[0], x[1], sampling.describe()),
        x_label: "generated x0".into(),
        y_label: "generated x1".into(),
        xs: &g.x.column(0).to_vec(),
        ys: &g.x.column(1).to_vec(),
        colour_by: &g.t,
        colour_label: "t".into(),
        // The data's range of t = 2 x0 + x1, so that one colour means one t across runs.
        colour_range: Some((-12.0, 12.0)),
    };
    let files = write(&out.join("generated_x"), &panel)?;
    if args.json {
        println!("{summary_json}");
        return Ok(());
    }
    let s = &g.summary;
    println!(
        "{} model, {} samples (Z0 from {}), seed {}: reference x = ({}, {}), t = 2 x0 + x1 = {:.3}",
        s.model,
        s.samples,
        sampling.describe(),
        s.seed,
        x[0],
        x[1],
        s.reference_t
    );
    println!("| quantity | mean | sd | q1 | median | q3 |");
    println!("|---|---|---|---|---|---|");
    for (name, v) in [("t of generated x", s.t), ("generated x0", s.x0), ("generated x1", s.x1)] {
        println!("| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |", v.mean, v.sd, v.q1, v.median, v.q3);
    }
    println!("mean |t - t_ref| = {:.3} (t spans -12 to 12 over the data)", s.mean_abs_t_shift);
    println!("points: {}", out.join("points.csv").display());
    println!("figures: {}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_or_say_why() {
        assert_eq!(parse_point("1.0,-2.0").unwrap(), [1.0, -2.0]);
        assert_eq!(parse_point(" -1 , 3.5 ").unwrap(), [-1.0, 3.5]);
        for bad in ["1", "1,2,3", "a,1", "nan,1", ""] {
            assert!(parse_point(bad).unwrap_err().to_string().contains("X0,X1"), "{bad}");
        }
    }
}
