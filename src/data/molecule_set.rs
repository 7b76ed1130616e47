//! QM9 molecules made ready for a SMILES model: a seeded train/validation/test split, the
//! vocabulary of the training SMILES, targets standardised with training statistics, and the
//! encoded tensors (token ids and one-hot sequences).
//!
//! [`Preparation`] is everything needed to redo this exactly (split indices, vocabulary,
//! standardiser); it is saved beside a trained model so evaluation sees the same split.

use candle_core::{Device, Tensor};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::qm9::Molecule;
use super::smiles::{Vocabulary, tokenize};
use crate::error::{Error, Result};
use crate::eval::metrics::TABLE1_K;

/// Names of the two targets, in order, with their units.
pub const TARGETS: [(&str, &str); 2] = [("gap", "eV"), ("alpha", "bohr^3")];

/// Row indices of the three parts of a data set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Seed of the permutation.
    pub seed: u64,
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows (checkpoint selection).
    pub validation: Vec<usize>,
    /// Test rows (reported metrics).
    pub test: Vec<usize>,
}

impl Split {
    /// A seeded random split of `n` rows with the given validation and test fractions. Each
    /// part must get at least one row: checkpoints are chosen on the validation rows and the
    /// metrics reported on the test rows, so an empty one would only fail after training.
    pub fn new(n: usize, validation: f64, test: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&validation) || !(0.0..1.0).contains(&test) || validation + test >= 1.0 {
            return Err(Error::invalid(format!(
                "split fractions validation {validation} and test {test} must be in [0, 1) and leave training data"
            )));
        }
        let n_val = (n as f64 * validation).round() as usize;
        let n_test = (n as f64 * test).round() as usize;
        if n_val == 0 || n_test == 0 || n_val + n_test >= n {
            return Err(Error::invalid(format!(
                "split fractions validation {validation} and test {test} of {n} molecules give {n_val} validation, \
                 {n_test} test and {} training molecules; each part needs at least one \
                 (data.validation_fraction, data.test_fraction)",
                n.saturating_sub(n_val + n_test)
            )));
        }
        let mut rows: Vec<usize> = (0..n).collect();
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let test_rows = rows.split_off(n - n_test);
        let val_rows = rows.split_off(n - n_test - n_val);
        Ok(Split { seed, train: rows, validation: val_rows, test: test_rows })
    }
}

/// Per-target mean and standard deviation (of the training rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardiser {
    /// Means.
    pub mean: Vec<f64>,
    /// Standard deviations (1 where a target is constant).
    pub sd: Vec<f64>,
}

impl Standardiser {
    /// Statistics of the rows of `y`.
    pub fn fit(y: &Array2<f64>) -> Self {
        let n = y.nrows().max(1) as f64;
        let mean: Vec<f64> = y.columns().into_iter().map(|c| c.sum() / n).collect();
        let sd = y
            .columns()
            .into_iter()
            .zip(&mean)
            .map(|(c, m)| {
                let s = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
                if s > 0.0 { s } else { 1.0 }
            })
            .collect();
        Standardiser { mean, sd }
    }

    /// (y - mean) / sd.
    pub fn apply(&self, y: &Array2<f64>) -> Array2<f64> {
        let mut out = y.clone();
        for (j, mut c) in out.columns_mut().into_iter().enumerate() {
            c.mapv_inplace(|v| (v - self.mean[j]) / self.sd[j]);
        }
        out
    }

    /// Back to physical units.
    pub fn invert(&self, z: &Array2<f64>) -> Array2<f64> {
        let mut out = z.clone();
        for (j, mut c) in out.columns_mut().into_iter().enumerate() {
            c.mapv_inplace(|v| v * self.sd[j] + self.mean[j]);
        }
        out
    }
}

/// What a trained SMILES model needs to see its data again exactly as in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preparation {
    /// Number of molecules in the data file.
    pub molecules: usize,
    /// The split.
    pub split: Split,
    /// Tokens of the training SMILES and the sequence length.
    pub vocabulary: Vocabulary,
    /// Target statistics of the training rows.
    pub standardiser: Standardiser,
}

impl Preparation {
    /// Splits `molecules`, builds the vocabulary from the training SMILES (the sequence
    /// length fits the longest SMILES of the whole set) and fits the standardiser.
    pub fn new(molecules: &[Molecule], validation: f64, test: f64, seed: u64) -> Result<Self> {
        // MI_K(Z0; Y) is taken on all molecules with k = 20 neighbours, which needs more.
        if molecules.len() <= TABLE1_K {
            return Err(Error::invalid(format!(
                "{} molecules are too few: the evaluation's MI_K (KSG, k = {TABLE1_K}) needs at least {}",
                molecules.len(),
                TABLE1_K + 1
            )));
        }
        let split = Split::new(molecules.len(), validation, test, seed)?;
        let mut longest = 0;
        for m in molecules {
            let tokens = tokenize(&m.smiles).map_err(|e| Error::invalid(format!("SMILES '{}': {e}", m.smiles)))?;
            longest = longest.max(tokens.len());
        }
        let vocabulary = Vocabulary::build(split.train.iter().map(|&i| molecules[i].smiles.as_str()), longest + 2)?;
        let standardiser = Standardiser::fit(&targets(molecules, &split.train));
        Ok(Preparation { molecules: molecules.len(), split, vocabulary, standardiser })
    }

    /// Checks that `molecules` is the data set this preparation was made from (same size).
    pub fn check(&self, molecules: &[Molecule]) -> Result<()> {
        if molecules.len() != self.molecules {
            return Err(Error::invalid(format!(
                "the data has {} molecules but the model was trained on a file with {}; pass the same data file",
                molecules.len(),
                self.molecules
            )));
        }
        Ok(())
    }
}

