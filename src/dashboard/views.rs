//! What the pages say about an app, decided from the API's answers: its state in a word, and
//! sizes and rates in a form people read.

use crate::wire::AppInfo;

/// An app's state in a word, the first that holds: in maintenance, sleeping, crashed (a dyno
/// is), up (a dyno is), not deployed yet, or without dynos.
pub(crate) fn app_state(info: &AppInfo) -> &'static str {
    let any = |state: &str| info.dynos.iter().any(|d| d.state == state);
    if info.maintenance {
        "maintenance"
    } else if info.autosleep.state == "sleeping" {
        "sleeping"
    } else if any("crashed") {
        "crashed"
    } else if any("up") {
        "up"
    } else if info.release.is_none() {
        "not deployed"
    } else if info.dynos.is_empty() {
        "no dynos"
    } else {
        "starting"
    }
}

/// `512 B`, `1.5 KiB`, `20.0 MiB`, `3.2 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Requests per minute over a period of `secs`, to one decimal.
pub(crate) fn per_minute(requests: u64, secs: i64) -> String {
    if secs <= 0 {
        return "0".to_owned();
    }
    let rate = requests as f64 * 60.0 / secs as f64;
    if rate.fract() == 0.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

/// Seconds since the epoch of an RFC 3339 time the API wrote.
pub(crate) fn unix_secs(time: &str) -> Option<i64> {
    let at = humantime::parse_rfc3339(time).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// `12-04 22:23` (UTC) from seconds since the epoch.
pub(crate) fn short_time(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    let full = humantime::format_rfc3339_seconds(at).to_string();
    full.get(5..16).unwrap_or(&full).replace('T', " ")
}

/// The buckets of `step` seconds from `since` to `now` (at most 2000), each with its point's
/// value, or `fill` where the API sent no point.
pub(crate) fn dense(
    (since, now, step): (i64, i64, i64),
    points: impl IntoIterator<Item = (i64, Option<f64>)>,
    fill: Option<f64>,
) -> Vec<Option<f64>> {
    let step = step.max(1);
    let buckets = ((now - since + step - 1) / step).clamp(1, 2000) as usize;
    let mut values = vec![fill; buckets];
    for (time, value) in points {
        let index = (time - since).div_euclid(step);
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| values.get_mut(i)) {
            *slot = value;
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{app_info as info, dyno as typed_dyno, release as vn};

    fn dyno(state: &str) -> crate::wire::Dyno {
        typed_dyno("web", state, 1)
    }

    fn release() -> crate::wire::Release {
        vn(1)
    }

    #[test]
    fn the_state_is_the_first_that_holds() {
        let fresh = info();
        let mut deployed = info();
        deployed.release = Some(release());
        let mut starting = info();
        starting.release = Some(release());
        starting.dynos = vec![dyno("starting")];
        let mut up = info();
        up.release = Some(release());
        up.dynos = vec![dyno("up"), dyno("starting")];
        let mut crashed = info();
        crashed.release = Some(release());
        crashed.dynos = vec![dyno("up"), dyno("crashed")];
        let mut sleeping = info();
        sleeping.release = Some(release());
        sleeping.autosleep.state = "sleeping".into();
        let mut maintenance = info();
        maintenance.release = Some(release());
        maintenance.maintenance = true;
        maintenance.dynos = vec![dyno("crashed")];
        for (info, state) in [
            (fresh, "not deployed"),
            (deployed, "no dynos"),
            (starting, "starting"),
            (up, "up"),
            (crashed, "crashed"),
            (sleeping, "sleeping"),
            (maintenance, "maintenance"),
        ] {
            assert_eq!(app_state(&info), state);
        }
    }

    #[test]
    fn points_land_in_their_bucket_of_the_period() {
        let points = [
            (60, Some(3.0)),
            (180, None),
            (239, Some(7.0)),
            (-60, Some(1.0)),
            (900, Some(9.0)),
        ];
        assert_eq!(
            dense((0, 300, 60), points, Some(0.0)),
            vec![Some(0.0), Some(3.0), Some(0.0), Some(7.0), Some(0.0)]
        );
        assert_eq!(dense((0, 0, 60), [], None), vec![None]);
        assert_eq!(dense((0, 10_000_000, 60), [], None).len(), 2000);
        assert_eq!(unix_secs("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(unix_secs("yesterday"), None);
        assert_eq!(short_time(1_796_422_980), "12-04 22:23");
    }

    #[test]
    fn sizes_and_rates_read_well() {
        for (n, text) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (20 << 20, "20.0 MiB"),
            (3 << 30, "3.0 GiB"),
            (5 << 40, "5.0 TiB"),
        ] {
            assert_eq!(bytes(n), text);
        }
        assert_eq!(per_minute(120, 600), "12");
        assert_eq!(per_minute(5, 600), "0.5");
        assert_eq!(per_minute(5, 0), "0");
    }
}
