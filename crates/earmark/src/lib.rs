//! earmark's facade: what turns the pure crates into a tool — finding model files (paths, the
//! Hugging Face cache, hf-hub downloads, torchaudio's cache), and later the pipeline, the embedding
//! cache and detector bundles.
//!
//! ```no_run
//! use earmark::hub::{resolve_hf_model, HubOptions};
//! let folder = resolve_hf_model("facebook/hubert-base-ls960", &HubOptions::from_env())?;
//! println!("config at {}", folder.join("config.json").display());
//! # Ok::<(), earmark::hub::HubError>(())
//! ```

pub mod adapt;
pub mod annotations;
pub mod atomic;
pub mod cache;
pub mod demo;
pub mod detector;
pub mod embed;
pub mod evaluate;
pub mod hub;
pub mod models;
pub mod npy;
pub mod npz;
pub mod scan;
pub mod workflow;
