//! `pg:psql` and `redis:cli`: Debian's `psql` and `redis-cli` run on the server with the
//! add-on's password in their environment, never on their command line.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::cli::CliError;

/// The parts of a URL skiff made: `SCHEME://USER:PASSWORD@HOST:PORT[/DB]`.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts {
    user: String,
    password: String,
    host: String,
    port: String,
    database: Option<String>,
}

fn parse_url(url: &str) -> Result<UrlParts, CliError> {
    let bad = || {
        CliError::Protocol(format!(
            "the server sent an add-on URL skiff cannot read ({} characters)",
            url.len()
        ))
    };
    let (_, rest) = url.split_once("://").ok_or_else(bad)?;
    let (userinfo, rest) = rest.rsplit_once('@').ok_or_else(bad)?;
    let (user, password) = userinfo.split_once(':').ok_or_else(bad)?;
    let (hostport, database) = match rest.split_once('/') {
        Some((hp, db)) => (hp, Some(db.to_owned())),
        None => (rest, None),
    };
    let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
    Ok(UrlParts {
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.to_owned(),
        database,
    })
}

/// psql with everything it needs in libpq's environment variables.
pub(super) fn psql_command(url: &str) -> Result<Command, CliError> {
    let parts = parse_url(url)?;
    let mut psql = Command::new("psql");
    psql.env("PGHOST", &parts.host)
        .env("PGPORT", &parts.port)
        .env("PGUSER", &parts.user)
        .env("PGPASSWORD", &parts.password)
        .env("PGDATABASE", parts.database.unwrap_or_default())
        .env("PGSSLMODE", "prefer")
        .env("PGCONNECT_TIMEOUT", "10");
    Ok(psql)
}

pub(super) fn redis_cli_command(url: &str) -> Result<Command, CliError> {
    let parts = parse_url(url)?;
    let mut cli = Command::new("redis-cli");
    cli.args(["-h", &parts.host, "-p", &parts.port, "--user", &parts.user])
        .env("REDISCLI_AUTH", &parts.password);
    Ok(cli)
}

/// Becomes `command` (the terminal stays the user's); returns only when that failed.
fn exec(mut command: Command, program: &str, package: &str) -> CliError {
    let error = command.exec();
    CliError::Usage(match error.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{program} is not installed here; install Debian's {package}")
        }
        _ => format!("cannot run {program}: {error}"),
    })
}

/// Becomes `psql` on the add-on at `url` (one command with `sql`); returns only when it could not.
pub(super) fn psql(url: &str, sql: Option<String>) -> Result<CliError, CliError> {
    let mut psql = psql_command(url)?;
    if let Some(sql) = sql {
        psql.args(["-c", &sql]);
    }
    Ok(exec(psql, "psql", "postgresql-client"))
}

/// Becomes `redis-cli` on the add-on at `url` with `command`; returns only when it could not.
pub(super) fn redis_cli(url: &str, command: Vec<String>) -> Result<CliError, CliError> {
    let mut cli = redis_cli_command(url)?;
    cli.args(command);
    Ok(exec(cli, "redis-cli", "redis-tools"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_what_psql_and_redis_cli_take() {
        assert_eq!(
            parse_url("postgres://skiff_db:s3cr3t@10.213.255.241:5433/skiff_db").unwrap(),
            UrlParts {
                user: "skiff_db".into(),
                password: "s3cr3t".into(),
                host: "10.213.255.241".into(),
                port: "5433".into(),
                database: Some("skiff_db".into()),
            }
        );
        let redis = parse_url("redis://default:pw@127.0.0.1:6379").unwrap();
        assert_eq!(
            (redis.user.as_str(), redis.port.as_str(), redis.database),
            ("default", "6379", None)
        );
        assert!(parse_url("nonsense").is_err());
        let err = parse_url("postgres://no-password@h:1/d")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("no-password"), "the URL is not echoed: {err}");
    }

    #[test]
    fn passwords_go_in_the_environment_never_the_arguments() {
        let psql = psql_command("postgres://u:topsecret@h:5433/d").unwrap();
        assert!(psql.get_args().all(|a| a != "topsecret"));
        assert!(psql
            .get_envs()
            .any(|(k, v)| k == "PGPASSWORD" && v == Some("topsecret".as_ref())));
        let cli = redis_cli_command("redis://default:topsecret@h:6379").unwrap();
        assert!(cli
            .get_args()
            .all(|a| a.to_str().is_some_and(|a| !a.contains("topsecret"))));
        assert!(cli
            .get_envs()
            .any(|(k, v)| k == "REDISCLI_AUTH" && v == Some("topsecret".as_ref())));
    }
}
