//! An in-memory `Systemd` for fast tests of everything above the D-Bus adapter.

use super::{Systemd, SystemdError};

pub struct FakeSystemd {
    pub version: String,
}

impl Default for FakeSystemd {
    fn default() -> Self {
        Self {
            version: "252-fake".to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl Systemd for FakeSystemd {
    async fn version(&self) -> Result<String, SystemdError> {
        Ok(self.version.clone())
    }
}
