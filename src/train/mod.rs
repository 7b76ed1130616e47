//! Training: configuration, the Adam optimiser, the two objectives, the alternating loop and
//! checkpoints.

pub mod adam;
pub mod checkpoint;
pub mod config;
pub mod objective;
pub mod trainer;

pub use config::Config;
pub use trainer::{Event, Trainer, load_run};
