//! Persistent volumes: `VolumeName`, the `MountPath` a volume appears at in the app's processes
//! (never over the slug or the system), and `VolumeMount`, what a process's unit binds.

use std::fmt;
use std::path::PathBuf;

use crate::config::ByteSize;

/// Longest volume name accepted.
pub const VOLUME_NAME_MAX_LEN: usize = 30;
/// Longest mount path accepted.
pub const MOUNT_PATH_MAX_LEN: usize = 200;
/// The system group every volume belongs to (made by the package): processes of apps with
/// volumes get it as a supplementary group, so files one dyno writes the others can change.
pub const VOLUME_GROUP: &str = "skiff-volumes";
/// A volume directory's mode: the group may read and write, others nothing; set-group-ID, so
/// what is created inside keeps the group.
pub const VOLUME_DIR_MODE: u32 = 0o2770;
/// The umask of processes with volumes: what they create is writable by the group.
pub const VOLUME_UMASK: u32 = 0o007;

/// Paths a volume may not be mounted at or below: the slug, the system the sandbox keeps
/// read-only or private, and skiff's own state.
pub const FORBIDDEN_MOUNTS: &[&str] = &[
    "/app",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/tmp",
    "/usr",
    "/var/lib/skiff",
    "/var/tmp",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume name {0:?}: use 1 to {VOLUME_NAME_MAX_LEN} lowercase letters, digits and dashes, starting with a letter")]
    Name(String),
    #[error("invalid mount path {0:?}: use an absolute path like /data made of letters, digits, '.', '_', '-' and '/', at most {MOUNT_PATH_MAX_LEN} bytes, without '.' or '..' parts")]
    Path(String),
    #[error("invalid mount path {path:?}: it would cover or be under {forbidden}, which belongs to the system, skiff or the app's slug; mount volumes elsewhere, like /data")]
    Forbidden {
        path: String,
        forbidden: &'static str,
    },
}

/// A volume's name, unique within its app.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeName(String);

