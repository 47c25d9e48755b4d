//! Waiting for something to become true, with a deadline and a message that says what never
//! happened.

use std::time::{Duration, Instant};

/// A wait for `what`: 20 s, polled every 50 ms, unless told otherwise.
pub fn wait(what: &str) -> Wait<'_> {
    Wait {
        what,
        timeout: Duration::from_secs(20),
        every: Duration::from_millis(50),
        explain: None,
    }
}

pub struct Wait<'a> {
    what: &'a str,
    timeout: Duration,
    every: Duration,
    explain: Option<Box<dyn Fn() -> String + 'a>>,
}

impl<'a> Wait<'a> {
    pub fn timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    pub fn every(self, every: Duration) -> Self {
        Self { every, ..self }
    }

    /// Adds to the failure message (a log tail, the state seen last).
    pub fn explain(self, explain: impl Fn() -> String + 'a) -> Self {
        Self {
            explain: Some(Box::new(explain)),
            ..self
        }
    }

    /// Polls `probe` until it gives a value; panics at the deadline.
    pub async fn until<T>(self, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if Instant::now() > deadline {
                let detail = self.explain.as_ref().map(|f| f()).unwrap_or_default();
                panic!(
                    "timed out after {:?} waiting for {}\n{detail}",
                    self.timeout, self.what
                );
            }
            tokio::time::sleep(self.every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gives_the_first_value_the_probe_finds() {
        let mut calls = 0;
        let found = wait("the third call")
            .every(Duration::from_millis(1))
            .until(async || {
                calls += 1;
                (calls == 3).then_some(calls)
            })
            .await;
        assert_eq!(found, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for nothing\nlast seen: 0")]
    async fn says_what_never_happened() {
        wait("nothing")
            .timeout(Duration::from_millis(20))
            .every(Duration::from_millis(1))
            .explain(|| "last seen: 0".into())
            .until(async || None::<()>)
            .await;
    }
}
