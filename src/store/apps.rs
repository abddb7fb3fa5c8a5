//! Apps and API tokens.

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{app_id, corrupt, destroy_owned_addons, stored_app_name, Store, StoreError, NOW};
use crate::model::{AppName, SleepState, TokenHash, TokenName};

/// An app as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub name: AppName,
    pub created_at: String,
    pub sleep: SleepState,
    /// When it fell asleep (Unix milliseconds), while it sleeps or wakes.
    pub sleeping_since_ms: Option<i64>,
}

/// The columns an [`AppRecord`] is read from.
const APP_COLUMNS: &str = "name, created_at, sleep_state, sleep_since";

type AppRow = (String, String, String, Option<i64>);

fn app_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AppRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn app_record((name, created_at, sleep, since): AppRow) -> Result<AppRecord, StoreError> {
    let sleep = SleepState::parse(&sleep).ok_or_else(|| corrupt("sleep state", &sleep))?;
    Ok(AppRecord {
        name: stored_app_name(&name)?,
        created_at,
        sleep,
        sleeping_since_ms: since.filter(|_| sleep.holds_requests()),
    })
}

/// A token's metadata; the secret itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: TokenName,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl Store {
    pub async fn create_app(&self, name: AppName) -> Result<AppRecord, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let inserted = tx.execute(
                &format!("INSERT INTO apps (name, created_at) VALUES (?1, {NOW}) ON CONFLICT (name) DO NOTHING"),
                params![name.as_str()],
            )?;
            if inserted == 0 {
                return Err(StoreError::AppExists(name));
            }
            // The name is this app's now, no longer a renamed app's former one.
            tx.execute(
                "DELETE FROM app_former_names WHERE name = ?1",
                params![name.as_str()],
            )?;
            let record = get_app(&tx, name.as_str())?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// Gives app `old` the name `new` and remembers `old` as its former name, in one transaction.
    /// Everything else the app has is keyed by its row, not its name.
    pub async fn rename_app(&self, old: &AppName, new: &AppName) -> Result<AppRecord, StoreError> {
        let (old, new) = (old.clone(), new.clone());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &old)?;
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM apps WHERE name = ?1)",
                params![new.as_str()],
                |r| r.get(0),
            )?;
            if taken {
                return Err(StoreError::AppExists(new));
            }
            tx.execute(
                "UPDATE apps SET name = ?1 WHERE id = ?2",
                params![new.as_str(), id],
            )?;
            tx.execute(
                "DELETE FROM app_former_names WHERE name = ?1",
                params![new.as_str()],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO app_former_names (name, app_id, renamed_at) VALUES (?1, ?2, {NOW})
                     ON CONFLICT (name) DO UPDATE SET app_id = excluded.app_id, renamed_at = excluded.renamed_at"
                ),
                params![old.as_str(), id],
            )?;
            let record = get_app(&tx, new.as_str())?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// The names `app` had before, the most recent first.
    pub async fn former_names(&self, app: &AppName) -> Result<Vec<AppName>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let mut stmt = conn.prepare(
                "SELECT name FROM app_former_names WHERE app_id = ?1 ORDER BY renamed_at DESC, name",
            )?;
            let names = stmt.query_map(params![id], |r| r.get::<_, String>(0))?;
            names.map(|n| stored_app_name(&n?)).collect()
        })
        .await
    }

    /// Every former name with the app's name now: `(old, current)`.
    pub async fn renames(&self) -> Result<Vec<(AppName, AppName)>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT f.name, a.name FROM app_former_names f JOIN apps a ON a.id = f.app_id ORDER BY f.name",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            rows.map(|row| {
                let (old, new) = row?;
                Ok((stored_app_name(&old)?, stored_app_name(&new)?))
            })
            .collect()
        })
        .await
    }

    pub async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.call(|conn| {
            let mut stmt =
                conn.prepare(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY name"))?;
            let rows = stmt.query_map([], app_row)?;
            rows.map(|row| app_record(row?)).collect()
        })
        .await
    }

    /// Looks an app up by the name a client sent: one that is not a valid name is not found
    /// either.
    pub async fn get_app(&self, name: &str) -> Result<AppRecord, StoreError> {
        let name = name.to_owned();
        self.call(move |conn| get_app(conn, &name)).await
    }

    pub async fn delete_app(&self, name: &AppName) -> Result<(), StoreError> {
        let name = name.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &name)?;
            destroy_owned_addons(&tx, id)?;
            tx.execute("DELETE FROM apps WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn create_token(
        &self,
        name: TokenName,
        hash: TokenHash,
    ) -> Result<TokenRecord, StoreError> {
        self.call(move |conn| {
            let inserted = conn.execute(
                &format!("INSERT INTO api_tokens (name, hash, created_at) VALUES (?1, ?2, {NOW}) ON CONFLICT (name) DO NOTHING"),
                params![name.as_str(), hash.as_str()],
            )?;
            if inserted == 0 {
                return Err(StoreError::TokenExists(name));
            }
            let created_at = conn.query_row(
                "SELECT created_at FROM api_tokens WHERE name = ?1",
                params![name.as_str()],
                |r| r.get(0),
            )?;
            Ok(TokenRecord {
                name,
                created_at,
                last_used_at: None,
            })
        })
        .await
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn
                .prepare("SELECT name, created_at, last_used_at FROM api_tokens ORDER BY name")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
            rows.map(|row| {
                let (name, created_at, last_used_at) = row?;
                let name = TokenName::parse(&name)
                    .map_err(|e| StoreError::Task(format!("corrupt token row: {e}")))?;
                Ok(TokenRecord {
                    name,
                    created_at,
                    last_used_at,
                })
            })
            .collect()
        })
        .await
    }

    pub async fn revoke_token(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.call(move |conn| {
            match conn.execute("DELETE FROM api_tokens WHERE name = ?1", params![name])? {
                0 => Err(StoreError::TokenNotFound(name)),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Looks a presented token up by its hash and records its use; `None` when it matches none.
    pub async fn authenticate_token(
        &self,
        hash: TokenHash,
    ) -> Result<Option<TokenName>, StoreError> {
        self.call(move |conn| {
            let name: Option<String> = conn
                .query_row(
                    &format!(
                        "UPDATE api_tokens SET last_used_at = {NOW} WHERE hash = ?1 RETURNING name"
                    ),
                    params![hash.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            name.map(|n| {
                TokenName::parse(&n)
                    .map_err(|e| StoreError::Task(format!("corrupt token row: {e}")))
            })
            .transpose()
        })
        .await
    }
}

fn get_app(conn: &Connection, name: &str) -> Result<AppRecord, StoreError> {
    let row: Option<AppRow> = conn
        .query_row(
            &format!("SELECT {APP_COLUMNS} FROM apps WHERE name = ?1"),
            params![name],
            app_row,
        )
        .optional()?;
    app_record(row.ok_or_else(|| StoreError::AppNotFound(name.to_owned()))?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::model::ApiToken;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    #[tokio::test]
    async fn apps_round_trip() {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("beta")).await.unwrap();
        let alpha = store.create_app(app("alpha")).await.unwrap();
        assert_eq!(alpha.name, app("alpha"));
        assert!(alpha.created_at.ends_with('Z'));
        let names: Vec<_> = store
            .list_apps()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, vec![app("alpha"), app("beta")]);
        assert!(matches!(
            store.create_app(app("alpha")).await,
            Err(StoreError::AppExists(_))
        ));
        store.delete_app(&app("alpha")).await.unwrap();
        assert!(matches!(
            store.get_app("alpha").await,
            Err(StoreError::AppNotFound(_))
        ));
        assert!(matches!(
            store.delete_app(&app("alpha")).await,
            Err(StoreError::AppNotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_rename_keeps_the_row_and_remembers_the_old_name() {
        let store = Store::open_in_memory().unwrap();
        let created = store.create_app(app("shop")).await.unwrap();
        store.create_app(app("blog")).await.unwrap();
        assert!(
            matches!(
                store.rename_app(&app("shop"), &app("blog")).await,
                Err(StoreError::AppExists(_))
            ),
            "a taken name is refused"
        );
        assert!(matches!(
            store.rename_app(&app("nope"), &app("other")).await,
            Err(StoreError::AppNotFound(_))
        ));
        assert_eq!(
            store.renames().await.unwrap(),
            vec![],
            "a refusal changes nothing"
        );
        let renamed = store.rename_app(&app("shop"), &app("store")).await.unwrap();
        assert_eq!(renamed.name, app("store"));
        assert_eq!(renamed.created_at, created.created_at, "the same app");
        assert!(matches!(
            store.get_app("shop").await,
            Err(StoreError::AppNotFound(_))
        ));
        assert_eq!(
            store.former_names(&app("store")).await.unwrap(),
            vec![app("shop")]
        );
        assert_eq!(
            store.renames().await.unwrap(),
            vec![(app("shop"), app("store"))]
        );
        store
            .rename_app(&app("store"), &app("market"))
            .await
            .unwrap();
        let mut former = store.former_names(&app("market")).await.unwrap();
        former.sort();
        assert_eq!(former, vec![app("shop"), app("store")]);
        // Renamed back: the name is its own again, not a former one.
        store
            .rename_app(&app("market"), &app("shop"))
            .await
            .unwrap();
        let mut former = store.former_names(&app("shop")).await.unwrap();
        former.sort();
        assert_eq!(former, vec![app("market"), app("store")]);
        // A new app taking a former name takes it whole.
        store.create_app(app("store")).await.unwrap();
        assert_eq!(
            store.former_names(&app("shop")).await.unwrap(),
            vec![app("market")]
        );
        assert_eq!(store.former_names(&app("store")).await.unwrap(), vec![]);
        store.delete_app(&app("shop")).await.unwrap();
        assert_eq!(store.renames().await.unwrap(), vec![], "gone with the app");
    }

    #[tokio::test]
    async fn tokens_authenticate_by_hash_until_revoked() {
        let store = Store::open_in_memory().unwrap();
        let token = ApiToken::generate();
        let name = TokenName::parse("ci").unwrap();
        store
            .create_token(name.clone(), token.hash())
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_token(name.clone(), ApiToken::generate().hash())
                .await,
            Err(StoreError::TokenExists(_))
        ));
        assert_eq!(
            store.authenticate_token(token.hash()).await.unwrap(),
            Some(name.clone())
        );
        assert_eq!(
            store
                .authenticate_token(ApiToken::presented("x").hash())
                .await
                .unwrap(),
            None
        );
        let listed = store.list_tokens().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        store.revoke_token("ci").await.unwrap();
        assert_eq!(store.authenticate_token(token.hash()).await.unwrap(), None);
        assert!(matches!(
            store.revoke_token("ci").await,
            Err(StoreError::TokenNotFound(_))
        ));
    }

    #[tokio::test]
    async fn file_database_is_private_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        Store::open(&path)
            .unwrap()
            .create_app(app("keep"))
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let reopened = Store::open(&path).unwrap();
        assert_eq!(reopened.get_app("keep").await.unwrap().name, app("keep"));
    }
}
