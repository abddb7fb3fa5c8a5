//! The only module that speaks D-Bus: a narrow `Systemd` trait, its zbus implementation and a fake.

mod dbus;
mod fake;
pub mod names;
pub mod properties;

pub use dbus::DbusSystemd;
pub use fake::FakeSystemd;

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cannot connect to the system bus: {0}")]
    Connect(zbus::Error),
    #[error("systemd D-Bus call {call} failed: {source}")]
    Call {
        call: &'static str,
        source: zbus::Error,
    },
}

/// What skiff needs from systemd (PID 1). Grows with each capability; callers hold `Arc<dyn Systemd>`.
#[async_trait::async_trait]
pub trait Systemd: Send + Sync {
    /// systemd's version string, e.g. "252.30-1~deb12u2".
    async fn version(&self) -> Result<String, SystemdError>;
}
