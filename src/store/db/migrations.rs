//! Versioned schema migrations, tracked in SQLite's `user_version` and applied in one transaction.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Each entry moves the schema from version `index` to `index + 1`. Append only; never edit.
const MIGRATIONS: &[&str] = &[
    // v1: apps and API tokens.
    "CREATE TABLE apps (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT
    );",
    // v2: releases, formation, dyno holds and web ports.
    "ALTER TABLE apps ADD COLUMN current_release INTEGER;
    CREATE TABLE releases (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        version INTEGER NOT NULL CHECK (version > 0),
        procfile TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        description TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (app_id, version)
    );
    CREATE TABLE formation (
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity >= 0),
        memory_bytes INTEGER,
        cpu_percent INTEGER,
        tasks INTEGER,
        PRIMARY KEY (app_id, process_type)
    );
    CREATE TABLE dyno_holds (
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        idx INTEGER NOT NULL,
        reason TEXT NOT NULL CHECK (reason IN ('stopped', 'crashed')),
        since TEXT NOT NULL,
        PRIMARY KEY (app_id, process_type, idx)
    );
    CREATE TABLE unit_ports (
        unit_name TEXT PRIMARY KEY,
        port INTEGER NOT NULL UNIQUE
    );",
    // v3: the app's config vars (the next release's), releases that reuse an earlier slug, SSH keys.
    "ALTER TABLE apps ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
    UPDATE apps SET config = COALESCE(
        (SELECT r.config FROM releases r WHERE r.app_id = apps.id AND r.version = apps.current_release), '{}');
    ALTER TABLE releases ADD COLUMN slug_version INTEGER;
    UPDATE releases SET slug_version = version;
    CREATE TABLE ssh_keys (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        public_key TEXT NOT NULL,
        created_at TEXT NOT NULL
    );",
    // v4: routing. A new release waits as the app's pending one until its web dynos are healthy;
    // domains, maintenance mode, health checks, restart generations of dynos, which dyno units
    // the proxy routes to (or drains until a time), and counters (the last port handed out).
    "ALTER TABLE apps ADD COLUMN pending_release INTEGER;
    ALTER TABLE apps ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE apps ADD COLUMN health_path TEXT;
    ALTER TABLE apps ADD COLUMN health_status INTEGER;
    ALTER TABLE apps ADD COLUMN health_timeout_secs INTEGER;
    ALTER TABLE releases ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded'
        CHECK (status IN ('pending', 'succeeded', 'failed', 'superseded'));
    ALTER TABLE releases ADD COLUMN failure TEXT;
    CREATE TABLE domains (
        domain TEXT PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE dyno_generations (
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        idx INTEGER NOT NULL,
        generation INTEGER NOT NULL CHECK (generation > 0),
        PRIMARY KEY (app_id, process_type, idx)
    );
    CREATE TABLE routes (
        unit_name TEXT PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        dyno TEXT NOT NULL,
        port INTEGER NOT NULL,
        draining_until INTEGER
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );",
    // v5: each release's scheduled jobs (app.json `cron`), a JSON list of {command, schedule}.
    "ALTER TABLE releases ADD COLUMN cron TEXT NOT NULL DEFAULT '[]';",
    // v6: `ps:restart` requests the reconciler carries out (restarting non-web dynos in place;
    // web dynos get their new generation when the request is recorded). NULL process_type or
    // idx means every one.
    "CREATE TABLE restart_requests (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        process_type TEXT,
        idx INTEGER,
        web_replaced INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );",
    // v7: each app's slot in the `dyno_network` range (assigned by the reconciler, unique), and
    // whether its dynos reach the internet (NULL: the server's `dyno_egress`).
    "ALTER TABLE apps ADD COLUMN network_slot INTEGER;
     CREATE UNIQUE INDEX apps_network_slot ON apps(network_slot);
     ALTER TABLE apps ADD COLUMN dyno_egress INTEGER;",
    // v8: whether the proxy compresses the app's responses (on unless turned off).
    "ALTER TABLE apps ADD COLUMN compression INTEGER NOT NULL DEFAULT 1;",
    // v9: add-ons (their owner's row may go first: the add-on stays until its data is destroyed)
    // and their attachments, each with the URL last set in the app's config.
    "CREATE TABLE addons (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        service TEXT NOT NULL,
        plan TEXT NOT NULL,
        owner_app_id INTEGER REFERENCES apps(id) ON DELETE SET NULL,
        secret TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 1 CHECK (generation > 0),
        previous_secret TEXT,
        port INTEGER,
        policy TEXT NOT NULL DEFAULT 'noeviction',
        state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'destroying')),
        created_at TEXT NOT NULL
    );
    CREATE TABLE addon_attachments (
        addon_id INTEGER NOT NULL REFERENCES addons(id) ON DELETE CASCADE,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        applied_url TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (addon_id, app_id),
        UNIQUE (app_id, name)
    );",
    // v10: apps' persistent volumes. A destroyed one stays, marked with the release that took it
    // away, until no dyno of an older release runs; then its directory is removed and so is the row.
    "CREATE TABLE volumes (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        mount TEXT NOT NULL,
        size_bytes INTEGER CHECK (size_bytes > 0),
        state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'destroying')),
        destroyed_in INTEGER,
        created_at TEXT NOT NULL,
        UNIQUE (app_id, name)
    );",
    // v11: add-on backups, numbered per add-on, with the rows per table a checked one holds (JSON); numbers are never reused (addons.last_backup). Only `checked` is a good backup; skiffd marks
    // rows it finds `running` or `checking` at start as `failed` (a crash interrupted them).
    "CREATE TABLE backups (
        id INTEGER PRIMARY KEY,
        addon_id INTEGER NOT NULL REFERENCES addons(id) ON DELETE CASCADE,
        number INTEGER NOT NULL CHECK (number > 0),
        kind TEXT NOT NULL CHECK (kind IN ('manual', 'scheduled', 'safety')),
        status TEXT NOT NULL CHECK (status IN ('running', 'checking', 'checked', 'failed')),
        started_at TEXT NOT NULL,
        finished_at TEXT,
        size_bytes INTEGER,
        sha256 TEXT,
        tables INTEGER,
        rows INTEGER,
        census TEXT,
        reason TEXT,
        UNIQUE (addon_id, number)
    );
    ALTER TABLE addons ADD COLUMN last_backup INTEGER NOT NULL DEFAULT 0;",
    // v12: an add-on's daily backup schedule (`02:00 Europe/Berlin`) and how many of its
    // scheduled backups retention keeps; a systemd timer per row is the reconciler's.
    "CREATE TABLE backup_schedules (
        addon_id INTEGER PRIMARY KEY REFERENCES addons(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        keep_daily INTEGER NOT NULL CHECK (keep_daily >= 0),
        keep_weekly INTEGER NOT NULL CHECK (keep_weekly >= 0),
        created_at TEXT NOT NULL
    );",
    // v13: where a checked backup was copied off the server (`backup_copy_to`), or why the
    // copy failed; both NULL when no copy was asked for.
    "ALTER TABLE backups ADD COLUMN copied_to TEXT;
    ALTER TABLE backups ADD COLUMN copy_error TEXT;",
    // v14: sleeping apps. `sleep_after_secs` is the app's own autosleep (NULL: the server's
    // default, 0: off); `sleep_state` whether its dynos run; `sleep_since` when it fell asleep
    // (Unix milliseconds); the last failed wake's reason and time.
    "ALTER TABLE apps ADD COLUMN sleep_after_secs INTEGER CHECK (sleep_after_secs >= 0);
    ALTER TABLE apps ADD COLUMN sleep_state TEXT NOT NULL DEFAULT 'awake'
        CHECK (sleep_state IN ('awake', 'sleeping', 'waking'));
    ALTER TABLE apps ADD COLUMN sleep_since INTEGER;
    ALTER TABLE apps ADD COLUMN wake_failure TEXT;
    ALTER TABLE apps ADD COLUMN wake_failed_at INTEGER;",
    // v15: router metrics: per app, step (60 s, or 600 s once rolled up) and bucket start (Unix
    // seconds), requests by status class and the service times' HDR histogram (V2 format).
    "CREATE TABLE router_metrics (
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        step_secs INTEGER NOT NULL CHECK (step_secs IN (60, 600)),
        start INTEGER NOT NULL,
        c2xx INTEGER NOT NULL, c3xx INTEGER NOT NULL, c4xx INTEGER NOT NULL, c5xx INTEGER NOT NULL,
        histogram BLOB NOT NULL,
        PRIMARY KEY (app_id, step_secs, start)
    );",
    // v16: alerts: an app's rules in their canonical form, when each began firing (Unix
    // seconds; NULL while ok) and the value that fired it; where the app's alerts are POSTed.
    "CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        rule TEXT NOT NULL,
        firing_since INTEGER,
        value TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (app_id, rule)
    );
    ALTER TABLE apps ADD COLUMN alert_webhook TEXT;",
    // v17: dyno usage: per app, process type, step (60 s, or 600 s once rolled up) and bucket
    // start (Unix seconds), the sums of its dynos' samples: memory (count, sum, highest) and
    // CPU in percent of one core (count, sum).
    "CREATE TABLE dyno_metrics (
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        process_type TEXT NOT NULL,
        step_secs INTEGER NOT NULL CHECK (step_secs IN (60, 600)),
        start INTEGER NOT NULL,
        memory_samples INTEGER NOT NULL,
        memory_sum INTEGER NOT NULL,
        memory_max INTEGER NOT NULL,
        cpu_samples INTEGER NOT NULL,
        cpu_sum REAL NOT NULL,
        PRIMARY KEY (app_id, process_type, step_secs, start)
    );",
    // v18: the dashboard: one-time login links and sessions, each kept as the SHA-256 of its
    // secret; a link is used once before it expires (Unix seconds); a session carries its CSRF
    // token and ends when it expires or is ended.
    "CREATE TABLE dashboard_links (
        hash TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    );
    CREATE TABLE dashboard_sessions (
        hash TEXT PRIMARY KEY,
        csrf TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );",
    // v19: activity: the build a deploy's release came from (its output is in journald under
    // SKIFF_BUILD; NULL for config changes and rollbacks), and each app's recent events that
    // make no release (scaling, resizing, maintenance, restarts) with who made them.
    "ALTER TABLE releases ADD COLUMN build_id TEXT;
    CREATE TABLE app_events (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('scale', 'resize', 'maintenance', 'restart')),
        description TEXT NOT NULL,
        actor TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX app_events_by_app ON app_events (app_id, id);",
    // v20: the buildpacks set on an app (`skiff buildpacks:set`), in the order they run; each
    // checked before it is written.
    "CREATE TABLE app_buildpacks (
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        position INTEGER NOT NULL CHECK (position >= 1),
        url TEXT NOT NULL,
        PRIMARY KEY (app_id, position),
        UNIQUE (app_id, url)
    );",
    // v21: the names an app had before `apps:rename`, so its older log lines (tagged with the
    // name they were written under) stay findable and files left under an old name by a crash
    // are moved, not removed. A name belongs to one app at a time: taking it again drops the row.
    "CREATE TABLE app_former_names (
        name TEXT PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        renamed_at TEXT NOT NULL
    );",
    // v22: log drains: where an app's lines are forwarded, the journal cursor of the last line
    // delivered (NULL: none yet; the drain starts at `created_at`), how many went, and the last
    // failure, cleared by the next delivery.
    "CREATE TABLE log_drains (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        cursor TEXT,
        delivered INTEGER NOT NULL DEFAULT 0,
        last_delivered_at TEXT,
        last_error TEXT,
        last_error_at TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (app_id, url)
    );",
];

pub fn known_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the schema up to date, or refuses a database written by a newer skiff without touching it.
pub fn apply(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known_version() {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            known: known_version(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_reaches_the_known_version_and_reapplying_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, Path::new(":memory:")).unwrap();
        apply(&mut conn, Path::new(":memory:")).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, known_version());
    }

    #[test]
    fn newer_database_is_refused_and_left_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 999;")
            .unwrap();
        let err = apply(&mut conn, Path::new("/x/skiff.db")).unwrap_err();
        assert!(err.to_string().contains("newer than this skiff"), "{err}");
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 999);
        let apps: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'apps'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(apps, 0);
    }
}
