//! `skiff deploy [DIR]`: packs a directory (without `.git`) as a gzipped tar, or reads a prepared
//! archive, for upload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Subcommand;

use super::client::ApiClient;
use super::{path_segment, CliError, Session};
use crate::wire::{BuildEvent, Release};

#[derive(Debug, Subcommand)]
pub enum DeployVerb {
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
}

pub(super) async fn run(verb: DeployVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let DeployVerb::Deploy {
        dir,
        tar,
        description,
    } = verb;
    let app = s.app()?;
    let (archive, shown, described) = match tar {
        Some(path) => {
            let bytes = read_archive(&path)?;
            (bytes, path.display().to_string(), "Deploy".to_owned())
        }
        None => {
            let dir = dir.unwrap_or_else(|| s.ctx.cwd.clone());
            let described = describe(&dir);
            (pack(&dir)?, dir.display().to_string(), described)
        }
    };
    let description = description.unwrap_or(described);
    writeln!(
        s.output.err(),
        "Uploading {shown} ({} KiB) to {app}...",
        archive.len().div_ceil(1024)
    )?;
    let release =
        build_and_release(&s.client, &app, archive, &description, s.output.progress()).await?;
    s.output.show(&release, |out, _| {
        writeln!(
            out,
            "Released v{} of {app} ({}): {}",
            release.version,
            release.description,
            release.process_types.join(", ")
        )
    })?;
    Ok(())
}

/// Packs `dir` into a tar.gz in memory: regular files, directories and symlinks (not followed);
/// the top-level `.git` is left out.
fn pack(dir: &Path) -> Result<Vec<u8>, CliError> {
    let err = |e: std::io::Error| CliError::Usage(format!("packing {}: {e}", dir.display()));
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    add_tree(&mut tar, dir, Path::new("")).map_err(err)?;
    tar.into_inner().map_err(err)?.finish().map_err(err)
}

fn add_tree<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = rel.join(entry.file_name());
        if rel.as_os_str().is_empty() && entry.file_name() == ".git" {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tar.append_dir(&name, entry.path())?;
            add_tree(tar, root, &name)?;
        } else if kind.is_file() || kind.is_symlink() {
            tar.append_path_with_name(entry.path(), &name)?;
        }
    }
    Ok(())
}

/// Uploads an archive to the streaming build endpoint, copies the build's output to `progress`
/// as it happens, and returns the release (or the build's error).
pub(super) async fn build_and_release(
    client: &ApiClient,
    app: &str,
    archive: Vec<u8>,
    description: &str,
    progress: &mut dyn Write,
) -> Result<Release, CliError> {
    let path = format!(
        "/v1/apps/{}/builds?description={}",
        path_segment(app)?,
        crate::wire::percent_encode(description)
    );
    let mut outcome: Option<BuildEvent> = None;
    client
        .post_lines(
            &path,
            "application/gzip",
            archive,
            &mut |line| match serde_json::from_slice::<BuildEvent>(line) {
                Ok(BuildEvent::Output(text)) => {
                    writeln!(progress, "{text}")?;
                    progress.flush()
                }
                Ok(last) => {
                    outcome = Some(last);
                    Ok(())
                }
                Err(_) => Ok(()),
            },
        )
        .await?;
    match outcome {
        Some(BuildEvent::Release(release)) => Ok(release),
        Some(BuildEvent::Error(e)) => Err(CliError::Api {
            status: 422,
            message: e.message,
        }),
        _ => Err(CliError::Protocol(
            "the build stream ended without a result".into(),
        )),
    }
}

/// Reads a prepared archive from a file, or from standard input for "-".
fn read_archive(path: &Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| CliError::Usage(format!("reading {}: {e}", path.display())))?;
    Ok(bytes)
}

/// "Deploy 1a2b3c4" inside a git work tree, else "Deploy".
fn describe(dir: &Path) -> String {
    let sha = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty());
    match sha {
        Some(sha) => format!("Deploy {sha}"),
        None => "Deploy".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_the_tree_without_git_and_keeps_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Procfile"), "web: x\n").unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "ref").unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/a.py"), "print(1)").unwrap();
        std::os::unix::fs::symlink("lib/a.py", dir.path().join("link")).unwrap();
        let packed = pack(dir.path()).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&packed[..]));
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Procfile", "lib", "lib/a.py", "link"]);
        assert!(pack(&dir.path().join("missing")).is_err());
    }
}
