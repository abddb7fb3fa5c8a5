//! The reconciler's error: what a round or one of its actions can fail with.

use crate::store::StoreError;
use crate::systemd::SystemdError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error("proxy: {0}")]
    Proxy(String),
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Restart(String),
    #[error(transparent)]
    Volume(#[from] crate::volume_dirs::VolumeDirError),
    #[error("file task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The proxy adapter in the reconciler's error.
impl From<crate::proxy::ProxyError> for ReconcileError {
    fn from(e: crate::proxy::ProxyError) -> Self {
        ReconcileError::Proxy(e.to_string())
    }
}
