//! Add-on servers: skiff's own PostgreSQL cluster (`postgres/`) and one Redis unit per add-on
//! (`redis/`), each behind a narrow trait. `Addons` is what the reconciler and the API hold:
//! both servers, the plans, and what was already made since skiffd started, so a round that
//! changes nothing costs no call to either server.

mod backups;
pub(crate) mod copies;
pub(crate) mod postgres;
pub(crate) mod redis;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use crate::model::{
    AddonCredential, AddonEndpoint, AddonName, AddonPlan, AddonService, AddonState, AppName,
    MaxmemoryPolicy, Plans,
};
use crate::store::AddonRecord;
pub use backups::{backup_file, remove_temporaries, BackupError};
use postgres::{PgAccess, PgDatabase, PgInfo, PgSession, PostgresError, PostgresServer};
use redis::{RedisError, RedisInfo, RedisInstance, RedisServer};

#[derive(Debug, thiserror::Error)]
pub enum AddonsError {
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("add-on {0} is not ready yet")]
    NotReady(AddonName),
    #[error("add-on {addon} has plan {plan}, which skiffd.toml no longer has")]
    PlanGone { addon: AddonName, plan: String },
}

/// What one round made of the add-ons: which are ready where, and who may reach them.
#[derive(Debug, Default)]
pub struct Converged {
    /// Add-ons whose server side exists, with the port they listen on.
    pub ready: BTreeMap<AddonName, u16>,
    /// Add-ons whose data is gone; their rows can go.
    pub destroyed: Vec<AddonName>,
    /// Add-ons made this round for the first time (their rows become `ready`).
    pub made: Vec<(AddonName, u16)>,
    pub failures: Vec<(AddonName, AddonsError)>,
}

/// Both add-on servers and the plans.
#[derive(Clone)]
pub struct Addons {
    postgres: Arc<dyn PostgresServer>,
    redis: Arc<dyn RedisServer>,
    plans: Plans,
    /// What each add-on was last made with (secret, plan, policy), since skiffd started.
    made: Arc<Mutex<BTreeMap<AddonName, Made>>>,
    /// Add-ons a round found or made ready, since skiffd started or [`Addons::forget_made`].
    served: Arc<Mutex<BTreeSet<AddonName>>>,
    /// Orphans already reported, so each is said once.
    reported: Arc<Mutex<BTreeSet<String>>>,
    /// Held while a backup is checked: one scratch restore at a time on this server.
    checks: Arc<tokio::sync::Mutex<()>>,
    /// The add-on address the last round made the servers listen on.
    listen: Arc<Mutex<Option<Ipv4Addr>>>,
    /// Where checked backups are copied off the server (`backup_copy_to`), if anywhere.
    copier: Option<Arc<dyn copies::BackupCopier>>,
    /// Redis add-ons a restore has stopped on purpose: rounds leave their server alone.
    restoring: Arc<Mutex<BTreeSet<AddonName>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Made {
    credential: AddonCredential,
    previous: Option<AddonCredential>,
    plan: AddonPlan,
    policy: MaxmemoryPolicy,
}

impl Addons {
    pub fn new(
        postgres: Arc<dyn PostgresServer>,
        redis: Arc<dyn RedisServer>,
        plans: Plans,
    ) -> Self {
        Self {
            postgres,
            redis,
            plans,
            made: Arc::default(),
            served: Arc::default(),
            reported: Arc::default(),
            checks: Arc::default(),
            listen: Arc::default(),
            copier: None,
            restoring: Arc::default(),
        }
    }

