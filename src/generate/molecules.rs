//! Generation of molecules (paper Experiment 5): encode a reference SMILES, keep its Z1, draw
//! Z0, decode greedily, then keep what a chemist would: valid SMILES of the reference's
//! formula, canonicalised, each once. Every survivor is marked novel or not (in the training
//! split), placed by its latent distance to the reference (both codes at their mean, over the
//! whole code) and given the model's predicted gap and alpha. The counts at each filter are
//! the MOSES-style summary: valid, formula kept, unique, novel.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Spread, Z0Sampling, check_count, check_kind, distance, sample_codes};
use crate::chem;
use crate::data::molecule_set::MoleculeSet;
use crate::data::qm9::Molecule;
use crate::error::{Error, Result};
use crate::eval::metrics::to_tensor;
use crate::eval::qm9_metrics::{column_mae, encode_molecules};
use crate::model::SmilesModel;
use crate::train::smiles_trainer::Qm9Data;

/// Rows per decoding pass.
const CHUNK: usize = 500;

/// How to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationOptions {
    /// Number of codes to decode.
    pub n: usize,
    /// Where Z0 comes from.
    pub sampling: Z0Sampling,
    /// Formula to keep, its elements in any order (default: the reference's).
    pub formula: Option<String>,
    /// Seed of every draw.
    pub seed: u64,
}

/// The reference molecule as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// SMILES as given.
    pub smiles: String,
    /// Canonical SMILES.
    pub canonical: String,
    /// Molecular formula.
    pub formula: String,
    /// The split of the data that holds it (`train`, `validation`, `test`), if any.
    pub found_in: Option<String>,
    /// Its gap (eV) and alpha (bohr^3) from the data, when it is there.
    pub known: Option<[f64; 2]>,
    /// The model's prediction of gap and alpha.
    pub predicted: [f64; 2],
    /// Its code at the mean, Z0 first.
    pub code: Vec<f64>,
}

impl Reference {
    /// The properties the error band is drawn around: the data's values when the reference
    /// is in the data set, else the model's prediction.
    pub fn centre(&self) -> [f64; 2] {
        self.known.unwrap_or(self.predicted)
    }
}

/// One kept molecule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    /// Canonical SMILES.
    pub smiles: String,
    /// True when the molecule is not in the training split.
    pub novel: bool,
    /// The split of the data that holds it, if any.
    pub found_in: Option<String>,
    /// How many of the samples decoded to it.
    pub count: usize,
    /// Distance between its code and the reference's (both at the mean, whole code).
    pub latent_distance: f64,
    /// Predicted gap in eV.
    pub gap_ev: f64,
    /// Predicted alpha in bohr^3.
    pub alpha_bohr3: f64,
}

/// Counts at each filter, MOSES-style.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Codes decoded.
    pub samples: usize,
    /// Decoded strings that are valid molecules.
    pub valid: usize,
    /// Valid molecules with the formula kept.
    pub formula_kept: usize,
    /// Distinct canonical SMILES among those.
    pub unique: usize,
    /// Unique ones not in the training split.
    pub novel: usize,
    /// Unique ones in no split of the data set at all (new to QM9's C7H10O2 list, for that data).
    pub outside_data: usize,
    /// Unique ones equal to the reference itself.
    pub reference_rebuilt: usize,
}

/// How many formulas [`GenerationSummary::formulas`] lists.
pub const TOP_FORMULAS: usize = 5;

/// The summary of one reference's generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationSummary {
    /// Model kind label.
    pub model: String,
    /// The options used.
    pub options: GenerationOptions,
    /// The formula kept.
    pub formula: String,
    /// The reference.
    pub reference: Reference,
    /// Counts at each filter.
    pub counts: Counts,
    /// The most frequent formulas among the valid molecules, with their counts (what the
    /// model wrote instead, when few keep the formula).
    pub formulas: Vec<(String, usize)>,
    /// valid / samples.
    pub valid_fraction: f64,
    /// formula_kept / samples.
    pub formula_kept_fraction: f64,
    /// unique / formula_kept.
    pub unique_fraction: f64,
    /// novel / unique.
    pub novel_fraction: f64,
    /// The model's test-split MAE of gap and alpha: the error band's half-width.
    pub test_mae: [f64; 2],
    /// Predicted gap of the kept molecules.
    pub gap: Option<Spread>,
    /// Predicted alpha of the kept molecules.
    pub alpha: Option<Spread>,
    /// Fraction of kept molecules whose predicted gap lies within the band.
    pub gap_in_band: f64,
    /// Same for alpha.
    pub alpha_in_band: f64,
}

