//! The shell script a build unit runs, rendered per builder (pure). Inside the build's sandbox the
//! source is at `/app` (the path dynos see it at, so virtualenvs and shebangs stay valid), the
//! app's cache at `/cache`, config vars as files in `/env`, outputs for skiffd in `/meta`, and
//! local buildpacks at `/buildpacks/N`.

use super::detect::Builder;
use crate::model::BuildpackSource;

/// Single-quotes `s` for `/bin/sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

const PRELUDE: &str = r#"set -eu
export HOME=/tmp/home
mkdir -p "$HOME"
cd /app
stage() { echo "-----> $*"; }
fail() { echo " !     $*"; exit 1; }
now() { date +%s%N; }
took() { echo "       done in $(( ($(now) - $1) / 1000000 )) ms"; }
"#;

/// Reuses `/cache/NAME/DIR` when `KEY` matches the one saved with it, else runs the install
/// command and saves the result.
fn cached_install(name: &str, dir: &str, key_cmd: &str, install: &str) -> String {
    format!(
        r#"key=$( {key_cmd} | sha256sum | cut -d' ' -f1)
if [ -d /cache/{name}/{dir} ] && [ "$(cat /cache/{name}/key 2>/dev/null)" = "$key" ]; then
  stage "Restoring {dir} from the build cache (dependencies unchanged)"
  t=$(now); rm -rf /app/{dir}; cp -a /cache/{name}/{dir} /app/{dir}; took $t
else
  t=$(now)
{install}
  took $t
  rm -rf /cache/{name}; mkdir -p /cache/{name}
  cp -a /app/{dir} /cache/{name}/{dir} && echo "$key" > /cache/{name}/key
fi
"#
    )
}

fn python(django: bool, pyproject: bool) -> String {
    let mut s = String::from(
        r#"command -v python3 >/dev/null || fail "Python builds need python3 on this server: apt install python3 python3-venv"
python3 -c 'import venv, ensurepip' 2>/dev/null || fail "Python builds need the python3-venv package on this server: apt install python3-venv"
have=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -f .python-version ]; then
  want=$(head -n 1 .python-version | tr -d ' \r')
  case "$want" in "$have"|"$have".*) ;; *) echo " !     Warning: .python-version asks for Python $want but this server has $have; building with $have" ;; esac
fi
export PIP_CACHE_DIR=/cache/pip PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"#,
    );
    if pyproject {
        s.push_str(
            r#"stage "Creating a virtualenv with Python $have"
python3 -m venv /app/.venv
stage "Installing the project with pip"
t=$(now); /app/.venv/bin/pip install . ; took $t
"#,
        );
    } else {
        s.push_str(&cached_install(
            "python",
            ".venv",
            r#"(cat requirements.txt; echo "$have")"#,
            r#"  stage "Creating a virtualenv with Python $have"
  python3 -m venv /app/.venv
  stage "Installing requirements with pip"
  /app/.venv/bin/pip install -r requirements.txt"#,
        ));
    }
    if django {
        s.push_str(
            r#"stage "Running manage.py collectstatic --noinput"
/app/.venv/bin/python manage.py collectstatic --noinput
"#,
        );
    }
    s
}

fn node(build_script: bool) -> String {
    let mut s = String::from(
        r#"command -v node >/dev/null && command -v npm >/dev/null || fail "Node.js builds need nodejs and npm on this server: apt install nodejs npm"
export npm_config_cache=/cache/npm npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false NODE_ENV=${NODE_ENV:-production}
stage "Using Node.js $(node --version) and npm $(npm --version)"
"#,
    );
    s.push_str(&cached_install(
        "node",
        "node_modules",
        r#"(cat package.json package-lock.json 2>/dev/null; node --version)"#,
        r#"  if [ -f package-lock.json ]; then stage "Installing dependencies with npm ci"; npm ci --include=dev
  else stage "Installing dependencies with npm install"; npm install --include=dev; fi"#,
    ));
    if build_script {
        s.push_str(
            r#"stage "Running npm run build"
t=$(now); npm run build; took $t
"#,
        );
    }
    s
}

