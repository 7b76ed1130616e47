//! Auxiliary molecules: molecules from outside a run's data file that the SMILES model also
//! learns to reconstruct (configured by `[auxiliary]`, see
//! [`crate::train::qm9_config::AuxiliaryConfig`]). The C7O2H10 isomers give 4,875 training
//! SMILES, which the decoder learns by heart; the rest of QM9 holds 43,627 more SMILES
//! written with the same tokens (`qm9.csv` against the default split's vocabulary). Their
//! properties are standardised with the training split's statistics, as the data's are: the
//! CVAE and CVIB decoders read them, and the predictor learns those that
//! `[auxiliary] predict` names (by default none, so that they play no part).
//!
//! A candidate is kept when its SMILES fits the model's vocabulary and length, and left out
//! when its canonical form is that of any molecule of the data file, so that no validation or
//! test molecule is seen under another spelling.

use std::collections::HashSet;
use std::path::Path;

use candle_core::Device;
use rayon::prelude::*;

use super::molecule_set::{MoleculeSet, Preparation};
use super::qm9::{self, Molecule};
use super::smiles::Vocabulary;
use crate::error::{Error, Result};

/// Canonical SMILES of a molecule, or the string itself when it does not parse (it can then
/// only match itself).
fn canonical_or_self(smiles: &str) -> String {
    crate::chem::canonical(smiles).unwrap_or_else(|_| smiles.to_string())
}

/// The candidates that fit `vocabulary` and are not molecules of `data`, in file order.
pub fn select(candidates: &[Molecule], data: &[Molecule], vocabulary: &Vocabulary) -> Vec<Molecule> {
    let taken: HashSet<String> = data.par_iter().map(|m| canonical_or_self(&m.smiles)).collect();
    let keep: Vec<bool> = candidates
        .par_iter()
        .map(|m| {
            vocabulary.encode(&m.smiles).is_ok()
                && crate::chem::canonical(&m.smiles).is_ok_and(|c| !taken.contains(&c) && !taken.contains(&m.smiles))
        })
        .collect();
    candidates.iter().zip(keep).filter(|(_, k)| *k).map(|(m, _)| m.clone()).collect()
}

/// Reads the auxiliary file at `path`, selects its molecules against the data file's
/// `molecules` and the run's `preparation`, and encodes them. Fewer than one batch of
/// molecules left is an error. Their targets are standardised with `preparation`'s (the
/// training split's) statistics.
pub fn load(
    path: &Path,
    molecules: &[Molecule],
    preparation: &Preparation,
    batch: usize,
    device: &Device,
) -> Result<MoleculeSet> {
    let candidates = qm9::load(path, false)?.molecules;
    let kept = select(&candidates, molecules, &preparation.vocabulary);
    if kept.len() < batch.max(2) {
        return Err(Error::invalid(format!(
            "{}: only {} of its {} molecules fit the model's vocabulary and are not in the data file; \
             auxiliary.batch is {batch}",
            path.display(),
            kept.len(),
            candidates.len()
        )));
    }
    let rows: Vec<usize> = (0..kept.len()).collect();
    MoleculeSet::new(&kept, &rows, preparation, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn molecule(smiles: &str) -> Molecule {
        Molecule { index: None, smiles: smiles.into(), gap_ev: 5.0, alpha_bohr3: 50.0 }
    }

    #[test]
    fn keeps_what_fits_and_leaves_out_the_data_under_any_spelling() {
        let data = [molecule("CCO"), molecule("CC(C)=O")];
        let vocabulary = Vocabulary::build(["CCO", "CC(C)=O", "C1CC1"], 9).unwrap();
        let candidates = [
            molecule("OCC"),        // the data's ethanol, spelt another way
            molecule("CC(=O)C"),    // the data's acetone, spelt another way
            molecule("CCC"),        // kept
            molecule("C1CCC1"),     // kept
            molecule("CN"),         // N is not in the vocabulary
            molecule("CCCCCCCCCC"), // too long for 9 ids (start and end included)
            molecule("C1CC"),       // not a molecule
        ];
        let kept: Vec<String> = select(&candidates, &data, &vocabulary).into_iter().map(|m| m.smiles).collect();
        assert_eq!(kept, ["CCC", "C1CCC1"]);
    }
}
