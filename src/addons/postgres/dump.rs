//! Dumps of an add-on's database and their check, for backups: `pg_dump` in the custom format
//! taken in the snapshot whose rows were counted, and `pg_restore` of a dump into a scratch
//! database of the same cluster whose rows are counted again. The argument lists and SQL are
//! pure; running the tools is the thin part, each with a timeout.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::conf;
use super::PostgresError;
use crate::model::Census;

/// The longest one `pg_dump` or `pg_restore` may run; a database that takes longer to dump
/// needs another tool.
pub(crate) const TOOL_TIMEOUT: Duration = Duration::from_secs(3600);

/// Scratch databases a check restores into are named with this prefix, never like an add-on's
/// (`skiff_…`), so they are never taken for one; a crash may leave one, which the next check
/// drops.
pub(crate) const SCRATCH_PREFIX: &str = "skiffcheck_";

/// The ordinary tables of a database, by schema and name, outside the system schemas.
pub(crate) const TABLES: &str = "select n.nspname::text, c.relname::text from pg_class c \
     join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' \
     and n.nspname not in ('pg_catalog', 'information_schema') \
     and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%' \
     order by 1, 2";

/// Scratch databases a crashed check may have left.
pub(crate) const SCRATCH_DATABASES: &str =
    "select datname::text from pg_database where starts_with(datname, 'skiffcheck_')";

/// Ends every other session on the database named `$1`.
pub(crate) const END_SESSIONS: &str = "select pg_terminate_backend(pid) from pg_stat_activity \
     where datname = $1::name and pid <> pg_backend_pid()";

/// The statements that put `scratch` in the place of `database`, in one transaction: the old
/// one moves aside as `old` (dropped afterwards), no one may connect to either meanwhile.
pub(crate) fn swap_statements(database: &str, scratch: &str, old: &str) -> String {
    let (database, scratch, old) = (ident(database), ident(scratch), ident(old));
    format!(
        "begin; alter database {database} rename to {old}; \
         alter database {scratch} rename to {database}; commit"
    )
}

/// `"name"`: an identifier quoted as SQL wants.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Drops a scratch database, ending whatever sessions it has.
pub(crate) fn drop_statement(database: &str) -> String {
    format!("drop database if exists {} with (force)", ident(database))
}

/// The statement counting one table's rows.
pub(crate) fn count_statement(schema: &str, table: &str) -> String {
    format!("select count(*) from {}.{}", ident(schema), ident(table))
}

/// A census key: `schema.table`.
pub(crate) fn census_key(schema: &str, table: &str) -> String {
    format!("{schema}.{table}")
}

fn tool(version: &str, name: &str) -> String {
    format!("{}/{version}/bin/{name}", conf::SERVER_ROOT)
}

fn connection_args(port: u16) -> Vec<String> {
    vec![
        "--host".to_owned(),
        conf::SOCKET_DIR.to_owned(),
        "--port".to_owned(),
        port.to_string(),
        "--username".to_owned(),
        "postgres".to_owned(),
        "--no-password".to_owned(),
    ]
}

/// `pg_dump` of `database` in the custom format into `file`, in exported snapshot `snapshot`
/// (the one whose rows were counted), by the server's own version of the tool.
pub(crate) fn dump_argv(
    version: &str,
    port: u16,
    database: &str,
    snapshot: &str,
    file: &Path,
) -> Vec<String> {
    let mut argv = vec![tool(version, "pg_dump")];
    argv.extend(connection_args(port));
    argv.extend([
        "--format=custom".to_owned(),
        format!("--snapshot={snapshot}"),
        format!("--file={}", file.display()),
        format!("--dbname={database}"),
    ]);
    argv
}

/// `pg_restore` of `file` into `database`, stopping at the first error; the objects are owned
/// by `role` when given (the add-on's owner role, so its login roles can use them), else by
/// the superuser; `clean` drops what is there first.
pub(crate) fn restore_argv(
    version: &str,
    port: u16,
    database: &str,
    role: Option<&str>,
    clean: bool,
    file: &Path,
) -> Vec<String> {
    let mut argv = vec![tool(version, "pg_restore")];
    argv.extend(connection_args(port));
    argv.extend([
        "--exit-on-error".to_owned(),
        "--no-owner".to_owned(),
        "--no-acl".to_owned(),
    ]);
    if let Some(role) = role {
        argv.push(format!("--role={role}"));
    }
    if clean {
        argv.extend([
            "--clean".to_owned(),
            "--if-exists".to_owned(),
            "--single-transaction".to_owned(),
        ]);
    }
    argv.push(format!("--dbname={database}"));
    argv.push(file.display().to_string());
    argv
}

