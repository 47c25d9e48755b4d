//! Fault knobs, changeable while the sandbox runs: slow answers, HTTP 5xx, refused sessions, a
//! rotated admin secret, eSearch off. Each may be limited to one api_v3 service.
//!
//! What Kaltura does in each case: a slow or failing front end answers late or with an HTML 5xx
//! page (no `KalturaAPIException`); a refused KS is an in-band `INVALID_KS` with HTTP 200, in the
//! response format the caller asked for; after a secret changes, sessions signed with the old one
//! no longer decrypt (`-1,INVALID_STR`) and `session.start` with it is a `START_SESSION_ERROR`.

use crate::wire::ApiException;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Kaltura's reasons for refusing a KS (`kSessionBase`), as `(code, name)`.
pub const KS_REASONS: &[(&str, &str)] = &[
    ("-1", "INVALID_STR"),
    ("-2", "INVALID_PARTNER"),
    ("-3", "INVALID_USER"),
    ("-4", "INVALID_TYPE"),
    ("-5", "EXPIRED"),
    ("-6", "LOGOUT"),
    ("-8", "EXCEEDED_ACTIONS_LIMIT"),
    ("-9", "EXCEEDED_RESTRICTED_IP"),
    ("-11", "EXCEEDED_RESTRICTED_URI"),
];

/// Longest delay a knob accepts, so a typo cannot hang a test for hours.
const MAX_DELAY: Duration = Duration::from_secs(600);

/// Answers come late: `delay` plus or minus up to `jitter` (uniform), for every api_v3 request or
/// those that call `service`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slow {
    pub delay_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default)]
    pub service: Option<String>,
}

/// api_v3 requests fail with HTTP `status` (5xx): a `share` of them (0..=1), during `seconds`
/// from now (else until cleared), or only the next `count`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    #[serde(default = "Errors::default_status")]
    pub status: u16,
    #[serde(default = "Errors::default_share")]
    pub share: f64,
    #[serde(default)]
    pub seconds: Option<f64>,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub service: Option<String>,
}

impl Errors {
    fn default_status() -> u16 {
        500
    }

    fn default_share() -> f64 {
        1.0
    }

    /// Every request fails with `status`, until cleared.
    pub fn all(status: u16) -> Errors {
        Errors {
            status,
            share: 1.0,
            seconds: None,
            count: None,
            service: None,
        }
    }
}

/// Calls that carry an otherwise valid KS are refused with `INVALID_KS` and `reason` (a name of
/// [`KS_REASONS`], e.g. `EXPIRED`): all of them, the next `count`, or those to `service`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefuseKs {
    #[serde(default = "RefuseKs::default_reason")]
    pub reason: String,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub service: Option<String>,
}

impl RefuseKs {
    fn default_reason() -> String {
        "EXPIRED".into()
    }
}

/// A knob refused: says what is wrong, and nothing was changed.
#[derive(Debug, Clone, PartialEq)]
pub struct BadKnob(pub String);

impl std::fmt::Display for BadKnob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadKnob {}

fn check_service(service: &Option<String>) -> Result<(), BadKnob> {
    match service {
        Some(s) if s.trim().is_empty() => Err(BadKnob("service must not be empty".into())),
        _ => Ok(()),
    }
}

impl Slow {
    fn check(&self) -> Result<(), BadKnob> {
        let longest = self.delay_ms.saturating_add(self.jitter_ms);
        if Duration::from_millis(longest) > MAX_DELAY {
            return Err(BadKnob(format!(
                "delay_ms + jitter_ms must be at most {} (10 minutes)",
                MAX_DELAY.as_millis()
            )));
        }
        check_service(&self.service)
    }

    /// One draw: `delay` +/- `jitter`, never below zero.
    fn draw(&self) -> Duration {
        let jitter = self.jitter_ms as i64;
        let offset = if jitter > 0 {
            rand::random_range(-jitter..=jitter)
        } else {
            0
        };
        Duration::from_millis((self.delay_ms as i64 + offset).max(0) as u64)
    }
}

