//! `apps`, `apps:create`, `apps:info`, `apps:rename` and `apps:destroy`: the apps themselves.

use std::io::Write;

use clap::Subcommand;

use super::{cron, dynos, output, path_segment, CliError, Session};
use crate::wire::{App, AppInfo, CreateApp, RenameApp};

#[derive(Debug, Subcommand)]
pub enum AppsVerb {
    /// List apps.
    #[command(name = "apps")]
    List,
    /// Create an app.
    #[command(name = "apps:create")]
    Create { name: String },
    /// Show the whole picture of an app: release, formation, dynos, domains, health check,
    /// scheduled jobs, disk use.
    #[command(name = "apps:info")]
    Info,
    /// Rename an app: `apps:rename NEW -a APP` (as Heroku) or `apps:rename OLD NEW`. Its dynos
    /// are replaced by ones of the new name (web ones beside the serving ones), it is served at
    /// NEW.<base_domain> and its custom domains, and `git push` goes to the new name; its older
    /// log lines stay under the old name and `logs` still shows them. Refused while it deploys.
    #[command(name = "apps:rename")]
    Rename {
        /// The new name, after the app's current one when -a is not given.
        #[arg(num_args = 1..=2, value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Destroy an app and everything it owns.
    #[command(name = "apps:destroy")]
    Destroy {
        /// The app to destroy (or -a APP).
        name: Option<String>,
        /// Repeat the app's name to confirm; destroying is permanent.
        #[arg(long)]
        confirm: Option<String>,
    },
}

/// Inside a git checkout without a `skiff` remote, a new app gets one (as `heroku create`).
async fn git_remote_for_new_app(s: &Session<'_>, app: &str) -> Option<Result<String, CliError>> {
    let dir = &s.ctx.cwd;
    if !super::workspace::in_checkout(dir).await || super::git::skiff_remote_app(dir).is_some() {
        return None;
    }
    let host = super::workspace::server_host(&s.ctx.endpoint)
        .await
        .unwrap_or_else(|_| "localhost".to_owned());
    let url = super::workspace::remote_url(&host, app);
    Some(
        super::workspace::set_remote(dir, "skiff", &url)
            .await
            .map(|()| url),
    )
}

pub(super) async fn run(verb: AppsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        AppsVerb::List => {
            let apps: Vec<App> = s.client.get("/v1/apps").await?;
            s.output.show(&apps, |out, _| write_apps(out, &apps))?;
        }
        AppsVerb::Create { name } => {
            let app: App = s.client.post("/v1/apps", &CreateApp { name }).await?;
            let remote = git_remote_for_new_app(s, &app.name).await;
            s.output.show(&app, |out, err| {
                writeln!(out, "Created {} — {}", app.name, app.web_url)?;
                match &remote {
                    Some(Ok(url)) => writeln!(err, "Git remote skiff added: {url}"),
                    Some(Err(e)) => writeln!(err, "No git remote added: {e}"),
                    None => Ok(()),
                }
            })?;
        }
        AppsVerb::Rename { names } => rename(s, names).await?,
        AppsVerb::Info => {
            let (_, base) = s.app_path()?;
            let info: AppInfo = s.client.get(&format!("{base}/info")).await?;
            s.output.show(&info, |out, _| write_app_info(out, &info))?;
        }
        AppsVerb::Destroy { name, confirm } => {
            let name = match name {
                Some(n) => n,
                None => s.app()?,
            };
            if confirm.as_deref() != Some(name.as_str()) {
                return Err(CliError::Usage(format!(
                    "destroying {name} is permanent and removes all its data; to proceed, pass --confirm {name}"
                )));
            }
            s.client
                .delete(&format!("/v1/apps/{}", path_segment(&name)?))
                .await?;
            s.output
                .show(&serde_json::json!({ "destroyed": name }), |out, _| {
                    writeln!(out, "Destroyed {name}")
                })?;
        }
    }
    Ok(())
}

/// `apps:rename`: the new name in the server, then in this checkout's `skiff` remote when it
/// named the old one (as Heroku updates its `heroku` remote).
async fn rename(s: &mut Session<'_>, names: Vec<String>) -> Result<(), CliError> {
    let (old, new) = match <[String; 2]>::try_from(names) {
        Ok([old, new]) if s.app_flag.is_none() => (old, new),
        Ok(_) => {
            return Err(CliError::Usage(
                "give the app either with -a APP or as the first of two names, not both".into(),
            ))
        }
        Err(names) => (s.app()?, names.into_iter().next().unwrap_or_default()),
    };
    let path = format!("/v1/apps/{}", path_segment(&old)?);
    let app: App = s.client.patch(&path, &RenameApp { name: new }).await?;
    let dir = &s.ctx.cwd;
    let remote = if super::git::skiff_remote_app(dir).as_deref() == Some(old.as_str()) {
        let host = super::workspace::server_host(&s.ctx.endpoint).await?;
        let url = super::workspace::remote_url(&host, &app.name);
        Some(
            super::workspace::set_remote(dir, "skiff", &url)
                .await
                .map(|()| url),
        )
    } else {
        None
    };
    s.output.show(&app, |out, err| {
        writeln!(out, "Renaming {old} to {}... done", app.name)?;
        writeln!(out, "{}", app.web_url)?;
        match &remote {
            Some(Ok(url)) => writeln!(err, "Git remote skiff updated: {url}"),
            Some(Err(e)) => writeln!(err, "Git remote skiff not updated: {e}"),
            None => writeln!(
                err,
                "Other checkouts push to skiff@HOST:{}: update their remote with skiff git:remote -a {}",
                app.name, app.name
            ),
        }
    })?;
    Ok(())
}

