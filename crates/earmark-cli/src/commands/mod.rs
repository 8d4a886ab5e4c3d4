//! One module per subcommand.

pub mod features;
pub mod info;
