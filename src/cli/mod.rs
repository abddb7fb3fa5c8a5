//! The `skiff` command-line client: Heroku-style verbs that call skiffd's HTTP API.

mod addons;
mod alerts;
mod apps;
mod buildpacks;
mod client;
mod config;
mod cron;
mod dashboard;
mod deploy;
mod drains;
mod dynos;
pub mod endpoint;
mod git;
mod gitpush;
mod hashing;
mod keys;
mod logs;
mod metrics;
mod network;
mod output;
mod releases;
mod remotes;
mod routing;
mod run;
mod server;
mod ssh;
mod tokens;
mod version;
mod volumes;
mod wait;
mod workspace;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use client::ApiClient;
pub use endpoint::Endpoint;
use output::Output;

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
    /// What the verb asked for happened and failed (a backup that did not pass its check).
    #[error("{0}")]
    Failed(String),
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
    /// Talk to the named server (skiff remotes) instead of SKIFF_API.
    #[arg(long, global = true, env = "SKIFF_SERVER")]
    pub server: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Every verb, grouped by the resource it acts on; each group parses and runs its own verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Apps(apps::AppsVerb),
    #[command(flatten)]
    Addons(addons::AddonsVerb),
    #[command(flatten)]
    Backups(addons::backups::BackupsVerb),
    #[command(flatten)]
    Cron(cron::CronVerb),
    #[command(flatten)]
    Dashboard(dashboard::DashboardVerb),
    #[command(flatten)]
    Deploy(deploy::DeployVerb),
    #[command(flatten)]
    Config(config::ConfigVerb),
    #[command(flatten)]
    Buildpacks(buildpacks::BuildpacksVerb),
    #[command(flatten)]
    Drains(drains::DrainsVerb),
    #[command(flatten)]
    Releases(releases::ReleasesVerb),
    #[command(flatten)]
    Keys(keys::KeysVerb),
    #[command(flatten)]
    Git(gitpush::GitVerb),
    #[command(flatten)]
    Dynos(dynos::DynosVerb),
    #[command(flatten)]
    Run(run::RunVerb),
    #[command(flatten)]
    Logs(logs::LogsVerb),
    #[command(flatten)]
    Metrics(metrics::MetricsVerb),
    #[command(flatten)]
    Alerts(alerts::AlertsVerb),
    #[command(flatten)]
    Network(network::NetworkVerb),
    #[command(flatten)]
    Routing(routing::RoutingVerb),
    #[command(flatten)]
    Server(server::ServerVerb),
    #[command(flatten)]
    Relay(ssh::RelayVerb),
    #[command(flatten)]
    Remotes(remotes::RemotesVerb),
    #[command(flatten)]
    Tokens(tokens::TokensVerb),
    #[command(flatten)]
    Version(version::VersionVerb),
    #[command(flatten)]
    Volumes(volumes::VolumesVerb),
    #[command(flatten)]
    Wait(wait::WaitVerb),
    #[command(flatten)]
    Workspace(workspace::WorkspaceVerb),
}

/// What the CLI takes from its environment, gathered once so tests can supply their own.
#[derive(Debug, Clone)]
pub struct Context {
    pub endpoint: Endpoint,
    pub token: Option<String>,
    pub cwd: PathBuf,
    /// The named remotes' file (see `remotes.rs`); `None` when HOME is not set.
    pub remotes_file: Option<PathBuf>,
}

impl Context {
    /// Reads `SKIFF_API`, `SKIFF_TOKEN`, the working directory and where the remotes are.
    pub fn from_env() -> Result<Self, CliError> {
        let endpoint = Endpoint::parse(std::env::var("SKIFF_API").ok().as_deref())
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let token = std::env::var("SKIFF_TOKEN").ok().filter(|t| !t.is_empty());
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Ok(Self {
            endpoint,
            token,
            cwd,
            remotes_file: remotes::default_file(),
        })
    }
}

/// What every verb works with: the API, the environment, the `-a` flag and the output.
struct Session<'a> {
    client: ApiClient,
    ctx: &'a Context,
    app_flag: Option<String>,
    output: Output<'a>,
}

impl Session<'_> {
    /// The app to act on: `-a APP`, or the one of the `skiff` git remote.
    fn app(&self) -> Result<String, CliError> {
        resolve_app(self.app_flag.as_deref(), self.ctx)
    }

    /// `/v1/apps/APP` for the app to act on.
    fn app_path(&self) -> Result<(String, String), CliError> {
        let app = self.app()?;
        let path = format!("/v1/apps/{}", path_segment(&app)?);
        Ok((app, path))
    }
}

/// Runs one command, writing its normal output to `out` (notes for humans go to `err`).
pub async fn run(
    cli: Cli,
    ctx: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let named;
    let ctx = match &cli.server {
        Some(name) => {
            named = remotes::context_for(name, ctx)?;
            &named
        }
        None => ctx,
    };
    let mut session = Session {
        client: ApiClient::new(ctx.endpoint.clone(), ctx.token.clone()),
        ctx,
        app_flag: cli.app,
        output: Output::new(cli.json, out, err),
    };
    let s = &mut session;
    match cli.command {
        Command::Apps(verb) => apps::run(verb, s).await,
        Command::Addons(verb) => addons::run(verb, s).await,
        Command::Backups(verb) => addons::backups::run(verb, s).await,
        Command::Cron(verb) => cron::run(verb, s).await,
        Command::Dashboard(verb) => dashboard::run(verb, s).await,
        Command::Deploy(verb) => deploy::run(verb, s).await,
        Command::Config(verb) => config::run(verb, s).await,
        Command::Buildpacks(verb) => buildpacks::run(verb, s).await,
        Command::Drains(verb) => drains::run(verb, s).await,
        Command::Releases(verb) => releases::run(verb, s).await,
        Command::Keys(verb) => keys::run(verb, s).await,
        Command::Git(verb) => gitpush::run(verb, s).await,
        Command::Dynos(verb) => dynos::run(verb, s).await,
        Command::Run(verb) => run::run(verb, s).await,
        Command::Logs(verb) => logs::run(verb, s).await,
        Command::Metrics(verb) => metrics::run(verb, s).await,
        Command::Alerts(verb) => alerts::run(verb, s).await,
        Command::Network(verb) => network::run(verb, s).await,
        Command::Routing(verb) => routing::run(verb, s).await,
        Command::Server(verb) => server::run(verb, s).await,
        Command::Relay(verb) => ssh::run(verb, s).await,
        Command::Remotes(verb) => remotes::run(verb, s).await,
        Command::Tokens(verb) => tokens::run(verb, s).await,
        Command::Version(verb) => version::run(verb, s).await,
        Command::Volumes(verb) => volumes::run(verb, s).await,
        Command::Wait(verb) => wait::run(verb, s).await,
        Command::Workspace(verb) => workspace::run(verb, s).await,
    }
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
mod tests;
