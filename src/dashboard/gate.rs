//! Who may see the dashboard: login by a one-time link or an API token, the session every other
//! request needs, the CSRF token every form carries, and logging out.

use std::time::{SystemTime, UNIX_EPOCH};

use askama::Template;
use axum::body::{to_bytes, Body};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::render::{page, Chrome};
use super::session::{cleared_cookie, cookie_secret, csrf_matches, session_cookie};
use super::Dashboard;
use crate::model::{ApiToken, TokenHash, SESSION_TTL};

/// Largest form a page posts.
const MAX_FORM: usize = 64 * 1024;

/// The caller's live session, for handlers behind [`require_session`].
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) hash: TokenHash,
    pub(crate) csrf: String,
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether the browser reached skiff's Caddy over TLS (Caddy says so in `X-Forwarded-Proto`).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes() == b"https")
}

/// Who failed a login: the address Caddy saw, or the local socket.
fn client(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "local socket".to_owned())
}

fn presented_session(headers: &HeaderMap) -> Option<TokenHash> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookie_secret(cookies).map(|secret| ApiToken::presented(secret).hash())
}

/// The value of `name` in an urlencoded form (its tokens are hex, so never encoded).
fn form_field<'a>(form: &'a str, name: &str) -> Option<&'a str> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Middleware: a live session for every request, and the session's CSRF token in every POST.
pub(crate) async fn require_session(
    State(dashboard): State<Dashboard>,
    request: Request,
    next: Next,
) -> Response {
    let found = match presented_session(request.headers()) {
        Some(hash) => match dashboard.store.session(hash.clone(), unix_now()).await {
            Ok(found) => found.map(|record| Session {
                hash,
                csrf: record.csrf,
            }),
            Err(e) => return failure_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        None => None,
    };
    let Some(session) = found else {
        return if request.method() == Method::GET && !wants_stream(request.headers()) {
            Redirect::to("/login").into_response()
        } else {
            // Read what was sent first: a proxy still writing the body when the answer comes
            // and the connection closes would answer its client 502 instead of this 401.
            let _ = to_bytes(request.into_body(), MAX_FORM).await;
            (
                StatusCode::UNAUTHORIZED,
                "log in first: run 'skiff dashboard' on the server for a login link\n",
            )
                .into_response()
        };
    };
    let mut request = if request.method() == Method::POST {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_FORM).await else {
            return failure_page(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large");
        };
        let form = String::from_utf8_lossy(&bytes);
        if !form_field(&form, "csrf").is_some_and(|token| csrf_matches(&session.csrf, token)) {
            tracing::warn!(path = %parts.uri.path(), "dashboard refused a form without its session's CSRF token");
            return failure_page(
                StatusCode::FORBIDDEN,
                "this form was not sent by the dashboard page (its CSRF token is missing or wrong); reload the page and try again",
            );
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    request.extensions_mut().insert(session);
    next.run(request).await
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .is_some_and(|accept| accept.as_bytes().starts_with(b"text/event-stream"))
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    chrome: Chrome,
}

fn login_page(status: StatusCode, error: Option<String>) -> Response {
    let mut chrome = Chrome::bare("Log in");
    chrome.error = error;
    page(status, &LoginPage { chrome })
}

pub(crate) fn failure_page(status: StatusCode, message: &str) -> Response {
    let mut chrome = Chrome::bare("Refused");
    chrome.error = Some(message.to_owned());
    page(status, &LoginPage { chrome })
}

#[derive(Deserialize)]
pub(crate) struct LinkQuery {
    link: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    token: String,
}

/// A new session's cookie and CSRF token.
struct NewSession {
    secret: ApiToken,
    csrf: String,
}

impl NewSession {
    fn new() -> Self {
        Self {
            secret: ApiToken::generate(),
            csrf: ApiToken::generate().expose().to_owned(),
        }
    }

    fn open(&self, headers: &HeaderMap) -> Response {
        let cookie = session_cookie(
            self.secret.expose(),
            SESSION_TTL.as_secs(),
            over_tls(headers),
        );
        let mut response = Redirect::to("/").into_response();
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
    }
}

/// Checks the client's allowance of failed logins; the refusal page when it is used up.
fn limited(dashboard: &Dashboard, client: &str) -> Option<Response> {
    let wait = match dashboard.limiter.lock() {
        Ok(mut limiter) => limiter.check(client, unix_now()).err()?,
        Err(_) => 60,
    };
    tracing::warn!(%client, "dashboard login refused: too many failed logins");
    let mut response = login_page(
        StatusCode::TOO_MANY_REQUESTS,
        Some(format!(
            "too many failed logins from {client}; try again in {wait} s"
        )),
    );
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Some(response)
}

fn refuse_login(dashboard: &Dashboard, client: &str, how: &str, message: &str) -> Response {
    if let Ok(mut limiter) = dashboard.limiter.lock() {
        limiter.record_failure(client, unix_now());
    }
    tracing::warn!(%client, how, "dashboard login failed");
    login_page(StatusCode::UNAUTHORIZED, Some(message.to_owned()))
}

/// `GET /login`: the login page, or with `?link=` the one-time link that opens a session.
pub(crate) async fn login_with_link(
    State(dashboard): State<Dashboard>,
    headers: HeaderMap,
    Query(query): Query<LinkQuery>,
) -> Response {
    let Some(link) = query.link else {
        return login_page(StatusCode::OK, None);
    };
    let client = client(&headers);
    if let Some(refused) = limited(&dashboard, &client) {
        return refused;
    }
    let new = NewSession::new();
    let now = unix_now();
    let opened = dashboard
        .store
        .use_login_link(
            ApiToken::presented(&link).hash(),
            new.secret.hash(),
            new.csrf.clone(),
            now,
            now + SESSION_TTL.as_secs() as i64,
        )
        .await;
    match opened {
        Ok(true) => {
            tracing::info!(%client, "dashboard login with a link");
            new.open(&headers)
        }
        Ok(false) => refuse_login(
            &dashboard,
            &client,
            "link",
            "this login link was used already, has expired or is unknown: run 'skiff dashboard' for a new one",
        ),
        Err(e) => failure_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `POST /login`: a session for whoever presents a valid API token.
pub(crate) async fn login_with_token(
    State(dashboard): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let client = client(&headers);
    if let Some(refused) = limited(&dashboard, &client) {
        return refused;
    }
    let found = dashboard
        .store
        .authenticate_token(ApiToken::presented(form.token.trim()).hash())
        .await;
    let name = match found {
        Ok(Some(name)) => name,
        Ok(None) => {
            return refuse_login(&dashboard, &client, "token", "invalid or revoked API token")
        }
        Err(e) => return failure_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let new = NewSession::new();
    let now = unix_now();
    let added = dashboard
        .store
        .add_session(
            new.secret.hash(),
            new.csrf.clone(),
            now,
            now + SESSION_TTL.as_secs() as i64,
        )
        .await;
    match added {
        Ok(()) => {
            tracing::info!(%client, token = %name, "dashboard login with an API token");
            new.open(&headers)
        }
        Err(e) => failure_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `POST /logout`: ends the session here and in the browser.
pub(crate) async fn logout(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = dashboard.store.end_session(session.hash).await {
        return failure_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    tracing::info!("dashboard logout");
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&cleared_cookie(over_tls(&headers))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_found_by_exact_name() {
        for (form, field) in [
            ("csrf=ab12&quantity=2", Some("ab12")),
            ("quantity=2&csrf=ab12", Some("ab12")),
            ("xcsrf=ab12", None),
            ("csrf", None),
            ("", None),
        ] {
            assert_eq!(form_field(form, "csrf"), field, "{form:?}");
        }
    }

    #[test]
    fn the_client_is_the_first_forwarded_address() {
        let mut headers = HeaderMap::new();
        assert_eq!(client(&headers), "local socket");
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("192.0.2.7, 10.0.0.1"),
        );
        assert_eq!(client(&headers), "192.0.2.7");
        assert!(!over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_tls(&headers));
    }
}