impl VolumeName {
    pub fn parse(raw: &str) -> Result<Self, VolumeError> {
        let valid = (1..=VOLUME_NAME_MAX_LEN).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && !raw.ends_with('-')
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(VolumeError::Name(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a volume appears in the app's processes: absolute, normalised, and clear of
/// [`FORBIDDEN_MOUNTS`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountPath(String);

impl MountPath {
    pub fn parse(raw: &str) -> Result<Self, VolumeError> {
        let bad = || VolumeError::Path(raw.to_owned());
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        let rest = trimmed.strip_prefix('/').ok_or_else(bad)?;
        let parts_ok = rest
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
        let chars_ok = rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
        if trimmed.len() > MOUNT_PATH_MAX_LEN || !parts_ok || !chars_ok {
            return Err(bad());
        }
        // At or below a forbidden path, or above one (a volume at /var would cover skiff's state).
        let clashes = |root: &str| {
            trimmed == root
                || trimmed.starts_with(&format!("{root}/"))
                || root.starts_with(&format!("{trimmed}/"))
        };
        if let Some(forbidden) = FORBIDDEN_MOUNTS.iter().find(|root| clashes(root)) {
            return Err(VolumeError::Forbidden {
                path: raw.to_owned(),
                forbidden,
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether one path is the other or lies below it: two such volumes cannot both be mounted.
    pub fn overlaps(&self, other: &MountPath) -> bool {
        let below = |a: &str, b: &str| a.starts_with(&format!("{b}/"));
        self == other || below(&self.0, &other.0) || below(&other.0, &self.0)
    }
}

impl fmt::Display for MountPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A volume as one of the app's processes gets it: the directory on the host, bound read-write
/// at the mount path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub source: PathBuf,
    pub target: MountPath,
}

/// A volume as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRecord {
    pub name: VolumeName,
    pub mount: MountPath,
    /// The size the user asked for; usage beyond it is reported (see `volumes`).
    pub size: Option<ByteSize>,
    pub created_at: String,
}

/// Whether a destroyed volume's directory may go: the release that took it away (none: the app
/// had no release, so nothing mounts it) is live or superseded by a live one, and no process of
/// an older release of the app still runs (`running` lists the releases of its running units).
pub fn volume_unmounted(destroyed_in: Option<u32>, live: Option<u32>, running: &[u32]) -> bool {
    match destroyed_in {
        None => true,
        Some(v) => live.is_some_and(|live| live >= v) && running.iter().all(|r| *r >= v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destroyed_volume_goes_once_nothing_older_runs() {
        for (destroyed_in, live, running, want) in [
            (None, None, &[][..], true),
            (None, Some(3), &[3][..], true),
            (Some(4), Some(3), &[3][..], false),
            (Some(4), None, &[][..], false),
            (Some(4), Some(4), &[3, 4][..], false),
            (Some(4), Some(4), &[4][..], true),
            (Some(4), Some(5), &[5][..], true),
            (Some(4), Some(4), &[][..], true),
        ] {
            assert_eq!(
                volume_unmounted(destroyed_in, live, running),
                want,
                "{destroyed_in:?} {live:?} {running:?}"
            );
        }
    }

    #[test]
    fn volume_names() {
        for good in ["data", "a", "uploads-2", "x1"] {
            assert_eq!(VolumeName::parse(good).unwrap().as_str(), good);
        }
        let long = "a".repeat(VOLUME_NAME_MAX_LEN + 1);
        for bad in [
            "", "Data", "1data", "-data", "data-", "da_ta", "da.ta", "da ta", &long,
        ] {
            assert_eq!(
                VolumeName::parse(bad),
                Err(VolumeError::Name(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn mount_paths_are_absolute_and_normalised() {
        for (raw, want) in [
            ("/data", "/data"),
            ("/data/", "/data"),
            ("/srv/app-files", "/srv/app-files"),
            ("/var/lib/myapp", "/var/lib/myapp"),
            ("/mnt/a.b_c", "/mnt/a.b_c"),
            ("/apps", "/apps"),
            ("/application", "/application"),
        ] {
            assert_eq!(MountPath::parse(raw).unwrap().as_str(), want, "{raw}");
        }
        let long = format!("/{}", "a".repeat(MOUNT_PATH_MAX_LEN));
        for bad in [
            "",
            "/",
            "data",
            "//data",
            "/data//x",
            "/data/./x",
            "/data/..",
            "/../etc",
            "/da ta",
            "/data$",
            "/dätä",
            &long,
        ] {
            assert_eq!(
                MountPath::parse(bad),
                Err(VolumeError::Path(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn mount_paths_stay_clear_of_the_slug_and_the_system() {
        for (raw, forbidden) in [
            ("/app", "/app"),
            ("/app/uploads", "/app"),
            ("/etc", "/etc"),
            ("/etc/ssl", "/etc"),
            ("/tmp/", "/tmp"),
            ("/proc/1", "/proc"),
            ("/var/lib/skiff", "/var/lib/skiff"),
            ("/var/lib/skiff/apps", "/var/lib/skiff"),
            ("/usr/local", "/usr"),
            ("/home/me", "/home"),
            ("/var", "/var/lib/skiff"),
            ("/var/lib", "/var/lib/skiff"),
        ] {
            assert_eq!(
                MountPath::parse(raw),
                Err(VolumeError::Forbidden {
                    path: raw.to_owned(),
                    forbidden
                }),
                "{raw}"
            );
        }
    }

    #[test]
    fn overlapping_mounts() {
        let p = |s: &str| MountPath::parse(s).unwrap();
        for (a, b, want) in [
            ("/data", "/data", true),
            ("/data", "/data/x", true),
            ("/data/x", "/data", true),
            ("/data", "/data2", false),
            ("/data2", "/data", false),
            ("/srv/a", "/srv/b", false),
        ] {
            assert_eq!(p(a).overlaps(&p(b)), want, "{a} {b}");
        }
    }

    #[test]
    fn errors_say_what_is_accepted() {
        let e = MountPath::parse("/etc/x").unwrap_err().to_string();
        assert!(e.contains("under /etc, which belongs to the system"), "{e}");
        let e = VolumeName::parse("Bad").unwrap_err().to_string();
        assert!(e.contains("lowercase letters"), "{e}");
    }
}