    /// Copies every checked backup off the server with `copier`.
    pub fn with_copier(mut self, copier: Arc<dyn copies::BackupCopier>) -> Self {
        self.copier = Some(copier);
        self
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// Why add-ons of `service` cannot be made on this host, if so.
    pub async fn unavailable(&self, service: AddonService) -> Option<String> {
        match service {
            AddonService::Postgres => self.postgres.unavailable().await,
            AddonService::Redis => self.redis.unavailable().await,
        }
    }

    fn plan_of(&self, addon: &AddonRecord) -> Result<AddonPlan, AddonsError> {
        self.plans
            .find(addon.plan.as_str())
            .cloned()
            .map_err(|_| AddonsError::PlanGone {
                addon: addon.name.clone(),
                plan: addon.plan.to_string(),
            })
    }

    /// Brings every add-on's server side in line with its row: made (or changed: secret, plan,
    /// policy) when creating or ready, its data destroyed when destroying. `access` gives, for
    /// each add-on, the addresses its attached apps' dynos connect from.
    pub async fn converge(
        &self,
        addons: &[AddonRecord],
        listen: Ipv4Addr,
        access: &BTreeMap<AddonName, Vec<Ipv4Addr>>,
    ) -> Converged {
        *self.listen.lock().expect("add-ons lock") = Some(listen);
        let mut out = Converged::default();
        let postgres: Vec<&AddonRecord> = addons
            .iter()
            .filter(|a| a.service == AddonService::Postgres)
            .collect();
        if !postgres.is_empty() {
            self.converge_postgres(&postgres, listen, access, &mut out)
                .await;
        }
        for addon in addons.iter().filter(|a| a.service == AddonService::Redis) {
            self.converge_redis(addon, listen, &mut out).await;
        }
        self.served
            .lock()
            .expect("add-ons lock")
            .extend(out.ready.keys().cloned());
        out
    }

    /// Forgets what was made and served since skiffd started: after a restore replaced the
    /// rows, the next round makes every add-on again from them.
    pub fn forget_made(&self) {
        self.made.lock().expect("add-ons lock").clear();
        self.served.lock().expect("add-ons lock").clear();
    }

    /// Whether a round since skiffd started (or since [`Addons::forget_made`]) made the
    /// add-on's server side ready.
    pub fn served(&self, name: &AddonName) -> bool {
        self.served.lock().expect("add-ons lock").contains(name)
    }

    async fn converge_postgres(
        &self,
        addons: &[&AddonRecord],
        listen: Ipv4Addr,
        access: &BTreeMap<AddonName, Vec<Ipv4Addr>>,
        out: &mut Converged,
    ) {
        let grants: Vec<PgAccess> = addons
            .iter()
            .filter(|a| a.state != AddonState::Destroying)
            .flat_map(|a| {
                access
                    .get(&a.name)
                    .into_iter()
                    .flatten()
                    .map(|from| PgAccess {
                        addon: a.name.clone(),
                        from: *from,
                    })
            })
            .collect();
        let cluster = match self.postgres.ensure_cluster(listen, &grants).await {
            Ok(cluster) => cluster,
            Err(e) => {
                // Every postgres add-on waits for the cluster; one failure says it for all.
                if let Some(first) = addons.first() {
                    out.failures.push((first.name.clone(), e.into()));
                }
                return;
            }
        };
        for addon in addons {
            if addon.state == AddonState::Destroying {
                match self.postgres.drop_database(&addon.name).await {
                    Ok(()) => {
                        self.made.lock().expect("add-ons lock").remove(&addon.name);
                        out.destroyed.push(addon.name.clone());
                    }
                    Err(e) => out.failures.push((addon.name.clone(), e.into())),
                }
                continue;
            }
            let plan = match self.plan_of(addon) {
                Ok(plan) => plan,
                Err(e) => {
                    out.failures.push((addon.name.clone(), e));
                    continue;
                }
            };
            let wanted = Made {
                credential: addon.credential.clone(),
                previous: addon.previous.clone(),
                plan,
                policy: addon.policy.clone(),
            };
            if !self.is_made(&addon.name, &wanted) {
                let db = PgDatabase {
                    name: addon.name.clone(),
                    logins: std::iter::once(addon.credential.clone())
                        .chain(addon.previous.clone())
                        .collect(),
                    connection_limit: wanted.plan.postgres_connections,
                };
                if let Err(e) = self.postgres.ensure_database(&db).await {
                    out.failures.push((addon.name.clone(), e.into()));
                    continue;
                }
                self.record_made(&addon.name, wanted);
            }
            if addon.state == AddonState::Creating || addon.port != Some(cluster.port) {
                out.made.push((addon.name.clone(), cluster.port));
            }
            out.ready.insert(addon.name.clone(), cluster.port);
        }
        self.report_orphan_databases(addons).await;
    }

    async fn converge_redis(&self, addon: &AddonRecord, listen: Ipv4Addr, out: &mut Converged) {
        if addon.state == AddonState::Destroying {
            match self.redis.remove(&addon.name).await {
                Ok(()) => {
                    self.made.lock().expect("add-ons lock").remove(&addon.name);
                    out.destroyed.push(addon.name.clone());
                }
                Err(e) => out.failures.push((addon.name.clone(), e.into())),
            }
            return;
        }
        let (Some(port), Some(owner)) = (addon.port, addon.owner.clone()) else {
            return;
        };
        let instance = match self.redis_instance(addon, owner, listen, port) {
            Ok(instance) => instance,
            Err(e) => {
                out.failures.push((addon.name.clone(), e));
                return;
            }
        };
        // The adapter compares with what runs, so this is cheap when nothing changed; it also
        // starts a unit that stopped (a reboot, `systemctl stop`) — but not one a restore
        // stopped to replace its files, which the restore starts again itself.
        let restoring = self
            .restoring
            .lock()
            .expect("add-ons lock")
            .contains(&addon.name);
        if restoring {
            out.ready.insert(addon.name.clone(), port);
            return;
        }
        if let Err(e) = self.redis.ensure(&instance).await {
            out.failures.push((addon.name.clone(), e.into()));
            return;
        }
        if addon.state == AddonState::Creating {
            out.made.push((addon.name.clone(), port));
        }
        out.ready.insert(addon.name.clone(), port);
    }

    fn redis_instance(
        &self,
        addon: &AddonRecord,
        owner: AppName,
        listen: Ipv4Addr,
        port: u16,
    ) -> Result<RedisInstance, AddonsError> {
        Ok(RedisInstance {
            name: addon.name.clone(),
            owner,
            listen: AddonEndpoint { host: listen, port },
            secret: addon.credential.secret.clone(),
            maxmemory: self.plan_of(addon)?.redis_memory,
            policy: addon.policy.clone(),
        })
    }

    fn is_made(&self, name: &AddonName, wanted: &Made) -> bool {
        self.made.lock().expect("add-ons lock").get(name) == Some(wanted)
    }

    fn record_made(&self, name: &AddonName, made: Made) {
        self.made
            .lock()
            .expect("add-ons lock")
            .insert(name.clone(), made);
    }

    /// Databases in skiff's cluster that no add-on has: said once each, never dropped.
    async fn report_orphan_databases(&self, addons: &[&AddonRecord]) {
        let Ok(databases) = self.postgres.databases().await else {
            return;
        };
        let known: BTreeSet<String> = addons.iter().map(|a| a.name.database()).collect();
        for db in databases.into_iter().filter(|d| !known.contains(d)) {
            if self
                .reported
                .lock()
                .expect("add-ons lock")
                .insert(db.clone())
            {
                tracing::warn!(database = %db, "skiff's postgres cluster has a database no add-on owns; it is kept (drop it by hand if it is not needed)");
            }
        }
    }

    /// Units named like add-on servers that no add-on has: said once each, left alone.
    pub fn report_orphan_units<'a>(
        &self,
        units: impl IntoIterator<Item = &'a str>,
        addons: &[AddonRecord],
    ) {
        let known: BTreeSet<String> = addons
            .iter()
            .filter(|a| a.service == AddonService::Redis)
            .map(|a| a.name.unit_name())
            .collect();
        for unit in units {
            let orphan = AddonName::from_unit_name(unit).is_some() && !known.contains(unit);
            if orphan
                && self
                    .reported
                    .lock()
                    .expect("add-ons lock")
                    .insert(unit.to_owned())
            {
                tracing::warn!(%unit, "a unit of an add-on server runs that no add-on has; it is left alone (stop it by hand if it is not needed)");
            }
        }
    }

