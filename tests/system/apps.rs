//! Apps through the CLI: create, list, info, destroy, and the names that must be refused.

use crate::harness::{app_names, assert_contains, shell_quote, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "apps_lifecycle",
            run: apps_lifecycle,
        },
        Scenario {
            name: "apps_invalid_names",
            run: apps_invalid_names,
        },
    ]
}

/// `skiff apps --json` as a list of names.
#[track_caller]
pub fn list_apps(c: &Container) -> Vec<String> {
    app_names(&c.json("skiff apps --json"))
}

/// Runs a CLI command that must fail the documented way: exit 1, `error: …` on stderr. Returns stderr.
#[track_caller]
pub fn cli_error(c: &Container, cmd: &str) -> String {
    let o = c.sh(cmd);
    assert!(
        !o.success(),
        "`{cmd}` should fail but succeeded: {}",
        o.describe()
    );
    assert_eq!(o.status, Some(1), "`{cmd}` should exit 1: {}", o.describe());
    assert!(
        o.stderr.lines().any(|l| l.starts_with("error: ")),
        "`{cmd}` should print `error: <message>` on stderr: {}",
        o.describe()
    );
    o.stderr
}

fn apps_lifecycle(c: &Container) {
    c.install_deb();
    assert!(
        list_apps(c).is_empty(),
        "a fresh install should have no apps: {:?}",
        list_apps(c)
    );

    c.ok("skiff apps:create alpha");
    let table = c.ok("skiff apps");
    assert_contains(&table, "alpha", "`skiff apps`");
    assert_eq!(
        list_apps(c),
        vec!["alpha".to_string()],
        "`skiff apps --json` after creating alpha"
    );

    let info = c.ok("skiff apps:info -a alpha");
    assert_contains(&info, "alpha", "`skiff apps:info -a alpha`");
    let info = c.json("skiff apps:info -a alpha --json");
    assert_eq!(
        info["name"], "alpha",
        "`skiff apps:info -a alpha --json`: {info}"
    );

    // `apps:create --json` describes the new app too.
    let created = c.json("skiff apps:create bravo --json");
    assert_eq!(
        created["name"], "bravo",
        "`skiff apps:create bravo --json`: {created}"
    );
    let mut names = list_apps(c);
    names.sort();
    assert_eq!(names, vec!["alpha".to_string(), "bravo".to_string()]);

    // A wrong confirmation destroys nothing.
    let err = cli_error(c, "skiff apps:destroy alpha --confirm wrong");
    assert_contains(
        &err,
        "confirm",
        "refused destroy should say the confirmation did not match",
    );
    assert!(
        list_apps(c).contains(&"alpha".to_string()),
        "alpha vanished after a refused destroy"
    );

    c.ok("skiff apps:destroy alpha --confirm alpha");
    assert_eq!(
        list_apps(c),
        vec!["bravo".to_string()],
        "after destroying alpha"
    );

    let err = cli_error(c, "skiff apps:info -a alpha");
    assert_contains(&err, "not found", "apps:info of a destroyed app");
    let err = cli_error(c, "skiff apps:info -a nosuchapp");
    assert_contains(&err, "not found", "apps:info of a missing app");
    let err = cli_error(c, "skiff apps:destroy nosuchapp --confirm nosuchapp");
    assert_contains(&err, "not found", "apps:destroy of a missing app");
}

fn apps_invalid_names(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create existing");
    let before = c.ok("skiff apps --json");

    let long = "a".repeat(31);
    for bad in [
        "Bad_Name",
        "ab",
        "1abc",
        long.as_str(),
        "-abc",
        "caf\u{e9}",
        "a b",
    ] {
        // `--` so that `-abc` reaches skiff as a name, not as flags.
        let err = cli_error(c, &format!("skiff apps:create -- {}", shell_quote(bad)));
        assert_contains(
            &err,
            "lowercase",
            &format!("error for the bad name {bad:?} should say what is allowed"),
        );
    }
    for reserved in ["skiff", "api"] {
        let err = cli_error(c, &format!("skiff apps:create {reserved}"));
        assert_contains(
            &err,
            "reserved",
            &format!("error for the reserved name {reserved:?}"),
        );
    }
    let err = cli_error(c, "skiff apps:create existing");
    assert_contains(&err, "already exists", "duplicate create");

    assert_eq!(
        c.ok("skiff apps --json"),
        before,
        "refused creates must change nothing"
    );
    // Edge cases that are allowed: 3 and 30 characters, inner dashes, digits after the first letter.
    let thirty = format!("a{}", "b".repeat(29));
    for good in ["abc", thirty.as_str(), "my-app-2"] {
        c.ok(&format!("skiff apps:create {good}"));
    }
    let names = list_apps(c);
    for good in ["abc", thirty.as_str(), "my-app-2", "existing"] {
        assert!(
            names.iter().any(|n| n == good),
            "{good} missing from {names:?}"
        );
    }
}
