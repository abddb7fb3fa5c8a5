//! `addons*`, `pg:*` and `redis:*`: managed Postgres and Redis add-ons. `pg:psql` and
//! `redis:cli` run Debian's `psql` and `redis-cli` on the server (`tools.rs`).

pub(crate) mod backups;
mod schedules;
mod tools;

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use super::output;
use super::{path_segment, CliError, Session};
use crate::wire::{
    Addon, AddonChanged, AddonCredentials, AddonRelease, AddonServerInfo, AttachAddon, CreateAddon,
    PgSessionInfo, PlanInfo, PolicyRequest,
};

#[derive(Debug, Subcommand)]
pub enum AddonsVerb {
    /// List the add-ons of the app (-a), or of every app.
    #[command(name = "addons")]
    List,
    /// Create an add-on (postgres or redis) and attach it to the app, which gets its URL.
    #[command(name = "addons:create")]
    Create {
        /// postgres (heroku-postgresql) or redis (heroku-redis); a `:PLAN` suffix picks the plan.
        service: String,
        /// The config var's name: NAME_URL (default DATABASE_URL or REDIS_URL).
        #[arg(long = "as")]
        attach_as: Option<String>,
        /// A plan of `skiff addons:plans`.
        #[arg(long)]
        plan: Option<String>,
        /// The add-on's name (default SERVICE-APP).
        #[arg(long)]
        name: Option<String>,
    },
    /// Show one add-on.
    #[command(name = "addons:info")]
    Info { addon: String },
    /// Attach an existing add-on to the app (-a) too: one database shared by two apps.
    #[command(name = "addons:attach")]
    Attach {
        addon: String,
        #[arg(long = "as")]
        attach_as: Option<String>,
    },
    /// Take an add-on away from the app (-a): its URL leaves the app's config.
    #[command(name = "addons:detach")]
    Detach { addon: String },
    /// Destroy an add-on and its data; detached from every app first.
    #[command(name = "addons:destroy")]
    Destroy {
        addon: String,
        /// The owner app's name, to confirm; the data is gone for good.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// The plans add-ons can have on this server.
    #[command(name = "addons:plans")]
    Plans,
    /// The app's Postgres databases: version, size, connections, plan, attached apps.
    #[command(name = "pg:info")]
    PgInfo { addon: Option<String> },
    /// Open psql on the app's database, or run one command with -c.
    #[command(name = "pg:psql")]
    PgPsql {
        addon: Option<String>,
        #[arg(short = 'c', long = "command")]
        command: Option<String>,
    },
    /// Give the database a new password; every attached app gets it with a new release.
    #[command(name = "pg:credentials:rotate")]
    PgRotate { addon: Option<String> },
    /// The sessions on the app's database: pid, state, since when, query.
    #[command(name = "pg:ps")]
    PgPs { addon: Option<String> },
    /// End one session on the app's database (a pid from pg:ps).
    #[command(name = "pg:kill")]
    PgKill { pid: i32, addon: Option<String> },
    /// Empty the app's database: every table and row is gone, the credentials stay.
    #[command(name = "pg:reset")]
    PgReset {
        addon: Option<String>,
        /// The owner app's name, to confirm; the data is gone for good.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// The app's Redis servers: version, memory, clients, keys.
    #[command(name = "redis:info")]
    RedisInfo { addon: Option<String> },
    /// Open redis-cli on the app's Redis, or run one command given after `--`.
    #[command(name = "redis:cli")]
    RedisCli {
        addon: Option<String>,
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Set Redis's maxmemory-policy (noeviction, allkeys-lru, …).
    #[command(name = "redis:maxmemory")]
    RedisMaxmemory {
        addon: Option<String>,
        #[arg(long)]
        policy: String,
    },
    /// Give the Redis a new password; every attached app gets it with a new release.
    #[command(name = "redis:credentials:rotate")]
    RedisRotate { addon: Option<String> },
}

/// An add-on as the CLI prints it after a change: the add-on and the release it made.
#[derive(Serialize)]
struct Changed<'a> {
    #[serde(flatten)]
    addon: &'a Addon,
    release: Option<String>,
}

const POSTGRES: &str = "postgresql";
const REDIS: &str = "redis";

pub(super) async fn run(verb: AddonsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        AddonsVerb::List => list(s).await,
        AddonsVerb::Create {
            service,
            attach_as,
            plan,
            name,
        } => create(s, service, attach_as, plan, name).await,
        AddonsVerb::Info { addon } => {
            let addon: Addon = s.client.get(&addon_path(&addon)?).await?;
            s.output.show(&addon, |out, _| write_addon(out, &addon))?;
            Ok(())
        }
        AddonsVerb::Attach { addon, attach_as } => {
            let body = AttachAddon {
                app: s.app()?,
                attach_as,
            };
            let path = format!("{}/attachments", addon_path(&addon)?);
            let changed: AddonChanged = s.client.post(&path, &body).await?;
            show_changed(s, &changed, "Attached")
        }
        AddonsVerb::Detach { addon } => {
            let app = s.app()?;
            let path = format!(
                "{}/attachments/{}",
                addon_path(&addon)?,
                path_segment(&app)?
            );
            let changed: AddonChanged = s.client.delete_json(&path).await?;
            show_changed(s, &changed, "Detached")
        }
        AddonsVerb::Destroy { addon, confirm } => destroy(s, &addon, confirm).await,
        AddonsVerb::Plans => {
            let plans: Vec<PlanInfo> = s.client.get("/v1/addon-plans").await?;
            s.output.show(&plans, |out, _| write_plans(out, &plans))?;
            Ok(())
        }
        AddonsVerb::PgInfo { addon } => server_info(s, POSTGRES, addon).await,
        AddonsVerb::RedisInfo { addon } => server_info(s, REDIS, addon).await,
        AddonsVerb::PgPsql { addon, command } => {
            let url = credentials(s, POSTGRES, addon).await?;
            Err(tools::psql(&url, command)?)
        }
        AddonsVerb::RedisCli { addon, command } => {
            let url = credentials(s, REDIS, addon).await?;
            Err(tools::redis_cli(&url, command)?)
        }
        AddonsVerb::PgRotate { addon } => rotate(s, POSTGRES, addon).await,
        AddonsVerb::PgPs { addon } => pg_ps(s, addon).await,
        AddonsVerb::PgKill { pid, addon } => pg_kill(s, pid, addon).await,
        AddonsVerb::PgReset { addon, confirm } => reset(s, addon, confirm).await,
        AddonsVerb::RedisRotate { addon } => rotate(s, REDIS, addon).await,
        AddonsVerb::RedisMaxmemory { addon, policy } => {
            let addon = pick(s, REDIS, addon).await?;
            let path = format!("{}/policy", addon_path(&addon.name)?);
            let body = PolicyRequest {
                policy: policy.clone(),
            };
            let record: Addon = s.client.put(&path, &body).await?;
            s.output.show(&record, |out, _| {
                writeln!(out, "Set maxmemory-policy of {} to {policy}", record.name)
            })?;
            Ok(())
        }
    }
}

async fn pg_ps(s: &mut Session<'_>, addon: Option<String>) -> Result<(), CliError> {
    let addon = pick(s, POSTGRES, addon).await?;
    let path = format!("{}/sessions", addon_path(&addon.name)?);
    let sessions: Vec<PgSessionInfo> = s.client.get(&path).await?;
    s.output
        .show(&sessions, |out, _| write_sessions(out, &sessions))?;
    Ok(())
}

async fn pg_kill(s: &mut Session<'_>, pid: i32, addon: Option<String>) -> Result<(), CliError> {
    let addon = pick(s, POSTGRES, addon).await?;
    let path = format!("{}/sessions/{pid}", addon_path(&addon.name)?);
    s.client.delete(&path).await?;
    s.output
        .show(&serde_json::json!({ "killed": pid }), |out, _| {
            writeln!(out, "Ended session {pid} on {}", addon.name)
        })?;
    Ok(())
}

async fn reset(
    s: &mut Session<'_>,
    addon: Option<String>,
    confirm: Option<String>,
) -> Result<(), CliError> {
    let addon = pick(s, POSTGRES, addon).await?;
    let owner = addon.owner.clone().unwrap_or_default();
    if confirm.as_deref() != Some(owner.as_str()) {
        return Err(CliError::Usage(format!(
            "resetting {} deletes all its data for good; to proceed, pass --confirm {owner}",
            addon.name
        )));
    }
    let path = format!(
        "{}/reset?confirm={}",
        addon_path(&addon.name)?,
        path_segment(&owner)?
    );
    let record: Addon = s.client.post(&path, &serde_json::json!({})).await?;
    s.output.show(&record, |out, _| {
        writeln!(out, "Reset {}: its database is empty", record.name)
    })?;
    Ok(())
}

async fn list(s: &mut Session<'_>) -> Result<(), CliError> {
    let path = match s.app() {
        Ok(app) => format!("/v1/addons?app={}", path_segment(&app)?),
        Err(_) => "/v1/addons".to_owned(),
    };
    let addons: Vec<Addon> = s.client.get(&path).await?;
    s.output
        .show(&addons, |out, _| write_addons(out, &addons))?;
    Ok(())
}

async fn create(
    s: &mut Session<'_>,
    service: String,
    attach_as: Option<String>,
    plan: Option<String>,
    name: Option<String>,
) -> Result<(), CliError> {
    // `heroku-postgresql:essential-0` style: the plan after the service.
    let (service, plan) = match service.split_once(':') {
        Some((service, suffix)) if plan.is_none() => (service.to_owned(), Some(suffix.to_owned())),
        _ => (service, plan),
    };
    let app = s.app()?;
    writeln!(s.output.progress(), "Creating {service} on {app}…")?;
    let body = CreateAddon {
        service,
        app,
        attach_as,
        plan,
        name,
    };
    let changed: AddonChanged = s.client.post("/v1/addons", &body).await?;
    show_changed(s, &changed, "Created")
}

async fn destroy(
    s: &mut Session<'_>,
    addon: &str,
    confirm: Option<String>,
) -> Result<(), CliError> {
    let record: Addon = s.client.get(&addon_path(addon)?).await?;
    let owner = record.owner.clone().unwrap_or_default();
    if confirm.as_deref() != Some(owner.as_str()) {
        return Err(CliError::Usage(format!(
            "destroying {addon} deletes its data for good; to proceed, pass --confirm {owner}"
        )));
    }
    let path = format!("{}?confirm={}", addon_path(addon)?, path_segment(&owner)?);
    let releases: Vec<AddonRelease> = s.client.delete_json(&path).await?;
    s.output.show(&releases, |out, _| {
        writeln!(out, "Destroyed {addon}")?;
        write_releases(out, &releases)
    })?;
    Ok(())
}

fn addon_path(addon: &str) -> Result<String, CliError> {
    Ok(format!("/v1/addons/{}", path_segment(addon)?))
}

fn show_changed(s: &mut Session<'_>, changed: &AddonChanged, verb: &str) -> Result<(), CliError> {
    let release = changed.releases.first().and_then(|r| r.release.clone());
    let shown = Changed {
        addon: &changed.addon,
        release,
    };
    s.output.show(&shown, |out, _| {
        writeln!(
            out,
            "{verb} {} ({})",
            changed.addon.name, changed.addon.plan
        )?;
        for attachment in &changed.addon.attachments {
            writeln!(
                out,
                "  {} has it as {}",
                attachment.app, attachment.config_var
            )?;
        }
        write_releases(out, &changed.releases)
    })?;
    Ok(())
}

fn write_releases(out: &mut dyn Write, releases: &[AddonRelease]) -> std::io::Result<()> {
    for r in releases {
        match &r.release {
            Some(v) => writeln!(out, "  {}: config changed in release {v}", r.app)?,
            None => writeln!(out, "  {}: its first deploy gets the config var", r.app)?,
        }
    }
    Ok(())
}

/// The add-on of `service` that `addon` names (by name or attachment name) among the app's, or
/// the app's only one, or the one attached as the service's default name.
async fn pick(
    s: &mut Session<'_>,
    service: &str,
    addon: Option<String>,
) -> Result<Addon, CliError> {
    let app = s.app()?;
    let addons: Vec<Addon> = s
        .client
        .get(&format!("/v1/addons?app={}", path_segment(&app)?))
        .await?;
    choose(addons, service, &app, addon.as_deref())
}

/// Every add-on of `service` the app owns or is attached to.
async fn pick_all(s: &mut Session<'_>, service: &str) -> Result<Vec<Addon>, CliError> {
    let app = s.app()?;
    let addons: Vec<Addon> = s
        .client
        .get(&format!("/v1/addons?app={}", path_segment(&app)?))
        .await?;
    Ok(addons
        .into_iter()
        .filter(|a| a.service == service)
        .collect())
}

/// Pure: which add-on a `pg:*` or `redis:*` verb means.
fn choose(
    addons: Vec<Addon>,
    service: &str,
    app: &str,
    wanted: Option<&str>,
) -> Result<Addon, CliError> {
    let mut candidates: Vec<Addon> = addons
        .into_iter()
        .filter(|a| a.service == service)
        .collect();
    let attached_as = |a: &Addon, name: &str| {
        a.attachments.iter().any(|t| {
            t.app == app
                && (t.name.eq_ignore_ascii_case(name) || t.config_var.eq_ignore_ascii_case(name))
        })
    };
    let default_name = if service == POSTGRES {
        "DATABASE"
    } else {
        "REDIS"
    };
    let found = match wanted {
        Some(name) => candidates
            .iter()
            .position(|a| a.name == name || attached_as(a, name)),
        None if candidates.len() == 1 => Some(0),
        None => candidates.iter().position(|a| attached_as(a, default_name)),
    };
    match found {
        Some(i) => Ok(candidates.swap_remove(i)),
        None if candidates.is_empty() => {
            Err(CliError::Usage(format!(
            "app {app} has no {service} add-on; create one with: skiff addons:create {} -a {app}",
            if service == POSTGRES { "postgres" } else { "redis" }
        )))
        }
        None => Err(CliError::Usage(format!(
            "app {app} has several {service} add-ons; name one of: {}",
            candidates
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn server_info(
    s: &mut Session<'_>,
    service: &str,
    addon: Option<String>,
) -> Result<(), CliError> {
    let app = s.app()?;
    let addons: Vec<Addon> = s
        .client
        .get(&format!("/v1/addons?app={}", path_segment(&app)?))
        .await?;
    let chosen: Vec<Addon> = match addon {
        Some(_) => vec![choose(addons, service, &app, addon.as_deref())?],
        None => addons
            .into_iter()
            .filter(|a| a.service == service)
            .collect(),
    };
    let mut infos = Vec::new();
    for a in &chosen {
        let info: AddonServerInfo = s
            .client
            .get(&format!("{}/info", addon_path(&a.name)?))
            .await?;
        infos.push(info);
    }
    s.output.show(&infos, |out, _| {
        if infos.is_empty() {
            return writeln!(out, "app {app} has no {service} add-on");
        }
        for info in &infos {
            write_server_info(out, info)?;
        }
        Ok(())
    })?;
    Ok(())
}

async fn credentials(
    s: &mut Session<'_>,
    service: &str,
    addon: Option<String>,
) -> Result<String, CliError> {
    let addon = pick(s, service, addon).await?;
    let creds: AddonCredentials = s
        .client
        .get(&format!("{}/credentials", addon_path(&addon.name)?))
        .await?;
    Ok(creds.url)
}

async fn rotate(s: &mut Session<'_>, service: &str, addon: Option<String>) -> Result<(), CliError> {
    let addon = pick(s, service, addon).await?;
    let path = format!("{}/credentials/rotate", addon_path(&addon.name)?);
    let changed: AddonChanged = s.client.post(&path, &serde_json::json!({})).await?;
    s.output.show(&changed, |out, _| {
        writeln!(out, "Rotated the credentials of {}", changed.addon.name)?;
        write_releases(out, &changed.releases)
    })?;
    Ok(())
}

fn write_addons(out: &mut dyn Write, addons: &[Addon]) -> std::io::Result<()> {
    if addons.is_empty() {
        return writeln!(
            out,
            "No add-ons. Create one with: skiff addons:create postgres -a APP"
        );
    }
    output::table(
        out,
        &["NAME", "SERVICE", "PLAN", "OWNER", "STATE", "ATTACHED AS"],
        addons.iter().map(|a| {
            vec![
                a.name.clone(),
                a.service.clone(),
                a.plan.clone(),
                a.owner.clone().unwrap_or_else(|| "-".into()),
                a.state.clone(),
                a.attachments
                    .iter()
                    .map(|t| format!("{}::{}", t.app, t.config_var))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        }),
    )
}

fn write_addon(out: &mut dyn Write, addon: &Addon) -> std::io::Result<()> {
    writeln!(out, "=== {}", addon.name)?;
    let attached = addon
        .attachments
        .iter()
        .map(|t| format!("{}::{}", t.app, t.config_var))
        .collect::<Vec<_>>()
        .join(", ");
    let owner = addon.owner.clone().unwrap_or_else(|| "-".into());
    output::fields(
        out,
        &[
            ("Service", &addon.service),
            ("Plan", &addon.plan),
            ("Owner", &owner),
            ("State", &addon.state),
            ("Attached as", &attached),
            ("Created", &addon.created_at),
        ],
    )?;
    if let Some(failure) = &addon.failure {
        writeln!(out, "Failing:     {failure}")?;
    }
    Ok(())
}

fn write_sessions(out: &mut dyn Write, sessions: &[PgSessionInfo]) -> std::io::Result<()> {
    if sessions.is_empty() {
        return writeln!(out, "No sessions.");
    }
    output::table(
        out,
        &["PID", "STATE", "SINCE", "QUERY"],
        sessions.iter().map(|s| {
            vec![
                s.pid.to_string(),
                s.state.clone(),
                s.since.clone(),
                s.query.replace('\n', " "),
            ]
        }),
    )
}

fn write_plans(out: &mut dyn Write, plans: &[PlanInfo]) -> std::io::Result<()> {
    output::table(
        out,
        &["PLAN", "POSTGRES CONNECTIONS", "REDIS MEMORY", ""],
        plans.iter().map(|p| {
            vec![
                p.name.clone(),
                p.postgres_connections.to_string(),
                format!("{} MiB", p.redis_memory >> 20),
                if p.default {
                    "default".into()
                } else {
                    String::new()
                },
            ]
        }),
    )
}

fn write_server_info(out: &mut dyn Write, info: &AddonServerInfo) -> std::io::Result<()> {
    writeln!(out, "=== {}", info.name)?;
    let mut pairs: Vec<(&str, String)> = vec![
        ("Version", info.version.clone()),
        ("Plan", info.plan.clone()),
        ("Attached", info.attached.join(", ")),
    ];
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1 << 20) as f64);
    if let Some(size) = info.size_bytes {
        pairs.push(("Data size", mib(size)));
    }
    if let (Some(n), Some(limit)) = (info.connections, info.connection_limit) {
        pairs.push(("Connections", format!("{n}/{limit}")));
    }
    if let (Some(used), Some(max)) = (info.used_memory, info.maxmemory) {
        pairs.push(("Memory", format!("{} of {}", mib(used), mib(max))));
    }
    if let Some(policy) = &info.policy {
        pairs.push(("Policy", policy.clone()));
    }
    if let Some(clients) = info.clients {
        pairs.push(("Clients", clients.to_string()));
    }
    if let Some(keys) = info.keys {
        pairs.push(("Keys", keys.to_string()));
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    output::fields(out, &borrowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Attachment;

    fn addon(name: &str, service: &str, attached: &[(&str, &str)]) -> Addon {
        Addon {
            name: name.into(),
            service: service.into(),
            plan: "mini".into(),
            owner: Some("shop".into()),
            state: "ready".into(),
            attachments: attached
                .iter()
                .map(|(app, as_name)| Attachment {
                    app: (*app).into(),
                    name: (*as_name).into(),
                    config_var: format!("{as_name}_URL"),
                    applied: true,
                })
                .collect(),
            created_at: "2026-12-02T06:00:00Z".into(),
            failure: None,
        }
    }

    #[test]
    fn the_add_on_a_verb_means_is_named_the_only_one_or_the_default_attachment() {
        let all = || {
            vec![
                addon("postgresql-shop", POSTGRES, &[("shop", "DATABASE")]),
                addon("postgresql-shop-2", POSTGRES, &[("shop", "FOLLOWER")]),
                addon("redis-shop", REDIS, &[("shop", "REDIS")]),
            ]
        };
        let pick = |service: &str, wanted: Option<&str>| {
            choose(all(), service, "shop", wanted).map(|a| a.name)
        };
        assert_eq!(pick(POSTGRES, None).unwrap(), "postgresql-shop");
        assert_eq!(
            pick(POSTGRES, Some("FOLLOWER")).unwrap(),
            "postgresql-shop-2"
        );
        assert_eq!(
            pick(POSTGRES, Some("follower_url")).unwrap(),
            "postgresql-shop-2"
        );
        assert_eq!(
            pick(POSTGRES, Some("postgresql-shop-2")).unwrap(),
            "postgresql-shop-2"
        );
        assert_eq!(pick(REDIS, None).unwrap(), "redis-shop");
        let none = choose(vec![], REDIS, "shop", None).unwrap_err().to_string();
        assert!(none.contains("skiff addons:create redis -a shop"), "{none}");
        let several = vec![
            addon("postgresql-a", POSTGRES, &[("shop", "ONE")]),
            addon("postgresql-b", POSTGRES, &[("shop", "TWO")]),
        ];
        let err = choose(several, POSTGRES, "shop", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgresql-a, postgresql-b"), "{err}");
    }

    #[test]
    fn a_change_prints_as_the_add_on_with_its_release() {
        let a = addon("postgresql-shop", POSTGRES, &[("shop", "DATABASE")]);
        let json = serde_json::to_value(Changed {
            addon: &a,
            release: Some("v3".into()),
        })
        .unwrap();
        assert_eq!(json["name"], "postgresql-shop");
        assert_eq!(json["release"], "v3");
        assert_eq!(json["attachments"][0]["config_var"], "DATABASE_URL");
    }
}
