//! Add-ons and their attachments: what the API records (create, attach, detach, destroy, a new
//! secret) and what the reconciler reports back (made, URL set in an app's config, data gone).
//! Every change to an app's config var happens in the same transaction as its new release.

use rusqlite::{params, OptionalExtension, Transaction};

use super::db::{
    addon_id, app_id, change_config, corrupt, live_addon_id, remove_attachments, stored_app_name,
    AppRelease, Store, StoreError, NOW,
};
use crate::model::{
    AddonCredential, AddonName, AddonSecret, AddonService, AddonState, AppName, AttachmentName,
    ConfigChange, MaxmemoryPolicy, PlanName, REDIS_PORTS,
};

/// What `addons:create` records.
#[derive(Debug, Clone)]
pub struct NewAddon {
    /// The name asked for; the first free `SERVICE-APP[-N]` otherwise.
    pub name: Option<AddonName>,
    pub service: AddonService,
    pub plan: PlanName,
    pub owner: AppName,
    pub attach_as: AttachmentName,
    pub secret: AddonSecret,
}

/// One app's attachment of an add-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub app: AppName,
    pub name: AttachmentName,
    /// The URL the app's config carries now; `None` until the reconciler set it.
    pub applied_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonRecord {
    pub name: AddonName,
    pub service: AddonService,
    pub plan: PlanName,
    /// `None` once the owner app is destroyed (the add-on is then being destroyed too).
    pub owner: Option<AppName>,
    /// The credentials attached apps get now.
    pub credential: AddonCredential,
    /// The credentials before a rotation, still accepted until every attached app runs with the
    /// new ones.
    pub previous: Option<AddonCredential>,
    /// Where the server listens: Redis's own port from the start, Postgres's cluster port once
    /// the cluster exists.
    pub port: Option<u16>,
    pub policy: MaxmemoryPolicy,
    pub state: AddonState,
    pub attachments: Vec<AttachmentRecord>,
    pub created_at: String,
}

impl AddonRecord {
    pub fn attachment(&self, app: &AppName) -> Option<&AttachmentRecord> {
        self.attachments.iter().find(|a| &a.app == app)
    }
}

/// An `addons` row as SQLite holds it.
struct AddonRow {
    id: i64,
    name: String,
    service: String,
    plan: String,
    owner: Option<String>,
    secret: String,
    port: Option<u16>,
    policy: String,
    state: String,
    created_at: String,
    generation: u32,
    previous: Option<String>,
}

impl AddonRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            service: r.get(2)?,
            plan: r.get(3)?,
            owner: r.get(4)?,
            secret: r.get(5)?,
            port: r.get(6)?,
            policy: r.get(7)?,
            state: r.get(8)?,
            created_at: r.get(9)?,
            generation: r.get(10)?,
            previous: r.get(11)?,
        })
    }

    fn record(self, attachments: Vec<AttachmentRecord>) -> Result<AddonRecord, StoreError> {
        let secret =
            |raw: &str| AddonSecret::stored(raw).ok_or_else(|| corrupt("add-on secret", "not hex"));
        let previous = match &self.previous {
            Some(p) => Some(AddonCredential {
                generation: self.generation - 1,
                secret: secret(p)?,
            }),
            None => None,
        };
        Ok(AddonRecord {
            name: AddonName::parse(&self.name).map_err(|e| corrupt("add-on", e))?,
            service: AddonService::parse(&self.service).map_err(|e| corrupt("add-on", e))?,
            plan: PlanName::parse(&self.plan).map_err(|e| corrupt("add-on plan", e))?,
            owner: self.owner.as_deref().map(stored_app_name).transpose()?,
            credential: AddonCredential {
                generation: self.generation,
                secret: secret(&self.secret)?,
            },
            previous,
            port: self.port,
            policy: MaxmemoryPolicy::parse(&self.policy).map_err(|e| corrupt("add-on", e))?,
            state: AddonState::parse(&self.state)
                .ok_or_else(|| corrupt("add-on state", &self.state))?,
            attachments,
            created_at: self.created_at,
        })
    }
}

