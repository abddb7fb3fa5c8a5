//! Turning a page's template into a response: the frame every page shares and the headers
//! every response carries.

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::session::CONTENT_SECURITY_POLICY;

/// The tabs of an app's pages.
pub(crate) const APP_TABS: [(&str, &str); 5] = [
    ("overview", "Overview"),
    ("metrics", "Metrics"),
    ("activity", "Activity"),
    ("logs", "Logs"),
    ("settings", "Settings"),
];

/// What the frame around every page shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chrome {
    pub(crate) title: String,
    /// The app whose tabs the page shows, if any.
    pub(crate) app: Option<String>,
    /// Which tab (or `apps`) is current.
    pub(crate) tab: &'static str,
    /// The session's CSRF token, empty when logged out.
    pub(crate) csrf: String,
    pub(crate) notice: Option<String>,
    pub(crate) error: Option<String>,
}

impl Chrome {
    /// A page shown without a session.
    pub(crate) fn bare(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            ..Self::default()
        }
    }

    pub(crate) fn signed_in(&self) -> bool {
        !self.csrf.is_empty()
    }

    pub(crate) fn tabs(&self) -> &'static [(&'static str, &'static str)] {
        if self.app.is_some() {
            &APP_TABS
        } else {
            &[]
        }
    }
}

/// The rendered page, or a plain error when the template fails.
pub(crate) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the page: {e}\n"),
        )
            .into_response(),
    }
}

/// Middleware: the policy and headers every dashboard response carries.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
