//! skiff: a single-server PaaS — git push, sandboxed systemd dynos, a local proxy.
#![forbid(unsafe_code)]

pub mod config;
pub mod model;
pub mod store;
pub mod systemd;
