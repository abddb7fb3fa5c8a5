//! The oneshot unit that runs host commands for skiffd in PID 1's own namespaces (setting up or
//! removing an app's network namespace with `ip`): skiffd's sandbox has a mount namespace of
//! its own, so a namespace it mounted itself would be invisible to the units that join it.

use super::values::{s, Property, PropertyValue};
use crate::systemd::names::ROOT_SLICE;

/// One command: its argv (the first entry is the absolute path) and whether a failure is fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCommand {
    pub argv: Vec<String>,
    pub ignore_failure: bool,
}

/// Commands run one after the other, as root, stopping at the first failure that counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCommandsSpec {
    pub description: String,
    pub commands: Vec<HostCommand>,
    pub timeout_usec: u64,
}

pub fn host_commands_properties(spec: &HostCommandsSpec) -> Vec<Property> {
    let exec = spec
        .commands
        .iter()
        .map(|c| (c.argv[0].clone(), c.argv.clone(), c.ignore_failure))
        .collect();
    vec![
        ("Description", s(spec.description.clone())),
        ("Slice", s(ROOT_SLICE)),
        ("Type", s("oneshot")),
        ("ExecStart", PropertyValue::Exec(exec)),
        ("TimeoutStartUSec", PropertyValue::U64(spec.timeout_usec)),
        // Gone once done, failed or not: the start job's result says how it went.
        ("CollectMode", s("inactive-or-failed")),
    ]
}

#[cfg(test)]
pub(in crate::systemd::properties) mod tests {
    use super::*;
    use crate::systemd::properties::test_support::one;

    pub(in crate::systemd::properties) fn commands_spec() -> HostCommandsSpec {
        HostCommandsSpec {
            description: "skiff network of shop".into(),
            commands: vec![
                HostCommand {
                    argv: vec!["/sbin/ip".into(), "netns".into(), "add".into(), "x".into()],
                    ignore_failure: false,
                },
                HostCommand {
                    argv: vec!["/sbin/ip".into(), "link".into()],
                    ignore_failure: true,
                },
            ],
            timeout_usec: 10_000_000,
        }
    }

    #[test]
    fn commands_run_in_order_as_one_oneshot_that_leaves_nothing_behind() {
        let props = host_commands_properties(&commands_spec());
        assert_eq!(one(&props, "Type"), &s("oneshot"));
        assert_eq!(one(&props, "CollectMode"), &s("inactive-or-failed"));
        assert_eq!(
            one(&props, "ExecStart"),
            &PropertyValue::Exec(vec![
                (
                    "/sbin/ip".into(),
                    vec!["/sbin/ip".into(), "netns".into(), "add".into(), "x".into()],
                    false
                ),
                (
                    "/sbin/ip".into(),
                    vec!["/sbin/ip".into(), "link".into()],
                    true
                ),
            ])
        );
        assert_eq!(
            one(&props, "TimeoutStartUSec"),
            &PropertyValue::U64(10_000_000)
        );
    }
}
