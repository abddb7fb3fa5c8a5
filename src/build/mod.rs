//! Builds: source intake, builder detection, build scripts, app.json, and the deploy pipeline
//! that turns a source tree into a live release.

pub mod app_json;
pub mod detect;
pub mod intake;
pub mod pipeline;
pub(crate) mod plan;
mod release;
pub mod rename;
pub mod script;
mod stages;
#[cfg(test)]
mod testkit;
