//! `ps:wait`: wait until the app's formation is up on its live release, as `heroku ps:wait`.

use std::time::{Duration, Instant};

use clap::Subcommand;

use super::{CliError, Session};
use crate::wire::AppInfo;

#[derive(Debug, Subcommand)]
pub enum WaitVerb {
    /// Wait until every dyno of the formation is up on the live release (and none is pending).
    #[command(name = "ps:wait")]
    Wait {
        /// Only this process type.
        #[arg(long = "type")]
        process_type: Option<String>,
        /// Seconds between looks.
        #[arg(long, default_value_t = 1)]
        wait_interval: u64,
        /// Give up after this long, like 90s or 10m.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// What the formation still waits for, or `None` once it is up on the live release.
pub(crate) fn still_waiting(info: &AppInfo, process_type: Option<&str>) -> Option<String> {
    if let Some(pending) = info.pending_release {
        return Some(format!("release v{pending} is still rolling out"));
    }
    let Some(live) = info.release.as_ref().map(|r| r.version) else {
        return Some("the app has no release yet".to_owned());
    };
    if process_type.is_some_and(|t| !info.formation.iter().any(|f| f.process_type == t)) {
        return Some(format!(
            "the formation has no process type {}",
            process_type.unwrap_or_default()
        ));
    }
    info.formation
        .iter()
        .filter(|f| process_type.is_none_or(|t| f.process_type == t))
        .find_map(|f| {
            let up = info
                .dynos
                .iter()
                .filter(|d| {
                    d.process_type == f.process_type && d.state == "up" && d.release == Some(live)
                })
                .count();
            (up < f.quantity as usize).then(|| {
                format!(
                    "{}: {up} of {} dynos up on v{live}",
                    f.process_type, f.quantity
                )
            })
        })
}

pub(super) async fn run(verb: WaitVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let WaitVerb::Wait {
        process_type,
        wait_interval,
        timeout,
    } = verb;
    let (app, base) = s.app_path()?;
    let deadline = Instant::now() + timeout;
    loop {
        let info: AppInfo = s.client.get(&format!("{base}/info")).await?;
        match still_waiting(&info, process_type.as_deref()) {
            None => {
                let live = info.release.map_or(0, |r| r.version);
                let done = serde_json::json!({"app": app, "release": live, "dynos": info.dynos});
                return Ok(s.output.show(&done, |out, _| {
                    writeln!(out, "The formation of {app} is up on v{live}.")
                })?);
            }
            Some(reason) if Instant::now() >= deadline => {
                return Err(CliError::Failed(format!(
                    "gave up waiting for {app} after {}: {reason}",
                    humantime::format_duration(timeout)
                )))
            }
            Some(_) => tokio::time::sleep(Duration::from_secs(wait_interval.max(1))).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{app_info, dyno, formation, release};
    use crate::wire::Dyno;

    fn info(live: Option<u32>, pending: Option<u32>, web: u32, dynos: Vec<Dyno>) -> AppInfo {
        let mut info = app_info();
        info.release = live.map(release);
        info.pending_release = pending;
        info.formation = vec![formation("web", web), formation("worker", 1)];
        info.dynos = dynos;
        info
    }

    #[test]
    fn waits_for_every_dyno_of_the_formation_on_the_live_release() {
        let settled = vec![
            dyno("web", "up", 3),
            dyno("web", "up", 3),
            dyno("worker", "up", 3),
        ];
        let cases: [(AppInfo, Option<&str>, Option<&str>); 7] = [
            (info(None, None, 1, vec![]), None, Some("no release yet")),
            (
                info(Some(3), Some(4), 2, settled.clone()),
                None,
                Some("v4 is still rolling out"),
            ),
            (info(Some(3), None, 2, settled.clone()), None, None),
            (
                info(
                    Some(3),
                    None,
                    2,
                    vec![
                        dyno("web", "up", 3),
                        dyno("web", "up", 2),
                        dyno("worker", "up", 3),
                    ],
                ),
                None,
                Some("web: 1 of 2 dynos up on v3"),
            ),
            (
                info(
                    Some(3),
                    None,
                    2,
                    vec![
                        dyno("web", "up", 3),
                        dyno("web", "up", 3),
                        dyno("worker", "crashed", 3),
                    ],
                ),
                Some("web"),
                None,
            ),
            (
                info(
                    Some(3),
                    None,
                    2,
                    vec![
                        dyno("web", "up", 3),
                        dyno("web", "up", 3),
                        dyno("worker", "crashed", 3),
                    ],
                ),
                None,
                Some("worker: 0 of 1 dynos up on v3"),
            ),
            (
                info(Some(3), None, 2, settled),
                Some("clock"),
                Some("no process type clock"),
            ),
        ];
        for (info, only, want) in cases {
            let got = still_waiting(&info, only);
            match want {
                None => assert_eq!(got, None),
                Some(needle) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(needle)),
                    "{got:?} lacks {needle}"
                ),
            }
        }
    }
}
