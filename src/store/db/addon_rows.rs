//! Rows of `addon_attachments` that change apps' config: taking attachments away (detach,
//! destroy, an owner app destroyed), each with a new release of the app whose URL went.

use rusqlite::{params, OptionalExtension, Transaction};

use super::release_rows::change_config;
use super::{corrupt, stored_app_name, StoreError};
use crate::model::{AddonName, AddonState, AppName, AttachmentName, ConfigChange, ReleaseRecord};

/// An app's release after one of its config vars changed because of an add-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRelease {
    pub app: AppName,
    pub release: Option<ReleaseRecord>,
}

/// Removes every attachment of `addon_id` (or only `app`'s), taking the URL out of each app's
/// config with a new release where it was set.
pub(crate) fn remove_attachments(
    tx: &Transaction,
    addon: &AddonName,
    addon_id: i64,
    only_app: Option<i64>,
) -> Result<Vec<AppRelease>, StoreError> {
    let rows: Vec<(i64, String, String, Option<String>)> = {
        let mut stmt = tx.prepare(
            "SELECT t.app_id, a.name, t.name, t.applied_url FROM addon_attachments t
             JOIN apps a ON a.id = t.app_id
             WHERE t.addon_id = ?1 AND (?2 IS NULL OR t.app_id = ?2)",
        )?;
        let rows = stmt.query_map(params![addon_id, only_app], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for (app_row, app, as_name, applied) in rows {
        let app = stored_app_name(&app)?;
        let key = AttachmentName::parse(&as_name)
            .map_err(|e| corrupt("attachment", e))?
            .config_key();
        tx.execute(
            "DELETE FROM addon_attachments WHERE addon_id = ?1 AND app_id = ?2",
            params![addon_id, app_row],
        )?;
        let release = match applied {
            Some(_) => {
                let change = ConfigChange {
                    key: key.clone(),
                    value: None,
                };
                let description = format!("Detach {addon} ({key})");
                change_config(tx, app_row, &app, &[change], &description)?.1
            }
            None => None,
        };
        out.push(AppRelease { app, release });
    }
    Ok(out)
}

/// Marks the add-ons `app_row` owns as being destroyed and detaches them from every app.
pub(crate) fn destroy_owned_addons(
    tx: &Transaction,
    app_row: i64,
) -> Result<Vec<AppRelease>, StoreError> {
    let owned: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT id, name FROM addons WHERE owner_app_id = ?1")?;
        let rows = stmt.query_map(params![app_row], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for (id, name) in owned {
        let name = AddonName::parse(&name).map_err(|e| corrupt("add-on", e))?;
        out.extend(remove_attachments(tx, &name, id, None)?);
        tx.execute(
            "UPDATE addons SET state = 'destroying' WHERE id = ?1",
            params![id],
        )?;
    }
    Ok(out)
}

pub(crate) fn addon_id(
    tx: &rusqlite::Connection,
    name: &str,
) -> Result<(i64, AddonState), StoreError> {
    let row: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, state FROM addons WHERE name = ?1",
            params![name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (id, state) = row.ok_or_else(|| StoreError::AddonNotFound(name.to_owned()))?;
    let state = AddonState::parse(&state).ok_or_else(|| corrupt("add-on state", &state))?;
    Ok((id, state))
}

/// The add-on's id, refusing one that is being destroyed.
pub(crate) fn live_addon_id(
    tx: &rusqlite::Connection,
    name: &AddonName,
) -> Result<i64, StoreError> {
    match addon_id(tx, name.as_str())? {
        (_, AddonState::Destroying) => Err(StoreError::AddonDestroying(name.clone())),
        (id, _) => Ok(id),
    }
}
