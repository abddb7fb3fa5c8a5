//! The HTTP API under `/v1`: routes, shared state, middleware and the generated OpenAPI document.

mod addons;
mod alerts;
mod apps;
pub mod auth;
mod backup_schedules;
mod backups;
mod buildpacks;
mod cron;
mod dashboard;
mod deploys;
mod drains;
pub mod dynos;
pub mod error;
mod health;
mod keys;
mod logs;
mod metrics;
mod network;
mod releases;
mod routing;
mod runs;
mod server;
pub mod shutdown;
mod sleep;
mod tokens;
mod volumes;

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderName, Request};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::build::pipeline::Deployer;
use crate::config::BaseDomain;
use crate::journal::LogSource;
use crate::oneoff::Runner;
use crate::paths::Layout;
use crate::reconciler::{DynoDefaults, Reconciler};
use crate::store::Store;
use crate::systemd::Systemd;
pub use auth::{Caller, LocalPolicy, Peer, ProxiedListener};
use error::ApiError;

const REQUEST_ID: &str = "x-request-id";

/// Everything a handler may touch. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Router metrics not written to the database yet.
    pub metrics: crate::metrics::RouterMetrics,
    /// `alert_webhook` of skiffd.toml.
    pub alert_webhook: Option<crate::model::WebhookUrl>,
    /// The apps someone looks at the metrics of, sampled more often.
    pub watched: crate::monitor::Watched,
    /// The apps' dynos with their usage, as `ps` lists them.
    pub dynos: crate::monitor::DynoLister,
    pub systemd: Arc<dyn Systemd>,
    pub logs: Arc<dyn LogSource>,
    pub started: Instant,
    pub base_domain: BaseDomain,
    pub local_policy: LocalPolicy,
    pub reconciler: Reconciler,
    pub layout: Layout,
    pub limits: UploadLimits,
    pub dyno_defaults: DynoDefaults,
    pub deployer: Deployer,
    pub runner: Runner,
    /// The apps' log drains, one task each.
    pub drains: crate::drains::Drains,
    pub backups: BackupSettings,
    /// Where the dashboard's login links point.
    pub dashboard: crate::model::DashboardAddress,
}

/// What skiffd.toml says about add-on backups.
#[derive(Debug, Clone, Copy)]
pub struct BackupSettings {
    /// `backup_free_space_floor`, in bytes.
    pub floor: u64,
    /// `backup_keep_daily` and `backup_keep_weekly`: what a new schedule keeps by default.
    pub keep: crate::model::Retention,
}

/// Bounds on `skiff deploy` uploads.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_upload: u64,
    pub max_slug_size: u64,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "skiff API", description = "The local HTTP API of skiffd, the single-server PaaS daemon."),
    components(schemas(crate::wire::ErrorBody, crate::wire::ErrorDetail)),
    security(("bearer" = [])),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes with their OpenAPI description, built from the handlers' annotations.