const RUBY: &str = r#"command -v bundle >/dev/null || fail "Ruby builds need bundler on this server: apt install ruby-bundler"
stage "Using $(ruby --version)"
export BUNDLE_PATH=/app/vendor/bundle BUNDLE_WITHOUT=development:test BUNDLE_JOBS=4
if [ -d /cache/ruby/bundle ] && [ ! -d /app/vendor/bundle ]; then mkdir -p /app/vendor; cp -a /cache/ruby/bundle /app/vendor/bundle; fi
stage "Installing gems with bundler"
t=$(now); bundle install; took $t
rm -rf /cache/ruby; mkdir -p /cache/ruby; cp -a /app/vendor/bundle /cache/ruby/bundle
"#;

fn go(binary: &str) -> String {
    format!(
        r#"command -v go >/dev/null || fail "Go builds need Go on this server: apt install golang-go"
stage "Using $(go version)"
export GOPATH=/cache/go GOCACHE=/cache/go-build GOFLAGS=-buildvcs=false
stage "Building with go build"
t=$(now); mkdir -p /app/bin; go build -o /app/bin/{binary} . ; took $t
"#,
        binary = sh_quote(binary)
    )
}

fn buildpacks(packs: &[BuildpackSource]) -> String {
    let mut s = String::new();
    for (i, pack) in packs.iter().enumerate() {
        match pack {
            BuildpackSource::Local(path) => {
                s.push_str(&format!(
                    "bp=/buildpacks/{i}\nstage \"Using buildpack {}\"\n",
                    path.replace(['"', '$', '`', '\\'], "")
                ));
            }
            BuildpackSource::Git { url, reference } => {
                let branch = reference
                    .as_deref()
                    .map(|r| format!("--branch {} ", sh_quote(r)))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "bp=/tmp/buildpacks/{i}\nstage \"Fetching buildpack {shown}\"\ngit clone --quiet --depth 1 {branch}-- {url} \"$bp\"\n",
                    shown = url.replace(['"', '$', '`', '\\'], ""),
                    url = sh_quote(url),
                ));
            }
        }
        s.push_str(&format!(
            r#"[ -x "$bp/bin/compile" ] || fail "the buildpack has no executable bin/compile"
if [ -x "$bp/bin/detect" ]; then name=$("$bp/bin/detect" /app) || fail "the buildpack does not apply to this app (bin/detect failed)"; stage "$name app detected"; fi
mkdir -p /cache/buildpack-{i}
t=$(now); "$bp/bin/compile" /app /cache/buildpack-{i} /env; took $t
if [ -x "$bp/bin/release" ]; then "$bp/bin/release" /app > /meta/release-{i}.yml; fi
"#
        ));
    }
    s
}

/// The whole build script for `builder`, or `None` when there is nothing to build.
pub fn build_script(builder: &Builder) -> Option<String> {
    let body = match builder {
        Builder::Python { django, pyproject } => python(*django, *pyproject),
        Builder::Node { build_script } => node(*build_script),
        Builder::Ruby => RUBY.to_owned(),
        Builder::Go { binary } => go(binary),
        Builder::Buildpacks(packs) => buildpacks(packs),
        Builder::Static | Builder::Nothing => return None,
    };
    Some(format!("{PRELUDE}{body}stage \"Build finished\"\n"))
}

