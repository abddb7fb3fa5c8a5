//! Web traffic as domain data: which dyno units the proxy routes an app's requests to, which
//! drain, and an app's routing settings.

use std::collections::BTreeMap;

use super::{AppName, Domain, DynoName, HealthCheck, NetworkSlot};

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
    /// Routed dynos, by unit name (draining ones are not here).
    pub upstreams: Vec<Route>,
    /// The app's slot in the private network range, once it has one.
    pub network_slot: Option<NetworkSlot>,
}

/// An app's routing settings as `apps:info` and `domains` show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingSettings {
    pub domains: Vec<Domain>,
    pub maintenance: bool,
    pub health_check: HealthCheck,
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
}
