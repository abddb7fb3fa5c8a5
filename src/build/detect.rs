//! Which builder an app needs, decided from the files at the root of its source (pure).

use std::collections::BTreeMap;

use crate::model::{BuildpackError, BuildpackSource, Buildpacks, Procfile};

/// What the detector looks at, read from the unpacked source by the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFacts {
    /// Names of the regular files at the source's root.
    pub root_files: Vec<String>,
    /// `package.json`, when present.
    pub package_json: Option<String>,
    /// `requirements.txt`, when present.
    pub requirements_txt: Option<String>,
    /// `go.mod`, when present.
    pub go_mod: Option<String>,
    /// `.buildpacks`, when present.
    pub buildpacks_file: Option<String>,
    /// The buildpacks set on the app (`skiff buildpacks:set`).
    pub app_buildpacks: Buildpacks,
    /// The app's `BUILDPACK_URL` config var.
    pub buildpack_url: Option<String>,
    pub has_procfile: bool,
}

impl SourceFacts {
    fn has(&self, name: &str) -> bool {
        self.root_files.iter().any(|f| f == name)
    }
}

/// How the app is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    Python {
        django: bool,
        pyproject: bool,
    },
    Node {
        build_script: bool,
    },
    Ruby,
    Go {
        binary: String,
    },
    /// `index.html` and no Procfile: a web process serves the files.
    Static,
    /// Heroku classic buildpacks, run in order.
    Buildpacks(Vec<BuildpackSource>),
    /// A Procfile with prebuilt binaries or scripts: nothing to build.
    Nothing,
}

impl Builder {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Python { .. } => "Python",
            Self::Node { .. } => "Node.js",
            Self::Ruby => "Ruby",
            Self::Go { .. } => "Go",
            Self::Static => "Static site",
            Self::Buildpacks(_) => "Buildpack",
            Self::Nothing => "Procfile",
        }
    }

    /// Process types the builder provides when the Procfile lacks them.
    pub fn default_processes(&self, facts: &SourceFacts) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match self {
            Self::Node { .. } if package_scripts(facts).contains_key("start") => {
                out.insert("web".into(), "npm start".into());
            }
            Self::Go { binary } => {
                out.insert("web".into(), format!("/app/bin/{binary}"));
            }
            Self::Static => {
                out.insert(
                    "web".into(),
                    "XDG_CONFIG_HOME=/tmp XDG_DATA_HOME=/tmp exec caddy file-server --listen :$PORT --root /app".into(),
                );
            }
            _ => {}
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Buildpack(#[from] BuildpackError),
    #[error("could not tell how to build this app: there is no Procfile in its root directory, nor a requirements.txt, package.json, Gemfile, go.mod or index.html; add a Procfile with lines like 'web: python3 app.py', or set BUILDPACK_URL")]
    Unknown,
}

fn package_scripts(facts: &SourceFacts) -> BTreeMap<String, serde_json::Value> {
    facts
        .package_json
        .as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|v| v.get("scripts").and_then(|s| s.as_object()).cloned())
        .map(|m| m.into_iter().collect())
        .unwrap_or_default()
}

