//! The dashboard: web pages of every app on the server, rendered by skiffd from the answers of
//! its own API, behind one-time login links and sessions.
//!
//! skiffd serves it on the dashboard socket, which skiff's Caddy proxies to on the dashboard's
//! host when `dashboard = true`. Every page and action needs a session; pages read the API and
//! actions call it in-process as caller `dashboard` (`api_call.rs`), so they get the CLI's
//! answers and errors. Templates are compiled into the binary, as are the one stylesheet and
//! script (`assets/`); no page loads anything from elsewhere.

mod actions;
mod activity;
mod api_call;
mod charts;
mod gate;
mod live;
mod pages;
mod render;
mod session;
mod views;

use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::store::Store;

/// The socket's name in skiffd's runtime folder.
pub(crate) const DASHBOARD_SOCKET_NAME: &str = "dashboard.sock";

const STYLESHEET: &str = include_str!("assets/dashboard.css");
const SCRIPT: &str = include_str!("assets/dashboard.js");

/// What the dashboard's handlers share.
#[derive(Clone)]
pub(crate) struct Dashboard {
    api: api_call::Api,
    store: Store,
    limiter: Arc<Mutex<session::LoginLimiter>>,
}

fn asset(content_type: &'static str, body: &'static str) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The dashboard's routes, calling `api` (the API router with its state) for everything.
pub(crate) fn router(api: Router, store: Store) -> Router {
    let dashboard = Dashboard {
        api: api_call::Api::new(api),
        store,
        limiter: Arc::default(),
    };
    let behind_session = Router::new()
        .route("/", get(pages::apps))
        .route("/apps/{app}", get(pages::overview))
        .route("/apps/{app}/metrics", get(pages::metrics))
        .route("/apps/{app}/activity", get(activity::activity))
        .route(
            "/apps/{app}/releases/{version}/output",
            get(activity::build_output),
        )
        .route("/apps/{app}/logs", get(pages::logs))
        .route("/apps/{app}/logs/events", get(live::events))
        .route("/apps/{app}/settings", get(pages::settings))
        .route("/apps/{app}/scale", post(actions::scale))
        .route("/apps/{app}/restart", post(actions::restart))
        .route("/apps/{app}/rollback", post(actions::rollback))
        .route("/apps/{app}/maintenance", post(actions::maintenance))
        .route("/apps/{app}/config", post(actions::config))
        .route("/apps/{app}/domains", post(actions::domain))
        .route("/apps/{app}/addons", post(actions::create_addon))
        .route("/addons/{addon}/backups", post(actions::capture_backup))
        .route("/logout", post(gate::logout))
        .route_layer(axum::middleware::from_fn_with_state(
            dashboard.clone(),
            gate::require_session,
        ));
    Router::new()
        .route(
            "/login",
            get(gate::login_with_link).post(gate::login_with_token),
        )
        .route(
            "/assets/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", STYLESHEET) }),
        )
        .route(
            "/assets/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .merge(behind_session)
        .fallback(|| async {
            gate::failure_page(axum::http::StatusCode::NOT_FOUND, "no such page")
        })
        .layer(axum::middleware::from_fn(render::security_headers))
        .with_state(dashboard)
}