/// A generation: the kept molecules, nearest first, and the summary.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Kept molecules sorted by latent distance.
    pub molecules: Vec<Generated>,
    /// The summary.
    pub summary: GenerationSummary,
}

/// A decoded string that survived the filters, before prediction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survivor {
    /// Canonical SMILES.
    pub canonical: String,
    /// The first decoded string that gave it (in the model's vocabulary, unlike the canonical
    /// form, which may write aromatic atoms the kekulised training SMILES never use).
    pub decoded: String,
    /// Samples that decoded to it.
    pub count: usize,
}

/// What survived the filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// Counts so far: samples, valid, formula kept, unique.
    pub counts: Counts,
    /// Survivors in order of first appearance.
    pub survivors: Vec<Survivor>,
    /// The most frequent formulas among the valid, most frequent first (ties by name).
    pub formulas: Vec<(String, usize)>,
}

/// The filters: valid, of `formula`, unique by canonical SMILES.
pub fn filter(decoded: &[String], formula: &str) -> Filtered {
    let mut counts = Counts { samples: decoded.len(), ..Counts::default() };
    let mut survivors: Vec<Survivor> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut formulas: HashMap<String, usize> = HashMap::new();
    for s in decoded {
        if s.is_empty() {
            continue;
        }
        let Ok((canonical, f)) = chem::canonical_and_formula(s) else { continue };
        counts.valid += 1;
        *formulas.entry(f.clone()).or_default() += 1;
        if f != formula {
            continue;
        }
        counts.formula_kept += 1;
        match seen.get(&canonical) {
            Some(&i) => survivors[i].count += 1,
            None => {
                seen.insert(canonical.clone(), survivors.len());
                survivors.push(Survivor { canonical, decoded: s.clone(), count: 1 });
            }
        }
    }
    counts.unique = survivors.len();
    let mut formulas: Vec<(String, usize)> = formulas.into_iter().collect();
    formulas.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    formulas.truncate(TOP_FORMULAS);
    Filtered { counts, survivors, formulas }
}

/// Where a molecule of the data set is: its split and its row in the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// `train`, `validation` or `test`.
    pub split: &'static str,
    /// Row in the data file (0-based, header not counted).
    pub row: usize,
}

/// Every molecule of the data by canonical SMILES (a molecule listed twice counts as in
/// training when any copy is).
pub fn known_molecules(data: &Qm9Data) -> HashMap<String, Known> {
    let s = &data.preparation.split;
    let mut known = HashMap::new();
    for (rows, split) in [(&s.test, "test"), (&s.validation, "validation"), (&s.train, "train")] {
        for &row in rows {
            if let Ok(c) = chem::canonical(&data.molecules[row].smiles) {
                known.insert(c, Known { split, row });
            }
        }
    }
    known
}

/// Encodes SMILES (whose targets are unknown) for the model; a token outside the vocabulary
/// or a sequence too long is an error naming the SMILES.
fn encode(smiles: &[String], data: &Qm9Data, device: &Device) -> Result<MoleculeSet> {
    let molecules: Vec<Molecule> = smiles
        .iter()
        .map(|s| Molecule { index: None, smiles: s.clone(), gap_ev: f64::NAN, alpha_bohr3: f64::NAN })
        .collect();
    let rows: Vec<usize> = (0..molecules.len()).collect();
    MoleculeSet::new(&molecules, &rows, &data.preparation, device)
}

/// Codes at the mean and predicted targets (physical units) of SMILES.
fn codes_and_predictions(
    model: &SmilesModel,
    smiles: &[String],
    data: &Qm9Data,
    device: &Device,
) -> Result<(Array2<f64>, Array2<f64>)> {
    let set = encode(smiles, data, device)?;
    let enc = encode_molecules(model, &set, &data.preparation.standardiser, false)?;
    let y = enc.y_hat.ok_or_else(|| Error::Internal("the model has no predictor".into()))?;
    Ok((enc.z, y))
}

/// The model's test-split MAE of gap and alpha.
pub fn test_mae(model: &SmilesModel, data: &Qm9Data) -> Result<[f64; 2]> {
    let enc = encode_molecules(model, &data.test, &data.preparation.standardiser, false)?;
    let y = enc.y_hat.ok_or_else(|| Error::Internal("the model has no predictor".into()))?;
    Ok([column_mae(&y, &data.test.y, 0), column_mae(&y, &data.test.y, 1)])
}

