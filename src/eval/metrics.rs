//! Table 1 metrics of the artificial experiment, with the code taken at its mean (z = mu):
//!
//! - MAE(X) = mean over samples of sum over dims |x - x_hat|,
//! - MAE(Y) likewise for the predictor's y (models with a predictor),
//! - MI_K(Z0; Y): KSG estimate (k = 20) in bits between Z0 and y; for the VAE, which has no
//!   Z0, on its whole code, as in the paper.

use candle_core::{DType, Device, Tensor};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::spiral::SpiralSample;
use crate::error::{Error, Result};
use crate::mi::{KsgOptions, ksg_with};
use crate::model::{ModelKind, SpiralModel};

/// Neighbours of the KSG estimate in Table 1.
pub const TABLE1_K: usize = 20;

/// The metrics of one model on one data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// MAE of the reconstructed x.
    pub mae_x: f64,
    /// MAE of the predicted y; `None` for models without a predictor.
    pub mae_y: Option<f64>,
    /// MI_K(Z0; Y) in bits; `None` when not computed.
    pub mi_bits: Option<f64>,
}

/// Codes and outputs of a model on a data set, at z = mu.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The code mu, n x latent.
    pub z: Array2<f64>,
    /// Reconstructed x, n x x_dim.
    pub x_hat: Array2<f64>,
    /// Predicted y, when the model has a predictor.
    pub y_hat: Option<Array2<f64>>,
}

/// Converts an f64 matrix to an f32 tensor.
pub fn to_tensor(a: &Array2<f64>, device: &Device) -> candle_core::Result<Tensor> {
    let v: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    Tensor::from_vec(v, a.dim(), device)
}

/// Converts a 2-D tensor to an f64 matrix.
pub fn to_array(t: &Tensor) -> candle_core::Result<Array2<f64>> {
    let (r, c) = t.dims2()?;
    let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    Array2::from_shape_vec((r, c), v).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// Runs the model at z = mu over the whole sample.
pub fn encode(model: &SpiralModel, data: &SpiralSample, device: &Device) -> Result<Encoded> {
    let run = || -> candle_core::Result<Encoded> {
        let x = to_tensor(&data.x, device)?;
        let y = to_tensor(&data.y, device)?;
        let pass = model.pass(&x, &y, None)?;
        Ok(Encoded {
            z: to_array(&pass.z)?,
            x_hat: to_array(&pass.x_hat)?,
            y_hat: pass.y_hat.as_ref().map(to_array).transpose()?,
        })
    };
    run().map_err(|e| Error::Internal(format!("model evaluation failed: {e}")))
}

/// Mean over rows of the sum over columns of |a - b|.
pub fn mae(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    (a - b).mapv(f64::abs).sum() / a.nrows() as f64
}

/// The Table 1 metrics; the MI only when `with_mi` (it costs a KSG estimate).
pub fn evaluate(model: &SpiralModel, data: &SpiralSample, device: &Device, with_mi: bool) -> Result<Metrics> {
    let enc = encode(model, data, device)?;
    let mae_x = mae(&data.x, &enc.x_hat);
    let mae_y = enc.y_hat.as_ref().map(|y_hat| mae(&data.y, y_hat));
    let mi_bits = if with_mi {
        let z0 = invariant_code(model.kind, model.arch.z0_dim, &enc.z);
        let options = KsgOptions { k: TABLE1_K, ..KsgOptions::default() };
        Some(ksg_with(z0.view(), data.y.view(), &options)?.bits())
    } else {
        None
    };
    Ok(Metrics { mae_x, mae_y, mi_bits })
}

/// The part of the code that should not know y: Z0, or the whole code for the VAE.
pub fn invariant_code(kind: ModelKind, z0_dim: usize, z: &Array2<f64>) -> Array2<f64> {
    match kind {
        ModelKind::Vae => z.clone(),
        _ => z.slice(ndarray::s![.., 0..z0_dim]).to_owned(),
    }
}
