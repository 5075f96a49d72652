//! Throttling of failed `getToken` attempts, per imp_key and per client address.
//!
//! Each subject (a key, an address) counts its failures in a fixed window that starts at its
//! first failure; once it reaches the limit, every attempt of that subject is refused until the
//! window ends, even with the right secret, so guessing costs the window's length per batch.
//! In memory, per node: N nodes allow N times the limit, which still turns a guessing rate of
//! thousands a second into a few a minute (docs/decisions.md).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Defaults: 10 failures per key or per address in 5 minutes.
pub const DEFAULT_MAX_FAILURES: u32 = 10;
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Past this many tracked subjects, windows that ended are dropped, then subjects that are not
/// locked out: memory stays bounded whatever an attacker sends.
const MAX_TRACKED: usize = 100_000;

/// How many failures lock a subject out, and for how long the window runs.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimit {
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for LoginLimit {
    fn default() -> Self {
        LoginLimit { max_failures: DEFAULT_MAX_FAILURES, window: DEFAULT_WINDOW }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

struct Counters<K> {
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> Counters<K> {
    fn new() -> Self {
        Counters { windows: Mutex::new(HashMap::new()) }
    }

    /// Whether `subject` is locked out at `now`.
    fn locked(&self, subject: &K, limit: &LoginLimit, now: Instant) -> bool {
        let Ok(windows) = self.windows.lock() else { return false };
        windows.get(subject).is_some_and(|w| {
            now.duration_since(w.started) < limit.window && w.failures >= limit.max_failures
        })
    }

    fn fail(&self, subject: &K, limit: &LoginLimit, now: Instant) {
        let Ok(mut windows) = self.windows.lock() else { return };
        if windows.len() >= MAX_TRACKED && !windows.contains_key(subject) {
            windows.retain(|_, w| now.duration_since(w.started) < limit.window);
            if windows.len() >= MAX_TRACKED {
                windows.retain(|_, w| w.failures >= limit.max_failures);
            }
        }
        let window = windows.entry(subject.clone()).or_insert(Window { started: now, failures: 0 });
        if now.duration_since(window.started) >= limit.window {
            *window = Window { started: now, failures: 0 };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

/// A key as counted: its first 64 characters (real keys are shorter), so a flood of huge keys
/// costs no memory.
fn key_subject(imp_key: &str) -> String {
    imp_key.chars().take(64).collect()
}

/// The per-node throttle of failed logins.
pub struct LoginLimiter {
    limit: LoginLimit,
    by_key: Counters<String>,
    by_address: Counters<IpAddr>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(LoginLimit::default())
    }
}

impl LoginLimiter {
    pub fn new(limit: LoginLimit) -> Self {
        LoginLimiter {
            limit: LoginLimit { max_failures: limit.max_failures.max(1), window: limit.window },
            by_key: Counters::new(),
            by_address: Counters::new(),
        }
    }

    /// Whether an attempt for `imp_key` from `address` is refused now.
    pub fn locked_out(&self, imp_key: &str, address: Option<IpAddr>) -> bool {
        self.locked_out_at(imp_key, address, Instant::now())
    }

    /// Counts a failed attempt against the key and the address.
    pub fn record_failure(&self, imp_key: &str, address: Option<IpAddr>) {
        self.record_failure_at(imp_key, address, Instant::now());
    }

    fn locked_out_at(&self, imp_key: &str, address: Option<IpAddr>, now: Instant) -> bool {
        self.by_key.locked(&key_subject(imp_key), &self.limit, now)
            || address.is_some_and(|a| self.by_address.locked(&a, &self.limit, now))
    }

    fn record_failure_at(&self, imp_key: &str, address: Option<IpAddr>, now: Instant) {
        self.by_key.fail(&key_subject(imp_key), &self.limit, now);
        if let Some(address) = address {
            self.by_address.fail(&address, &self.limit, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: LoginLimit = LoginLimit { max_failures: 3, window: Duration::from_secs(60) };

    fn addr(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_key_is_locked_after_the_limit_until_its_window_ends() {
        let limiter = LoginLimiter::new(LIMIT);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(!limiter.locked_out_at("key", addr("203.0.113.1"), t0), "attempt {i}");
            limiter.record_failure_at("key", Some(format!("198.51.100.{i}").parse().unwrap()), t0);
        }
        assert!(limiter.locked_out_at("key", addr("192.0.2.200"), t0 + Duration::from_secs(59)));
        assert!(!limiter.locked_out_at("other", addr("192.0.2.200"), t0));
        assert!(!limiter.locked_out_at("key", addr("192.0.2.200"), t0 + Duration::from_secs(60)));
    }

    #[test]
    fn an_address_is_locked_whatever_key_it_tries() {
        let limiter = LoginLimiter::new(LIMIT);
        let t0 = Instant::now();
        for i in 0..3 {
            limiter.record_failure_at(&format!("key{i}"), addr("192.0.2.7"), t0);
        }
        assert!(limiter.locked_out_at("fresh", addr("192.0.2.7"), t0));
        assert!(!limiter.locked_out_at("fresh", addr("192.0.2.8"), t0));
        assert!(!limiter.locked_out_at("fresh", None, t0));
    }

    #[test]
    fn a_failure_after_the_window_starts_a_new_count() {
        let limiter = LoginLimiter::new(LIMIT);
        let t0 = Instant::now();
        limiter.record_failure_at("key", None, t0);
        limiter.record_failure_at("key", None, t0);
        let later = t0 + Duration::from_secs(61);
        limiter.record_failure_at("key", None, later);
        limiter.record_failure_at("key", None, later);
        assert!(!limiter.locked_out_at("key", None, later), "2 failures in the new window");
        limiter.record_failure_at("key", None, later);
        assert!(limiter.locked_out_at("key", None, later));
    }
}