impl Errors {
    fn check(&self) -> Result<(), BadKnob> {
        if !(500..=599).contains(&self.status) {
            return Err(BadKnob(format!(
                "status must be a 5xx code, not {}",
                self.status
            )));
        }
        if !(0.0..=1.0).contains(&self.share) {
            return Err(BadKnob(format!(
                "share must be between 0 and 1, not {}",
                self.share
            )));
        }
        if let Some(seconds) = self.seconds
            && !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0)
        {
            return Err(BadKnob(format!(
                "seconds must be above 0 and at most 86400, not {seconds}"
            )));
        }
        if self.count == Some(0) {
            return Err(BadKnob("count must be at least 1".into()));
        }
        check_service(&self.service)
    }
}

impl RefuseKs {
    fn check(&self) -> Result<(), BadKnob> {
        if reason(&self.reason).is_none() {
            let names: Vec<&str> = KS_REASONS.iter().map(|(_, name)| *name).collect();
            return Err(BadKnob(format!(
                "reason must be one of {}, not {:?}",
                names.join(", "),
                self.reason
            )));
        }
        if self.count == Some(0) {
            return Err(BadKnob("count must be at least 1".into()));
        }
        check_service(&self.service)
    }
}

fn reason(name: &str) -> Option<(&'static str, &'static str)> {
    KS_REASONS
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .copied()
}

/// Whether a fault limited to `scope` applies to a request calling `services`.
fn applies(scope: &Option<String>, services: &[String]) -> bool {
    scope
        .as_ref()
        .is_none_or(|s| services.iter().any(|called| called.eq_ignore_ascii_case(s)))
}

#[derive(Debug)]
struct ActiveErrors {
    errors: Errors,
    until: Option<Instant>,
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
struct Faults {
    slow: Option<Slow>,
    errors: Option<ActiveErrors>,
    refuse_ks: Option<(RefuseKs, Option<u32>)>,
    /// Admin secrets changed since start, by partner id.
    rotated: HashMap<i64, String>,
    /// Partners not active, by id (Kaltura's partner status).
    blocked: HashMap<i64, PartnerStatus>,
}

/// Kaltura's partner statuses (`KalturaPartnerStatus`): a blocked partner's API calls are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PartnerStatus {
    Active,
    Blocked,
    FullyBlocked,
}

impl PartnerStatus {
    /// The number `partner.get` answers with.
    pub fn code(self) -> i64 {
        match self {
            PartnerStatus::Active => 1,
            PartnerStatus::Blocked => 2,
            PartnerStatus::FullyBlocked => 3,
        }
    }

    /// What Kaltura answers every call of a partner in this status, if it refuses it.
    pub fn refusal(self) -> Option<ApiException> {
        match self {
            PartnerStatus::Active => None,
            PartnerStatus::Blocked => Some(ApiException::new(
                "SERVICE_FORBIDDEN_CONTENT_BLOCKED",
                "The access to this service is forbidden since the specified partner is blocked",
                &[],
            )),
            PartnerStatus::FullyBlocked => Some(ApiException::new(
                "SERVICE_FORBIDDEN_FULLY_BLOCKED",
                "The access to this service is forbidden since the specified partner is fully blocked",
                &[],
            )),
        }
    }
}

/// Test knobs. The typed methods here are what the control API (`/_sandbox/faults`) calls.
#[derive(Debug, Default)]
pub struct Knobs {
    faults: Mutex<Faults>,
    esearch_disabled: AtomicBool,
    /// api_v3 requests received, failed ones included.
    requests: AtomicU64,
}

impl Knobs {
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers come late; `None` makes them prompt again.
    pub fn set_slow(&self, slow: Option<Slow>) -> Result<(), BadKnob> {
        if let Some(slow) = &slow {
            slow.check()?;
        }
        self.faults().slow = slow;
        Ok(())
    }

