//! Reads the bots' `/status` reports from every ready endpoint of their Service.

use crate::error::{Error, Result};
use crate::reconcile::status::merge;
use futures_util::future::join_all;
use kd_core::report::BotReport;
use std::time::Duration;

pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(Error::HttpClient)
}

/// The merged report of all endpoints, or why there is none.
pub async fn collect(http: &reqwest::Client, urls: &[String]) -> Result<BotReport> {
    if urls.is_empty() {
        return Err(Error::NoBotPod);
    }
    let answers = join_all(urls.iter().map(|url| fetch(http, url))).await;
    let mut reports = Vec::new();
    for answer in answers {
        reports.push(answer?);
    }
    merge(reports).ok_or(Error::NoBotPod)
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<BotReport> {
    let failed = |err: reqwest::Error| Error::BotReport {
        url: url.to_string(),
        error: err.without_url(),
    };
    http.get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)
}
