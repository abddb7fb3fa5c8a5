//! `/v1/addons`: add-ons (create, list, attach, detach, rotate credentials, destroy), their
//! plans, and what their servers say (`pg:info`, `redis:info`). Handlers record intent and
//! wait for the reconciler rounds that carry it out: the server side made, the URL set in the
//! attached apps' config with a release.

use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::model::{
    connection_url, AddonEndpoint, AddonName, AddonSecret, AddonService, AddonState, AppName,
    AttachmentName, MaxmemoryPolicy,
};
use crate::store::{AddonRecord, AppRelease, NewAddon, StoreError};
use crate::wire::{
    Addon, AddonChanged, AddonCredentials, AddonRelease, AddonServerInfo, AddonsQuery, AttachAddon,
    Attachment, CreateAddon, DestroyQuery, ErrorBody, PgSessionInfo, PlanInfo, PolicyRequest,
};

/// The longest a request waits for the reconciler to make an add-on or set its URL (making
/// skiff's Postgres cluster the first time takes the longest).
const MAKE_TIMEOUT: Duration = Duration::from_secs(120);

fn addon_body(state: &AppState, record: &AddonRecord) -> Addon {
    Addon {
        name: record.name.to_string(),
        service: record.service.to_string(),
        plan: record.plan.to_string(),
        owner: record.owner.as_ref().map(ToString::to_string),
        state: record.state.as_str().to_owned(),
        attachments: record
            .attachments
            .iter()
            .map(|a| Attachment {
                app: a.app.to_string(),
                name: a.name.to_string(),
                config_var: a.name.config_key().to_string(),
                applied: a.applied_url.is_some(),
            })
            .collect(),
        created_at: record.created_at.clone(),
        failure: state.reconciler.addon_failure(&record.name),
    }
}

fn release_body(released: AppRelease) -> AddonRelease {
    AddonRelease {
        app: released.app.to_string(),
        release: released.release.map(|r| format!("v{}", r.version)),
    }
}

/// The add-on named `name`, refusing one that is being destroyed.
pub(super) async fn find(state: &AppState, name: &str) -> Result<AddonRecord, ApiError> {
    let record = state.store.addon(name).await?;
    if record.state == AddonState::Destroying {
        return Err(StoreError::AddonDestroying(record.name).into());
    }
    Ok(record)
}

/// Waits, round after round, until `done` holds for the add-on's row (or the row is gone when
/// `done` accepts that); a failure the reconciler reports for it ends the wait at once.
async fn wait_for(
    state: &AppState,
    name: &AddonName,
    done: impl Fn(Option<&AddonRecord>) -> bool,
) -> Result<Option<AddonRecord>, ApiError> {
    let started = Instant::now();
    loop {
        let record = match state.store.addon(name.as_str()).await {
            Ok(record) => Some(record),
            Err(StoreError::AddonNotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if done(record.as_ref()) {
            return Ok(record);
        }
        if let Some(failure) = state.reconciler.addon_failure(name) {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "addon_failed",
                format!("add-on {name} is not ready: {failure}; skiff keeps trying (see journalctl -u skiffd), or destroy it with skiff addons:destroy {name}"),
            ));
        }
        if started.elapsed() > MAKE_TIMEOUT {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "addon_timeout",
                format!("add-on {name} is still being made after {}s; skiff addons shows when it is ready", MAKE_TIMEOUT.as_secs()),
            ));
        }
        state.reconciler.wait_for_round().await;
    }
}

/// Whether `app`'s attachment carries the add-on's current URL.
fn url_applied(record: Option<&AddonRecord>, app: &AppName, listen: std::net::Ipv4Addr) -> bool {
    let Some(record) = record else {
        return false;
    };
    let (Some(port), Some(attachment)) = (record.port, record.attachment(app)) else {
        return false;
    };
    let url = connection_url(
        record.service,
        &record.name,
        &record.credential,
        AddonEndpoint { host: listen, port },
    );
    record.state == AddonState::Ready && attachment.applied_url.as_deref() == Some(url.as_str())
}

