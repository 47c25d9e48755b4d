//! The api_v3 transport: JSON requests (`format=1`), in-band error decoding, timeouts,
//! retries with backoff for idempotent calls only, and one retry with a fresh KS when Kaltura
//! refuses the one sent.

use crate::error::{ApiError, Error, Result};
use crate::secret::Ks;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::{Arc, Once};
use std::time::Duration;

/// Where and how to reach Kaltura.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://www.kaltura.com` (no `/api_v3`).
    pub service_url: String,
    pub partner_id: i64,
    pub timeout: Duration,
    /// Extra attempts for idempotent calls after a transient failure.
    pub max_retries: u32,
    /// First backoff; doubles after each retry.
    pub retry_backoff: Duration,
    pub client_tag: String,
}

impl ClientConfig {
    pub fn new(service_url: impl Into<String>, partner_id: i64) -> ClientConfig {
        ClientConfig {
            service_url: service_url.into().trim_end_matches('/').to_string(),
            partner_id,
            timeout: Duration::from_secs(15),
            max_retries: 3,
            retry_backoff: Duration::from_millis(200),
            client_tag: "kaltura-discord".to_string(),
        }
    }
}

/// Whether a call may be sent twice. Reads (get, list, search) may; writes (add, update) may not,
/// since a timeout does not say whether Kaltura applied them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    NotIdempotent,
}

/// Mints a new KS when Kaltura refuses the one a client sent (`INVALID_KS`: expired early,
/// revoked, or signed with a secret that has since been rotated).
pub trait RenewKs: Send + Sync {
    /// A fresh KS, or `None` when none can be made (the refusal then stands).
    fn renew(&self) -> Option<Ks>;
}

/// A Kaltura API client. Cheap to clone; [`Client::with_ks`] gives a copy that sends a KS, and
/// [`Client::with_renewal`] one that asks for a new KS once when Kaltura refuses it.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    ks: Option<Ks>,
    renewal: Option<Arc<dyn RenewKs>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("ks", &self.ks)
            .field("renews", &self.renewal.is_some())
            .finish()
    }
}