fn attachments_of(
    conn: &rusqlite::Connection,
    addon_id: i64,
) -> Result<Vec<AttachmentRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.name, t.name, t.applied_url FROM addon_attachments t
         JOIN apps a ON a.id = t.app_id WHERE t.addon_id = ?1 ORDER BY t.created_at, a.name",
    )?;
    let rows: Vec<(String, String, Option<String>)> = stmt
        .query_map(params![addon_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(app, as_name, applied_url)| {
            Ok(AttachmentRecord {
                app: stored_app_name(&app)?,
                name: AttachmentName::parse(&as_name).map_err(|e| corrupt("attachment", e))?,
                applied_url,
            })
        })
        .collect()
}

fn read_addons(
    conn: &rusqlite::Connection,
    only: Option<&str>,
) -> Result<Vec<AddonRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT d.id, d.name, d.service, d.plan, o.name, d.secret, d.port, d.policy, d.state,
                d.created_at, d.generation, d.previous_secret
         FROM addons d LEFT JOIN apps o ON o.id = d.owner_app_id
         WHERE ?1 IS NULL OR d.name = ?1 ORDER BY d.name",
    )?;
    let rows: Vec<AddonRow> = stmt
        .query_map(params![only], AddonRow::read)?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|row| {
            let attachments = attachments_of(conn, row.id)?;
            row.record(attachments)
        })
        .collect()
}

fn one_addon(conn: &rusqlite::Connection, name: &str) -> Result<AddonRecord, StoreError> {
    read_addons(conn, Some(name))?
        .pop()
        .ok_or_else(|| StoreError::AddonNotFound(name.to_owned()))
}

/// Records an attachment of add-on `addon_id` to `app`, refusing a taken name or a second one.
fn insert_attachment(
    tx: &Transaction,
    addon: &AddonName,
    addon_id: i64,
    app: &AppName,
    name: &AttachmentName,
) -> Result<(), StoreError> {
    let app_row = app_id(tx, app)?;
    let attached: bool = tx.query_row(
        "SELECT count(*) > 0 FROM addon_attachments WHERE addon_id = ?1 AND app_id = ?2",
        params![addon_id, app_row],
        |r| r.get(0),
    )?;
    if attached {
        return Err(StoreError::AlreadyAttached {
            addon: addon.clone(),
            app: app.clone(),
        });
    }
    let taken: bool = tx.query_row(
        "SELECT count(*) > 0 FROM addon_attachments WHERE app_id = ?1 AND name = ?2",
        params![app_row, name.as_str()],
        |r| r.get(0),
    )?;
    if taken {
        return Err(StoreError::AttachmentTaken {
            app: app.clone(),
            name: name.clone(),
            key: name.config_key(),
        });
    }
    tx.execute(
        &format!(
            "INSERT INTO addon_attachments (addon_id, app_id, name, created_at)
             VALUES (?1, ?2, ?3, {NOW})"
        ),
        params![addon_id, app_row, name.as_str()],
    )?;
    Ok(())
}

