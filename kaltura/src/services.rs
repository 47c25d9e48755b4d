//! Typed wrappers over the api_v3 actions the project uses.

use crate::client::{Client, Idempotency::*};
use crate::error::{Error, Result};
use crate::ks::{Privileges, SessionType};
use crate::secret::{Ks, Secret};
use crate::types::*;
use serde_json::{Value, json};

/// Codes Kaltura answers with when eSearch is not enabled for a partner.
const ESEARCH_UNAVAILABLE: &[&str] = &[
    "SERVICE_FORBIDDEN",
    "FEATURE_FORBIDDEN",
    "SERVICE_DOES_NOT_EXISTS",
    "SERVICE_ACCESS_CONTROL_RESTRICTED",
];

/// Which backend answered a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchBackend {
    ESearch,
    MediaList,
}

#[derive(Debug, Clone)]
pub struct SearchResults {
    pub entries: Vec<MediaEntry>,
    pub total_count: i64,
    pub backend: SearchBackend,
}

impl Client {
    /// `session.start`: ask Kaltura for a KS (the secret travels to Kaltura, never to a log).
    pub async fn session_start(
        &self,
        secret: &Secret,
        user_id: &str,
        session_type: SessionType,
        expiry_secs: i64,
        privileges: &Privileges,
    ) -> Result<Ks> {
        let params = json!({
            "secret": secret.expose(),
            "userId": user_id,
            "type": session_type.code(),
            "partnerId": self.config().partner_id,
            "expiry": expiry_secs,
            "privileges": privileges.to_string(),
        });
        match self.call("session", "start", params, Idempotent).await? {
            Value::String(ks) => Ok(Ks::new(ks)),
            other => Err(Error::Decode(format!(
                "session.start returned {}",
                kind(&other)
            ))),
        }
    }

    pub async fn media_list(
        &self,
        filter: &MediaFilter,
        pager: Pager,
    ) -> Result<ListResponse<MediaEntry>> {
        let params = json!({"filter": filter.to_value(), "pager": pager.to_value()});
        self.call_as("media", "list", params, Idempotent).await
    }

    pub async fn media_get(&self, entry_id: &str) -> Result<MediaEntry> {
        self.call_as("media", "get", json!({"entryId": entry_id}), Idempotent)
            .await
    }

    /// eSearch `searchEntry` over names, descriptions and tags (partial match); when the partner has
    /// no eSearch, the same query as `media.list` free text.
    pub async fn search_entries(&self, text: &str, pager: Pager) -> Result<SearchResults> {
        let params = json!({
            "searchParams": {
                "objectType": "KalturaESearchEntryParams",
                "searchOperator": {
                    "objectType": "KalturaESearchEntryOperator",
                    "operator": 1,
                    "searchItems": [{
                        "objectType": "KalturaESearchUnifiedItem",
                        "searchTerm": text,
                        "itemType": 2,
                        "addHighlight": false,
                    }],
                },
            },
            "pager": pager.to_value(),
        });
        match self
            .call("elasticsearch_esearch", "searchEntry", params, Idempotent)
            .await
        {
            Ok(value) => {
                let response: ListResponse<Value> = serde_json::from_value(value)
                    .map_err(|e| Error::Decode(format!("searchEntry: {e}")))?;
                let entries = response
                    .objects
                    .into_iter()
                    .map(|result| {
                        let object = result.get("object").cloned().unwrap_or(Value::Null);
                        serde_json::from_value(object)
                            .map_err(|e| Error::Decode(format!("searchEntry object: {e}")))
                    })
                    .collect::<Result<Vec<MediaEntry>>>()?;
                Ok(SearchResults {
                    entries,
                    total_count: response.total_count,
                    backend: SearchBackend::ESearch,
                })
            }
            Err(Error::Api(err)) if ESEARCH_UNAVAILABLE.contains(&err.code.as_str()) => {
                tracing::debug!(code = %err.code, "eSearch unavailable, falling back to media.list");
                let filter = MediaFilter {
                    free_text: Some(text.to_string()),
                    ..MediaFilter::default()
                };
                let list = self.media_list(&filter, pager).await?;
                Ok(SearchResults {
                    entries: list.objects,
                    total_count: list.total_count,
                    backend: SearchBackend::MediaList,
                })
            }
            Err(err) => Err(err),
        }
    }

    /// `category.list`, optionally under one parent.
    pub async fn category_list(
        &self,
        parent_id: Option<i64>,
        pager: Pager,
    ) -> Result<ListResponse<Category>> {
        let mut filter = json!({"objectType": "KalturaCategoryFilter"});
        if let Some(parent) = parent_id {
            filter["parentIdEqual"] = parent.into();
        }
        let params = json!({"filter": filter, "pager": pager.to_value()});
        self.call_as("category", "list", params, Idempotent).await
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
