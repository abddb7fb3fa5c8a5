//! One-off dynos and scheduled jobs: `skiff run` with and without a terminal, `run:detached`,
//! app.json `cron` as systemd timers, `skiff cron` and `apps:info` — through the CLI, `script`
//! (a real terminal), `systemctl list-timers` and journalctl.

use std::time::Duration;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "oneoff_run_attached_and_detached",
            run: oneoff_run_attached_and_detached,
        },
        Scenario {
            name: "oneoff_cron_jobs_are_timers",
            run: oneoff_cron_jobs_are_timers,
        },
    ]
}

/// Writes an app with a worker (and `app_json`, when given) to /root/NAME and deploys it.
fn deploy(c: &Container, name: &str, app_json: Option<&str>) -> String {
    c.ok(&format!(
        "mkdir -p /root/{name} && cd /root/{name} && printf 'worker: sleep infinity\\n' > Procfile"
    ));
    if let Some(json) = app_json {
        c.ok(&format!(
            "cd /root/{name} && cat > app.json <<'EOF'\n{json}\nEOF"
        ));
    }
    c.sh(&format!("skiff apps:create {name}"));
    let out = c.sh(&format!("cd /root/{name} && skiff deploy -a {name} 2>&1"));
    format!("{}{}", out.stdout, out.stderr)
}

/// Active one-off units of `app`.
fn run_units(c: &Container, app: &str) -> String {
    c.ok(&format!(
        "systemctl list-units 'skiff-{app}.run-*' --all --plain --no-legend | cut -d' ' -f1"
    ))
}

