//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use stib::model::ModelKind;
use stib::train::qm9_config::Qm9Config;

/// The shared data folder, from `STIB_DATA_DIR` (default `../shared/data`).
///
/// When `STIB_DATA_DIR` is set, a missing folder fails the test (CI never skips). When it is
/// unset and the default folder is absent (a user's fresh clone), returns `None` and the test
/// says that it skips.
pub fn data_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("STIB_DATA_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(dir.is_dir(), "STIB_DATA_DIR={} is not a folder", dir.display());
            Some(dir)
        }
        None => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
            if dir.is_dir() {
                Some(dir)
            } else {
                eprintln!("{test}: skipped, no shared data at {} (set STIB_DATA_DIR)", dir.display());
                None
            }
        }
    }
}

/// Writes `n` seeded samples of the spiral process in the authors' test-set layout
/// (x0,x1,y0,y1,t) to `path`, so that a test needs no shared data.
pub fn write_spiral_csv(path: &Path, n: usize, seed: u64) {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let s = stib::data::spiral::sample(&mut rng, n);
    let mut csv = String::from("x0,x1,y0,y1,t\n");
    for i in 0..n {
        csv.push_str(&format!("{},{},{},{},{}\n", s.x[[i, 0]], s.x[[i, 1]], s.y[[i, 0]], s.y[[i, 1]], s.t[i]));
    }
    std::fs::write(path, csv).expect("write the spiral CSV");
}

/// Runs the `stib` binary with the given arguments.
pub fn stib(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stib")).args(args).output().expect("the stib binary runs")
}

/// Writes `contents` to a file named `name` in a fresh temporary folder.
pub fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    (dir, path)
}

/// A small model on the C7O2H10 data: it trains in seconds, and its code sizes are set here so
/// that the tests do not follow changes of the CPU default.
pub fn small_qm9_config(data: &Path, kind: ModelKind, iterations: u64) -> Qm9Config {
    let mut c = Qm9Config::default();
    c.data.path = Some(data.join("qm9_c7o2h10.csv"));
    c.model.kind = kind;
    c.architecture.conv_channels = vec![16, 16];
    c.architecture.dense = 64;
    c.architecture.gru_hidden = 64;
    c.architecture.z0_dim = 6;
    c.architecture.z1_dim = 4;
    c.architecture.mlp_hidden = 32;
    c.schedule.iterations = iterations;
    c.schedule.batch = 64;
    c.validation.every = iterations;
    c
}
