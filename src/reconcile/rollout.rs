//! The zero-downtime step of one app (pure): when the web dynos the DB wants differ from those
//! the proxy routes to, wait for the new ones' health checks, then switch the routes (and let a
//! pending release go live), or fail the release, or hold dynos that never became healthy.

use std::collections::BTreeSet;

use crate::model::{DynoName, DynoUnit, Route};

/// What the health check says about a new web dyno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not started yet, or still inside its boot timeout.
    Waiting,
    Healthy,
    /// Why it never became healthy (timeout, crash).
    Failed(String),
}

/// A web dyno the DB wants, with its port once it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedWeb {
    pub unit: DynoUnit,
    pub port: Option<u16>,
    pub health: Health,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutStep {
    /// The proxy already routes to exactly the wanted web dynos.
    Settled,
    /// New web dynos are still booting; the old ones keep serving.
    Waiting,
    /// Route to these dynos now; the pending release (if any) goes live with the switch.
    Switch {
        routes: Vec<Route>,
        promote: Option<u32>,
    },
    /// The pending release's web dynos failed: it never goes live, the routed dynos stay.
    FailRelease { version: u32, reason: String },
    /// Dynos added by a scale or restart (no release pending) that never became healthy: hold
    /// them as crashed so the rest can be switched to.
    Hold(Vec<(DynoName, String)>),
}

