//! `git:remote` and `open`: a local checkout's `skiff` git remote for an app, and the app's
//! web URL in a browser, as `heroku git:remote` and `heroku open` do.

use std::process::Stdio;
use std::time::Duration;

use clap::Subcommand;
use tokio::process::Command;

use super::endpoint::Endpoint;
use super::{path_segment, CliError, Session};
use crate::wire::App;

/// How long a `git` call may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Subcommand)]
pub enum WorkspaceVerb {
    /// Add (or point) the git remote of this checkout at the app: git push skiff main deploys.
    #[command(name = "git:remote")]
    GitRemote {
        /// The remote's name.
        #[arg(short = 'r', long = "remote", default_value = "skiff")]
        remote: String,
        /// The server's SSH host name (default: SKIFF_API's host, or this machine's name).
        #[arg(long)]
        host: Option<String>,
    },
    /// Print the app's web URL, and open it in a browser when this session has one.
    #[command(name = "open")]
    Open {
        /// A path to open under the URL, like /admin.
        path: Option<String>,
    },
}

/// `skiff@HOST:APP`, the URL `git push` deploys through.
pub(crate) fn remote_url(host: &str, app: &str) -> String {
    format!("skiff@{host}:{app}")
}

/// The server's host: SKIFF_API's, or this machine's own name for the local socket.
pub(crate) async fn server_host(endpoint: &Endpoint) -> Result<String, CliError> {
    match endpoint {
        Endpoint::Http { host, .. } => Ok(host.clone()),
        Endpoint::Ssh { destination, .. } => Ok(destination
            .rsplit_once('@')
            .map_or(destination.as_str(), |(_, host)| host)
            .to_owned()),
        Endpoint::Unix(_) => tokio::fs::read_to_string("/proc/sys/kernel/hostname")
            .await
            .map(|name| name.trim().to_owned())
            .map_err(|e| {
                CliError::Usage(format!(
                    "cannot read this machine's name ({e}): pass --host"
                ))
            }),
    }
}

async fn git(args: &[&str], dir: &std::path::Path) -> Result<std::process::Output, CliError> {
    let run = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(GIT_TIMEOUT, run).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(CliError::Usage(format!("cannot run git: {e}"))),
        Err(_) => Err(CliError::Failed(format!(
            "git {} took longer than {GIT_TIMEOUT:?}",
            args.join(" ")
        ))),
    }
}

/// Adds `remote` → `url` in the checkout at `dir`, or points an existing one there.
pub(crate) async fn set_remote(
    dir: &std::path::Path,
    remote: &str,
    url: &str,
) -> Result<(), CliError> {
    let exists = git(&["remote", "get-url", remote], dir)
        .await?
        .status
        .success();
    let verb = if exists { "set-url" } else { "add" };
    let done = git(&["remote", verb, remote, url], dir).await?;
    if done.status.success() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "git remote {verb} {remote} failed: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        )))
    }
}

/// Whether `dir` is inside a git checkout.
pub(crate) async fn in_checkout(dir: &std::path::Path) -> bool {
    git(&["rev-parse", "--git-dir"], dir)
        .await
        .is_ok_and(|o| o.status.success())
}

/// A browser to hand the URL to: `$BROWSER`, or xdg-open in a graphical session.
fn browser() -> Option<String> {
    if let Some(browser) = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        return Some(browser);
    }
    let graphical = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    graphical.then(|| "xdg-open".to_owned())
}

pub(super) async fn run(verb: WorkspaceVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    let found: App = s.client.get(&base).await?;
    match verb {
        WorkspaceVerb::GitRemote { remote, host } => {
            path_segment(&remote)?;
            if !in_checkout(&s.ctx.cwd).await {
                return Err(CliError::Usage(
                    "not inside a git repository: run git init first".into(),
                ));
            }
            let host = match host {
                Some(host) => host,
                None => server_host(&s.ctx.endpoint).await?,
            };
            let url = remote_url(&host, &found.name);
            set_remote(&s.ctx.cwd, &remote, &url).await?;
            let shown = serde_json::json!({"app": app, "remote": remote, "url": url});
            s.output.show(&shown, |out, _| {
                writeln!(out, "set git remote {remote} to {url}")
            })?;
        }
        WorkspaceVerb::Open { path } => {
            let path = path.unwrap_or_default();
            let url = format!(
                "{}/{}",
                found.web_url.trim_end_matches('/'),
                path.trim_start_matches('/')
            );
            // The browser is left to run on its own: nothing waits for it.
            let opened = browser().is_some_and(|b| {
                std::process::Command::new(b)
                    .arg(&url)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .is_ok()
            });
            let shown = serde_json::json!({"app": app, "url": url, "opened": opened});
            s.output.show(&shown, |out, _| writeln!(out, "{url}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_remote_is_the_skiff_user_at_the_server() {
        assert_eq!(
            super::remote_url("paas.example.com", "shop"),
            "skiff@paas.example.com:shop"
        );
        let url = super::remote_url("paas.example.com", "shop");
        assert_eq!(
            super::super::git::app_from_remote_url(&url).as_deref(),
            Some("shop")
        );
    }
}
