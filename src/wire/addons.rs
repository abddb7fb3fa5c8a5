//! Add-ons on the wire: creating, attaching and destroying them, their plans, and what
//! `pg:info` and `redis:info` show.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAddon {
    /// `postgres` or `redis` (also `postgresql`, `heroku-postgresql`, `pg`, `heroku-redis`).
    pub service: String,
    /// The app that owns it and is attached to it first.
    pub app: String,
    /// The attachment name (`DATABASE` → `DATABASE_URL`); the service's default otherwise.
    #[serde(default, rename = "as")]
    pub attach_as: Option<String>,
    /// A plan of `addons:plans`; the default plan otherwise.
    #[serde(default)]
    pub plan: Option<String>,
    /// The add-on's name; `SERVICE-APP[-N]` otherwise.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachAddon {
    pub app: String,
    #[serde(default, rename = "as")]
    pub attach_as: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub app: String,
    /// `DATABASE`
    pub name: String,
    /// `DATABASE_URL`
    pub config_var: String,
    /// Whether the app's config carries the add-on's current URL.
    pub applied: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Addon {
    pub name: String,
    /// `postgresql` or `redis`.
    pub service: String,
    pub plan: String,
    /// The app that owns it; null once that app is destroyed.
    pub owner: Option<String>,
    /// `creating`, `ready` or `destroying`.
    pub state: String,
    pub attachments: Vec<Attachment>,
    pub created_at: String,
    /// Why the reconciler could not make or change it lately, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// An app's release made by an add-on change: `v4`, or null when the app has no deploy yet
/// (its first deploy then gets the config var).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonRelease {
    pub app: String,
    pub release: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonChanged {
    pub addon: Addon,
    /// The releases of apps whose config var this change set or took away.
    pub releases: Vec<AddonRelease>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInfo {
    pub name: String,
    pub postgres_connections: u32,
    /// Redis's maxmemory, in bytes.
    pub redis_memory: u64,
    pub default: bool,
}

/// The URL to connect with, for `pg:psql` and `redis:cli` on the server.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonCredentials {
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// A Redis `maxmemory-policy`, e.g. `allkeys-lru`.
    pub policy: String,
}

/// What `pg:info` and `redis:info` show of one add-on's server.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonServerInfo {
    pub name: String,
    pub service: String,
    pub version: String,
    pub plan: String,
    /// The apps attached to it.
    pub attached: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmemory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_memory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
}

/// One session on a Postgres add-on's database (`pg:ps`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PgSessionInfo {
    pub pid: i32,
    pub state: String,
    /// When its current or last query started (UTC), empty if it ran none.
    pub since: String,
    /// Its current or last query, cut at 200 characters.
    pub query: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AddonsQuery {
    /// Only add-ons owned by or attached to this app.
    pub app: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct DestroyQuery {
    /// The owner app's name, as `--confirm` says it.
    pub confirm: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_takes_as_and_refuses_unknown_fields() {
        let body: CreateAddon =
            serde_json::from_str(r#"{"service": "redis", "app": "shop", "as": "CACHE"}"#).unwrap();
        assert_eq!(body.attach_as.as_deref(), Some("CACHE"));
        assert_eq!(body.plan, None);
        assert!(serde_json::from_str::<CreateAddon>(
            r#"{"service": "redis", "app": "shop", "size": 1}"#
        )
        .is_err());
    }
}