/// The scratch database a check restores into, unique per check.
pub(crate) fn scratch_database() -> String {
    format!("{SCRATCH_PREFIX}{:016x}", rand::random::<u64>())
}

/// Runs `argv` to its end within [`TOOL_TIMEOUT`]; a failure carries the tool's own words.
pub(crate) async fn run_tool(argv: &[String]) -> Result<(), PostgresError> {
    let (program, args) = argv.split_first().expect("a tool's argv has its program");
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let child = tokio::process::Command::new(program)
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PostgresError::Tool {
            tool: name.clone(),
            message: e.to_string(),
        })?;
    let output = tokio::time::timeout(TOOL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| PostgresError::Tool {
            tool: name.clone(),
            message: format!("did not finish within {} s", TOOL_TIMEOUT.as_secs()),
        })?
        .map_err(|e| PostgresError::Tool {
            tool: name.clone(),
            message: e.to_string(),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let words = String::from_utf8_lossy(&output.stderr);
    let last = words
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(PostgresError::Tool {
        tool: name,
        message: format!("{} ({})", last.trim(), output.status),
    })
}

/// Counts the rows of every table the connection's database has, in its transaction.
pub(crate) async fn count_rows(
    c: &tokio_postgres::Client,
) -> Result<Census, tokio_postgres::Error> {
    let mut census = Census::new();
    for row in c.query(TABLES, &[]).await? {
        let (schema, table): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let count: i64 = c
            .query_one(&count_statement(&schema, &table), &[])
            .await?
            .try_get(0)?;
        census.insert(
            census_key(&schema, &table),
            u64::try_from(count).unwrap_or(0),
        );
    }
    Ok(census)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_is_taken_in_the_counted_snapshot_by_the_servers_own_tool() {
        let argv = dump_argv(
            "15",
            5433,
            "skiff_pg_shop",
            "00000003-1",
            Path::new("/b/x.tmp"),
        );
        assert_eq!(argv[0], "/usr/lib/postgresql/15/bin/pg_dump");
        for part in [
            "--format=custom",
            "--snapshot=00000003-1",
            "--file=/b/x.tmp",
            "--dbname=skiff_pg_shop",
            "/var/run/postgresql",
            "5433",
            "--no-password",
        ] {
            assert!(argv.iter().any(|a| a == part), "{part} in {argv:?}");
        }
    }

    #[test]
    fn a_check_restores_as_the_superuser_and_a_restore_as_the_owner() {
        let check = restore_argv(
            "15",
            5433,
            "skiffcheck_1",
            None,
            false,
            Path::new("/b/1.dump"),
        );
        assert_eq!(check[0], "/usr/lib/postgresql/15/bin/pg_restore");
        assert!(check.contains(&"--exit-on-error".to_owned()));
        assert!(!check
            .iter()
            .any(|a| a.starts_with("--role") || a == "--clean"));
        assert_eq!(check.last().map(String::as_str), Some("/b/1.dump"));
        let restore = restore_argv(
            "15",
            5433,
            "skiff_a",
            Some("skiff_a"),
            true,
            Path::new("/d"),
        );
        for part in [
            "--role=skiff_a",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
        ] {
            assert!(restore.iter().any(|a| a == part), "{part} in {restore:?}");
        }
    }

    #[test]
    fn a_restore_swaps_the_databases_in_one_transaction() {
        assert_eq!(
            swap_statements("skiff_a", "skiffcheck_1", "skiffcheck_2"),
            "begin; alter database \"skiff_a\" rename to \"skiffcheck_2\"; \
             alter database \"skiffcheck_1\" rename to \"skiff_a\"; commit"
        );
    }

    #[test]
    fn tables_are_counted_by_quoted_names_and_scratch_names_stay_apart() {
        assert_eq!(
            count_statement("public", "we\"ird"),
            "select count(*) from \"public\".\"we\"\"ird\""
        );
        assert_eq!(census_key("app", "orders"), "app.orders");
        let a = scratch_database();
        assert!(a.starts_with(SCRATCH_PREFIX) && a.len() <= 63, "{a}");
        assert!(!a.starts_with("skiff_"));
        assert_ne!(a, scratch_database());
    }
}
