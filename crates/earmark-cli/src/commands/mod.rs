//! One module per subcommand.

pub mod demo;
pub mod embed;
pub mod eval;
pub mod features;
pub mod info;
pub mod models;
pub mod predict;
pub mod scan;
pub mod serve;
pub mod synth;
pub mod train;
pub mod workflow;
