//! The sandbox every dyno, build and one-off runs in: no root and no capabilities, a read-only
//! system, no access to skiff's state or other apps, private tmp and devices, a system-call filter.

use super::values::{b, s, strs, Property, PropertyValue};
use crate::model::{VOLUME_GROUP, VOLUME_UMASK};

/// The sandbox properties, appended after every unit's own: a dynamic user in the confinement.
pub fn sandbox_properties() -> Vec<Property> {
    let mut props = vec![("DynamicUser", b(true))];
    props.extend(confinement_properties());
    props
}

/// The sandbox of an app's processes (never builds'). Each runs as a dynamic user of its own,
/// so processes of an app with volumes share them through a group instead: every volume is
/// `root:skiff-volumes` with mode 2770, these processes get that group and a umask that keeps
/// what they write writable by it. Only the app's own volumes are mounted in its processes, and
/// skiff's state directory stays hidden, so the group reaches no other app's files.
pub(super) fn app_sandbox_properties(has_volumes: bool) -> Vec<Property> {
    let mut props = sandbox_properties();
    if has_volumes {
        for (name, value) in props.iter_mut() {
            if *name == "UMask" {
                *value = PropertyValue::U32(VOLUME_UMASK);
            }
        }
        props.push(("SupplementaryGroups", strs([VOLUME_GROUP])));
    }
    props
}

/// Everything of the sandbox but the user, for units that run as a fixed system user (an
/// add-on's Redis, whose data keeps one owner across restarts).
pub(super) fn confinement_properties() -> Vec<Property> {
    vec![
        ("PrivateUsers", b(true)),
        ("NoNewPrivileges", b(true)),
        ("ProtectSystem", s("strict")),
        ("ProtectHome", s("yes")),
        ("PrivateTmp", b(true)),
        ("PrivateDevices", b(true)),
        ("ProtectKernelTunables", b(true)),
        ("ProtectKernelModules", b(true)),
        ("ProtectKernelLogs", b(true)),
        ("ProtectControlGroups", b(true)),
        ("ProtectClock", b(true)),
        ("ProtectHostname", b(true)),
        ("ProtectProc", s("invisible")),
        ("ProcSubset", s("pid")),
        // The allowed namespace types; none.
        ("RestrictNamespaces", PropertyValue::U64(0)),
        ("RestrictRealtime", b(true)),
        ("RestrictSUIDSGID", b(true)),
        ("LockPersonality", b(true)),
        ("SystemCallArchitectures", strs(["native"])),
        (
            "SystemCallFilter",
            PropertyValue::Filter(true, vec!["@system-service".into()]),
        ),
        (
            "SystemCallFilter",
            PropertyValue::Filter(false, vec!["@privileged".into(), "@resources".into()]),
        ),
        // A denied call fails with EPERM instead of killing the process: runtimes such as Node.js
        // probe calls like prlimit64 at start and carry on without them.
        ("SystemCallErrorNumber", PropertyValue::I32(1)),
        (
            "RestrictAddressFamilies",
            PropertyValue::Filter(
                true,
                vec!["AF_INET".into(), "AF_INET6".into(), "AF_UNIX".into()],
            ),
        ),
        // An empty bounding set: no capabilities at all.
        ("CapabilityBoundingSet", PropertyValue::U64(0)),
        ("UMask", PropertyValue::U32(0o077)),
    ]
}
