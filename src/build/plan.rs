//! The pure deploy plan: what a deploy builds and what release it makes, decided from the
//! source's facts, its manifests (Procfile, app.json, buildpacks' release output), the app's
//! config and whether this is its first deploy.

use std::collections::BTreeMap;

use super::app_json::{self, AppJson};
use super::detect::{detect, merge_processes, Builder, SourceFacts};
use super::script::{build_script, parse_release_yaml};
use crate::model::{ConfigVars, FirstDeployDefaults};
use crate::model::{CronJob, HealthCheck, Procfile, SleepSetting};

/// Why a source cannot be deployed: a clear message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Detect(#[from] super::detect::DetectError),
    #[error("the built slug is {size_mib} MiB, over max_slug_size ({max_mib} MiB)")]
    SlugTooBig { size_mib: u64, max_mib: u64 },
    #[error("Procfile must be a regular file")]
    ProcfileNotAFile,
    #[error("cannot read the Procfile: {0}")]
    ProcfileUnreadable(String),
    #[error("{0}")]
    Procfile(String),
    #[error(
        "no Procfile in the app's root directory; add one with lines like 'web: python3 app.py'"
    )]
    NoProcesses,
    #[error("cannot read app.json: {0}")]
    AppJsonUnreadable(String),
    #[error("{0}")]
    AppJson(String),
}

/// What the build stage runs: the builder and its script (none when there is nothing to build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub builder: Builder,
    pub script: Option<String>,
}

/// Picks the builder from the source's marker files.
pub fn plan_build(facts: &SourceFacts) -> Result<BuildPlan, PlanError> {
    let builder = detect(facts)?;
    let script = build_script(&builder);
    Ok(BuildPlan { builder, script })
}

/// A manifest file at the built tree's root, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestFile {
    Text(String),
    /// Present but a directory, a symlink or a device.
    NotAFile,
    /// A regular file that could not be read, with the reason.
    Unreadable(String),
}

/// The built tree's manifests; `None` when a file is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifests {
    pub procfile: Option<ManifestFile>,
    pub app_json: Option<ManifestFile>,
    /// Each classic buildpack's `bin/release` output, in buildpack order (missing ones skipped).
    pub release_yamls: Vec<String>,
}

/// Everything the release plan is computed from.
#[derive(Debug, Clone)]
pub struct ReleaseInputs<'a> {
    pub builder: &'a Builder,
    pub facts: &'a SourceFacts,
    pub manifests: &'a Manifests,
    pub config: &'a ConfigVars,
    /// The app has no release yet: app.json's defaults and postdeploy apply.
    pub first_deploy: bool,
    pub slug_bytes: u64,
    pub max_slug_size: u64,
}

/// The release a deploy makes, and what runs around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePlan {
    pub procfile: Procfile,
    /// Applied by the release's transaction; empty after the first deploy.
    pub defaults: FirstDeployDefaults,
    /// The config the release phase runs with: the app's, over app.json's first-deploy defaults.
    pub release_config: ConfigVars,
    /// app.json's web health check, committed with the release.
    pub health_check: Option<HealthCheck>,
    /// app.json's `sleep_after`, set once the release is committed.
    pub sleep_after: Option<SleepSetting>,
    pub cron: Vec<CronJob>,
    /// The Procfile's `release:` command.
    pub release_command: Option<String>,
    /// app.json's postdeploy script; only on a first deploy.
    pub postdeploy: Option<String>,
    pub slug_bytes: u64,
}

impl ReleasePlan {
    /// What the deploy reports before the release phase: process types, jobs, slug size.
    pub fn summary(&self) -> Vec<String> {
        let types: Vec<&str> = self.procfile.process_types().map(|t| t.as_str()).collect();
        let mut lines = vec![format!("-----> Process types: {}", types.join(", "))];
        for (i, job) in self.cron.iter().enumerate() {
            lines.push(format!(
                "-----> Scheduled job cron.{}: {} ({})",
                i + 1,
                job.command,
                job.schedule
            ));
        }
        lines.push(format!(
            "-----> Slug size: {:.1} MiB",
            self.slug_bytes as f64 / 1048576.0
        ));
        lines
    }
}

/// The release's Procfile: the app's own, over what the builder and buildpacks provide.
fn release_procfile(inputs: &ReleaseInputs<'_>) -> Result<Procfile, PlanError> {
    let own = match &inputs.manifests.procfile {
        Some(ManifestFile::Text(text)) => {
            Some(Procfile::parse(text).map_err(|e| PlanError::Procfile(e.to_string()))?)
        }
        Some(ManifestFile::NotAFile) => return Err(PlanError::ProcfileNotAFile),
        Some(ManifestFile::Unreadable(e)) => return Err(PlanError::ProcfileUnreadable(e.clone())),
        None => None,
    };
    let mut defaults: BTreeMap<String, String> = inputs.builder.default_processes(inputs.facts);
    if let Builder::Buildpacks(_) = inputs.builder {
        for text in &inputs.manifests.release_yamls {
            defaults.extend(parse_release_yaml(text));
        }
    }
    let merged = merge_processes(own.as_ref(), &defaults);
    if merged.is_empty() {
        return Err(PlanError::NoProcesses);
    }
    Procfile::parse(&merged).map_err(|e| PlanError::Procfile(e.to_string()))
}

