//! A rule's `maxPerMinute`: how many messages it has sent in the last minute, and when the
//! next may go. A burst over the rate waits in the outbox and then goes out coalesced.

use std::collections::{HashMap, VecDeque};

const WINDOW_MS: i64 = 60_000;

/// Send times (ms) per rule within the last minute.
#[derive(Debug, Default)]
pub struct Pace {
    sent: HashMap<String, VecDeque<i64>>,
}

impl Pace {
    /// When the rule may send next: `now` if it is under its rate, else when its oldest send
    /// in the window leaves it.
    pub fn next_slot(&mut self, rule: &str, max_per_minute: i32, now: i64) -> i64 {
        let Some(sent) = self.sent.get_mut(rule) else {
            return now;
        };
        while sent.front().is_some_and(|t| *t <= now - WINDOW_MS) {
            sent.pop_front();
        }
        let max = usize::try_from(max_per_minute.max(1)).unwrap_or(1);
        if sent.len() < max {
            now
        } else {
            sent[sent.len() - max] + WINDOW_MS
        }
    }

    pub fn record(&mut self, rule: &str, at: i64) {
        self.sent.entry(rule.to_string()).or_default().push_back(at);
    }

    /// Forgets rules idle for a whole window.
    pub fn forget_idle(&mut self, now: i64) {
        self.sent
            .retain(|_, sent| sent.back().is_some_and(|t| *t > now - WINDOW_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_over_its_rate_waits_for_the_oldest_send_to_leave_the_window() {
        let mut pace = Pace::default();
        assert_eq!(pace.next_slot("r", 2, 0), 0);
        pace.record("r", 0);
        pace.record("r", 10_000);
        assert_eq!(pace.next_slot("r", 2, 20_000), 60_000);
        assert_eq!(pace.next_slot("other", 2, 20_000), 20_000);
        assert_eq!(pace.next_slot("r", 2, 60_000), 60_000);
        pace.record("r", 60_000);
        assert_eq!(pace.next_slot("r", 2, 60_001), 70_000);
        pace.forget_idle(200_000);
        assert_eq!(pace.next_slot("r", 2, 200_000), 200_000);
    }
}
