//! The dashboard's forms: each is one API request (the same one the CLI makes), then a
//! redirect back to the page with the API's answer or its error in words.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api_call::{encode, ApiFailure};
use super::Dashboard;

/// Where an action returns to, with its outcome for the page to show.
fn back(page: &str, outcome: Result<String, ApiFailure>) -> Response {
    let (key, text) = match outcome {
        Ok(notice) => ("notice", notice),
        Err(failure) => ("error", failure.message),
    };
    Redirect::to(&format!("{page}?{key}={}", encode(&text))).into_response()
}

fn app_page(app: &str, tab: &str) -> String {
    match tab {
        "overview" => format!("/apps/{}", encode(app)),
        tab => format!("/apps/{}/{tab}", encode(app)),
    }
}

async fn send(
    dashboard: &Dashboard,
    method: Method,
    path: String,
    body: Value,
) -> Result<Value, ApiFailure> {
    dashboard.api.call(method, &path, Some(body)).await
}

/// A release the API made, as the notice says it.
fn made_release(answer: &Value) -> String {
    answer["release"]["version"]
        .as_u64()
        .map_or(String::new(), |v| format!("; release v{v} made"))
}

#[derive(Deserialize)]
pub(crate) struct ScaleForm {
    process_type: String,
    quantity: String,
}

/// `POST /apps/{app}/scale`: `ps:scale TYPE=N`.
pub(crate) async fn scale(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
    Form(form): Form<ScaleForm>,
) -> Response {
    let change = format!("{}={}", form.process_type.trim(), form.quantity.trim());
    let path = format!("/v1/apps/{}/formation", encode(&app));
    let outcome = send(
        &dashboard,
        Method::PATCH,
        path,
        json!({"changes": [change]}),
    )
    .await;
    back(
        &app_page(&app, "overview"),
        outcome.map(|_| format!("scaled {change}")),
    )
}

/// `POST /apps/{app}/restart`: `ps:restart`.
pub(crate) async fn restart(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
) -> Response {
    let path = format!("/v1/apps/{}/dynos/restart", encode(&app));
    let outcome = send(&dashboard, Method::POST, path, json!({})).await;
    let notice =
        outcome.map(|a| format!("restarted {} dynos", a["restarted"].as_u64().unwrap_or(0)));
    back(&app_page(&app, "overview"), notice)
}

#[derive(Deserialize)]
pub(crate) struct RollbackForm {
    version: u32,
}

/// `POST /apps/{app}/rollback`: `releases:rollback vN`.
pub(crate) async fn rollback(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
    Form(form): Form<RollbackForm>,
) -> Response {
    let path = format!("/v1/apps/{}/rollback", encode(&app));
    let outcome = send(
        &dashboard,
        Method::POST,
        path,
        json!({"version": form.version}),
    )
    .await;
    let notice = outcome.map(|a| {
        format!(
            "rolled back to v{}; release v{} made",
            form.version,
            a["version"].as_u64().unwrap_or(0)
        )
    });
    back(&app_page(&app, "activity"), notice)
}

#[derive(Deserialize)]
pub(crate) struct MaintenanceForm {
    enabled: String,
}

/// `POST /apps/{app}/maintenance`: `maintenance:on|off`.
pub(crate) async fn maintenance(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
    Form(form): Form<MaintenanceForm>,
) -> Response {
    let enabled = form.enabled == "on";
    let path = format!("/v1/apps/{}/maintenance", encode(&app));
    let outcome = send(&dashboard, Method::PUT, path, json!({"enabled": enabled})).await;
    let notice = if enabled {
        "maintenance mode is on"
    } else {
        "maintenance mode is off"
    };
    back(
        &app_page(&app, "settings"),
        outcome.map(|_| notice.to_owned()),
    )
}

#[derive(Deserialize)]
pub(crate) struct ConfigForm {
    key: String,
    #[serde(default)]
    value: Option<String>,
}

