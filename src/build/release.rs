//! The deploy stages from the built slug on: the release phase, the release's commit (the slug
//! moved into place and the app's new health check written in its transaction), going live,
//! retention and app.json's postdeploy; and the one-off units they run with streamed output.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;

use super::pipeline::{blocking, say, DeployError, DeployLog, Deployer, Workspace};
use super::plan::ReleasePlan;
use crate::files::write_private;
use crate::journal::LogQuery;
use crate::model::{AppName, NetworkKind};
use crate::model::{BuiltRelease, ConfigVars, ReleaseRecord, ReleaseStatus, SleepState};
use crate::paths::Layout;
use crate::reconcile::render_env_file;
use crate::systemd::names::oneoff_unit_name;
use crate::systemd::properties::{
    oneoff_properties, OneOffCommand, OneOffLifetime, OneOffSpec, OneOffStdio, Property,
};
use crate::systemd::RunOutcome;

/// How long to keep reading a unit's output after it ended, once no new line arrives.
const OUTPUT_DRAIN_IDLE: Duration = Duration::from_millis(400);
/// How long a process's own last line may take to arrive through journald after it ended,
/// when it prints one (it always does unless it was killed).
const OUTPUT_DRAIN_LAST_LINE: Duration = Duration::from_secs(10);

/// Which output a streamed unit has: its build's lines (only its own process's, when it is one of
/// the build's one-offs), and the line that ends them.
pub(super) struct Streamed<'a> {
    pub build_id: &'a str,
    pub dyno: Option<&'a str>,
    /// The start of the last line the process prints, if it prints one.
    pub end_line: Option<String>,
}

/// The start of the line a release-phase or postdeploy process prints last, after its command:
/// its output in the deploy ends there, however late journald delivers the lines before it.
pub(super) fn end_line_prefix(dyno: &str, build_id: &str) -> String {
    format!("-----> {dyno} of build {build_id} exited with status ")
}

/// `command` run in a subshell, then the end line with its exit status (the status stays the
/// command's). The newline ends a trailing comment in the command.
pub(super) fn with_end_line(command: &str, end_line: &str) -> String {
    format!("( {command}\n); status=$?; echo \"{end_line}$status\"; exit $status")
}
/// How many of the app's log lines a failed health check reports.
const LAST_LOG_LINES: u32 = 15;

/// Moves the built tree to the release's slug directory; runs inside the release's transaction.
fn install_slug(layout: &Layout, app: &AppName, built: &Path, version: u32) -> Result<(), String> {
    let slug = layout.slug_dir(app, version);
    if slug.exists() {
        // Left by a crash between moving a slug and committing its release.
        std::fs::remove_dir_all(&slug)
            .map_err(|e| format!("removing stale {}: {e}", slug.display()))?;
    }
    let parent = slug.parent().expect("slugs live in a directory");
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    std::fs::rename(built, &slug).map_err(|e| format!("installing the slug: {e}"))
}

/// Slug versions among directory names (`v3`) that retention may delete.
fn slugs_to_remove<'a>(
    names: impl Iterator<Item = &'a str>,
    keep: &std::collections::BTreeSet<u32>,
) -> Vec<u32> {
    let mut versions: Vec<u32> = names
        .filter_map(|n| n.strip_prefix('v').and_then(|v| v.parse::<u32>().ok()))
        .filter(|v| !keep.contains(v))
        .collect();
    versions.sort_unstable();
    versions
}

impl Deployer {
    /// Runs the Procfile's `release:` command over the sealed tree; its failure ends the deploy.
    pub(super) async fn release_phase(
        &self,
        app: &AppName,
        ws: &Workspace,
        plan: &ReleasePlan,
        out: &DeployLog,
    ) -> Result<(), DeployError> {
        let Some(command) = &plan.release_command else {
            return Ok(());
        };
        say(
            out,
            format!("-----> Running the release command: {command}"),
        )
        .await;
        let source = ws.source_dir();
        let outcome = self
            .run_oneoff(
                app,
                ws,
                "release.1",
                command,
                &source,
                &plan.release_config,
                out,
            )
            .await?;
        if outcome.succeeded() {
            Ok(())
        } else {
            Err(DeployError::ReleasePhaseFailed(outcome.describe()))
        }
    }

