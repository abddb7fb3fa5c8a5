//! `DebianPostgres`: skiff's cluster of Debian's `postgresql`, the thin I/O shell. Files on the
//! blocking pool, `pg_createcluster` as a oneshot PID 1 runs (skiffd cannot write `/etc`), the
//! packaged unit `postgresql@VERSION-skiff.service` started, reloaded or restarted over D-Bus,
//! and SQL as the superuser over the unix socket (peer auth through skiff's ident map).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::client::{with_client, with_client_on, CALL_TIMEOUT, CONNECT_TIMEOUT};
use super::conf::{self, Layout};
use super::dump;
use super::sql;
use super::{PgAccess, PgCluster, PgDatabase, PgInfo, PgSession, PostgresError, PostgresServer};
use crate::model::{AddonCredential, AddonName, Census};
use crate::systemd::properties::{host_commands_properties, HostCommand, HostCommandsSpec};
use crate::systemd::Systemd;

/// The oneshot that runs `pg_createcluster` (named so the reconciler leaves it alone).
const SETUP_UNIT: &str = "skiff-addon-postgresql.setup.service";
/// initdb syncs a new cluster to disk: seconds, more on a slow one.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// What this skiffd knows it applied since it started.
#[derive(Default)]
struct Applied {
    /// The settings and pg_hba the running server has read; `None` until known.
    server: Option<(String, String)>,
    /// Add-ons whose role and database were made as said here.
    databases: BTreeMap<AddonName, (Vec<AddonCredential>, u32)>,
}

/// The real cluster. `state_dir` is skiff's (`/var/lib/skiff`).
pub(crate) struct DebianPostgres {
    systemd: Arc<dyn Systemd>,
    layout: Layout,
    applied: Mutex<Applied>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking postgres task panicked")
}