fn documented_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(apps::list_apps, apps::create_app))
        .routes(routes!(apps::get_app, apps::rename_app, apps::delete_app))
        .routes(routes!(apps::app_info))
        .routes(routes!(drains::list_drains, drains::add_drain))
        .routes(routes!(drains::remove_drain))
        .routes(routes!(cron::list_cron))
        .routes(routes!(deploys::deploy))
        .routes(routes!(deploys::build))
        .routes(routes!(releases::get_config, releases::patch_config))
        .routes(routes!(releases::list_releases))
        .routes(routes!(releases::get_release))
        .routes(routes!(releases::release_output))
        .routes(routes!(releases::list_events))
        .routes(routes!(releases::rollback))
        .routes(routes!(keys::list_keys, keys::add_key))
        .routes(routes!(keys::remove_key))
        .routes(routes!(dynos::list_dynos))
        .routes(routes!(dynos::get_formation, dynos::scale))
        .routes(routes!(dynos::resize))
        .routes(routes!(dynos::restart))
        .routes(routes!(dynos::stop))
        .routes(routes!(sleep::get_autosleep, sleep::set_autosleep))
        .routes(routes!(metrics::app_metrics))
        .routes(routes!(alerts::list_alerts, alerts::add_alert))
        .routes(routes!(alerts::remove_alert))
        .routes(routes!(alerts::set_alert_webhook))
        .routes(routes!(routing::list_domains, routing::add_domain))
        .routes(routes!(routing::remove_domain))
        .routes(routes!(routing::set_maintenance))
        .routes(routes!(routing::get_compression, routing::set_compression))
        .routes(routes!(
            routing::get_health_check,
            routing::set_health_check
        ))
        .routes(routes!(addons::list_addons, addons::create_addon))
        .routes(routes!(addons::get_addon, addons::destroy_addon))
        .routes(routes!(addons::attach_addon))
        .routes(routes!(addons::detach_addon))
        .routes(routes!(addons::rotate_credentials))
        .routes(routes!(addons::credentials))
        .routes(routes!(addons::server_info))
        .routes(routes!(addons::set_policy))
        .routes(routes!(addons::list_sessions))
        .routes(routes!(addons::kill_session))
        .routes(routes!(addons::reset_database))
        .routes(routes!(addons::list_plans))
        .routes(routes!(backups::list_backups, backups::capture_backup))
        .routes(routes!(backups::get_backup, backups::delete_backup))
        .routes(routes!(backups::restore_backup))
        .routes(routes!(backups::download_backup))
        .routes(routes!(
            backup_schedules::set_schedule,
            backup_schedules::remove_schedule
        ))
        .routes(routes!(volumes::list_volumes, volumes::create_volume))
        .routes(routes!(volumes::destroy_volume))
        .routes(routes!(
            buildpacks::get_buildpacks,
            buildpacks::set_buildpacks
        ))
        .routes(routes!(network::get_network))
        .routes(routes!(network::set_egress))
        .routes(routes!(runs::run))
        .routes(routes!(logs::logs))
        .routes(routes!(server::backup_server))
        .routes(routes!(server::restore_server))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(dashboard::create_link))
        .routes(routes!(dashboard::end_sessions))
        .split_for_parts()
}

/// The OpenAPI document as served at `/v1/openapi.json`.
#[cfg(test)]
fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().1
}

/// The complete service: routes, auth, body limit, request ids and request logging.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let (routes, doc) = documented_routes();
    let doc = Arc::new(doc);
    let request_id = HeaderName::from_static(REQUEST_ID);
    routes
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc = Arc::clone(&doc);
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint; see /v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed for this endpoint; see /v1/openapi.json",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state)
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_schema_is_in_the_document() {
        let doc = openapi();
        let schemas = &doc.components.expect("components").schemas;
        let names: Vec<&str> = schemas.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "AddAlert",
                "AddDrain",
                "AddKey",
                "Addon",
                "AddonChanged",
                "AddonCredentials",
                "AddonRelease",
                "AddonServerInfo",
                "Alert",
                "AlertList",
                "AlertWebhookRequest",
                "App",
                "AppBuildpacks",
                "AppEvent",
                "AppInfo",
                "AppMetrics",
                "AttachAddon",
                "Attachment",
                "Autosleep",
                "AutosleepRequest",
                "BTreeMap",
                "Backup",
                "BackupList",
                "BackupRestored",
                "BackupScheduleBody",
                "BackupScheduleRequest",
                "BuildEvent",
                "CompressionBody",
                "ConfigChanged",
                "CreateAddon",
                "CreateApp",
                "CreateToken",
                "CreateVolume",
                "CreatedToken",
                "CronJobInfo",
                "DashboardLink",
                "DiskUse",
                "DomainRequest",
                "Domains",
                "Drain",
                "Dyno",
                "DynoUsage",
                "DynoUsagePoint",
                "EgressRequest",
                "ErrorBody",
                "ErrorDetail",
                "FormationItem",
                "Health",
                "HealthCheckBody",
                "Key",
                "Maintenance",
                "NetworkInfo",
                "PgSessionInfo",
                "PlanInfo",
                "PolicyRequest",
                "ProcessUsage",
                "Release",
                "ReleaseInfo",
                "RenameApp",
                "ResizeRequest",
                "RestartRequest",
                "Restarted",
                "RestoredAddon",
                "RollbackRequest",
                "RouterPoint",
                "RunBody",
                "RunStarted",
                "ScaleRequest",
                "ServerRestored",
                "SessionsEnded",
                "SetBuildpacks",
                "TerminalBody",
                "Token",
                "Volume",
                "VolumeChanged",
            ]
        );
    }
}
