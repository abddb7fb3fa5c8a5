//! Where an app's log line comes from, as `skiff logs --source` names it.

use std::fmt;

/// Which of an app's lines: its own processes' output (`app[web.1]`), skiff's lines about it
/// (systemd's about its units and skiffd's, `skiff[web.1]`, `skiff`), or the router's
/// (`skiff[router]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOrigin {
    App,
    Skiff,
    Router,
}

/// The names `--source` takes, in the order the help lists them.
pub const LOG_ORIGINS: [&str; 3] = ["app", "skiff", "router"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log source '{0}': use app, skiff or router")]
pub struct LogOriginError(String);

impl LogOrigin {
    pub fn parse(name: &str) -> Result<Self, LogOriginError> {
        match name {
            "app" => Ok(Self::App),
            "skiff" => Ok(Self::Skiff),
            "router" => Ok(Self::Router),
            other => Err(LogOriginError(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Skiff => "skiff",
            Self::Router => "router",
        }
    }
}

impl fmt::Display for LogOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_parses_back_to_itself_and_others_are_refused() {
        for name in LOG_ORIGINS {
            assert_eq!(LogOrigin::parse(name).unwrap().as_str(), name);
        }
        for bad in ["", "App", "heroku", "web.1", "router "] {
            let e = LogOrigin::parse(bad).unwrap_err();
            assert!(e.to_string().contains("use app, skiff or router"), "{e}");
        }
    }
}
