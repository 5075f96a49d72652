//! Run results: per-client tallies, how they are merged, and the text and JSON reports.
//!
//! Latency percentiles use the nearest-rank method over every measured request (success or
//! not), kept as microseconds in a plain `Vec` that is sorted once at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

/// What one client saw during the measured window (after warmup).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) successes: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    /// Latency of every measured request, in microseconds.
    pub(crate) latencies_us: Vec<u64>,
    /// Requests that were started during warmup (not in any other figure).
    pub(crate) warmup_requests: u64,
}

impl Tally {
    pub(crate) fn record(&mut self, outcome: Result<(), String>, latency: Duration) {
        self.requests += 1;
        self.latencies_us.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        match outcome {
            Ok(()) => self.successes += 1,
            Err(kind) => *self.errors.entry(kind).or_insert(0) += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.successes += other.successes;
        self.warmup_requests += other.warmup_requests;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_insert(0) += count;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// The figures printed at the end of a run.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) scenario: &'static str,
    pub(crate) url: String,
    pub(crate) clients: usize,
    pub(crate) warmup_secs: u64,
    pub(crate) duration_secs: u64,
    /// Seconds from the end of warmup until the last measured request finished.
    pub(crate) measured_secs: f64,
    pub(crate) requests: u64,
    pub(crate) successes: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) warmup_requests: u64,
    pub(crate) throughput_rps: f64,
    pub(crate) latency: Option<Latency>,
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

impl Latency {
    /// Sorts `samples_us` in place; `None` when there is no sample.
    pub(crate) fn from_samples(samples_us: &mut [u64]) -> Option<Latency> {
        if samples_us.is_empty() {
            return None;
        }
        samples_us.sort_unstable();
        let total: u128 = samples_us.iter().map(|&us| u128::from(us)).sum();
        let mean_us = total as f64 / samples_us.len() as f64;
        Some(Latency {
            p50: to_ms(nearest_rank(samples_us, 50)),
            p90: to_ms(nearest_rank(samples_us, 90)),
            p99: to_ms(nearest_rank(samples_us, 99)),
            max: to_ms(samples_us[samples_us.len() - 1]),
            mean: mean_us / 1000.0,
        })
    }
}

/// Nearest-rank percentile of an ascending, non-empty slice; `percentile` is a whole number
/// from 1 to 100, so the rank is computed in integers.
fn nearest_rank(sorted: &[u64], percentile: usize) -> u64 {
    let rank = (percentile * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Rounds to three decimals so the JSON stays readable.
fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

impl Report {
    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let latency = self.latency.map(|l| {
            json!({
                "p50": round3(l.p50),
                "p90": round3(l.p90),
                "p99": round3(l.p99),
                "max": round3(l.max),
                "mean": round3(l.mean),
            })
        });
        json!({
            "scenario": self.scenario,
            "url": self.url,
            "clients": self.clients,
            "warmup_secs": self.warmup_secs,
            "duration_secs": self.duration_secs,
            "measured_secs": round3(self.measured_secs),
            "requests": self.requests,
            "successes": self.successes,
            "errors": self.error_count(),
            "errors_by_kind": self.errors,
            "warmup_requests": self.warmup_requests,
            "throughput_rps": round3(self.throughput_rps),
            "latency_ms": latency,
        })
    }

    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "scenario {} against {}: {} clients, {} s warmup, {} s measured ({:.3} s until the \
             last request finished)\n",
            self.scenario,
            self.url,
            self.clients,
            self.warmup_secs,
            self.duration_secs,
            self.measured_secs
        ));
        out.push_str(&format!(
            "requests   {} (plus {} during warmup)\nsuccesses  {}\nerrors     {}\n",
            self.requests,
            self.warmup_requests,
            self.successes,
            self.error_count()
        ));
        for (kind, count) in &self.errors {
            out.push_str(&format!("  {kind}: {count}\n"));
        }
        out.push_str(&format!("throughput {:.1} successful req/s\n", self.throughput_rps));
        match self.latency {
            Some(l) => out.push_str(&format!(
                "latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}\n",
                l.p50, l.p90, l.p99, l.max, l.mean
            )),
            None => out.push_str("latency    no measured request\n"),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        samples.reverse();
        let latency = Latency::from_samples(&mut samples).expect("samples");
        assert_eq!((latency.p50, latency.p90, latency.p99, latency.max), (50.0, 90.0, 99.0, 100.0));
        assert!((latency.mean - 50.5).abs() < 1e-9);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let latency = Latency::from_samples(&mut [2500]).expect("one sample");
        assert_eq!((latency.p50, latency.p99, latency.max), (2.5, 2.5, 2.5));
    }

    #[test]
    fn no_samples_no_latency() {
        assert!(Latency::from_samples(&mut []).is_none());
    }

    #[test]
    fn merge_adds_up_errors_by_kind() {
        let mut first = Tally::default();
        first.record(Ok(()), Duration::from_millis(1));
        first.record(Err("http_500".into()), Duration::from_millis(2));
        let mut second = Tally::default();
        second.record(Err("http_500".into()), Duration::from_millis(3));
        second.record(Err("timeout".into()), Duration::from_millis(4));
        first.merge(second);
        assert_eq!((first.requests, first.successes), (4, 1));
        assert_eq!(first.errors.get("http_500"), Some(&2));
        assert_eq!(first.errors.get("timeout"), Some(&1));
        assert_eq!(first.latencies_us.len(), 4);
    }
}
