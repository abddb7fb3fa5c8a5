//! Architecture invariants from ARCHITECTURE.md, checked on the source text: which modules may
//! use D-Bus, SQL, the file system, the network and the server's modules, and how big files and
//! functions may grow. Each rule names the files that break it.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest a file in `src/` may be, counting the lines before its `#[cfg(test)]` module.
const MAX_FILE_LINES: usize = 600;
/// Longest a function outside test code may be, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 80;

struct Source {
    /// Path relative to the crate root, with `/` separators: `src/store/db.rs`.
    path: String,
    /// The file's lines up to its test module, without `//` comments.
    code: Vec<String>,
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(at) if !line[..at].contains('"') => &line[..at],
        _ => line,
    }
}

/// Files that are test modules: declared as `mod NAME;` right after a `#[cfg(test)]` line.
fn test_modules(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut tests = Vec::new();
    for file in files {
        let text = fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let Some(name) = pair[1]
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            else {
                continue;
            };
            if pair[0] == "#[cfg(test)]" {
                let dir = file.parent().unwrap();
                let dir = if file.ends_with("mod.rs") || file.ends_with("lib.rs") {
                    dir.to_path_buf()
                } else {
                    dir.join(file.file_stem().unwrap())
                };
                tests.push(dir.join(format!("{name}.rs")));
                tests.push(dir.join(name).join("mod.rs"));
            }
        }
    }
    tests
}

fn sources(top: &str) -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join(top), &mut files);
    files.sort();
    let tests = test_modules(&files);
    files.retain(|f| !tests.contains(f));
    files
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(&file).unwrap();
            let code = text
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .map(|l| strip_comment(l).to_owned())
                .collect();
            let path = file
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            Source { path, code }
        })
        .collect()
}

fn uses(source: &Source, needle: &str) -> bool {
    source.code.iter().any(|l| l.contains(needle))
}

/// Files outside `allowed` (path prefixes) whose code mentions any of `needles`.
fn offenders(allowed: &[&str], needles: &[&str]) -> Vec<String> {
    sources("src")
        .iter()
        .filter(|s| !allowed.iter().any(|a| s.path.starts_with(a)))
        .filter(|s| needles.iter().any(|n| uses(s, n)))
        .map(|s| s.path.clone())
        .collect()
}

#[test]
fn only_systemd_speaks_dbus() {
    let found = offenders(&["src/systemd/"], &["zbus"]);
    assert!(
        found.is_empty(),
        "zbus used outside src/systemd/: {found:?}"
    );
}

#[test]
fn only_the_store_runs_sql() {
    let found = offenders(&["src/store/"], &["rusqlite"]);
    assert!(
        found.is_empty(),
        "rusqlite used outside src/store/: {found:?}"
    );
}

#[test]
fn model_and_reconcile_do_no_io() {
    let io = [
        "std::fs",
        "tokio::fs",
        // Addresses (`std::net::Ipv4Addr`) are data; sockets are I/O.
        "TcpListener",
        "UdpSocket",
        "tokio::net",
        "std::process",
        "tokio::process",
        "File::",
        "UnixStream",
        "TcpStream",
    ];
    let found: Vec<String> = sources("src")
        .iter()
        .filter(|s| s.path.starts_with("src/model/") || s.path.starts_with("src/reconcile/"))
        .filter(|s| io.iter().any(|n| uses(s, n)))
        .map(|s| s.path.clone())
        .collect();
    assert!(
        found.is_empty(),
        "file system, network or process use in model/ or reconcile/: {found:?}"
    );
}

#[test]
fn the_cli_imports_no_server_module() {
    let server = [
        "crate::api",
        "crate::store",
        "crate::reconciler",
        "crate::reconcile",
        "crate::systemd",
        "crate::oneoff",
        "crate::build",
        "crate::proxy",
        "crate::daemon",
        "crate::journal",
        "crate::health",
        "crate::addons",
        "crate::network",
        "crate::server_backup",
    ];
    let found: Vec<String> = sources("src")
        .iter()
        .filter(|s| s.path.starts_with("src/cli/") || s.path == "src/bin/skiff.rs")
        .filter(|s| server.iter().any(|n| uses(s, n)))
        .map(|s| s.path.clone())
        .collect();
    assert!(
        found.is_empty(),
        "the CLI reaches into the server (it may use crate::wire and crate::model): {found:?}"
    );
}

#[test]
fn only_the_proxy_talks_to_caddy() {
    let found = offenders(&["src/proxy/", "src/daemon/"], &["/load", "admin.sock"]);
    assert!(
        found.is_empty(),
        "Caddy's admin API used outside src/proxy/: {found:?}"
    );
}

