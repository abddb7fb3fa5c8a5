//! Apps' private networks: each app's slot in the `dyno_network` range (handed out lowest free
//! first, kept for the app's life) and whether its dynos reach the internet.

use rusqlite::params;

use super::db::{app_id, stored_app_name, Store, StoreError};
use crate::model::{AppName, AppNetwork, NetworkSlot};

/// Every app's network after slots were handed out, and the apps the range has no room for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks {
    pub networks: Vec<AppNetwork>,
    pub unplaced: Vec<AppName>,
}

/// An app's egress as stored: its own choice, if it made one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressSetting(pub Option<bool>);

impl EgressSetting {
    pub fn effective(self, default: bool) -> bool {
        self.0.unwrap_or(default)
    }
}

impl Store {
    /// Gives every app without a slot the lowest free one below `capacity`, in one transaction,
    /// and returns every app's network (egress resolved against `default_egress`).
    pub async fn assign_networks(
        &self,
        capacity: u32,
        default_egress: bool,
    ) -> Result<Networks, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let rows: Vec<(i64, String, Option<u32>, Option<bool>)> = {
                let mut stmt =
                    tx.prepare("SELECT id, name, network_slot, dyno_egress FROM apps ORDER BY id")?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut taken: Vec<NetworkSlot> = rows
                .iter()
                .filter_map(|row| row.2.map(NetworkSlot::new))
                .collect();
            let mut out = Networks::default();
            for (id, name, slot, egress) in rows {
                let app = stored_app_name(&name)?;
                let slot = match slot.map(NetworkSlot::new) {
                    Some(slot) => slot,
                    None => match NetworkSlot::lowest_free(&taken, capacity) {
                        Some(slot) => {
                            tx.execute(
                                "UPDATE apps SET network_slot = ?1 WHERE id = ?2",
                                params![slot.index(), id],
                            )?;
                            taken.push(slot);
                            slot
                        }
                        None => {
                            out.unplaced.push(app);
                            continue;
                        }
                    },
                };
                out.networks.push(AppNetwork {
                    app,
                    slot,
                    egress: EgressSetting(egress).effective(default_egress),
                });
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Whether `app`'s dynos reach the internet: `Some` sets its own choice, `None` returns it
    /// to the server's default.
    pub async fn set_dyno_egress(
        &self,
        app: &AppName,
        egress: EgressSetting,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                "UPDATE apps SET dyno_egress = ?1 WHERE id = ?2",
                params![egress.0, id],
            )?;
            Ok(())
        })
        .await
    }

    /// `app`'s slot (none until the reconciler hands one out) and its own egress choice.
    pub async fn app_network(
        &self,
        app: &AppName,
    ) -> Result<(Option<NetworkSlot>, EgressSetting), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let (slot, egress): (Option<u32>, Option<bool>) = conn.query_row(
                "SELECT network_slot, dyno_egress FROM apps WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((slot.map(NetworkSlot::new), EgressSetting(egress)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with(apps: &[&str]) -> Store {
        let store = Store::open_in_memory().unwrap();
        for app in apps {
            store.create_app(name(app)).await.unwrap();
        }
        store
    }

    fn name(app: &str) -> AppName {
        AppName::parse(app).unwrap()
    }

    #[tokio::test]
    async fn slots_are_handed_out_once_lowest_free_first() {
        let store = store_with(&["aaa", "bbb", "ccc"]).await;
        let first = store.assign_networks(16, true).await.unwrap();
        let slots: Vec<(String, u32)> = first
            .networks
            .iter()
            .map(|n| (n.app.to_string(), n.slot.index()))
            .collect();
        assert_eq!(
            slots,
            [("aaa".into(), 0), ("bbb".into(), 1), ("ccc".into(), 2)]
        );
        assert_eq!(store.assign_networks(16, true).await.unwrap(), first);
        store.delete_app(&name("bbb")).await.unwrap();
        store.create_app(name("ddd")).await.unwrap();
        let again = store.assign_networks(16, true).await.unwrap();
        let ddd = again
            .networks
            .iter()
            .find(|n| n.app == name("ddd"))
            .unwrap();
        assert_eq!(ddd.slot.index(), 1, "the freed slot is reused");
    }

    #[tokio::test]
    async fn apps_beyond_the_range_stay_unplaced() {
        let store = store_with(&["aaa", "bbb"]).await;
        let networks = store.assign_networks(1, true).await.unwrap();
        assert_eq!(networks.networks.len(), 1);
        assert_eq!(networks.unplaced, [name("bbb")]);
    }

    #[tokio::test]
    async fn egress_follows_the_default_until_the_app_chooses() {
        let store = store_with(&["aaa"]).await;
        let egress = |n: &Networks| n.networks[0].egress;
        assert!(egress(&store.assign_networks(4, true).await.unwrap()));
        assert!(!egress(&store.assign_networks(4, false).await.unwrap()));
        store
            .set_dyno_egress(&name("aaa"), EgressSetting(Some(false)))
            .await
            .unwrap();
        assert!(!egress(&store.assign_networks(4, true).await.unwrap()));
        let (slot, setting) = store.app_network(&name("aaa")).await.unwrap();
        assert_eq!(
            (slot, setting),
            (Some(NetworkSlot::new(0)), EgressSetting(Some(false)))
        );
        store
            .set_dyno_egress(&name("aaa"), EgressSetting(None))
            .await
            .unwrap();
        assert!(egress(&store.assign_networks(4, true).await.unwrap()));
        assert!(matches!(
            store
                .set_dyno_egress(&name("nope"), EgressSetting(None))
                .await,
            Err(StoreError::AppNotFound(_))
        ));
    }
}
