//! Training: configuration, the Adam optimiser, the weights' moving average, the two
//! objectives, the alternating loop, the refit after it and checkpoints.

pub mod adam;
pub mod alternating;
pub mod averaging;
pub mod checkpoint;
pub mod config;
pub mod objective;
pub mod qm9_config;
pub mod refit;
pub mod smiles_trainer;
pub mod trainer;

pub use config::Config;
pub use trainer::{Event, Trainer, load_run};
