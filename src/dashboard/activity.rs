//! The activity pages: an app's releases (with rollback and each build's output), the events
//! that made no release (scaling, resizing, maintenance, restarts) and its alerts.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use super::api_call::{encode, ApiFailure};
use super::gate::Session;
use super::pages::{chrome, failed, info, Flash};
use super::render::{page, Chrome};
use super::Dashboard;
use crate::wire::{AlertList, AppEvent, Release};

#[derive(Template)]
#[template(path = "dashboard/activity.html")]
struct ActivityPage {
    chrome: Chrome,
    releases: Vec<Release>,
    live: Option<u32>,
    events: Vec<AppEvent>,
    alerts: AlertList,
}

impl ActivityPage {
    fn is_live(&self, version: &u32) -> bool {
        self.live == Some(*version)
    }
}

/// `GET /apps/{app}/activity`: releases, events and alerts, newest first.
pub(crate) async fn activity(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    Path(app): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let title = format!("{app}: activity");
    let chrome = chrome(title, Some(&app), "activity", &session, flash);
    let name = encode(&app);
    let read = async {
        let mut releases: Vec<Release> = dashboard
            .api
            .get(&format!("/v1/apps/{name}/releases"))
            .await?;
        releases.sort_by_key(|r| std::cmp::Reverse(r.version));
        let events = dashboard
            .api
            .get(&format!("/v1/apps/{name}/events"))
            .await?;
        let alerts = dashboard
            .api
            .get(&format!("/v1/apps/{name}/alerts"))
            .await?;
        let live = info(&dashboard, &app).await?.release.map(|r| r.version);
        Ok::<_, ApiFailure>((releases, events, alerts, live))
    };
    match read.await {
        Ok((releases, events, alerts, live)) => page(
            StatusCode::OK,
            &ActivityPage {
                chrome,
                releases,
                live,
                events,
                alerts,
            },
        ),
        Err(e) => failed(chrome, e),
    }
}

#[derive(Template)]
#[template(path = "dashboard/build_output.html")]
struct BuildOutputPage {
    chrome: Chrome,
    version: String,
    output: String,
}

/// `GET /apps/{app}/releases/{version}/output`: the output of the build that made the release.
pub(crate) async fn build_output(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    Path((app, version)): Path<(String, String)>,
) -> Response {
    let version = version.trim_start_matches('v').to_owned();
    let title = format!("{app}: v{version}'s build");
    let chrome = chrome(title, Some(&app), "activity", &session, Flash::default());
    let path = format!(
        "/v1/apps/{}/releases/{}/output",
        encode(&app),
        encode(&version)
    );
    match dashboard.api.get_text(&path).await {
        Ok(output) => page(
            StatusCode::OK,
            &BuildOutputPage {
                chrome,
                version,
                output,
            },
        ),
        Err(e) => failed(chrome, e),
    }
}
