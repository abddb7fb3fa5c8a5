//! Watching the running apps: their dynos as `ps` lists them (`dynos.rs`).

mod dynos;

pub use dynos::{rfc3339_ms, rfc3339_usec, DynoLister, DynosError};
