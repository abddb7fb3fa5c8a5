//! The `skiff` command-line client: Heroku-style verbs that call skiffd's HTTP API.

mod client;
mod deploy;
mod dynos;
pub mod endpoint;
mod git;
mod gitpush;
mod output;
mod releases;
mod routing;
mod run;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::wire::{
    AddKey, App, AppInfo, ConfigMap, CreateApp, CreateToken, CreatedToken, CronJobInfo, Dyno,
    FormationItem, Health, Key, Release, ReleaseInfo, ResizeRequest, RestartRequest, Restarted,
    RollbackRequest, ScaleRequest, Token,
};
pub use client::ApiClient;
pub use endpoint::Endpoint;
use routing::{run as routing_verb, RoutingVerb};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Connect(String),
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Usage(String),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// A one-off dyno ended with a non-zero status; the client exits with it.
    #[error("{message}")]
    DynoExit { status: i32, message: String },
}

#[derive(Debug, Parser)]
#[command(
    name = "skiff",
    version,
    about = "Drive skiff, the single-server PaaS",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The app to act on (default: from the 'skiff' git remote of the current directory).
    #[arg(short = 'a', long = "app", global = true)]
    pub app: Option<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List apps.
    #[command(name = "apps")]
    Apps,
    /// Create an app.
    #[command(name = "apps:create")]
    AppsCreate { name: String },
    /// Show the whole picture of an app: release, formation, dynos, domains, health check,
    /// scheduled jobs, disk use.
    #[command(name = "apps:info")]
    AppsInfo,
    /// List the app's scheduled jobs (app.json "cron") with their next and last runs.
    #[command(name = "cron")]
    Cron,
    /// Destroy an app and everything it owns.
    #[command(name = "apps:destroy")]
    AppsDestroy {
        /// The app to destroy (or -a APP).
        name: Option<String>,
        /// Repeat the app's name to confirm; destroying is permanent.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Build a directory (default: the current one) and release it; the build's output streams here.
    #[command(name = "deploy")]
    Deploy {
        dir: Option<PathBuf>,
        /// Upload this tar(.gz) archive instead of packing a directory ("-" reads standard input).
        #[arg(long, conflicts_with = "dir")]
        tar: Option<PathBuf>,
        /// Shown in `releases` (default: "Deploy" and the git commit of the directory).
        #[arg(long)]
        description: Option<String>,
    },
    /// Show the app's config vars.
    #[command(name = "config")]
    Config,
    /// Print one config var's value.
    #[command(name = "config:get")]
    ConfigGet { key: String },
    /// Set config vars (KEY=VALUE…); makes a release and restarts the dynos with them.
    #[command(name = "config:set")]
    ConfigSet {
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// Remove config vars; makes a release and restarts the dynos without them.
    #[command(name = "config:unset")]
    ConfigUnset {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// List the app's releases, newest first.
    #[command(name = "releases")]
    Releases,
    /// Show one release (v3).
    #[command(name = "releases:info")]
    ReleasesInfo { version: String },
    /// Make a new release from an earlier one's slug and config (default: the one before the live one).
    #[command(name = "rollback")]
    Rollback { version: Option<String> },
    /// List the SSH keys that may git push.
    #[command(name = "keys")]
    Keys,
    /// Allow an SSH public key to git push (default: ~/.ssh/id_ed25519.pub, id_ecdsa.pub or id_rsa.pub).
    #[command(name = "keys:add")]
    KeysAdd { file: Option<PathBuf> },
    /// Remove an SSH key by fingerprint (SHA256:…) or comment.
    #[command(name = "keys:remove")]
    KeysRemove { key: String },
    /// The forced command of git push over SSH (run by sshd for the skiff user).
    #[command(name = "git-shell", hide = true)]
    GitShell { fingerprint: Option<String> },
    /// The pre-receive hook of an app's repository: deploys pushes to main or master.
    #[command(name = "git-hook", hide = true)]
    GitHook { app: String },
    /// List the app's dynos.
    #[command(name = "ps")]
    Ps,
    /// Change how many dynos run: web=2 worker+1 worker-1.
    #[command(name = "ps:scale")]
    PsScale {
        #[arg(required = true)]
        changes: Vec<String>,
    },
    /// Restart all dynos, one process type (web) or one dyno (web.1).
    #[command(name = "ps:restart")]
    PsRestart { target: Option<String> },
    /// Stop one dyno (web.1) until the next deploy, restart or scale.
    #[command(name = "ps:stop")]
    PsStop { dyno: String },
    /// Set the limits of a process type's dynos; running ones get them at once.
    #[command(name = "ps:resize")]
    PsResize {
        process_type: String,
        /// Memory limit, like 512M or 1G.
        #[arg(long)]
        memory: Option<String>,
        /// CPU limit in percent of one core, like 50% or 200%.
        #[arg(long)]
        cpu: Option<String>,
        /// Maximum number of processes and threads.
        #[arg(long)]
        tasks: Option<u64>,
    },
    /// Run a command in a one-off dyno (run.N) with the live release, attached to this terminal;
    /// exits with its status. One argument is a shell command line; more are run exactly.
    #[command(name = "run")]
    Run {
        /// The longest it may run, like 10m (default and maximum: the server's run_timeout).
        #[arg(long)]
        timeout: Option<String>,
        /// Do not give the dyno a terminal even when this is one (plain pipes, stdout and
        /// stderr kept apart).
        #[arg(long = "no-tty")]
        no_tty: bool,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Start a one-off dyno in the background; its output goes to the app's logs.
    #[command(name = "run:detached")]
    RunDetached {
        /// The longest it may run, like 10m (default and maximum: the server's run_timeout).
        #[arg(long)]
        timeout: Option<String>,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Show the app's logs from journald: its dynos' output and systemd's lines about them.
    #[command(name = "logs")]
    Logs {
        /// How many past lines to show.
        #[arg(short = 'n', long = "num", default_value_t = 100)]
        num: u32,
        /// Keep streaming new lines.
        #[arg(short = 'f', long = "tail")]
        tail: bool,
        /// Only one dyno, like web.1.
        #[arg(long)]
        dyno: Option<String>,
    },
    /// List the app's host names: APP.<base_domain> and its custom domains.
    #[command(name = "domains")]
    Domains,
    /// Route a custom domain (www.example.com) to the app.
    #[command(name = "domains:add")]
    DomainsAdd { domain: String },
    /// Stop routing a custom domain to the app.
    #[command(name = "domains:remove")]
    DomainsRemove { domain: String },
    /// Answer every request with a 503 maintenance page (dynos keep running).
    #[command(name = "maintenance:on")]
    MaintenanceOn,
    /// Route requests to the app's web dynos again.
    #[command(name = "maintenance:off")]
    MaintenanceOff,
    /// Show the check new web dynos must pass before they get traffic.
    #[command(name = "healthcheck")]
    HealthCheck,
    /// Set that check: --path /health [--status 200] [--timeout 30s]; no --path: a TCP connection.
    #[command(name = "healthcheck:set")]
    HealthCheckSet {
        /// GET this path with the app's host name.
        #[arg(long)]
        path: Option<String>,
        /// The status the GET must answer (default: any 2xx or 3xx).
        #[arg(long)]
        status: Option<u32>,
        /// How long a new web dyno may take to pass (default 60s).
        #[arg(long)]
        timeout: Option<String>,
    },
    /// List API tokens (for the TCP listener).
    #[command(name = "tokens")]
    Tokens,
    /// Create an API token; the secret is printed once.
    #[command(name = "tokens:create")]
    TokensCreate { name: String },
    /// Revoke an API token.
    #[command(name = "tokens:revoke")]
    TokensRevoke { name: String },
    /// Show the client's and the server's versions.
    #[command(name = "version")]
    Version,
}

/// What the CLI takes from its environment, gathered once so tests can supply their own.
#[derive(Debug, Clone)]
pub struct Context {
    pub endpoint: Endpoint,
    pub token: Option<String>,
    pub cwd: PathBuf,
}

impl Context {
    /// Reads `SKIFF_API`, `SKIFF_TOKEN` and the working directory.
    pub fn from_env() -> Result<Self, CliError> {
        let endpoint = Endpoint::parse(std::env::var("SKIFF_API").ok().as_deref())
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let token = std::env::var("SKIFF_TOKEN").ok().filter(|t| !t.is_empty());
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Ok(Self {
            endpoint,
            token,
            cwd,
        })
    }
}

/// Runs one command, writing its normal output to `out` (notes for humans go to `err`).
pub async fn run(
    cli: Cli,
    ctx: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let client = ApiClient::new(ctx.endpoint.clone(), ctx.token.clone());
    let app = || resolve_app(cli.app.as_deref(), ctx);
    match cli.command {
        routing @ (Command::Domains
        | Command::DomainsAdd { .. }
        | Command::DomainsRemove { .. }
        | Command::MaintenanceOn
        | Command::MaintenanceOff
        | Command::HealthCheck
        | Command::HealthCheckSet { .. }) => {
            let verb = RoutingVerb::from_command(routing)
                .map_err(|c| CliError::Usage(format!("{c:?} is not a routing verb")))?;
            routing_verb(&client, &app()?, verb, cli.json, out).await?
        }
        Command::Apps => {
            let apps: Vec<App> = client.get("/v1/apps").await?;
            if cli.json {
                output::json(out, &apps)?;
            } else if apps.is_empty() {
                writeln!(out, "No apps yet. Create one with: skiff apps:create NAME")?;
            } else {
                output::table(
                    out,
                    &["NAME", "CREATED", "WEB URL"],
                    apps.iter()
                        .map(|a| vec![a.name.clone(), a.created_at.clone(), a.web_url.clone()]),
                )?;
            }
        }
        Command::AppsCreate { name } => {
            let app: App = client.post("/v1/apps", &CreateApp { name }).await?;
            if cli.json {
                output::json(out, &app)?;
            } else {
                writeln!(out, "Created {} — {}", app.name, app.web_url)?;
            }
        }
        Command::AppsInfo => {
            let name = app()?;
            let info: AppInfo = client
                .get(&format!("/v1/apps/{}/info", path_segment(&name)?))
                .await?;
            if cli.json {
                output::json(out, &info)?;
            } else {
                dynos::write_app_info(out, &info)?;
            }
        }
        Command::Cron => {
            let name = app()?;
            let jobs: Vec<CronJobInfo> = client
                .get(&format!("/v1/apps/{}/cron", path_segment(&name)?))
                .await?;
            if cli.json {
                output::json(out, &jobs)?;
            } else {
                dynos::write_cron(out, &name, &jobs)?;
            }
        }
        Command::AppsDestroy { name, confirm } => {
            let name = match name {
                Some(n) => n,
                None => app()?,
            };
            if confirm.as_deref() != Some(name.as_str()) {
                return Err(CliError::Usage(format!(
                    "destroying {name} is permanent and removes all its data; to proceed, pass --confirm {name}"
                )));
            }
            client
                .delete(&format!("/v1/apps/{}", path_segment(&name)?))
                .await?;
            if cli.json {
                output::json(out, &serde_json::json!({ "destroyed": name }))?;
            } else {
                writeln!(out, "Destroyed {name}")?;
            }
        }
        Command::Deploy {
            dir,
            tar,
            description,
        } => {
            let name = app()?;
            let (archive, shown, described) = match tar {
                Some(path) => {
                    let bytes = deploy::read_archive(&path)?;
                    (bytes, path.display().to_string(), "Deploy".to_owned())
                }
                None => {
                    let dir = dir.unwrap_or_else(|| ctx.cwd.clone());
                    let described = deploy::describe(&dir);
                    (deploy::pack(&dir)?, dir.display().to_string(), described)
                }
            };
            let description = description.unwrap_or(described);
            writeln!(
                err,
                "Uploading {shown} ({} KiB) to {name}...",
                archive.len().div_ceil(1024)
            )?;
            let release = deploy::build_and_release(
                &client,
                &name,
                archive,
                &description,
                if cli.json { &mut *err } else { &mut *out },
            )
            .await?;
            if cli.json {
                output::json(out, &release)?;
            } else {
                writeln!(
                    out,
                    "Released v{} of {name} ({}): {}",
                    release.version,
                    release.description,
                    release.process_types.join(", ")
                )?;
            }
        }
        Command::Config => {
            let name = app()?;
            let config: ConfigMap = client
                .get(&format!("/v1/apps/{}/config", path_segment(&name)?))
                .await?;
            if cli.json {
                output::json(out, &config)?;
            } else {
                releases::write_config(out, &name, &config)?;
            }
        }
        Command::ConfigGet { key } => {
            let name = app()?;
            let config: ConfigMap = client
                .get(&format!("/v1/apps/{}/config", path_segment(&name)?))
                .await?;
            match config.get(&key) {
                Some(value) if cli.json => output::json(out, &serde_json::json!({ key: value }))?,
                Some(value) => writeln!(out, "{value}")?,
                None => return Err(CliError::Usage(format!("{name} has no config var {key}"))),
            }
        }
        Command::ConfigSet { assignments } => {
            let body = releases::parse_assignments(&assignments)?;
            releases::change_config(&client, &app()?, &body, cli.json, out).await?;
        }
        Command::ConfigUnset { keys } => {
            let body = keys.iter().map(|k| (k.clone(), None)).collect();
            releases::change_config(&client, &app()?, &body, cli.json, out).await?;
        }
        Command::Releases => {
            let name = app()?;
            let list: Vec<Release> = client
                .get(&format!("/v1/apps/{}/releases", path_segment(&name)?))
                .await?;
            if cli.json {
                output::json(out, &list)?;
            } else {
                releases::write_releases(out, &name, &list)?;
            }
        }
        Command::ReleasesInfo { version } => {
            let name = app()?;
            let info: ReleaseInfo = client
                .get(&format!(
                    "/v1/apps/{}/releases/{}",
                    path_segment(&name)?,
                    path_segment(&version)?
                ))
                .await?;
            if cli.json {
                output::json(out, &info)?;
            } else {
                releases::write_release_info(out, &info)?;
            }
        }
        Command::Rollback { version } => {
            let name = app()?;
            let version = version
                .as_deref()
                .map(releases::parse_version)
                .transpose()?;
            let release: Release = client
                .post(
                    &format!("/v1/apps/{}/rollback", path_segment(&name)?),
                    &RollbackRequest { version },
                )
                .await?;
            if cli.json {
                output::json(out, &release)?;
            } else {
                writeln!(
                    out,
                    "{} of {name}: v{} is live; its dynos restart now",
                    release.description, release.version
                )?;
            }
        }
        Command::Keys => {
            let keys: Vec<Key> = client.get("/v1/keys").await?;
            if cli.json {
                output::json(out, &keys)?;
            } else {
                releases::write_keys(out, &keys)?;
            }
        }
        Command::KeysAdd { file } => {
            let (path, text) = gitpush::read_public_key(file)?;
            let key: Key = client
                .post("/v1/keys", &AddKey { public_key: text })
                .await?;
            if cli.json {
                output::json(out, &key)?;
            } else {
                writeln!(
                    out,
                    "Added {} ({} {}); it can now git push",
                    path.display(),
                    key.key_type,
                    key.fingerprint
                )?;
            }
        }
        Command::KeysRemove { key } => {
            let removed: Key = client
                .delete_json(&format!("/v1/keys/{}", deploy::query_escape(&key)))
                .await?;
            if cli.json {
                output::json(out, &removed)?;
            } else {
                writeln!(out, "Removed {} {}", removed.fingerprint, removed.comment)?;
            }
        }
        Command::GitShell { fingerprint } => {
            gitpush::git_shell(&client, fingerprint.as_deref(), err).await?;
        }
        Command::GitHook { app } => {
            gitpush::pre_receive(&client, &app, out).await?;
        }
        Command::Run {
            timeout,
            no_tty,
            command,
        } => {
            let exit = run::attached(&client, &app()?, command, timeout, no_tty).await?;
            if exit.status != 0 || !exit.message.is_empty() {
                return Err(CliError::DynoExit {
                    status: exit.status,
                    message: exit.message,
                });
            }
        }
        Command::RunDetached { timeout, command } => {
            run::detached(&client, &app()?, command, timeout, cli.json, out).await?;
        }
        Command::Ps => {
            let name = app()?;
            let base = format!("/v1/apps/{}", path_segment(&name)?);
            let dynos: Vec<Dyno> = client.get(&format!("{base}/dynos")).await?;
            if cli.json {
                output::json(out, &dynos)?;
            } else {
                let formation: Vec<FormationItem> =
                    client.get(&format!("{base}/formation")).await?;
                dynos::write_ps(out, &formation, &dynos)?;
            }
        }
        Command::PsScale { changes } => {
            let name = app()?;
            let formation: Vec<FormationItem> = client
                .patch(
                    &format!("/v1/apps/{}/formation", path_segment(&name)?),
                    &ScaleRequest { changes },
                )
                .await?;
            if cli.json {
                output::json(out, &formation)?;
            } else {
                writeln!(
                    out,
                    "Scaled {name}: now running {}",
                    dynos::formation_summary(&formation)
                )?;
            }
        }
        Command::PsRestart { target } => {
            let name = app()?;
            let restarted: Restarted = client
                .post(
                    &format!("/v1/apps/{}/dynos/restart", path_segment(&name)?),
                    &RestartRequest { target },
                )
                .await?;
            if cli.json {
                output::json(out, &restarted)?;
            } else {
                writeln!(out, "Restarted {} dynos of {name}", restarted.restarted)?;
            }
        }
        Command::PsStop { dyno } => {
            let name = app()?;
            client
                .post_empty(&format!(
                    "/v1/apps/{}/dynos/{}/stop",
                    path_segment(&name)?,
                    path_segment(&dyno)?
                ))
                .await?;
            if cli.json {
                output::json(out, &serde_json::json!({ "stopped": dyno }))?;
            } else {
                writeln!(out, "Stopped {dyno} of {name}; it stays stopped until the next deploy, restart or scale")?;
            }
        }
        Command::PsResize {
            process_type,
            memory,
            cpu,
            tasks,
        } => {
            let name = app()?;
            let formation: Vec<FormationItem> = client
                .patch(
                    &format!(
                        "/v1/apps/{}/formation/{}",
                        path_segment(&name)?,
                        path_segment(&process_type)?
                    ),
                    &ResizeRequest { memory, cpu, tasks },
                )
                .await?;
            if cli.json {
                output::json(out, &formation)?;
            } else {
                dynos::write_ps(out, &formation, &[])?;
            }
        }
        Command::Logs { num, tail, dyno } => {
            let name = app()?;
            let mut path = format!(
                "/v1/apps/{}/logs?lines={num}&follow={tail}",
                path_segment(&name)?
            );
            if let Some(dyno) = dyno {
                path.push_str(&format!("&dyno={}", path_segment(&dyno)?));
            }
            client.stream_to(&path, out).await?;
        }
        Command::Tokens => {
            let tokens: Vec<Token> = client.get("/v1/tokens").await?;
            if cli.json {
                output::json(out, &tokens)?;
            } else if tokens.is_empty() {
                writeln!(out, "No tokens. Create one with: skiff tokens:create NAME")?;
            } else {
                output::table(
                    out,
                    &["NAME", "CREATED", "LAST USED"],
                    tokens.iter().map(|t| {
                        vec![
                            t.name.clone(),
                            t.created_at.clone(),
                            t.last_used_at.clone().unwrap_or_else(|| "never".into()),
                        ]
                    }),
                )?;
            }
        }
        Command::TokensCreate { name } => {
            let created: CreatedToken = client.post("/v1/tokens", &CreateToken { name }).await?;
            if cli.json {
                output::json(out, &created)?;
            } else {
                writeln!(
                    err,
                    "Created token {}. Copy it now; it is not shown again. Use it as SKIFF_TOKEN.",
                    created.name
                )?;
                writeln!(out, "{}", created.token)?;
            }
        }
        Command::TokensRevoke { name } => {
            client
                .delete(&format!("/v1/tokens/{}", path_segment(&name)?))
                .await?;
            if cli.json {
                output::json(out, &serde_json::json!({ "revoked": name }))?;
            } else {
                writeln!(out, "Revoked token {name}")?;
            }
        }
        Command::Version => {
            let health: Health = client.get("/v1/health").await?;
            if cli.json {
                output::json(
                    out,
                    &serde_json::json!({ "client": env!("CARGO_PKG_VERSION"), "server": health }),
                )?;
            } else {
                writeln!(out, "skiff {} (client)", env!("CARGO_PKG_VERSION"))?;
                writeln!(
                    out,
                    "skiffd {} (server at {}), systemd {}",
                    health.version,
                    ctx.endpoint,
                    health.systemd_version.as_deref().unwrap_or("unreachable")
                )?;
            }
        }
    }
    Ok(())
}

fn resolve_app(flag: Option<&str>, ctx: &Context) -> Result<String, CliError> {
    match flag {
        Some(app) => Ok(app.to_owned()),
        None => git::skiff_remote_app(&ctx.cwd).ok_or_else(|| {
            CliError::Usage(
                "no app given: pass -a APP, or run this inside a git repo with a 'skiff' remote"
                    .into(),
            )
        }),
    }
}

/// Names go into URL paths; anything outside the characters names may hold is refused here
/// so a request can never address another path.
pub(crate) fn path_segment(name: &str) -> Result<&str, CliError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != ".."
    {
        Ok(name)
    } else {
        Err(CliError::Usage(format!("{name:?} is not a valid name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_verbs_and_global_flags_parse() {
        let cli = Cli::try_parse_from(["skiff", "apps:info", "-a", "alpha", "--json"]).unwrap();
        assert_eq!(cli.app.as_deref(), Some("alpha"));
        assert!(cli.json);
        assert!(matches!(cli.command, Command::AppsInfo));
        let cli =
            Cli::try_parse_from(["skiff", "apps:destroy", "alpha", "--confirm", "alpha"]).unwrap();
        assert!(
            matches!(cli.command, Command::AppsDestroy { name: Some(ref n), confirm: Some(ref c) } if n == "alpha" && c == "alpha")
        );
        assert!(Cli::try_parse_from(["skiff", "apps:nope"]).is_err());
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert!(path_segment("alpha").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a b", "%2e"] {
            assert!(path_segment(bad).is_err(), "{bad}");
        }
    }
}