/// `go.mod`'s module path's last element: the binary's name.
fn go_binary(go_mod: &str) -> String {
    go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .and_then(|m| {
            m.trim()
                .trim_matches('"')
                .rsplit('/')
                .next()
                .map(str::to_owned)
        })
        .filter(|b| {
            !b.is_empty()
                && b.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .unwrap_or_else(|| "app".to_owned())
}

/// Picks the builder: buildpacks when asked for (those set on the app, else `BUILDPACK_URL`,
/// else a `.buildpacks` file), else by marker files, Heroku's order.
pub fn detect(facts: &SourceFacts) -> Result<Builder, DetectError> {
    if !facts.app_buildpacks.as_slice().is_empty() {
        return Ok(Builder::Buildpacks(
            facts.app_buildpacks.as_slice().to_vec(),
        ));
    }
    if let Some(url) = facts
        .buildpack_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok(Builder::Buildpacks(vec![BuildpackSource::parse(url)?]));
    }
    if let Some(list) = &facts.buildpacks_file {
        let packs: Vec<BuildpackSource> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(BuildpackSource::parse)
            .collect::<Result<_, _>>()?;
        if !packs.is_empty() {
            return Ok(Builder::Buildpacks(packs));
        }
    }
    if facts.has("requirements.txt") || facts.has("pyproject.toml") || facts.has("setup.py") {
        let django = facts.has("manage.py")
            && facts
                .requirements_txt
                .as_deref()
                .is_some_and(|r| r.to_ascii_lowercase().contains("django"));
        let pyproject = !facts.has("requirements.txt");
        return Ok(Builder::Python { django, pyproject });
    }
    if facts.has("package.json") {
        return Ok(Builder::Node {
            build_script: package_scripts(facts).contains_key("build"),
        });
    }
    if facts.has("Gemfile") {
        return Ok(Builder::Ruby);
    }
    if let Some(go_mod) = &facts.go_mod {
        return Ok(Builder::Go {
            binary: go_binary(go_mod),
        });
    }
    if facts.has("index.html") && !facts.has_procfile {
        return Ok(Builder::Static);
    }
    if facts.has_procfile {
        return Ok(Builder::Nothing);
    }
    Err(DetectError::Unknown)
}

/// The release's process types: the Procfile's, over the builder's defaults.
pub fn merge_processes(procfile: Option<&Procfile>, defaults: &BTreeMap<String, String>) -> String {
    let mut lines: BTreeMap<String, String> = defaults.clone();
    if let Some(p) = procfile {
        for (t, command) in p.iter() {
            lines.insert(t.to_string(), command.to_owned());
        }
    }
    lines
        .into_iter()
        .map(|(t, c)| format!("{t}: {c}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(files: &[&str]) -> SourceFacts {
        SourceFacts {
            root_files: files.iter().map(|f| f.to_string()).collect(),
            has_procfile: files.contains(&"Procfile"),
            ..SourceFacts::default()
        }
    }

    #[test]
    fn detects_by_marker_files_in_herokus_order() {
        use Builder::*;
        let cases: Vec<(Vec<&str>, Builder)> = vec![
            (
                vec!["requirements.txt", "Procfile"],
                Python {
                    django: false,
                    pyproject: false,
                },
            ),
            (
                vec!["pyproject.toml"],
                Python {
                    django: false,
                    pyproject: true,
                },
            ),
            (
                vec!["package.json", "requirements.txt"],
                Python {
                    django: false,
                    pyproject: false,
                },
            ),
            (
                vec!["package.json"],
                Node {
                    build_script: false,
                },
            ),
            (vec!["Gemfile", "Procfile"], Ruby),
            (vec!["index.html"], Static),
            (vec!["index.html", "Procfile"], Nothing),
            (vec!["Procfile", "app.sh"], Nothing),
        ];
        for (files, want) in cases {
            assert_eq!(detect(&facts(&files)).unwrap(), want, "{files:?}");
        }
        assert_eq!(detect(&facts(&["README.md"])), Err(DetectError::Unknown));
    }

    #[test]
    fn django_needs_manage_py_and_django_in_requirements() {
        let mut f = facts(&["requirements.txt", "manage.py"]);
        f.requirements_txt = Some("Django==4.2\ngunicorn\n".into());
        assert_eq!(
            detect(&f).unwrap(),
            Builder::Python {
                django: true,
                pyproject: false
            }
        );
        f.requirements_txt = Some("flask\n".into());
        assert_eq!(
            detect(&f).unwrap(),
            Builder::Python {
                django: false,
                pyproject: false
            }
        );
    }

    #[test]
    fn node_build_script_and_default_web_process() {
        let mut f = facts(&["package.json"]);
        f.package_json =
            Some(r#"{"scripts": {"build": "vite build", "start": "node server.js"}}"#.into());
        let b = detect(&f).unwrap();
        assert_eq!(b, Builder::Node { build_script: true });
        assert_eq!(b.default_processes(&f)["web"], "npm start");
        f.package_json = Some("not json".into());
        assert_eq!(
            detect(&f).unwrap(),
            Builder::Node {
                build_script: false
            }
        );
        assert!(detect(&f).unwrap().default_processes(&f).is_empty());
    }

    #[test]
    fn go_binary_is_named_after_the_module() {
        let mut f = facts(&["go.mod", "main.go"]);
        f.go_mod = Some("module github.com/acme/hello-api\n\ngo 1.19\n".into());
        let b = detect(&f).unwrap();
        assert_eq!(
            b,
            Builder::Go {
                binary: "hello-api".into()
            }
        );
        assert_eq!(b.default_processes(&f)["web"], "/app/bin/hello-api");
        assert_eq!(go_binary("module \"x/$(rm)\"\n"), "app");
    }

    #[test]
    fn buildpacks_come_from_the_app_then_the_config_var_then_the_file() {
        let mut f = facts(&["requirements.txt"]);
        f.buildpacks_file = Some("# comment\nhttps://example.org/bp.git#v2\n/srv/bp\n".into());
        assert_eq!(
            detect(&f).unwrap(),
            Builder::Buildpacks(vec![
                BuildpackSource::Git {
                    url: "https://example.org/bp.git".into(),
                    reference: Some("v2".into())
                },
                BuildpackSource::Local("/srv/bp".into()),
            ])
        );
        f.buildpack_url = Some("/opt/other".into());
        assert_eq!(
            detect(&f).unwrap(),
            Builder::Buildpacks(vec![BuildpackSource::Local("/opt/other".into())])
        );
        f.app_buildpacks = Buildpacks::parse(&["/srv/set", "git://h/x.git"]).unwrap();
        assert_eq!(
            detect(&f).unwrap(),
            Builder::Buildpacks(vec![
                BuildpackSource::Local("/srv/set".into()),
                BuildpackSource::Git {
                    url: "git://h/x.git".into(),
                    reference: None
                },
            ]),
            "the app's own list comes before BUILDPACK_URL"
        );
        f.app_buildpacks = Buildpacks::default();
        f.buildpack_url = Some("heroku/python".into());
        let e = detect(&f).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid buildpack \"heroku/python\""),
            "{e}"
        );
    }

    #[test]
    fn the_procfile_wins_over_builder_defaults() {
        let defaults: BTreeMap<String, String> = [
            ("web".to_owned(), "npm start".to_owned()),
            ("worker".to_owned(), "node w.js".to_owned()),
        ]
        .into();
        let procfile = Procfile::parse("web: node server.js\n").unwrap();
        assert_eq!(
            merge_processes(Some(&procfile), &defaults),
            "web: node server.js\nworker: node w.js\n"
        );
        assert_eq!(merge_processes(None, &BTreeMap::new()), "");
    }
}
