//! The dashboard's pure security rules: the session cookie, the CSRF check, the response
//! headers every page carries, and the limit on failed logins.

use std::collections::{BTreeMap, VecDeque};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "skiff_session";

/// Only the dashboard's own scripts, styles, images and connections; no frames, no foreign forms.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Failed logins one client may make within [`FAILURE_WINDOW_SECS`].
pub(crate) const MAX_FAILURES: usize = 10;
pub(crate) const FAILURE_WINDOW_SECS: i64 = 10 * 60;
/// Clients remembered at once; past it, new clients share one allowance.
const MAX_CLIENTS: usize = 1024;
const SHARED_CLIENT: &str = "*";

/// The `Set-Cookie` value that starts a session (`secure` over TLS).
pub(crate) fn session_cookie(secret: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// The `Set-Cookie` value that ends it in the browser.
pub(crate) fn cleared_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// The session secret in a `Cookie` header, if any.
pub(crate) fn cookie_secret(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Whether a form's CSRF token is the session's, compared in time independent of where they differ.
pub(crate) fn csrf_matches(expected: &str, presented: &str) -> bool {
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Failed logins per client in the last window.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    failures: BTreeMap<String, VecDeque<i64>>,
}

impl LoginLimiter {
    fn key<'a>(&self, client: &'a str) -> &'a str {
        if self.failures.contains_key(client) || self.failures.len() < MAX_CLIENTS {
            client
        } else {
            SHARED_CLIENT
        }
    }

    fn forget_before(&mut self, now: i64) {
        let horizon = now - FAILURE_WINDOW_SECS;
        for times in self.failures.values_mut() {
            while times.front().is_some_and(|t| *t <= horizon) {
                times.pop_front();
            }
        }
        self.failures.retain(|_, times| !times.is_empty());
    }

    /// `Err(seconds)` to wait when the client used its failures up.
    pub(crate) fn check(&mut self, client: &str, now: i64) -> Result<(), i64> {
        self.forget_before(now);
        match self.failures.get(self.key(client)) {
            Some(times) if times.len() >= MAX_FAILURES => Err(times
                .front()
                .map_or(1, |first| first + FAILURE_WINDOW_SECS - now)),
            _ => Ok(()),
        }
    }

    pub(crate) fn record_failure(&mut self, client: &str, now: i64) {
        self.forget_before(now);
        let key = self.key(client).to_owned();
        self.failures.entry(key).or_default().push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        assert_eq!(
            session_cookie("abc", 60, true),
            "skiff_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert_eq!(
            session_cookie("abc", 60, false),
            "skiff_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(cleared_cookie(false).starts_with("skiff_session=; "));
        assert!(cleared_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn the_secret_is_read_from_the_cookie_header() {
        for (header, secret) in [
            ("skiff_session=abc", Some("abc")),
            ("theme=dark; skiff_session=abc; x=1", Some("abc")),
            ("theme=dark;skiff_session= abc ", Some("abc")),
            ("skiff_session=", None),
            ("other_session=abc", None),
            ("xskiff_session=abc", None),
            ("", None),
        ] {
            assert_eq!(cookie_secret(header), secret, "{header:?}");
        }
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        for (expected, presented, ok) in [
            ("a1b2", "a1b2", true),
            ("a1b2", "a1b3", false),
            ("a1b2", "a1b", false),
            ("a1b2", "", false),
            ("a1b2", "a1b2c", false),
        ] {
            assert_eq!(csrf_matches(expected, presented), ok, "{presented:?}");
        }
    }

    #[test]
    fn failed_logins_are_limited_per_client_within_the_window() {
        let mut limiter = LoginLimiter::default();
        for i in 0..MAX_FAILURES as i64 {
            assert_eq!(limiter.check("10.0.0.1", 100 + i), Ok(()));
            limiter.record_failure("10.0.0.1", 100 + i);
        }
        assert_eq!(
            limiter.check("10.0.0.1", 110),
            Err(FAILURE_WINDOW_SECS - 10)
        );
        assert_eq!(
            limiter.check("10.0.0.2", 110),
            Ok(()),
            "other clients are not held"
        );
        assert_eq!(
            limiter.check("10.0.0.1", 100 + FAILURE_WINDOW_SECS),
            Ok(()),
            "the first failure aged out"
        );
        assert_eq!(limiter.failures["10.0.0.1"].len(), MAX_FAILURES - 1);
    }

    #[test]
    fn past_the_client_limit_new_clients_share_one_allowance() {
        let mut limiter = LoginLimiter::default();
        for i in 0..MAX_CLIENTS {
            limiter.record_failure(&format!("c{i}"), 5);
        }
        for _ in 0..MAX_FAILURES {
            limiter.record_failure("newcomer", 6);
        }
        assert!(limiter.check("another", 7).is_err());
        assert_eq!(limiter.check("c1", 7), Ok(()));
        assert_eq!(limiter.failures.len(), MAX_CLIENTS + 1);
    }
}
