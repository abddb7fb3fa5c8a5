//! The manual pages — skiff(1) with every verb, one page per verb (`man skiff-ps:scale`), and
//! skiffd(8) — and the bash, zsh and fish completions, rendered from the same clap definitions
//! that parse the command lines, for the package (`make deb` runs `skiff-manuals`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use flate2::{Compression, GzBuilder};

use crate::cli::Cli;
use crate::daemon::DaemonArgs;

/// Where each file goes under the output folder, as the package installs it under /usr/share.
const MAN1: &str = "man/man1";
const MAN8: &str = "man/man8";
const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash-completion/completions/skiff"),
    (Shell::Zsh, "zsh/vendor-completions/_skiff"),
    (Shell::Fish, "fish/vendor_completions.d/skiff.fish"),
];

/// skiff's verbs hold a colon (`ps:scale`), and bash splits words at colons: this completes on
/// the command line split at blanks only, then hands bash each candidate without the part of
/// the current word up to its last colon, which bash keeps as a word of its own.
const BASH_COLON_VERBS: &str = r#"
_skiff_colon_verbs() {
    local line="${COMP_LINE:0:COMP_POINT}"
    local -a words
    read -ra words <<< "$line"
    [[ "$line" == *[[:blank:]] || ${#words[@]} -eq 0 ]] && words+=("")
    local cur="${words[${#words[@]}-1]}" prev=""
    [[ ${#words[@]} -ge 2 ]] && prev="${words[${#words[@]}-2]}"
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$(( ${#words[@]} - 1 ))
    _skiff "$1" "$cur" "$prev"
    if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
        local colon="${cur%"${cur##*:}"}" i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]="${COMPREPLY[i]#"$colon"}"
        done
    fi
}
complete -F _skiff_colon_verbs -o bashdefault -o default skiff
"#;

/// One page, compressed as Debian ships manual pages (gzip -9, no timestamp).
fn write_page(dir: &Path, man: clap_mangen::Man) -> std::io::Result<PathBuf> {
    let mut roff = Vec::new();
    man.render(&mut roff)?;
    let path = dir.join(format!("{}.gz", man.get_filename()));
    let mut gz = GzBuilder::new().write(std::fs::File::create(&path)?, Compression::best());
    gz.write_all(&roff)?;
    gz.finish()?.sync_all()?;
    Ok(path)
}

fn page(cmd: clap::Command, section: &str) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .section(section)
        .source(format!("skiff {}", env!("CARGO_PKG_VERSION")))
        .manual("skiff manual")
}

/// Writes every page and completion under `out`; returns the files written.
pub fn write_all(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let man1 = out.join(MAN1);
    std::fs::create_dir_all(&man1)?;
    let mut skiff = Cli::command().disable_help_subcommand(true);
    skiff.build();
    for verb in skiff.get_subcommands().filter(|v| !v.is_hide_set()) {
        written.push(write_page(&man1, page(verb.clone(), "1"))?);
    }
    written.push(write_page(&man1, page(skiff.clone(), "1"))?);
    let man8 = out.join(MAN8);
    std::fs::create_dir_all(&man8)?;
    written.push(write_page(&man8, page(DaemonArgs::command(), "8"))?);
    for (shell, place) in COMPLETIONS {
        let path = out.join(place);
        std::fs::create_dir_all(path.parent().expect("a completion's folder"))?;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "skiff", &mut script);
        if shell == Shell::Bash {
            script.extend_from_slice(BASH_COLON_VERBS.as_bytes());
        }
        std::fs::write(&path, script)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(path: &Path) -> String {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
            &mut text,
        )
        .unwrap();
        text
    }

    #[test]
    fn every_verb_has_a_page_and_the_overview_lists_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(dir.path()).unwrap();
        let verbs: Vec<String> = Cli::command()
            .get_subcommands()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        assert!(verbs.len() > 40, "{verbs:?}");
        let overview = gunzip(&dir.path().join(MAN1).join("skiff.1.gz"));
        assert!(overview.starts_with(".ie"), "roff: {}", &overview[..80]);
        for verb in &verbs {
            let page = dir.path().join(MAN1).join(format!("skiff-{verb}.1.gz"));
            assert!(written.contains(&page), "a page for {verb}");
            let text = gunzip(&page);
            assert!(
                text.contains(&format!("skiff\\-{}", verb.replace('-', "\\-"))),
                "{verb}: {text}"
            );
            assert!(
                overview.contains(&verb.replace('-', "\\-")),
                "{verb} in skiff(1)"
            );
        }
        let daemon = gunzip(&dir.path().join(MAN8).join("skiffd.8.gz"));
        assert!(daemon.contains(".TH skiffd 8"), "{daemon}");
        assert!(daemon.contains("\\-\\-check\\-config"), "{daemon}");
    }

    #[test]
    fn completions_know_the_verbs_for_each_shell() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path()).unwrap();
        for (_, place) in COMPLETIONS {
            let script = std::fs::read_to_string(dir.path().join(place)).unwrap();
            assert!(
                script.contains("ps:scale") && script.contains("apps:create"),
                "{place}"
            );
        }
    }
}
