//! kd-kaltura against the Kaltura sandbox (and the official Python client for KS interop).

mod client;
mod common;
mod ks_interop;
mod meetings;
mod renewal;
mod webhooks;