    /// Records the release, its jobs, first-deploy defaults and app.json's health check in one
    /// transaction that also moves the slug into place.
    pub(super) async fn commit(
        &self,
        app: &AppName,
        ws: &Workspace,
        plan: &ReleasePlan,
        description: String,
    ) -> Result<ReleaseRecord, DeployError> {
        let (layout, slug_app, built) = (self.layout.clone(), app.clone(), ws.source_dir());
        let release = self
            .store
            .create_release_from_build(
                app.clone(),
                BuiltRelease {
                    procfile: plan.procfile.clone(),
                    description,
                    defaults: plan.defaults.clone(),
                    cron: plan.cron.clone(),
                    health_check: plan.health_check.clone(),
                    build_id: Some(ws.id.clone()),
                },
                move |version| install_slug(&layout, &slug_app, &built, version),
            )
            .await?;
        if let Some(setting) = plan.sleep_after {
            self.store.set_autosleep(app, setting).await?;
        }
        Ok(release)
    }

    /// Waits while the reconciler starts the release's web dynos beside the live ones and
    /// health-checks them; fails with the reason and the app's last log lines when they fail.
    pub(super) async fn go_live(
        &self,
        app: &AppName,
        version: u32,
        out: &DeployLog,
    ) -> Result<(), DeployError> {
        let check = self.store.routing_settings(app).await?.health_check;
        if self.store.app_sleep(app).await?.state == SleepState::Sleeping {
            // A deploy does not wake a sleeping app: the release waits, pending, for the next
            // request, which wakes the app with it (or reports its failed health check).
            say(
                out,
                format!("-----> The app is asleep: v{version} goes live when the next request wakes it (health check: {check})"),
            )
            .await;
            return Ok(());
        }
        say(
            out,
            format!("-----> Starting v{version}'s web dynos; health check: {check}"),
        )
        .await;
        self.reconciler.poke();
        let (status, failure) = self.reconciler.wait_for_release(app, version).await?;
        match status {
            ReleaseStatus::Failed => Err(DeployError::Unhealthy {
                version,
                reason: failure.unwrap_or_else(|| "its web dynos failed".into()),
                logs: self.last_log_lines(app).await,
            }),
            ReleaseStatus::Superseded => {
                say(
                    out,
                    format!(
                        " !     v{version} was superseded by a newer release before it went live"
                    ),
                )
                .await;
                Ok(())
            }
            ReleaseStatus::Succeeded => {
                // The round that switched the routes applies the network rules and the proxy's
                // config after it: once a later round is done, requests reach the new release.
                self.reconciler.wait_for_round().await;
                Ok(())
            }
            ReleaseStatus::Pending => Ok(()),
        }
    }

    /// The app's last log lines, as `\n`-prefixed text for an error message.
    async fn last_log_lines(&self, app: &AppName) -> String {
        let query = LogQuery {
            app: app.clone(),
            dyno: None,
            addon_units: Vec::new(),
            lines: LAST_LOG_LINES,
            follow: false,
            origin: None,
            former_names: Vec::new(),
        };
        let Ok(lines) = self.logs.lines(query).await else {
            return String::new();
        };
        let lines: Vec<String> = lines.collect().await;
        if lines.is_empty() {
            return String::new();
        }
        format!("\nlast log lines:\n{}", lines.join("\n"))
    }

