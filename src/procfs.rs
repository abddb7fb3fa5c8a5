//! A unit's usage read from its processes in /proc, where systemd cannot account it (a host
//! whose cgroup controllers are not given to systemd, as in containers on cgroup v1 hosts):
//! resident memory (`VmRSS`), CPU time (`utime + stime` of each live process, in the kernel's
//! fixed 100 Hz user-space ticks) and threads, summed. Processes that exit between the listing
//! and the read are skipped. Blocking: callers run it on the blocking pool.

use crate::systemd::Usage;

/// The kernel reports CPU times in /proc in USER_HZ ticks, 100 per second on Linux by ABI.
const NSEC_PER_TICK: u64 = 10_000_000;

/// Pure: (resident bytes, threads) from /proc/PID/status.
fn status_counts(status: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((field("VmRSS:").unwrap_or(0) * 1024, field("Threads:")?))
}

/// Pure: CPU time in ns from /proc/PID/stat (fields 14 and 15, counted after the command's `)`).
fn stat_cpu_nsec(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * NSEC_PER_TICK)
}

/// The summed usage of `pids`; `None` when none of them could be read.
pub fn usage_of(pids: &[u32]) -> Option<Usage> {
    let mut usage = Usage {
        cpu_nsec: Some(0),
        memory_bytes: Some(0),
        tasks: Some(0),
    };
    let mut read = 0;
    for pid in pids {
        let (Ok(status), Ok(stat)) = (
            std::fs::read_to_string(format!("/proc/{pid}/status")),
            std::fs::read_to_string(format!("/proc/{pid}/stat")),
        ) else {
            continue;
        };
        let (Some((rss, threads)), Some(cpu)) = (status_counts(&status), stat_cpu_nsec(&stat))
        else {
            continue;
        };
        read += 1;
        usage.memory_bytes = usage.memory_bytes.map(|m| m + rss);
        usage.tasks = usage.tasks.map(|t| t + threads);
        usage.cpu_nsec = usage.cpu_nsec.map(|c| c + cpu);
    }
    (read > 0).then_some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_stat_fields_are_read() {
        let status = "Name:\tpython3\nVmRSS:\t   24576 kB\nThreads:\t3\n";
        assert_eq!(status_counts(status), Some((24576 * 1024, 3)));
        assert_eq!(status_counts("Name:\tx\n"), None);
        let stat = "42 (python3 (web)) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0";
        assert_eq!(stat_cpu_nsec(stat), Some(200 * NSEC_PER_TICK));
        assert_eq!(stat_cpu_nsec("garbage"), None);
    }

    #[test]
    fn this_process_reads_and_a_missing_one_is_skipped() {
        let me = std::process::id();
        let usage = usage_of(&[me, u32::MAX]).unwrap();
        assert!(usage.memory_bytes.unwrap() > 0);
        assert!(usage.tasks.unwrap() >= 1);
        assert_eq!(usage_of(&[u32::MAX]), None);
    }
}