/// app.json, or its defaults when there is none (or it is not a regular file).
fn manifest(
    file: Option<&ManifestFile>,
    secret: impl Fn() -> String,
) -> Result<AppJson, PlanError> {
    match file {
        Some(ManifestFile::Text(text)) => {
            app_json::parse(text, secret).map_err(|e| PlanError::AppJson(e.to_string()))
        }
        Some(ManifestFile::Unreadable(e)) => Err(PlanError::AppJsonUnreadable(e.clone())),
        Some(ManifestFile::NotAFile) | None => Ok(AppJson::default()),
    }
}

/// Decides the release; `secret` makes values for app.json's `"generator": "secret"`.
pub fn plan_release(
    inputs: &ReleaseInputs<'_>,
    secret: impl Fn() -> String,
) -> Result<ReleasePlan, PlanError> {
    if inputs.slug_bytes > inputs.max_slug_size {
        return Err(PlanError::SlugTooBig {
            size_mib: inputs.slug_bytes >> 20,
            max_mib: inputs.max_slug_size >> 20,
        });
    }
    let procfile = release_procfile(inputs)?;
    let manifest = manifest(inputs.manifests.app_json.as_ref(), secret)?;
    let (defaults, postdeploy) = if inputs.first_deploy {
        (manifest.defaults, manifest.postdeploy)
    } else {
        (FirstDeployDefaults::default(), None)
    };
    let mut release_config = inputs.config.clone();
    for (k, v) in &defaults.env {
        release_config.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(ReleasePlan {
        release_command: procfile.release_command().map(str::to_owned),
        procfile,
        defaults,
        release_config,
        health_check: manifest.health_check,
        sleep_after: manifest.sleep_after,
        cron: manifest.cron,
        postdeploy,
        slug_bytes: inputs.slug_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Option<ManifestFile> {
        Some(ManifestFile::Text(s.to_owned()))
    }

    fn facts(files: &[&str]) -> SourceFacts {
        SourceFacts {
            root_files: files.iter().map(|f| (*f).to_owned()).collect(),
            has_procfile: files.contains(&"Procfile"),
            ..SourceFacts::default()
        }
    }

    fn plan(
        builder: &Builder,
        manifests: Manifests,
        first_deploy: bool,
    ) -> Result<ReleasePlan, PlanError> {
        let config: ConfigVars = [("SET".to_owned(), "mine".to_owned())].into();
        plan_release(
            &ReleaseInputs {
                builder,
                facts: &facts(&["Procfile"]),
                manifests: &manifests,
                config: &config,
                first_deploy,
                slug_bytes: 3 << 20,
                max_slug_size: 10 << 20,
            },
            || "s3cret".to_owned(),
        )
    }

    #[test]
    fn the_builder_comes_from_the_marker_files() {
        for (files, builder, builds) in [
            (&["Procfile"][..], "Procfile", false),
            (&["requirements.txt"][..], "Python", true),
            (&["index.html"][..], "Static", false),
        ] {
            match plan_build(&facts(files)) {
                Ok(p) => {
                    assert!(p.builder.name().contains(builder), "{files:?}: {p:?}");
                    assert_eq!(p.script.is_some(), builds, "{files:?}");
                }
                Err(e) => panic!("{files:?}: {e}"),
            }
        }
        assert_eq!(
            plan_build(&facts(&[])),
            Err(PlanError::Detect(detect(&facts(&[])).unwrap_err()))
        );
    }

    #[test]
    fn manifests_decide_the_release_or_reject_the_source() {
        let app_json = r#"{"env": {"SET": "theirs", "NEW": {"generator": "secret"}},
            "scripts": {"postdeploy": "python3 seed.py"},
            "healthchecks": {"web": [{"type": "startup", "path": "/up"}]},
            "cron": [{"command": "python3 report.py", "schedule": "0 * * * *"}]}"#;
        let none = Builder::Nothing;
        let cases: Vec<(&str, Manifests, Result<(), PlanError>)> = vec![
            (
                "procfile",
                Manifests {
                    procfile: text("web: python3 app.py\nrelease: ./migrate\n"),
                    ..Manifests::default()
                },
                Ok(()),
            ),
            (
                "no processes",
                Manifests::default(),
                Err(PlanError::NoProcesses),
            ),
            (
                "procfile dir",
                Manifests {
                    procfile: Some(ManifestFile::NotAFile),
                    ..Manifests::default()
                },
                Err(PlanError::ProcfileNotAFile),
            ),
            (
                "procfile unreadable",
                Manifests {
                    procfile: Some(ManifestFile::Unreadable("denied".into())),
                    ..Manifests::default()
                },
                Err(PlanError::ProcfileUnreadable("denied".into())),
            ),
            (
                "app.json dir is ignored",
                Manifests {
                    procfile: text("web: x\n"),
                    app_json: Some(ManifestFile::NotAFile),
                    ..Manifests::default()
                },
                Ok(()),
            ),
            (
                "app.json unreadable",
                Manifests {
                    procfile: text("web: x\n"),
                    app_json: Some(ManifestFile::Unreadable("denied".into())),
                    ..Manifests::default()
                },
                Err(PlanError::AppJsonUnreadable("denied".into())),
            ),
            (
                "app.json",
                Manifests {
                    procfile: text("web: x\n"),
                    app_json: text(app_json),
                    ..Manifests::default()
                },
                Ok(()),
            ),
        ];
        for (name, manifests, want) in cases {
            let got = plan(&none, manifests, true).map(|_| ());
            assert_eq!(got, want, "{name}");
        }
        let bad_json = Manifests {
            procfile: text("web: x\n"),
            app_json: text("{"),
            ..Manifests::default()
        };
        assert!(matches!(
            plan(&none, bad_json, true),
            Err(PlanError::AppJson(_))
        ));
    }

    #[test]
    fn first_deploy_defaults_and_postdeploy_apply_only_once() {
        let manifests = Manifests {
            procfile: text("web: python3 app.py\nrelease: ./migrate\n"),
            app_json: text(
                r#"{"env": {"SET": "theirs", "NEW": "x"}, "scripts": {"postdeploy": "seed"},
                    "healthchecks": {"web": [{"type": "startup", "path": "/up"}]}}"#,
            ),
            ..Manifests::default()
        };
        let first = plan(&Builder::Nothing, manifests.clone(), true).unwrap();
        assert_eq!(first.postdeploy.as_deref(), Some("seed"));
        assert_eq!(
            first.release_config["SET"], "mine",
            "the app's own config wins"
        );
        assert_eq!(first.release_config["NEW"], "x");
        assert_eq!(first.release_command.as_deref(), Some("./migrate"));
        assert_eq!(
            first.health_check.as_ref().and_then(|c| c.path.as_deref()),
            Some("/up")
        );
        let later = plan(&Builder::Nothing, manifests, false).unwrap();
        assert_eq!(later.postdeploy, None);
        assert_eq!(later.defaults, FirstDeployDefaults::default());
        assert!(!later.release_config.contains_key("NEW"));
        assert_eq!(
            later.health_check, first.health_check,
            "the health check applies every deploy"
        );
    }

    #[test]
    fn buildpacks_release_output_adds_default_processes_under_the_procfile() {
        let packs = Builder::Buildpacks(vec![crate::model::BuildpackSource::Local("/bp".into())]);
        let manifests = Manifests {
            procfile: text("web: mine\n"),
            release_yamls: vec!["default_process_types:\n  web: theirs\n  worker: work\n".into()],
            ..Manifests::default()
        };
        let p = plan(&packs, manifests, false).unwrap();
        let types: Vec<&str> = p.procfile.process_types().map(|t| t.as_str()).collect();
        assert_eq!(types, ["web", "worker"]);
        assert_eq!(
            p.procfile
                .iter()
                .find(|(t, _)| t.as_str() == "web")
                .map(|(_, c)| c),
            Some("mine")
        );
    }

    #[test]
    fn an_oversized_slug_is_refused_and_the_summary_names_what_was_built() {
        let builder = Builder::Nothing;
        let manifests = Manifests {
            procfile: text("web: x\n"),
            ..Manifests::default()
        };
        let config = ConfigVars::new();
        let facts = SourceFacts::default();
        let inputs = |slug_bytes| ReleaseInputs {
            builder: &builder,
            facts: &facts,
            manifests: &manifests,
            config: &config,
            first_deploy: false,
            slug_bytes,
            max_slug_size: 2 << 20,
        };
        assert_eq!(
            plan_release(&inputs(5 << 20), String::new)
                .unwrap_err()
                .to_string(),
            "the built slug is 5 MiB, over max_slug_size (2 MiB)"
        );
        let p = plan_release(&inputs(1 << 20), String::new).unwrap();
        assert_eq!(
            p.summary(),
            ["-----> Process types: web", "-----> Slug size: 1.0 MiB"]
        );
    }
}
