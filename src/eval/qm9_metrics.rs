//! Table 1 metrics of the QM9 experiment, with the code taken at its mean (z = mu):
//!
//! - SMILES accuracy: the fraction of molecules whose greedy decoding reproduces the token
//!   sequence exactly (up to and including the end token),
//! - MAE of the predicted gap (eV) and polarisability alpha (bohr^3), in physical units,
//! - MI_K(Z0; (gap, alpha)): KSG estimate (k = 20) in bits; the paper takes it on the whole
//!   data set; for the VAE on its whole code,
//! - and, beyond the paper, the probe: the Gaussian MI a fresh adversary finds between Z0 and
//!   the targets on the test split ([`super::probe`]).

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::metrics::{TABLE1_K, invariant_code, to_array};
use super::probe::{MIN_CODES, ProbeOptions, probe_mi};
use crate::data::molecule_set::{MoleculeSet, Standardiser};
use crate::error::{Error, Result};
use crate::mi::{KsgOptions, ksg_with};
use crate::model::SmilesModel;
use crate::model::gru_decoder::END_ID;
use crate::model::networks::Networks;

/// The metrics of one model on one set of molecules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Qm9Metrics {
    /// Fraction of exactly reconstructed SMILES.
    pub accuracy: f64,
    /// Fraction of token positions (up to each true end token) decoded right.
    pub token_accuracy: f64,
    /// MAE of the predicted gap in eV (models with a predictor).
    pub mae_gap: Option<f64>,
    /// MAE of the predicted alpha in bohr^3 (models with a predictor).
    pub mae_alpha: Option<f64>,
    /// MI_K(Z0; targets) in bits, when computed.
    pub mi_bits: Option<f64>,
    /// What a fresh adversary finds about the targets in Z0 (see [`super::probe`]): trained on
    /// the training split's codes, read on this set, in bits; when computed.
    #[serde(default)]
    pub probe_bits: Option<f64>,
}

/// Codes and outputs of a model on a set of molecules, at z = mu.
#[derive(Debug, Clone)]
pub struct SmilesEncoded {
    /// The code mu, n x latent.
    pub z: Array2<f64>,
    /// Greedily decoded token ids, one row per molecule.
    pub decoded: Vec<Vec<u32>>,
    /// Predicted targets in physical units, when the model has a predictor.
    pub y_hat: Option<Array2<f64>>,
}

/// Rows per forward pass in evaluation.
const CHUNK: usize = 512;

/// Runs the model at z = mu over the whole set (greedy decoding only when `decode`).
pub fn encode_molecules(
    model: &SmilesModel,
    set: &MoleculeSet,
    standardiser: &Standardiser,
    decode: bool,
) -> Result<SmilesEncoded> {
    let run = || -> candle_core::Result<SmilesEncoded> {
        let mut z_rows = Vec::new();
        let mut y_rows = Vec::new();
        let mut decoded = Vec::new();
        for start in (0..set.len()).step_by(CHUNK) {
            let idx: Vec<u32> = (start..(start + CHUNK).min(set.len())).map(|i| i as u32).collect();
            let (batch, y) = set.batch(&idx)?;
            let z = model.encode(&batch)?.mu;
            if decode {
                decoded.extend(model.greedy(&z, &y)?);
            }
            if let Some(y_hat) = model.predict(&z)? {
                y_rows.push(to_array(&y_hat)?);
            }
            z_rows.push(to_array(&z)?);
        }
        let stack = |parts: &[Array2<f64>]| {
            let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
            ndarray::concatenate(ndarray::Axis(0), &views).map_err(|e| candle_core::Error::Msg(e.to_string()))
        };
        let y_hat = if y_rows.is_empty() { None } else { Some(standardiser.invert(&stack(&y_rows)?)) };
        Ok(SmilesEncoded { z: stack(&z_rows)?, decoded, y_hat })
    };
    run().map_err(|e| Error::Internal(format!("model evaluation failed: {e}")))
}

/// Fraction of rows of `decoded` equal to `truth` up to and including the end token.
pub fn exact_match(decoded: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    let hits = decoded.iter().zip(truth).filter(|(d, t)| is_exact(d, t)).count();
    hits as f64 / truth.len().max(1) as f64
}

/// Whether `decoded` equals `truth` up to and including the end token.
pub fn is_exact(decoded: &[u32], truth: &[u32]) -> bool {
    decoded[..through_end(decoded)] == truth[..through_end(truth)]
}

/// Length of `ids` up to and including its first end token (all of it without one).
fn through_end(ids: &[u32]) -> usize {
    ids.iter().position(|&t| t == END_ID).map_or(ids.len(), |p| p + 1)
}

