//! The deploy stages up to a sealed slug and its plan: intake (stale workspaces, config, the
//! source's facts, the build plan), the sandboxed build unit, sealing, reading the manifests.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::app_json;
use super::detect::{Builder, SourceFacts};
use super::pipeline::{blocking, say, DeployError, DeployLog, Deployer, Workspace};
use super::plan::{
    plan_build, plan_release, BuildPlan, ManifestFile, Manifests, ReleaseInputs, ReleasePlan,
};
use super::release::{end_line_prefix, with_end_line, Streamed};
use crate::files::{make_dir_mode, open_tree, seal_tree, write_private};
use crate::model::{AppName, NetworkKind};
use crate::model::{BuildpackSource, Buildpacks, ConfigVars};
use crate::reconcile::render_env_file;
use crate::systemd::names::oneoff_unit_name;
use crate::systemd::properties::{build_properties, BuildSpec};

/// Biggest root file the detector reads.
const MAX_FACT_FILE: u64 = 1024 * 1024;

/// What intake learned about the source.
#[derive(Debug, Clone)]
pub(super) struct Intake {
    pub(super) config: ConfigVars,
    pub(super) facts: SourceFacts,
    pub(super) build: BuildPlan,
}

/// Reads what the detector needs from the source's root.
fn source_facts(dir: &Path, config: &ConfigVars, app_buildpacks: Buildpacks) -> SourceFacts {
    let read = |name: &str| -> Option<String> {
        let path = dir.join(name);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_FACT_FILE {
            return None;
        }
        std::fs::read_to_string(path).ok()
    };
    let root_files = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    SourceFacts {
        root_files,
        package_json: read("package.json"),
        requirements_txt: read("requirements.txt"),
        go_mod: read("go.mod"),
        buildpacks_file: read(".buildpacks"),
        app_buildpacks,
        buildpack_url: config.get("BUILDPACK_URL").cloned(),
        has_procfile: std::fs::symlink_metadata(dir.join("Procfile")).is_ok_and(|m| m.is_file()),
    }
}

/// A manifest at the tree's root: `None` when absent.
fn read_manifest(path: &Path) -> Option<ManifestFile> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Some(match std::fs::read_to_string(path) {
            Ok(text) => ManifestFile::Text(text),
            Err(e) => ManifestFile::Unreadable(e.to_string()),
        }),
        Ok(_) => Some(ManifestFile::NotAFile),
        Err(_) => None,
    }
}

/// The built tree's Procfile and app.json, and the buildpacks' release output left in `meta`.
fn read_manifests(source: &Path, meta: &Path, builder: &Builder) -> Manifests {
    let packs = match builder {
        Builder::Buildpacks(packs) => packs.len(),
        _ => 0,
    };
    Manifests {
        procfile: read_manifest(&source.join("Procfile")),
        app_json: read_manifest(&source.join("app.json")),
        release_yamls: (0..packs)
            .filter_map(|i| std::fs::read_to_string(meta.join(format!("release-{i}.yml"))).ok())
            .collect(),
    }
}

/// Config vars as one file each: a buildpack's ENV_DIR.
fn write_env_dir(dir: &Path, config: &ConfigVars) -> std::io::Result<()> {
    make_dir_mode(dir, 0o755)?;
    for (key, value) in config {
        let path = dir.join(key);
        std::fs::write(&path, value)?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    }
    Ok(())
}

/// Local buildpacks, bind-mounted by index; a missing directory rejects the deploy.
fn local_buildpacks(builder: &Builder) -> Result<Vec<(usize, PathBuf)>, DeployError> {
    let Builder::Buildpacks(packs) = builder else {
        return Ok(Vec::new());
    };
    let mut dirs = Vec::new();
    for (i, pack) in packs.iter().enumerate() {
        if let BuildpackSource::Local(path) = pack {
            if !Path::new(path).is_dir() {
                return Err(DeployError::Rejected(format!(
                    "buildpack directory {path} does not exist on this server"
                )));
            }
            dirs.push((i, PathBuf::from(path)));
        }
    }
    Ok(dirs)
}

impl Deployer {
    /// Removes what earlier unfinished deploys left, reads the config and the source's facts,
    /// and picks the builder.
    pub(super) async fn intake(
        &self,
        app: &AppName,
        ws: &Workspace,
    ) -> Result<Intake, DeployError> {
        self.remove_stale_workspaces(app, &ws.id).await;
        let config = self.store.config(app).await?;
        let buildpacks = self.store.buildpacks(app).await?;
        let (source, vars) = (ws.source_dir(), config.clone());
        let facts = blocking("reading the source", move || {
            Ok(source_facts(&source, &vars, buildpacks))
        })
        .await?;
        let build = plan_build(&facts)?;
        Ok(Intake {
            config,
            facts,
            build,
        })
    }

