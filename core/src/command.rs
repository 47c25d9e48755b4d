//! The slash commands' vocabulary.

/// Version of the command set's shape, bumped when options change incompatibly (see the
/// version policy in docs/). Reported in GuildConfig status next to the content hash.
pub const COMMAND_SET_VERSION: &str = "1";
