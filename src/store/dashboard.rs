//! The dashboard's rows: one-time login links and sessions, each kept only as the hash of its
//! secret, so a copy of the database logs nobody in.

use rusqlite::{params, OptionalExtension};

use super::db::{Store, StoreError};
use crate::model::TokenHash;

/// A live dashboard session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires_at: i64,
}

impl Store {
    /// Keeps a new login link until `expires_at`, and forgets links and sessions past theirs.
    pub async fn add_login_link(
        &self,
        hash: TokenHash,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM dashboard_links WHERE expires_at <= ?1",
                params![now],
            )?;
            tx.execute(
                "DELETE FROM dashboard_sessions WHERE expires_at <= ?1",
                params![now],
            )?;
            tx.execute(
                "INSERT INTO dashboard_links (hash, expires_at) VALUES (?1, ?2)",
                params![hash.as_str(), expires_at],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Uses a login link and opens a session in one transaction; false when the link is
    /// unknown, used or expired (then nothing changes).
    pub async fn use_login_link(
        &self,
        link: TokenHash,
        session: TokenHash,
        csrf: String,
        now: i64,
        session_expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let used = tx.execute(
                "UPDATE dashboard_links SET used_at = ?2
                 WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![link.as_str(), now],
            )?;
            if used == 1 {
                insert_session(&tx, &session, &csrf, now, session_expires_at)?;
            }
            tx.commit()?;
            Ok(used == 1)
        })
        .await
    }

    /// Opens a session for a caller who presented a valid API token.
    pub async fn add_session(
        &self,
        session: TokenHash,
        csrf: String,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.call(move |conn| insert_session(conn, &session, &csrf, now, expires_at))
            .await
    }

    /// The session with this hash, while it has not expired.
    pub async fn session(
        &self,
        hash: TokenHash,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT csrf, expires_at FROM dashboard_sessions
                     WHERE hash = ?1 AND expires_at > ?2",
                    params![hash.as_str(), now],
                    |r| {
                        Ok(SessionRecord {
                            csrf: r.get(0)?,
                            expires_at: r.get(1)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Ends one session (logging out); ending an unknown one is no error.
    pub async fn end_session(&self, hash: TokenHash) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE hash = ?1",
                params![hash.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    /// Ends every session and unused link; how many sessions were live.
    pub async fn end_all_sessions(&self, now: i64) -> Result<usize, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let live = tx.execute(
                "DELETE FROM dashboard_sessions WHERE expires_at > ?1",
                params![now],
            )?;
            tx.execute("DELETE FROM dashboard_sessions", [])?;
            tx.execute("DELETE FROM dashboard_links", [])?;
            tx.commit()?;
            Ok(live)
        })
        .await
    }
}

fn insert_session(
    conn: &rusqlite::Connection,
    hash: &TokenHash,
    csrf: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO dashboard_sessions (hash, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash.as_str(), csrf, now, expires_at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiToken;

    fn hash(secret: &str) -> TokenHash {
        ApiToken::presented(secret).hash()
    }

    #[tokio::test]
    async fn a_link_opens_one_session_once_before_it_expires() {
        let store = Store::open_in_memory().unwrap();
        store.add_login_link(hash("link"), 100, 400).await.unwrap();
        store.add_login_link(hash("old"), 100, 200).await.unwrap();
        let first = store.use_login_link(hash("link"), hash("s1"), "c1".into(), 150, 1000);
        assert!(first.await.unwrap());
        let again = store.use_login_link(hash("link"), hash("s2"), "c2".into(), 160, 1000);
        assert!(!again.await.unwrap(), "a used link opens nothing");
        let late = store.use_login_link(hash("old"), hash("s3"), "c3".into(), 200, 1000);
        assert!(!late.await.unwrap(), "an expired link opens nothing");
        let unknown = store.use_login_link(hash("nope"), hash("s4"), "c4".into(), 150, 1000);
        assert!(!unknown.await.unwrap());
        assert_eq!(
            store.session(hash("s1"), 999).await.unwrap(),
            Some(SessionRecord {
                csrf: "c1".into(),
                expires_at: 1000
            })
        );
        for refused in ["s2", "s3", "s4"] {
            assert_eq!(store.session(hash(refused), 170).await.unwrap(), None);
        }
        assert_eq!(
            store.session(hash("s1"), 1000).await.unwrap(),
            None,
            "expired"
        );
    }

    #[tokio::test]
    async fn sessions_end_alone_or_all_together() {
        let store = Store::open_in_memory().unwrap();
        for s in ["a", "b", "c"] {
            store
                .add_session(hash(s), "x".into(), 0, 100)
                .await
                .unwrap();
        }
        store
            .add_session(hash("gone"), "x".into(), 0, 10)
            .await
            .unwrap();
        store.end_session(hash("a")).await.unwrap();
        assert_eq!(store.session(hash("a"), 50).await.unwrap(), None);
        assert!(store.session(hash("b"), 50).await.unwrap().is_some());
        store.add_login_link(hash("l"), 50, 500).await.unwrap();
        assert_eq!(store.end_all_sessions(50).await.unwrap(), 2);
        assert_eq!(store.session(hash("c"), 50).await.unwrap(), None);
        let link = store.use_login_link(hash("l"), hash("d"), "x".into(), 60, 100);
        assert!(
            !link.await.unwrap(),
            "ending all sessions voids unused links"
        );
    }
}
