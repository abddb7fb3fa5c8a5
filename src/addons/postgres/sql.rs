//! The SQL skiffd sends its cluster, pure. Roles and databases are add-on names made plain
//! identifiers (`skiff_…`, lowercase letters, digits and underscores), quoted all the same; a
//! password reaches the server only as a SCRAM-SHA-256 verifier, never in plain text.

use super::PgDatabase;

/// Whether the add-on's owner role and database exist, with the owner's name as `$1`.
pub(crate) const EXISTING: &str =
    "select exists (select 1 from pg_roles where rolname = $1::name), \
     exists (select 1 from pg_database where datname = $1::name)";

/// The add-on's login roles, with their common prefix (`skiff_NAME__`) as `$1`.
pub(crate) const LOGINS: &str =
    "select rolname::text from pg_roles where starts_with(rolname, $1) order by rolname";

/// The cluster's databases named like an add-on's.
pub(crate) const DATABASES: &str =
    "select datname::text from pg_database where datname like 'skiff\\_%' order by datname";

/// `pg:info` of the database named `$1` (no row when there is none): size, open connections,
/// server version.
pub(crate) const INFO: &str = "select pg_database_size(d.datname), \
     (select count(*) from pg_stat_activity a where a.datname = d.datname), \
     current_setting('server_version') from pg_database d where d.datname = $1::name";

/// `pg:ps` of the database named `$1`: every session but skiffd's own.
pub(crate) const SESSIONS: &str = "select pid, coalesce(state, ''), \
     coalesce(to_char(query_start at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), \
     left(coalesce(query, ''), 200) from pg_stat_activity \
     where datname = $1::name and pid <> pg_backend_pid() order by pid";

/// `pg:kill`: ends session `$1` if it is one on the database named `$2`; a row when it was.
pub(crate) const KILL: &str = "select pg_terminate_backend(pid) from pg_stat_activity \
     where pid = $1 and datname = $2::name";

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

/// The statements that make the add-on's roles and database what `db` says, given whether the
/// owner role and the database exist and which login roles do: an owner role that cannot log
/// in, owning the database, which no one else may connect to; one login role per credential
/// (its SCRAM verifier in `verifiers`, in `db.logins`' order) with the plan's connection limit
/// and no other power, a member of the owner whose sessions act as the owner, so what one
/// generation creates the next can use; login roles of other generations dropped after their
/// sessions are ended. Each runs on its own (`CREATE DATABASE` cannot run in a transaction).
pub(crate) fn ensure_statements(
    db: &PgDatabase,
    verifiers: &[String],
    owner_exists: bool,
    database_exists: bool,
    existing_logins: &[String],
) -> Vec<String> {
    let owner = ident(&db.name.database());
    let powers = "nosuperuser nocreatedb nocreaterole noreplication nobypassrls";
    let mut out = vec![if owner_exists {
        format!("alter role {owner} nologin {powers}")
    } else {
        format!("create role {owner} nologin {powers}")
    }];
    out.push(if database_exists {
        format!("alter database {owner} owner to {owner}")
    } else {
        format!("create database {owner} owner {owner}")
    });
    out.push(format!("revoke all on database {owner} from public"));
    let mut wanted = Vec::new();
    for (credential, verifier) in db.logins.iter().zip(verifiers) {
        let name = db.name.login_role(credential.generation);
        let login = ident(&name);
        let role = format!(
            "{login} login {powers} connection limit {} password {}",
            db.connection_limit,
            literal(verifier)
        );
        if existing_logins.contains(&name) {
            out.push(format!("alter role {role}"));
        } else {
            out.push(format!("create role {role}"));
        }
        out.push(format!("grant {owner} to {login}"));
        out.push(format!(
            "alter role {login} set role = {}",
            literal(&db.name.database())
        ));
        wanted.push(name);
    }
    for gone in existing_logins.iter().filter(|l| !wanted.contains(l)) {
        out.extend(drop_login(gone));
    }
    out
}

/// Ends a login role's sessions and drops it.
fn drop_login(role: &str) -> [String; 2] {
    [
        format!(
            "select pg_terminate_backend(pid) from pg_stat_activity where usename = {}",
            literal(role)
        ),
        format!("drop role if exists {}", ident(role)),
    ]
}