fn write_apps(out: &mut dyn Write, apps: &[App]) -> std::io::Result<()> {
    if apps.is_empty() {
        return writeln!(out, "No apps yet. Create one with: skiff apps:create NAME");
    }
    output::table(
        out,
        &["NAME", "STATE", "CREATED", "WEB URL"],
        apps.iter().map(|a| {
            let state = match (a.sleep.as_str(), &a.sleeping_since) {
                ("sleeping", Some(since)) => format!("sleeping since {since}"),
                ("", _) => "awake".to_owned(),
                (other, _) => other.to_owned(),
            };
            vec![
                a.name.clone(),
                state,
                a.created_at.clone(),
                a.web_url.clone(),
            ]
        }),
    )
}

/// `skiff apps:info`: Heroku's `=== APP` block of fields, then the dynos and jobs.
/// `postgresql-shop (mini, ready) as DATABASE_URL; …`, or `-`.
fn addons_summary(info: &AppInfo) -> String {
    if info.addons.is_empty() {
        return "-".to_owned();
    }
    info.addons
        .iter()
        .map(|a| {
            let vars: Vec<&str> = a
                .attachments
                .iter()
                .filter(|t| t.app == info.app.name)
                .map(|t| t.config_var.as_str())
                .collect();
            format!(
                "{} ({}, {}) as {}",
                a.name,
                a.plan,
                a.state,
                vars.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `data at /data (12.0 KiB of 1.0 GiB); …`, or `-`.
fn volumes_summary(info: &AppInfo) -> String {
    if info.volumes.is_empty() {
        return "-".to_owned();
    }
    info.volumes
        .iter()
        .map(|v| {
            let used = output::human_bytes(v.used);
            let of = v
                .size
                .map(|s| format!(" of {}", output::human_bytes(s)))
                .unwrap_or_default();
            format!("{} at {} ({used}{of} used)", v.name, v.mount)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn write_app_info(out: &mut dyn Write, info: &AppInfo) -> std::io::Result<()> {
    writeln!(out, "=== {}", info.app.name)?;
    let release = match &info.release {
        Some(r) => format!("v{} ({}, {})", r.version, r.description, r.created_at),
        None => "none (not deployed yet)".to_owned(),
    };
    let pending = info
        .pending_release
        .map(|v| format!("v{v} (starting)"))
        .unwrap_or_else(|| "-".to_owned());
    let domains = if info.domains.is_empty() {
        "-".to_owned()
    } else {
        info.domains.join(", ")
    };
    let formation = if info.formation.is_empty() {
        "-".to_owned()
    } else {
        dynos::formation_summary(&info.formation)
    };
    let up = info.dynos.iter().filter(|d| d.state == "up").count();
    let dynos = format!("{up} up of {}", info.dynos.len());
    let d = &info.disk;
    let disk = format!(
        "{} (slugs {}, build cache {}, repository {}, builds {}, add-on backups {})",
        output::human_bytes(d.total),
        output::human_bytes(d.slugs),
        output::human_bytes(d.cache),
        output::human_bytes(d.repo),
        output::human_bytes(d.builds),
        output::human_bytes(d.backups)
    );
    let maintenance = if info.maintenance { "on" } else { "off" };
    let compression = if info.compression { "on" } else { "off" };
    let jobs = info.cron.len().to_string();
    let addons = addons_summary(info);
    let volumes = volumes_summary(info);
    let sleep = dynos::describe_autosleep(&info.app.name, &info.autosleep);
    let sleep = sleep
        .strip_prefix(&format!("{} ", info.app.name))
        .unwrap_or(&sleep);
    let former = info.former_names.join(", ");
    let mut fields = vec![("Web URL", info.app.web_url.as_str())];
    if !former.is_empty() {
        fields.push(("Formerly", former.as_str()));
    }
    fields.extend([
        ("Domains", domains.as_str()),
        ("Created", &info.app.created_at),
        ("Release", &release),
        ("Pending release", &pending),
        ("Formation", &formation),
        ("Dynos", &dynos),
        ("Health check", &info.health_check),
        ("Maintenance", maintenance),
        ("Autosleep", sleep),
        ("Compression", compression),
        ("Scheduled jobs", &jobs),
        ("Add-ons", &addons),
        ("Volumes", &volumes),
        ("Disk use", &disk),
    ]);
    output::fields(out, &fields)?;
    if !info.dynos.is_empty() {
        writeln!(out)?;
        writeln!(out, "=== Dynos")?;
        for dyno in &info.dynos {
            let since = dyno.since.as_deref().unwrap_or("-");
            writeln!(out, "{}: {} {since}", dyno.name, dyno.state)?;
        }
    }
    if !info.cron.is_empty() {
        writeln!(out)?;
        writeln!(out, "=== Scheduled jobs")?;
        cron::write_cron(out, &info.app.name, &info.cron)?;
    }
    Ok(())
}
