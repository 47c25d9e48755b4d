//! API types of the kaltura-discord custom resources (filled in by the foundation work).
