//! Kaltura API v3 client for kaltura-discord: KS v1/v2, sessions, media and eSearch, users,
//! roles and categories, Kaltura Meetings rooms (schedule plugin), and webhook verification.
//!
//! Secrets and KS values are wrapped in [`Secret`] and [`Ks`], whose `Debug` output is redacted.

pub mod client;
pub mod error;
pub mod ks;
pub mod meetings;
mod secret;
pub mod services;
pub mod types;
pub mod users;
pub mod webhook;

pub use client::{
    Client, ClientConfig, Idempotency, MultiRequest, RenewKs, install_crypto_provider,
};
pub use error::{ApiError, Error, Result};
pub use ks::{KsError, KsFields, KsRequest, KsVersion, Privileges, SessionType};
pub use meetings::{Attendee, Meeting, MeetingRole, NewMeeting, join_link};
pub use secret::{Ks, Secret};
pub use services::{SearchBackend, SearchResults};
pub use users::{UserError, UserFilter};
