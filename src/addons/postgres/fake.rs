//! `FakePostgres`: an in-memory cluster for tests, recording the address, grants, databases
//! and passwords it was given.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Mutex;

use super::{PgAccess, PgCluster, PgDatabase, PgInfo, PgSession, PostgresError, PostgresServer};
use crate::model::{AddonCredential, AddonName, Census};

/// The port the fake's cluster listens on.
pub const FAKE_PORT: u16 = 5433;

#[derive(Default)]
struct Inner {
    listen: Option<Ipv4Addr>,
    access: Vec<PgAccess>,
    databases: BTreeMap<AddonName, PgDatabase>,
    rows: BTreeMap<AddonName, Census>,
    check: Option<Result<Census, String>>,
    calls: Vec<String>,
}

/// Behaves like skiff's cluster for the calls the reconciler makes; `missing` plays a host
/// without Debian's postgresql.
#[derive(Default)]
pub struct FakePostgres {
    pub missing: Option<String>,
    inner: Mutex<Inner>,
}

impl FakePostgres {
    /// A host without Debian's postgresql, saying `why`.
    pub fn without_server(why: &str) -> Self {
        Self {
            missing: Some(why.to_owned()),
            ..Self::default()
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().expect("fake postgres lock"))
    }

    /// The address of the last `ensure_cluster`.
    pub fn listen(&self) -> Option<Ipv4Addr> {
        self.with(|i| i.listen)
    }

    /// The grants of the last `ensure_cluster`, sorted.
    pub fn access(&self) -> Vec<PgAccess> {
        self.with(|i| i.access.clone())
    }

    /// The add-ons' databases as last ensured.
    pub fn databases_made(&self) -> BTreeMap<AddonName, PgDatabase> {
        self.with(|i| i.databases.clone())
    }

    /// The credentials the add-on's login roles have, the current one first.
    pub fn logins(&self, name: &AddonName) -> Vec<AddonCredential> {
        self.with(|i| {
            i.databases
                .get(name)
                .map(|db| db.logins.clone())
                .unwrap_or_default()
        })
    }

    /// Every call, like "ensure_database postgresql-shop" or "drop_database postgresql-shop".
    pub fn calls(&self) -> Vec<String> {
        self.with(|i| i.calls.clone())
    }

    /// Makes the add-on's database hold `census` (what a dump of it will count).
    pub fn set_rows(&self, name: &AddonName, census: Census) {
        self.with(|i| i.rows.insert(name.clone(), census));
    }

    /// Makes every later `check_dump` answer `check` (a census, or pg_restore's error) instead
    /// of reading the dump back.
    pub fn override_check(&self, check: Result<Census, String>) {
        self.with(|i| i.check = Some(check));
    }

