//! `stib mi`: KSG (or Gaussian) mutual information between columns of a CSV file.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rand::SeedableRng;

use crate::data::spiral;
use crate::data::table::{ColumnSpec, read_columns};
use crate::error::Result;
use crate::eval::probe::{ProbeOptions, probe_mi};
use crate::mi::{KsgOptions, Ties, gaussian_mi, ksg_with};

/// Unit of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Base {
    /// Bits (log base 2), as the paper reports.
    #[value(name = "2")]
    Two,
    /// Nats (natural logarithm).
    #[value(name = "e")]
    E,
}

/// Tie treatment on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TiesArg {
    /// Exact; add seeded 1e-10-relative noise only if more than k points coincide.
    Auto,
    /// Always add the seeded noise first, as NPEET does.
    Jitter,
    /// Exact; coinciding points are an error.
    Error,
}

/// Arguments of `stib mi`.
#[derive(Debug, Args)]
#[command(after_help = "Example: stib mi ../shared/data/spiral_test.csv --x x0,x1 --y y0,y1 --k 20\n\
Without FILE, 10,000 samples of the built-in spiral data process are used.")]
pub struct MiArgs {
    /// CSV file with a header row. Omit it to use samples of the built-in spiral process.
    pub file: Option<PathBuf>,
    /// Columns of X: comma-separated header names, 0-based indices or prefixes (`z0_*`).
    #[arg(long, default_value = "x0,x1")]
    pub x: String,
    /// Columns of Y: comma-separated header names, 0-based indices or prefixes (`z1_*`).
    #[arg(long, default_value = "y0,y1")]
    pub y: String,
    /// Number of nearest neighbours.
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// Unit: 2 for bits, e for nats.
    #[arg(long, value_enum, default_value = "2")]
    pub base: Base,
    /// What to do when more than k samples coincide.
    #[arg(long, value_enum, default_value = "auto")]
    pub ties: TiesArg,
    /// Seed of the tie-breaking noise (and of the built-in samples).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of built-in samples when no FILE is given.
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Also print the Gaussian (correlation-matrix) mutual information.
    #[arg(long)]
    pub gaussian: bool,
    /// Also train the probe, a fresh adversary and bijection (`stib::eval::probe`), on the
    /// even rows and print the Gaussian MI it finds on the odd rows: the dependence that
    /// learned features of X and Y show, at any scale a network can learn, where the KSG
    /// estimate reads it only at the scale of its k neighbours.
    #[arg(long)]
    pub probe: bool,
    /// Adam steps of the probe.
    #[arg(long, default_value_t = ProbeOptions::default().steps)]
    pub probe_steps: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `stib mi`.
pub fn run(args: &MiArgs) -> Result<()> {
    let (x_cols, y_cols) = (ColumnSpec::parse_list(&args.x), ColumnSpec::parse_list(&args.y));
    let (source, x, y) = match &args.file {
        Some(path) => {
            let mut groups = read_columns(path, &[x_cols, y_cols])?.into_iter();
            let (x, y) = (groups.next().unwrap_or_default(), groups.next().unwrap_or_default());
            (path.display().to_string(), x, y)
        }
        None => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
            let s = spiral::sample(&mut rng, args.n);
            let t =
                s.t.clone().into_shape_with_order((s.len(), 1)).map_err(|e| crate::Error::Internal(e.to_string()))?;
            let table = ndarray::concatenate(ndarray::Axis(1), &[s.x.view(), s.y.view(), t.view()])
                .map_err(|e| crate::Error::Internal(e.to_string()))?;
            let pick = |cols: &[ColumnSpec]| -> Result<ndarray::Array2<f64>> {
                let names = ["x0", "x1", "y0", "y1", "t"];
                let idx = cols
                    .iter()
                    .map(|c| match c {
                        ColumnSpec::Index(i) if *i < names.len() => Ok(*i),
                        ColumnSpec::Name(n) if names.contains(&n.as_str()) => {
                            Ok(names.iter().position(|m| m == n).unwrap_or(0))
                        }
                        other => Err(crate::Error::invalid(format!(
                            "the built-in spiral samples have columns x0,x1,y0,y1,t; {other:?} is not one of them"
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(table.select(ndarray::Axis(1), &idx))
            };
            (
                format!("built-in spiral process ({} samples, seed {})", args.n, args.seed),
                pick(&x_cols)?,
                pick(&y_cols)?,
            )
        }
    };
    let ties = match args.ties {
        TiesArg::Auto => Ties::Auto,
        TiesArg::Jitter => Ties::Jitter,
        TiesArg::Error => Ties::Error,
    };
    let est = ksg_with(x.view(), y.view(), &KsgOptions { k: args.k, ties, seed: args.seed })?;
    let (value, unit) = match args.base {
        Base::Two => (est.bits(), "bits"),
        Base::E => (est.nats, "nats"),
    };
    let gaussian = if args.gaussian {
        let nats = gaussian_mi(x.view(), y.view())?;
        Some(if args.base == Base::Two { nats / std::f64::consts::LN_2 } else { nats })
    } else {
        None
    };
    let probe = if args.probe {
        let (even, odd) = (ndarray::s![0..;2, ..], ndarray::s![1..;2, ..]);
        let options = ProbeOptions { steps: args.probe_steps, seed: args.seed, ..ProbeOptions::default() };
        let bits = probe_mi(x.slice(even), y.slice(even), x.slice(odd), y.slice(odd), &options)?;
        Some(if args.base == Base::Two { bits } else { bits * std::f64::consts::LN_2 })
    } else {
        None
    };
    if args.json {
        let mut obj = serde_json::json!({
            "source": source, "x": args.x, "y": args.y, "n": est.n, "k": est.k,
            "unit": unit, "mi": value, "jittered": est.jittered,
        });
        if let Some(g) = gaussian {
            obj["gaussian_mi"] = serde_json::json!(g);
        }
        if let Some(p) = probe {
            obj["probe_mi"] = serde_json::json!(p);
        }
        println!("{obj}");
    } else {
        println!("source:   {source}");
        println!("X, Y:     [{}] ; [{}]   (n = {}, k = {})", args.x, args.y, est.n, est.k);
        println!("MI_KSG:   {value:.9} {unit}");
        if let Some(g) = gaussian {
            println!("MI_gauss: {g:.9} {unit}");
        }
        if let Some(p) = probe {
            println!("MI_probe: {p:.9} {unit}   (fit on the even rows, read on the odd)");
        }
        if est.jittered {
            println!("note:     more than k samples coincided; seeded noise of 1e-10 x sd broke the ties");
        }
    }
    Ok(())
}
