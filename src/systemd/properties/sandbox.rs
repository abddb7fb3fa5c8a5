//! The sandbox every dyno, build and one-off runs in: no root and no capabilities, a read-only
//! system, no access to skiff's state or other apps, private tmp and devices, a system-call filter.

use super::values::{b, s, strs, Property, PropertyValue};

/// The sandbox properties, appended after every unit's own: a dynamic user in the confinement.
pub fn sandbox_properties() -> Vec<Property> {
    let mut props = vec![("DynamicUser", b(true))];
    props.extend(confinement_properties());
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