    pub async fn postgres_info(&self, addon: &AddonRecord) -> Result<PgInfo, AddonsError> {
        self.ready_postgres(addon)?;
        Ok(self.postgres.info(&addon.name).await?)
    }

    /// The sessions on a ready Postgres add-on's database.
    pub async fn postgres_sessions(
        &self,
        addon: &AddonRecord,
    ) -> Result<Vec<PgSession>, AddonsError> {
        self.ready_postgres(addon)?;
        Ok(self.postgres.sessions(&addon.name).await?)
    }

    /// Ends one session on a ready Postgres add-on's database; whether there was one.
    pub async fn postgres_kill(&self, addon: &AddonRecord, pid: i32) -> Result<bool, AddonsError> {
        self.ready_postgres(addon)?;
        Ok(self.postgres.kill(&addon.name, pid).await?)
    }

    /// `pg:reset`: the database dropped (its sessions ended) and made again, empty, with the
    /// same roles and credentials.
    pub async fn postgres_reset(&self, addon: &AddonRecord) -> Result<(), AddonsError> {
        self.ready_postgres(addon)?;
        self.postgres.drop_database(&addon.name).await?;
        self.postgres_reapply(addon).await
    }

    /// Makes the add-on's database, roles and grants what its row says again, after its
    /// database was replaced or dropped behind the reconciler's back.
    async fn postgres_reapply(&self, addon: &AddonRecord) -> Result<(), AddonsError> {
        let plan = self.plan_of(addon)?;
        self.made.lock().expect("add-ons lock").remove(&addon.name);
        let db = PgDatabase {
            name: addon.name.clone(),
            logins: std::iter::once(addon.credential.clone())
                .chain(addon.previous.clone())
                .collect(),
            connection_limit: plan.postgres_connections,
        };
        Ok(self.postgres.ensure_database(&db).await?)
    }

    fn ready_postgres(&self, addon: &AddonRecord) -> Result<(), AddonsError> {
        if addon.service != AddonService::Postgres || addon.state != AddonState::Ready {
            return Err(AddonsError::NotReady(addon.name.clone()));
        }
        Ok(())
    }

    /// The server of a ready Redis add-on, where the last round made it listen.
    fn ready_redis(&self, addon: &AddonRecord) -> Result<RedisInstance, AddonsError> {
        let listen = *self.listen.lock().expect("add-ons lock");
        let (Some(port), Some(owner), AddonState::Ready, Some(listen)) =
            (addon.port, addon.owner.clone(), addon.state, listen)
        else {
            return Err(AddonsError::NotReady(addon.name.clone()));
        };
        self.redis_instance(addon, owner, listen, port)
    }

    pub async fn redis_info(
        &self,
        addon: &AddonRecord,
        listen: Ipv4Addr,
    ) -> Result<RedisInfo, AddonsError> {
        let (Some(port), Some(owner), AddonState::Ready) =
            (addon.port, addon.owner.clone(), addon.state)
        else {
            return Err(AddonsError::NotReady(addon.name.clone()));
        };
        let instance = self.redis_instance(addon, owner, listen, port)?;
        Ok(self.redis.info(&instance).await?)
    }
}
