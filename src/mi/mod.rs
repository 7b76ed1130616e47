//! Mutual information estimators.
//!
//! - [`ksg`](mod@ksg): the Kraskov-Stoegbauer-Grassberger k-nearest-neighbour estimator, used to
//!   evaluate how much a latent space knows about a property (Table 1's MI_K).
//! - [`gaussian`]: the mutual information of two Gaussian vectors from correlation matrices
//!   (paper Eq. 8-9), the quantity STIB's adversary maximises and its encoder minimises.

pub mod digamma;
pub mod gaussian;
pub mod ksg;
pub mod neighbours;

pub use gaussian::gaussian_mi;
pub use ksg::{KsgEstimate, KsgOptions, Ties, ksg, ksg_with};
