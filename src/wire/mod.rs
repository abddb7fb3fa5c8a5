//! The HTTP API's wire format: every body, query and frame skiffd and the CLI exchange, with its
//! OpenAPI schema. No behaviour beyond (de)serialising; the API converts domain types to these.

mod apps;
mod cron;
mod deploys;
mod dynos;
mod error;
mod health;
mod keys;
mod logs;
mod releases;
mod routing;
pub mod run_protocol;
mod runs;
mod tokens;

pub use apps::{App, AppInfo, CreateApp, DiskUse};
pub use cron::CronJobInfo;
pub use deploys::{BuildEvent, DeployQuery, Release};
pub use dynos::{Dyno, FormationItem, ResizeRequest, RestartRequest, Restarted, ScaleRequest};
pub use error::{ErrorBody, ErrorDetail};
pub use health::Health;
pub use keys::{AddKey, Key};
pub use logs::LogsParams;
pub use releases::{ConfigChanged, ConfigMap, ReleaseInfo, RollbackRequest};
pub use routing::{DomainRequest, Domains, HealthCheckBody, Maintenance};
pub use runs::{RunBody, RunStarted, TerminalBody};
pub use tokens::{CreateToken, CreatedToken, Token};