/// Encodes the reference and looks it up in the data.
pub fn reference(
    model: &SmilesModel,
    smiles: &str,
    data: &Qm9Data,
    known: &HashMap<String, Known>,
    device: &Device,
) -> Result<Reference> {
    let (canonical, formula) =
        chem::canonical_and_formula(smiles).map_err(|e| Error::invalid(format!("reference: {e}")))?;
    let (z, y) = codes_and_predictions(model, &[smiles.to_string()], data, device).map_err(|e| {
        let tokens = data.preparation.vocabulary.tokens.iter().skip(3).cloned().collect::<Vec<_>>().join(" ");
        Error::invalid(format!(
            "reference: {e} (the model knows the tokens of its training SMILES: {tokens}; QM9 writes rings in Kekule form, e.g. C1=CC=CO1 rather than c1ccoc1)"
        ))
    })?;
    let found = known.get(&canonical);
    Ok(Reference {
        smiles: smiles.to_string(),
        canonical,
        formula,
        found_in: found.map(|k| k.split.to_string()),
        known: found.map(|k| [data.molecules[k.row].gap_ev, data.molecules[k.row].alpha_bohr3]),
        predicted: [y[[0, 0]], y[[0, 1]]],
        code: z.row(0).to_vec(),
    })
}

/// What generation needs from a model and its data once, whatever the reference.
#[derive(Debug, Clone)]
pub struct Context {
    /// Every molecule of the data by canonical SMILES.
    pub known: HashMap<String, Known>,
    /// The model's test-split MAE of gap and alpha.
    pub test_mae: [f64; 2],
    /// Codes at the mean of the training split, encoded on first use by [`Z0Sampling::Data`].
    train_codes: std::sync::OnceLock<Array2<f64>>,
}

impl Context {
    /// Canonicalises the data and measures the test MAE.
    pub fn new(model: &SmilesModel, data: &Qm9Data) -> Result<Self> {
        check_kind(model.kind)?;
        Ok(Context { known: known_molecules(data), test_mae: test_mae(model, data)?, train_codes: Default::default() })
    }

    /// The training split's codes (encoded once, when first asked for).
    fn train_codes(&self, model: &SmilesModel, data: &Qm9Data) -> Result<&Array2<f64>> {
        if let Some(codes) = self.train_codes.get() {
            return Ok(codes);
        }
        let codes = encode_molecules(model, &data.train, &data.preparation.standardiser, false)?.z;
        Ok(self.train_codes.get_or_init(|| codes))
    }
}