/// The major versions whose server is installed.
fn installed_versions() -> Vec<String> {
    std::fs::read_dir(conf::SERVER_ROOT)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|v| {
                    Path::new(conf::SERVER_ROOT)
                        .join(v)
                        .join("bin/postgres")
                        .is_file()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces `path` with `contents` (root:postgres 0640, so the server reads it and no one
/// else), unless it holds them already.
fn write_readable_by_server(path: &Path, contents: &str, gid: u32) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        std::os::unix::fs::fchown(&file, None, Some(gid))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o640))?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Writes skiff's settings, pg_hba and pg_ident into the cluster's folder (made traversable for
/// the server, which runs as postgres).
fn write_files(layout: &Layout, files: [(PathBuf, String); 3]) -> Result<(), PostgresError> {
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |source| PostgresError::Files { path, source }
    };
    let group = nix::unistd::Group::from_name("postgres")
        .ok()
        .flatten()
        .ok_or_else(|| PostgresError::Unavailable("there is no postgres group".to_owned()))?;
    let addons = layout.root.parent().unwrap_or(&layout.root);
    if !addons.exists() {
        crate::files::make_dir_mode(addons, 0o755).map_err(fail(addons))?;
    }
    crate::files::make_dir_mode(&layout.root, 0o755).map_err(fail(&layout.root))?;
    for (path, contents) in files {
        write_readable_by_server(&path, &contents, group.gid.as_raw()).map_err(fail(&path))?;
    }
    Ok(())
}

/// The cluster's port from its `postgresql.conf`; `None` when the cluster was never made.
fn read_port(version: &str) -> Result<Option<u16>, PostgresError> {
    let path = conf::postgresql_conf(version);
    match std::fs::read_to_string(&path) {
        Ok(text) => conf::parse_port(&text)
            .map(Some)
            .ok_or_else(|| PostgresError::NoPort {
                version: version.to_owned(),
                path,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PostgresError::Files { path, source }),
    }
}

/// The add-on's login roles, by their prefix.
async fn logins_of(
    c: &tokio_postgres::Client,
    prefix: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    c.query(sql::LOGINS, &[&prefix])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect()
}

impl DebianPostgres {
    pub(crate) fn new(systemd: Arc<dyn Systemd>, state_dir: &Path) -> Self {
        Self {
            systemd,
            layout: Layout::under(state_dir),
            applied: Mutex::new(Applied::default()),
        }
    }

    async fn version(&self) -> Result<String, PostgresError> {
        let installed = blocking(installed_versions).await;
        conf::newest_version(&installed).ok_or_else(|| {
            PostgresError::Unavailable(format!("no server in {}/*/bin", conf::SERVER_ROOT))
        })
    }

    /// The cluster as it is on disk; `None` when it was never made.
    async fn made(&self) -> Result<Option<PgCluster>, PostgresError> {
        let version = self.version().await?;
        let port = blocking({
            let version = version.clone();
            move || read_port(&version)
        })
        .await?;
        Ok(port.map(|port| PgCluster { version, port }))
    }

    /// The cluster, which must have been made.
    async fn cluster(&self) -> Result<PgCluster, PostgresError> {
        self.made().await?.ok_or(PostgresError::NotMade)
    }

    /// `pg_createcluster`, run by PID 1 as root (it writes `/etc/postgresql`).
    async fn create(&self, version: &str) -> Result<PgCluster, PostgresError> {
        let spec = HostCommandsSpec {
            description: format!("skiff's PostgreSQL {version} cluster"),
            commands: vec![HostCommand {
                argv: conf::createcluster_argv(&self.layout, version),
                ignore_failure: false,
            }],
            timeout_usec: SETUP_TIMEOUT.as_micros() as u64,
        };
        let outcome = self
            .systemd
            .run_to_completion(
                SETUP_UNIT,
                host_commands_properties(&spec),
                SETUP_TIMEOUT + CONNECT_TIMEOUT,
            )
            .await?;
        if !outcome.succeeded() {
            return Err(PostgresError::Setup {
                unit: SETUP_UNIT.to_owned(),
                outcome: outcome.describe(),
            });
        }
        self.made().await?.ok_or_else(|| PostgresError::Setup {
            unit: SETUP_UNIT.to_owned(),
            outcome: format!("left no {}", conf::postgresql_conf(version).display()),
        })
    }

    /// Starts the server, or makes the running one read what changed: a restart for new
    /// settings (the address), a reload for a new pg_hba. Right after skiffd started, it asks
    /// the server where it listens and reloads once.
    async fn converge_server(
        &self,
        cluster: &PgCluster,
        listen: Ipv4Addr,
        wanted: (String, String),
    ) -> Result<(), PostgresError> {
        let unit = conf::unit_name(&cluster.version);
        let mut applied = self.applied.lock().await;
        let running = self
            .systemd
            .service_details(&unit)
            .await?
            .is_some_and(|d| d.active_state == "active");
        if !running {
            self.systemd.start_unit(&unit).await?;
        } else {
            let restart = match &applied.server {
                Some((settings, _)) => *settings != wanted.0,
                None => {
                    let query = async |c: &tokio_postgres::Client| {
                        c.query_one(sql::LISTEN, &[]).await?.try_get::<_, String>(0)
                    };
                    with_client(cluster.port, "say where it listens", query).await?
                        != listen.to_string()
                }
            };
            if restart {
                self.systemd.restart_unit_and_wait(&unit).await?;
            } else if applied.server.as_ref() != Some(&wanted) {
                self.systemd.reload_unit(&unit).await?;
            }
        }
        applied.server = Some(wanted);
        Ok(())
    }
}

#[async_trait::async_trait]
impl PostgresServer for DebianPostgres {
    async fn unavailable(&self) -> Option<String> {
        self.version().await.err().map(|e| e.to_string())
    }

    async fn ensure_cluster(
        &self,
        listen: Ipv4Addr,
        access: &[PgAccess],
    ) -> Result<PgCluster, PostgresError> {
        let version = self.version().await?;
        let settings = conf::render_settings(&self.layout, listen);
        let hba = conf::render_hba(listen, access);
        let files = [
            (self.layout.settings(), settings.clone()),
            (self.layout.hba(), hba.clone()),
            (self.layout.ident(), conf::render_ident()),
        ];
        let layout = self.layout.clone();
        blocking(move || write_files(&layout, files)).await?;
        let cluster = match self.made().await? {
            Some(cluster) => cluster,
            None => {
                let cluster = self.create(&version).await?;
                *self.applied.lock().await = Applied::default();
                cluster
            }
        };
        self.converge_server(&cluster, listen, (settings, hba))
            .await?;
        Ok(cluster)
    }

    async fn ensure_database(&self, db: &PgDatabase) -> Result<(), PostgresError> {
        let wanted = (db.logins.clone(), db.connection_limit);
        if self.applied.lock().await.databases.get(&db.name) == Some(&wanted) {
            return Ok(());
        }
        let cluster = self.cluster().await?;
        let verifiers: Vec<String> = db
            .logins
            .iter()
            .map(|l| postgres_protocol::password::scram_sha_256(l.secret.expose().as_bytes()))
            .collect();
        let owner = db.name.database();
        let prefix = db.name.login_prefix();
        let ensure = async |c: &tokio_postgres::Client| {
            let row = c.query_one(sql::EXISTING, &[&owner]).await?;
            let (owner_exists, database_exists) = (row.try_get(0)?, row.try_get(1)?);
            let logins = logins_of(c, &prefix).await?;
            let statements =
                sql::ensure_statements(db, &verifiers, owner_exists, database_exists, &logins);
            for statement in statements {
                c.batch_execute(&statement).await?;
            }
            Ok(())
        };
        with_client(cluster.port, "make an add-on's role and database", ensure).await?;
        self.applied
            .lock()
            .await
            .databases
            .insert(db.name.clone(), wanted);
        Ok(())
    }

    async fn drop_database(&self, name: &AddonName) -> Result<(), PostgresError> {
        let cluster = self.cluster().await?;
        self.applied.lock().await.databases.remove(name);
        let (database, prefix) = (name.database(), name.login_prefix());
        let drop = async |c: &tokio_postgres::Client| {
            let logins = logins_of(c, &prefix).await?;
            for statement in sql::drop_statements(&database, &logins) {
                c.batch_execute(&statement).await?;
            }
            Ok(())
        };
        with_client(cluster.port, "drop an add-on's database", drop).await
    }

    async fn databases(&self) -> Result<Vec<String>, PostgresError> {
        let cluster = self.cluster().await?;
        let list = async |c: &tokio_postgres::Client| {
            c.query(sql::DATABASES, &[])
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect()
        };
        with_client(cluster.port, "list its databases", list).await
    }

    async fn info(&self, name: &AddonName) -> Result<PgInfo, PostgresError> {
        let cluster = self.cluster().await?;
        let db = name.database();
        let info = async |c: &tokio_postgres::Client| {
            let Some(row) = c.query_opt(sql::INFO, &[&db]).await? else {
                return Ok(None);
            };
            let size: i64 = row.try_get(0)?;
            let connections: i64 = row.try_get(1)?;
            // `15.18 (Debian 15.18-0+deb12u1)`: the release, without the packager's words.
            let version: String = row.try_get(2)?;
            Ok(Some(PgInfo {
                version: version
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                size_bytes: u64::try_from(size).unwrap_or(0),
                connections: u32::try_from(connections).unwrap_or(u32::MAX),
            }))
        };
        with_client(cluster.port, "describe a database", info)
            .await?
            .ok_or(PostgresError::NoDatabase(db))
    }

    async fn sessions(&self, name: &AddonName) -> Result<Vec<PgSession>, PostgresError> {
        let cluster = self.cluster().await?;
        let db = name.database();
        let list = async |c: &tokio_postgres::Client| {
            c.query(sql::SESSIONS, &[&db])
                .await?
                .iter()
                .map(|row| {
                    Ok(PgSession {
                        pid: row.try_get(0)?,
                        state: row.try_get(1)?,
                        since: row.try_get(2)?,
                        query: row.try_get(3)?,
                    })
                })
                .collect()
        };
        with_client(cluster.port, "list a database's sessions", list).await
    }

    async fn kill(&self, name: &AddonName, pid: i32) -> Result<bool, PostgresError> {
        let cluster = self.cluster().await?;
        let db = name.database();
        let kill = async |c: &tokio_postgres::Client| {
            let rows = c.query(sql::KILL, &[&pid, &db]).await?;
            rows.iter()
                .map(|row| row.try_get::<_, bool>(0))
                .try_fold(false, |any, ended| Ok(any || ended?))
        };
        with_client(cluster.port, "end a session", kill).await
    }

    async fn dump(&self, name: &AddonName, file: &Path) -> Result<Census, PostgresError> {
        let cluster = self.cluster().await?;
        let database = name.database();
        let file = file.to_owned();
        // The rows are counted in the snapshot pg_dump dumps, which lives as long as this
        // transaction: the census is exactly what the dump holds.
        let dump = async |c: &tokio_postgres::Client| {
            c.batch_execute("begin isolation level repeatable read read only")
                .await?;
            let snapshot: String = c
                .query_one("select pg_export_snapshot()", &[])
                .await?
                .try_get(0)?;
            let census = dump::count_rows(c).await?;
            let argv = dump::dump_argv(&cluster.version, cluster.port, &database, &snapshot, &file);
            let dumped = dump::run_tool(&argv).await;
            c.batch_execute("commit").await?;
            Ok((census, dumped))
        };
        let limits = (dump::TOOL_TIMEOUT, dump::TOOL_TIMEOUT + CALL_TIMEOUT);
        let (census, dumped) =
            with_client_on(cluster.port, &database, limits, "dump a database", dump).await?;
        dumped.map(|()| census)
    }

    async fn check_dump(&self, file: &Path) -> Result<Census, PostgresError> {
        let cluster = self.cluster().await?;
        let scratch = dump::scratch_database();
        let create = async |c: &tokio_postgres::Client| {
            let leftovers = c.query(dump::SCRATCH_DATABASES, &[]).await?;
            for row in leftovers {
                let name: String = row.try_get(0)?;
                let drop = dump::drop_statement(&name);
                c.batch_execute(&drop).await?;
            }
            c.batch_execute(&format!("create database {}", dump::ident(&scratch)))
                .await
        };
        with_client(cluster.port, "make a scratch database", create).await?;
        let argv = dump::restore_argv(&cluster.version, cluster.port, &scratch, None, false, file);
        let checked = match dump::run_tool(&argv).await {
            Ok(()) => {
                let limits = (dump::TOOL_TIMEOUT, dump::TOOL_TIMEOUT + CALL_TIMEOUT);
                let count = async |c: &tokio_postgres::Client| dump::count_rows(c).await;
                with_client_on(cluster.port, &scratch, limits, "count restored rows", count).await
            }
            Err(e) => Err(e),
        };
        let drop = dump::drop_statement(&scratch);
        let dropped = async |c: &tokio_postgres::Client| c.batch_execute(&drop).await;
        with_client(cluster.port, "drop a scratch database", dropped).await?;
        checked
    }

    async fn restore(
        &self,
        name: &AddonName,
        file: &Path,
        expected: &Census,
    ) -> Result<(), PostgresError> {
        let cluster = self.cluster().await?;
        let (database, scratch) = (name.database(), dump::scratch_database());
        let create = format!(
            "create database {} owner {}",
            dump::ident(&scratch),
            dump::ident(&database)
        );
        let make = async |c: &tokio_postgres::Client| c.batch_execute(&create).await;
        with_client(cluster.port, "make a scratch database", make).await?;
        let argv = dump::restore_argv(
            &cluster.version,
            cluster.port,
            &scratch,
            Some(&database),
            false,
            file,
        );
        let restored = match dump::run_tool(&argv).await {
            Ok(()) => {
                self.compare_restored(cluster.port, &scratch, expected)
                    .await
            }
            Err(e) => Err(e),
        };
        let result = match restored {
            Ok(()) => self.swap_in(cluster.port, &database, &scratch).await,
            Err(e) => Err(e),
        };
        let leftover = if result.is_ok() { None } else { Some(scratch) };
        if let Some(scratch) = leftover {
            let drop = dump::drop_statement(&scratch);
            let dropped = async |c: &tokio_postgres::Client| c.batch_execute(&drop).await;
            with_client(cluster.port, "drop a scratch database", dropped).await?;
        }
        self.applied.lock().await.databases.remove(name);
        result
    }
}

impl DebianPostgres {
    async fn compare_restored(
        &self,
        port: u16,
        scratch: &str,
        expected: &Census,
    ) -> Result<(), PostgresError> {
        let limits = (dump::TOOL_TIMEOUT, dump::TOOL_TIMEOUT + CALL_TIMEOUT);
        let count = async |c: &tokio_postgres::Client| dump::count_rows(c).await;
        let census = with_client_on(port, scratch, limits, "count restored rows", count).await?;
        crate::model::compare_exact(expected, &census).map_err(PostgresError::Mismatch)
    }

    /// Puts the restored `scratch` in the place of `database`: no new sessions, the open ones
    /// ended, both renamed in one transaction (retried while ended sessions are still leaving),
    /// then the old database dropped.
    async fn swap_in(&self, port: u16, database: &str, scratch: &str) -> Result<(), PostgresError> {
        let old = dump::scratch_database();
        let swap = dump::swap_statements(database, scratch, &old);
        let lock_out = format!(
            "alter database {} allow_connections false",
            dump::ident(database)
        );
        let drop = dump::drop_statement(&old);
        let call = async |c: &tokio_postgres::Client| {
            c.batch_execute(&lock_out).await?;
            let mut attempt = 0;
            loop {
                c.execute(dump::END_SESSIONS, &[&database]).await?;
                match c.batch_execute(&swap).await {
                    Ok(()) => break,
                    Err(_) if attempt < 50 => {
                        let _ = c.batch_execute("rollback").await;
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => {
                        let _ = c.batch_execute("rollback").await;
                        let unlock = format!(
                            "alter database {} allow_connections true",
                            dump::ident(database)
                        );
                        let _ = c.batch_execute(&unlock).await;
                        return Err(e);
                    }
                }
            }
            c.batch_execute(&drop).await
        };
        with_client(port, "swap in a restored database", call).await
    }
}
