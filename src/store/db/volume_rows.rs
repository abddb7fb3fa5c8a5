//! Reading an app's volumes: the rows both the volume verbs and the desired state use.

use rusqlite::{params, Connection};

use super::{corrupt, StoreError};
use crate::config::ByteSize;
use crate::model::{MountPath, VolumeName, VolumeRecord};

/// The app's volumes that are not being destroyed, by name.
pub(crate) fn volumes_of(conn: &Connection, app_id: i64) -> Result<Vec<VolumeRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name, mount, size_bytes, created_at FROM volumes
         WHERE app_id = ?1 AND state = 'ready' ORDER BY name",
    )?;
    let rows = stmt.query_map(params![app_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<u64>>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (name, mount, size, created_at) = row?;
        Ok(VolumeRecord {
            name: VolumeName::parse(&name).map_err(|e| corrupt("volume name", e))?,
            mount: MountPath::parse(&mount).map_err(|e| corrupt("volume mount", e))?,
            size: size.map(ByteSize),
            created_at,
        })
    })
    .collect()
}
