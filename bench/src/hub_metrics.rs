//! The live hub's passes and computations over a stretch of a run, from
//! the server's `/metrics` read before and after it: what a fan-out's
//! latency is made of (a wait for the next computation, then one for the
//! dashboard's turn in the pass round them).

use std::fmt;

/// Read by the harness only; the server under test is on loopback.
pub const METRICS_TOKEN: &str = "rollcall-bench-metrics";

/// One Prometheus histogram as scraped: cumulative counts by upper bound.
#[derive(Debug, Default, Clone, PartialEq)]
struct Scraped {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Scraped {
    fn parse(text: &str, name: &str) -> Scraped {
        let mut scraped = Scraped::default();
        let bucket = format!("{name}_bucket{{le=\"");
        let (sum, count) = (format!("{name}_sum "), format!("{name}_count "));
        for line in text.lines() {
            let number = |s: &str| s.trim().parse::<f64>().ok();
            if let Some(rest) = line.strip_prefix(&bucket) {
                let Some((bound, value)) = rest.split_once("\"} ") else {
                    continue;
                };
                let bound = if bound == "+Inf" {
                    Some(f64::INFINITY)
                } else {
                    number(bound)
                };
                if let (Some(bound), Some(value)) = (bound, number(value)) {
                    scraped.buckets.push((bound, value));
                }
            } else if let Some(value) = line.strip_prefix(&sum).and_then(number) {
                scraped.sum = value;
            } else if let Some(value) = line.strip_prefix(&count).and_then(number) {
                scraped.count = value;
            }
        }
        scraped
    }

    /// What was observed since `before`.
    fn since(&self, before: &Scraped) -> Scraped {
        Scraped {
            buckets: self
                .buckets
                .iter()
                .map(|&(bound, n)| {
                    let earlier = before
                        .buckets
                        .iter()
                        .find(|(b, _)| *b == bound)
                        .map_or(0.0, |(_, n)| *n);
                    (bound, n - earlier)
                })
                .collect(),
            sum: self.sum - before.sum,
            count: self.count - before.count,
        }
    }

    /// The smallest bucket bound at or under which `share` of them fell.
    fn bound_of(&self, share: f64) -> f64 {
        if self.count <= 0.0 {
            return 0.0;
        }
        self.buckets
            .iter()
            .find(|(_, n)| *n >= share * self.count)
            .map_or(f64::INFINITY, |(bound, _)| *bound)
    }
}

/// A counter's value, 0 if the text has none.
fn counter(text: &str, name: &str) -> f64 {
    let name = format!("{name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct HubTimes {
    pub passes: u64,
    pub pass_mean_ms: f64,
    /// Nine passes in ten took at most this long (a bucket's bound).
    pub pass_p90_at_most_ms: f64,
    pub updates: u64,
    pub computations: u64,
    pub computation_mean_ms: f64,
}

/// The hub's work between two scrapes of `/metrics`.
pub fn between(before: &str, after: &str) -> HubTimes {
    let of = |name: &str| Scraped::parse(after, name).since(&Scraped::parse(before, name));
    let passes = of("rollcall_live_pass_seconds");
    let computations = of("rollcall_live_computation_seconds");
    let updates = counter(after, "rollcall_live_updates_total")
        - counter(before, "rollcall_live_updates_total");
    let mean_ms = |h: &Scraped| {
        if h.count > 0.0 {
            1000.0 * h.sum / h.count
        } else {
            0.0
        }
    };
    HubTimes {
        passes: passes.count as u64,
        pass_mean_ms: mean_ms(&passes),
        pass_p90_at_most_ms: 1000.0 * passes.bound_of(0.9),
        updates: updates as u64,
        computations: computations.count as u64,
        computation_mean_ms: mean_ms(&computations),
    }
}

impl fmt::Display for HubTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the hub: {} passes round the dashboards, mean {:.0} ms, 9 in 10 within {:.0} ms, {} updates; {} computations, mean {:.1} ms",
            self.passes,
            self.pass_mean_ms,
            self.pass_p90_at_most_ms,
            self.updates,
            self.computations,
            self.computation_mean_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(
        passes: [u64; 4],
        sum: f64,
        updates: u64,
        computations: u64,
        computing: f64,
    ) -> String {
        let [a, b, c, inf] = passes;
        format!(
            "# HELP rollcall_live_pass_seconds rounds\n\
             # TYPE rollcall_live_pass_seconds histogram\n\
             rollcall_live_pass_seconds_bucket{{le=\"0.1\"}} {a}\n\
             rollcall_live_pass_seconds_bucket{{le=\"0.2\"}} {b}\n\
             rollcall_live_pass_seconds_bucket{{le=\"0.25\"}} {c}\n\
             rollcall_live_pass_seconds_bucket{{le=\"+Inf\"}} {inf}\n\
             rollcall_live_pass_seconds_sum {sum}\n\
             rollcall_live_pass_seconds_count {inf}\n\
             rollcall_live_computation_seconds_sum {computing}\n\
             rollcall_live_computation_seconds_count {computations}\n\
             rollcall_live_updates_total {updates}\n"
        )
    }

    #[test]
    fn only_what_the_hub_did_between_the_scrapes_counts() {
        // Before: 5 quick passes while the dashboards connected.
        let before = scrape([5, 5, 5, 5], 0.05, 500, 7, 0.007);
        // After: 10 more, 2 of them quick, 6 under 200 ms, 1 under 250, 1
        // over, handing out 90 updates.
        let after = scrape([7, 13, 14, 15], 0.05 + 1.8, 590, 107, 0.007 + 0.5);
        let hub = between(&before, &after);
        assert_eq!((hub.passes, hub.updates), (10, 90));
        assert!((hub.pass_mean_ms - 180.0).abs() < 1e-9);
        assert_eq!(hub.pass_p90_at_most_ms, 250.0);
        assert_eq!(hub.computations, 100);
        assert!((hub.computation_mean_ms - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_server_without_the_series_gives_zeros_not_nonsense() {
        let hub = between("", "");
        assert_eq!((hub.passes, hub.computations, hub.updates), (0, 0, 0));
        assert_eq!((hub.pass_mean_ms, hub.pass_p90_at_most_ms), (0.0, 0.0));
    }
}
