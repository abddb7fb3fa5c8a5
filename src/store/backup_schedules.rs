//! Add-ons' backup schedules: at most one per add-on, the daily time and how many scheduled
//! backups retention keeps. The reconciler makes one systemd timer of each.

use rusqlite::{params, OptionalExtension};

use super::db::{corrupt, live_addon_id, Store, StoreError, NOW};
use crate::model::{AddonName, BackupSchedule, Retention};

/// One add-on's schedule as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub addon: AddonName,
    pub at: BackupSchedule,
    pub keep: Retention,
}

fn read_row(r: &rusqlite::Row<'_>) -> Result<ScheduleRecord, StoreError> {
    let (name, at): (String, String) = (r.get(0)?, r.get(1)?);
    Ok(ScheduleRecord {
        addon: AddonName::parse(&name).map_err(|e| corrupt("schedule's add-on", e))?,
        at: BackupSchedule::parse(&at).map_err(|e| corrupt("backup schedule", e))?,
        keep: Retention::new(r.get(2)?, r.get(3)?).map_err(|e| corrupt("retention", e))?,
    })
}

const SELECT: &str = "SELECT a.name, s.at, s.keep_daily, s.keep_weekly \
                      FROM backup_schedules s JOIN addons a ON a.id = s.addon_id";

impl Store {
    /// Sets (or replaces) the add-on's backup schedule; refused for an add-on being destroyed.
    pub async fn set_backup_schedule(
        &self,
        addon: &AddonName,
        at: BackupSchedule,
        keep: Retention,
    ) -> Result<ScheduleRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let id = live_addon_id(conn, &addon)?;
            conn.execute(
                &format!(
                    "INSERT INTO backup_schedules (addon_id, at, keep_daily, keep_weekly, created_at)
                     VALUES (?1, ?2, ?3, ?4, {NOW})
                     ON CONFLICT (addon_id) DO UPDATE SET at = excluded.at,
                        keep_daily = excluded.keep_daily, keep_weekly = excluded.keep_weekly"
                ),
                params![id, at.to_string(), keep.daily(), keep.weekly()],
            )?;
            Ok(ScheduleRecord { addon, at, keep })
        })
        .await
    }

    /// Removes the add-on's schedule; its backups stay.
    pub async fn remove_backup_schedule(
        &self,
        addon: &AddonName,
    ) -> Result<ScheduleRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = live_addon_id(&tx, &addon)?;
            let record = tx
                .query_row(
                    &format!("{SELECT} WHERE s.addon_id = ?1"),
                    params![id],
                    |r| Ok(read_row(r)),
                )
                .optional()?
                .ok_or_else(|| StoreError::NoBackupSchedule(addon.clone()))??;
            tx.execute(
                "DELETE FROM backup_schedules WHERE addon_id = ?1",
                params![id],
            )?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// The add-on's schedule, if it has one.
    pub async fn backup_schedule(
        &self,
        addon: &AddonName,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        Ok(self
            .backup_schedules()
            .await?
            .into_iter()
            .find(|s| &s.addon == addon))
    }

    /// The schedules of every add-on not being destroyed, ordered by add-on name.
    pub async fn backup_schedules(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(&format!(
                "{SELECT} WHERE a.state != 'destroying' ORDER BY a.name"
            ))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(read_row(row)?);
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backups::tests::store_with_addon;

    #[tokio::test]
    async fn a_schedule_is_set_replaced_listed_and_removed() {
        let (store, addon) = store_with_addon().await;
        assert_eq!(store.backup_schedule(&addon).await.unwrap(), None);
        assert!(matches!(
            store.remove_backup_schedule(&addon).await,
            Err(StoreError::NoBackupSchedule(_))
        ));
        let at = BackupSchedule::parse("02:00 Europe/Berlin").unwrap();
        let keep = Retention::new(7, 4).unwrap();
        store
            .set_backup_schedule(&addon, at.clone(), keep)
            .await
            .unwrap();
        let later = BackupSchedule::parse("03:30").unwrap();
        let fewer = Retention::new(2, 0).unwrap();
        store
            .set_backup_schedule(&addon, later.clone(), fewer)
            .await
            .unwrap();
        let expected = ScheduleRecord {
            addon: addon.clone(),
            at: later,
            keep: fewer,
        };
        assert_eq!(
            store.backup_schedules().await.unwrap(),
            vec![expected.clone()]
        );
        assert_eq!(
            store.remove_backup_schedule(&addon).await.unwrap(),
            expected
        );
        assert_eq!(store.backup_schedules().await.unwrap(), Vec::new());
        let missing = AddonName::parse("postgresql-gone").unwrap();
        assert!(store.set_backup_schedule(&missing, at, keep).await.is_err());
    }
}
