//! Figure 4 of the paper for one trained model: the first dimension of Z0 against Z1 (for the
//! VAE, its first two dimensions), and the reconstructed x and predicted y, all coloured by
//! 10 equal-width bins of t.

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::metrics::encode;
use crate::data::spiral::SpiralSample;
use crate::error::Result;
use crate::model::{ModelKind, SpiralModel};
use crate::plot::scatter::{Scatter, write};

/// Writes `latent`, `reconstruction` and (with a predictor) `prediction` as PNG and SVG into
/// `dir`; returns the files written.
pub fn spiral_figures(model: &SpiralModel, data: &SpiralSample, device: &Device, dir: &Path) -> Result<Vec<PathBuf>> {
    let enc = encode(model, data, device)?;
    let t = data.t.to_vec();
    let label = model.kind.label();
    let col = |a: &ndarray::Array2<f64>, j: usize| a.column(j).to_vec();
    let (lx, ly, xl, yl) = match model.kind {
        ModelKind::Vae => (col(&enc.z, 0), col(&enc.z, 1), "z dim 1", "z dim 2"),
        ModelKind::Cvae | ModelKind::Cvib => (col(&enc.z, 0), col(&enc.z, 1), "Z0 dim 1", "Z0 dim 2"),
        _ => (col(&enc.z, 0), col(&enc.z, model.arch.z0_dim), "Z0 dim 1", "Z1"),
    };
    let panel = |name: &str, title: String, axes: (&str, &str), xs: &[f64], ys: &[f64]| {
        let scatter = Scatter {
            title,
            x_label: axes.0.into(),
            y_label: axes.1.into(),
            xs,
            ys,
            colour_by: &t,
            colour_label: "t".into(),
            colour_range: None,
        };
        write(&dir.join(name), &scatter)
    };
    let mut files = panel("latent", format!("{label}: latent space (z = mu)"), (xl, yl), &lx, &ly)?;
    let (rx, ry) = (col(&enc.x_hat, 0), col(&enc.x_hat, 1));
    files.extend(panel("reconstruction", format!("{label}: reconstructed x"), ("x0", "x1"), &rx, &ry)?);
    if let Some(y_hat) = &enc.y_hat {
        let (px, py) = (col(y_hat, 0), col(y_hat, 1));
        files.extend(panel("prediction", format!("{label}: predicted y"), ("y0", "y1"), &px, &py)?);
    }
    Ok(files)
}
