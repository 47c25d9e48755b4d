//! The slash commands' vocabulary: names, features, options and permission keys. It lives in
//! `kd-crds`, whose GuildConfig schema checks permission keys against it (and which the core
//! builds on); the adapters name commands through here.

pub use kd_crds::command::{Command, ConfigAction, Feature, NotifyAction, Opt};

/// Version of the command set's shape, bumped when options change incompatibly (see the
/// version policy in docs/). Reported in GuildConfig status next to the content hash.
pub const COMMAND_SET_VERSION: &str = "1";
