//! skiff: a single-server PaaS — git push, sandboxed systemd dynos, a local proxy.
#![forbid(unsafe_code)]

pub mod api;
pub mod build;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod files;
pub mod health;
pub mod journal;
pub mod model;
pub mod oneoff;
pub mod paths;
pub mod proxy;
pub mod reconcile;
pub mod reconciler;
pub mod store;
pub mod systemd;
pub mod wire;
