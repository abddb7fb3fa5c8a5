//! Web traffic as domain data: which dyno units the proxy routes an app's requests to, which
//! drain, and an app's routing settings (domains, maintenance, compression, health check).

use std::collections::BTreeMap;
use std::fmt;

use super::{AppName, Domain, DynoName, HealthCheck, NetworkSlot, SleepState};

/// A dyno unit the proxy sends an app's requests to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub unit_name: String,
    pub dyno: DynoName,
    pub port: u16,
}

/// One app as the proxy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoutes {
    pub app: AppName,
    pub domains: Vec<Domain>,
    pub maintenance: bool,
    pub compression: Compression,
    /// Routed dynos, by unit name (draining ones are not here).
    pub upstreams: Vec<Route>,
    /// The app's slot in the private network range, once it has one.
    pub network_slot: Option<NetworkSlot>,
    /// Sleeping or waking: the proxy holds its requests for a wake.
    pub sleep: SleepState,
    /// How many web dynos the formation wants: those a woken app's held requests go to.
    pub web_dynos: u32,
}

/// An app's routing settings as `apps:info` and `domains` show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingSettings {
    pub domains: Vec<Domain>,
    pub maintenance: bool,
    pub compression: Compression,
    pub health_check: HealthCheck,
}

/// Whether the proxy compresses an app's compressible responses (zstd or gzip, as the client
/// accepts): on unless the app's owner turns it off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    On,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compression is on or off, not {0:?}")]
pub struct CompressionError(String);

impl Compression {
    pub fn parse(raw: &str) -> Result<Self, CompressionError> {
        match raw {
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(CompressionError(other.to_owned())),
        }
    }

    pub fn from_enabled(enabled: bool) -> Self {
        if enabled {
            Self::On
        } else {
            Self::Off
        }
    }

    pub fn enabled(self) -> bool {
        self == Self::On
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.enabled() { "on" } else { "off" })
    }
}

/// An app's web traffic: which release waits to go live, which units the proxy routes to and
/// which drain, and the health check new web dynos must pass before they get traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRouting {
    pub pending: Option<u32>,
    pub routed: Vec<Route>,
    /// Units routed no more, kept running until the time (Unix seconds).
    pub draining: BTreeMap<String, i64>,
    pub health_check: HealthCheck,
    /// Whether the app sleeps or wakes (its dynos wait for a request).
    pub sleep: SleepState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_parses_and_shows_on_and_off_only() {
        for (raw, want) in [
            ("on", Ok(Compression::On)),
            ("off", Ok(Compression::Off)),
            ("On", Err(())),
            ("yes", Err(())),
            ("", Err(())),
        ] {
            let got = Compression::parse(raw);
            assert_eq!(got.clone().map_err(|_| ()), want, "{raw:?}");
            if let Ok(c) = got {
                assert_eq!(c.to_string(), raw);
                assert_eq!(Compression::from_enabled(c.enabled()), c);
            }
        }
        assert_eq!(
            Compression::parse("yes").unwrap_err().to_string(),
            r#"compression is on or off, not "yes""#
        );
        assert_eq!(Compression::default(), Compression::On);
    }
}
