//! # stib: the Symmetry-Transformation Information Bottleneck
//!
//! STIB (Wieser et al., "Inverse Learning of Symmetries", NeurIPS 2020) learns, from samples
//! (x, y) alone, the transformations of x that leave a property y unchanged. An encoder maps x
//! to a latent z = (Z0, Z1): Z1 holds everything about y, Z0 the rest of x and nothing about y.
//! Decoders rebuild x from z and y from Z1; an adversary tries to predict y from Z0, and the
//! Gaussian mutual information it finds (after a learned bijection of y) is driven to zero by
//! alternating two optimisation steps. Moving in Z0 then changes x but not y.
//!
//! ## Module map
//! - [`data`]: the artificial spiral process, numeric CSV tables, QM9 loaders, SMILES tokens,
//!   molecules split and encoded for a model.
//! - [`chem`]: SMILES validity, canonical form, formula and depiction (over `cosmolkit`).
//! - [`mi`]: mutual information estimators: KSG (evaluation) and Gaussian (paper Eq. 8-9).
//! - [`model`]: encoder, decoder, predictor, adversary, bijection; the five models, as MLPs
//!   (artificial experiment) and over SMILES (QM9 experiment).
//! - [`train`]: configuration, objectives (Eq. 6-7), the alternating loop, the refit of the
//!   decoder and predictor on the mean code after it, checkpoints.
//! - [`eval`]: the Table 1 metrics and Figures 4 and 5.
//! - [`generate`]: new inputs with a reference's property: fix Z1, sample Z0 (Figure 6).
//! - [`kernels`]: fused CPU kernels for training (layers, MI term, Adam) and their checks
//!   against candle's plain ops.
//! - [`plot`]: figures (PNG and SVG).
//! - [`cli`]: the `stib` command line.
//! - [`error`]: the one error type.

#![warn(missing_docs)]

pub mod chem;
pub mod cli;
pub mod data;
pub mod error;
pub mod eval;
pub mod generate;
pub mod kernels;
pub mod mi;
pub mod model;
pub mod plot;
pub mod train;

pub use error::{Error, Result};