/// The release that set or changed the add-on's URL in `app`'s config, if it has one.
async fn url_release(
    state: &AppState,
    addon: &AddonName,
    app: &AppName,
) -> Result<AddonRelease, ApiError> {
    let releases = state.store.releases(app).await?;
    let mine = format!("{addon} (");
    let by = format!(" by {addon}");
    let release = releases
        .iter()
        .find(|r| {
            (r.description.starts_with("Attach ") && r.description.contains(&mine))
                || r.description.ends_with(&by)
        })
        .map(|r| format!("v{}", r.version));
    Ok(AddonRelease {
        app: app.to_string(),
        release,
    })
}

/// The answer to a create or attach: once `app`'s config carries the add-on's URL, the add-on
/// and the release that set it.
async fn attached(
    state: &AppState,
    record: AddonRecord,
    app: &AppName,
) -> Result<(StatusCode, Json<AddonChanged>), ApiError> {
    let listen = state.reconciler.networks().addon_addr();
    let made = wait_for(state, &record.name, |r| url_applied(r, app, listen)).await?;
    let record = made.unwrap_or(record);
    let release = url_release(state, &record.name, app).await?;
    Ok((
        StatusCode::CREATED,
        Json(AddonChanged {
            addon: addon_body(state, &record),
            releases: vec![release],
        }),
    ))
}

/// Refuses a destructive request whose `confirm` does not name the add-on's owner app; `what`
/// says what the request would do.
pub(super) fn confirmed(
    record: &AddonRecord,
    confirm: Option<&str>,
    what: &str,
) -> Result<(), ApiError> {
    let owner = record
        .owner
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    if confirm == Some(owner.as_str()) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "{what}; confirm with --confirm {owner}"
    )))
}

async fn refuse_unavailable(state: &AppState, service: AddonService) -> Result<(), ApiError> {
    match state.reconciler.addons().unavailable(service).await {
        Some(reason) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "addon_unavailable",
            reason,
        )),
        None => Ok(()),
    }
}

/// The add-ons `app` owns or is attached to, as the API shows them.
pub(super) async fn addons_of(state: &AppState, app: &AppName) -> Result<Vec<Addon>, ApiError> {
    let records = state.store.addons().await?;
    Ok(records
        .iter()
        .filter(|r| r.owner.as_ref() == Some(app) || r.attachment(app).is_some())
        .map(|r| addon_body(state, r))
        .collect())
}

#[utoipa::path(get, path = "/v1/addons", tag = "addons",
    params(AddonsQuery),
    responses(
        (status = 200, description = "add-ons, by name", body = [Addon]),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_addons(
    State(state): State<AppState>,
    Query(query): Query<AddonsQuery>,
) -> Result<Json<Vec<Addon>>, ApiError> {
    match &query.app {
        Some(app) => {
            let app = state.store.get_app(app).await?.name;
            Ok(Json(addons_of(&state, &app).await?))
        }
        None => {
            let records = state.store.addons().await?;
            Ok(Json(
                records.iter().map(|r| addon_body(&state, r)).collect(),
            ))
        }
    }
}

#[utoipa::path(post, path = "/v1/addons", tag = "addons",
    request_body = CreateAddon,
    responses(
        (status = 201, description = "made and attached to its app", body = AddonChanged),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "name or attachment taken", body = ErrorBody),
        (status = 422, description = "unknown service or plan", body = ErrorBody),
        (status = 503, description = "the service's server is not installed", body = ErrorBody)))]
