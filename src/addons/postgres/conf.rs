//! The files and commands of skiff's PostgreSQL cluster, pure: where Debian and skiff keep them,
//! the settings file skiffd owns (included last by the cluster's `postgresql.conf`), pg_hba and
//! pg_ident rendered from the grants alone, the `pg_createcluster` argv, the port read back from
//! `postgresql.conf` and the newest installed server version.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::PgAccess;

/// The cluster's name in Debian's `VERSION/NAME` scheme.
pub(crate) const CLUSTER: &str = "skiff";
/// The pg_ident map that lets root (skiffd) and postgres in as the superuser over the socket.
const IDENT_MAP: &str = "skiff";
/// Debian's server binaries, one folder per major version.
pub(crate) const SERVER_ROOT: &str = "/usr/lib/postgresql";
/// Debian's cluster configuration, `/etc/postgresql/VERSION/NAME/`.
pub(crate) const CONFIG_ROOT: &str = "/etc/postgresql";
/// Where Debian's clusters put their unix sockets.
pub(crate) const SOCKET_DIR: &str = "/var/run/postgresql";
const PG_CREATECLUSTER: &str = "/usr/bin/pg_createcluster";

/// Where skiff keeps its cluster: `STATE/addons/postgres/` holds the data directory (one per
/// major version) and the files skiffd rewrites, which the server (user postgres) reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub(crate) fn under(state_dir: &Path) -> Self {
        Self {
            root: state_dir.join("addons").join("postgres"),
        }
    }

    pub(crate) fn data_dir(&self, version: &str) -> PathBuf {
        self.root.join(version)
    }

    pub(crate) fn settings(&self) -> PathBuf {
        self.root.join("skiff.conf")
    }

    pub(crate) fn hba(&self) -> PathBuf {
        self.root.join("pg_hba.conf")
    }

    pub(crate) fn ident(&self) -> PathBuf {
        self.root.join("pg_ident.conf")
    }
}

/// The cluster's `postgresql.conf`, written by `pg_createcluster`.
pub(crate) fn postgresql_conf(version: &str) -> PathBuf {
    Path::new(CONFIG_ROOT)
        .join(version)
        .join(CLUSTER)
        .join("postgresql.conf")
}

/// Debian's template unit of the cluster, e.g. `postgresql@15-skiff.service`.
pub(crate) fn unit_name(version: &str) -> String {
    format!("postgresql@{version}-{CLUSTER}.service")
}

/// The newest of the installed major versions (folder names of `/usr/lib/postgresql` that hold
/// `bin/postgres`): `17` over `15`, `10` over `9.6`; names that are not versions are ignored.
pub(crate) fn newest_version(installed: &[String]) -> Option<String> {
    let parse = |name: &str| -> Option<Vec<u32>> {
        name.split('.').map(|part| part.parse().ok()).collect()
    };
    installed
        .iter()
        .filter_map(|name| parse(name).map(|key| (key, name)))
        .max()
        .map(|(_, name)| name.clone())
}

/// `pg_createcluster VERSION skiff`: data under skiff's folder, never started at boot by
/// Debian's `postgresql.service` (its address exists only once skiffd made it), and the
/// settings file of skiffd included after everything else. The port is Debian's first free one.
pub(crate) fn createcluster_argv(layout: &Layout, version: &str) -> Vec<String> {
    vec![
        PG_CREATECLUSTER.to_owned(),
        version.to_owned(),
        CLUSTER.to_owned(),
        format!("--datadir={}", layout.data_dir(version).display()),
        "--start-conf=manual".to_owned(),
        format!("--pgoption=include={}", layout.settings().display()),
    ]
}

/// The port in a `postgresql.conf` (its last `port =` line, as the server reads it).
pub(crate) fn parse_port(conf: &str) -> Option<u16> {
    conf.lines().rev().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let (key, value) = line.split_once('=')?;
        (key.trim() == "port").then(|| value.trim().trim_matches('\'').parse().ok())?
    })
}

/// skiff's settings, included last so they win over Debian's defaults and any `conf.d` file:
/// the one address, skiff's own pg_hba and pg_ident, TLS, SCRAM verifiers only, and no
/// statement text in the log (an `ALTER ROLE` carries a verifier).
pub(crate) fn render_settings(layout: &Layout, listen: Ipv4Addr) -> String {
    format!(
        "# skiff's settings of its PostgreSQL cluster, rewritten by skiffd.\n\
         listen_addresses = '{listen}'\n\
         hba_file = '{hba}'\n\
         ident_file = '{ident}'\n\
         ssl = on\n\
         password_encryption = 'scram-sha-256'\n\
         log_statement = 'none'\n\
         log_min_error_statement = panic\n",
        hba = layout.hba().display(),
        ident = layout.ident().display(),
    )
}

/// pg_hba, from the grants alone: the superuser over the socket through the ident map, and each
/// add-on's login roles (`+OWNER`: the members of its database's owner) to its own database
/// from its grants' addresses and from `listen` itself (a client on the server, `skiff
/// pg:psql`, connects from that address). Nothing else gets in.
pub(crate) fn render_hba(listen: Ipv4Addr, access: &[PgAccess]) -> String {
    let mut out = String::from(
        "# skiff's pg_hba, rewritten by skiffd from its add-ons' attachments.\n\
         # TYPE DATABASE USER ADDRESS METHOD\n",
    );
    let _ = writeln!(out, "local all postgres peer map={IDENT_MAP}");
    let lines: BTreeSet<(String, Ipv4Addr)> = access
        .iter()
        .flat_map(|grant| {
            let db = grant.addon.database();
            [(db.clone(), listen), (db, grant.from)]
        })
        .collect();
    for (db, from) in lines {
        let _ = writeln!(out, "host {db} +{db} {from}/32 scram-sha-256");
    }
    out
}

