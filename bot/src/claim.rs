//! Answering each interaction once across replicas. While a gateway shard is handed over, two
//! replicas hold sessions of it and Discord dispatches every interaction to both; each claims
//! the interaction in the store before answering, and only the one whose claim is new answers
//! (the other's answer would be refused with 40060, after doing the work, twice for a meeting
//! start). A store that does not answer in time does not hold the answer back: the member
//! waiting on Discord's 3 s matters more than a rare double answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a claim may take before the interaction is answered unclaimed. With the settings
/// read after it ([`kd_core::overrides::READ_BOUND`]) it stays well inside the deferral's 2 s.
pub const CLAIM_BOUND: Duration = Duration::from_millis(500);

/// How long a claim is kept: Discord's interaction token lives 15 minutes, after which no
/// replica can answer, so an older claim decides nothing.
pub const CLAIMS_KEPT: Duration = Duration::from_secs(15 * 60);

/// How often a replica prunes old claims: rarely enough to cost nothing next to the claims,
/// often enough that the table holds about `CLAIMS_KEPT` of interactions.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What came of claiming an interaction.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This replica answers it.
    Mine,
    /// Another replica (or an earlier dispatch to this one) has it: leave it alone.
    Elsewhere,
    /// The store did not say: answer it anyway.
    Unknown(String),
}

impl Claim {
    /// The claim's outcome from the store's answer, or None when it gave none in time.
    pub fn of<E: std::fmt::Display>(answer: Option<Result<bool, E>>) -> Self {
        match answer {
            Some(Ok(true)) => Claim::Mine,
            Some(Ok(false)) => Claim::Elsewhere,
            Some(Err(err)) => Claim::Unknown(err.to_string()),
            None => Claim::Unknown(format!("no answer within {CLAIM_BOUND:?}")),
        }
    }
}

/// Whether claims are failing, so an outage is logged when it starts and when it ends, not
/// once per interaction.
#[derive(Debug, Default)]
pub struct Outage(AtomicBool);

impl Outage {
    /// Notes a claim the store did not answer; true when that starts an outage.
    pub fn failed(&self) -> bool {
        !self.0.swap(true, Ordering::Relaxed)
    }

    /// Notes a claim the store answered; true when that ends an outage.
    pub fn answered(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_answer_decides_who_answers() {
        assert_eq!(Claim::of::<String>(Some(Ok(true))), Claim::Mine);
        assert_eq!(Claim::of::<String>(Some(Ok(false))), Claim::Elsewhere);
        assert_eq!(
            Claim::of(Some(Err("connection refused"))),
            Claim::Unknown("connection refused".into())
        );
        assert_eq!(
            Claim::of::<String>(None),
            Claim::Unknown("no answer within 500ms".into())
        );
    }

    #[test]
    fn an_outage_is_noted_when_it_starts_and_when_it_ends() {
        let outage = Outage::default();
        assert!(!outage.answered(), "no outage to end");
        assert!(outage.failed(), "the first failure starts it");
        assert!(!outage.failed(), "later ones are the same outage");
        assert!(outage.answered(), "an answer ends it");
        assert!(!outage.answered());
        assert!(outage.failed(), "a new one starts");
    }
}
