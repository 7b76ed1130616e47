//! Figure 5 of the paper for one trained SMILES model: Z1 (its two dimensions, or its first two
//! principal components when it has more; see [`principal_plane`]), coloured by 10
//! equal-width bins of the gap (one figure) and of alpha (another), in four panels, each
//! holding the molecules of one of 10 equal-width sections along the first Z0 dimension (the
//! four most populated). If Z0 knows nothing of the properties, the colour stripes look the
//! same in every panel. The VAE, which has no Z1, shows its whole code that way; CVAE and
//! CVIB, which have no Z1 either, their Z0.

use std::path::{Path, PathBuf};

use super::projection::principal_plane;
use super::qm9_metrics::encode_molecules;
use crate::data::molecule_set::{MoleculeSet, Standardiser};
use crate::error::Result;
use crate::model::{ModelKind, SmilesModel};
use crate::plot::scatter::{BINS, Scatter, bins, extremes, write_grid};

/// Number of Z0 sections shown.
pub const PANELS: usize = 4;

/// Writes `fig5_gap` and `fig5_alpha` (PNG and SVG) into `dir`; returns the files.
pub fn qm9_figures(model: &SmilesModel, set: &MoleculeSet, sd: &Standardiser, dir: &Path) -> Result<Vec<PathBuf>> {
    let enc = encode_molecules(model, set, sd, false)?;
    let z0 = model.arch.z0_dim;
    let latent = enc.z.ncols();
    let (shown, space) = match model.kind {
        ModelKind::Vae => (0..latent, "z"),
        ModelKind::Cvae | ModelKind::Cvib => (0..latent, "Z0"),
        _ => (z0..latent, "Z1"),
    };
    let plane = principal_plane(enc.z.slice(ndarray::s![.., shown]), space);
    let section = bins(&enc.z.column(0).to_vec());
    let mut counts = [0usize; BINS];
    section.iter().for_each(|&s| counts[s] += 1);
    let mut chosen: Vec<usize> = (0..BINS).collect();
    chosen.sort_by_key(|&s| std::cmp::Reverse(counts[s]));
    chosen.truncate(PANELS);
    chosen.sort_unstable();
    let mut files = Vec::new();
    for (j, (target, unit)) in crate::data::molecule_set::TARGETS.iter().enumerate() {
        let values = set.y.column(j).to_vec();
        let range = extremes(&values);
        let mut data = Vec::new();
        for &s in &chosen {
            let rows: Vec<usize> = (0..set.len()).filter(|&i| section[i] == s).collect();
            let pick = |c: usize| rows.iter().map(|&i| plane.coords[[i, c]]).collect::<Vec<f64>>();
            data.push((s, pick(0), pick(1), rows.iter().map(|&i| values[i]).collect::<Vec<f64>>()));
        }
        let panels: Vec<Scatter> = data
            .iter()
            .map(|(s, xs, ys, cs)| Scatter {
                title: format!("{}: Z0 section {} of {BINS} ({} molecules)", model.kind.label(), s + 1, xs.len()),
                x_label: plane.names[0].clone(),
                y_label: plane.names[1].clone(),
                xs,
                ys,
                colour_by: cs,
                colour_label: format!("{target} ({unit})"),
                colour_range: Some(range),
            })
            .collect();
        files.extend(write_grid(&dir.join(format!("fig5_{target}")), &panels, 2)?);
    }
    Ok(files)
}