/// `addons:destroy`: its database (ending its connections), its login roles and its owner.
pub(crate) fn drop_statements(database: &str, logins: &[String]) -> Vec<String> {
    let name = ident(database);
    let mut out = vec![format!("drop database if exists {name} with (force)")];
    out.extend(logins.iter().flat_map(|l| drop_login(l)));
    out.push(format!("drop role if exists {name}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddonCredential, AddonName, AddonSecret};

    fn credential(generation: u32, hex: &str) -> AddonCredential {
        AddonCredential {
            generation,
            secret: AddonSecret::stored(&hex.repeat(24)).unwrap(),
        }
    }

    fn db(logins: Vec<AddonCredential>) -> PgDatabase {
        PgDatabase {
            name: AddonName::parse("pg-shop").unwrap(),
            logins,
            connection_limit: 20,
        }
    }

    const POWERS: &str = "nosuperuser nocreatedb nocreaterole noreplication nobypassrls";

    fn login(verb: &str, role: &str, verifier: &str) -> String {
        format!("{verb} role \"{role}\" login {POWERS} connection limit 20 password '{verifier}'")
    }

    #[test]
    fn a_new_addon_gets_an_owner_that_cannot_log_in_and_one_login_role() {
        let got = ensure_statements(
            &db(vec![credential(1, "ab")]),
            &["V1".to_owned()],
            false,
            false,
            &[],
        );
        assert_eq!(
            got,
            [
                format!("create role \"skiff_pg_shop\" nologin {POWERS}"),
                "create database \"skiff_pg_shop\" owner \"skiff_pg_shop\"".to_owned(),
                "revoke all on database \"skiff_pg_shop\" from public".to_owned(),
                login("create", "skiff_pg_shop__1", "V1"),
                "grant \"skiff_pg_shop\" to \"skiff_pg_shop__1\"".to_owned(),
                "alter role \"skiff_pg_shop__1\" set role = 'skiff_pg_shop'".to_owned(),
            ]
        );
    }

    #[test]
    fn a_rotation_adds_the_next_login_and_its_end_drops_the_previous() {
        let rotating = ensure_statements(
            &db(vec![credential(2, "cd"), credential(1, "ab")]),
            &["V2".to_owned(), "V1".to_owned()],
            true,
            true,
            &["skiff_pg_shop__1".to_owned()],
        );
        assert!(
            rotating.contains(&login("create", "skiff_pg_shop__2", "V2")),
            "{rotating:?}"
        );
        assert!(
            rotating.contains(&login("alter", "skiff_pg_shop__1", "V1")),
            "{rotating:?}"
        );
        assert!(
            !rotating.iter().any(|s| s.starts_with("drop")),
            "{rotating:?}"
        );
        let done = ensure_statements(
            &db(vec![credential(2, "cd")]),
            &["V2".to_owned()],
            true,
            true,
            &["skiff_pg_shop__1".to_owned(), "skiff_pg_shop__2".to_owned()],
        );
        assert_eq!(
            done[done.len() - 2..],
            [
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = 'skiff_pg_shop__1'"
                    .to_owned(),
                "drop role if exists \"skiff_pg_shop__1\"".to_owned(),
            ]
        );
        assert!(
            done.contains(&login("alter", "skiff_pg_shop__2", "V2")),
            "{done:?}"
        );
    }

    #[test]
    fn the_password_itself_never_appears() {
        let database = db(vec![credential(1, "ab")]);
        let all = ensure_statements(&database, &["V".to_owned()], true, true, &[]).join("\n");
        assert!(!all.contains(database.logins[0].secret.expose()), "{all}");
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn dropping_ends_connections_then_removes_database_and_roles() {
        assert_eq!(
            drop_statements("skiff_pg_shop", &["skiff_pg_shop__3".to_owned()]),
            [
                "drop database if exists \"skiff_pg_shop\" with (force)",
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = 'skiff_pg_shop__3'",
                "drop role if exists \"skiff_pg_shop__3\"",
                "drop role if exists \"skiff_pg_shop\"",
            ]
        );
    }
}
