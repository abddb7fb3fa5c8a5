//! The SQL skiffd sends its cluster, pure. Roles and databases are add-on names made plain
//! identifiers (`skiff_…`, lowercase letters, digits and underscores), quoted all the same; a
//! password reaches the server only as a SCRAM-SHA-256 verifier, never in plain text.

use super::PgDatabase;

/// Whether the add-on's role and database exist, with the role's name as `$1`.
pub(crate) const EXISTING: &str =
    "select exists (select 1 from pg_roles where rolname = $1::name), \
     exists (select 1 from pg_database where datname = $1::name)";

/// The cluster's databases named like an add-on's.
pub(crate) const DATABASES: &str =
    "select datname::text from pg_database where datname like 'skiff\\_%' order by datname";

/// `pg:info` of the database named `$1` (no row when there is none): size, open connections,
/// server version.
pub(crate) const INFO: &str = "select pg_database_size(d.datname), \
     (select count(*) from pg_stat_activity a where a.datname = d.datname), \
     current_setting('server_version') from pg_database d where d.datname = $1::name";

/// The address the running server listens on.
pub(crate) const LISTEN: &str = "select current_setting('listen_addresses')";

/// `"name"`: an identifier quoted as SQL wants (a `"` doubled).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`: a literal quoted as SQL wants (a `'` doubled; standard strings, no backslashes).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The statements that make the add-on's role and database what `db` says, given whether each
/// exists: a login role with the verifier `verifier` and the plan's connection limit and no
/// other power, owning its database, which no one else may connect to. Each runs on its own
/// (`CREATE DATABASE` cannot run in a transaction).
pub(crate) fn ensure_statements(
    db: &PgDatabase,
    verifier: &str,
    role_exists: bool,
    database_exists: bool,
) -> Vec<String> {
    let name = ident(&db.name.database());
    let role = format!(
        "{name} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls \
         connection limit {} password {}",
        db.connection_limit,
        literal(verifier)
    );
    let mut out = vec![if role_exists {
        format!("alter role {role}")
    } else {
        format!("create role {role}")
    }];
    out.push(if database_exists {
        format!("alter database {name} owner to {name}")
    } else {
        format!("create database {name} owner {name}")
    });
    out.push(format!("revoke all on database {name} from public"));
    out
}

/// `addons:destroy`: its database (ending its connections) and its role.
pub(crate) fn drop_statements(database: &str) -> Vec<String> {
    let name = ident(database);
    vec![
        format!("drop database if exists {name} with (force)"),
        format!("drop role if exists {name}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddonName, AddonSecret};

    fn db() -> PgDatabase {
        PgDatabase {
            name: AddonName::parse("pg-shop").unwrap(),
            secret: AddonSecret::stored(&"ab".repeat(24)).unwrap(),
            connection_limit: 20,
        }
    }

    const VERIFIER: &str = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";

    #[test]
    fn a_new_addon_gets_a_login_role_owning_a_database_closed_to_others() {
        let role = "\"skiff_pg_shop\" login nosuperuser nocreatedb nocreaterole noreplication \
                    nobypassrls connection limit 20 password 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy'";
        for (role_exists, db_exists, want) in [
            (
                false,
                false,
                [
                    format!("create role {role}"),
                    "create database \"skiff_pg_shop\" owner \"skiff_pg_shop\"".to_owned(),
                ],
            ),
            (
                true,
                true,
                [
                    format!("alter role {role}"),
                    "alter database \"skiff_pg_shop\" owner to \"skiff_pg_shop\"".to_owned(),
                ],
            ),
            (
                true,
                false,
                [
                    format!("alter role {role}"),
                    "create database \"skiff_pg_shop\" owner \"skiff_pg_shop\"".to_owned(),
                ],
            ),
        ] {
            let got = ensure_statements(&db(), VERIFIER, role_exists, db_exists);
            assert_eq!(got[..2], want, "role {role_exists} db {db_exists}");
            assert_eq!(
                got[2],
                "revoke all on database \"skiff_pg_shop\" from public"
            );
        }
    }

    #[test]
    fn the_password_itself_never_appears() {
        let all = ensure_statements(&db(), VERIFIER, true, true).join("\n");
        assert!(!all.contains(db().secret.expose()), "{all}");
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn dropping_ends_connections_then_removes_database_and_role() {
        assert_eq!(
            drop_statements("skiff_pg_shop"),
            [
                "drop database if exists \"skiff_pg_shop\" with (force)",
                "drop role if exists \"skiff_pg_shop\"",
            ]
        );
    }
}
