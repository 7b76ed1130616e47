//! Where the networks run: the global `--device` option (`auto`, `cpu`, `cuda`, `cuda:N`).
//!
//! `auto`, the default, takes the first GPU when `stib` was built with the `cuda` feature and
//! one answers, else the CPU. Naming a GPU makes its absence an error instead of a silent
//! fall-back, and `cpu` keeps a cuda build off the GPU. Every command that builds networks asks
//! [`device`], so the choice holds for all of them.

use std::str::FromStr;
use std::sync::OnceLock;

use candle_core::{Device, DeviceLocation};

use crate::error::{Error, Result};

/// A `--device` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The first GPU if the build has the `cuda` feature and one answers, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The GPU of this index (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a device: expected auto, cpu, cuda or cuda:N (N the GPU's index, from 0)");
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => {
                let index = other.strip_prefix("cuda:").or_else(|| other.strip_prefix("gpu:")).ok_or_else(bad)?;
                index.parse().map(DeviceChoice::Cuda).map_err(|_| bad())
            }
        }
    }
}

/// The choice made on the command line; unset means [`DeviceChoice::Auto`].
static CHOICE: OnceLock<DeviceChoice> = OnceLock::new();

/// Records the command line's `--device` for every later [`device`] call. Only the first call
/// counts (the binary makes it once, before any command runs).
pub fn choose(choice: DeviceChoice) {
    let _ = CHOICE.set(choice);
}

/// The compute device of the recorded choice. A named GPU that cannot be opened, or any GPU in
/// a build without the `cuda` feature, is a user error naming the device and the reason.
pub fn device() -> Result<Device> {
    open(CHOICE.get().copied().unwrap_or_default())
}

/// Opens the device of `choice`.
pub fn open(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(open_gpu(0).unwrap_or(Device::Cpu)),
        DeviceChoice::Cuda(index) => {
            open_gpu(index).map_err(|reason| Error::invalid(format!("--device cuda:{index}: {reason}")))
        }
    }
}

/// GPU `index`, or why not.
#[cfg(feature = "cuda")]
fn open_gpu(index: usize) -> std::result::Result<Device, String> {
    Device::new_cuda(index).map_err(|e| e.to_string())
}

/// Without the `cuda` feature there is no GPU to open.
#[cfg(not(feature = "cuda"))]
fn open_gpu(_index: usize) -> std::result::Result<Device, String> {
    Err("this stib was built without the `cuda` feature; build it with `cargo build --release --features cuda`, \
         or leave out --device to train on the CPU"
        .into())
}

/// The device in words, for the lines that announce a training: "the CPU" or "GPU cuda:N".
pub fn describe(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "the CPU".into(),
        DeviceLocation::Cuda { gpu_id } => format!("GPU cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("GPU metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_and_names_the_bad_ones() {
        let ok = [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("CPU", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("gpu", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
            ("gpu:1", DeviceChoice::Cuda(1)),
        ];
        for (text, want) in ok {
            assert_eq!(text.parse::<DeviceChoice>(), Ok(want), "{text}");
        }
        for bad in ["", "tpu", "cuda:", "cuda:-1", "cuda:x", "cuda0", "metal"] {
            let e = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(e.contains(&format!("'{bad}'")) && e.contains("cuda:N"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_cpu_is_always_there_and_auto_falls_back_to_it() {
        assert!(open(DeviceChoice::Cpu).unwrap().is_cpu());
        assert_eq!(describe(&open(DeviceChoice::Cpu).unwrap()), "the CPU");
        let auto = open(DeviceChoice::Auto).unwrap();
        if cfg!(not(feature = "cuda")) {
            assert!(auto.is_cpu());
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_gpu_without_the_cuda_feature_is_a_user_error() {
        let e = open(DeviceChoice::Cuda(1)).unwrap_err();
        assert!(e.is_user_error());
        let text = e.to_string();
        assert!(text.contains("--device cuda:1") && text.contains("--features cuda"), "{text}");
    }
}