    /// Removes workspaces left by deploys that did not finish (skiffd stopped mid-build).
    async fn remove_stale_workspaces(&self, app: &AppName, current: &str) {
        let (builds, current) = (self.layout.builds_dir(app), current.to_owned());
        let _ = tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(builds) else {
                return;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy() != current {
                    tracing::info!(path = %entry.path().display(), "removing a stale build workspace");
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        })
        .await;
    }

    /// Runs the build unit over the workspace when the builder has a script; the source tree
    /// becomes the built tree.
    pub(super) async fn build(
        &self,
        app: &AppName,
        ws: &Workspace,
        intake: &Intake,
        out: &DeployLog,
    ) -> Result<(), DeployError> {
        let Some(script) = &intake.build.script else {
            return Ok(());
        };
        let started = Instant::now();
        let network_namespace = self
            .reconciler
            .networks()
            .namespace_for(app, NetworkKind::Build)
            .await?;
        // The build's own last line says it is done, so none of its output is cut off when
        // journald is slow to deliver it.
        let end = end_line_prefix("build", &ws.id);
        let spec = BuildSpec {
            unit_name: oneoff_unit_name(app, "build", &ws.id),
            app: app.clone(),
            build_id: ws.id.clone(),
            script: with_end_line(script, &end),
            app_dir: ws.source_dir(),
            cache_dir: self.layout.cache_dir(app),
            env_dir: ws.root.join("env"),
            env_file: ws.env_file.clone(),
            meta_dir: ws.meta_dir(),
            buildpack_dirs: local_buildpacks(&intake.build.builder)?,
            memory_bytes: self.settings.memory_bytes,
            timeout_usec: self.settings.timeout.as_micros() as u64,
            hidden_paths: self.layout.hidden_from_dynos(),
            network_namespace,
        };
        prepare_build(&spec, &intake.config).await?;
        let outcome = self
            .run_streamed(
                &spec.unit_name,
                build_properties(&spec),
                Streamed {
                    build_id: &ws.id,
                    dyno: None,
                    end_line: Some(end),
                },
                out,
            )
            .await?;
        if !outcome.succeeded() {
            return Err(DeployError::BuildFailed(outcome.describe()));
        }
        say(
            out,
            format!("-----> Build took {:.1} s", started.elapsed().as_secs_f64()),
        )
        .await;
        Ok(())
    }

    /// Seals the built tree as a slug (root-owned, no write bits); its size in bytes.
    pub(super) async fn seal(&self, ws: &Workspace) -> Result<u64, DeployError> {
        let source = ws.source_dir();
        blocking("sealing the slug", move || {
            seal_tree(&source, nix::unistd::geteuid().is_root())
        })
        .await
    }

    /// Reads the sealed tree's manifests and plans the release from them.
    pub(super) async fn plan_release(
        &self,
        app: &AppName,
        ws: &Workspace,
        intake: &Intake,
        slug_bytes: u64,
    ) -> Result<ReleasePlan, DeployError> {
        let (source, meta, builder) =
            (ws.source_dir(), ws.meta_dir(), intake.build.builder.clone());
        let manifests = blocking("reading the manifests", move || {
            Ok(read_manifests(&source, &meta, &builder))
        })
        .await?;
        let first_deploy = self.store.current_release(app).await?.is_none();
        let inputs = ReleaseInputs {
            builder: &intake.build.builder,
            facts: &intake.facts,
            manifests: &manifests,
            config: &intake.config,
            first_deploy,
            slug_bytes,
            max_slug_size: self.settings.max_slug_size,
        };
        Ok(plan_release(&inputs, app_json::generate_secret)?)
    }
}

