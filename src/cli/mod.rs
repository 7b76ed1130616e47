//! The `stib` command line: argument parsing and printing only; the library does the work.

pub mod data;
pub mod device;
pub mod encode;
pub mod generate;
pub mod mi;
pub mod qm9;
pub mod reproduce;
pub mod train;

use clap::{Parser, Subcommand};

/// STIB: learn the symmetries of a property from samples (x, y) alone.
///
/// The Symmetry-Transformation Information Bottleneck (Wieser et al., NeurIPS 2020) splits a
/// latent code into Z1, which holds everything about a property y, and Z0, which holds the rest
/// of x and nothing about y. Moving in Z0 changes x but keeps y: a learned symmetry.
#[derive(Debug, Parser)]
#[command(name = "stib", version, about, long_about)]
pub struct Cli {
    /// Worker threads for parallel work, the networks' matrix products included (default: all
    /// cores; one is faster for training at small batches).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Where the networks run: auto (the first GPU of a build with the `cuda` feature, else
    /// the CPU), cpu, cuda or cuda:N. A named GPU that is not there is an error.
    #[arg(long, global = true, default_value = "auto", value_name = "DEVICE")]
    pub device: device::DeviceChoice,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Estimate the mutual information between two groups of columns of a CSV file
    /// (Kraskov-Stoegbauer-Grassberger, k nearest neighbours).
    Mi(mi::MiArgs),
    /// Train a model on the artificial spiral data (STIB by default) or, with a QM9
    /// configuration, on molecules; evaluate it on the test set and draw its latent space.
    Train(train::TrainArgs),
    /// Evaluate a trained run: MAE(X), MAE(Y) and MI_K(Z0; Y) in bits (Table 1); for QM9
    /// runs SMILES accuracy, gap and alpha MAE, MI_K and the probe.
    Eval(train::EvalArgs),
    /// Draw a trained run's figures (latent space, reconstruction, prediction).
    Plot(train::EvalArgs),
    /// Write a trained run's codes z = mu, with targets and predictions, to a CSV file.
    Encode(encode::EncodeArgs),
    /// Prepare a data set (QM9 from CSV, raw .xyz files or the official archive).
    Data(data::DataArgs),
    /// Keep a reference's Z1, sample Z0 and decode: new molecules with the reference's
    /// properties (QM9 runs, paper Figure 6), or new points x with the reference's t (spiral).
    Generate(generate::GenerateArgs),
    /// Train (or reuse) all five models (for the spiral also the reference-split STIB) and write
    /// Table 1 next to the paper's numbers.
    Reproduce(reproduce::ReproduceArgs),
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `reproduce --jobs N` shares the cores among its N trainings unless told otherwise.
    let threads = cli.threads.or(match &cli.command {
        Command::Reproduce(args) if args.jobs > 1 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Some((cores / args.jobs).max(1))
        }
        _ => None,
    });
    if let Some(threads) = threads {
        if threads == 0 {
            eprintln!("error: --threads must be at least 1");
            return std::process::ExitCode::from(2);
        }
        // Only fails if a pool already exists, which cannot happen this early.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
        // candle sizes its matrix products from this variable.
        // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
    device::choose(cli.device);
    let result = match cli.command {
        Command::Mi(args) => mi::run(&args),
        Command::Train(args) => train::train(&args),
        Command::Eval(args) => train::eval(&args),
        Command::Plot(args) => train::plot(&args),
        Command::Encode(args) => encode::run(&args),
        Command::Reproduce(args) => reproduce::run(&args),
        Command::Data(args) => data::run(&args),
        Command::Generate(args) => generate::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::from(if err.is_user_error() { 2 } else { 1 })
        }
    }
}
