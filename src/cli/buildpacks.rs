//! `buildpacks`, `buildpacks:set`, `:add`, `:remove` and `:clear`: the buildpacks the app's next
//! builds run, edited as Heroku's verbs edit them and sent back whole.

use clap::{ArgGroup, Subcommand};

use super::{CliError, Session};
use crate::model::{BuildpackChoice, BuildpackSource, Buildpacks};
use crate::wire::{AppBuildpacks, SetBuildpacks};

#[derive(Debug, Subcommand)]
pub enum BuildpacksVerb {
    /// Show the buildpacks the app's next builds run, in order.
    #[command(name = "buildpacks")]
    List,
    /// Set the app's buildpack (or the one at -i N): a git URL (optionally #ref) or a directory
    /// on the server. It comes before BUILDPACK_URL and a .buildpacks file.
    #[command(name = "buildpacks:set")]
    Set {
        url: String,
        /// Which buildpack to replace, from 1 (needed once the app has several).
        #[arg(short = 'i', long)]
        index: Option<usize>,
    },
    /// Add a buildpack at the end, or at -i N.
    #[command(name = "buildpacks:add")]
    Add {
        url: String,
        /// Where to insert it, from 1.
        #[arg(short = 'i', long)]
        index: Option<usize>,
    },
    /// Remove a buildpack, by URL or by -i N.
    #[command(name = "buildpacks:remove")]
    #[command(group(ArgGroup::new("which").required(true).args(["url", "index"])))]
    Remove {
        url: Option<String>,
        /// Which buildpack to remove, from 1.
        #[arg(short = 'i', long)]
        index: Option<usize>,
    },
    /// Remove every buildpack: the next build detects what to do again.
    #[command(name = "buildpacks:clear")]
    Clear,
}

pub(super) async fn run(verb: BuildpacksVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    let path = format!("{base}/buildpacks");
    let current: AppBuildpacks = s.client.get(&path).await?;
    let done = match &verb {
        BuildpacksVerb::List => {
            return s
                .output
                .show(&current, |out, _| {
                    for line in list_lines(&app, &current.buildpacks) {
                        writeln!(out, "{line}")?;
                    }
                    Ok(())
                })
                .map_err(CliError::from);
        }
        BuildpacksVerb::Set { .. } => "Buildpack set.",
        BuildpacksVerb::Add { .. } => "Buildpack added.",
        BuildpacksVerb::Remove { .. } => "Buildpack removed.",
        BuildpacksVerb::Clear => "Buildpacks cleared.",
    };
    let packs = edit(&current.buildpacks, verb)?;
    let sent = SetBuildpacks {
        buildpacks: packs.urls(),
    };
    let changed: AppBuildpacks = s.client.put(&path, &sent).await?;
    s.output.show(&changed, |out, _| {
        for line in changed_lines(done, &app, &changed.buildpacks) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The list after the verb's edit, or why the edit cannot be made.
fn edit(current: &[String], verb: BuildpacksVerb) -> Result<Buildpacks, CliError> {
    let usage = |e: crate::model::BuildpackError| CliError::Usage(e.to_string());
    let mut packs = Buildpacks::parse(current).map_err(usage)?;
    let source = |url: &str| BuildpackSource::parse(url).map_err(usage);
    match verb {
        BuildpacksVerb::List => {}
        BuildpacksVerb::Set { url, index } => packs.set(source(&url)?, index).map_err(usage)?,
        BuildpacksVerb::Add { url, index } => packs.add(source(&url)?, index).map_err(usage)?,
        BuildpacksVerb::Remove { url, index } => {
            let which = match (url, index) {
                (Some(url), _) => BuildpackChoice::Source(source(&url)?),
                (None, Some(index)) => BuildpackChoice::Index(index),
                (None, None) => {
                    return Err(CliError::Usage(
                        "say which buildpack to remove: a URL or -i N".into(),
                    ))
                }
            };
            packs.remove(which).map_err(usage)?;
        }
        BuildpacksVerb::Clear => packs = Buildpacks::default(),
    }
    Ok(packs)
}

/// `=== APP Buildpack URL` and the one URL, or the numbered list, as `heroku buildpacks` shows.
fn list_lines(app: &str, urls: &[String]) -> Vec<String> {
    match urls {
        [] => vec![format!(
            "{app} has no buildpacks set; its builds detect what to do"
        )],
        [one] => vec![format!("=== {app} Buildpack URL"), one.clone()],
        many => std::iter::once(format!("=== {app} Buildpack URLs"))
            .chain(
                many.iter()
                    .enumerate()
                    .map(|(i, u)| format!("{}. {u}", i + 1)),
            )
            .collect(),
    }
}

/// What the next release uses after a change, and how to make one.
fn changed_lines(done: &str, app: &str, urls: &[String]) -> Vec<String> {
    match urls {
        [] => vec![format!(
            "{done} Next release on {app} will detect what to build."
        )],
        [one] => vec![
            format!("{done} Next release on {app} will use {one}."),
            "Run git push skiff main to create a new release using this buildpack.".to_owned(),
        ],
        many => std::iter::once(format!("{done} Next release on {app} will use:"))
            .chain(
                many.iter()
                    .enumerate()
                    .map(|(i, u)| format!("  {}. {u}", i + 1)),
            )
            .chain(std::iter::once(
                "Run git push skiff main to create a new release using these buildpacks."
                    .to_owned(),
            ))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_and_changes_read_as_herokus_do() {
        assert_eq!(
            list_lines("shop", &[]),
            ["shop has no buildpacks set; its builds detect what to do"]
        );
        assert_eq!(
            list_lines("shop", &urls(&["/srv/bp"])),
            ["=== shop Buildpack URL", "/srv/bp"]
        );
        assert_eq!(
            list_lines("shop", &urls(&["/a", "/b"])),
            ["=== shop Buildpack URLs", "1. /a", "2. /b"]
        );
        assert_eq!(
            changed_lines("Buildpack set.", "shop", &urls(&["/a"])),
            [
                "Buildpack set. Next release on shop will use /a.",
                "Run git push skiff main to create a new release using this buildpack."
            ]
        );
        assert_eq!(
            changed_lines("Buildpack added.", "shop", &urls(&["/a", "/b"])),
            [
                "Buildpack added. Next release on shop will use:",
                "  1. /a",
                "  2. /b",
                "Run git push skiff main to create a new release using these buildpacks."
            ]
        );
        assert_eq!(
            changed_lines("Buildpacks cleared.", "shop", &[]),
            ["Buildpacks cleared. Next release on shop will detect what to build."]
        );
    }

    #[test]
    fn edits_are_checked_before_anything_is_sent() {
        let set = |url: &str, index| BuildpacksVerb::Set {
            url: url.into(),
            index,
        };
        assert_eq!(edit(&[], set("/srv/bp", None)).unwrap().urls(), ["/srv/bp"]);
        let two = urls(&["/a", "/b"]);
        let e = edit(&two, set("/c", None)).unwrap_err();
        assert!(e.to_string().contains("-i N"), "{e}");
        let e = edit(&[], set("heroku/python", None)).unwrap_err();
        assert!(e.to_string().starts_with("invalid buildpack"), "{e}");
        let removed = BuildpacksVerb::Remove {
            url: Some("/b".into()),
            index: None,
        };
        assert_eq!(edit(&two, removed).unwrap().urls(), ["/a"]);
        let by_index = BuildpacksVerb::Remove {
            url: None,
            index: Some(3),
        };
        assert!(edit(&two, by_index).is_err());
        assert!(edit(&two, BuildpacksVerb::Clear).unwrap().urls().is_empty());
    }
}