#[test]
fn the_project_explains_itself() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts: Vec<(String, String)> = ["src", "tests", "debian", "systemd", "packaging"]
        .iter()
        .flat_map(|top| sources_any(root, top))
        .collect();
    for file in [
        "README.md",
        "ARCHITECTURE.md",
        "Makefile",
        "Cargo.toml",
        ".ci/run",
        ".ci/prereqs",
    ] {
        texts.push((
            file.to_owned(),
            fs::read_to_string(root.join(file)).unwrap(),
        ));
    }
    let design = ["DESIGN", ".md"].concat();
    let shared = ["../", "shared/"].concat();
    let found: Vec<&String> = texts
        .iter()
        .filter(|(_, text)| text.contains(&design) || text.contains(&shared))
        .map(|(path, _)| path)
        .collect();
    assert!(
        found.is_empty(),
        "files cite a document outside the repository: {found:?}"
    );
}

/// Every text file under `top`, whatever its kind.
fn sources_any(root: &Path, top: &str) -> Vec<(String, String)> {
    let mut stack = vec![root.join(top)];
    let mut out = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = fs::read_to_string(&path) {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, text));
            }
        }
    }
    out
}

#[test]
fn files_stay_small() {
    let found: Vec<String> = sources("src")
        .iter()
        .filter(|s| s.code.len() > MAX_FILE_LINES)
        .map(|s| format!("{} ({} lines)", s.path, s.code.len()))
        .collect();
    assert!(
        found.is_empty(),
        "files over {MAX_FILE_LINES} lines of non-test code: {found:?}"
    );
}

/// `(name, first line, length)` of every function in `code`: from a line whose code starts a
/// `fn` to the first later line that closes a brace at the same indentation (rustfmt's layout).
fn functions(code: &[String]) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    for (i, line) in code.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(at) = trimmed.find("fn ") else {
            continue;
        };
        let head = &trimmed[..at];
        let is_fn = head.split_whitespace().all(|w| {
            matches!(
                w,
                "pub" | "pub(crate)" | "pub(super)" | "async" | "const" | "unsafe" | "extern"
            )
        });
        // A signature may wrap: it ends at the first line closing with `{` (a body) or `;`.
        let Some(sig_end) = code[i..].iter().position(|l| {
            let t = l.trim_end();
            t.ends_with('{') || t.ends_with(';')
        }) else {
            continue;
        };
        if !is_fn || code[i + sig_end].trim_end().ends_with(';') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let name: String = trimmed[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let end = code[i..].iter().position(|l| {
            let t = l.trim_start();
            l.len() - t.len() == indent && t.starts_with('}')
        });
        if let Some(end) = end {
            found.push((name, i + 1, end + 1));
        }
    }
    found
}

#[test]
fn functions_stay_short() {
    let mut found = Vec::new();
    for s in sources("src") {
        for (name, line, len) in functions(&s.code) {
            if len > MAX_FN_LINES {
                found.push(format!("{}:{line} {name} ({len} lines)", s.path));
            }
        }
    }
    assert!(
        found.is_empty(),
        "functions over {MAX_FN_LINES} lines: {found:#?}"
    );
}

#[test]
fn the_function_scanner_measures_what_rustfmt_writes() {
    let code: Vec<String> = "pub async fn a(x: u32) -> u32 {\n    let y = x;\n    y\n}\nfn b(\n    x: u8,\n) -> u8;\nimpl T {\n    fn c(&self) {\n        if true {\n        }\n    }\n}\n"
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        functions(&code),
        vec![("a".to_owned(), 1, 4), ("c".to_owned(), 9, 4)]
    );
}

#[test]
fn the_dashboard_acts_only_through_the_api() {
    let own_rows = [
        ".session(",
        ".use_login_link(",
        ".add_session(",
        ".end_session(",
        ".authenticate_token(",
    ];
    let servers = [
        "crate::reconciler",
        "crate::systemd",
        "crate::proxy",
        "crate::addons",
        "crate::network",
        "crate::build",
        "crate::oneoff",
    ];
    let mut found = Vec::new();
    for source in sources("src")
        .iter()
        .filter(|s| s.path.starts_with("src/dashboard/"))
    {
        // rustfmt breaks call chains over lines: read the file as one line.
        let code = source.code.join(" ");
        for rest in code.split(".store").skip(1) {
            if !own_rows.iter().any(|m| rest.trim_start().starts_with(m)) {
                found.push(format!(
                    "{}: .store{}",
                    source.path,
                    &rest[..rest.len().min(40)]
                ));
            }
        }
        found.extend(
            servers
                .iter()
                .filter(|s| code.contains(*s))
                .map(|s| format!("{}: {s}", source.path)),
        );
    }
    assert!(
        found.is_empty(),
        "the dashboard must change state through the API router, reading the store only for its sessions: {found:?}"
    );
}

#[test]
fn the_debian_changelog_names_this_version() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let changelog = fs::read_to_string(root.join("debian/changelog")).unwrap();
    let first = changelog.lines().next().unwrap_or_default();
    let expected = format!("skiff ({}) ", env!("CARGO_PKG_VERSION"));
    assert!(
        first.starts_with(&expected),
        "debian/changelog's newest entry must be the crate's version {expected:?}: {first:?}"
    );
    let trailer = changelog
        .lines()
        .find(|l| l.starts_with(" -- "))
        .unwrap_or_default();
    assert!(
        trailer.contains("<skiff-maintainers@example.org>  "),
        "{trailer:?}"
    );
}