/// Every failed dyno with its reason, as one line: `web.1 crashed; web.2 timed out`.
pub fn describe_failures(failures: &[(DynoName, String)]) -> String {
    failures
        .iter()
        .map(|(dyno, why)| format!("{dyno} {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Decides the next step for one app from its wanted web dynos, its routes and its pending
/// release.
pub fn rollout_step(wanted: &[WantedWeb], routed: &[Route], pending: Option<u32>) -> RolloutStep {
    let routed_names: BTreeSet<&str> = routed.iter().map(|r| r.unit_name.as_str()).collect();
    let fresh: Vec<&WantedWeb> = wanted
        .iter()
        .filter(|w| !routed_names.contains(w.unit.unit_name().as_str()))
        .collect();
    let failures: Vec<(DynoName, String)> = fresh
        .iter()
        .filter_map(|w| match &w.health {
            Health::Failed(why) => Some((w.unit.dyno.clone(), why.clone())),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        return match pending {
            Some(version) => RolloutStep::FailRelease {
                version,
                reason: describe_failures(&failures),
            },
            None => RolloutStep::Hold(failures),
        };
    }
    let booting = fresh
        .iter()
        .any(|w| w.port.is_none() || w.health != Health::Healthy);
    if booting {
        return RolloutStep::Waiting;
    }
    let routes: Vec<Route> = wanted
        .iter()
        .filter_map(|w| {
            Some(Route {
                unit_name: w.unit.unit_name(),
                dyno: w.unit.dyno.clone(),
                port: w.port?,
            })
        })
        .collect();
    let same = routes.len() == routed.len()
        && routes
            .iter()
            .all(|r| routed_names.contains(r.unit_name.as_str()));
    if same && pending.is_none() {
        RolloutStep::Settled
    } else {
        RolloutStep::Switch {
            routes,
            promote: pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AppName;

    fn unit(dyno: &str, release: u32, generation: u32) -> DynoUnit {
        DynoUnit {
            app: AppName::parse("hello").unwrap(),
            dyno: DynoName::parse(dyno).unwrap(),
            release,
            generation,
        }
    }

    fn wanted(dyno: &str, release: u32, port: Option<u16>, health: Health) -> WantedWeb {
        WantedWeb {
            unit: unit(dyno, release, 0),
            port,
            health,
        }
    }

    fn route(dyno: &str, release: u32, port: u16) -> Route {
        let u = unit(dyno, release, 0);
        Route {
            unit_name: u.unit_name(),
            dyno: u.dyno,
            port,
        }
    }

    #[test]
    fn table() {
        use Health::*;
        struct Case {
            name: &'static str,
            wanted: Vec<WantedWeb>,
            routed: Vec<Route>,
            pending: Option<u32>,
            want: RolloutStep,
        }
        let cases = vec![
            Case {
                name: "no web dynos wanted or routed",
                wanted: vec![],
                routed: vec![],
                pending: None,
                want: RolloutStep::Settled,
            },
            Case {
                name: "routed dynos need no health check",
                wanted: vec![wanted("web.1", 1, Some(20000), Waiting)],
                routed: vec![route("web.1", 1, 20000)],
                pending: None,
                want: RolloutStep::Settled,
            },
            Case {
                name: "a pending release waits for its booting dynos",
                wanted: vec![
                    wanted("web.1", 2, Some(20001), Healthy),
                    wanted("web.2", 2, Some(20002), Waiting),
                ],
                routed: vec![route("web.1", 1, 20000)],
                pending: Some(2),
                want: RolloutStep::Waiting,
            },
            Case {
                name: "a dyno without a port yet is still booting",
                wanted: vec![wanted("web.1", 2, None, Healthy)],
                routed: vec![route("web.1", 1, 20000)],
                pending: Some(2),
                want: RolloutStep::Waiting,
            },
            Case {
                name: "all healthy: switch and promote",
                wanted: vec![
                    wanted("web.1", 2, Some(20001), Healthy),
                    wanted("web.2", 2, Some(20002), Healthy),
                ],
                routed: vec![route("web.1", 1, 20000)],
                pending: Some(2),
                want: RolloutStep::Switch {
                    routes: vec![route("web.1", 2, 20001), route("web.2", 2, 20002)],
                    promote: Some(2),
                },
            },
            Case {
                name: "a pending release without web dynos goes live at once",
                wanted: vec![],
                routed: vec![route("web.1", 1, 20000)],
                pending: Some(2),
                want: RolloutStep::Switch {
                    routes: vec![],
                    promote: Some(2),
                },
            },
            Case {
                name: "one failed dyno fails the pending release with every reason",
                wanted: vec![
                    wanted("web.1", 2, Some(20001), Failed("timed out".into())),
                    wanted("web.2", 2, Some(20002), Failed("crashed".into())),
                ],
                routed: vec![route("web.1", 1, 20000)],
                pending: Some(2),
                want: RolloutStep::FailRelease {
                    version: 2,
                    reason: "web.1 timed out; web.2 crashed".into(),
                },
            },
            Case {
                name: "scale down switches to the remaining dynos",
                wanted: vec![wanted("web.1", 1, Some(20000), Waiting)],
                routed: vec![route("web.1", 1, 20000), route("web.2", 1, 20001)],
                pending: None,
                want: RolloutStep::Switch {
                    routes: vec![route("web.1", 1, 20000)],
                    promote: None,
                },
            },
            Case {
                name: "scale up keeps the routed dyno while the new one boots",
                wanted: vec![
                    wanted("web.1", 1, Some(20000), Waiting),
                    wanted("web.2", 1, Some(20001), Waiting),
                ],
                routed: vec![route("web.1", 1, 20000)],
                pending: None,
                want: RolloutStep::Waiting,
            },
            Case {
                name: "an unhealthy dyno of a scale is held, not a release failure",
                wanted: vec![
                    wanted("web.1", 1, Some(20000), Waiting),
                    wanted("web.2", 1, Some(20001), Failed("timed out".into())),
                ],
                routed: vec![route("web.1", 1, 20000)],
                pending: None,
                want: RolloutStep::Hold(vec![(
                    DynoName::parse("web.2").unwrap(),
                    "timed out".into(),
                )]),
            },
        ];
        for c in cases {
            assert_eq!(
                rollout_step(&c.wanted, &c.routed, c.pending),
                c.want,
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn a_restart_generation_is_a_new_unit_that_replaces_the_routed_one() {
        let next = WantedWeb {
            unit: unit("web.1", 1, 1),
            port: Some(20001),
            health: Health::Healthy,
        };
        let step = rollout_step(
            std::slice::from_ref(&next),
            &[route("web.1", 1, 20000)],
            None,
        );
        assert_eq!(
            step,
            RolloutStep::Switch {
                routes: vec![Route {
                    unit_name: "skiff-hello.web.1.v1.g1.service".into(),
                    dyno: DynoName::parse("web.1").unwrap(),
                    port: 20001
                }],
                promote: None
            }
        );
    }
}
