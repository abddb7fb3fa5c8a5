//! Scheduled backups: a schedule becomes a persistent systemd timer; a time missed while the
//! machine was off is caught up as soon as the timer is back (simulated with the timer's stamp
//! file and a stop the reconciler undoes); the timer's backup runs while skiffd is down (it
//! pulls skiffd up); retention prunes the older scheduled backups and keeps the manual ones.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "backups_scheduled_catch_up",
        run: backups_scheduled_catch_up,
    }]
}

const ADDON: &str = "postgresql-shop";
const TIMER: &str = "skiff-addon-postgresql-shop.backup.timer";
const SERVICE: &str = "skiff-addon-postgresql-shop.backup.service";
const STAMP: &str = "/var/lib/systemd/timers/stamp-skiff-addon-postgresql-shop.backup.timer";

fn backups(c: &Container) -> Vec<Value> {
    let list = c.json("skiff pg:backups -a shop --json");
    list["backups"].as_array().cloned().unwrap_or_default()
}

/// The scheduled backups (id, status), newest first; none while skiffd does not answer.
fn scheduled(c: &Container) -> Vec<(String, String)> {
    let out = c.sh("skiff pg:backups -a shop --json");
    let list: Value = match out.success() {
        true => serde_json::from_str(&out.stdout).unwrap_or(Value::Null),
        false => Value::Null,
    };
    let all = list["backups"].as_array().cloned().unwrap_or_default();
    all.iter()
        .filter(|b| b["kind"] == "scheduled")
        .map(|b| {
            (
                b["id"].as_str().unwrap_or("").to_owned(),
                b["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Pretends the machine was off since yesterday: the stamp says the timer last fired a day
/// ago, and the timer is gone as after a reboot, until the reconciler makes it again.
fn miss_a_day(c: &Container) {
    c.ok(&format!("touch -d '-1 day' {STAMP}"));
    c.ok(&format!("systemctl stop {TIMER}"));
}

/// Waits until exactly one scheduled backup is left (retention keeps one day's), checked and
/// other than `before`; returns its id.
fn wait_for_scheduled(c: &Container, before: Option<&str>, what: &str) -> String {
    let mut seen = Vec::new();
    let done = wait_until(Duration::from_secs(120), || {
        seen = scheduled(c);
        seen.len() == 1 && seen[0].1 == "checked" && Some(seen[0].0.as_str()) != before
    });
    assert!(
        done,
        "{what}: scheduled backups {seen:?}\n{}",
        c.sh(&format!("journalctl -u {SERVICE} --no-pager | tail -20"))
            .describe()
    );
    seen[0].0.clone()
}

fn backups_scheduled_catch_up(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create shop");
    c.json("skiff addons:create postgres -a shop --json");
    c.ok("skiff pg:psql -a shop -c 'create table t (n int); insert into t values (1), (2)'");

    // Bad input is refused and changes nothing.
    for (at, why) in [
        ("25:00", "invalid backup time"),
        ("02:00 Mars/Olympus_Mons", "invalid time zone"),
        ("02:00 ../../etc/passwd", "invalid time zone"),
    ] {
        let refused = c.fails(&format!("skiff pg:backups:schedule --at '{at}' -a shop"));
        assert_contains(&refused, why, at);
    }
    let refused =
        c.fails("skiff pg:backups:schedule --at 02:00 --keep-daily 0 --keep-weekly 0 -a shop");
    assert_contains(&refused, "keep at least one", "retention of nothing");
    assert!(
        !c.sh(&format!("systemctl is-active {TIMER}")).success(),
        "no timer after refusals"
    );

    // Two hours ago in Berlin: today's run was missed if the timer last fired before then.
    let at = c.ok("TZ=Europe/Berlin date -d '-2 hours' +%H:%M");
    let at = format!("{} Europe/Berlin", at.trim());
    let set = c.json(&format!(
        "skiff pg:backups:schedule --at '{at}' --keep-daily 1 --keep-weekly 0 -a shop --json"
    ));
    assert_eq!(set["at"], at.as_str(), "{set}");
    assert!(set["next_run"].is_string(), "the timer is there: {set}");
    c.wait_active(TIMER, Duration::from_secs(10));
    let shown = c.ok(&format!(
        "systemctl show {TIMER} -p Persistent -p TimersCalendar"
    ));
    assert_contains(&shown, "Persistent=yes", "the timer is persistent");
    assert_contains(&shown, "Europe/Berlin", "the timer's calendar");
    assert_contains(
        &c.ok("skiff pg:backups:schedules -a shop"),
        &at,
        "pg:backups:schedules",
    );
    assert!(
        scheduled(c).is_empty(),
        "a new schedule does not fire at once"
    );
    let manual = c.ok("skiff pg:backups:capture -a shop");
    assert_contains(&manual, "done", "a manual backup");

    // The machine was off at the scheduled time: the timer fires once it is back.
    miss_a_day(c);
    let first = wait_for_scheduled(c, None, "catch-up after a missed day");
    let state = format!("systemctl show {SERVICE} -p ActiveState -p Result");
    assert!(
        wait_until(Duration::from_secs(30), || c
            .sh(&state)
            .stdout
            .contains("ActiveState=inactive")),
        "the timer's service ends: {}",
        c.sh(&state).describe()
    );
    assert_contains(&c.ok(&state), "Result=success", "the service's result");
    let journal = c.ok(&format!("journalctl -u {SERVICE} --no-pager"));
    assert_contains(
        &journal,
        &format!("Backing up {ADDON} to {first}..."),
        "the service's journal",
    );
    let info = c.json("skiff pg:backups:schedules -a shop --json");
    assert!(info[0]["last_run"].is_string(), "{info}");

    // While skiffd is down the timer's backup still runs: its service pulls skiffd up.
    c.ok("systemctl stop skiffd");
    c.ok(&format!("systemctl start --no-block {SERVICE}"));
    wait_for_scheduled(c, Some(&first), "a scheduled backup while skiffd was down");
    assert!(
        c.sh("systemctl is-active skiffd").success(),
        "skiffd was started by the backup"
    );
    // Retention (1 day): the first scheduled backup is gone with its file; manual ones stay.
    let all = backups(c);
    assert!(
        all.iter()
            .any(|b| b["kind"] == "manual" && b["status"] == "checked"),
        "the manual backup stays: {all:?}"
    );
    assert!(
        !c.sh(&format!(
            "test -e /var/lib/skiff/backups/{ADDON}/{first}.dump"
        ))
        .success(),
        "the pruned backup's file is gone"
    );

    // A changed schedule replaces the timer; unscheduling removes it and keeps the backups.
    c.ok("skiff pg:backups:schedule --at '03:30' -a shop");
    let calendar = format!("systemctl show {TIMER} -p TimersCalendar");
    assert!(
        wait_until(Duration::from_secs(10), || c
            .sh(&calendar)
            .stdout
            .contains("03:30:00 UTC")),
        "the new schedule's timer: {}",
        c.sh(&calendar).describe()
    );
    assert_contains(
        &c.ok("skiff pg:backups:unschedule -a shop"),
        "its backups stay",
        "unschedule",
    );
    assert!(
        wait_until(Duration::from_secs(10), || !c
            .sh(&format!("systemctl is-active {TIMER}"))
            .success()),
        "the timer is gone"
    );
    assert_contains(
        &c.ok("skiff pg:backups:schedules -a shop"),
        "No backup schedules",
        "schedules after unschedule",
    );
    assert_eq!(backups(c).len(), 2, "the backups stay");
}
