//! INT8 kernels: u8×i8→i32 GEMM with weight pre-packing, and requantization, with
//! run-time choice of the instruction-set tier ([`isa`]).
//!
//! # Design
//! - Usage: `PackedWeights::pack(selected_tier(), ...)` once per weight matrix, then
//!   [`gemm_u8i8_i32`] per call (it runs on the tier the weights were packed for), then
//!   [`requant::requantize_u8`] / [`requant::requantize_i8`].
//! - Every tier produces bit-identical i32 accumulators; the scalar tier and
//!   [`reference_gemm_u8i8_i32`] are the references the tests hold the others to.
//! - One configuration record per tier (`config.rs`) holds tile sizes, the packing format
//!   and the microkernel; the driver (`gemm.rs`) is shared.
//! - Zero points enter through B's precomputed column sums (which seed the accumulators)
//!   and A's row sums (a pass after the block, only when some weight zero point is
//!   nonzero), so the inner loops multiply raw u8 and i8 values.
//!
//! # Kernel naming grammar
//! `<isa>_<op>_<types>[_<MR>x<NR>]`, for example `avx512vnni_gemm_u8s8_8x32`:
//! - `<isa>`: the instructions the kernel needs: a tier name ([`Tier::name`]: `scalar`,
//!   `avx2`, `avxvnni`, `avx512vnni`, `amx`), or `avx512` for a kernel needing only
//!   AVX-512F, shared by the tiers that have it;
//! - `<op>`: `gemm` (GEMM microkernel), `requant` (i32 → 8-bit requantization);
//! - `<types>`: input element types in `u8`/`s8`/`s32` spelling, A before B (`u8s8` = u8
//!   activations × s8 weights); `requant_s32` writes u8 or s8, as asked;
//! - `<MR>x<NR>`: rows × columns of C one microkernel call computes (GEMM only).
//!
//! Examples: `scalar_gemm_u8s8_4x4`, `avx2_gemm_u8s8_4x16`, `amx_gemm_u8s8_32x32`,
//! `avx512_requant_s32`.

mod a_block;
mod aligned;
pub mod bench;
mod c_tiles;
mod config;
mod error;
mod gemm;
pub mod isa;
pub(crate) mod microkernels;
pub mod ops;
mod packed;
mod reference;
pub mod requant;

pub use config::gemm_kernel_name;
pub use error::{Int8Error, Result};
pub use gemm::{gemm_u8i8_i32, BZeroPoints};
pub use isa::{available_tiers, selected_tier, Tier};
pub use packed::{PackedWeights, WeightLayout};
pub use reference::reference_gemm_u8i8_i32;
