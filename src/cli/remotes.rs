//! Named remotes: servers the CLI reaches by `--server NAME` (or `SKIFF_SERVER`), kept with their
//! API and token in `~/.config/skiff/remotes.toml` (mode 0600, in a 0700 folder); `remotes`,
//! `remotes:add` and `remotes:remove` edit it.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use super::endpoint::Endpoint;
use super::{output, CliError, Context, Session};

#[derive(Debug, Subcommand)]
pub enum RemotesVerb {
    /// List the named remotes.
    #[command(name = "remotes")]
    List,
    /// Name a server: its API (ssh://USER@HOST, https://HOST, a socket path) and a token.
    #[command(name = "remotes:add")]
    Add {
        name: String,
        api: String,
        /// An API token for an https:// remote (skiff tokens:create on the server).
        #[arg(long)]
        token: Option<String>,
    },
    /// Forget a named remote.
    #[command(name = "remotes:remove")]
    Remove { name: String },
}

/// One named server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    pub api: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The remotes file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remotes {
    #[serde(default)]
    pub remotes: BTreeMap<String, Remote>,
}

/// What `remotes --json` prints of one: never the token itself.
#[derive(Debug, Serialize)]
struct RemoteInfo<'a> {
    name: &'a str,
    api: &'a str,
    token: bool,
}

/// Where the remotes live: `$XDG_CONFIG_HOME/skiff/remotes.toml` or `~/.config/skiff/…`.
pub fn default_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("skiff").join("remotes.toml"))
}

impl Remotes {
    pub fn parse(text: &str) -> Result<Self, String> {
        let remotes: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        for (name, remote) in &remotes.remotes {
            check_name(name)?;
            check_api(&remote.api)?;
        }
        Ok(remotes)
    }

    pub fn render(&self) -> String {
        toml::to_string(self).expect("remotes serialize")
    }

    /// Adds `name`; refused when it exists or is malformed.
    pub fn add(&mut self, name: &str, remote: Remote) -> Result<(), String> {
        check_name(name)?;
        check_api(&remote.api)?;
        if self.remotes.contains_key(name) {
            return Err(format!(
                "remote {name} already exists; remove it first with: skiff remotes:remove {name}"
            ));
        }
        self.remotes.insert(name.to_owned(), remote);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), String> {
        self.remotes
            .remove(name)
            .map(drop)
            .ok_or_else(|| format!("there is no remote {name}; skiff remotes lists them"))
    }

    /// The endpoint and token of `name`.
    pub fn resolve(&self, name: &str) -> Result<(Endpoint, Option<String>), String> {
        let remote = self
            .remotes
            .get(name)
            .ok_or_else(|| format!("there is no remote {name}; skiff remotes lists them"))?;
        let endpoint = Endpoint::parse(Some(&remote.api)).map_err(|e| e.to_string())?;
        Ok((endpoint, remote.token.clone()))
    }
}

/// A remote's name: 1 to 30 lowercase letters, digits and dashes, starting with a letter.
fn check_name(name: &str) -> Result<(), String> {
    let fine = (1..=30).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    fine.then_some(()).ok_or_else(|| {
        format!("invalid remote name {name:?}: use 1 to 30 lowercase letters, digits and dashes, starting with a letter")
    })
}

