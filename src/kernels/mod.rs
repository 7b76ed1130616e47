//! Fused CPU kernels: the training step's hot operations, each computed in one pass with a
//! hand-written backward, in place of chains of candle's element-wise ops.
//!
//! - [`dense`]: a layer act(x W^T + b) (softplus or none) as one op; its backward gives the
//!   input, weight and bias gradients from one intermediate.
//! - [`gaussian_ir`]: the Gaussian MI block of Eq. 8-9 with its analytic gradient, in f64.
//! - [`adam`]: the Adam update of one parameter in place, moments in plain buffers.
//! - [`elementwise`]: softplus and its derivative as SIMD loops; [`matmul`]: row-major
//!   products on the `gemm` crate.
//!
//! The plain path (candle's own ops and autodiff) stays the reference: [`Kernels::Plain`]
//! selects it, the tests check that both give the same values and gradients, and every
//! non-CPU device (the `cuda` build) uses it.

use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor};
use serde::{Deserialize, Serialize};

/// Which implementation of the layers, the MI term and Adam a model trains with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// The fused kernels of this module on the CPU (candle's ops on other devices).
    #[default]
    Fused,
    /// candle's own tensor ops and autodiff everywhere: the reference.
    Plain,
}

/// Whether the fused kernels can take this tensor (an `f32` tensor on the CPU).
pub fn supports(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

/// The values of a contiguous `f32` CPU storage.
pub(crate) fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused kernels take contiguous tensors only".into()))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// `f` applied to the values of a contiguous `f32` CPU tensor, read in place.
pub(crate) fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(values(cpu, layout)?),
        _ => candle_core::bail!("fused kernels take CPU tensors only"),
    }
}

/// Element-wise loops over slices at least this long are split across the thread pool, in
/// chunks of this length, when the pool has more than one thread.
pub(crate) const PARALLEL_CHUNK: usize = 1 << 15;

/// Whether an element-wise loop over `len` values is split across threads.
pub(crate) fn split_across_threads(len: usize) -> bool {
    len >= 2 * PARALLEL_CHUNK && candle_core::utils::get_num_threads() > 1
}

/// Calls `$body(args)`, an `#[inline(always)]` loop, compiled for AVX-512, for AVX2 + FMA or
/// for the baseline, whichever the CPU has (Rust contracts no multiply-add into an FMA, so all
/// three round alike). Defined before the submodules, which see it by textual scope.
macro_rules! simd_dispatch {
    ($body:ident($($arg:ident: $ty:ty),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            fn avx512($($arg: $ty),*) {
                $body($($arg),*)
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) {
                $body($($arg),*)
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { avx512($($arg),*) };
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                return unsafe { avx2($($arg),*) };
            }
        }
        $body($($arg),*)
    }};
}

pub mod adam;
pub mod dense;
pub mod elementwise;
pub mod gaussian_ir;
pub mod matmul;
