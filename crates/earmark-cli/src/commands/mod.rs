//! One module per subcommand.

pub mod embed;
pub mod features;
pub mod info;
pub mod models;
