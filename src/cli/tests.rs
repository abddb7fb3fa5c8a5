//! Parsing of every verb, and the names that may go into URL paths.

use std::collections::BTreeSet;

use clap::CommandFactory;

use super::*;

/// Every verb with its flags, and the subcommand it must parse to (as `Debug` shows it).
const VERBS: &[(&[&str], &str)] = &[
    (&["apps"], "Apps(List)"),
    (
        &["apps:create", "alpha"],
        r#"Apps(Create { name: "alpha" })"#,
    ),
    (&["apps:info"], "Apps(Info)"),
    (
        &["apps:rename", "shop", "-a", "old"],
        r#"Apps(Rename { names: ["shop"] })"#,
    ),
    (
        &["apps:rename", "old", "shop"],
        r#"Apps(Rename { names: ["old", "shop"] })"#,
    ),
    (
        &["apps:destroy", "alpha", "--confirm", "alpha"],
        r#"Apps(Destroy { name: Some("alpha"), confirm: Some("alpha") })"#,
    ),
    (
        &["apps:destroy"],
        "Apps(Destroy { name: None, confirm: None })",
    ),
    (&["api:relay"], "Relay(Relay)"),
    (&["remotes"], "Remotes(List)"),
    (
        &["remotes:add", "prod", "ssh://admin@paas", "--token", "t"],
        r#"Remotes(Add { name: "prod", api: "ssh://admin@paas", token: Some("t") })"#,
    ),
    (
        &["remotes:remove", "prod"],
        r#"Remotes(Remove { name: "prod" })"#,
    ),
    (&["buildpacks"], "Buildpacks(List)"),
    (
        &["buildpacks:set", "https://example.org/bp.git#v1"],
        r#"Buildpacks(Set { url: "https://example.org/bp.git#v1", index: None })"#,
    ),
    (
        &["buildpacks:set", "/srv/bp", "-i", "2"],
        r#"Buildpacks(Set { url: "/srv/bp", index: Some(2) })"#,
    ),
    (
        &["buildpacks:add", "/srv/bp", "--index", "1"],
        r#"Buildpacks(Add { url: "/srv/bp", index: Some(1) })"#,
    ),
    (
        &["buildpacks:remove", "/srv/bp"],
        r#"Buildpacks(Remove { url: Some("/srv/bp"), index: None })"#,
    ),
    (
        &["buildpacks:remove", "-i", "1"],
        "Buildpacks(Remove { url: None, index: Some(1) })",
    ),
    (&["buildpacks:clear"], "Buildpacks(Clear)"),
    (&["drains"], "Drains(List)"),
    (
        &["drains:add", "syslog+tls://logs.example.com:6514"],
        r#"Drains(Add { url: "syslog+tls://logs.example.com:6514" })"#,
    ),
    (&["drains:remove", "3"], r#"Drains(Remove { drain: "3" })"#),
    (&["cron"], "Cron(List)"),
    (
        &["deploy", "src", "--description", "first"],
        r#"Deploy(Deploy { dir: Some("src"), tar: None, description: Some("first") })"#,
    ),
    (
        &["deploy", "--tar", "-"],
        r#"Deploy(Deploy { dir: None, tar: Some("-"), description: None })"#,
    ),
    (&["config"], "Config(Show)"),
    (&["config:get", "A"], r#"Config(Get { key: "A" })"#),
    (
        &["config:set", "A=1", "B=2"],
        r#"Config(Set { assignments: ["A=1", "B=2"] })"#,
    ),
    (&["config:unset", "A"], r#"Config(Unset { keys: ["A"] })"#),
    (&["releases"], "Releases(List)"),
    (
        &["releases:info", "v3"],
        r#"Releases(Info { version: "v3" })"#,
    ),
    (
        &["releases:output", "v3"],
        r#"Releases(Output { version: "v3" })"#,
    ),
    (&["rollback"], "Releases(Rollback { version: None })"),
    (
        &["rollback", "v2"],
        r#"Releases(Rollback { version: Some("v2") })"#,
    ),
    (&["keys"], "Keys(List)"),
    (
        &["keys:add", "k.pub"],
        r#"Keys(Add { file: Some("k.pub") })"#,
    ),
    (
        &["keys:remove", "SHA256:x"],
        r#"Keys(Remove { key: "SHA256:x" })"#,
    ),
    (
        &["git-shell", "SHA256:x"],
        r#"Git(Shell { fingerprint: Some("SHA256:x") })"#,
    ),
    (&["git-hook", "alpha"], r#"Git(Hook { app: "alpha" })"#),
    (&["ps"], "Dynos(List)"),
    (
        &["ps:scale", "web=2", "worker+1"],
        r#"Dynos(Scale { changes: ["web=2", "worker+1"] })"#,
    ),
    (&["ps:restart"], "Dynos(Restart { target: None })"),
    (
        &["ps:restart", "web"],
        r#"Dynos(Restart { target: Some("web") })"#,
    ),
    (&["ps:stop", "web.1"], r#"Dynos(Stop { dyno: "web.1" })"#),
    (&["ps:autosleep"], r#"Dynos(Autosleep { after: None })"#),
    (
        &["metrics", "--since", "24h"],
        r#"Metrics(Show { since: "24h", step: None, watch: false })"#,
    ),
    (
        &["metrics", "--step", "10m", "--watch"],
        r#"Metrics(Show { since: "1h", step: Some("10m"), watch: true })"#,
    ),
    (&["alerts"], "Alerts(List)"),
    (
        &["alerts:add", "p95 > 500ms for 5m"],
        r#"Alerts(Add { rule: "p95 > 500ms for 5m" })"#,
    ),
    (&["alerts:remove", "3"], r#"Alerts(Remove { rule: "3" })"#),
    (
        &["alerts:webhook", "http://h/x"],
        r#"Alerts(Webhook { url: Some("http://h/x"), unset: false })"#,
    ),
    (
        &["alerts:webhook", "--unset"],
        "Alerts(Webhook { url: None, unset: true })",
    ),
    (
        &["ps:autosleep", "30m"],
        r#"Dynos(Autosleep { after: Some("30m") })"#,
    ),
    (
        &[
            "ps:resize",
            "web",
            "--memory",
            "1G",
            "--cpu",
            "50%",
            "--tasks",
            "64",
        ],
        r#"Dynos(Resize { process_type: "web", memory: Some("1G"), cpu: Some("50%"), tasks: Some(64) })"#,
    ),
    (
        &["run", "--timeout", "1m", "--no-tty", "ls", "-l"],
        r#"Run(Attached { timeout: Some("1m"), no_tty: true, command: ["ls", "-l"] })"#,
    ),
    (
        &["run", "bash", "--no-tty"],
        r#"Run(Attached { timeout: None, no_tty: false, command: ["bash", "--no-tty"] })"#,
    ),
    (
        &["run:detached", "--timeout", "5m", "worker.sh"],
        r#"Run(Detached { timeout: Some("5m"), command: ["worker.sh"] })"#,
    ),
    (
        &["logs"],
        "Logs(Show { num: 100, tail: false, dyno: None, source: None })",
    ),
    (
        &["logs", "-n", "5", "-f", "--dyno", "web.1"],
        r#"Logs(Show { num: 5, tail: true, dyno: Some("web.1"), source: None })"#,
    ),
    (
        &["logs", "--num", "7", "--tail"],
        "Logs(Show { num: 7, tail: true, dyno: None, source: None })",
    ),
    (
        &["logs", "-t"],
        "Logs(Show { num: 100, tail: true, dyno: None, source: None })",
    ),
    (
        &["logs", "--follow"],
        "Logs(Show { num: 100, tail: true, dyno: None, source: None })",
    ),
    (
        &["logs", "-s", "router"],
        r#"Logs(Show { num: 100, tail: false, dyno: None, source: Some("router") })"#,
    ),
    (
        &["logs", "--source", "app", "-d", "web.2"],
        r#"Logs(Show { num: 100, tail: false, dyno: Some("web.2"), source: Some("app") })"#,
    ),
    (
        &["ps:type", "worker", "--memory", "256M"],
        r#"Dynos(Resize { process_type: "worker", memory: Some("256M"), cpu: None, tasks: None })"#,
    ),
    (&["domains:clear"], "Routing(DomainsClear)"),
    (
        &["git:remote"],
        r#"Workspace(GitRemote { remote: "skiff", host: None })"#,
    ),
    (
        &["git:remote", "-r", "prod", "--host", "paas.example.com"],
        r#"Workspace(GitRemote { remote: "prod", host: Some("paas.example.com") })"#,
    ),
    (&["open"], "Workspace(Open { path: None })"),
    (
        &["open", "/admin"],
        r#"Workspace(Open { path: Some("/admin") })"#,
    ),
    (
        &["ps:wait"],
        "Wait(Wait { process_type: None, wait_interval: 1, timeout: 600s })",
    ),
    (
        &[
            "ps:wait",
            "--type",
            "web",
            "--wait-interval",
            "2",
            "--timeout",
            "90s",
        ],
        r#"Wait(Wait { process_type: Some("web"), wait_interval: 2, timeout: 90s })"#,
    ),
    (&["domains"], "Routing(Domains)"),
    (
        &["domains:add", "www.example.com"],
        r#"Routing(DomainsAdd { domain: "www.example.com" })"#,
    ),
    (
        &["domains:remove", "www.example.com"],
        r#"Routing(DomainsRemove { domain: "www.example.com" })"#,
    ),
    (&["maintenance:on"], "Routing(MaintenanceOn)"),
    (&["network"], "Network(Network)"),
    (
        &["network:egress", "off"],
        "Network(Egress { choice: Off })",
    ),
    (&["maintenance:off"], "Routing(MaintenanceOff)"),
    (
        &["proxy:compression"],
        "Routing(ProxyCompression { setting: None })",
    ),
    (
        &["proxy:compression", "off"],
        "Routing(ProxyCompression { setting: Some(Off) })",
    ),
    (
        &["proxy:compression", "on"],
        "Routing(ProxyCompression { setting: Some(On) })",
    ),
    (&["healthcheck"], "Routing(HealthCheck)"),
    (
        &[
            "healthcheck:set",
            "--path",
            "/up",
            "--status",
            "204",
            "--timeout",
            "30s",
        ],
        r#"Routing(HealthCheckSet { path: Some("/up"), status: Some(204), timeout: Some("30s") })"#,
    ),
    (&["dashboard"], "Dashboard(Link { end_sessions: false })"),
    (
        &["dashboard", "--end-sessions"],
        "Dashboard(Link { end_sessions: true })",
    ),
    (&["tokens"], "Tokens(List)"),
    (&["tokens:create", "ci"], r#"Tokens(Create { name: "ci" })"#),
    (&["tokens:revoke", "ci"], r#"Tokens(Revoke { name: "ci" })"#),
    (&["version"], "Version(Show)"),
    (&["volumes"], "Volumes(List)"),
    (
        &["volumes:create", "data", "--mount", "/data", "--size", "1G"],
        r#"Volumes(Create { name: "data", mount: "/data", size: Some("1G") })"#,
    ),
    (
        &["volumes:destroy", "data", "--confirm", "shop"],
        r#"Volumes(Destroy { name: "data", confirm: Some("shop") })"#,
    ),
    (&["addons"], "Addons(List)"),
    (
        &[
            "addons:create",
            "heroku-postgresql",
            "--as",
            "FOLLOWER",
            "--plan",
            "basic",
        ],
        r#"Addons(Create { service: "heroku-postgresql", attach_as: Some("FOLLOWER"), plan: Some("basic"), name: None })"#,
    ),
    (
        &["addons:info", "redis-shop"],
        r#"Addons(Info { addon: "redis-shop" })"#,
    ),
    (
        &["addons:attach", "postgresql-shop", "--as", "SHARED"],
        r#"Addons(Attach { addon: "postgresql-shop", attach_as: Some("SHARED") })"#,
    ),
    (
        &["addons:detach", "postgresql-shop"],
        r#"Addons(Detach { addon: "postgresql-shop" })"#,
    ),
    (
        &["addons:destroy", "redis-shop", "--confirm", "shop"],
        r#"Addons(Destroy { addon: "redis-shop", confirm: Some("shop") })"#,
    ),
    (&["addons:plans"], "Addons(Plans)"),
    (&["pg:info"], "Addons(PgInfo { addon: None })"),
    (
        &["pg:psql", "-c", "select 1"],
        r#"Addons(PgPsql { addon: None, command: Some("select 1") })"#,
    ),
    (
        &["pg:credentials:rotate"],
        "Addons(PgRotate { addon: None })",
    ),
    (&["pg:ps"], "Addons(PgPs { addon: None })"),
    (&["pg:backups"], "Backups(Pg(List { addon: None }))"),
    (
        &["pg:backups:capture", "pg-shop"],
        r#"Backups(Pg(Capture { addon: Some("pg-shop") }))"#,
    ),
    (
        &["pg:backups:download", "-o", "/tmp/x.dump"],
        r#"Backups(Pg(Download(DownloadArgs { backup: OneBackup { id: None, addon: None }, output: Some("/tmp/x.dump") })))"#,
    ),
    (
        &["pg:backups:restore", "b001", "--confirm", "shop"],
        r#"Backups(Pg(Restore(RestoreArgs { backup: OneBackup { id: Some("b001"), addon: None }, confirm: Some("shop") })))"#,
    ),
    (
        &["pg:backups:delete", "b003", "--confirm", "shop"],
        r#"Backups(Pg(Delete(DeleteArgs { id: "b003", addon: None, confirm: Some("shop") })))"#,
    ),
    (
        &["pg:backups:info", "b002"],
        r#"Backups(Pg(Info(OneBackup { id: Some("b002"), addon: None })))"#,
    ),
    (
        &[
            "pg:backups:schedule",
            "--at",
            "02:00 Europe/Berlin",
            "--keep-daily",
            "3",
        ],
        r#"Backups(Pg(Schedule(ScheduleArgs { addon: None, at: "02:00 Europe/Berlin", keep_daily: Some(3), keep_weekly: None })))"#,
    ),
    (&["pg:backups:schedules"], "Backups(Pg(Schedules))"),
    (
        &["pg:backups:unschedule", "pg-shop"],
        r#"Backups(Pg(Unschedule { addon: Some("pg-shop") }))"#,
    ),
    (&["redis:backups"], "Backups(Redis(List { addon: None }))"),
    (
        &["redis:backups:capture"],
        "Backups(Redis(Capture { addon: None }))",
    ),
    (
        &["redis:backups:download", "b001"],
        r#"Backups(Redis(Download(DownloadArgs { backup: OneBackup { id: Some("b001"), addon: None }, output: None })))"#,
    ),
    (
        &["redis:backups:restore", "--confirm", "shop"],
        r#"Backups(Redis(Restore(RestoreArgs { backup: OneBackup { id: None, addon: None }, confirm: Some("shop") })))"#,
    ),
    (
        &["redis:backups:delete", "b1"],
        r#"Backups(Redis(Delete(DeleteArgs { id: "b1", addon: None, confirm: None })))"#,
    ),
    (
        &["redis:backups:info"],
        "Backups(Redis(Info(OneBackup { id: None, addon: None })))",
    ),
    (
        &["redis:backups:schedule", "--at", "3:00"],
        r#"Backups(Redis(Schedule(ScheduleArgs { addon: None, at: "3:00", keep_daily: None, keep_weekly: None })))"#,
    ),
    (&["redis:backups:schedules"], "Backups(Redis(Schedules))"),
    (
        &["redis:backups:unschedule"],
        "Backups(Redis(Unschedule { addon: None }))",
    ),
    (
        &["backups:run-scheduled", "pg-shop"],
        r#"Backups(Scheduled { addon: "pg-shop" })"#,
    ),
    (
        &["pg:kill", "4242"],
        "Addons(PgKill { pid: 4242, addon: None })",
    ),
    (
        &["pg:reset", "--confirm", "shop"],
        r#"Addons(PgReset { addon: None, confirm: Some("shop") })"#,
    ),
    (
        &["redis:info", "redis-shop"],
        r#"Addons(RedisInfo { addon: Some("redis-shop") })"#,
    ),
    (
        &["redis:cli", "--", "INCR", "visits"],
        r#"Addons(RedisCli { addon: None, command: ["INCR", "visits"] })"#,
    ),
    (
        &["redis:maxmemory", "--policy", "allkeys-lru"],
        r#"Addons(RedisMaxmemory { addon: None, policy: "allkeys-lru" })"#,
    ),
    (
        &["redis:credentials:rotate"],
        "Addons(RedisRotate { addon: None })",
    ),
    (
        &["backup"],
        r#"Server(Backup { output: "skiff-backup.tar" })"#,
    ),
    (
        &["restore", "old.tar", "--force"],
        r#"Server(Restore { file: "old.tar", force: true })"#,
    ),
];

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("skiff").chain(args.iter().copied()))
}

#[test]
fn every_verb_parses_to_its_subcommand() {
    for (args, expected) in VERBS {
        let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(format!("{:?}", cli.command), *expected, "{args:?}");
        assert!(!cli.json, "{args:?}");
    }
}

#[test]
fn the_table_covers_every_verb() {
    let tested: BTreeSet<&str> = VERBS.iter().map(|(args, _)| args[0]).collect();
    let command = Cli::command();
    let verbs: BTreeSet<&str> = command
        .get_subcommands()
        .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_visible_aliases()))
        .collect();
    assert_eq!(tested, verbs, "every verb and its visible aliases");
}

#[test]
fn global_flags_go_anywhere() {
    for args in [
        &["apps:info", "-a", "alpha", "--json"][..],
        &["-a", "alpha", "--json", "apps:info"],
        &["--app", "alpha", "apps:info", "--json"],
    ] {
        let cli = parse(args).unwrap();
        assert_eq!(cli.app.as_deref(), Some("alpha"), "{args:?}");
        assert!(cli.json, "{args:?}");
        assert!(matches!(cli.command, Command::Apps(apps::AppsVerb::Info)));
    }
}

#[test]
fn git_remotes_dash_r_is_not_the_named_server() {
    let cli = parse(&["git:remote", "-r", "prod"]).unwrap();
    assert_eq!(cli.server, None);
    let cli = parse(&["apps", "--server", "prod"]).unwrap();
    assert_eq!(cli.server.as_deref(), Some("prod"));
}

#[test]
fn unknown_verbs_and_bad_flags_are_refused() {
    for args in [
        &["apps:nope"][..],
        &["ps:scale"],
        &["config:set"],
        &["run"],
        &["deploy", "dir", "--tar", "a.tar"],
        &["logs", "-n", "many"],
        &["logs", "--source", "heroku"],
        &["buildpacks:remove"],
        &["buildpacks:remove", "/srv/bp", "-i", "1"],
        &["healthcheck:set", "--status", "ok"],
        &["proxy:compression", "yes"],
        &["proxy:compression", "on", "off"],
    ] {
        assert!(parse(args).is_err(), "{args:?}");
    }
}

#[test]
fn path_segments_cannot_escape() {
    assert!(path_segment("alpha").is_ok());
    for bad in ["", "..", "a/b", "a?b", "a b", "%2e"] {
        assert!(path_segment(bad).is_err(), "{bad}");
    }
}