    /// Deletes slugs no release within `keep_releases` (nor the live one) uses.
    pub(super) async fn apply_retention(&self, app: &AppName, out: &DeployLog) {
        let keep = match self
            .store
            .slugs_to_keep(app, self.settings.keep_releases)
            .await
        {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(app = %app, error = %e, "retention skipped");
                return;
            }
        };
        let slugs = self.layout.slugs_dir(app);
        let removed = blocking("removing old slugs", move || {
            let Ok(entries) = std::fs::read_dir(&slugs) else {
                return Ok(Vec::new());
            };
            let names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            Ok(slugs_to_remove(names.iter().map(String::as_str), &keep)
                .into_iter()
                .filter(|v| std::fs::remove_dir_all(slugs.join(format!("v{v}"))).is_ok())
                .map(|v| format!("v{v}"))
                .collect::<Vec<_>>())
        })
        .await
        .unwrap_or_default();
        if !removed.is_empty() {
            say(
                out,
                format!("-----> Removed old slugs: {}", removed.join(", ")),
            )
            .await;
        }
    }

    /// Runs app.json's postdeploy script after a first deploy; the release is live whatever it
    /// does, so its failure is reported, never returned.
    pub(super) async fn postdeploy(
        &self,
        app: &AppName,
        ws: &Workspace,
        plan: &ReleasePlan,
        release: &ReleaseRecord,
        out: &DeployLog,
    ) {
        let Some(script) = &plan.postdeploy else {
            return;
        };
        say(
            out,
            format!("-----> Running app.json's postdeploy script: {script}"),
        )
        .await;
        let slug = self.layout.slug_dir(app, release.slug_version);
        let result = self
            .run_oneoff(app, ws, "postdeploy.1", script, &slug, &release.config, out)
            .await;
        match result {
            Ok(o) if o.succeeded() => {}
            Ok(o) => {
                let line = format!(
                    " !     postdeploy {}; v{} is live anyway",
                    o.describe(),
                    release.version
                );
                say(out, line).await
            }
            Err(e) => say(out, format!(" !     postdeploy could not run: {e}")).await,
        }
    }

    /// Runs `command` once in a dyno's sandbox over `slug` with `config`, streaming its output.
    #[allow(clippy::too_many_arguments)]
    async fn run_oneoff(
        &self,
        app: &AppName,
        ws: &Workspace,
        dyno: &str,
        command: &str,
        slug: &Path,
        config: &ConfigVars,
        out: &DeployLog,
    ) -> Result<RunOutcome, DeployError> {
        let (env_file, env) = (ws.env_file.clone(), render_env_file(config));
        blocking("writing the release environment", move || {
            write_private(&env_file, env.as_bytes())
        })
        .await?;
        let kind = dyno.split('.').next().unwrap_or(dyno);
        let end = end_line_prefix(dyno, &ws.id);
        let network_namespace = self
            .reconciler
            .networks()
            .namespace_for(app, NetworkKind::Dynos)
            .await?;
        let volumes = self.store.volumes(app).await?;
        let volumes =
            crate::volume_dirs::prepare(&self.layout, self.systemd.as_ref(), app, &volumes).await?;
        let spec = OneOffSpec {
            unit_name: oneoff_unit_name(app, kind, &ws.id),
            app: app.clone(),
            dyno: dyno.to_owned(),
            command: OneOffCommand::Shell(with_end_line(command, &end)),
            slug_dir: slug.to_owned(),
            env_file: ws.env_file.clone(),
            build_id: Some(ws.id.clone()),
            release: None,
            limits: self.settings.oneoff_limits,
            timeout_usec: self.settings.timeout.as_micros() as u64,
            hidden_paths: self.layout.hidden_from_dynos(),
            stdio: OneOffStdio::Journal,
            lifetime: OneOffLifetime::Oneshot { part_of: None },
            extra_env: Vec::new(),
            network_namespace,
            volumes,
        };
        let streamed = Streamed {
            build_id: &ws.id,
            dyno: Some(dyno),
            end_line: Some(end),
        };
        self.run_streamed(&spec.unit_name, oneoff_properties(&spec), streamed, out)
            .await
    }

    /// Runs a unit to its end while its journal lines (tagged `SKIFF_BUILD`) go to `out`: until
    /// the process's own last line when it prints one, else until its output pauses.
    pub(super) async fn run_streamed(
        &self,
        unit: &str,
        properties: Vec<Property>,
        streamed: Streamed<'_>,
        out: &DeployLog,
    ) -> Result<RunOutcome, DeployError> {
        let mut lines = self
            .logs
            .build_output(streamed.build_id, streamed.dyno, true)
            .await?;
        let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
        let sink = out.sink();
        let end_line = streamed.end_line;
        // With a last line to wait for, journald may be slow to deliver it; without one, the
        // output has ended when it pauses.
        let drain = if end_line.is_some() {
            OUTPUT_DRAIN_LAST_LINE
        } else {
            OUTPUT_DRAIN_IDLE
        };
        let forward = tokio::spawn(async move {
            let mut finished = false;
            loop {
                let next = if finished {
                    match tokio::time::timeout(drain, lines.next()).await {
                        Ok(line) => line,
                        Err(_) => break,
                    }
                } else {
                    tokio::select! {
                        line = lines.next() => line,
                        _ = done_rx.changed() => { finished = true; continue; }
                    }
                };
                match next {
                    Some(line) => {
                        let last = end_line.as_deref().is_some_and(|end| line.starts_with(end));
                        let _ = sink.send(line).await;
                        if last {
                            break;
                        }
                    }
                    None => break,
                }
            }
        });
        let wait = self.settings.timeout + Duration::from_secs(60);
        let outcome = self.systemd.run_to_completion(unit, properties, wait).await;
        let _ = done_tx.send(true);
        let _ = forward.await;
        Ok(outcome?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_line_follows_the_commands_output_and_keeps_its_status() {
        let end = end_line_prefix("release.1", "b1");
        for (command, status, out) in [
            ("echo migrated", 0, "migrated\n"),
            ("echo half; exit 3", 3, "half\n"),
            ("echo hi # a comment", 0, "hi\n"),
        ] {
            let run = std::process::Command::new("sh")
                .arg("-c")
                .arg(with_end_line(command, &end))
                .output()
                .unwrap();
            assert_eq!(run.status.code(), Some(status), "{command}");
            assert_eq!(
                String::from_utf8(run.stdout).unwrap(),
                format!("{out}-----> release.1 of build b1 exited with status {status}\n"),
                "{command}"
            );
        }
    }
    use crate::build::testkit::{kit, output, said};
    use crate::model::HealthCheck;

    const WEB: (&str, &str) = ("Procfile", "web: ./serve\nrelease: ./migrate\n");
    const CHECKED: (&str, &str) = (
        "app.json",
        r#"{"healthchecks": {"web": {"path": "/up", "status": 204}}}"#,
    );

    #[test]
    fn retention_removes_only_slug_directories_outside_the_kept_set() {
        let keep = [3, 5].into();
        let names = ["v1", "v3", "v5", "v10", "vx", "tmp"];
        assert_eq!(slugs_to_remove(names.into_iter(), &keep), [1, 10]);
    }

    #[tokio::test]
    async fn a_whole_deploy_commits_the_slug_the_health_check_and_goes_live() {
        let k = kit().await;
        let (result, text) = k.deploy(&[WEB, CHECKED]).await;
        let release = result.unwrap();
        assert_eq!(release.version, 1);
        assert!(k.layout.slug_dir(&k.app, 1).join("Procfile").is_file());
        assert!(!k.layout.builds_dir(&k.app).join("x").exists());
        let check = k.store.routing_settings(&k.app).await.unwrap().health_check;
        assert_eq!(check.path.as_deref(), Some("/up"));
        assert_eq!(check.status, Some(204));
        let (status, _) = k.store.release_status(&k.app, 1.into()).await.unwrap();
        assert_eq!(status, ReleaseStatus::Succeeded);
        assert!(
            text.contains("Running the release command: ./migrate"),
            "{text}"
        );
        assert!(text.contains("health check: GET /up answers 204"), "{text}");
        assert!(text.contains("Released v1"), "{text}");
        let runs: Vec<String> = k.systemd.runs().into_iter().map(|(n, _)| n).collect();
        assert!(runs[0].starts_with("skiff-my-app.release-"), "{runs:?}");
        let workspaces = std::fs::read_dir(k.layout.builds_dir(&k.app))
            .unwrap()
            .count();
        assert_eq!(workspaces, 0, "the workspace is removed");
    }

    #[tokio::test]
    async fn a_failed_release_phase_leaves_the_previous_health_check_and_release() {
        let k = kit().await;
        k.deploy(&[WEB]).await.0.unwrap();
        let before = k.store.routing_settings(&k.app).await.unwrap().health_check;
        assert_eq!(before, HealthCheck::default());
        k.systemd.fail_runs(".release-", 1);
        let (result, _) = k.deploy(&[WEB, CHECKED]).await;
        let err = result.unwrap_err();
        assert!(matches!(err, DeployError::ReleasePhaseFailed(_)), "{err}");
        let after = k.store.routing_settings(&k.app).await.unwrap().health_check;
        assert_eq!(after, before, "the new release's health check is not kept");
        assert_eq!(
            k.store
                .current_release(&k.app)
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
        assert!(!k.layout.slug_dir(&k.app, 2).exists());
    }

    #[tokio::test]
    async fn the_release_phase_runs_with_first_deploy_defaults_and_fails_the_deploy() {
        let k = kit().await;
        let ws = k.workspace(&[WEB, ("app.json", r#"{"env": {"GREETING": "hi"}}"#)]);
        let intake = k.deployer.intake(&k.app, &ws).await.unwrap();
        let bytes = k.deployer.seal(&ws).await.unwrap();
        let plan = k
            .deployer
            .plan_release(&k.app, &ws, &intake, bytes)
            .await
            .unwrap();
        let (out, mut rx) = output();
        k.deployer
            .release_phase(&k.app, &ws, &plan, &out)
            .await
            .unwrap();
        let env = std::fs::read_to_string(&ws.env_file).unwrap();
        assert!(env.contains("GREETING"), "{env}");
        assert!(
            said(&mut rx).contains("building"),
            "the unit's lines are streamed"
        );
        k.systemd.fail_runs(".release-", 3);
        let err = k
            .deployer
            .release_phase(&k.app, &ws, &plan, &out)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the release command exited with status 3; the previous release stays live"
        );
    }

    #[tokio::test]
    async fn postdeploy_runs_after_the_first_deploy_only_and_its_failure_is_reported() {
        let k = kit().await;
        let seeded = ("app.json", r#"{"scripts": {"postdeploy": "./seed"}}"#);
        k.systemd.fail_runs(".postdeploy-", 4);
        let (result, text) = k.deploy(&[WEB, seeded]).await;
        result.unwrap();
        assert!(
            text.contains("postdeploy exited with status 4; v1 is live anyway"),
            "{text}"
        );
        let (result, text) = k.deploy(&[WEB, seeded]).await;
        result.unwrap();
        assert!(!text.contains("postdeploy"), "{text}");
        let postdeploys = k
            .systemd
            .runs()
            .iter()
            .filter(|(n, _)| n.contains(".postdeploy-"))
            .count();
        assert_eq!(postdeploys, 1);
    }

    #[tokio::test]
    async fn retention_keeps_the_live_slug_and_reports_what_it_removed() {
        let k = kit().await;
        k.deploy(&[WEB]).await.0.unwrap();
        let (result, text) = k.deploy(&[WEB]).await;
        assert_eq!(result.unwrap().version, 2);
        assert!(text.contains("Removed old slugs: v1"), "{text}");
        assert!(!k.layout.slug_dir(&k.app, 1).exists());
        assert!(k.layout.slug_dir(&k.app, 2).exists());
    }

    #[tokio::test]
    async fn the_commit_records_the_release_and_moves_the_slug_without_starting_anything() {
        let k = kit().await;
        let ws = k.workspace(&[WEB, CHECKED]);
        let intake = k.deployer.intake(&k.app, &ws).await.unwrap();
        let bytes = k.deployer.seal(&ws).await.unwrap();
        let plan = k
            .deployer
            .plan_release(&k.app, &ws, &intake, bytes)
            .await
            .unwrap();
        let release = k
            .deployer
            .commit(&k.app, &ws, &plan, "Deploy".into())
            .await
            .unwrap();
        assert_eq!((release.version, release.slug_version), (1, 1));
        assert!(!ws.source_dir().exists(), "the built tree became the slug");
        assert!(k.layout.slug_dir(&k.app, 1).join("app.json").is_file());
        let check = k.store.routing_settings(&k.app).await.unwrap().health_check;
        assert_eq!(check.path.as_deref(), Some("/up"));
        assert!(
            k.systemd.units().is_empty(),
            "the reconciler starts the dynos"
        );
    }

    #[tokio::test]
    async fn an_unhealthy_release_fails_the_deploy_with_the_apps_last_lines() {
        let k = kit().await;
        for port in 20000..=29999 {
            k.prober.break_port(port);
        }
        let quick = ("app.json", r#"{"healthchecks": {"web": {"timeout": 1}}}"#);
        let (result, _) = k.deploy(&[WEB, quick]).await;
        let err = result.unwrap_err();
        assert!(
            matches!(err, DeployError::Unhealthy { version: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("cannot bind"), "{err}");
        let (status, _) = k.store.release_status(&k.app, 1.into()).await.unwrap();
        assert_eq!(status, ReleaseStatus::Failed);
    }
}