    /// A fixed delay before every api_v3 answer (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        let slow = (!latency.is_zero()).then(|| Slow {
            delay_ms: latency.as_millis().min(MAX_DELAY.as_millis()) as u64,
            jitter_ms: 0,
            service: None,
        });
        self.faults().slow = slow;
    }

    /// Requests fail with a 5xx; `None` ends it.
    pub fn set_errors(&self, errors: Option<Errors>) -> Result<(), BadKnob> {
        let active = match errors {
            Some(errors) => {
                errors.check()?;
                Some(ActiveErrors {
                    until: errors
                        .seconds
                        .map(|s| Instant::now() + Duration::from_secs_f64(s)),
                    remaining: errors.count,
                    errors,
                })
            }
            None => None,
        };
        self.faults().errors = active;
        Ok(())
    }

    /// A share (0.0..=1.0) of api_v3 requests fail with HTTP 500.
    pub fn set_error_rate(&self, rate: f64) {
        let errors = (rate > 0.0).then(|| Errors {
            share: rate.min(1.0),
            ..Errors::all(500)
        });
        self.set_errors(errors).expect("a valid share");
    }

    /// The next `n` api_v3 requests fail with HTTP 500 (deterministic, for retry tests).
    pub fn fail_next(&self, n: u32) {
        let errors = (n > 0).then(|| Errors {
            count: Some(n),
            ..Errors::all(500)
        });
        self.set_errors(errors).expect("a valid count");
    }

    /// When down, every api_v3 request is answered 503; `false` ends any 5xx fault.
    pub fn set_down(&self, down: bool) {
        self.set_errors(down.then(|| Errors::all(503)))
            .expect("a valid status");
    }

    pub fn is_down(&self) -> bool {
        self.faults().errors.as_ref().is_some_and(|a| {
            a.errors.share >= 1.0
                && a.remaining.is_none()
                && a.until.is_none_or(|t| t > Instant::now())
        })
    }

    /// Sessions are refused with `INVALID_KS`; `None` accepts them again.
    pub fn set_refuse_ks(&self, refuse: Option<RefuseKs>) -> Result<(), BadKnob> {
        if let Some(refuse) = &refuse {
            refuse.check()?;
        }
        self.faults().refuse_ks = refuse.map(|r| {
            let count = r.count;
            (r, count)
        });
        Ok(())
    }

    /// Make eSearch unavailable to the partner, as on accounts without the plugin.
    pub fn set_esearch_enabled(&self, enabled: bool) {
        self.esearch_disabled.store(!enabled, Ordering::Relaxed);
    }

    pub fn esearch_enabled(&self) -> bool {
        !self.esearch_disabled.load(Ordering::Relaxed)
    }

    /// Every fault off (a rotated secret stays: it is the partner's secret now).
    pub fn clear(&self) {
        let mut faults = self.faults();
        faults.slow = None;
        faults.errors = None;
        faults.refuse_ks = None;
        drop(faults);
        self.set_esearch_enabled(true);
    }

    /// api_v3 requests received so far (including refused and failed ones).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The faults in force, as the control API shows them.
    pub fn to_json(&self) -> Value {
        let faults = self.faults();
        let now = Instant::now();
        let errors = faults.errors.as_ref().filter(|a| !a.lapsed(now)).map(|a| {
            json!({
                "status": a.errors.status,
                "share": a.errors.share,
                "seconds_left": a.until.map(|t| t.saturating_duration_since(now).as_secs_f64()),
                "count_left": a.remaining,
                "service": a.errors.service,
            })
        });
        let slow = faults.slow.as_ref().map(
            |s| json!({"delay_ms": s.delay_ms, "jitter_ms": s.jitter_ms, "service": s.service}),
        );
        let refuse_ks = faults.refuse_ks.as_ref().map(|(r, left)| {
            json!({"reason": r.reason.to_ascii_uppercase(), "count_left": left, "service": r.service})
        });
        let rotated: Vec<i64> = faults.rotated.keys().copied().collect();
        let blocked: HashMap<String, PartnerStatus> = faults
            .blocked
            .iter()
            .map(|(id, status)| (id.to_string(), *status))
            .collect();
        json!({
            "partner_status": blocked,
            "slow": slow,
            "errors": errors,
            "refuse_ks": refuse_ks,
            "esearch": self.esearch_enabled(),
            "rotated_secrets": rotated,
            "requests": self.requests(),
        })
    }

    /// Replace a partner's admin secret (the caller checked the partner exists).
    pub(crate) fn rotate_secret(&self, partner_id: i64, secret: String) {
        self.faults().rotated.insert(partner_id, secret);
    }

    /// Block or unblock a partner (the caller checked the partner exists).
    pub(crate) fn set_partner_status(&self, partner_id: i64, status: PartnerStatus) {
        let mut faults = self.faults();
        match status {
            PartnerStatus::Active => faults.blocked.remove(&partner_id),
            other => faults.blocked.insert(partner_id, other),
        };
    }

    pub fn partner_status(&self, partner_id: i64) -> PartnerStatus {
        self.faults()
            .blocked
            .get(&partner_id)
            .copied()
            .unwrap_or(PartnerStatus::Active)
    }

    /// The partner's admin secret if it was rotated.
    pub(crate) fn rotated_secret(&self, partner_id: i64) -> Option<String> {
        self.faults().rotated.get(&partner_id).cloned()
    }

    /// Before serving a request to `services`: count it, wait out any delay, then say whether it
    /// fails with a 5xx, and whether its sessions are refused (a refusal `count` counts requests
    /// that carry a KS, so a multirequest is refused as a whole, as Kaltura does).
    pub(crate) async fn before_request(&self, services: &[String], carries_ks: bool) -> Verdict {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let delay = self
            .faults()
            .slow
            .as_ref()
            .filter(|s| applies(&s.service, services))
            .map(Slow::draw);
        if let Some(delay) = delay.filter(|d| !d.is_zero()) {
            tokio::time::sleep(delay).await;
        }
        match self.failure(services) {
            Some(status) => Verdict {
                status: Some(status),
                refusal: None,
            },
            None => Verdict {
                status: None,
                refusal: carries_ks.then(|| self.refusal(services)).flatten(),
            },
        }
    }

    fn failure(&self, services: &[String]) -> Option<u16> {
        let mut faults = self.faults();
        let active = faults.errors.as_mut()?;
        if active.lapsed(Instant::now()) {
            faults.errors = None;
            return None;
        }
        if !applies(&active.errors.service, services) {
            return None;
        }
        let share = active.errors.share;
        if share < 1.0 && rand::random::<f64>() >= share {
            return None;
        }
        let status = active.errors.status;
        if let Some(left) = active.remaining.as_mut() {
            *left -= 1;
            if *left == 0 {
                faults.errors = None;
            }
        }
        Some(status)
    }

    fn refusal(&self, services: &[String]) -> Option<Refusal> {
        let mut faults = self.faults();
        let (refuse, left) = faults.refuse_ks.as_mut()?;
        if !applies(&refuse.service, services) {
            return None;
        }
        let (code, name) = reason(&refuse.reason).expect("checked when set");
        let refusal = Refusal {
            code,
            name,
            service: refuse.service.clone(),
        };
        if let Some(left) = left.as_mut() {
            *left -= 1;
            if *left == 0 {
                faults.refuse_ks = None;
            }
        }
        Some(refusal)
    }
}

