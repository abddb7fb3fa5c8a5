//! Test-only builders of the wire types the CLI's and the dashboard's pure views read.

use super::{App, AppInfo, Autosleep, DiskUse, Dyno, FormationItem, Release};

/// An app with no release, formation, dynos or anything else.
pub(crate) fn app_info() -> AppInfo {
    AppInfo {
        app: App {
            name: "shop".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            web_url: "http://shop.localhost/".into(),
            sleep: "off".into(),
            sleeping_since: None,
        },
        domains: vec![],
        release: None,
        pending_release: None,
        maintenance: false,
        compression: true,
        health_check: String::new(),
        formation: vec![],
        dynos: vec![],
        cron: vec![],
        disk: DiskUse {
            slugs: 0,
            cache: 0,
            builds: 0,
            repo: 0,
            backups: 0,
            total: 0,
        },
        addons: vec![],
        volumes: vec![],
        autosleep: Autosleep {
            setting: "off".into(),
            effective: None,
            state: "awake".into(),
            since: None,
            wake_failure: None,
        },
        former_names: vec![],
    }
}

/// A succeeded release `vN`.
pub(crate) fn release(version: u32) -> Release {
    Release {
        version,
        slug_version: version,
        description: "Deploy".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        process_types: vec!["web".into()],
        config_keys: vec![],
        status: "succeeded".into(),
        failure: None,
        build_id: Some("0123456789ab".into()),
    }
}

/// Dyno `TYPE.1` in `state`, of release `vN`.
pub(crate) fn dyno(process_type: &str, state: &str, release: u32) -> Dyno {
    Dyno {
        name: format!("{process_type}.1"),
        process_type: process_type.into(),
        state: state.into(),
        since: None,
        release: Some(release),
        pid: None,
        port: None,
        restarts: 0,
        command: String::new(),
        unit: None,
        memory_bytes: None,
        memory_limit: None,
        cpu_percent: None,
        tasks: None,
    }
}

/// `quantity` dynos of `process_type` in the formation.
pub(crate) fn formation(process_type: &str, quantity: u32) -> FormationItem {
    FormationItem {
        process_type: process_type.into(),
        quantity,
        command: String::new(),
        memory_bytes: 0,
        cpu_percent: 0,
        tasks: 0,
    }
}
