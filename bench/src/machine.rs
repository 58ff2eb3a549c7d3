//! What the whole machine did while a figure was measured: how many of its
//! cores were busy, idle, waiting on the disk, or taken by the hypervisor
//! (steal). On a shared VM the same code measures differently from one
//! minute to the next; the steal beside each figure says which figures were
//! taken while the host gave us less than our cores (BENCHMARKS.md).

use procfs::{CpuTime, Current, CurrentSI, KernelStats, Meminfo};

/// The machine the figures were taken on, for the table's heading: "2
/// cores, 24 GiB".
pub fn summary() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = Meminfo::current().map_or(0.0, |m| m.mem_total as f64 / (1 << 30) as f64);
    format!("{cores} cores, {memory:.0} GiB")
}

/// The machine's CPU counters at one moment (`/proc/stat`).
pub struct CpuClock {
    total: CpuTime,
    cores: usize,
}

impl CpuClock {
    /// `None` where `/proc/stat` can't be read: the figures still count,
    /// they just come without the machine's side.
    pub fn now() -> Option<CpuClock> {
        let stats = KernelStats::current().ok()?;
        Some(CpuClock {
            cores: stats.cpu_time.len(),
            total: stats.total,
        })
    }

    /// What the cores did since this moment, in cores (they add up to the
    /// machine's core count).
    pub fn shares_since(&self) -> Option<CpuShares> {
        let later = CpuClock::now()?;
        let (a, b) = (ms(&self.total), ms(&later.total));
        let spent = |i: usize| b[i].saturating_sub(a[i]) as f64;
        let all: f64 = (0..a.len()).map(spent).sum();
        if all <= 0.0 {
            return None;
        }
        let cores = |part: f64| part / all * later.cores as f64;
        Some(CpuShares {
            busy: cores(spent(USER) + spent(SYSTEM) + spent(INTERRUPTS)),
            idle: cores(spent(IDLE)),
            iowait: cores(spent(IOWAIT)),
            steal: cores(spent(STEAL)),
        })
    }
}

const USER: usize = 0;
const SYSTEM: usize = 1;
const INTERRUPTS: usize = 2;
const IDLE: usize = 3;
const IOWAIT: usize = 4;
const STEAL: usize = 5;

/// The counters that add up to the cores' wall time, in milliseconds (guest
/// time is already inside user time, so it is not added again).
fn ms(t: &CpuTime) -> [u64; 6] {
    let mut parts = [0; 6];
    parts[USER] = t.user_ms() + t.nice_ms();
    parts[SYSTEM] = t.system_ms();
    parts[INTERRUPTS] = t.irq_ms().unwrap_or(0) + t.softirq_ms().unwrap_or(0);
    parts[IDLE] = t.idle_ms();
    parts[IOWAIT] = t.iowait_ms().unwrap_or(0);
    parts[STEAL] = t.steal_ms().unwrap_or(0);
    parts
}

/// Cores busy (ours: server, harness, database), idle, waiting on the disk
/// and stolen by the host, over one measured window.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CpuShares {
    pub busy: f64,
    pub idle: f64,
    pub iowait: f64,
    pub steal: f64,
}

impl std::fmt::Display for CpuShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cores busy {:.2}, idle {:.2}, iowait {:.2}, stolen {:.2}",
            self.busy, self.idle, self.iowait, self.steal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::CpuClock;

    #[test]
    fn a_busy_thread_shows_as_a_busy_core() {
        let clock = CpuClock::now().expect("/proc/stat is readable on Linux");
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut spins = 0u64;
        while std::time::Instant::now() < until {
            spins = std::hint::black_box(spins + 1);
        }
        let shares = clock.shares_since().expect("time has passed");
        // This thread alone kept one core busy, less what the host stole
        // (the counters tick every 10 ms, so not exactly one).
        assert!(shares.busy + shares.steal > 0.7, "{shares}");
    }
}
