//! SSH keys on the wire: `/v1/keys`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Key {
    pub fingerprint: String,
    pub key_type: String,
    pub comment: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// One public key line, as in `~/.ssh/id_ed25519.pub`.
    pub public_key: String,
}
