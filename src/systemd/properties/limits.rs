//! The cgroup limits of a dyno or one-off: memory, CPU quota and tasks.

use super::values::{Property, PropertyValue};

/// Resource limits of one dyno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Percent of one CPU (200 = two cores).
    pub cpu_percent: u32,
    pub tasks: u64,
}

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
