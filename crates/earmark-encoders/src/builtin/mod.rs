//! Built-in encoders: small models defined in this crate that need no download.
//!
//! - [`scratch`]: a 1-D CNN over log-mel frames ([`ScratchCnn`]), trainable end to end from
//!   weak labels through a candle-nn [`VarMap`](candle_nn::VarMap); [`ScratchEncoder`] wraps it
//!   as an [`Encoder`](crate::Encoder) with seeded random or saved (safetensors) weights. It is
//!   the scratch baseline of the workflow and the embedded default model.
//! - [`init_seeded`]: deterministic Kaiming-uniform initialisation of a `VarMap` from a seed, with
//!   an own RNG (candle's CPU RNG cannot be seeded).

pub mod conv2d;
pub mod pcen;
pub mod scratch;

pub use scratch::{init_seeded, ScratchCnn, ScratchConfig, ScratchEncoder};
