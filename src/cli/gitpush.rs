//! `git push skiff main` over SSH: the forced command sshd runs for the `skiff` user
//! (`git-shell`), and the pre-receive hook that builds and releases the pushed commit.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Subcommand;

use super::client::ApiClient;
use super::{deploy, path_segment, CliError, Session};
use crate::model::AppName;
use crate::wire::App;

#[derive(Debug, Subcommand)]
pub enum GitVerb {
    /// The forced command of git push over SSH (run by sshd for the skiff user).
    #[command(name = "git-shell", hide = true)]
    Shell { fingerprint: Option<String> },
    /// The pre-receive hook of an app's repository: deploys pushes to main or master.
    #[command(name = "git-hook", hide = true)]
    Hook { app: String },
}

pub(super) async fn run(verb: GitVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        GitVerb::Shell { fingerprint } => {
            git_shell(&s.client, fingerprint.as_deref(), s.output.err()).await
        }
        GitVerb::Hook { app } => pre_receive(&s.client, &app, s.output.out()).await,
    }
}

/// Where the bare repositories live (`SKIFF_REPOS` overrides it, for tests).
fn repos_dir() -> PathBuf {
    std::env::var_os("SKIFF_REPOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/skiff/repos"))
}

/// What a client may ask sshd to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRequest {
    /// `git-receive-pack` (push) or `git-upload-pack` (fetch, clone).
    pub program: &'static str,
    pub app: AppName,
}

/// Parses `SSH_ORIGINAL_COMMAND`, e.g. `git-receive-pack 'hello'` or `git-upload-pack '/hello.git'`.
pub fn parse_ssh_command(raw: &str) -> Result<GitRequest, String> {
    let usage = "skiff only accepts git here: git push skiff main (remote skiff@HOST:APP)";
    let (verb, arg) = raw.trim().split_once(' ').ok_or_else(|| usage.to_owned())?;
    let program = match verb {
        "git-receive-pack" => "git-receive-pack",
        "git-upload-pack" => "git-upload-pack",
        _ => return Err(usage.to_owned()),
    };
    let arg = arg.trim();
    let unquoted = arg
        .strip_prefix('\'')
        .and_then(|a| a.strip_suffix('\''))
        .unwrap_or(arg);
    let name = unquoted
        .trim_start_matches('/')
        .trim_start_matches("~/")
        .trim_end_matches('/');
    let name = name.strip_suffix(".git").unwrap_or(name);
    let app = AppName::parse(name).map_err(|e| e.to_string())?;
    Ok(GitRequest { program, app })
}

/// The key to add: the given file, or the user's usual public key.
pub(super) fn read_public_key(file: Option<PathBuf>) -> Result<(PathBuf, String), CliError> {
    let candidates: Vec<PathBuf> = match file {
        Some(f) => vec![f],
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"]
                .iter()
                .map(|n| home.join(".ssh").join(n))
                .collect()
        }
    };
    for path in &candidates {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Ok((path.clone(), text));
        }
    }
    Err(CliError::Usage(format!(
        "no public key at {}; create one with ssh-keygen -t ed25519, or name the .pub file",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

/// Creates the app's bare repository on first push and (re)installs its pre-receive hook.
fn ensure_repo(repo: &Path, app: &AppName) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Usage(format!("preparing {}: {e}", repo.display()));
    if !repo.join("HEAD").is_file() {
        let status = Command::new("git")
            .args(["init", "--bare", "--quiet", "--initial-branch=main"])
            .arg(repo)
            .status()
            .map_err(io)?;
        if !status.success() {
            return Err(CliError::Usage(format!(
                "git init --bare {} failed",
                repo.display()
            )));
        }
    }
    let skiff = std::env::current_exe().map_err(io)?;
    let hook = repo.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().expect("hooks dir")).map_err(io)?;
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n# Installed by skiff: deploys pushes to main or master.\nexec {} git-hook {app}\n",
            skiff.display()
        ),
    )
    .map_err(io)?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).map_err(io)
}

/// The forced command: checks the request and the app, then becomes git itself.
async fn git_shell(
    client: &ApiClient,
    fingerprint: Option<&str>,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let raw = std::env::var("SSH_ORIGINAL_COMMAND").unwrap_or_default();
    let request = parse_ssh_command(&raw).map_err(CliError::Usage)?;
    let app = request.app.to_string();
    let exists: Result<App, CliError> = client
        .get(&format!("/v1/apps/{}", path_segment(&app)?))
        .await;
    if let Err(CliError::Api { status: 404, .. }) = exists {
        return Err(CliError::Usage(format!(
            "there is no app named {app}; create it first with: skiff apps:create {app}"
        )));
    }
    exists?;
    let repo = repos_dir().join(format!("{app}.git"));
    ensure_repo(&repo, &request.app)?;
    if let Some(fp) = fingerprint {
        writeln!(err, "skiff: {} for {app} (key {fp})", request.program)?;
    }
    let failure = Command::new(request.program).arg(&repo).exec();
    Err(CliError::Usage(format!(
        "cannot run {}: {failure}",
        request.program
    )))
}

/// The pre-receive hook: builds and releases a push to main or master; a failure rejects it.
async fn pre_receive(client: &ApiClient, app: &str, out: &mut dyn Write) -> Result<(), CliError> {
    let zero = "0".repeat(40);
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(_old), Some(new), Some(reference)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if new == zero {
            continue;
        }
        if reference != "refs/heads/main" && reference != "refs/heads/master" {
            writeln!(
                out,
                "-----> {reference} stored; only main or master is deployed"
            )?;
            continue;
        }
        let archive = Command::new("git")
            .args(["archive", "--format=tar", new])
            .output()
            .map_err(|e| CliError::Usage(format!("cannot run git archive: {e}")))?;
        if !archive.status.success() {
            return Err(CliError::Usage(format!(
                "git archive {new} failed: {}",
                String::from_utf8_lossy(&archive.stderr).trim()
            )));
        }
        let short = &new[..new.len().min(7)];
        writeln!(out, "-----> Deploying {short} to {app}")?;
        out.flush()?;
        let release =
            deploy::build_and_release(client, app, archive.stdout, &format!("Deploy {short}"), out)
                .await?;
        writeln!(
            out,
            "-----> {app} v{} is live: {}",
            release.version,
            release.process_types.join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_git_asks_sshd_to_run() {
        for (raw, program, app) in [
            ("git-receive-pack 'hello'", "git-receive-pack", "hello"),
            ("git-receive-pack '/hello.git'", "git-receive-pack", "hello"),
            (
                "git-upload-pack '~/my-app.git/'",
                "git-upload-pack",
                "my-app",
            ),
        ] {
            let r = parse_ssh_command(raw).unwrap();
            assert_eq!((r.program, r.app.as_str()), (program, app), "{raw}");
        }
        for bad in [
            "",
            "bash",
            "sh -c 'id'",
            "git-receive-pack '../etc'",
            "git-receive-pack 'a;rm -rf /'",
            "scp -t /tmp",
        ] {
            assert!(parse_ssh_command(bad).is_err(), "{bad}");
        }
    }
}
