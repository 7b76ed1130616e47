//! Evaluation: the Table 1 metrics and the latent-space figures of both experiments.

pub mod codes;
pub mod figures;
pub mod metrics;
pub mod probe;
pub mod projection;
pub mod qm9_figures;
pub mod qm9_metrics;
pub mod qm9_table;
pub mod table;

pub use metrics::{Metrics, evaluate};