/// Fraction of token positions, up to and including each true end token, where `decoded`
/// agrees with `truth` (the start token excluded).
pub fn token_match(decoded: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    let (mut hits, mut total) = (0usize, 0usize);
    for (d, t) in decoded.iter().zip(truth) {
        let end = through_end(t);
        hits += (1..end).filter(|&i| d.get(i) == t.get(i)).count();
        total += end.saturating_sub(1);
    }
    hits as f64 / total.max(1) as f64
}

/// Mean absolute error of column `j` of `y_hat` against `y`.
pub fn column_mae(y_hat: &Array2<f64>, y: &Array2<f64>, j: usize) -> f64 {
    (&y_hat.column(j) - &y.column(j)).mapv(f64::abs).sum() / y.nrows().max(1) as f64
}

/// Accuracy and property MAEs on `set`; MI on `mi_set` (the whole data, as in the paper)
/// when given.
pub fn evaluate_molecules(
    model: &SmilesModel,
    set: &MoleculeSet,
    standardiser: &Standardiser,
    mi_set: Option<&MoleculeSet>,
) -> Result<Qm9Metrics> {
    let enc = encode_molecules(model, set, standardiser, true)?;
    let accuracy = exact_match(&enc.decoded, &set.ids);
    let token_accuracy = token_match(&enc.decoded, &set.ids);
    let column_mae = |j: usize| enc.y_hat.as_ref().map(|y_hat| column_mae(y_hat, &set.y, j));
    let mi_bits = match mi_set {
        Some(all) => Some(invariance_mi(model, all, standardiser)?),
        None => None,
    };
    let (mae_gap, mae_alpha) = (column_mae(0), column_mae(1));
    Ok(Qm9Metrics { accuracy, token_accuracy, mae_gap, mae_alpha, mi_bits, probe_bits: None })
}

/// The probe's Gaussian MI between Z0 (the whole code for the VAE) and the targets, in bits:
/// a fresh adversary and bijection of the model's MLP sizes, trained on the codes of `fit`
/// (the training split) and read on `read` (the test split). `None` when either set has fewer
/// than [`MIN_CODES`] molecules, too few for a reading that means anything.
pub fn invariance_probe(
    model: &SmilesModel,
    fit: &MoleculeSet,
    read: &MoleculeSet,
    standardiser: &Standardiser,
) -> Result<Option<f64>> {
    if fit.len().min(read.len()) < MIN_CODES {
        return Ok(None);
    }
    let code = |set: &MoleculeSet| -> Result<Array2<f64>> {
        let enc = encode_molecules(model, set, standardiser, false)?;
        Ok(invariant_code(model.kind, model.arch.z0_dim, &enc.z))
    };
    let (z_fit, z_read) = (code(fit)?, code(read)?);
    let options =
        ProbeOptions { hidden: model.arch.mlp_hidden, depth: model.arch.mlp_depth, ..ProbeOptions::default() };
    probe_mi(z_fit.view(), fit.y.view(), z_read.view(), read.y.view(), &options).map(Some)
}

/// MI_K(Z0; (gap, alpha)) in bits over `set` (whole code for the VAE).
pub fn invariance_mi(model: &SmilesModel, set: &MoleculeSet, standardiser: &Standardiser) -> Result<f64> {
    let enc = encode_molecules(model, set, standardiser, false)?;
    let z0 = invariant_code(model.kind, model.arch.z0_dim, &enc.z);
    let options = KsgOptions { k: TABLE1_K, ..KsgOptions::default() };
    Ok(ksg_with(z0.view(), set.y.view(), &options)?.bits())
}

/// Validation score to minimise: (1 - accuracy) plus each property MAE in units of its
/// training standard deviation.
pub fn selection_score(m: &Qm9Metrics, standardiser: &Standardiser) -> f64 {
    let gap = m.mae_gap.map_or(0.0, |v| v / standardiser.sd[0]);
    let alpha = m.mae_alpha.map_or(0.0, |v| v / standardiser.sd[1]);
    (1.0 - m.accuracy) + gap + alpha
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_count_up_to_the_end_token() {
        let truth = vec![vec![1, 5, 6, 2, 0], vec![1, 7, 2, 0, 0]];
        // Row 1 right up to its end (garbage after it does not count); row 2 wrong at 1 of 2.
        let decoded = vec![vec![1, 5, 6, 2, 9], vec![1, 7, 7, 2, 0]];
        assert_eq!(exact_match(&decoded, &truth), 0.5);
        assert!((token_match(&decoded, &truth) - 4.0 / 5.0).abs() < 1e-12);
    }
}