fn oneoff_run_attached_and_detached(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create empty");
    let err = c.fails("skiff run -a empty -- true");
    assert_contains(&err, "has no release yet", "run before any deploy");
    let out = deploy(c, "job", None);
    assert_contains(&out, "Released v1 of job", "deploy");

    // The issue's example: $DYNO, output and the exit status come back.
    let o = c.sh("skiff run -a job -- sh -c 'echo $DYNO; exit 7'");
    assert_eq!(
        o.status,
        Some(7),
        "the dyno's exit status: {}",
        o.describe()
    );
    assert_eq!(o.stdout.trim(), "run.1", "{}", o.describe());

    // Same sandbox as dynos: skiff's database is out of reach.
    let o = c.sh("skiff run -a job -- cat /var/lib/skiff/skiff.db");
    assert!(
        !o.success(),
        "the sandbox must hide skiff.db: {}",
        o.describe()
    );
    assert!(
        o.stderr.contains("Permission denied") || o.stderr.contains("No such file"),
        "cat says why: {}",
        o.describe()
    );

    // Without a terminal: standard input, output and error stay apart and bytes are untouched.
    let o = c.sh("printf 'a\\nb\\nc\\n' | skiff run -a job -- wc -l");
    assert_eq!(
        o.stdout.trim(),
        "3",
        "stdin reaches the dyno: {}",
        o.describe()
    );
    let o = c.sh("skiff run -a job -- sh -c 'echo to-out; echo to-err >&2'");
    assert_eq!(o.stdout, "to-out\n", "{}", o.describe());
    assert_eq!(o.stderr, "to-err\n", "{}", o.describe());
    let o = c.sh("skiff run -a job 'echo $((2+3)) in one shell line'");
    assert_eq!(o.stdout, "5 in one shell line\n", "{}", o.describe());

    // With a terminal (script gives skiff one): a pty, its size, and Ctrl-C reaching the process.
    let o = c.sh(
        r#"printf 'echo tty-$((6*7))\nexit\n' | script -qec "skiff run -a job -- bash" /dev/null"#,
    );
    assert_contains(&o.stdout, "tty-42", "an interactive bash on a pty");
    let o = c.sh(r#"script -qec "stty cols 101 rows 33; skiff run -a job -- stty size" /dev/null < /dev/null"#);
    assert_contains(&o.stdout, "33 101", "the client's window size");
    let o = c.sh(r#"script -qec "skiff run -a job -- tty" /dev/null < /dev/null"#);
    assert_contains(&o.stdout, "/dev/pts/", "a terminal in the dyno");
    let started = std::time::Instant::now();
    let o = c.sh(
        r#"(printf 'sleep 120; echo not-$((2*3))-interrupted\n'; sleep 3; printf '\003'; sleep 1; printf 'echo after-$((1+1))\nexit\n') | script -qec "skiff run -a job -- bash" /dev/null"#,
    );
    assert_contains(&o.stdout, "after-2", "the shell carries on after Ctrl-C");
    assert!(
        !o.stdout.contains("not-6-interrupted") && started.elapsed() < Duration::from_secs(60),
        "Ctrl-C interrupted the sleep: {}",
        o.describe()
    );

    // Timeouts: systemd stops the dyno; the client says so and exits 124.
    let o = c.sh("skiff run -a job --timeout 2s -- sleep 60");
    assert_eq!(o.status, Some(124), "{}", o.describe());
    assert_contains(&o.stderr, "longer than its timeout (2s)", "timed-out run");
    let err = c.fails("skiff run -a job --timeout 1000h -- true");
    assert_contains(
        &err,
        "longer than this server's run_timeout",
        "too long a timeout",
    );
    let err = c.fails("skiff run -a nope -- true");
    assert_contains(&err, "app nope not found", "run on an unknown app");

    // A client that goes away takes its dyno with it.
    c.sh("timeout -s KILL 3 skiff run -a job -- sleep 300");
    assert!(
        wait_until(Duration::from_secs(20), || run_units(c, "job")
            .trim()
            .is_empty()),
        "the dyno of a vanished client is stopped: {}",
        run_units(c, "job")
    );

    // Detached: answers at once, output in journald under the app and in skiff logs.
    let out = c.ok("skiff run:detached -a job -- sh -c 'sleep 1; echo detached-says-$DYNO'");
    assert_contains(&out, "Running run.", "run:detached");
    let journal = "journalctl SKIFF_APP=job --no-pager -o cat";
    assert!(
        wait_until(Duration::from_secs(30), || c
            .sh(journal)
            .stdout
            .contains("detached-says-run.")),
        "detached output in journald: {}",
        c.sh(journal).stdout
    );
    let logs = c.ok("skiff logs -a job -n 50");
    assert_contains(&logs, "detached-says-run.", "skiff logs");
    let json = c.json("skiff run:detached -a job --json -- sleep 30");
    let unit = json["unit"]
        .as_str()
        .expect("run:detached --json names its unit");
    c.wait_active(unit, Duration::from_secs(10));
    let runtime_max = c.ok(&format!("systemctl show -p RuntimeMaxUSec --value {unit}"));
    assert_eq!(
        runtime_max.trim(),
        "1h",
        "a detached run never outlives run_timeout"
    );
    c.ok("skiff apps:destroy job --confirm job");
    assert!(
        wait_until(Duration::from_secs(20), || run_units(c, "job")
            .trim()
            .is_empty()),
        "destroying the app stops its one-off dynos: {}",
        run_units(c, "job")
    );
}

const CRON_JSON: &str = r#"{"cron": [
  {"command": "echo cron-says-$DYNO in $(pwd)", "schedule": "* * * * *"},
  {"command": "exit 3", "schedule": "0 4 * * sun"}
]}"#;

fn timers(c: &Container) -> String {
    c.ok("systemctl list-timers --all --no-pager --plain 'skiff-*'")
}

