//! `/v1/apps/{app}/autosleep`: `ps:autosleep`, whether an idle app's dynos sleep and after how
//! long. The setting is intent in the DB; the reconciler puts the app to sleep when it is due.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::model::{AppName, SleepSetting};
use crate::monitor::rfc3339_ms;
use crate::store::AppSleep;
use crate::wire::{Autosleep, AutosleepRequest, ErrorBody};

fn autosleep(state: &AppState, sleep: AppSleep) -> Autosleep {
    Autosleep {
        setting: sleep.setting.to_string(),
        effective: sleep
            .setting
            .effective(state.reconciler.sleep_default())
            .filter(|_| state.reconciler.apps_can_sleep())
            .map(|after| after.to_string()),
        state: sleep.state.as_str().to_owned(),
        since: sleep.since_ms.map(rfc3339_ms),
        wake_failure: sleep.wake_failure.map(|(_, why)| why),
    }
}

pub(super) async fn autosleep_of(state: &AppState, app: &AppName) -> Result<Autosleep, ApiError> {
    Ok(autosleep(state, state.store.app_sleep(app).await?))
}

#[utoipa::path(get, path = "/v1/apps/{app}/autosleep", tag = "dynos",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "whether and when the app sleeps", body = Autosleep),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_autosleep(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Autosleep>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    Ok(Json(autosleep_of(&state, &app).await?))
}

#[utoipa::path(put, path = "/v1/apps/{app}/autosleep", tag = "dynos",
    params(("app" = String, Path, description = "app name")),
    request_body = AutosleepRequest,
    responses(
        (status = 200, description = "the setting is stored; an idle app sleeps once it is due", body = Autosleep),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "dynos run on the host's network, where apps cannot sleep", body = ErrorBody),
        (status = 422, description = "not a period, off or default", body = ErrorBody)))]
pub async fn set_autosleep(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Result<Json<AutosleepRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Autosleep>, ApiError> {
    let Json(body) = body?;
    let setting = SleepSetting::parse(&body.after).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_autosleep",
            e.to_string(),
        )
    })?;
    let app = state.store.get_app(&app).await?.name;
    if matches!(setting, SleepSetting::After(_)) && !state.reconciler.apps_can_sleep() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_sleep",
            "apps cannot sleep while dynos run on the host's network (dyno_network = \"host\" in skiffd.toml): a woken app's held requests need its private network",
        ));
    }
    state.store.set_autosleep(&app, setting).await?;
    tracing::info!(app = %app, autosleep = %setting, "autosleep set");
    // The next round decides with the new period (and tells the loop when the app is due).
    state.reconciler.poke();
    Ok(Json(autosleep_of(&state, &app).await?))
}