impl Store {
    /// Records a new add-on (to be made by the reconciler) attached to its owner.
    pub async fn create_addon(&self, new: NewAddon) -> Result<AddonRecord, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let owner = app_id(&tx, &new.owner)?;
            let taken: Vec<AddonName> = {
                let mut stmt = tx.prepare("SELECT name FROM addons")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.filter_map(|n| n.ok())
                    .filter_map(|n| AddonName::parse(&n).ok())
                    .collect()
            };
            let name = match new.name {
                Some(name) if taken.contains(&name) => return Err(StoreError::AddonExists(name)),
                Some(name) => name,
                None => AddonName::first_free(new.service, &new.owner, &taken),
            };
            let port = match new.service {
                AddonService::Redis => {
                    let used: Vec<u16> = {
                        let mut stmt =
                            tx.prepare("SELECT port FROM addons WHERE port IS NOT NULL")?;
                        let rows = stmt.query_map([], |r| r.get::<_, u16>(0))?;
                        rows.collect::<Result<_, _>>()?
                    };
                    Some(REDIS_PORTS.clone().find(|p| !used.contains(p)).ok_or(
                        StoreError::AddonPortsExhausted {
                            first: *REDIS_PORTS.start(),
                            last: *REDIS_PORTS.end(),
                        },
                    )?)
                }
                AddonService::Postgres => None,
            };
            tx.execute(
                &format!(
                    "INSERT INTO addons (name, service, plan, owner_app_id, secret, port, state, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'creating', {NOW})"
                ),
                params![
                    name.as_str(),
                    new.service.as_str(),
                    new.plan.as_str(),
                    owner,
                    new.secret.expose(),
                    port
                ],
            )?;
            let id = tx.last_insert_rowid();
            insert_attachment(&tx, &name, id, &new.owner, &new.attach_as)?;
            let record = one_addon(&tx, name.as_str())?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// Every add-on, those being destroyed too, by name.
    pub async fn addons(&self) -> Result<Vec<AddonRecord>, StoreError> {
        self.call(|conn| read_addons(conn, None)).await
    }

    pub async fn addon(&self, name: &str) -> Result<AddonRecord, StoreError> {
        let name = name.to_owned();
        self.call(move |conn| one_addon(conn, &name)).await
    }

