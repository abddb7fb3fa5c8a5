//! skiffd's superuser connections to its cluster: over the unix socket (peer auth through
//! skiff's ident map), each exchange bounded by a statement timeout and a call timeout.

use std::time::Duration;

use super::conf;
use super::PostgresError;

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server ends any statement of skiffd's that runs longer.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Every exchange with the server, connecting included, ends by then.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `call` on a fresh superuser connection, all of it within [`CALL_TIMEOUT`].
pub(crate) async fn with_client<T, F>(
    port: u16,
    what: &'static str,
    call: F,
) -> Result<T, PostgresError>
where
    F: AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
{
    let limits = (STATEMENT_TIMEOUT, CALL_TIMEOUT);
    with_client_on(port, "postgres", limits, what, call).await
}

/// Runs `call` on a fresh superuser connection to `database`; the server ends a statement
/// after `limits.0`, and all of it ends after `limits.1`.
pub(crate) async fn with_client_on<T, F>(
    port: u16,
    database: &str,
    limits: (Duration, Duration),
    what: &'static str,
    call: F,
) -> Result<T, PostgresError>
where
    F: AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
{
    let (statement_timeout, call_timeout) = limits;
    let exchange = async {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(conf::SOCKET_DIR)
            .port(port)
            .user("postgres")
            .dbname(database)
            .application_name("skiffd")
            .connect_timeout(CONNECT_TIMEOUT)
            .options(format!(
                "-c statement_timeout={}",
                statement_timeout.as_millis()
            ));
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(PostgresError::Connect)?;
        let connection = tokio::spawn(connection);
        let result = call(&client)
            .await
            .map_err(|source| PostgresError::Sql { what, source });
        drop(client);
        let _ = connection.await;
        result
    };
    tokio::time::timeout(call_timeout, exchange)
        .await
        .map_err(|_| PostgresError::Timeout(what))?
}
