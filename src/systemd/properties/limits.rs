//! The cgroup limits of a dyno or one-off (memory, CPU quota and tasks) and the accounting
//! that makes systemd count what it uses (IO and IP accounting are off unless asked for).

use super::values::{Property, PropertyValue};
use crate::model::Limits;

/// The cgroup limits of a dyno; also applied live to running units by `ps:resize`.
pub fn limit_properties(limits: &Limits) -> Vec<Property> {
    vec![
        ("MemoryMax", PropertyValue::U64(limits.memory_bytes)),
        (
            "CPUQuotaPerSecUSec",
            PropertyValue::U64(u64::from(limits.cpu_percent) * 10_000),
        ),
        ("TasksMax", PropertyValue::U64(limits.tasks)),
    ]
}

/// Turns on every cgroup counter systemd keeps for a unit: `CPUUsageNSec`, `MemoryCurrent`,
/// `TasksCurrent`, the IO and IP byte counters, and the tally it logs when the unit stops.
pub fn accounting_properties() -> Vec<Property> {
    [
        "CPUAccounting",
        "MemoryAccounting",
        "TasksAccounting",
        "IOAccounting",
        "IPAccounting",
    ]
    .into_iter()
    .map(|name| (name, PropertyValue::Bool(true)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_becomes_a_quota_per_second() {
        for (percent, usec) in [(50, 500_000), (100, 1_000_000), (200, 2_000_000)] {
            let p = limit_properties(&Limits {
                memory_bytes: 1 << 20,
                cpu_percent: percent,
                tasks: 8,
            });
            assert_eq!(p[1], ("CPUQuotaPerSecUSec", PropertyValue::U64(usec)));
        }
    }
}
