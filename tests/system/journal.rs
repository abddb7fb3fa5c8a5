//! skiffd logs to journald with structured fields (tracing-journald), so `journalctl` is the way to read it.

use crate::harness::Container;
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "journal_structured_fields",
        run: journal_structured_fields,
    }]
}

fn journal_structured_fields(c: &Container) {
    c.install_deb();
    // Something to log about.
    c.ok("skiff apps:create logged");
    c.ok("journalctl --sync");

    let out = c.ok("journalctl -u skiffd -o json --no-pager");
    let entries: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("journalctl -o json line is not JSON ({e}): {l}"))
        })
        .collect();
    let own: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["SYSLOG_IDENTIFIER"] == "skiffd")
        .collect();
    assert!(
        !own.is_empty(),
        "no journal entry with SYSLOG_IDENTIFIER=skiffd among {} entries of unit skiffd:\n{}",
        entries.len(),
        c.sh("journalctl -u skiffd --no-pager -o verbose -n 20")
            .stdout
    );
    assert!(
        own.iter().any(|e| e.get("TARGET").is_some()),
        "no skiffd entry carries tracing-journald's TARGET field; keys seen: {:?}",
        own.iter()
            .flat_map(|e| e
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default())
            .collect::<std::collections::BTreeSet<_>>()
    );
    // Lines come from skiffd itself (its MainPID), not only from systemd talking about the unit.
    let pid = c
        .ok("systemctl show skiffd -p MainPID --value")
        .trim()
        .to_string();
    assert!(
        own.iter().any(|e| e["_PID"] == pid.as_str()),
        "no entry from skiffd's own process (_PID={pid})"
    );
}
