//! `/v1/tokens`: bearer tokens for the TCP listener, managed over the local socket only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{ApiToken, TokenName};
use crate::store::TokenRecord;
use crate::wire::{CreateToken, CreatedToken, ErrorBody, Token};

impl From<TokenRecord> for Token {
    fn from(r: TokenRecord) -> Self {
        Self {
            name: r.name.to_string(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses(
        (status = 200, description = "all tokens (without secrets)", body = [Token]),
        (status = 403, description = "not over the local socket", body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<Token>>, ApiError> {
    caller.require_local()?;
    let tokens = state.store.list_tokens().await?;
    Ok(Json(tokens.into_iter().map(Token::from).collect()))
}

#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, description = "token created; the secret is in this response only", body = CreatedToken),
        (status = 403, description = "not over the local socket", body = ErrorBody),
        (status = 409, description = "a token of that name exists", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<CreateToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_local()?;
    let Json(body) = body?;
    let name = TokenName::parse(&body.name)?;
    let token = ApiToken::generate();
    let record = state.store.create_token(name, token.hash()).await?;
    tracing::info!(token = %record.name, caller = %caller.describe(), "token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            name: record.name.to_string(),
            token: token.expose().to_owned(),
            created_at: record.created_at,
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "token name")),
    responses(
        (status = 204, description = "token revoked"),
        (status = 403, description = "not over the local socket", body = ErrorBody),
        (status = 404, description = "no such token", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_local()?;
    state.store.revoke_token(&name).await?;
    tracing::info!(token = %name, caller = %caller.describe(), "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