/// `POST /apps/{app}/config`: `config:set KEY=VALUE`, or `config:unset KEY` without a value.
pub(crate) async fn config(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
    Form(form): Form<ConfigForm>,
) -> Response {
    let key = form.key.trim().to_owned();
    let path = format!("/v1/apps/{}/config", encode(&app));
    let outcome = send(
        &dashboard,
        Method::PATCH,
        path,
        json!({ key.clone(): form.value }),
    )
    .await;
    let notice = outcome.map(|answer| match &form.value {
        Some(_) => format!("set {key}{}", made_release(&answer)),
        None => format!("unset {key}{}", made_release(&answer)),
    });
    back(&app_page(&app, "settings"), notice)
}

#[derive(Deserialize)]
pub(crate) struct DomainForm {
    domain: String,
    #[serde(default)]
    remove: Option<String>,
}

/// `POST /apps/{app}/domains`: `domains:add`, or `domains:remove` with `remove`.
pub(crate) async fn domain(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
    Form(form): Form<DomainForm>,
) -> Response {
    let domain = form.domain.trim().to_owned();
    let base = format!("/v1/apps/{}/domains", encode(&app));
    let outcome = if form.remove.is_some() {
        let path = format!("{base}/{}", encode(&domain));
        let removed = dashboard.api.call(Method::DELETE, &path, None).await;
        removed.map(|_| format!("removed {domain}"))
    } else {
        let added = send(&dashboard, Method::POST, base, json!({"domain": domain})).await;
        added.map(|_| format!("added {domain}"))
    };
    back(&app_page(&app, "settings"), outcome)
}

#[derive(Deserialize)]
pub(crate) struct AddonForm {
    service: String,
}

/// `POST /apps/{app}/addons`: `addons:create SERVICE`.
pub(crate) async fn create_addon(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
    Form(form): Form<AddonForm>,
) -> Response {
    let body = json!({"service": form.service.trim(), "app": app});
    let outcome = send(&dashboard, Method::POST, "/v1/addons".into(), body).await;
    let notice = outcome.map(|answer| {
        format!(
            "created {}; it is attached once it is ready",
            answer["addon"]["name"].as_str().unwrap_or("the add-on")
        )
    });
    back(&app_page(&app, "overview"), notice)
}

#[derive(Deserialize)]
pub(crate) struct BackupForm {
    app: String,
}

/// `POST /addons/{addon}/backups`: `pg:backups:capture` (or Redis's); it goes on in skiffd.
pub(crate) async fn capture_backup(
    State(dashboard): State<Dashboard>,
    Path(addon): Path<String>,
    Form(form): Form<BackupForm>,
) -> Response {
    let path = format!("/v1/addons/{}/backups", encode(&addon));
    let outcome = dashboard.api.call(Method::POST, &path, None).await;
    let notice = outcome.map(|answer| {
        format!(
            "backup {} of {addon} started; it is {} (see pg:backups or redis:backups)",
            answer["id"].as_str().unwrap_or("?"),
            answer["status"].as_str().unwrap_or("running")
        )
    });
    back(&app_page(&form.app, "overview"), notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_return_to_their_page_with_the_outcome() {
        let done = back("/apps/shop", Ok("scaled web=2".into()));
        assert_eq!(
            done.headers()["location"],
            "/apps/shop?notice=scaled%20web%3D2"
        );
        let refused = back(
            "/apps/shop/settings",
            Err(ApiFailure {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                message: "bad key".into(),
            }),
        );
        assert_eq!(
            refused.headers()["location"],
            "/apps/shop/settings?error=bad%20key"
        );
        assert_eq!(app_page("shop", "overview"), "/apps/shop");
        assert_eq!(app_page("shop", "logs"), "/apps/shop/logs");
        assert_eq!(
            made_release(&json!({"release": {"version": 4}})),
            "; release v4 made"
        );
        assert_eq!(made_release(&json!({"release": null})), "");
    }
}