    /// Records that `app` is attached to the add-on as `name`; the reconciler grants access and
    /// then sets the URL with a release.
    pub async fn attach_addon(
        &self,
        addon: &AddonName,
        app: &AppName,
        name: AttachmentName,
    ) -> Result<AddonRecord, StoreError> {
        let (addon, app) = (addon.clone(), app.clone());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = live_addon_id(&tx, &addon)?;
            insert_attachment(&tx, &addon, id, &app, &name)?;
            let record = one_addon(&tx, addon.as_str())?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// Takes the add-on away from `app`: its URL leaves the config with a new release.
    pub async fn detach_addon(
        &self,
        addon: &AddonName,
        app: &AppName,
    ) -> Result<AppRelease, StoreError> {
        let (addon, app) = (addon.clone(), app.clone());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = live_addon_id(&tx, &addon)?;
            let app_row = app_id(&tx, &app)?;
            let released = remove_attachments(&tx, &addon, id, Some(app_row))?
                .pop()
                .ok_or_else(|| StoreError::NotAttached {
                    addon: addon.clone(),
                    app: app.clone(),
                })?;
            tx.commit()?;
            Ok(released)
        })
        .await
    }

    /// Detaches the add-on everywhere and marks it for the reconciler to destroy its data.
    pub async fn destroy_addon(&self, addon: &AddonName) -> Result<Vec<AppRelease>, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = live_addon_id(&tx, &addon)?;
            let released = remove_attachments(&tx, &addon, id, None)?;
            tx.execute(
                "UPDATE addons SET state = 'destroying' WHERE id = ?1",
                params![id],
            )?;
            tx.commit()?;
            Ok(released)
        })
        .await
    }

    /// Gives the add-on credentials of the next generation, keeping the current ones as the
    /// previous; the reconciler makes both work, sets the new URL everywhere, and ends the
    /// rotation once every attached app runs with it. One rotation at a time.
    pub async fn rotate_addon_secret(
        &self,
        addon: &AddonName,
        secret: AddonSecret,
    ) -> Result<AddonRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = live_addon_id(&tx, &addon)?;
            let rotating: bool = tx.query_row(
                "SELECT previous_secret IS NOT NULL FROM addons WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            if rotating {
                return Err(StoreError::RotationInProgress(addon.clone()));
            }
            tx.execute(
                "UPDATE addons SET previous_secret = secret, secret = ?1, generation = generation + 1
                 WHERE id = ?2",
                params![secret.expose(), id],
            )?;
            let record = one_addon(&tx, addon.as_str())?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    pub async fn set_addon_policy(
        &self,
        addon: &AddonName,
        policy: MaxmemoryPolicy,
    ) -> Result<AddonRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = live_addon_id(&tx, &addon)?;
            tx.execute(
                "UPDATE addons SET policy = ?1 WHERE id = ?2",
                params![policy.as_str(), id],
            )?;
            let record = one_addon(&tx, addon.as_str())?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// The reconciler made the add-on's server side; it listens on `port`.
    pub async fn addon_made(&self, addon: &AddonName, port: u16) -> Result<(), StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            conn.execute(
                "UPDATE addons SET state = 'ready', port = ?1
                 WHERE name = ?2 AND state != 'destroying'",
                params![port, addon.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    /// Sets `url` as the attachment's config var with a new release, unless the attachment is
    /// gone meanwhile or already carries it.
    pub async fn apply_addon_url(
        &self,
        addon: &AddonName,
        app: &AppName,
        url: String,
    ) -> Result<Option<AppRelease>, StoreError> {
        let (addon, app) = (addon.clone(), app.clone());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let (id, state) = addon_id(&tx, addon.as_str())?;
            let app_row = app_id(&tx, &app)?;
            let row: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT name, applied_url FROM addon_attachments
                     WHERE addon_id = ?1 AND app_id = ?2",
                    params![id, app_row],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((as_name, applied)) = row else {
                return Ok(None);
            };
            if state == AddonState::Destroying || applied.as_deref() == Some(url.as_str()) {
                return Ok(None);
            }
            let key = AttachmentName::parse(&as_name)
                .map_err(|e| corrupt("attachment", e))?
                .config_key();
            let description = match applied {
                None => format!("Attach {addon} ({key})"),
                Some(_) => format!("Update {key} by {addon}"),
            };
            let change = ConfigChange {
                key,
                value: Some(url.clone()),
            };
            let (_, release) = change_config(&tx, app_row, &app, &[change], &description)?;
            tx.execute(
                "UPDATE addon_attachments SET applied_url = ?1 WHERE addon_id = ?2 AND app_id = ?3",
                params![url, id, app_row],
            )?;
            tx.commit()?;
            Ok(Some(AppRelease { app, release }))
        })
        .await
    }

    /// Ends a rotation: the previous credentials stop working with the next round.
    pub async fn finish_rotation(&self, addon: &AddonName) -> Result<(), StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            conn.execute(
                "UPDATE addons SET previous_secret = NULL WHERE name = ?1",
                params![addon.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets an add-on being destroyed once the reconciler removed its data.
    pub async fn forget_addon(&self, addon: &AddonName) -> Result<(), StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM addons WHERE name = ?1 AND state = 'destroying'",
                params![addon.as_str()],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Procfile;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    fn new_addon(service: AddonService, owner: &str) -> NewAddon {
        NewAddon {
            name: None,
            service,
            plan: PlanName::parse("mini").unwrap(),
            owner: app(owner),
            attach_as: service.default_attachment(),
            secret: AddonSecret::generate(),
        }
    }

    async fn deployed(store: &Store, name: &str) {
        store.create_app(app(name)).await.unwrap();
        store
            .create_release(
                app(name),
                Procfile::parse("web: run").unwrap(),
                "Deploy".into(),
                |_| Ok(()),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_addon_is_recorded_with_its_owner_attached_and_named_after_it() {
        let store = Store::open_in_memory().unwrap();
        deployed(&store, "shop").await;
        let pg = store
            .create_addon(new_addon(AddonService::Postgres, "shop"))
            .await
            .unwrap();
        assert_eq!(pg.name.as_str(), "postgresql-shop");
        assert_eq!(pg.state, AddonState::Creating);
        assert_eq!(pg.port, None);
        assert_eq!(pg.owner, Some(app("shop")));
        assert_eq!(pg.attachments[0].name.as_str(), "DATABASE");
        assert_eq!(pg.attachments[0].applied_url, None);
        let second = store
            .create_addon(NewAddon {
                attach_as: AttachmentName::parse("OTHER").unwrap(),
                ..new_addon(AddonService::Postgres, "shop")
            })
            .await
            .unwrap();
        assert_eq!(second.name.as_str(), "postgresql-shop-2");
        let redis = store
            .create_addon(new_addon(AddonService::Redis, "shop"))
            .await
            .unwrap();
        let redis2 = store
            .create_addon(NewAddon {
                attach_as: AttachmentName::parse("CACHE").unwrap(),
                ..new_addon(AddonService::Redis, "shop")
            })
            .await
            .unwrap();
        assert_eq!(redis.port, Some(6380));
        assert_eq!(redis2.port, Some(6381));
        assert_eq!(store.addons().await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn bad_requests_change_nothing() {
        let store = Store::open_in_memory().unwrap();
        deployed(&store, "shop").await;
        store
            .create_addon(new_addon(AddonService::Postgres, "shop"))
            .await
            .unwrap();
        let duplicate_as = store
            .create_addon(new_addon(AddonService::Postgres, "shop"))
            .await
            .unwrap_err();
        assert!(
            duplicate_as.to_string().contains("attached as DATABASE"),
            "{duplicate_as}"
        );
        let taken_name = store
            .create_addon(NewAddon {
                name: Some(AddonName::parse("postgresql-shop").unwrap()),
                attach_as: AttachmentName::parse("X").unwrap(),
                ..new_addon(AddonService::Postgres, "shop")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(taken_name, StoreError::AddonExists(_)),
            "{taken_name}"
        );
        let no_app = store
            .create_addon(new_addon(AddonService::Redis, "nope"))
            .await
            .unwrap_err();
        assert!(matches!(no_app, StoreError::AppNotFound(_)), "{no_app}");
        assert_eq!(store.addons().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn urls_are_set_and_taken_away_with_releases() {
        let store = Store::open_in_memory().unwrap();
        deployed(&store, "shop").await;
        deployed(&store, "blog").await;
        let pg = store
            .create_addon(new_addon(AddonService::Postgres, "shop"))
            .await
            .unwrap();
        store.addon_made(&pg.name, 5433).await.unwrap();
        let set = store
            .apply_addon_url(&pg.name, &app("shop"), "postgres://one".into())
            .await
            .unwrap()
            .unwrap();
        let release = set.release.unwrap();
        assert_eq!(release.version, 2);
        assert_eq!(release.config["DATABASE_URL"], "postgres://one");
        assert_eq!(release.description, "Attach postgresql-shop (DATABASE_URL)");
        let again = store
            .apply_addon_url(&pg.name, &app("shop"), "postgres://one".into())
            .await
            .unwrap();
        assert_eq!(again, None, "an applied URL makes no new release");

        store
            .attach_addon(
                &pg.name,
                &app("blog"),
                AttachmentName::parse("SHARED").unwrap(),
            )
            .await
            .unwrap();
        let twice = store
            .attach_addon(
                &pg.name,
                &app("blog"),
                AttachmentName::parse("AGAIN").unwrap(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(twice, StoreError::AlreadyAttached { .. }),
            "{twice}"
        );
        store
            .apply_addon_url(&pg.name, &app("blog"), "postgres://one".into())
            .await
            .unwrap();
        let detached = store.detach_addon(&pg.name, &app("blog")).await.unwrap();
        let release = detached.release.unwrap();
        assert!(!release.config.contains_key("SHARED_URL"), "{release:?}");
        assert_eq!(release.description, "Detach postgresql-shop (SHARED_URL)");
        let not_attached = store
            .detach_addon(&pg.name, &app("blog"))
            .await
            .unwrap_err();
        assert!(matches!(not_attached, StoreError::NotAttached { .. }));

        let rotated = store
            .rotate_addon_secret(&pg.name, AddonSecret::generate())
            .await
            .unwrap();
        assert_eq!(rotated.credential.generation, 2);
        assert_ne!(rotated.credential.secret, pg.credential.secret);
        assert_eq!(rotated.previous, Some(pg.credential.clone()));
        let twice = store
            .rotate_addon_secret(&pg.name, AddonSecret::generate())
            .await
            .unwrap_err();
        assert!(
            matches!(twice, StoreError::RotationInProgress(_)),
            "{twice}"
        );
        let updated = store
            .apply_addon_url(&pg.name, &app("shop"), "postgres://two".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            updated.release.unwrap().description,
            "Update DATABASE_URL by postgresql-shop"
        );
        store.finish_rotation(&pg.name).await.unwrap();
        let done = store.addon(pg.name.as_str()).await.unwrap();
        assert_eq!((done.previous, done.credential), (None, rotated.credential));
    }

    #[tokio::test]
    async fn destroying_detaches_everywhere_and_the_row_waits_for_the_reconciler() {
        let store = Store::open_in_memory().unwrap();
        deployed(&store, "shop").await;
        deployed(&store, "blog").await;
        let redis = store
            .create_addon(new_addon(AddonService::Redis, "shop"))
            .await
            .unwrap();
        store
            .attach_addon(
                &redis.name,
                &app("blog"),
                AttachmentName::parse("CACHE").unwrap(),
            )
            .await
            .unwrap();
        store.addon_made(&redis.name, 6379).await.unwrap();
        for a in ["shop", "blog"] {
            store
                .apply_addon_url(&redis.name, &app(a), "redis://x".into())
                .await
                .unwrap();
        }
        let released = store.destroy_addon(&redis.name).await.unwrap();
        assert_eq!(released.len(), 2);
        for r in &released {
            let config = &r.release.as_ref().unwrap().config;
            assert!(!config.contains_key("REDIS_URL") && !config.contains_key("CACHE_URL"));
        }
        let record = store.addon(redis.name.as_str()).await.unwrap();
        assert_eq!(record.state, AddonState::Destroying);
        assert!(record.attachments.is_empty());
        let again = store.destroy_addon(&redis.name).await.unwrap_err();
        assert!(matches!(again, StoreError::AddonDestroying(_)), "{again}");
        store.forget_addon(&redis.name).await.unwrap();
        assert!(store.addons().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn destroying_an_app_destroys_its_addons_and_detaches_them_from_others() {
        let store = Store::open_in_memory().unwrap();
        deployed(&store, "shop").await;
        deployed(&store, "blog").await;
        let pg = store
            .create_addon(new_addon(AddonService::Postgres, "shop"))
            .await
            .unwrap();
        let blogs = store
            .create_addon(new_addon(AddonService::Postgres, "blog"))
            .await
            .unwrap();
        store
            .attach_addon(
                &pg.name,
                &app("blog"),
                AttachmentName::parse("SHOP").unwrap(),
            )
            .await
            .unwrap();
        store
            .attach_addon(
                &blogs.name,
                &app("shop"),
                AttachmentName::parse("BLOG").unwrap(),
            )
            .await
            .unwrap();
        store.addon_made(&pg.name, 5433).await.unwrap();
        store
            .apply_addon_url(&pg.name, &app("blog"), "postgres://shop".into())
            .await
            .unwrap();
        store.delete_app(&app("shop")).await.unwrap();
        let pg = store.addon(pg.name.as_str()).await.unwrap();
        assert_eq!(pg.state, AddonState::Destroying);
        assert_eq!(pg.owner, None);
        assert!(pg.attachments.is_empty());
        let blog_config = store.config(&app("blog")).await.unwrap();
        assert!(!blog_config.contains_key("SHOP_URL"), "{blog_config:?}");
        let blogs = store.addon(blogs.name.as_str()).await.unwrap();
        assert_eq!(blogs.state, AddonState::Creating);
        assert_eq!(
            blogs.attachments.len(),
            1,
            "shop's attachment went with shop"
        );
    }
}
