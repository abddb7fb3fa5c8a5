//! `backup` and `restore`: the whole server in one archive, and a server brought back from one.

use std::path::PathBuf;

use clap::Subcommand;

use super::hashing::Hashing;
use super::output::human_bytes;
use super::{CliError, Session};
use crate::wire::{verify_archive, ServerRestored, ARCHIVE_CONTENT_TYPE};

#[derive(Debug, Subcommand)]
pub enum ServerVerb {
    /// Write the whole server to one archive: its state, every app's slugs, volumes and git
    /// repo, TLS material, and a fresh checked backup of every add-on.
    #[command(name = "backup")]
    Backup {
        /// Where to write the archive.
        #[arg(short = 'o', long = "output", default_value = "skiff-backup.tar")]
        output: PathBuf,
    },
    /// Bring a server back from an archive of `skiff backup`: apps, releases, formation,
    /// add-ons with their data, domains and cron jobs. The archive is checked whole first.
    #[command(name = "restore")]
    Restore {
        /// The archive written by `skiff backup`.
        file: PathBuf,
        /// Restore although this server already has apps: theirs are replaced.
        #[arg(long)]
        force: bool,
    },
}

pub(super) async fn run(verb: ServerVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        ServerVerb::Backup { output } => backup(s, output).await,
        ServerVerb::Restore { file, force } => restore(s, file, force).await,
    }
}

async fn backup(s: &mut Session<'_>, output: PathBuf) -> Result<(), CliError> {
    writeln!(
        s.output.progress(),
        "Backing up every add-on, then writing the archive..."
    )?;
    let part = output.with_extension("part");
    let mut file = Hashing::new(std::fs::File::create(&part)?);
    let streamed = s
        .client
        .post_stream_to("/v1/server/backup", &mut file)
        .await;
    let finished = streamed.and_then(|()| Ok(file.finish()?));
    // What landed is read back whole against the manifest before it is called a backup.
    let checked = finished.and_then(|done| {
        let file = std::io::BufReader::new(std::fs::File::open(&part)?);
        let manifest = verify_archive(file).map_err(|e| {
            CliError::Failed(format!(
                "the archive that arrived is not whole ({e}); {} was not written",
                output.display()
            ))
        })?;
        Ok((done, manifest))
    });
    let ((written, sha256), manifest) = match checked {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, &output)?;
    let data = serde_json::json!({
        "file": output.display().to_string(),
        "size": written,
        "sha256": sha256,
        "entries": manifest.entries.len(),
        "addons": manifest.addons,
    });
    s.output.show(&data, |out, _| {
        writeln!(
            out,
            "Wrote {} ({}, SHA-256 {sha256}); its {} entries match its manifest",
            output.display(),
            human_bytes(written),
            manifest.entries.len()
        )?;
        for addon in &manifest.addons {
            writeln!(out, "  {}: checked backup {}", addon.addon, addon.backup)?;
        }
        Ok(())
    })?;
    Ok(())
}

async fn restore(s: &mut Session<'_>, file: PathBuf, force: bool) -> Result<(), CliError> {
    writeln!(
        s.output.progress(),
        "Checking the archive, then restoring the server..."
    )?;
    let path = format!("/v1/server/restore?force={force}");
    let restored: ServerRestored = s
        .client
        .post_file(&path, ARCHIVE_CONTENT_TYPE, &file)
        .await?;
    let r = &restored;
    s.output.show(r, |out, _| {
        writeln!(
            out,
            "Restored {} app(s) from {} (written by skiff {} at {})",
            r.apps,
            file.display(),
            r.skiff_version,
            r.created_at
        )?;
        for addon in &r.addons {
            writeln!(
                out,
                "  {}: data restored from {}",
                addon.addon, addon.backup
            )?;
        }
        writeln!(
            out,
            "The apps' dynos are starting; skiff ps -a APP shows them."
        )
    })?;
    Ok(())
}