/// `default_process_types` from a buildpack's `bin/release` YAML (the simple shape buildpacks print).
pub fn parse_release_yaml(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if !indented {
            inside = line.trim_end() == "default_process_types:";
            continue;
        }
        if inside {
            if let Some((key, value)) = line.trim().split_once(':') {
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(value);
                if !value.is_empty() {
                    out.push((key.trim().to_owned(), value.to_owned()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn nothing_to_build_has_no_script() {
        assert_eq!(build_script(&Builder::Nothing), None);
        assert_eq!(build_script(&Builder::Static), None);
    }

    #[test]
    fn python_uses_a_cached_virtualenv_keyed_by_requirements() {
        let s = build_script(&Builder::Python {
            django: true,
            pyproject: false,
        })
        .unwrap();
        assert!(s.starts_with("set -eu\n"));
        assert!(s.contains("python3 -m venv /app/.venv"));
        assert!(s.contains("/app/.venv/bin/pip install -r requirements.txt"));
        assert!(s.contains("key=$( (cat requirements.txt; echo \"$have\") | sha256sum"));
        assert!(s.contains("cp -a /cache/python/.venv /app/.venv"));
        assert!(s.contains("manage.py collectstatic --noinput"));
        assert!(s.contains("apt install python3-venv"));
        assert!(s.contains(".python-version"));
        let plain = build_script(&Builder::Python {
            django: false,
            pyproject: true,
        })
        .unwrap();
        assert!(!plain.contains("collectstatic"));
        assert!(plain.contains("pip install ."));
    }

    #[test]
    fn node_installs_with_npm_ci_when_locked_and_runs_the_build_script() {
        let s = build_script(&Builder::Node { build_script: true }).unwrap();
        assert!(s.contains("npm ci"));
        assert!(s.contains("npm install"));
        assert!(s.contains("npm run build"));
        assert!(s.contains("npm_config_cache=/cache/npm"));
        assert!(!build_script(&Builder::Node {
            build_script: false
        })
        .unwrap()
        .contains("npm run build"));
    }

    #[test]
    fn buildpacks_follow_the_classic_api() {
        let s = build_script(&Builder::Buildpacks(vec![
            BuildpackSource::Local("/srv/bp".into()),
            BuildpackSource::Git {
                url: "https://example.org/x.git".into(),
                reference: Some("v1".into()),
            },
        ]))
        .unwrap();
        assert!(s.contains("bp=/buildpacks/0\n"));
        assert!(s.contains(r#""$bp/bin/compile" /app /cache/buildpack-0 /env"#));
        assert!(s.contains(r#""$bp/bin/release" /app > /meta/release-1.yml"#));
        assert!(s.contains(
            "git clone --quiet --depth 1 --branch 'v1' -- 'https://example.org/x.git' \"$bp\""
        ));
    }

    #[test]
    fn go_names_the_binary() {
        let s = build_script(&Builder::Go {
            binary: "hello".into(),
        })
        .unwrap();
        assert!(s.contains("go build -o /app/bin/'hello' ."));
    }

    #[test]
    fn reads_default_process_types_from_bin_release() {
        let yaml = "---\naddons: []\nconfig_vars:\n  PATH: /app/bin\ndefault_process_types:\n  web: ./bin/server --port $PORT\n  worker: \"run-worker\"\n";
        assert_eq!(
            parse_release_yaml(yaml),
            [
                ("web".to_owned(), "./bin/server --port $PORT".to_owned()),
                ("worker".to_owned(), "run-worker".to_owned())
            ]
        );
        assert!(parse_release_yaml("--- {}\n").is_empty());
    }

    #[test]
    fn every_script_is_valid_posix_shell() {
        let builders = [
            Builder::Python {
                django: true,
                pyproject: false,
            },
            Builder::Python {
                django: false,
                pyproject: true,
            },
            Builder::Node { build_script: true },
            Builder::Ruby,
            Builder::Go { binary: "x".into() },
            Builder::Buildpacks(vec![
                BuildpackSource::Local("/srv/bp".into()),
                BuildpackSource::Git {
                    url: "https://example.org/x.git".into(),
                    reference: None,
                },
            ]),
        ];
        for builder in builders {
            let script = build_script(&builder).unwrap();
            let check = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{builder:?}: {}\n{script}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
}
