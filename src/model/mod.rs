//! Pure domain types and rules: validated names and API tokens. No I/O.

mod app_name;
mod token;

pub use app_name::{AppName, AppNameError};
pub use token::{ApiToken, TokenHash, TokenName, TokenNameError};