fn check_api(api: &str) -> Result<(), String> {
    Endpoint::parse(Some(api))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Reads the remotes file (none yet is an empty list); a file others may read is refused, since
/// it can hold tokens.
pub fn load(path: &Path) -> Result<Remotes, CliError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Remotes::default()),
        Err(e) => {
            return Err(CliError::Usage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(CliError::Usage(format!(
            "{} may be read by others (mode {:o}) and can hold tokens: chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    let text = std::io::read_to_string(file)?;
    Remotes::parse(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

/// Writes the remotes file whole: a 0600 file beside it, renamed over it.
fn save(path: &Path, remotes: &Remotes) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let partial = path.with_extension("toml.part");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(remotes.render().as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// The context `--server NAME` asks for.
pub(super) fn context_for(name: &str, ctx: &Context) -> Result<Context, CliError> {
    let file = ctx.remotes_file.as_deref().ok_or_else(|| {
        CliError::Usage("cannot tell where the remotes file is: HOME is not set".into())
    })?;
    let (endpoint, token) = load(file)?.resolve(name).map_err(CliError::Usage)?;
    Ok(Context {
        endpoint,
        token: token.or_else(|| ctx.token.clone()),
        ..ctx.clone()
    })
}

pub(super) async fn run(verb: RemotesVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let file = s.ctx.remotes_file.clone().ok_or_else(|| {
        CliError::Usage("cannot tell where the remotes file is: HOME is not set".into())
    })?;
    let mut remotes = load(&file)?;
    match verb {
        RemotesVerb::List => {
            let infos: Vec<RemoteInfo> = remotes
                .remotes
                .iter()
                .map(|(name, r)| RemoteInfo {
                    name,
                    api: &r.api,
                    token: r.token.is_some(),
                })
                .collect();
            s.output.show(&infos, |out, _| {
                if infos.is_empty() {
                    return writeln!(
                        out,
                        "no remotes yet; add one with: skiff remotes:add NAME ssh://USER@HOST"
                    );
                }
                output::table(
                    out,
                    &["NAME", "API", "TOKEN"],
                    infos.iter().map(|i| {
                        let token = if i.token { "set" } else { "-" };
                        vec![i.name.to_owned(), i.api.to_owned(), token.to_owned()]
                    }),
                )
            })?;
        }
        RemotesVerb::Add { name, api, token } => {
            remotes
                .add(
                    &name,
                    Remote {
                        api: api.clone(),
                        token,
                    },
                )
                .map_err(CliError::Usage)?;
            save(&file, &remotes)?;
            writeln!(
                s.output.err(),
                "Remote {name} added: {api}; use it with --server {name}"
            )?;
        }
        RemotesVerb::Remove { name } => {
            remotes.remove(&name).map_err(CliError::Usage)?;
            save(&file, &remotes)?;
            writeln!(s.output.err(), "Remote {name} removed")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(api: &str, token: Option<&str>) -> Remote {
        Remote {
            api: api.into(),
            token: token.map(str::to_owned),
        }
    }

    #[test]
    fn remotes_round_trip_and_resolve() {
        let mut r = Remotes::default();
        r.add("prod", remote("ssh://admin@paas.example.com", None))
            .unwrap();
        r.add(
            "stage",
            remote("https://stage.example.com", Some("skiff_x")),
        )
        .unwrap();
        let back = Remotes::parse(&r.render()).unwrap();
        assert_eq!(back, r);
        let (endpoint, token) = back.resolve("stage").unwrap();
        assert_eq!(endpoint.to_string(), "https://stage.example.com:443");
        assert_eq!(token.as_deref(), Some("skiff_x"));
        assert!(back
            .resolve("dev")
            .unwrap_err()
            .contains("there is no remote dev"));
    }

    #[test]
    fn bad_names_apis_and_repeats_are_refused() {
        let mut r = Remotes::default();
        for name in [
            "",
            "Prod",
            "1prod",
            "pro d",
            "a-very-long-remote-name-beyond-thirty",
        ] {
            assert!(r.add(name, remote("ssh://h", None)).is_err(), "{name:?}");
        }
        assert!(r.add("prod", remote("ftp://h", None)).is_err());
        r.add("prod", remote("ssh://h", None)).unwrap();
        let again = r.add("prod", remote("ssh://g", None)).unwrap_err();
        assert!(again.contains("already exists"), "{again}");
        assert_eq!(r.resolve("prod").unwrap().0.to_string(), "ssh://h");
        assert!(r.remove("nope").is_err());
        r.remove("prod").unwrap();
        assert!(r.remotes.is_empty());
        assert!(Remotes::parse("[remotes.x]\napi = \"ftp://h\"\n").is_err());
        assert!(Remotes::parse("[remotes.x]\napi = \"ssh://h\"\nextra = 1\n").is_err());
    }

    #[test]
    fn the_file_is_written_private_and_a_readable_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff").join("remotes.toml");
        assert_eq!(load(&path).unwrap(), Remotes::default(), "no file yet");
        let mut r = Remotes::default();
        r.add("prod", remote("ssh://admin@h", Some("t"))).unwrap();
        save(&path, &r).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(load(&path).unwrap(), r);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }
}