pub async fn create_addon(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<CreateAddon>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<AddonChanged>), ApiError> {
    let Json(body) = body?;
    let service = AddonService::parse(&body.service)?;
    let plan = match &body.plan {
        Some(plan) => state.reconciler.addons().plans().find(plan)?.name.clone(),
        None => state
            .reconciler
            .addons()
            .plans()
            .default_plan()
            .name
            .clone(),
    };
    let attach_as = match &body.attach_as {
        Some(name) => AttachmentName::parse(name)?,
        None => service.default_attachment(),
    };
    let name = body.name.as_deref().map(AddonName::parse).transpose()?;
    let owner = state.store.get_app(&body.app).await?.name;
    refuse_unavailable(&state, service).await?;
    let record = state
        .store
        .create_addon(NewAddon {
            name,
            service,
            plan,
            owner: owner.clone(),
            attach_as,
            secret: AddonSecret::generate(),
        })
        .await?;
    tracing::info!(addon = %record.name, app = %owner, plan = %record.plan, caller = %caller.describe(), "add-on created");
    attached(&state, record, &owner).await
}

#[utoipa::path(get, path = "/v1/addons/{addon}", tag = "addons",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 200, description = "the add-on", body = Addon),
        (status = 404, description = "no such add-on", body = ErrorBody)))]
pub async fn get_addon(
    State(state): State<AppState>,
    Path(addon): Path<String>,
) -> Result<Json<Addon>, ApiError> {
    let record = state.store.addon(&addon).await?;
    Ok(Json(addon_body(&state, &record)))
}

#[utoipa::path(delete, path = "/v1/addons/{addon}", tag = "addons",
    params(("addon" = String, Path, description = "add-on name"), DestroyQuery),
    responses(
        (status = 200, description = "detached everywhere and its data destroyed", body = [AddonRelease]),
        (status = 400, description = "confirm does not name the owner app", body = ErrorBody),
        (status = 404, description = "no such add-on", body = ErrorBody)))]
pub async fn destroy_addon(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
    Query(query): Query<DestroyQuery>,
) -> Result<Json<Vec<AddonRelease>>, ApiError> {
    let record = find(&state, &addon).await?;
    let what = format!("destroying add-on {} deletes its data", record.name);
    confirmed(&record, query.confirm.as_deref(), &what)?;
    let released = state.store.destroy_addon(&record.name).await?;
    tracing::info!(addon = %record.name, caller = %caller.describe(), "add-on destroyed");
    wait_for(&state, &record.name, |r| r.is_none()).await?;
    Ok(Json(released.into_iter().map(release_body).collect()))
}

#[utoipa::path(post, path = "/v1/addons/{addon}/attachments", tag = "addons",
    params(("addon" = String, Path, description = "add-on name")),
    request_body = AttachAddon,
    responses(
        (status = 201, description = "attached: the app's config has the URL", body = AddonChanged),
        (status = 404, description = "no such add-on or app", body = ErrorBody),
        (status = 409, description = "already attached, or the name is taken", body = ErrorBody)))]
pub async fn attach_addon(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
    body: Result<Json<AttachAddon>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<AddonChanged>), ApiError> {
    let Json(body) = body?;
    let record = find(&state, &addon).await?;
    let app = state.store.get_app(&body.app).await?.name;
    let attach_as = match &body.attach_as {
        Some(name) => AttachmentName::parse(name)?,
        None => record.service.default_attachment(),
    };
    state
        .store
        .attach_addon(&record.name, &app, attach_as)
        .await?;
    tracing::info!(addon = %record.name, %app, caller = %caller.describe(), "add-on attached");
    attached(&state, record, &app).await
}

#[utoipa::path(delete, path = "/v1/addons/{addon}/attachments/{app}", tag = "addons",
    params(("addon" = String, Path, description = "add-on name"), ("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "detached: the URL left the app's config", body = AddonChanged),
        (status = 404, description = "not attached", body = ErrorBody)))]
pub async fn detach_addon(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((addon, app)): Path<(String, String)>,
) -> Result<Json<AddonChanged>, ApiError> {
    let record = find(&state, &addon).await?;
    let app = state.store.get_app(&app).await?.name;
    let released = state.store.detach_addon(&record.name, &app).await?;
    tracing::info!(addon = %record.name, %app, caller = %caller.describe(), "add-on detached");
    // Its access ends with the next round's rules.
    state.reconciler.wait_for_round().await;
    let record = state.store.addon(record.name.as_str()).await?;
    Ok(Json(AddonChanged {
        addon: addon_body(&state, &record),
        releases: vec![release_body(released)],
    }))
}

