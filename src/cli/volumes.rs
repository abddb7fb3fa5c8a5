//! `volumes`, `volumes:create` and `volumes:destroy`: an app's persistent volumes, mounted
//! read-write into every dyno, one-off and scheduled job of the app.

use std::io::Write;

use clap::Subcommand;

use super::{output, CliError, Session};
use crate::wire::{CreateVolume, Volume, VolumeChanged};

#[derive(Debug, Subcommand)]
pub enum VolumesVerb {
    /// List the app's volumes, where they are mounted and the space they take.
    #[command(name = "volumes")]
    List,
    /// Create a volume mounted read-write at --mount in every dyno, one-off and job of the app.
    #[command(name = "volumes:create")]
    Create {
        name: String,
        /// Where the app's processes see it, like /data.
        #[arg(long)]
        mount: String,
        /// The space it may take, like 1G; `volumes` shows when it takes more.
        #[arg(long)]
        size: Option<String>,
    },
    /// Unmount a volume from the app's processes and delete its files.
    #[command(name = "volumes:destroy")]
    Destroy {
        name: String,
        /// The app's name, to confirm; the files are gone for good.
        #[arg(long)]
        confirm: Option<String>,
    },
}

pub(super) async fn run(verb: VolumesVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    match verb {
        VolumesVerb::List => {
            let volumes: Vec<Volume> = s.client.get(&format!("{base}/volumes")).await?;
            s.output
                .show(&volumes, |out, _| write_volumes(out, &app, &volumes))?;
        }
        VolumesVerb::Create { name, mount, size } => {
            let body = CreateVolume { name, mount, size };
            let changed: VolumeChanged = s.client.post(&format!("{base}/volumes"), &body).await?;
            s.output.show(&changed, |out, _| {
                let v = &changed.volume;
                writeln!(out, "Created volume {} at {} for {app}", v.name, v.mount)?;
                write_release(out, &changed, "with it")
            })?;
        }
        VolumesVerb::Destroy { name, confirm } => {
            let mut path = format!("{base}/volumes/{}", crate::wire::percent_encode(&name));
            if let Some(confirm) = confirm {
                path.push_str(&format!(
                    "?confirm={}",
                    crate::wire::percent_encode(&confirm)
                ));
            }
            let changed: VolumeChanged = s.client.delete_json(&path).await?;
            s.output.show(&changed, |out, _| {
                writeln!(out, "Destroyed volume {name} of {app}")?;
                write_release(out, &changed, "without it; its files go once they have")
            })?;
        }
    }
    Ok(())
}

fn write_release(out: &mut dyn Write, changed: &VolumeChanged, how: &str) -> std::io::Result<()> {
    match changed.release {
        Some(v) => writeln!(out, "Release v{v}: the app's dynos restart {how}"),
        None => writeln!(out, "The app's first deploy starts its dynos {how}"),
    }
}

fn write_volumes(out: &mut dyn Write, app: &str, volumes: &[Volume]) -> std::io::Result<()> {
    if volumes.is_empty() {
        return writeln!(
            out,
            "{app} has no volumes; create one with: skiff volumes:create data --mount /data -a {app}"
        );
    }
    output::table(
        out,
        &["Name", "Mount", "Used", "Size", "Created"],
        volumes.iter().map(|v| {
            let size = match v.size {
                Some(size) if v.over_size => format!("{} (over)", output::human_bytes(size)),
                Some(size) => output::human_bytes(size),
                None => "-".to_owned(),
            };
            vec![
                v.name.clone(),
                v.mount.clone(),
                output::human_bytes(v.used),
                size,
                v.created_at.clone(),
            ]
        }),
    )
}