/// Generates from one reference SMILES with a STIB (or STIB without adversary) model.
pub fn generate(
    model: &SmilesModel,
    data: &Qm9Data,
    context: &Context,
    smiles: &str,
    options: &GenerationOptions,
    device: &Device,
) -> Result<Generation> {
    check_kind(model.kind)?;
    check_count(options.n)?;
    // Written as the filter's formulas are, so that H10C7O2 keeps C7H10O2.
    let wanted = options.formula.as_deref().map(chem::hill_formula).transpose()?;
    let (known, test_mae) = (&context.known, context.test_mae);
    let reference = reference(model, smiles, data, known, device)?;
    let formula = wanted.unwrap_or_else(|| reference.formula.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let none = Array2::zeros((0, reference.code.len()));
    let train = if options.sampling == Z0Sampling::Data { context.train_codes(model, data)? } else { &none };
    let codes = sample_codes(&reference.code, model.arch.z0_dim, options.n, options.sampling, train.view(), &mut rng)?;
    let vocabulary = &data.preparation.vocabulary;
    let mut decoded = Vec::with_capacity(options.n);
    let internal = |e: candle_core::Error| Error::Internal(format!("decoding failed: {e}"));
    for start in (0..options.n).step_by(CHUNK) {
        let rows = codes.slice(ndarray::s![start..(start + CHUNK).min(options.n), ..]).to_owned();
        let z = to_tensor(&rows, device).map_err(internal)?;
        let y = Tensor::zeros((rows.nrows(), model.y_dim), candle_core::DType::F32, device).map_err(internal)?;
        for ids in model.greedy(&z, &y).map_err(internal)? {
            let ids: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
            decoded.push(vocabulary.decode(&ids));
        }
    }
    let Filtered { mut counts, survivors, formulas } = filter(&decoded, &formula);
    let smiles: Vec<String> = survivors.iter().map(|s| s.decoded.clone()).collect();
    let mut molecules = Vec::with_capacity(survivors.len());
    if !smiles.is_empty() {
        let (z, y) = codes_and_predictions(model, &smiles, data, device)?;
        for (i, s) in survivors.into_iter().enumerate() {
            let found_in = known.get(&s.canonical).map(|k| k.split.to_string());
            molecules.push(Generated {
                novel: found_in.as_deref() != Some("train"),
                found_in,
                count: s.count,
                latent_distance: distance(&z.row(i).to_vec(), &reference.code),
                gap_ev: y[[i, 0]],
                alpha_bohr3: y[[i, 1]],
                smiles: s.canonical,
            });
        }
    }
    molecules.sort_by(|a, b| a.latent_distance.total_cmp(&b.latent_distance));
    counts.novel = molecules.iter().filter(|m| m.novel).count();
    counts.outside_data = molecules.iter().filter(|m| m.found_in.is_none()).count();
    counts.reference_rebuilt = molecules.iter().filter(|m| m.smiles == reference.canonical).count();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let centre = reference.centre();
    let in_band = |j: usize, v: &dyn Fn(&Generated) -> f64| {
        ratio(molecules.iter().filter(|m| (v(m) - centre[j]).abs() <= test_mae[j]).count(), molecules.len())
    };
    let gaps: Vec<f64> = molecules.iter().map(|m| m.gap_ev).collect();
    let alphas: Vec<f64> = molecules.iter().map(|m| m.alpha_bohr3).collect();
    let summary = GenerationSummary {
        model: model.kind.label().to_string(),
        options: options.clone(),
        formula,
        counts,
        formulas,
        valid_fraction: ratio(counts.valid, counts.samples),
        formula_kept_fraction: ratio(counts.formula_kept, counts.samples),
        unique_fraction: ratio(counts.unique, counts.formula_kept),
        novel_fraction: ratio(counts.novel, counts.unique),
        test_mae,
        gap: Spread::of(&gaps),
        alpha: Spread::of(&alphas),
        gap_in_band: in_band(0, &|m| m.gap_ev),
        alpha_in_band: in_band(1, &|m| m.alpha_bohr3),
        reference,
    };
    Ok(Generation { molecules, summary })
}

impl Generation {
    /// The kept molecules as CSV rows (no header): reference, SMILES, novel, found_in, count,
    /// latent distance, predicted gap and alpha.
    pub fn csv_rows(&self) -> String {
        let mut out = String::new();
        for m in &self.molecules {
            out.push_str(&format!(
                "{},{},{},{},{},{:.6},{:.6},{:.6}\n",
                self.summary.reference.canonical,
                m.smiles,
                m.novel,
                m.found_in.as_deref().unwrap_or(""),
                m.count,
                m.latent_distance,
                m.gap_ev,
                m.alpha_bohr3
            ));
        }
        out
    }
}

/// Header of [`Generation::csv_rows`].
pub const CSV_HEADER: &str = "reference,smiles,novel,found_in,count,latent_distance,gap_ev,alpha_bohr3\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_count_valid_formula_and_unique() {
        let decoded: Vec<String> = [
            "CC(C)(O)C1=CC=CO1", // C7H10O2
            "OC(C)(C)c1ccco1",   // the same molecule, written otherwise
            "CC(C)(O)C1=COC=C1", // C7H10O2, another
            "C1CC",              // invalid: unclosed ring
            "CCO",               // valid, wrong formula
            "",                  // empty: invalid
            "CC(=O)C1OC2(C)CC12",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let Filtered { counts: c, survivors: s, formulas } = filter(&decoded, "C7H10O2");
        assert_eq!((c.samples, c.valid, c.formula_kept, c.unique), (7, 5, 4, 3), "{c:?}");
        assert_eq!(s[0].count, 2);
        assert_eq!(s[0].canonical, chem::canonical("OC(C)(C)c1ccco1").unwrap());
        assert_eq!(s[0].decoded, "CC(C)(O)C1=CC=CO1", "the first spelling is kept for the model");
        assert!(s.iter().all(|m| chem::formula(&m.canonical).unwrap() == "C7H10O2"));
        assert_eq!(formulas, [("C7H10O2".to_string(), 4), ("C2H6O".to_string(), 1)]);
    }
}
