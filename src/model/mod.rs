//! Pure domain types and rules: validated names, Procfiles, formations and API tokens. No I/O.

mod app_name;
mod formation;
mod procfile;
mod token;

pub use app_name::{AppName, AppNameError};
pub use formation::{
    DynoName, DynoNameError, Formation, ScaleAmount, ScaleChange, ScaleError, MAX_DYNOS_PER_TYPE,
};
pub use procfile::{ProcessType, ProcessTypeError, Procfile, ProcfileError};
pub use token::{ApiToken, TokenHash, TokenName, TokenNameError};
