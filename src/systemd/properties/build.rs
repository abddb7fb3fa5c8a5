//! A build's transient oneshot: the build script over its own tree, cache and results, in the
//! dyno sandbox with the network.

use std::path::{Path, PathBuf};

use super::dyno::network_namespace_property;
use super::sandbox::sandbox_properties;
use super::values::{
    binds, env_file, exec_sh, hidden, log_fields, s, strs, Property, PropertyValue,
};
use crate::model::AppName;

/// Builds run here, beside the apps' slices, so they do not eat into an app's dyno totals.
pub const BUILD_SLICE: &str = crate::systemd::names::ROOT_SLICE;

/// One build of an app: its script, its directories and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub unit_name: String,
    pub app: AppName,
    pub build_id: String,
    pub script: String,
    /// The source tree, built in place at `/app`.
    pub app_dir: PathBuf,
    /// The app's build cache, at `/cache`.
    pub cache_dir: PathBuf,
    /// Config vars as files (a buildpack's ENV_DIR), read-only at `/env`.
    pub env_dir: PathBuf,
    /// The same config vars as a root-only environment file.
    pub env_file: PathBuf,
    /// Where the build leaves results for skiffd, at `/meta`.
    pub meta_dir: PathBuf,
    /// Local buildpacks, read-only at `/buildpacks/N`.
    pub buildpack_dirs: Vec<(usize, PathBuf)>,
    pub memory_bytes: u64,
    pub timeout_usec: u64,
    pub hidden_paths: Vec<PathBuf>,
    /// The app's build namespace (`/run/netns/…`, with egress); none on the host's network.
    pub network_namespace: Option<String>,
}

/// A build runs in the dyno sandbox with the network, as a oneshot that writes only its own tree,
/// cache and results. `UMask=0000` keeps the cache writable by the next build's dynamic user.
pub fn build_properties(spec: &BuildSpec) -> Vec<Property> {
    let mut read_only: Vec<(&Path, String)> = vec![(spec.env_dir.as_path(), "/env".to_owned())];
    for (i, dir) in &spec.buildpack_dirs {
        read_only.push((dir.as_path(), format!("/buildpacks/{i}")));
    }
    let read_only: Vec<(&Path, &str)> = read_only.iter().map(|(p, d)| (*p, d.as_str())).collect();
    let mut props = vec![
        (
            "Description",
            s(format!("skiff build of {} ({})", spec.app, spec.build_id)),
        ),
        ("Slice", s(BUILD_SLICE)),
        ("Type", s("oneshot")),
        ("ExecStart", exec_sh(&spec.script)),
        ("WorkingDirectory", s("/app")),
        (
            "BindPaths",
            binds(&[
                (spec.app_dir.as_path(), "/app"),
                (spec.cache_dir.as_path(), "/cache"),
                (spec.meta_dir.as_path(), "/meta"),
            ]),
        ),
        ("BindReadOnlyPaths", binds(&read_only)),
        ("InaccessiblePaths", hidden(&spec.hidden_paths)),
        (
            "Environment",
            strs([
                "STACK=skiff",
                "DYNO=build",
                "PATH=/usr/local/bin:/usr/bin:/bin",
            ]),
        ),
        ("EnvironmentFiles", env_file(&spec.env_file)),
        ("TimeoutStartUSec", PropertyValue::U64(spec.timeout_usec)),
        ("MemoryMax", PropertyValue::U64(spec.memory_bytes)),
        ("SyslogIdentifier", s(format!("{}.build", spec.app))),
        (
            "LogExtraFields",
            log_fields(vec![
                format!("SKIFF_APP={}", spec.app),
                format!("SKIFF_BUILD={}", spec.build_id),
            ]),
        ),
    ];
    props.extend(network_namespace_property(
        spec.network_namespace.as_deref(),
    ));
    props.extend(
        sandbox_properties()
            .into_iter()
            .filter(|(name, _)| *name != "UMask"),
    );
    props.push(("UMask", PropertyValue::U32(0)));
    props
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::systemd::properties::test_support::one;
    use crate::systemd::properties::values::{b, MS_REC};

    pub(in crate::systemd::properties) fn build_spec() -> BuildSpec {
        BuildSpec {
            unit_name: "skiff-my-app.build-ab12.service".into(),
            app: AppName::parse("my-app").unwrap(),
            build_id: "ab12".into(),
            script: "set -eu".into(),
            app_dir: "/var/lib/skiff/apps/my-app/builds/ab12/app".into(),
            cache_dir: "/var/lib/skiff/apps/my-app/cache".into(),
            env_dir: "/var/lib/skiff/apps/my-app/builds/ab12/env".into(),
            env_file: "/run/skiff/env/my-app/build-ab12.env".into(),
            meta_dir: "/var/lib/skiff/apps/my-app/builds/ab12/meta".into(),
            buildpack_dirs: vec![(0, "/srv/bp".into())],
            memory_bytes: 1 << 30,
            timeout_usec: 900_000_000,
            hidden_paths: vec!["/var/lib/skiff".into(), "/run/skiff".into()],
            network_namespace: Some("/run/netns/skiff-my-app.build".into()),
        }
    }

    #[test]
    fn a_build_writes_only_its_tree_cache_and_results() {
        let p = build_properties(&build_spec());
        assert_eq!(one(&p, "Type"), &s("oneshot"));
        assert_eq!(
            one(&p, "BindPaths"),
            &PropertyValue::Binds(vec![
                (
                    "/var/lib/skiff/apps/my-app/builds/ab12/app".into(),
                    "/app".into(),
                    false,
                    MS_REC
                ),
                (
                    "/var/lib/skiff/apps/my-app/cache".into(),
                    "/cache".into(),
                    false,
                    MS_REC
                ),
                (
                    "/var/lib/skiff/apps/my-app/builds/ab12/meta".into(),
                    "/meta".into(),
                    false,
                    MS_REC
                ),
            ])
        );
        assert_eq!(
            one(&p, "BindReadOnlyPaths"),
            &PropertyValue::Binds(vec![
                (
                    "/var/lib/skiff/apps/my-app/builds/ab12/env".into(),
                    "/env".into(),
                    false,
                    MS_REC
                ),
                ("/srv/bp".into(), "/buildpacks/0".into(), false, MS_REC),
            ])
        );
        assert_eq!(one(&p, "ProtectSystem"), &s("strict"));
        assert_eq!(one(&p, "DynamicUser"), &b(true));
        assert_eq!(one(&p, "UMask"), &PropertyValue::U32(0));
        assert_eq!(
            one(&p, "TimeoutStartUSec"),
            &PropertyValue::U64(900_000_000)
        );
        assert_eq!(one(&p, "MemoryMax"), &PropertyValue::U64(1 << 30));
        assert_eq!(one(&p, "Slice"), &s("skiff.slice"));
        assert_eq!(
            one(&p, "LogExtraFields"),
            &PropertyValue::Bytes(vec![
                b"SKIFF_APP=my-app".to_vec(),
                b"SKIFF_BUILD=ab12".to_vec()
            ])
        );
        let env = format!("{:?}", one(&p, "Environment"));
        assert!(
            !env.contains("SECRET"),
            "config vars never go in Environment="
        );
    }
}