#[utoipa::path(post, path = "/v1/addons/{addon}/credentials/rotate", tag = "addons",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 200, description = "a new password, set in every attached app's config", body = AddonChanged),
        (status = 404, description = "no such add-on", body = ErrorBody)))]
pub async fn rotate_credentials(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
) -> Result<Json<AddonChanged>, ApiError> {
    let record = find(&state, &addon).await?;
    let record = state
        .store
        .rotate_addon_secret(&record.name, AddonSecret::generate())
        .await?;
    tracing::info!(addon = %record.name, caller = %caller.describe(), "add-on credentials rotated");
    let listen = state.reconciler.networks().addon_addr();
    let apps: Vec<AppName> = record.attachments.iter().map(|a| a.app.clone()).collect();
    let made = wait_for(&state, &record.name, |r| {
        apps.iter().all(|app| url_applied(r, app, listen))
    })
    .await?;
    let record = made.unwrap_or(record);
    let mut releases = Vec::new();
    for app in &apps {
        releases.push(url_release(&state, &record.name, app).await?);
    }
    Ok(Json(AddonChanged {
        addon: addon_body(&state, &record),
        releases,
    }))
}

#[utoipa::path(get, path = "/v1/addons/{addon}/credentials", tag = "addons",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 200, description = "the URL to connect with from the server", body = AddonCredentials),
        (status = 409, description = "not ready yet", body = ErrorBody)))]
pub async fn credentials(
    State(state): State<AppState>,
    Path(addon): Path<String>,
) -> Result<Json<AddonCredentials>, ApiError> {
    let record = find(&state, &addon).await?;
    let (Some(port), AddonState::Ready) = (record.port, record.state) else {
        return Err(crate::addons::AddonsError::NotReady(record.name).into());
    };
    let host = state.reconciler.networks().addon_addr();
    Ok(Json(AddonCredentials {
        url: connection_url(
            record.service,
            &record.name,
            &record.credential,
            AddonEndpoint { host, port },
        ),
    }))
}

#[utoipa::path(get, path = "/v1/addons/{addon}/info", tag = "addons",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 200, description = "what the add-on's server says", body = AddonServerInfo),
        (status = 409, description = "not ready yet", body = ErrorBody),
        (status = 502, description = "the server did not answer", body = ErrorBody)))]
pub async fn server_info(
    State(state): State<AppState>,
    Path(addon): Path<String>,
) -> Result<Json<AddonServerInfo>, ApiError> {
    let record = find(&state, &addon).await?;
    let addons = state.reconciler.addons();
    let plan = addons.plans().find(record.plan.as_str()).ok().cloned();
    let mut info = AddonServerInfo {
        name: record.name.to_string(),
        service: record.service.to_string(),
        version: String::new(),
        plan: record.plan.to_string(),
        attached: record
            .attachments
            .iter()
            .map(|a| a.app.to_string())
            .collect(),
        size_bytes: None,
        connections: None,
        connection_limit: None,
        maxmemory: None,
        policy: None,
        used_memory: None,
        clients: None,
        keys: None,
    };
    match record.service {
        AddonService::Postgres => {
            let pg = addons.postgres_info(&record).await?;
            info.version = pg.version;
            info.size_bytes = Some(pg.size_bytes);
            info.connections = Some(pg.connections);
            info.connection_limit = plan.map(|p| p.postgres_connections);
        }
        AddonService::Redis => {
            let listen = state.reconciler.networks().addon_addr();
            let redis = addons.redis_info(&record, listen).await?;
            info.version = redis.version;
            info.maxmemory = plan.map(|p| p.redis_memory);
            info.policy = Some(record.policy.as_str().to_owned());
            info.used_memory = Some(redis.used_memory);
            info.clients = Some(redis.clients);
            info.keys = Some(redis.keys);
        }
    }
    Ok(Json(info))
}

