//! `Systemd` over D-Bus with zbus: proxies for `org.freedesktop.systemd1`.

use super::{Systemd, SystemdError};

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

/// The real adapter, holding one bus connection for the daemon's life.
pub struct DbusSystemd {
    manager: ManagerProxy<'static>,
}

impl DbusSystemd {
    /// Connects to the system bus (where PID 1 listens).
    pub async fn connect_system() -> Result<Self, SystemdError> {
        let conn = zbus::Connection::system()
            .await
            .map_err(SystemdError::Connect)?;
        Self::on(conn).await
    }

    /// Uses an existing connection: a bus, or a peer-to-peer link to a fake systemd in tests.
    pub async fn on(conn: zbus::Connection) -> Result<Self, SystemdError> {
        let manager = ManagerProxy::builder(&conn)
            // Properties are read on demand so no signal subscription is needed for them.
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(|source| SystemdError::Call {
                call: "Manager proxy",
                source,
            })?;
        Ok(Self { manager })
    }
}

#[async_trait::async_trait]
impl Systemd for DbusSystemd {
    async fn version(&self) -> Result<String, SystemdError> {
        self.manager
            .version()
            .await
            .map_err(|source| SystemdError::Call {
                call: "Manager.Version",
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for PID 1's Manager object, served on one end of a socket pair.
    struct FakeManager;

    #[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
    impl FakeManager {
        #[zbus(property)]
        fn version(&self) -> String {
            "252.99-fake".to_owned()
        }
    }

    #[tokio::test]
    async fn reads_the_version_property_over_a_peer_to_peer_connection() {
        let (server_end, client_end) = tokio::net::UnixStream::pair().unwrap();
        let guid = zbus::Guid::generate();
        let server = zbus::connection::Builder::unix_stream(server_end)
            .server(guid)
            .unwrap()
            .p2p()
            .serve_at("/org/freedesktop/systemd1", FakeManager)
            .unwrap()
            .build();
        let client = zbus::connection::Builder::unix_stream(client_end)
            .p2p()
            .build();
        let (server, client) = tokio::try_join!(server, client).unwrap();
        let systemd = DbusSystemd::on(client).await.unwrap();
        assert_eq!(systemd.version().await.unwrap(), "252.99-fake");
        drop(server);
    }
}