/// reqwest is built without a default TLS provider; install *ring* once per process.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(Error::from)?;
        Ok(Client {
            http,
            config: Arc::new(config),
            ks: None,
            renewal: None,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn ks(&self) -> Option<&Ks> {
        self.ks.as_ref()
    }

    /// A client that sends `ks` with every call.
    pub fn with_ks(&self, ks: Ks) -> Client {
        Client {
            ks: Some(ks),
            ..self.clone()
        }
    }

    /// A client that, when Kaltura refuses its KS, gets a new one from `renewal` and sends the
    /// call once more. Safe for writes too: a refused KS means the action did not run.
    pub fn with_renewal(&self, renewal: Arc<dyn RenewKs>) -> Client {
        Client {
            renewal: Some(renewal),
            ..self.clone()
        }
    }

    /// The copy to retry with after a refused KS: a fresh KS and no further renewal.
    fn renewed(&self, service: &str, action: &str) -> Option<Client> {
        let ks = self.renewal.as_ref()?.renew()?;
        tracing::info!(
            service,
            action,
            "Kaltura refused the session; retrying once with a new one"
        );
        Some(Client {
            ks: Some(ks),
            renewal: None,
            ..self.clone()
        })
    }

    fn base_params(&self) -> Map<String, Value> {
        let mut params = Map::new();
        params.insert("format".into(), 1.into());
        params.insert("partnerId".into(), self.config.partner_id.into());
        params.insert("clientTag".into(), self.config.client_tag.clone().into());
        if let Some(ks) = &self.ks {
            params.insert("ks".into(), ks.expose().into());
        }
        params
    }

    /// Call one action; `params` is a JSON object of the action's parameters.
    pub async fn call(
        &self,
        service: &str,
        action: &str,
        params: Value,
        idempotency: Idempotency,
    ) -> Result<Value> {
        match self.call_once(service, action, &params, idempotency).await {
            Err(Error::Api(refused)) if refused.is_ks_refusal() => {
                match self.renewed(service, action) {
                    Some(renewed) => {
                        renewed
                            .call_once(service, action, &params, idempotency)
                            .await
                    }
                    None => Err(refused.into()),
                }
            }
            other => other,
        }
    }

    async fn call_once(
        &self,
        service: &str,
        action: &str,
        params: &Value,
        idempotency: Idempotency,
    ) -> Result<Value> {
        let mut body = self.base_params();
        if let Value::Object(extra) = params {
            body.extend(extra.clone());
        }
        let url = format!(
            "{}/api_v3/service/{service}/action/{action}",
            self.config.service_url
        );
        let value = self
            .post(&url, &Value::Object(body), idempotency, service, action)
            .await?;
        match ApiError::from_value(&value) {
            Some(err) => Err(err.into()),
            None => Ok(value),
        }
    }

    /// Call and deserialize the result.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        service: &str,
        action: &str,
        params: Value,
        idempotency: Idempotency,
    ) -> Result<T> {
        let value = self.call(service, action, params, idempotency).await?;
        serde_json::from_value(value).map_err(|e| Error::Decode(format!("{service}.{action}: {e}")))
    }

    async fn post(
        &self,
        url: &str,
        body: &Value,
        idempotency: Idempotency,
        service: &str,
        action: &str,
    ) -> Result<Value> {
        let retries = match idempotency {
            Idempotency::Idempotent => self.config.max_retries,
            Idempotency::NotIdempotent => 0,
        };
        let mut backoff = self.config.retry_backoff;
        let mut attempt = 0;
        loop {
            match self.post_once(url, body).await {
                Err(err) if err.is_transient() && attempt < retries => {
                    attempt += 1;
                    tracing::debug!(service, action, attempt, error = %err, "retrying Kaltura call");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
                Err(err) => {
                    tracing::debug!(service, action, error = %err, "Kaltura call failed");
                    return Err(err);
                }
                Ok(value) => return Ok(value),
            }
        }
    }

    async fn post_once(&self, url: &str, body: &Value) -> Result<Value> {
        let response = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .json(body)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Http {
                status: status.as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(|e| self.classify(e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("not JSON: {e}")))
    }

    fn classify(&self, err: reqwest::Error) -> Error {
        if err.is_timeout() {
            Error::Timeout(self.config.timeout)
        } else {
            err.into()
        }
    }

    /// Send queued calls as one `multirequest`; one result per call, in order.
    pub async fn multirequest(
        &self,
        request: &MultiRequest,
        idempotency: Idempotency,
    ) -> Result<Vec<Result<Value, ApiError>>> {
        let results = self.multirequest_once(request, idempotency).await;
        if !refused_ks(&results) {
            return results;
        }
        match self.renewed("multirequest", "") {
            Some(renewed) => renewed.multirequest_once(request, idempotency).await,
            None => results,
        }
    }

    async fn multirequest_once(
        &self,
        request: &MultiRequest,
        idempotency: Idempotency,
    ) -> Result<Vec<Result<Value, ApiError>>> {
        let mut body = self.base_params();
        for (i, call) in request.calls.iter().enumerate() {
            body.insert((i + 1).to_string(), call.clone());
        }
        let url = format!("{}/api_v3/service/multirequest", self.config.service_url);
        let value = self
            .post(&url, &Value::Object(body), idempotency, "multirequest", "")
            .await?;
        if let Some(err) = ApiError::from_value(&value) {
            return Err(err.into());
        }
        let Value::Array(items) = value else {
            return Err(Error::Decode("multirequest answer is not an array".into()));
        };
        if items.len() != request.calls.len() {
            return Err(Error::Decode(format!(
                "multirequest sent {} calls, got {} results",
                request.calls.len(),
                items.len()
            )));
        }
        Ok(items
            .into_iter()
            .map(|item| match ApiError::from_value(&item) {
                Some(err) => Err(err),
                None => Ok(item),
            })
            .collect())
    }
}

/// Whether a multirequest was refused for its KS as a whole: then none of its calls ran (calls
/// that need no session may have, and those are safe to repeat).
fn refused_ks(results: &Result<Vec<Result<Value, ApiError>>>) -> bool {
    match results {
        Err(Error::Api(err)) => err.is_ks_refusal(),
        Err(_) => false,
        Ok(items) => {
            items
                .iter()
                .any(|r| r.as_ref().is_err_and(ApiError::is_ks_refusal))
                && items.iter().all(|r| match r {
                    Ok(_) => false,
                    Err(err) => err.is_ks_refusal(),
                })
        }
    }
}

/// Calls to send together. Later calls may use earlier results through [`MultiRequest::result_ref`].
#[derive(Debug, Clone, Default)]
pub struct MultiRequest {
    calls: Vec<Value>,
}

impl MultiRequest {
    pub fn new() -> MultiRequest {
        MultiRequest::default()
    }

    /// Queue a call; returns its 1-based position, for [`MultiRequest::result_ref`].
    pub fn add(&mut self, service: &str, action: &str, params: Value) -> usize {
        let mut call = match params {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        call.insert("service".into(), service.into());
        call.insert("action".into(), action.into());
        self.calls.push(Value::Object(call));
        self.calls.len()
    }

    /// `{N:result:path}`: the server substitutes the value at `path` (`:`-separated) of call N.
    pub fn result_ref(position: usize, path: &str) -> String {
        if path.is_empty() {
            format!("{{{position}:result}}")
        } else {
            format!("{{{position}:result:{path}}}")
        }
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}
