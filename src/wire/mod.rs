//! The HTTP API's wire format: every body, query and frame skiffd and the CLI exchange, with its
//! OpenAPI schema, and the whole-server archive decoded from its tar stream. No behaviour
//! beyond (de)serialising; the API converts domain types to these.

mod addons;
mod alerts;
mod apps;
mod archive;
mod backups;
mod buildpacks;
mod cron;
mod dashboard;
mod deploys;
mod drains;
mod dynos;
mod error;
#[cfg(test)]
pub(crate) mod fixtures;
mod health;
mod keys;
mod logs;
mod metrics;
mod network;
mod releases;
mod routing;
pub mod run_protocol;
mod runs;
mod server;
mod tokens;
mod volumes;

pub use addons::{
    Addon, AddonChanged, AddonCredentials, AddonRelease, AddonServerInfo, AddonsQuery, AttachAddon,
    Attachment, CreateAddon, DestroyQuery, PgSessionInfo, PlanInfo, PolicyRequest,
};
pub use alerts::{AddAlert, Alert, AlertList, AlertWebhookRequest};
pub use apps::{App, AppInfo, CreateApp, DiskUse, RenameApp};
pub use archive::{archive_entry_path, verify_archive, ArchiveFault, Hashed};
pub use backups::{
    Backup, BackupList, BackupRestored, BackupScheduleBody, BackupScheduleRequest, CaptureQuery,
    BACKUP_SHA256_HEADER, SCHEDULED_BACKUP_VERB,
};
pub use buildpacks::{AppBuildpacks, SetBuildpacks};
pub use cron::CronJobInfo;
pub use drains::{AddDrain, Drain};

/// Percent-encodes a path segment or query value for the API's URLs (everything but RFC
/// 3986's unreserved characters), as the CLI and the dashboard send them.
pub fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
pub use dashboard::{DashboardLink, SessionsEnded};
pub use deploys::{BuildEvent, DeployQuery, Release};
pub use dynos::{
    Autosleep, AutosleepRequest, Dyno, FormationItem, ResizeRequest, RestartRequest, Restarted,
    ScaleRequest,
};
pub use error::{ErrorBody, ErrorDetail};
pub use health::Health;
pub use keys::{AddKey, Key};
pub use logs::LogsParams;
pub use metrics::{AppMetrics, DynoUsage, DynoUsagePoint, MetricsQuery, ProcessUsage, RouterPoint};
pub use network::{EgressRequest, NetworkInfo};
pub use releases::{AppEvent, ConfigChanged, ConfigMap, ReleaseInfo, RollbackRequest};
pub use routing::{CompressionBody, DomainRequest, Domains, HealthCheckBody, Maintenance};
pub use runs::{RunBody, RunStarted, TerminalBody};
pub use server::{RestoreQuery, RestoredAddon, ServerRestored, ARCHIVE_CONTENT_TYPE};
pub use tokens::{CreateToken, CreatedToken, Token};
pub use volumes::{CreateVolume, Volume, VolumeChanged, VolumeDestroyQuery};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encodes_all_but_the_unreserved_characters() {
        assert_eq!(percent_encode("web.1-a_b~"), "web.1-a_b~");
        assert_eq!(percent_encode("Deploy 1a2b"), "Deploy%201a2b");
        assert_eq!(percent_encode("a&b=c/é?"), "a%26b%3Dc%2F%C3%A9%3F");
    }

    fn release(failure: Option<&str>) -> Release {
        Release {
            version: 3,
            slug_version: 2,
            description: "Set A".into(),
            created_at: "2026-11-21T10:00:00Z".into(),
            process_types: vec!["web".into()],
            config_keys: vec!["A".into()],
            status: "failed".into(),
            failure: failure.map(str::to_owned),
            build_id: None,
        }
    }

    /// The exact JSON of the shapes with serde attributes: tags, flattening, omitted fields.
    #[test]
    fn bodies_keep_their_json_shape() {
        let release_json = r#""version":3,"slug_version":2,"description":"Set A","created_at":"2026-11-21T10:00:00Z","process_types":["web"],"config_keys":["A"],"status":"failed""#;
        let cases = [
            (
                serde_json::to_string(&release(None)).unwrap(),
                format!("{{{release_json}}}"),
            ),
            (
                serde_json::to_string(&BuildEvent::Release(release(Some("boom")))).unwrap(),
                format!(r#"{{"release":{{{release_json},"failure":"boom"}}}}"#),
            ),
            (
                serde_json::to_string(&Release {
                    build_id: Some("0123456789ab".into()),
                    ..release(None)
                })
                .unwrap(),
                format!(r#"{{{release_json},"build_id":"0123456789ab"}}"#),
            ),
            (
                serde_json::to_string(&BuildEvent::Output("line".into())).unwrap(),
                r#"{"output":"line"}"#.to_owned(),
            ),
            (
                serde_json::to_string(&BuildEvent::Error(ErrorDetail {
                    code: "build_failed".into(),
                    message: "no".into(),
                }))
                .unwrap(),
                r#"{"error":{"code":"build_failed","message":"no"}}"#.to_owned(),
            ),
            (
                serde_json::to_string(&HealthCheckBody {
                    path: Some("/up".into()),
                    ..HealthCheckBody::default()
                })
                .unwrap(),
                r#"{"path":"/up"}"#.to_owned(),
            ),
            (
                serde_json::to_string(&RunBody {
                    command: vec!["ls".into()],
                    detached: false,
                    terminal: Some(TerminalBody {
                        cols: 80,
                        rows: 24,
                        term: None,
                    }),
                    timeout: None,
                })
                .unwrap(),
                r#"{"command":["ls"],"detached":false,"terminal":{"cols":80,"rows":24}}"#
                    .to_owned(),
            ),
            (
                serde_json::to_string(&ReleaseInfo {
                    release: release(None),
                    processes: [("web".to_owned(), "app".to_owned())].into(),
                    slug_on_disk: true,
                    current: false,
                })
                .unwrap(),
                format!(
                    r#"{{{release_json},"processes":{{"web":"app"}},"slug_on_disk":true,"current":false}}"#
                ),
            ),
        ];
        for (actual, expected) in cases {
            assert_eq!(actual, expected);
        }
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        assert!(serde_json::from_str::<CreateApp>(r#"{"name":"a","x":1}"#).is_err());
        assert!(serde_json::from_str::<RunBody>(r#"{"command":["ls"],"tty":true}"#).is_err());
        let body: RunBody = serde_json::from_str(r#"{"command":["ls"]}"#).unwrap();
        assert!(!body.detached && body.terminal.is_none() && body.timeout.is_none());
    }
}
