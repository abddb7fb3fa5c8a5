//! The API's one error type: a status, a stable code and a message, rendered as `{"error": {...}}`.

use crate::addons::{AddonsError, BackupError};
use crate::build::rename::RenameError;
use crate::model::ArchiveError;
use crate::model::{AddonError, AppNameError, BackupIdError, TokenNameError};
use crate::network::NetworkError;
use crate::server_backup::{ArchiveFault, ServerBackupError};
use crate::store::StoreError;
use crate::wire::{ErrorBody, ErrorDetail};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The `{code, message}` pair, for errors reported inside a streamed body.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.to_owned(),
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, "{}", self.message);
        }
        let body = ErrorBody {
            error: self.detail(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::DomainExists(_) | StoreError::DomainTaken { .. } => {
                Self::new(StatusCode::CONFLICT, "already_exists", message)
            }
            StoreError::DomainNotFound { .. } | StoreError::DrainNotFound { .. } => {
                Self::not_found(message)
            }
            StoreError::DrainExists { .. } | StoreError::TooManyDrains(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", message)
            }
            StoreError::AppExists(_) | StoreError::TokenExists(_) | StoreError::KeyExists(_) => {
                Self::new(StatusCode::CONFLICT, "already_exists", message)
            }
            StoreError::AppNotFound(_)
            | StoreError::TokenNotFound(_)
            | StoreError::KeyNotFound(_) => Self::not_found(message),
            StoreError::KeyAmbiguous(_) => Self::new(StatusCode::CONFLICT, "ambiguous", message),
            StoreError::NotDeployed(_) => Self::new(StatusCode::CONFLICT, "not_deployed", message),
            StoreError::Scale(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_scale", message)
            }
            StoreError::AddonExists(_)
            | StoreError::AttachmentTaken { .. }
            | StoreError::AlreadyAttached { .. }
            | StoreError::AddonDestroying(_)
            | StoreError::AlertExists { .. }
            | StoreError::BackupInProgress { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", message)
            }
            StoreError::VolumeExists { .. }
            | StoreError::VolumeDestroying { .. }
            | StoreError::MountOverlaps { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", message)
            }
            StoreError::VolumeNotFound { .. }
            | StoreError::BackupNotFound { .. }
            | StoreError::AlertNotFound { .. }
            | StoreError::NoBackupSchedule(_) => Self::not_found(message),
            StoreError::AddonNotFound(_) | StoreError::NotAttached { .. } => {
                Self::not_found(message)
            }
            StoreError::BadSnapshot(_) | StoreError::NewerSchema { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_archive", message)
            }
            StoreError::AddonPortsExhausted { .. } | StoreError::PortsExhausted { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "ports_exhausted", message)
            }
            _ => Self::internal(message),
        }
    }
}

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> Self {
        let message = e.to_string();
        match e {
            NetworkError::Store(s) => s.into(),
            NetworkError::Unavailable(_) | NetworkError::Full { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "network_unavailable",
                message,
            ),
            _ => Self::internal(message),
        }
    }
}

impl From<RenameError> for ApiError {
    fn from(e: RenameError) -> Self {
        match e {
            RenameError::Store(e) => e.into(),
            RenameError::DeployRunning(_) => {
                Self::new(StatusCode::CONFLICT, "deploy_running", e.to_string())
            }
            RenameError::SameName(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "same_name", e.to_string())
            }
            RenameError::Task(_) | RenameError::Move { .. } => Self::internal(e.to_string()),
        }
    }
}

impl From<AddonError> for ApiError {
    fn from(e: AddonError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_addon",
            e.to_string(),
        )
    }
}

impl From<AddonsError> for ApiError {
    fn from(e: AddonsError) -> Self {
        let message = e.to_string();
        match e {
            AddonsError::NotReady(_) => Self::new(StatusCode::CONFLICT, "not_ready", message),
            _ => Self::new(StatusCode::BAD_GATEWAY, "addon_server", message),
        }
    }
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        let message = e.to_string();
        match e {
            BackupError::Store(s) => s.into(),
            BackupError::Addons(a) => a.into(),
            BackupError::NoSpace(_) => {
                Self::new(StatusCode::INSUFFICIENT_STORAGE, "no_space", message)
            }
            BackupError::NotRestorable(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupported", message)
            }
            _ => Self::internal(message),
        }
    }
}

impl From<ServerBackupError> for ApiError {
    fn from(e: ServerBackupError) -> Self {
        let message = e.to_string();
        match e {
            ServerBackupError::Backup(b) => b.into(),
            ServerBackupError::Store(s) => s.into(),
            ServerBackupError::Archive(ArchiveFault::Refused(ArchiveError::HasApps(_))) => {
                Self::new(StatusCode::CONFLICT, "has_apps", message)
            }
            ServerBackupError::Archive(ArchiveFault::Refused(_) | ArchiveFault::Damaged(_)) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_archive", message)
            }
            ServerBackupError::AddonBackup { .. } | ServerBackupError::AddonNotReady { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "addon_server", message)
            }
            _ => Self::internal(message),
        }
    }
}

impl From<BackupIdError> for ApiError {
    fn from(e: BackupIdError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_backup",
            e.to_string(),
        )
    }
}

impl From<AppNameError> for ApiError {
    fn from(e: AppNameError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            e.to_string(),
        )
    }
}

impl From<TokenNameError> for ApiError {
    fn from(e: TokenNameError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            e.to_string(),
        )
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "bad_request"
        };
        Self::new(status, code, e.body_text().to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AppName;

    #[test]
    fn store_errors_map_to_statuses() {
        let app = AppName::parse("alpha").unwrap();
        assert_eq!(
            ApiError::from(StoreError::AppExists(app)).status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(StoreError::AppNotFound("x".into())).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(StoreError::Task("boom".into())).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[tokio::test]
    async fn renders_the_error_envelope() {
        let response = ApiError::not_found("app x not found").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["error"]["code"], "not_found");
        assert_eq!(json["error"]["message"], "app x not found");
    }
}
