//! The latent codes of a trained run as a table, for analysis outside `stib`: one row per
//! sample with what identifies it, its targets, the model's predictions and the code z = mu in
//! named columns (`z0_*` and `z1_*`; the VAE, which has no split, `z_*`). With it,
//! `stib mi codes.csv --x 'z0_*' --y y0,y1` gives the Table 1 figure MI_K(Z0; Y) again, and
//! any other question about the code can be asked of it.

use candle_core::Device;

use super::metrics::encode;
use super::qm9_metrics::{encode_molecules, is_exact};
use crate::data::molecule_set::{MoleculeSet, Split, Standardiser, TARGETS};
use crate::data::smiles::Vocabulary;
use crate::data::spiral::SpiralSample;
use crate::error::{Error, Result};
use crate::model::{ModelKind, SmilesModel, SpiralModel};

/// A table of codes: a header and rows of the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeTable {
    /// Column names.
    pub header: Vec<String>,
    /// One row per sample.
    pub rows: Vec<Vec<String>>,
}

impl CodeTable {
    /// The table as CSV text.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let internal = |e: csv::Error| Error::Internal(e.to_string());
        w.write_record(&self.header).map_err(internal)?;
        for row in &self.rows {
            w.write_record(row).map_err(internal)?;
        }
        w.into_inner().map_err(|e| Error::Internal(e.to_string()))
    }
}

/// Names of the code's columns: `z0_0 ..` for Z0 and `z1_0 ..` for Z1; the VAE's code is one
/// block, `z_0 ..`; CVAE and CVIB codes are Z0 only.
pub fn code_columns(kind: ModelKind, z0_dim: usize, latent: usize) -> Vec<String> {
    (0..latent)
        .map(|i| match kind {
            ModelKind::Vae => format!("z_{i}"),
            _ if i < z0_dim => format!("z0_{i}"),
            _ => format!("z1_{}", i - z0_dim),
        })
        .collect()
}

/// Codes of a spiral model on `data`: x0, x1, y0, y1, t, the predicted y (`y0_pred`,
/// `y1_pred`; models with a predictor), then the code.
pub fn spiral_codes(model: &SpiralModel, data: &SpiralSample, device: &Device) -> Result<CodeTable> {
    let enc = encode(model, data, device)?;
    let mut header: Vec<String> = ["x0", "x1", "y0", "y1", "t"].map(String::from).to_vec();
    if enc.y_hat.is_some() {
        header.extend(["y0_pred", "y1_pred"].map(String::from));
    }
    header.extend(code_columns(model.kind, model.arch.z0_dim, enc.z.ncols()));
    let rows = (0..data.len())
        .map(|i| {
            let mut row: Vec<f64> = vec![data.x[[i, 0]], data.x[[i, 1]], data.y[[i, 0]], data.y[[i, 1]], data.t[i]];
            if let Some(y_hat) = &enc.y_hat {
                row.extend(y_hat.row(i).iter());
            }
            row.extend(enc.z.row(i).iter());
            row.iter().map(f64::to_string).collect()
        })
        .collect();
    Ok(CodeTable { header, rows })
}

/// Codes of a SMILES model on every molecule of `all` (in the data's order, as `split` counts
/// them): smiles, split (train, validation or test), the greedy reconstruction from z = mu
/// (`reconstruction`, decoded with `vocab`), whether it is exact (`exact`, 1 or 0, as the
/// accuracy counts it) and whether it is a valid SMILES at all (`valid`, 1 or 0), gap_ev,
/// alpha_bohr3, the predictions (`gap_ev_pred`, `alpha_bohr3_pred`; models with a
/// predictor), then the code.
pub fn molecule_codes(
    model: &SmilesModel,
    all: &MoleculeSet,
    sd: &Standardiser,
    split: &Split,
    vocab: &Vocabulary,
) -> Result<CodeTable> {
    let enc = encode_molecules(model, all, sd, true)?;
    let mut part = vec![""; all.len()];
    for (name, rows) in [("train", &split.train), ("validation", &split.validation), ("test", &split.test)] {
        for &r in rows.iter() {
            if let Some(p) = part.get_mut(r) {
                *p = name;
            }
        }
    }
    let targets: Vec<String> =
        TARGETS.iter().map(|(name, unit)| format!("{name}_{unit}").replace('^', "").to_lowercase()).collect();
    let mut header: Vec<String> = ["smiles", "split", "reconstruction", "exact", "valid"].map(String::from).to_vec();
    header.extend(targets.iter().cloned());
    if enc.y_hat.is_some() {
        header.extend(targets.iter().map(|t| format!("{t}_pred")));
    }
    header.extend(code_columns(model.kind, model.arch.z0_dim, enc.z.ncols()));
    let rows = (0..all.len())
        .map(|i| {
            let decoded = &enc.decoded[i];
            let ids: Vec<usize> = decoded.iter().map(|&t| t as usize).collect();
            let exact = is_exact(decoded, &all.ids[i]);
            let reconstruction = vocab.decode(&ids);
            let valid = u8::from(crate::chem::is_valid(&reconstruction)).to_string();
            let mut row =
                vec![all.smiles[i].clone(), part[i].to_string(), reconstruction, u8::from(exact).to_string(), valid];
            let mut numbers: Vec<f64> = all.y.row(i).to_vec();
            if let Some(y_hat) = &enc.y_hat {
                numbers.extend(y_hat.row(i).iter());
            }
            numbers.extend(enc.z.row(i).iter());
            row.extend(numbers.iter().map(f64::to_string));
            row
        })
        .collect();
    Ok(CodeTable { header, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_columns_follow_the_split() {
        assert_eq!(code_columns(ModelKind::Stib, 2, 3), ["z0_0", "z0_1", "z1_0"]);
        assert_eq!(code_columns(ModelKind::StibNoAdversary, 1, 2), ["z0_0", "z1_0"]);
        assert_eq!(code_columns(ModelKind::Vae, 2, 3), ["z_0", "z_1", "z_2"]);
        assert_eq!(code_columns(ModelKind::Cvae, 2, 2), ["z0_0", "z0_1"]);
    }
}