/// Targets (gap eV, alpha bohr^3) of the given rows.
pub fn targets(molecules: &[Molecule], rows: &[usize]) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), 2), |(i, j)| {
        let m = &molecules[rows[i]];
        if j == 0 { m.gap_ev } else { m.alpha_bohr3 }
    })
}

/// Encoded molecules, ready for a model.
#[derive(Debug, Clone)]
pub struct MoleculeSet {
    /// SMILES as in the data.
    pub smiles: Vec<String>,
    /// Token ids, one row per molecule (start, tokens, end, padding).
    pub ids: Vec<Vec<u32>>,
    /// Token ids `(n, length)` u32.
    pub ids_tensor: Tensor,
    /// One-hot sequences `(n, vocabulary, length)` f32.
    pub one_hot: Tensor,
    /// Targets in physical units.
    pub y: Array2<f64>,
    /// Standardised targets `(n, 2)` f32.
    pub y_std: Tensor,
}

impl MoleculeSet {
    /// Encodes the given rows; a SMILES with a token outside the vocabulary is an error
    /// naming it.
    pub fn new(molecules: &[Molecule], rows: &[usize], prep: &Preparation, device: &Device) -> Result<Self> {
        let vocab = &prep.vocabulary;
        let (l, v) = (vocab.max_len, vocab.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut flat = vec![0f32; rows.len() * v * l];
        for (i, &r) in rows.iter().enumerate() {
            let seq = vocab.encode(&molecules[r].smiles)?;
            for (t, &tok) in seq.iter().enumerate() {
                flat[i * v * l + tok * l + t] = 1.0;
            }
            ids.push(seq.iter().map(|&t| t as u32).collect::<Vec<u32>>());
        }
        let y = targets(molecules, rows);
        let internal = |e: candle_core::Error| Error::Internal(e.to_string());
        let id_flat: Vec<u32> = ids.iter().flatten().copied().collect();
        let ids_tensor = Tensor::from_vec(id_flat, (rows.len(), l), device).map_err(internal)?;
        let one_hot = Tensor::from_vec(flat, (rows.len(), v, l), device).map_err(internal)?;
        let y_std = crate::eval::metrics::to_tensor(&prep.standardiser.apply(&y), device).map_err(internal)?;
        let smiles = rows.iter().map(|&r| molecules[r].smiles.clone()).collect();
        Ok(MoleculeSet { smiles, ids, ids_tensor, one_hot, y, y_std })
    }

    /// Number of molecules.
    pub fn len(&self) -> usize {
        self.smiles.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.smiles.is_empty()
    }

    /// The rows `index` (positions in this set) as a model batch and its standardised targets.
    pub fn batch(&self, index: &[u32]) -> candle_core::Result<(crate::model::SmilesBatch, Tensor)> {
        let idx = Tensor::from_vec(index.to_vec(), index.len(), self.ids_tensor.device())?;
        let batch = crate::model::SmilesBatch {
            one_hot: self.one_hot.index_select(&idx, 0)?,
            ids: self.ids_tensor.index_select(&idx, 0)?,
        };
        Ok((batch, self.y_std.index_select(&idx, 0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_seeded_partition() {
        let s = Split::new(1000, 0.1, 0.1, 7).unwrap();
        assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (800, 100, 100));
        let mut all: Vec<usize> = s.train.iter().chain(&s.validation).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(s, Split::new(1000, 0.1, 0.1, 7).unwrap());
        assert_ne!(s.test, Split::new(1000, 0.1, 0.1, 8).unwrap().test);
        assert!(Split::new(10, 0.6, 0.5, 0).is_err());
        // An empty part would only fail after training, at validation or evaluation.
        for (n, validation, test) in [(1000, 0.1, 0.0), (1000, 0.0, 0.1), (4, 0.1, 0.1), (2, 0.4, 0.4)] {
            let e = Split::new(n, validation, test, 0).unwrap_err().to_string();
            assert!(e.contains("at least one") && e.contains("data.test_fraction"), "{e}");
        }
        let tiny = Split::new(3, 0.3, 0.3, 0).unwrap();
        assert_eq!((tiny.train.len(), tiny.validation.len(), tiny.test.len()), (1, 1, 1));
    }

    #[test]
    fn preparation_needs_enough_molecules_for_the_evaluation() {
        let molecules = |n: usize| -> Vec<Molecule> {
            (0..n)
                .map(|i| Molecule { index: None, smiles: "C".repeat(1 + i % 5), gap_ev: i as f64, alpha_bohr3: 1.0 })
                .collect()
        };
        let e = Preparation::new(&molecules(20), 0.1, 0.1, 0).unwrap_err().to_string();
        assert!(e.contains("20 molecules are too few") && e.contains("at least 21"), "{e}");
        let p = Preparation::new(&molecules(21), 0.1, 0.1, 0).unwrap();
        assert_eq!((p.split.train.len(), p.split.validation.len(), p.split.test.len()), (17, 2, 2));
    }

    #[test]
    fn standardiser_round_trips() {
        let y = ndarray::array![[1.0, 10.0], [3.0, 20.0], [5.0, 30.0]];
        let s = Standardiser::fit(&y);
        assert_eq!(s.mean, vec![3.0, 20.0]);
        assert_eq!(s.sd, vec![2.0, 10.0]);
        let z = s.apply(&y);
        assert_eq!(z.column(0).to_vec(), vec![-1.0, 0.0, 1.0]);
        assert!((s.invert(&z) - &y).iter().all(|d| d.abs() < 1e-12));
    }
}
