//! Checkpoints: weights and optimiser moments in safetensors, plus a JSON sidecar with
//! everything else a resumed run needs (iteration, lambda, RNG state, best metrics).
//!
//! Every file is written atomically (a temporary file, then a rename), and the sidecar is
//! written last and names its tensor file, so a run killed at any moment leaves the previous
//! complete checkpoint in place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::Metrics;

/// The JSON sidecar of a checkpoint; `M` is the experiment's validation metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState<M = Metrics> {
    /// File (in the same folder) holding the tensors.
    pub tensors: String,
    /// Iterations completed.
    pub iteration: u64,
    /// Current lambda.
    pub lambda: f64,
    /// State of the training RNG.
    pub rng: ChaCha8Rng,
    /// Steps taken by the main optimiser.
    pub main_steps: u64,
    /// Steps taken by the adversary optimiser.
    pub adversary_steps: u64,
    /// Steps taken by the refit's optimiser (0 before the refit, and in runs without one).
    #[serde(default)]
    pub refit_steps: u64,
    /// Validation metrics of the best checkpoint so far.
    pub best: Option<M>,
    /// Iteration of the best checkpoint so far.
    pub best_iteration: Option<u64>,
    /// Validation metrics at this iteration.
    pub metrics: Option<M>,
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|source| Error::Io { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Saves tensors atomically as safetensors.
pub fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let tmp = tmp_path(path);
    candle_core::safetensors::save(tensors, &tmp).map_err(|e| Error::Internal(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// Loads all tensors of a safetensors file.
pub fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(Error::Io { path: path.to_path_buf(), source: std::io::ErrorKind::NotFound.into() });
    }
    candle_core::safetensors::load(path, device)
        .map_err(|e| Error::invalid(format!("{}: not a readable safetensors file: {e}", path.display())))
}

/// Writes a checkpoint named `name` (`name.json` and `name-<iteration>.safetensors`) into
/// `dir`, then removes the tensor files of older checkpoints of that name.
pub fn save<M: Serialize>(
    dir: &Path,
    name: &str,
    tensors: &HashMap<String, Tensor>,
    mut state: CheckpointState<M>,
) -> Result<()> {
    let file = format!("{name}-{}.safetensors", state.iteration);
    save_tensors(&dir.join(&file), tensors)?;
    state.tensors = file.clone();
    let json = serde_json::to_vec_pretty(&state).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(&dir.join(format!("{name}.json")), &json)?;
    // Older tensor files of this checkpoint are now unreferenced.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!("{name}-")) && n.ends_with(".safetensors") && n != file {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// Reads the checkpoint `name` from `dir`: its sidecar and its tensors.
pub fn load<M: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
    device: &Device,
) -> Result<(CheckpointState<M>, HashMap<String, Tensor>)> {
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let state: CheckpointState<M> = serde_json::from_str(&text).map_err(|e| Error::Data {
        path: path.clone(),
        line: e.line(),
        message: format!("not a stib checkpoint: {e}"),
    })?;
    let tensors = load_tensors(&dir.join(&state.tensors), device)?;
    Ok((state, tensors))
}

/// Appends one JSON line to `history.jsonl` in the run folder `dir`.
pub fn append_history(dir: &Path, line: &serde_json::Value) -> Result<()> {
    use std::io::Write;
    let path = dir.join("history.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| Error::Io { path: path.clone(), source })?;
    writeln!(f, "{line}").map_err(|source| Error::Io { path, source })
}
