//! Unix-seconds clock helpers. Every timestamp on the wire is integer UNIX seconds.

/// Seconds since the UNIX epoch, now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Milliseconds since the UNIX epoch, now (for leases and latency).
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