/// Opens the source and cache trees to the build's dynamic user and writes its config, on the
/// blocking pool.
async fn prepare_build(spec: &BuildSpec, config: &ConfigVars) -> Result<(), DeployError> {
    let (spec, config) = (spec.clone(), config.clone());
    blocking("preparing the build", move || {
        open_tree(&spec.app_dir)?;
        make_dir_mode(&spec.meta_dir, 0o777)?;
        make_dir_mode(&spec.cache_dir, 0o777)?;
        // Each build runs as a new dynamic user: whatever modes the last one left, this one
        // must be able to read, replace and delete the cache.
        open_tree(&spec.cache_dir)?;
        write_env_dir(&spec.env_dir, &config)?;
        write_private(&spec.env_file, render_env_file(&config).as_bytes())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testkit::{kit, output, said};
    use crate::model::ConfigChange;

    #[tokio::test]
    async fn intake_clears_stale_workspaces_and_plans_the_build_from_the_source_and_config() {
        let k = kit().await;
        let empty = k.workspace(&[]);
        let err = k.deployer.intake(&k.app, &empty).await.unwrap_err();
        assert!(matches!(err, DeployError::Rejected(_)), "{err}");
        let stale_root = k.layout.builds_dir(&k.app).join("left-by-a-crash");
        std::fs::create_dir_all(&stale_root).unwrap();
        k.store
            .change_config(
                &k.app,
                vec![ConfigChange::set("BUILDPACK_URL", "/srv/bp").unwrap()],
                "Set".into(),
            )
            .await
            .unwrap();
        let ws = k.workspace(&[("Procfile", "web: ./serve\n"), ("index.html", "hi")]);
        let intake = k.deployer.intake(&k.app, &ws).await.unwrap();
        assert!(!stale_root.exists(), "a stale workspace is removed");
        assert!(ws.root.exists(), "the current one stays");
        assert_eq!(intake.facts.buildpack_url.as_deref(), Some("/srv/bp"));
        assert!(intake.facts.has_procfile);
        assert_eq!(intake.config["BUILDPACK_URL"], "/srv/bp");
        assert!(matches!(intake.build.builder, Builder::Buildpacks(_)));
    }

    #[tokio::test]
    async fn the_build_runs_its_unit_over_the_prepared_workspace_and_reports_a_failure() {
        let k = kit().await;
        let ws = k.workspace(&[("requirements.txt", "flask\n"), ("Procfile", "web: x\n")]);
        let intake = k.deployer.intake(&k.app, &ws).await.unwrap();
        let (out, mut rx) = output();
        k.deployer.build(&k.app, &ws, &intake, &out).await.unwrap();
        let unit = format!("skiff-my-app.build-{}.service", ws.id);
        assert_eq!(k.systemd.runs()[0].0, unit);
        assert!(ws.meta_dir().is_dir() && ws.root.join("env").is_dir());
        assert!(k.layout.cache_dir(&k.app).is_dir());
        let text = said(&mut rx);
        assert!(
            text.contains("building") && text.contains("Build took"),
            "{text}"
        );
        k.systemd.fail_runs(".build-", 2);
        let err = k
            .deployer
            .build(&k.app, &ws, &intake, &out)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the build exited with status 2");
    }

    #[tokio::test]
    async fn nothing_to_build_runs_no_unit_and_a_missing_local_buildpack_is_rejected() {
        let k = kit().await;
        let ws = k.workspace(&[("Procfile", "web: ./serve\n")]);
        let mut intake = k.deployer.intake(&k.app, &ws).await.unwrap();
        let (out, _rx) = output();
        k.deployer.build(&k.app, &ws, &intake, &out).await.unwrap();
        assert!(k.systemd.runs().is_empty());
        intake.build = plan_build(&SourceFacts {
            buildpack_url: Some("/nowhere/bp".into()),
            ..intake.facts.clone()
        })
        .unwrap();
        let err = k
            .deployer
            .build(&k.app, &ws, &intake, &out)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("/nowhere/bp does not exist"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn sealing_and_planning_read_the_built_tree() {
        let k = kit().await;
        let ws = k.workspace(&[
            ("Procfile", "web: ./serve\nrelease: ./migrate\n"),
            ("app.json", r#"{"scripts": {"postdeploy": "./seed"}}"#),
        ]);
        let intake = k.deployer.intake(&k.app, &ws).await.unwrap();
        let bytes = k.deployer.seal(&ws).await.unwrap();
        assert!(bytes > 0);
        let mode = std::fs::metadata(ws.source_dir().join("Procfile")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o7777,
            0o644
        );
        let plan = k
            .deployer
            .plan_release(&k.app, &ws, &intake, bytes)
            .await
            .unwrap();
        assert_eq!(plan.release_command.as_deref(), Some("./migrate"));
        assert_eq!(plan.postdeploy.as_deref(), Some("./seed"), "a first deploy");
    }
}
