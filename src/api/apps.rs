//! `/v1/apps`: create, list, show, rename and destroy apps.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::cron::cron_jobs;
use super::dynos::{dynos_of, formation_items};
use super::error::ApiError;
use super::{AppState, Caller};
use crate::files::disk_usage;
use crate::model::AppName;
use crate::store::AppRecord;
use crate::wire::{App, AppInfo, CreateApp, DiskUse, ErrorBody, Release, RenameApp};

impl App {
    fn from_record(record: AppRecord, state: &AppState) -> Self {
        Self {
            web_url: format!("http://{}.{}/", record.name, state.base_domain.as_str()),
            name: record.name.to_string(),
            created_at: record.created_at,
            sleep: record.sleep.as_str().to_owned(),
            sleeping_since: record.sleeping_since_ms.map(crate::monitor::rfc3339_ms),
        }
    }
}

#[utoipa::path(get, path = "/v1/apps", tag = "apps",
    responses((status = 200, description = "all apps, by name", body = [App])))]
pub async fn list_apps(State(state): State<AppState>) -> Result<Json<Vec<App>>, ApiError> {
    let apps = state.store.list_apps().await?;
    Ok(Json(
        apps.into_iter()
            .map(|a| App::from_record(a, &state))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/apps", tag = "apps", request_body = CreateApp,
    responses(
        (status = 201, description = "app created", body = App),
        (status = 409, description = "an app of that name exists", body = ErrorBody),
        (status = 422, description = "invalid or reserved name", body = ErrorBody)))]
pub async fn create_app(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<CreateApp>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    let Json(body) = body?;
    let name = AppName::parse(&body.name)?;
    let record = state.store.create_app(name).await?;
    tracing::info!(app = %record.name, caller = %caller.describe(), "app created");
    // The reconciler's next round gives the new app its network, before anything runs in it.
    state.reconciler.poke();
    Ok((StatusCode::CREATED, Json(App::from_record(record, &state))))
}

#[utoipa::path(get, path = "/v1/apps/{app}", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app", body = App),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<App>, ApiError> {
    let record = state.store.get_app(&app).await?;
    Ok(Json(App::from_record(record, &state)))
}

#[utoipa::path(patch, path = "/v1/apps/{app}", tag = "apps", request_body = RenameApp,
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app under its new name; its dynos are replaced by ones of that name", body = App),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "the name is taken, or a deploy of the app is running", body = ErrorBody),
        (status = 422, description = "invalid or reserved name, or the app's own", body = ErrorBody)))]
pub async fn rename_app(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<RenameApp>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<App>, ApiError> {
    let Json(body) = body?;
    let old = state.store.get_app(&app).await?.name;
    let new = AppName::parse(&body.name)?;
    let record = state.deployer.rename_app(&old, &new).await?;
    tracing::info!(app = %new, renamed_from = %old, caller = %caller.describe(), "app renamed");
    super::drains::apps_changed(&state).await;
    Ok(Json(App::from_record(record, &state)))
}

#[utoipa::path(get, path = "/v1/apps/{app}/info", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's release, formation, dynos, domains, health check, scheduled jobs and disk use", body = AppInfo),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn app_info(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<AppInfo>, ApiError> {
    let record = state.store.get_app(&app).await?;
    let name = record.name.clone();
    let routing = state.store.routing_settings(&name).await?;
    let release = state.store.current_release(&name).await?;
    let pending = state.store.pending_release(&name).await?;
    let formation = formation_items(state.store.formation(&name).await?, &state.dyno_defaults);
    let dynos = dynos_of(&state, &name).await?;
    let cron = cron_jobs(&state, &name).await?;
    let addons = super::addons::addons_of(&state, &name).await?;
    let volumes = super::volumes::volumes_of(&state, &name).await?;
    let layout = state.layout.clone();
    let disk_app = name.clone();
    let owned: Vec<_> = addons
        .iter()
        .filter(|a| a.owner.as_deref() == Some(name.as_str()))
        .filter_map(|a| crate::model::AddonName::parse(&a.name).ok())
        .collect();
    let disk = tokio::task::spawn_blocking(move || {
        let slugs = disk_usage(&layout.slugs_dir(&disk_app));
        let cache = disk_usage(&layout.cache_dir(&disk_app));
        let builds = disk_usage(&layout.builds_dir(&disk_app));
        let repo = disk_usage(&layout.repo_dir(&disk_app));
        let backups = owned
            .iter()
            .map(|a| disk_usage(&layout.backup_dir(a)))
            .sum();
        DiskUse {
            slugs,
            cache,
            builds,
            repo,
            backups,
            total: slugs + cache + builds + repo + backups,
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(AppInfo {
        app: App::from_record(record, &state),
        domains: routing.domains.iter().map(ToString::to_string).collect(),
        release: release.map(Release::from),
        pending_release: pending.map(|p| p.version),
        maintenance: routing.maintenance,
        compression: routing.compression.enabled(),
        health_check: routing.health_check.to_string(),
        formation,
        dynos,
        cron,
        disk,
        addons,
        volumes,
        autosleep: super::sleep::autosleep_of(&state, &name).await?,
        former_names: state
            .store
            .former_names(&name)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect(),
    }))
}

#[utoipa::path(delete, path = "/v1/apps/{app}", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 204, description = "app destroyed"),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn delete_app(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
) -> Result<StatusCode, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    state.store.delete_app(&app).await?;
    tracing::info!(app = %app, caller = %caller.describe(), "app destroyed");
    super::drains::apps_changed(&state).await;
    // The reconciler stops the app's units, then removes its files.
    state.reconciler.poke();
    Ok(StatusCode::NO_CONTENT)
}
