//! Login throttling: after too many failures for one account or from one
//! address within a window, further attempts are refused until the window
//! has passed. In memory: a restart forgives, which is acceptable for a
//! throttle (argon2 keeps each guess expensive anyway).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    window: Duration,
    per_account: u32,
    per_address: u32,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Keys are kept apart by prefix so a username can't collide with an address.
fn account_key(username: &str) -> String {
    format!("u:{}", username.to_lowercase())
}
fn address_key(address: &str) -> String {
    format!("a:{address}")
}

/// Entries beyond which expired ones are swept, so memory stays bounded.
const SWEEP_AT: usize = 10_000;

impl LoginThrottle {
    pub fn new(window: Duration, per_account: u32, per_address: u32) -> Self {
        Self {
            window,
            per_account,
            per_address,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when this account or address must wait before trying again.
    pub fn check(&self, username: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let blocked = |key: String, limit: u32| {
            failures.get(&key).and_then(|(count, since)| {
                let elapsed = now.duration_since(*since);
                (*count >= limit && elapsed < self.window).then(|| self.window - elapsed)
            })
        };
        match blocked(account_key(username), self.per_account)
            .into_iter()
            .chain(blocked(address_key(address), self.per_address))
            .max()
        {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, username: &str, address: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        for key in [account_key(username), address_key(address)] {
            let entry = failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A successful login clears the account's failures (not the address's:
    /// one right password must not reset a spray across many accounts).
    pub fn record_success(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&account_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_throttled_after_its_limit_and_freed_after_the_window() {
        let throttle = LoginThrottle::new(Duration::from_millis(200), 3, 100);
        for _ in 0..3 {
            assert!(throttle.check("door1", "10.0.0.1").is_ok());
            throttle.record_failure("door1", "10.0.0.1");
        }
        let wait = throttle.check("DOOR1", "10.0.0.2").unwrap_err();
        assert!(wait <= Duration::from_millis(200));
        assert!(
            throttle.check("door2", "10.0.0.1").is_ok(),
            "other accounts are unaffected"
        );
        std::thread::sleep(Duration::from_millis(210));
        assert!(throttle.check("door1", "10.0.0.1").is_ok());
    }

    #[test]
    fn an_address_spraying_many_accounts_is_throttled() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 100, 5);
        for i in 0..5 {
            throttle.record_failure(&format!("user{i}"), "10.0.0.9");
        }
        assert!(throttle.check("someone-else", "10.0.0.9").is_err());
        assert!(throttle.check("someone-else", "10.0.0.10").is_ok());
    }

    #[test]
    fn success_clears_the_account() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 2, 100);
        throttle.record_failure("ada", "a");
        throttle.record_failure("ada", "a");
        assert!(throttle.check("ada", "b").is_err());
        throttle.record_success("ada");
        assert!(throttle.check("ada", "b").is_ok());
    }
}
