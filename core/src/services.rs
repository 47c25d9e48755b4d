//! What the operations talk to: the store, the partners' Kaltura clients, and the key of join
//! links. The bot and the HTTP server each hold these and lend them per request.

use crate::join_token::JoinKey;
use crate::kaltura::KalturaClients;
use kd_store::Store;

#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub store: &'a Store,
    pub kaltura: &'a KalturaClients,
    pub join_key: &'a JoinKey,
}