    fn refuse(&self) -> Result<(), PostgresError> {
        match &self.missing {
            Some(why) => Err(PostgresError::Unavailable(why.clone())),
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl PostgresServer for FakePostgres {
    async fn unavailable(&self) -> Option<String> {
        self.missing.clone()
    }

    async fn ensure_cluster(
        &self,
        listen: Ipv4Addr,
        access: &[PgAccess],
    ) -> Result<PgCluster, PostgresError> {
        self.refuse()?;
        self.with(|i| {
            i.calls.push(format!("ensure_cluster {listen}"));
            i.listen = Some(listen);
            let mut access = access.to_vec();
            access.sort();
            access.dedup();
            i.access = access;
        });
        Ok(PgCluster {
            version: "15".to_owned(),
            port: FAKE_PORT,
        })
    }

    async fn ensure_database(&self, db: &PgDatabase) -> Result<(), PostgresError> {
        self.refuse()?;
        self.with(|i| {
            i.calls.push(format!("ensure_database {}", db.name));
            i.databases.insert(db.name.clone(), db.clone());
        });
        Ok(())
    }

    async fn drop_database(&self, name: &AddonName) -> Result<(), PostgresError> {
        self.refuse()?;
        self.with(|i| {
            i.calls.push(format!("drop_database {name}"));
            i.databases.remove(name);
        });
        Ok(())
    }

    async fn databases(&self) -> Result<Vec<String>, PostgresError> {
        self.refuse()?;
        Ok(self.with(|i| i.databases.keys().map(AddonName::database).collect()))
    }

    async fn info(&self, name: &AddonName) -> Result<PgInfo, PostgresError> {
        self.refuse()?;
        self.with(|i| {
            i.databases
                .contains_key(name)
                .then(|| PgInfo {
                    version: "15.18".to_owned(),
                    size_bytes: 7_500_000,
                    connections: 0,
                })
                .ok_or_else(|| PostgresError::NoDatabase(name.database()))
        })
    }

    async fn sessions(&self, name: &AddonName) -> Result<Vec<PgSession>, PostgresError> {
        self.refuse()?;
        self.with(|i| {
            i.calls.push(format!("sessions {name}"));
            Ok(Vec::new())
        })
    }

    async fn kill(&self, name: &AddonName, pid: i32) -> Result<bool, PostgresError> {
        self.refuse()?;
        self.with(|i| i.calls.push(format!("kill {name} {pid}")));
        Ok(false)
    }

    /// Makes the database hold what `file` (a fake dump) holds, if it holds `expected`.
    async fn restore(
        &self,
        name: &AddonName,
        file: &Path,
        expected: &Census,
    ) -> Result<(), PostgresError> {
        let restored = self.check_dump(file).await?;
        crate::model::compare_exact(expected, &restored).map_err(PostgresError::Mismatch)?;
        self.with(|i| {
            i.calls.push(format!("restore {name}"));
            i.rows.insert(name.clone(), restored);
        });
        Ok(())
    }

    /// Writes the database's census as JSON: what `check_dump` reads back.
    async fn dump(&self, name: &AddonName, file: &Path) -> Result<Census, PostgresError> {
        self.refuse()?;
        let census = self.with(|i| {
            i.calls.push(format!("dump {name}"));
            i.databases
                .contains_key(name)
                .then(|| i.rows.get(name).cloned().unwrap_or_default())
                .ok_or_else(|| PostgresError::NoDatabase(name.database()))
        })?;
        let json = serde_json::to_vec(&census).expect("a census is JSON");
        std::fs::write(file, json).map_err(|source| PostgresError::Files {
            path: file.to_owned(),
            source,
        })?;
        Ok(census)
    }

    async fn check_dump(&self, file: &Path) -> Result<Census, PostgresError> {
        self.refuse()?;
        let check = self.with(|i| {
            i.calls.push("check_dump".to_owned());
            i.check.clone()
        });
        if let Some(check) = check {
            return check.map_err(|message| PostgresError::Tool {
                tool: "pg_restore".to_owned(),
                message,
            });
        }
        let bytes = std::fs::read(file).map_err(|source| PostgresError::Files {
            path: file.to_owned(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| PostgresError::Tool {
            tool: "pg_restore".to_owned(),
            message: format!("not a dump: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AddonSecret;

    fn db(name: &str, secret: &str) -> PgDatabase {
        PgDatabase {
            name: AddonName::parse(name).unwrap(),
            logins: vec![AddonCredential {
                generation: 1,
                secret: AddonSecret::stored(&secret.repeat(24)).unwrap(),
            }],
            connection_limit: 20,
        }
    }

    #[tokio::test]
    async fn records_what_the_reconciler_asked() {
        let pg = FakePostgres::default();
        let shop = AddonName::parse("pg-shop").unwrap();
        let grant = PgAccess {
            addon: shop.clone(),
            from: "10.213.0.2".parse().unwrap(),
        };
        let listen = "10.213.255.241".parse().unwrap();
        let cluster = pg
            .ensure_cluster(listen, &[grant.clone(), grant.clone()])
            .await
            .unwrap();
        assert_eq!(cluster.port, FAKE_PORT);
        assert_eq!(pg.listen(), Some(listen));
        assert_eq!(pg.access(), [grant]);
        pg.ensure_database(&db("pg-shop", "ab")).await.unwrap();
        pg.ensure_database(&db("pg-shop", "cd")).await.unwrap();
        assert_eq!(pg.logins(&shop), db("pg-shop", "cd").logins);
        assert_eq!(pg.databases().await.unwrap(), ["skiff_pg_shop"]);
        assert_eq!(pg.info(&shop).await.unwrap().connections, 0);
        pg.drop_database(&shop).await.unwrap();
        assert!(pg.databases().await.unwrap().is_empty());
        assert!(matches!(
            pg.info(&shop).await,
            Err(PostgresError::NoDatabase(_))
        ));
    }

    #[tokio::test]
    async fn a_host_without_postgres_refuses_everything() {
        let pg = FakePostgres {
            missing: Some("no server".to_owned()),
            ..FakePostgres::default()
        };
        assert_eq!(pg.unavailable().await.as_deref(), Some("no server"));
        assert!(pg.ensure_database(&db("pg-shop", "ab")).await.is_err());
    }
}
