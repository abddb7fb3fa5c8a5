//! Rows of `formation`, `dyno_holds` and `dyno_generations`.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, Transaction};

use super::{corrupt, StoreError};
use crate::model::{DynoFilter, DynoName, DynoSize, Formation, Hold, HoldReason, ProcessType};

pub(crate) fn formation_of(
    conn: &Connection,
    app_id: i64,
) -> Result<BTreeMap<ProcessType, (u32, DynoSize)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT process_type, quantity, memory_bytes, cpu_percent, tasks FROM formation WHERE app_id = ?1",
    )?;
    let rows = stmt.query_map(params![app_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            DynoSize {
                memory_bytes: r.get(2)?,
                cpu_percent: r.get(3)?,
                tasks: r.get(4)?,
            },
        ))
    })?;
    rows.map(|row| {
        let (t, n, size) = row?;
        Ok((
            ProcessType::parse(&t).map_err(|e| corrupt("formation", e))?,
            (n, size),
        ))
    })
    .collect()
}

/// The app's dyno counts by process type (without sizes).
pub(crate) fn current_formation(conn: &Connection, app_id: i64) -> Result<Formation, StoreError> {
    Ok(Formation::from_counts(
        formation_of(conn, app_id)?
            .into_iter()
            .map(|(t, (n, _))| (t, n)),
    ))
}

pub(crate) fn write_formation(
    tx: &Transaction,
    app_id: i64,
    formation: &Formation,
) -> Result<(), StoreError> {
    let kept: Vec<String> = formation.iter().map(|(t, _)| t.to_string()).collect();
    let mut stmt = tx.prepare("SELECT process_type FROM formation WHERE app_id = ?1")?;
    let existing: Vec<String> = stmt
        .query_map(params![app_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for gone in existing.iter().filter(|t| !kept.contains(t)) {
        tx.execute(
            "DELETE FROM formation WHERE app_id = ?1 AND process_type = ?2",
            params![app_id, gone],
        )?;
    }
    for (t, n) in formation.iter() {
        tx.execute(
            "INSERT INTO formation (app_id, process_type, quantity) VALUES (?1, ?2, ?3)
             ON CONFLICT (app_id, process_type) DO UPDATE SET quantity = excluded.quantity",
            params![app_id, t.as_str(), n],
        )?;
    }
    Ok(())
}

pub(crate) fn clear_holds(
    tx: &Connection,
    app_id: i64,
    filter: &DynoFilter,
) -> Result<(), StoreError> {
    match filter {
        DynoFilter::All => {
            tx.execute("DELETE FROM dyno_holds WHERE app_id = ?1", params![app_id])?
        }
        DynoFilter::Type(t) => tx.execute(
            "DELETE FROM dyno_holds WHERE app_id = ?1 AND process_type = ?2",
            params![app_id, t.as_str()],
        )?,
        DynoFilter::One(d) => tx.execute(
            "DELETE FROM dyno_holds WHERE app_id = ?1 AND process_type = ?2 AND idx = ?3",
            params![app_id, d.process_type.as_str(), d.index],
        )?,
    };
    Ok(())
}

/// Restart generations of an app's dynos.
pub(crate) fn generations_of(
    conn: &Connection,
    app_id: i64,
) -> Result<BTreeMap<DynoName, u32>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT process_type, idx, generation FROM dyno_generations WHERE app_id = ?1")?;
    let rows = stmt.query_map(params![app_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get(2)?))
    })?;
    rows.map(|row| {
        let (t, idx, generation) = row?;
        let dyno = DynoName::parse(&format!("{t}.{idx}")).map_err(|e| corrupt("generation", e))?;
        Ok((dyno, generation))
    })
    .collect()
}

/// The app's holds, by dyno.
pub(crate) fn holds_of(conn: &Connection, app_id: i64) -> Result<Vec<Hold>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT process_type, idx, reason, since FROM dyno_holds WHERE app_id = ?1 ORDER BY process_type, idx",
    )?;
    let rows = stmt.query_map(params![app_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get(3)?,
        ))
    })?;
    rows.map(|row| {
        let (t, idx, reason, since) = row?;
        let dyno = DynoName::parse(&format!("{t}.{idx}")).map_err(|e| corrupt("hold", e))?;
        Ok(Hold {
            dyno,
            reason: HoldReason::parse(&reason),
            since,
        })
    })
    .collect()
}