/// Sessions refused for one request: Kaltura's reason, and the service it is limited to.
#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    code: &'static str,
    name: &'static str,
    service: Option<String>,
}

/// What the knobs decided for one request.
#[derive(Debug)]
pub(crate) struct Verdict {
    /// Fail with this HTTP status instead of answering.
    pub status: Option<u16>,
    refusal: Option<Refusal>,
}

std::thread_local! {
    /// The refusal of the request being dispatched on this thread (dispatch is synchronous, so
    /// it cannot move to another thread while it runs).
    static REFUSING: std::cell::RefCell<Option<Refusal>> = const { std::cell::RefCell::new(None) };
}

/// While alive, calls dispatched on this thread see the request's refusal.
pub(crate) struct Refusing(());

impl Verdict {
    /// Hold this while dispatching the request's calls, synchronously.
    pub(crate) fn refusing(self) -> Refusing {
        REFUSING.with(|r| r.replace(self.refusal));
        Refusing(())
    }
}

impl Drop for Refusing {
    fn drop(&mut self) {
        REFUSING.with(|r| r.take());
    }
}

/// After a call's KS checked out: the injected refusal for it, if its request has one.
pub(crate) fn refused_ks(service: &str, ks: &str) -> Result<(), ApiException> {
    REFUSING.with(|r| match &*r.borrow() {
        Some(refusal) if applies(&refusal.service, &[service.to_string()]) => {
            Err(ApiException::invalid_ks(ks, refusal.code, refusal.name))
        }
        _ => Ok(()),
    })
}

impl ActiveErrors {
    fn lapsed(&self, now: Instant) -> bool {
        self.until.is_some_and(|t| t <= now)
    }
}

