//! One module per subcommand: argument struct plus a `run` function.

pub mod crds;
pub mod sandbox;
pub mod validate;