/// pg_ident: root (skiffd, which cannot change its uid) and postgres (Debian's tools, the
/// operator) are the superuser `postgres`.
pub(crate) fn render_ident() -> String {
    format!(
        "# skiff's pg_ident, rewritten by skiffd.\n\
         # MAP SYSTEM-USER PG-USER\n\
         {IDENT_MAP} root postgres\n\
         {IDENT_MAP} postgres postgres\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AddonName;

    fn layout() -> Layout {
        Layout::under(Path::new("/var/lib/skiff"))
    }

    fn grant(addon: &str, from: &str) -> PgAccess {
        PgAccess {
            addon: AddonName::parse(addon).unwrap(),
            from: from.parse().unwrap(),
        }
    }

    #[test]
    fn the_newest_installed_version_wins() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (installed, newest) in [
            (names(&["15"]), Some("15")),
            (names(&["15", "17"]), Some("17")),
            (names(&["9.6", "10"]), Some("10")),
            (names(&["17", "lost+found", "16"]), Some("17")),
            (names(&[]), None),
            (names(&["README"]), None),
        ] {
            assert_eq!(
                newest_version(&installed).as_deref(),
                newest,
                "{installed:?}"
            );
        }
    }

    #[test]
    fn the_cluster_is_made_under_skiffs_folder_and_never_started_at_boot() {
        assert_eq!(
            createcluster_argv(&layout(), "15"),
            [
                "/usr/bin/pg_createcluster",
                "15",
                "skiff",
                "--datadir=/var/lib/skiff/addons/postgres/15",
                "--start-conf=manual",
                "--pgoption=include=/var/lib/skiff/addons/postgres/skiff.conf",
            ]
        );
        assert_eq!(unit_name("17"), "postgresql@17-skiff.service");
        assert_eq!(
            postgresql_conf("15"),
            Path::new("/etc/postgresql/15/skiff/postgresql.conf")
        );
    }

    #[test]
    fn the_port_is_read_back_as_the_server_reads_it() {
        for (conf, port) in [
            (
                "port = 5433\t\t\t\t# (change requires restart)\n",
                Some(5433),
            ),
            ("#port = 5432\nport=5434\n", Some(5434)),
            ("port = '5435'\n", Some(5435)),
            ("port = 5432\nport = 5436\n", Some(5436)),
            ("#port = 5432\nsupport = 1\n", None),
            ("", None),
        ] {
            assert_eq!(parse_port(conf), port, "{conf:?}");
        }
    }

    #[test]
    fn settings_name_the_one_address_and_skiffs_own_files() {
        let settings = render_settings(&layout(), "10.213.255.241".parse().unwrap());
        for line in [
            "listen_addresses = '10.213.255.241'\n",
            "hba_file = '/var/lib/skiff/addons/postgres/pg_hba.conf'\n",
            "ident_file = '/var/lib/skiff/addons/postgres/pg_ident.conf'\n",
            "ssl = on\n",
            "password_encryption = 'scram-sha-256'\n",
            "log_min_error_statement = panic\n",
        ] {
            assert!(settings.contains(line), "{line:?} in {settings}");
        }
    }

    #[test]
    fn hba_lets_each_role_reach_only_its_database_from_its_grants() {
        let listen: Ipv4Addr = "10.213.255.241".parse().unwrap();
        let cases: &[(&[PgAccess], &[&str])] = &[
            (&[], &[]),
            (
                &[grant("pg-shop", "10.213.0.2")],
                &[
                    "host skiff_pg_shop +skiff_pg_shop 10.213.0.2/32 scram-sha-256",
                    "host skiff_pg_shop +skiff_pg_shop 10.213.255.241/32 scram-sha-256",
                ],
            ),
            (
                &[
                    grant("pg-shop", "10.213.0.18"),
                    grant("pg-blog", "10.213.0.2"),
                    grant("pg-shop", "10.213.0.2"),
                    grant("pg-shop", "10.213.0.2"),
                ],
                &[
                    "host skiff_pg_blog +skiff_pg_blog 10.213.0.2/32 scram-sha-256",
                    "host skiff_pg_blog +skiff_pg_blog 10.213.255.241/32 scram-sha-256",
                    "host skiff_pg_shop +skiff_pg_shop 10.213.0.2/32 scram-sha-256",
                    "host skiff_pg_shop +skiff_pg_shop 10.213.0.18/32 scram-sha-256",
                    "host skiff_pg_shop +skiff_pg_shop 10.213.255.241/32 scram-sha-256",
                ],
            ),
            (
                &[grant("pg-shop", "127.0.0.1")],
                &["host skiff_pg_shop +skiff_pg_shop 127.0.0.1/32 scram-sha-256"],
            ),
        ];
        for (access, hosts) in cases {
            let at = if access.iter().any(|g| g.from.is_loopback()) {
                Ipv4Addr::LOCALHOST
            } else {
                listen
            };
            let hba = render_hba(at, access);
            let rules: Vec<&str> = hba.lines().filter(|l| !l.starts_with('#')).collect();
            assert_eq!(rules[0], "local all postgres peer map=skiff", "{hba}");
            assert_eq!(&rules[1..], *hosts, "{access:?}");
        }
    }

    #[test]
    fn only_root_and_postgres_map_to_the_superuser() {
        let rules: Vec<String> = render_ident()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        assert_eq!(rules, ["skiff root postgres", "skiff postgres postgres"]);
    }
}