/// What a failing front end sends: nginx's HTML error page, whatever format was asked for.
pub(crate) fn error_page(status: u16) -> String {
    let reason = match status {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => "Server Error",
    };
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn errors_follow_count_scope_and_period() {
        let knobs = Knobs::default();
        knobs
            .set_errors(Some(Errors {
                count: Some(2),
                service: Some("elasticsearch_esearch".into()),
                ..Errors::all(502)
            }))
            .unwrap();
        let status = |services: Vec<String>| {
            let knobs = &knobs;
            async move { knobs.before_request(&services, true).await.status }
        };
        assert_eq!(status(services(&["media"])).await, None);
        let esearch = services(&["session", "ELASTICSEARCH_ESEARCH"]);
        assert_eq!(status(esearch.clone()).await, Some(502));
        assert_eq!(status(esearch.clone()).await, Some(502));
        assert_eq!(status(esearch).await, None, "count used up");
        assert_eq!(knobs.requests(), 4);

        knobs
            .set_errors(Some(Errors {
                seconds: Some(0.05),
                ..Errors::all(503)
            }))
            .unwrap();
        assert!(knobs.is_down());
        assert_eq!(status(vec![]).await, Some(503));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(status(vec![]).await, None, "period over");
        assert!(knobs.to_json()["errors"].is_null());
    }

    #[test]
    fn a_share_fails_about_that_share() {
        let knobs = Knobs::default();
        knobs.set_error_rate(0.25);
        let failed = (0..4000).filter(|_| knobs.failure(&[]).is_some()).count();
        assert!((800..1200).contains(&failed), "{failed} of 4000");
        knobs.set_error_rate(0.0);
        assert_eq!(knobs.failure(&[]), None);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let slow = Slow {
            delay_ms: 100,
            jitter_ms: 30,
            service: None,
        };
        let draws: Vec<u128> = (0..2000).map(|_| slow.draw().as_millis()).collect();
        assert!(draws.iter().all(|d| (70..=130).contains(d)));
        assert!(draws.iter().any(|d| *d < 85) && draws.iter().any(|d| *d > 115));
    }

    #[tokio::test]
    async fn refusals_carry_kaltura_reasons_hold_for_a_request_and_run_out() {
        let knobs = Knobs::default();
        knobs
            .set_refuse_ks(Some(RefuseKs {
                reason: "logout".into(),
                count: Some(1),
                service: None,
            }))
            .unwrap();
        let media = services(&["media"]);
        let no_ks = knobs.before_request(&media, false).await;
        assert_eq!(no_ks.refusal, None, "a request without a KS uses no count");
        let refusing = knobs.before_request(&media, true).await.refusing();
        for _ in 0..2 {
            let err = refused_ks("media", "djJ8MTIz").unwrap_err();
            assert_eq!(err.code, "INVALID_KS");
            assert!(
                err.message.ends_with("Error \"-6,LOGOUT\""),
                "{}",
                err.message
            );
        }
        drop(refusing);
        assert_eq!(
            refused_ks("media", "djJ8MTIz"),
            Ok(()),
            "only in its request"
        );
        let next = knobs.before_request(&media, true).await;
        assert_eq!(next.refusal, None, "count used up");
    }

    #[test]
    fn bad_knobs_are_refused_and_change_nothing() {
        let knobs = Knobs::default();
        knobs.set_latency(Duration::from_millis(5));
        let bad = [
            knobs.set_errors(Some(Errors::all(404))),
            knobs.set_errors(Some(Errors {
                share: 1.5,
                ..Errors::all(500)
            })),
            knobs.set_errors(Some(Errors {
                seconds: Some(-1.0),
                ..Errors::all(500)
            })),
            knobs.set_refuse_ks(Some(RefuseKs {
                reason: "NOPE".into(),
                count: None,
                service: None,
            })),
            knobs.set_slow(Some(Slow {
                delay_ms: 3_600_000,
                jitter_ms: 0,
                service: None,
            })),
            knobs.set_slow(Some(Slow {
                delay_ms: 1,
                jitter_ms: 0,
                service: Some(" ".into()),
            })),
        ];
        for result in bad {
            assert!(result.is_err());
        }
        let shown = knobs.to_json();
        assert!(shown["errors"].is_null() && shown["refuse_ks"].is_null());
        assert_eq!(shown["slow"]["delay_ms"], 5);
    }
}
