//! Evaluation: the Table 1 metrics and the latent-space figures.

pub mod figures;
pub mod metrics;
pub mod table;

pub use metrics::{Metrics, evaluate};
