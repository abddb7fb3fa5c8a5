//! SSH public keys allowed to `git push`, identified by their fingerprint.

use rusqlite::params;

use super::db::{Store, StoreError, NOW};
use crate::model::SshPublicKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: SshPublicKey,
    pub fingerprint: String,
    pub created_at: String,
}

impl Store {
    pub async fn add_key(&self, key: SshPublicKey) -> Result<KeyRecord, StoreError> {
        self.call(move |conn| {
            let fingerprint = key.fingerprint();
            let inserted = conn.execute(
                &format!(
                    "INSERT INTO ssh_keys (fingerprint, public_key, created_at) VALUES (?1, ?2, {NOW})
                     ON CONFLICT (fingerprint) DO NOTHING"
                ),
                params![fingerprint, key.to_line()],
            )?;
            if inserted == 0 {
                return Err(StoreError::KeyExists(fingerprint));
            }
            let created_at = conn.query_row(
                "SELECT created_at FROM ssh_keys WHERE fingerprint = ?1",
                params![fingerprint],
                |r| r.get(0),
            )?;
            Ok(KeyRecord { key, fingerprint, created_at })
        })
        .await
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn
                .prepare("SELECT public_key, fingerprint, created_at FROM ssh_keys ORDER BY id")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
            rows.map(|row| {
                let (line, fingerprint, created_at) = row?;
                let key = SshPublicKey::parse(&line)
                    .map_err(|e| StoreError::Task(format!("corrupt SSH key {fingerprint}: {e}")))?;
                Ok(KeyRecord {
                    key,
                    fingerprint,
                    created_at,
                })
            })
            .collect()
        })
        .await
    }

    /// Removes the key with this fingerprint, or the one whose comment is exactly `which`.
    pub async fn remove_key(&self, which: &str) -> Result<KeyRecord, StoreError> {
        let which = which.to_owned();
        let keys = self.list_keys().await?;
        let matching: Vec<&KeyRecord> = keys
            .iter()
            .filter(|k| k.fingerprint == which || k.key.comment == which)
            .collect();
        let found = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(StoreError::KeyNotFound(which)),
            _ => return Err(StoreError::KeyAmbiguous(which)),
        };
        let fingerprint = found.fingerprint.clone();
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM ssh_keys WHERE fingerprint = ?1",
                params![fingerprint],
            )?;
            Ok(())
        })
        .await?;
        Ok(found)
    }
}