#[utoipa::path(get, path = "/v1/addons/{addon}/sessions", tag = "addons",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 200, description = "the sessions on a Postgres add-on's database", body = [PgSessionInfo]),
        (status = 409, description = "not a ready Postgres add-on", body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Path(addon): Path<String>,
) -> Result<Json<Vec<PgSessionInfo>>, ApiError> {
    let record = find(&state, &addon).await?;
    let sessions = state.reconciler.addons().postgres_sessions(&record).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| PgSessionInfo {
                pid: s.pid,
                state: s.state,
                since: s.since,
                query: s.query,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/v1/addons/{addon}/sessions/{pid}", tag = "addons",
    params(("addon" = String, Path, description = "add-on name"), ("pid" = i32, Path, description = "the session's process id")),
    responses(
        (status = 204, description = "the session was ended"),
        (status = 404, description = "no such session on the add-on's database", body = ErrorBody)))]
pub async fn kill_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((addon, pid)): Path<(String, i32)>,
) -> Result<StatusCode, ApiError> {
    let record = find(&state, &addon).await?;
    if !state
        .reconciler
        .addons()
        .postgres_kill(&record, pid)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "no session {pid} on the database of {}; skiff pg:ps lists them",
            record.name
        )));
    }
    tracing::info!(addon = %record.name, pid, caller = %caller.describe(), "add-on session ended");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/addons/{addon}/reset", tag = "addons",
    params(("addon" = String, Path, description = "add-on name"), DestroyQuery),
    responses(
        (status = 200, description = "the database is empty again, with the same credentials", body = Addon),
        (status = 400, description = "confirm does not name the owner app", body = ErrorBody),
        (status = 409, description = "not a ready Postgres add-on", body = ErrorBody)))]
pub async fn reset_database(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
    Query(query): Query<DestroyQuery>,
) -> Result<Json<Addon>, ApiError> {
    let record = find(&state, &addon).await?;
    let what = format!("resetting add-on {} deletes its data", record.name);
    confirmed(&record, query.confirm.as_deref(), &what)?;
    state.reconciler.addons().postgres_reset(&record).await?;
    tracing::info!(addon = %record.name, caller = %caller.describe(), "add-on database reset");
    Ok(Json(addon_body(&state, &record)))
}

#[utoipa::path(put, path = "/v1/addons/{addon}/policy", tag = "addons",
    params(("addon" = String, Path, description = "add-on name")),
    request_body = PolicyRequest,
    responses(
        (status = 200, description = "the policy, applied to the running server", body = Addon),
        (status = 422, description = "not a Redis policy, or not a Redis add-on", body = ErrorBody)))]
pub async fn set_policy(
    State(state): State<AppState>,
    Path(addon): Path<String>,
    body: Result<Json<PolicyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Addon>, ApiError> {
    let Json(body) = body?;
    let record = find(&state, &addon).await?;
    if record.service != AddonService::Redis {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_addon",
            format!(
                "{} is a {} add-on; maxmemory policies are Redis's",
                record.name, record.service
            ),
        ));
    }
    let policy = MaxmemoryPolicy::parse(&body.policy)?;
    let record = state.store.set_addon_policy(&record.name, policy).await?;
    state.reconciler.wait_for_round().await;
    Ok(Json(addon_body(&state, &record)))
}

#[utoipa::path(get, path = "/v1/addon-plans", tag = "addons",
    responses((status = 200, description = "the plans of this server", body = [PlanInfo])))]
pub async fn list_plans(State(state): State<AppState>) -> Json<Vec<PlanInfo>> {
    let plans = state.reconciler.addons().plans();
    let default = plans.default_plan().name.clone();
    Json(
        plans
            .all()
            .iter()
            .map(|p| PlanInfo {
                name: p.name.to_string(),
                postgres_connections: p.postgres_connections,
                redis_memory: p.redis_memory,
                default: p.name == default,
            })
            .collect(),
    )
}
