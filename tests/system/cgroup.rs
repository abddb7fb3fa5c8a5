//! A cgroup of its own for each container. With `--keep-unit` and no host systemd to make it a scope, nspawn puts
//! the container in the runner's own cgroup (its `payload` subgroup), so two containers at once would share one
//! tree and each one's systemd would manage (and kill) the other's units. Each nspawn therefore starts in a fresh
//! subgroup of the runner's cgroup, in the hierarchies systemd uses: the named `systemd` one and cgroup2.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One line of /proc/self/mountinfo that mounts a hierarchy systemd uses: (mount root, mount point, key), the key
/// being how /proc/self/cgroup names the hierarchy (`name=systemd`, or empty for cgroup2).
fn systemd_hierarchy(line: &str) -> Option<(&str, &str, &'static str)> {
    let (mount, fs) = line.split_once(" - ")?;
    let mut m = mount.split_whitespace();
    let (root, point) = (m.nth(3)?, m.next()?);
    let mut f = fs.split_whitespace();
    let (kind, super_opts) = (f.next()?, f.nth(1)?);
    match kind {
        "cgroup2" => Some((root, point, "")),
        "cgroup" if super_opts.split(',').any(|o| o == "name=systemd") => {
            Some((root, point, "name=systemd"))
        }
        _ => None,
    }
}

/// The runner's path in the hierarchy `key`, from /proc/self/cgroup (`ID:KEY:PATH` lines).
fn own_path<'a>(cgroups: &'a str, key: &str) -> Option<&'a str> {
    cgroups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, k, path) = (parts.next()?, parts.next()?, parts.next()?);
        (k == key).then_some(path)
    })
}

/// The directories of the runner's own cgroups in the hierarchies systemd uses.
fn own_cgroup_dirs() -> Result<Vec<PathBuf>> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let cgroups = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let mut dirs = Vec::new();
    for (root, point, key) in mountinfo.lines().filter_map(systemd_hierarchy) {
        let Some(path) = own_path(&cgroups, key) else {
            continue;
        };
        let Some(rel) = path.strip_prefix(root.trim_end_matches('/')) else {
            continue;
        };
        let dir = Path::new(point).join(rel.trim_start_matches('/'));
        if dir.join("cgroup.procs").is_file() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// Removes the cgroups of containers named with `prefix` that a crashed run left behind (their processes are gone:
/// a cgroup with processes is not removed).
pub fn remove_stale(prefix: &str) {
    for parent in own_cgroup_dirs().unwrap_or_default() {
        let Ok(rd) = fs::read_dir(&parent) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                remove_tree(&e.path());
            }
        }
    }
}

/// A container's cgroups, removed (with what its systemd made in them) when dropped after the container is gone.
pub struct OwnCgroup {
    dirs: Vec<PathBuf>,
}

impl OwnCgroup {
    /// Makes `name` under the runner's cgroups, first removing a leftover of that name from a crashed run.
    pub fn create(name: &str) -> Result<OwnCgroup> {
        let mut dirs = Vec::new();
        for parent in own_cgroup_dirs()? {
            let dir = parent.join(name);
            remove_tree(&dir);
            fs::create_dir(&dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
            dirs.push(dir);
        }
        Ok(OwnCgroup { dirs })
    }

    /// The `cgroup.procs` files nspawn's process writes its PID to before it execs nspawn.
    pub fn procs_files(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.join("cgroup.procs").to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            remove_tree(dir);
        }
    }
}

/// Removes an empty cgroup and its subgroups, deepest first (a cgroup's files go with its directory).
fn remove_tree(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}
