//! One module per subcommand: argument struct plus a `run` function.

pub mod bot;
pub mod crds;
pub mod http;
pub mod kaltura;
pub mod logs;
pub mod operator;
pub mod render;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod serve;
pub mod status;
#[cfg(feature = "sandbox")]
pub mod up;
pub mod validate;
pub mod workload;