fn oneoff_cron_jobs_are_timers(c: &Container) {
    c.install_deb();
    let out = deploy(c, "clock", Some(CRON_JSON));
    assert_contains(
        &out,
        "Scheduled job cron.1: echo cron-says",
        "deploy output",
    );
    assert!(
        wait_until(Duration::from_secs(20), || timers(c)
            .contains("skiff-clock.cron-2.v1.timer")),
        "timers of v1: {}",
        timers(c)
    );
    assert_contains(&timers(c), "skiff-clock.cron-1.v1.timer", "list-timers");
    let cal = c.ok("systemctl show -p TimersCalendar --value skiff-clock.cron-2.v1.timer");
    assert_contains(&cal, "Sun *-*-* 04:00:00", "the crontab line as OnCalendar");

    // The job fires within a minute (and a bit); its output is the app's, tagged cron.1.
    let journal = "journalctl SKIFF_APP=clock SKIFF_DYNO=cron.1 --no-pager -o cat";
    assert!(
        wait_until(Duration::from_secs(75), || c
            .sh(journal)
            .stdout
            .contains("cron-says-cron.1 in /app")),
        "the job's output in journald: {}",
        c.sh("journalctl SKIFF_APP=clock --no-pager -o cat").stdout
    );
    let jobs = c.json("skiff cron -a clock --json");
    assert_eq!(jobs[0]["dyno"], "cron.1", "{jobs}");
    assert_eq!(jobs[0]["schedule"], "* * * * *", "{jobs}");
    assert!(jobs[0]["next_run"].is_string(), "{jobs}");
    assert!(
        wait_until(Duration::from_secs(10), || c
            .json("skiff cron -a clock --json")[0]["last_result"]
            == "succeeded"),
        "the last run's result: {}",
        c.json("skiff cron -a clock --json")
    );
    assert_eq!(jobs[1]["last_run"], serde_json::Value::Null, "{jobs}");
    let table = c.ok("skiff cron -a clock");
    assert_contains(&table, "0 4 * * sun", "skiff cron");

    // Timers belong to PID 1: they stay while skiffd is down.
    c.ok("systemctl stop skiffd");
    assert_contains(
        &timers(c),
        "skiff-clock.cron-1.v1.timer",
        "timers without skiffd",
    );
    c.ok("systemctl start skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));

    // A bad schedule fails the deploy with a clear message and changes nothing.
    c.ok("cd /root/clock && sed -i 's/0 4 \\* \\* sun/61 4 * * */' app.json");
    let out = deploy(c, "clock", None);
    assert_contains(&out, "app.json cron entry 2", "bad schedule refused");
    assert_contains(
        &out,
        "minute 61 is out of range 0-59",
        "bad schedule explained",
    );
    assert_contains(
        &timers(c),
        "skiff-clock.cron-1.v1.timer",
        "v1's timers stay",
    );

    // A new release replaces the timers.
    c.ok("cd /root/clock && printf '{\"cron\": [{\"command\": \"echo v2\", \"schedule\": \"*/5 * * * *\"}]}' > app.json");
    let out = deploy(c, "clock", None);
    assert_contains(&out, "Released v2 of clock", "second deploy");
    assert!(
        wait_until(Duration::from_secs(20), || {
            let t = timers(c);
            t.contains("skiff-clock.cron-1.v2.timer") && !t.contains(".v1.timer")
        }),
        "v2's timer replaces v1's: {}",
        timers(c)
    );

    // apps:info: the whole picture.
    let info = c.ok("skiff apps:info -a clock");
    for want in [
        "=== clock",
        "Release:",
        "v2",
        "Formation:",
        "worker",
        "Dynos:",
        "Health check:",
        "Scheduled jobs:",
        "*/5 * * * *",
        "Disk use:",
        "Maintenance:",
    ] {
        assert_contains(&info, want, "apps:info");
    }
    c.ok("skiff ps:scale worker=1 -a clock");
    assert!(
        wait_until(Duration::from_secs(20), || c
            .ok("skiff apps:info -a clock")
            .contains("worker.1: up")),
        "apps:info lists the dynos and their states: {}",
        c.ok("skiff apps:info -a clock")
    );
    let json = c.json("skiff apps:info -a clock --json");
    assert!(json["disk"]["slugs"].as_u64().unwrap_or(0) > 0, "{json}");
    assert_eq!(json["release"]["version"], 2, "{json}");

    // Destroying the app removes its timers.
    c.ok("skiff apps:destroy clock --confirm clock");
    assert!(
        wait_until(Duration::from_secs(20), || !timers(c)
            .contains("skiff-clock")),
        "destroy removes the timers: {}",
        timers(c)
    );
}
