//! Finding the app from the current git repo's `skiff` remote, as Heroku's CLI does.

use std::path::Path;
use std::process::Command;

/// The app named by a `skiff` remote URL: `skiff@host:APP`, `ssh://skiff@host[:port]/APP`,
/// with or without a trailing `.git`.
pub fn app_from_remote_url(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some(rest) = url.strip_prefix("ssh://") {
        rest.split_once('/')?.1
    } else {
        url.split_once(':')?.1
    };
    let name = path.trim_matches('/').trim_end_matches(".git");
    (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

/// Asks git for the URL of the `skiff` remote of the repo around `dir`.
pub fn skiff_remote_app(dir: &Path) -> Option<String> {
    let output = Command::new("git")
        .args(["remote", "get-url", "skiff"])
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    app_from_remote_url(&String::from_utf8_lossy(&output.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remote_forms() {
        for (url, want) in [
            ("skiff@myserver:hello", Some("hello")),
            ("skiff@myserver:hello.git\n", Some("hello")),
            ("skiff@myserver:/hello", Some("hello")),
            ("ssh://skiff@myserver/hello", Some("hello")),
            ("ssh://skiff@myserver:2222/hello.git", Some("hello")),
            ("skiff@myserver:", None),
            ("skiff@myserver:a/b", None),
            ("no-colon-here", None),
        ] {
            assert_eq!(app_from_remote_url(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn reads_the_remote_of_a_real_repo() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(ok.status.success(), "git {args:?}: {ok:?}");
        };
        git(&["init", "-q"]);
        assert_eq!(skiff_remote_app(dir.path()), None);
        git(&[
            "remote",
            "add",
            "skiff",
            "skiff@example.invalid:from-remote",
        ]);
        assert_eq!(skiff_remote_app(dir.path()).as_deref(), Some("from-remote"));
    }
}
