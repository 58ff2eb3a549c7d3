//! How long the hub's work takes, for `/metrics`. A dashboard waits up to a
//! tick for the next computation of its event's numbers and then up to a
//! pass round the dashboards for its turn (BENCHMARKS.md), so these two say
//! why its updates lag: a computation (from asking the database to having
//! the numbers) and a pass (the fan-out going once round every dashboard of
//! the event, handing updates to those behind).

use prometheus::{Histogram, HistogramOpts, IntCounter};
use std::time::Duration;

/// Shared handles: the hub observes, `/metrics` registers and reads.
#[derive(Clone)]
pub struct HubTimings {
    pub passes: Histogram,
    pub computations: Histogram,
    pub updates: IntCounter,
}

impl HubTimings {
    pub fn new() -> prometheus::Result<Self> {
        Ok(HubTimings {
            passes: Histogram::with_opts(
                HistogramOpts::new(
                    "live_pass_seconds",
                    "Time the fan-out takes to go once round every dashboard of an event, \
                     handing updates to those behind",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
                    0.75, 1.0, 2.5, 5.0,
                ]),
            )?,
            computations: Histogram::with_opts(
                HistogramOpts::new(
                    "live_computation_seconds",
                    "Time from asking the database for an event's live numbers to having them",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
                ]),
            )?,
            updates: IntCounter::new("live_updates_total", "Updates handed to dashboards")?,
        })
    }

    pub(super) fn pass(&self, took: Duration) {
        self.passes.observe(took.as_secs_f64());
    }

    pub(super) fn handed(&self, updates: usize) {
        self.updates.inc_by(updates as u64);
    }

    pub(super) fn computation(&self, took: Duration) {
        self.computations.observe(took.as_secs_f64());
    }
}
