//! `/v1/apps/{app}/network`: where an app's dynos live, and `/network/egress`: whether they
//! reach the internet. A change is intent in the DB; the reconciler's next rules carry it out.

use axum::extract::{Path, State};
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::model::AppName;
use crate::network::NetworkDescription;
use crate::wire::{EgressRequest, ErrorBody, NetworkInfo};

impl From<NetworkDescription> for NetworkInfo {
    fn from(d: NetworkDescription) -> Self {
        Self {
            mode: if d.private { "private" } else { "host" }.to_owned(),
            namespace: d.placed.as_ref().map(|(ns, _)| ns.name.clone()),
            address: d
                .placed
                .as_ref()
                .map(|(ns, _)| ns.namespace_addr.to_string()),
            service_address: d.placed.as_ref().map(|(_, addr)| addr.to_string()),
            egress: d.egress,
            egress_source: if d.own_choice { "app" } else { "default" }.to_owned(),
        }
    }
}

async fn info(state: &AppState, app: &AppName) -> Result<NetworkInfo, ApiError> {
    Ok(state.reconciler.networks().describe(app).await?.into())
}

#[utoipa::path(get, path = "/v1/apps/{app}/network", tag = "network",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's network", body = NetworkInfo),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_network(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<NetworkInfo>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    Ok(Json(info(&state, &app).await?))
}

#[utoipa::path(put, path = "/v1/apps/{app}/network/egress", tag = "network",
    params(("app" = String, Path, description = "app name")),
    request_body = EgressRequest,
    responses(
        (status = 200, description = "egress set; running dynos get it at once", body = NetworkInfo),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn set_egress(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Result<Json<EgressRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<NetworkInfo>, ApiError> {
    let Json(body) = body?;
    let app = state.store.get_app(&app).await?.name;
    state
        .reconciler
        .networks()
        .set_egress(&app, body.egress)
        .await?;
    state.reconciler.poke();
    Ok(Json(info(&state, &app).await?))
}
