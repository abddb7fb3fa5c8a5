//! Add-ons: managed PostgreSQL (one skiff-owned cluster of Debian's `postgresql`) and Redis (one
//! transient unit per add-on) — a Django app on its database through restarts, redeploys and a
//! credential rotation; a Redis counter through a restart of its server; isolation between apps
//! and sharing by attachment; bad input and a daemon killed mid-provisioning — through the CLI,
//! curl, psql and redis-cli in one-off dynos, systemctl and journalctl.

use std::time::Duration;

use serde_json::{json, Value};

use crate::apps::cli_error;
use crate::harness::{assert_contains, shell_quote, wait_until, Container, Out};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "addons_postgres_django",
            run: addons_postgres_django,
        },
        Scenario {
            name: "addons_redis_counter",
            run: addons_redis_counter,
        },
        Scenario {
            name: "addons_isolation_and_sharing",
            run: addons_isolation_and_sharing,
        },
        Scenario {
            name: "addons_bad_input_and_crash",
            run: addons_bad_input_and_crash,
        },
    ]
}

/// The parts of an add-on's connection URL (`SCHEME://USER:PASSWORD@HOST:PORT/PATH`).
#[derive(Debug, Clone)]
pub(crate) struct AddonUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: String,
    /// The database, without the slash (empty for Redis).
    pub path: String,
}

#[track_caller]
pub(crate) fn parse_url(url: &str, scheme: &str) -> AddonUrl {
    let rest = url
        .strip_prefix(&format!("{scheme}://"))
        .unwrap_or_else(|| panic!("{url:?} does not start with {scheme}://"));
    let (userinfo, place) = rest
        .rsplit_once('@')
        .unwrap_or_else(|| panic!("no credentials in {url:?}"));
    let (user, password) = userinfo
        .split_once(':')
        .unwrap_or_else(|| panic!("no password in {url:?}"));
    let (hostport, path) = place.split_once('/').unwrap_or((place, ""));
    let (host, port) = hostport
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no port in {url:?}"));
    assert!(
        !password.is_empty() && port.parse::<u16>().is_ok(),
        "{url:?} has an empty password or a bad port"
    );
    AddonUrl {
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.to_owned(),
        path: path.to_owned(),
    }
}

/// Runs `psql` on a URL given as such or as the name of a config var of the dyno; `-At`, stops
/// at the first error, gives up connecting after 3 s.
const DB_SH: &str = r#"url=$(printenv "$1" || echo "$1")
PGCONNECT_TIMEOUT=3 exec psql "$url" -X -q -v ON_ERROR_STOP=1 -At -c "$2"
"#;

/// Runs `redis-cli` on a URL given as such or as the name of a config var; the rest is the command.
const REDIS_SH: &str = r#"url=$(printenv "$1" || echo "$1")
shift
exec timeout 5 redis-cli --no-auth-warning -u "$url" "$@"
"#;

/// Tries a TCP connection to HOST PORT within 3 s; prints `open` or `closed REASON`.
const TCP_PY: &str = r#"import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("open")
except OSError as e:
    print("closed", e)
"#;

/// Creates app NAME with a worker that sleeps and the tools above, and deploys it, so one-off dynos
/// run in its namespace.
pub(crate) fn deploy_tools_app(c: &Container, app: &str) {
    c.ok(&format!("skiff apps:create {app}"));
    c.ok(&format!(
        "mkdir -p /root/{app} && cd /root/{app} && cat > db.sh <<'EOF'\n{DB_SH}EOF\n\
         cat > redis.sh <<'EOF'\n{REDIS_SH}EOF\ncat > tcp.py <<'EOF'\n{TCP_PY}EOF\n\
         printf 'worker: sleep infinity\\n' > Procfile"
    ));
    let out = c.ok(&format!("cd /root/{app} && skiff deploy -a {app} 2>&1"));
    assert_contains(&out, &format!("Released v1 of {app}"), "skiff deploy");
}

/// `sh SCRIPT ARGS` (`python3` for a `.py`) in a one-off dyno of `app` (the app's network
/// namespace); ARGS are quoted here.
pub(crate) fn in_dyno(c: &Container, app: &str, script: &str, args: &[&str]) -> Out {
    let args: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    let runner = if script.ends_with(".py") {
        "python3"
    } else {
        "sh"
    };
    c.sh(&format!(
        "skiff run -a {app} -- {runner} {script} {}",
        args.join(" ")
    ))
}

/// `SQL` on the database the dyno's config var (or URL) `url` names; its output, or why it failed.
pub(crate) fn sql_in_dyno(c: &Container, app: &str, url: &str, sql: &str) -> Out {
    in_dyno(c, app, "db.sh", &[url, sql])
}

/// Waits until `SQL` on `url` from a one-off dyno of `app` prints `want` (a release that just set
/// the var may take a moment to go live); panics with the last attempt otherwise.
#[track_caller]
fn wait_sql(c: &Container, app: &str, url: &str, sql: &str, want: &str, what: &str) {
    let mut last = None;
    let ok = wait_until(Duration::from_secs(30), || {
        let o = sql_in_dyno(c, app, url, sql);
        let done = o.success() && o.stdout.trim() == want;
        last = Some(o);
        done
    });
    assert!(
        ok,
        "{what}: `{sql}` from a one-off dyno of {app} never printed {want:?}; last: {}",
        last.map(|o| o.describe()).unwrap_or_default()
    );
}

/// Asserts `SQL` on `url` from a one-off of `app` fails (within psql's 3 s connect timeout);
/// returns what psql said.
#[track_caller]
fn sql_refused(c: &Container, app: &str, url: &str, sql: &str, what: &str) -> String {
    let o = sql_in_dyno(c, app, url, sql);
    assert!(
        !o.success() && o.stdout.trim().is_empty(),
        "{what}: `{sql}` from {app} should fail: {}",
        o.describe()
    );
    format!("{}{}", o.stderr, o.stdout)
}

fn config(c: &Container, app: &str) -> Value {
    c.json(&format!("skiff config -a {app} --json"))
}

#[track_caller]
fn config_var(c: &Container, app: &str, key: &str) -> String {
    let cfg = config(c, app);
    cfg[key]
        .as_str()
        .unwrap_or_else(|| panic!("{app} has no config var {key}: {cfg}"))
        .to_owned()
}

fn releases(c: &Container, app: &str) -> Vec<Value> {
    c.json(&format!("skiff releases -a {app} --json"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Asserts `release` (e.g. `"v4"`) is `app`'s newest release and whether its config has `key`.
#[track_caller]
fn assert_newest_release(c: &Container, app: &str, release: &Value, key: &str, has: bool) {
    let list = releases(c, app);
    let newest = list
        .iter()
        .max_by_key(|r| r["version"].as_u64())
        .unwrap_or_else(|| panic!("{app} has no releases"));
    assert_eq!(
        Some(format!("v{}", newest["version"])),
        release.as_str().map(str::to_owned),
        "the release named is {app}'s newest: {newest}"
    );
    let keys: Vec<&str> = newest["config_keys"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys.contains(&key),
        has,
        "{app}'s newest release config keys {keys:?}, {key} expected: {has}"
    );
}

/// `skiff addons:plans --json`, the plan called `name`.
#[track_caller]
fn plan(c: &Container, name: &str) -> Value {
    let plans = c.json("skiff addons:plans --json");
    plans
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no plan {name} in {plans}"))
}

/// An add-on object as `addons --json` and `addons:info --json` show it (without `release`).
fn addon_json(name: &str, service: &str, plan: &str, owner: &str, attachments: &[Value]) -> Value {
    json!({
        "name": name,
        "service": service,
        "plan": plan,
        "owner": owner,
        "state": "ready",
        "attachments": attachments,
    })
}

fn attachment(app: &str, name: &str) -> Value {
    json!({"app": app, "name": name, "config_var": format!("{name}_URL")})
}

/// The keys of an add-on object the tests rely on (the server may show more, such as when it was
/// made); attachments sorted by app and name, so lists compare whatever their order.
fn spec_view(v: &Value) -> Value {
    let mut attachments: Vec<Value> = v["attachments"]
        .as_array()
        .unwrap_or_else(|| panic!("an add-on without attachments: {v}"))
        .iter()
        .map(|a| json!({"app": a["app"], "name": a["name"], "config_var": a["config_var"]}))
        .collect();
    attachments.sort_by_key(|x| format!("{}/{}", x["app"], x["name"]));
    json!({
        "name": v["name"],
        "service": v["service"],
        "plan": v["plan"],
        "owner": v["owner"],
        "state": v["state"],
        "attachments": attachments,
    })
}

/// `v` without its `release` key, and the release it named.
fn split_release(v: &Value) -> (Value, Value) {
    let mut v = v.clone();
    let release = v
        .as_object_mut()
        .and_then(|o| o.remove("release"))
        .unwrap_or_else(|| panic!("no `release` key in {v}"));
    (v, release)
}

/// Each add-on's [`spec_view`], sorted by name.
fn normalized(list: &Value) -> Vec<Value> {
    let mut items: Vec<Value> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {list}"))
        .iter()
        .map(spec_view)
        .collect();
    items.sort_by_key(|x| x["name"].to_string());
    items
}

#[track_caller]
fn assert_addons(c: &Container, filter: &str, want: &[Value]) {
    let got = c.json(&format!("skiff addons {filter} --json"));
    assert_eq!(
        normalized(&got),
        normalized(&Value::Array(want.to_vec())),
        "skiff addons {filter} --json"
    );
}

/// `GET path` through the proxy with `Host: APP.localhost`: (status, body); status 0 when curl
/// itself failed.
fn get(c: &Container, app: &str, path: &str) -> (u16, String) {
    let o = c.sh(&format!(
        "curl -sS --max-time 20 -w '\\n%{{http_code}}' -H 'Host: {app}.localhost' http://127.0.0.1{path}"
    ));
    let (body, code) = o.stdout.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.trim().to_owned())
}

/// Waits until `path` answers 200 with a number; returns it.
#[track_caller]
fn get_number(c: &Container, app: &str, path: &str, what: &str) -> u64 {
    let mut last = (0, String::new());
    let ok = wait_until(Duration::from_secs(60), || {
        last = get(c, app, path);
        last.0 == 200 && last.1.parse::<u64>().is_ok()
    });
    assert!(
        ok,
        "{what}: {app}{path} never answered a number; last: {last:?}"
    );
    last.1.parse().expect("checked above")
}

/// The numbers in lines of psql's default output (`count` header, dashes, the value, `(1 row)`).
fn psql_numbers(out: &str) -> Vec<u64> {
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The port of skiff's cluster, from `pg_lsclusters`; None when there is no such cluster.
fn cluster_port(c: &Container) -> Option<String> {
    c.ok("pg_lsclusters -h")
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&"skiff"))
        .and_then(|f| f.get(2).map(|p| p.to_string()))
}

#[track_caller]
fn skiff_cluster_port(c: &Container) -> String {
    cluster_port(c).unwrap_or_else(|| {
        panic!(
            "no skiff cluster in pg_lsclusters:\n{}",
            c.ok("pg_lsclusters")
        )
    })
}

/// One column of a query as the postgres superuser on skiff's cluster, over its Unix socket.
fn cluster_rows(c: &Container, port: &str, sql: &str) -> Vec<String> {
    c.ok(&format!(
        "runuser -u postgres -- psql -X -p {port} -At -c {}",
        shell_quote(sql)
    ))
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The Django project: a `Visit` per request to `/`, which answers the count; `/count` only counts.
const DJANGO_FILES: &[(&str, &str)] = &[
    ("requirements.txt", "django\npsycopg[binary]\ndj-database-url\ngunicorn\n"),
    (
        "Procfile",
        "release: python manage.py migrate --noinput\nweb: gunicorn shop.wsgi --bind 0.0.0.0:$PORT --workers 2\n",
    ),
    (
        "manage.py",
        r#"import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"#,
    ),
    ("shop/__init__.py", ""),
    (
        "shop/settings.py",
        r#"import os
import dj_database_url
BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = os.environ.get("SECRET_KEY", "only-for-the-system-test")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles", "counter"]
MIDDLEWARE = []
ROOT_URLCONF = "shop.urls"
DATABASES = {"default": dj_database_url.config(conn_max_age=0, ssl_require=True)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
STATIC_ROOT = os.path.join(BASE_DIR, "staticfiles")
USE_TZ = True
"#,
    ),
    (
        "shop/urls.py",
        r#"from django.urls import path
from counter import views
urlpatterns = [path("", views.visit), path("count", views.count), path("tls", views.tls)]
"#,
    ),
    (
        "shop/wsgi.py",
        r#"import os
from django.core.wsgi import get_wsgi_application
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
application = get_wsgi_application()
"#,
    ),
    ("counter/__init__.py", ""),
    (
        "counter/models.py",
        r#"from django.db import models
class Visit(models.Model):
    at = models.DateTimeField(auto_now_add=True)
"#,
    ),
    ("counter/migrations/__init__.py", ""),
    (
        "counter/migrations/0001_initial.py",
        r#"from django.db import migrations, models
class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Visit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
"#,
    ),
    (
        "counter/views.py",
        r#"from django.db import connection
from django.http import HttpResponse
from .models import Visit
def visit(request):
    Visit.objects.create()
    return HttpResponse(f"{Visit.objects.count()}\n", content_type="text/plain")
def count(request):
    return HttpResponse(f"{Visit.objects.count()}\n", content_type="text/plain")
def tls(request):
    # What the client negotiated: the server shows a session's TLS only to its own role, and a
    # session here acts as the database's owner role.
    with connection.cursor() as cur:
        cur.execute("select 1")
    return HttpResponse(f"{connection.connection.pgconn.ssl_in_use}\n", content_type="text/plain")
"#,
    ),
];

fn write_files(c: &Container, dir: &str, files: &[(&str, &str)]) {
    for (path, text) in files {
        c.ok(&format!(
            "mkdir -p \"$(dirname {dir}/{path})\" && cat > {dir}/{path} <<'EOF'\n{text}EOF"
        ));
    }
}

/// Requests `/` through the proxy every 50 ms until /root/stop exists (at most 120 s), one status
/// code per line in /root/codes.
const REQUEST_LOOP: &str = r#"rm -f /root/stop /root/codes
end=$(( $(date +%s) + 120 ))
while [ ! -e /root/stop ] && [ "$(date +%s)" -lt "$end" ]; do
  curl -s -o /dev/null --max-time 10 -w '%{http_code}\n' -H 'Host: shop.localhost' http://127.0.0.1/ >> /root/codes
  sleep 0.05
done
echo done >> /root/codes
"#;

/// Asserts no systemd unit property, journal field or process argument holds `secret`.
#[track_caller]
fn assert_secret_hidden(c: &Container, secret: &str, what: &str) {
    let shown = c.ok("systemctl show 'skiff-*' --no-pager");
    assert_contains(
        &shown,
        "EnvironmentFiles=",
        "systemctl show sees skiff's units",
    );
    assert!(!shown.contains(secret), "{what} is in a unit property");
    let journal = c.ok("journalctl -b --no-pager -o verbose");
    assert!(!journal.contains(secret), "{what} is in the journal");
    let args = c.ok("ps -eo args");
    assert!(
        !args.contains(secret),
        "{what} is in a command line:\n{args}"
    );
}

fn addons_postgres_django(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create shop");
    write_files(c, "/root/shop", DJANGO_FILES);

    let mini = plan(c, "mini");
    assert_eq!(mini["default"], true, "mini is the default plan: {mini}");
    let created = c.json("skiff addons:create heroku-postgresql -a shop --json");
    let (addon, release) = split_release(&created);
    let want = addon_json(
        "postgresql-shop",
        "postgresql",
        "mini",
        "shop",
        &[attachment("shop", "DATABASE")],
    );
    assert_eq!(spec_view(&addon), want, "addons:create --json");
    assert_eq!(release, Value::Null, "no deploy yet, so no release");
    assert_eq!(
        spec_view(&c.json("skiff addons:info postgresql-shop --json")),
        want,
        "addons:info"
    );
    assert_addons(c, "-a shop", std::slice::from_ref(&want));
    let url = config_var(c, "shop", "DATABASE_URL");
    let db = parse_url(&url, "postgres");

    let out = c.ok("cd /root/shop && skiff deploy -a shop 2>&1");
    assert_contains(&out, "Running manage.py collectstatic", "a Django build");
    assert_contains(
        &out,
        "Applying counter.0001_initial... OK",
        "the release phase migrates",
    );
    let first = get_number(c, "shop", "/", "first visit");
    let second = get_number(c, "shop", "/", "second visit");
    assert!(
        first >= 1 && second > first,
        "visits count up: {first}, then {second}"
    );
    assert_eq!(
        get(c, "shop", "/tls"),
        (200, "True".to_owned()),
        "the app's connection uses TLS"
    );

    let info = c.json("skiff pg:info -a shop --json");
    let info = info
        .as_array()
        .filter(|a| a.len() == 1)
        .map(|a| a[0].clone())
        .unwrap_or_else(|| panic!("pg:info lists one database: {info}"));
    assert_eq!(info["name"], "postgresql-shop", "{info}");
    let version = info["version"]
        .as_str()
        .unwrap_or_else(|| panic!("pg:info has a version: {info}"))
        .to_owned();
    let major = c.ok("pg_lsclusters -h | awk '$2 == \"skiff\" {print $1}'");
    assert!(
        version.starts_with(&format!("{}.", major.trim())),
        "pg:info's version {version:?} is the skiff cluster's ({major})"
    );
    assert_eq!(info["plan"], "mini", "{info}");
    assert_eq!(
        info["connection_limit"], mini["postgres_connections"],
        "the role's connection limit is the plan's: {info}"
    );
    assert_eq!(info["attached"], json!(["shop"]), "{info}");
    assert!(
        info["size_bytes"].as_u64().is_some_and(|s| s > 0) && info["connections"].is_u64(),
        "pg:info sizes and connections: {info}"
    );
    let count = c.ok("skiff pg:psql -a shop -c 'select count(*) from counter_visit'");
    assert_eq!(
        psql_numbers(&count),
        [second],
        "pg:psql sees the app's rows:\n{count}"
    );

    // psql as pg:psql runs it, while it runs: the password is in its environment, not its arguments.
    c.ok("(setsid skiff pg:psql -a shop -c 'select pg_sleep(3)' > /root/sleep.out 2>&1 &)");
    assert!(
        wait_until(Duration::from_secs(10), || c.sh("pgrep -x psql").success()),
        "pg:psql runs psql"
    );
    assert_secret_hidden(c, &db.password, "the database password");

    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    assert_eq!(
        get_number(c, "shop", "/count", "after a restart of skiffd"),
        second
    );
    let cluster_unit = format!("postgresql@{}-skiff", major.trim());
    c.ok(&format!("systemctl restart {cluster_unit}"));
    c.wait_active(&cluster_unit, Duration::from_secs(30));
    assert_eq!(
        get_number(c, "shop", "/count", "after a restart of the cluster"),
        second
    );
    let out = c.ok("cd /root/shop && skiff deploy -a shop 2>&1");
    assert_contains(
        &out,
        "No migrations to apply",
        "the redeploy's release phase",
    );
    assert_eq!(get_number(c, "shop", "/count", "after a redeploy"), second);
    let third = get_number(c, "shop", "/", "a visit after the redeploy");
    assert_eq!(third, second + 1, "the rows are still there");

    // A rotation while requests keep coming: none fails, the old password is refused after.
    c.ok(&format!(
        "cat > /root/loop.sh <<'EOF'\n{REQUEST_LOOP}EOF\n(setsid sh /root/loop.sh > /dev/null 2>&1 &)"
    ));
    std::thread::sleep(Duration::from_secs(1));
    let rotated = c.ok("skiff pg:credentials:rotate -a shop 2>&1");
    let new_url = config_var(c, "shop", "DATABASE_URL");
    let new_db = parse_url(&new_url, "postgres");
    assert_ne!(
        new_db.password, db.password,
        "rotate gave a new password: {rotated}"
    );
    assert_eq!(
        (&new_db.host, &new_db.port, &new_db.path),
        (&db.host, &db.port, &db.path),
        "the same database at the same address"
    );
    // Each credential has a login role of its own (…__1, then …__2), so both work meanwhile.
    let next_role = db
        .user
        .rsplit_once("__")
        .map(|(owner, generation)| format!("{owner}__{}", generation.parse::<u32>().unwrap() + 1));
    assert_eq!(
        Some(&new_db.user),
        next_role.as_ref(),
        "the next credential's role"
    );
    let mut refused = String::new();
    let old_refused = wait_until(Duration::from_secs(60), || {
        // From the server, as `pg:psql` connects: the Django app's dynos carry no psql script.
        let o = c.sh(&format!(
            "PGCONNECT_TIMEOUT=3 psql {} -Atc 'select 1'",
            shell_quote(&url)
        ));
        refused = format!("{}{}", o.stderr, o.stdout);
        !o.success()
    });
    assert!(
        old_refused,
        "the old password still works a minute after the rotation: {refused}"
    );
    // The server refuses the old credential itself: its login role is gone, so it is no
    // member of the database's owner that pg_hba admits (or its password no longer matches,
    // or the role went between the password check and the session's start).
    assert!(
        (refused.contains(&format!("user \"{}\"", db.user))
            && (refused.contains("no pg_hba.conf entry")
                || refused.contains("password authentication failed")))
            || refused.contains(&format!("role \"{}\" does not exist", db.user)),
        "the old credential is refused by the server: {refused}"
    );
    let new_works = c.sh(&format!(
        "PGCONNECT_TIMEOUT=3 psql {} -Atc 'select 1'",
        shell_quote(&new_url)
    ));
    assert_eq!(
        new_works.stdout.trim(),
        "1",
        "the new URL: {}",
        new_works.describe()
    );
    std::thread::sleep(Duration::from_secs(2));
    c.ok("touch /root/stop");
    let ended = wait_until(Duration::from_secs(20), || {
        c.sh("tail -n 1 /root/codes").stdout.trim() == "done"
    });
    let codes = c.ok("cat /root/codes");
    assert!(ended, "the request loop did not end: {codes}");
    let total = codes.lines().filter(|l| *l != "done").count();
    let failed: Vec<&str> = codes
        .lines()
        .filter(|l| *l != "done" && *l != "200")
        .collect();
    c.note(&format!(
        "requests during the rotation: {total}, failed {}",
        failed.len()
    ));
    assert!(total >= 20, "the request loop ran: {codes}");
    assert!(
        failed.is_empty(),
        "requests failed during the rotation: {failed:?}"
    );
    assert!(
        get_number(c, "shop", "/count", "after the rotation") >= third + total as u64,
        "every request of the loop made its row"
    );
    sessions_are_listed_and_ended(c);
    // pg:reset empties the database and keeps the credentials.
    let refused = c.fails("skiff pg:reset -a shop");
    assert_contains(&refused, "--confirm shop", "pg:reset without --confirm");
    let tables = "select count(*) from pg_tables where schemaname = 'public'";
    let before = c.ok(&format!("skiff pg:psql -a shop -c {}", shell_quote(tables)));
    assert!(
        !before.contains(" 0\n"),
        "the app has tables before the reset: {before}"
    );
    c.ok("skiff pg:reset -a shop --confirm shop");
    let after = c.ok(&format!("skiff pg:psql -a shop -c {}", shell_quote(tables)));
    assert_contains(&after, " 0\n", "no table is left after pg:reset");
}

/// A session that sleeps shows in `pg:ps`; `pg:kill` ends it, and its client says so.
fn sessions_are_listed_and_ended(c: &Container) {
    // The redirections are the background process's own, so `c.ok` does not wait for it.
    c.ok("(setsid skiff pg:psql -a shop -c 'select pg_sleep(60)' > /root/sleep.out 2>&1 < /dev/null &)");
    let mut pid = None;
    let listed = wait_until(Duration::from_secs(15), || {
        let sessions = c.json("skiff pg:ps -a shop --json");
        pid = sessions.as_array().and_then(|all| {
            all.iter()
                .find(|s| s["query"].as_str().is_some_and(|q| q.contains("pg_sleep")))
                .and_then(|s| s["pid"].as_i64())
        });
        pid.is_some()
    });
    assert!(
        listed,
        "pg:ps lists the sleeping session: {} (its client: {})",
        c.sh("skiff pg:ps -a shop").stdout,
        c.sh("cat /root/sleep.out").describe()
    );
    let pid = pid.unwrap();
    c.ok(&format!("skiff pg:kill {pid} -a shop"));
    let ended = wait_until(Duration::from_secs(15), || {
        c.sh("cat /root/sleep.out")
            .stdout
            .contains("terminating connection")
    });
    assert!(
        ended,
        "the killed session's client was told: {}",
        c.sh("cat /root/sleep.out").stdout
    );
    let gone = c.fails(&format!("skiff pg:kill {pid} -a shop"));
    assert_contains(&gone, "no session", "pg:kill of a session that is gone");
}

/// Counts visits in Redis: `/` increments `visits` and answers it, `/count` only reads it.
const COUNTER_PY: &str = r#"import http.server, os, socketserver
import redis
r = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        n = int(r.get("visits") or 0) if self.path == "/count" else r.incr("visits")
        body = f"{n}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;

fn addons_redis_counter(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create counter");
    c.ok(&format!(
        "mkdir -p /root/counter && cd /root/counter && cat > app.py <<'EOF'\n{COUNTER_PY}EOF\n\
         printf 'redis\\n' > requirements.txt && printf 'web: python app.py\\n' > Procfile"
    ));
    let created = c.json("skiff addons:create heroku-redis -a counter --json");
    let (addon, release) = split_release(&created);
    let want = addon_json(
        "redis-counter",
        "redis",
        "mini",
        "counter",
        &[attachment("counter", "REDIS")],
    );
    assert_eq!(spec_view(&addon), want, "addons:create --json");
    assert_eq!(release, Value::Null, "no deploy yet, so no release");
    let url = config_var(c, "counter", "REDIS_URL");
    let redis_url = parse_url(&url, "redis");
    assert_eq!(redis_url.user, "default", "{url}");
    let unit = "skiff-addon-redis-counter.service";
    c.wait_active(unit, Duration::from_secs(10));

    let out = c.ok("cd /root/counter && skiff deploy -a counter 2>&1");
    assert_contains(&out, "Released v1 of counter", "skiff deploy");
    let counts: Vec<u64> = (0..3)
        .map(|_| get_number(c, "counter", "/", "a visit"))
        .collect();
    assert_eq!(counts, [1, 2, 3], "the visits count up from nothing");
    let got = c.ok("skiff redis:cli -a counter -- GET visits");
    assert_eq!(got.trim(), "3", "redis:cli sees the app's key");
    let aof = c.ok("find /var/lib/skiff/addons/redis -path '*redis-counter*' -name 'appendonly*'");
    assert!(
        !aof.trim().is_empty(),
        "the add-on writes an append-only file"
    );

    let pid_before = c.ok(&format!("systemctl show -p MainPID --value {unit}"));
    c.ok(&format!("systemctl restart {unit}"));
    c.wait_active(unit, Duration::from_secs(30));
    assert_ne!(
        c.ok(&format!("systemctl show -p MainPID --value {unit}")),
        pid_before,
        "a new server process"
    );
    assert_eq!(
        get_number(c, "counter", "/count", "after the server's restart"),
        3,
        "the count survives a restart of its server"
    );
    assert_eq!(
        get_number(c, "counter", "/", "a visit after the restart"),
        4
    );
    assert_eq!(c.ok("skiff redis:cli -a counter -- GET visits").trim(), "4");

    let info = c.json("skiff redis:info -a counter --json");
    let info = info
        .as_array()
        .filter(|a| a.len() == 1)
        .map(|a| a[0].clone())
        .unwrap_or_else(|| panic!("redis:info lists one instance: {info}"));
    assert_eq!(info["name"], "redis-counter", "{info}");
    assert_eq!(info["plan"], "mini", "{info}");
    assert_eq!(
        info["maxmemory"],
        plan(c, "mini")["redis_memory"],
        "maxmemory is the plan's: {info}"
    );
    let server_version = c.ok("redis-server --version");
    let version = info["version"].as_str().unwrap_or_default();
    assert!(
        !version.is_empty() && server_version.contains(&format!("v={version}")),
        "redis:info's version {version:?} is Debian's redis-server: {server_version}"
    );
    assert!(
        info["used_memory"].as_u64().is_some_and(|m| m > 0)
            && info["clients"].as_u64().is_some_and(|n| n >= 1)
            && info["keys"].as_u64() == Some(1),
        "redis:info: memory in use, the web dyno's client and one key: {info}"
    );

    let lines = c.ok("journalctl SKIFF_ADDON=redis-counter --no-pager -o cat");
    assert_contains(
        &lines,
        "Ready to accept connections",
        "the server's lines carry SKIFF_ADDON",
    );
    assert_secret_hidden(c, &redis_url.password, "the redis password");
}

fn addons_isolation_and_sharing(c: &Container) {
    c.install_deb();
    deploy_tools_app(c, "alpha");
    deploy_tools_app(c, "beta");
    for (service, app, extra) in [
        ("postgresql", "alpha", ""),
        ("pg", "beta", ""),
        ("redis", "alpha", ""),
        ("redis", "beta", "--plan basic"),
    ] {
        let created = c.json(&format!(
            "skiff addons:create {service} -a {app} {extra} --json"
        ));
        let (_, release) = split_release(&created);
        let key = if service == "redis" {
            "REDIS_URL"
        } else {
            "DATABASE_URL"
        };
        assert_newest_release(c, app, &release, key, true);
    }
    assert_eq!(
        c.json("skiff addons:info redis-beta --json")["plan"],
        "basic"
    );
    let a_db = config_var(c, "alpha", "DATABASE_URL");
    let b_db = config_var(c, "beta", "DATABASE_URL");
    let a = parse_url(&a_db, "postgres");
    let b = parse_url(&b_db, "postgres");
    assert_ne!(
        (&a.user, &a.password, &a.path),
        (&b.user, &b.password, &b.path),
        "each add-on has its own role, password and database"
    );
    let a_redis = parse_url(&config_var(c, "alpha", "REDIS_URL"), "redis");
    let b_redis = parse_url(&config_var(c, "beta", "REDIS_URL"), "redis");
    assert_ne!(a_redis.port, b_redis.port, "one Redis server each");

    wait_sql(
        c,
        "alpha",
        "DATABASE_URL",
        "create table notes (t text); insert into notes values ('from alpha'); select t from notes",
        "from alpha",
        "alpha on its own database",
    );
    wait_sql(
        c,
        "beta",
        "DATABASE_URL",
        "select 1",
        "1",
        "beta on its own database",
    );
    let redis_of = |app: &str| {
        in_dyno(c, app, "redis.sh", &["REDIS_URL", "PING"])
            .stdout
            .trim()
            .to_owned()
    };
    assert!(
        wait_until(Duration::from_secs(30), || redis_of("beta") == "PONG"),
        "beta reaches its own redis"
    );
    let b_redis_no_password = format!("redis://{}:{}", b_redis.host, b_redis.port);
    let o = in_dyno(c, "beta", "redis.sh", &[&b_redis_no_password, "PING"]);
    assert_contains(
        &format!("{}{}", o.stdout, o.stderr),
        "NOAUTH",
        "beta's redis without the password",
    );

    // From beta: alpha's database with no password, with beta's own role, with alpha's URL.
    let no_password = format!("postgres://{}@{}:{}/{}", a.user, a.host, a.port, a.path);
    sql_refused(
        c,
        "beta",
        &no_password,
        "select t from notes",
        "alpha's role without a password",
    );
    let own_role = format!(
        "postgres://{}:{}@{}:{}/{}",
        b.user, b.password, a.host, a.port, a.path
    );
    sql_refused(
        c,
        "beta",
        &own_role,
        "select t from notes",
        "beta's role on alpha's database",
    );
    let said = sql_refused(
        c,
        "beta",
        &a_db,
        "select t from notes",
        "alpha's own URL from beta",
    );
    assert!(
        !said.contains("password authentication failed"),
        "beta's namespace got as far as alpha's password check: {said}"
    );
    let tcp = in_dyno(c, "beta", "tcp.py", &[&a_redis.host, &a_redis.port]);
    assert_contains(&tcp.stdout, "closed", "alpha's redis port from beta");
    let tcp = in_dyno(c, "beta", "tcp.py", &[&b_redis.host, &b_redis.port]);
    assert_eq!(tcp.stdout.trim(), "open", "beta's own redis port from beta");

    // Shared by attachment, then no longer.
    let attached = c.json("skiff addons:attach postgresql-alpha -a beta --as SHARED --json");
    assert_newest_release(c, "beta", &attached["release"], "SHARED_URL", true);
    let shared = config_var(c, "beta", "SHARED_URL");
    assert_eq!(
        shared, a_db,
        "an attachment shares the add-on's credentials"
    );
    wait_sql(
        c,
        "beta",
        "SHARED_URL",
        "select t from notes",
        "from alpha",
        "beta reads alpha's rows through its attachment",
    );
    assert_addons(
        c,
        "-a beta",
        &[
            addon_json(
                "postgresql-alpha",
                "postgresql",
                "mini",
                "alpha",
                &[
                    attachment("alpha", "DATABASE"),
                    attachment("beta", "SHARED"),
                ],
            ),
            addon_json(
                "postgresql-beta",
                "postgresql",
                "mini",
                "beta",
                &[attachment("beta", "DATABASE")],
            ),
            addon_json(
                "redis-beta",
                "redis",
                "basic",
                "beta",
                &[attachment("beta", "REDIS")],
            ),
        ],
    );
    let attached_to = c.json("skiff pg:info -a beta --json");
    let names: Vec<&str> = attached_to
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names.len(),
        2,
        "pg:info -a beta shows both databases: {attached_to}"
    );
    let detached = c.json("skiff addons:detach postgresql-alpha -a beta --json");
    assert_newest_release(c, "beta", &detached["release"], "SHARED_URL", false);
    assert!(
        config(c, "beta").get("SHARED_URL").is_none(),
        "detach removes the var"
    );
    let mut said = String::new();
    let refused_again = wait_until(Duration::from_secs(30), || {
        let o = sql_in_dyno(c, "beta", &a_db, "select t from notes");
        said = format!("{}{}", o.stderr, o.stdout);
        !o.success()
    });
    assert!(
        refused_again,
        "beta still reaches alpha's database after the detach: {said}"
    );

    // Destroying alpha's redis: its unit, files and var are gone; beta's redis is untouched.
    c.ok("skiff addons:destroy redis-alpha --confirm alpha");
    let unit_gone = wait_until(Duration::from_secs(30), || {
        c.ok("systemctl show -p LoadState --value skiff-addon-redis-alpha.service")
            .trim()
            == "not-found"
    });
    assert!(unit_gone, "the unit of redis-alpha is gone");
    let dirs = c.ok("ls /var/lib/skiff/addons/redis");
    assert!(
        !dirs.contains("redis-alpha") && dirs.contains("redis-beta"),
        "redis-alpha's files are gone, redis-beta's are not: {dirs}"
    );
    assert!(
        config(c, "alpha").get("REDIS_URL").is_none(),
        "destroy removes the var"
    );
    let newest = releases(c, "alpha")
        .into_iter()
        .max_by_key(|r| r["version"].as_u64())
        .expect("alpha has releases");
    assert!(
        !newest["config_keys"].to_string().contains("REDIS_URL"),
        "alpha's newest release has no REDIS_URL: {newest}"
    );
    c.fails("skiff addons:info redis-alpha");
    assert!(
        wait_until(Duration::from_secs(30), || redis_of("beta") == "PONG"),
        "beta's redis still answers"
    );

    // Destroying beta takes its add-ons with it.
    let port = skiff_cluster_port(c);
    let databases = || cluster_rows(c, &port, "select datname from pg_database");
    let roles = || cluster_rows(c, &port, "select rolname from pg_roles");
    assert!(
        databases().contains(&b.path) && roles().contains(&b.user),
        "beta's database and role are in skiff's cluster: {:?}, {:?}",
        databases(),
        roles()
    );
    c.ok("skiff apps:destroy beta --confirm beta");
    let gone = wait_until(Duration::from_secs(60), || {
        !databases().contains(&b.path)
            && !roles().contains(&b.user)
            && c.ok("systemctl show -p LoadState --value skiff-addon-redis-beta.service")
                .trim()
                == "not-found"
            // skiffd deletes the files once the unit has stopped, a moment after it is gone.
            && !c.ok("ls /var/lib/skiff/addons/redis").contains("redis-beta")
    });
    assert!(
        gone,
        "beta's database, role, redis or redis files outlive it: databases {:?}, roles {:?}, files {}",
        databases(),
        roles(),
        c.ok("ls /var/lib/skiff/addons/redis")
    );
    assert!(
        databases().contains(&a.path),
        "alpha's database stays: {:?}",
        databases()
    );
    assert_eq!(
        c.sh("systemctl is-active postgresql@$(ls /etc/postgresql)-main redis-server")
            .stdout
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["active", "active"],
        "the host's own cluster and Redis are none of skiff's business"
    );
    assert_addons(
        c,
        "",
        &[addon_json(
            "postgresql-alpha",
            "postgresql",
            "mini",
            "alpha",
            &[attachment("alpha", "DATABASE")],
        )],
    );
}

/// Everything a refused add-on command must leave as it was.
fn snapshot(c: &Container, app: &str) -> (Vec<Value>, Value, usize) {
    (
        normalized(&c.json("skiff addons --json")),
        config(c, app),
        releases(c, app).len(),
    )
}

/// The postgres add-ons `app` owns, once skiffd answers again.
fn owned_postgres(c: &Container, app: &str) -> Option<Vec<Value>> {
    let o = c.sh(&format!("skiff addons -a {app} --json"));
    let list: Value = serde_json::from_str(&o.stdout)
        .ok()
        .filter(|_| o.success())?;
    Some(
        list.as_array()?
            .iter()
            .filter(|a| a["service"] == "postgresql" && a["owner"] == app)
            .cloned()
            .collect(),
    )
}

/// The add-on databases (`skiff…`) of skiff's cluster: none when there is no cluster yet (the
/// first postgres add-on makes it); None while the cluster does not answer.
fn addon_databases(c: &Container) -> Option<Vec<String>> {
    let Some(port) = cluster_port(c) else {
        return Some(Vec::new());
    };
    let o = c.sh(&format!(
        "runuser -u postgres -- psql -X -p {port} -At -c \"select datname from pg_database where datname like 'skiff%'\""
    ));
    o.success()
        .then(|| o.stdout.lines().map(str::to_owned).collect())
}

/// After a crash during `addons:create postgres -a APP`: nothing at all (no add-on, no var, no
/// database in the cluster), or one ready add-on, attached with its var, whose database answers
/// from the app's dyno. None while things are still settling.
fn crash_outcome(c: &Container, app: &str) -> Option<String> {
    let owned = owned_postgres(c, app)?;
    let databases = addon_databases(c)?;
    let url = config(c, app)
        .get("DATABASE_URL")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (owned.as_slice(), url) {
        ([], None) if databases.is_empty() => Some("none".into()),
        ([one], Some(url)) if one["state"] == "ready" => {
            let name = one["name"].as_str()?.to_owned();
            let attached = spec_view(one)["attachments"] == json!([attachment(app, "DATABASE")]);
            let db = parse_url(&url, "postgres");
            let answers = sql_in_dyno(c, app, "DATABASE_URL", "select 1")
                .stdout
                .trim()
                == "1";
            (attached && answers && databases == [db.path]).then_some(name)
        }
        _ => None,
    }
}

fn addons_bad_input_and_crash(c: &Container) {
    c.install_deb();
    deploy_tools_app(c, "crash");
    c.json("skiff addons:create redis -a crash --json");
    let before = snapshot(c, "crash");
    let plans: Vec<String> = c
        .json("skiff addons:plans --json")
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(plans.len(), 3, "three plans by default: {plans:?}");
    let refusals: &[(&str, Vec<&str>)] = &[
        (
            "skiff addons:create mysql -a crash",
            vec!["mysql", "postgres, redis"],
        ),
        (
            "skiff addons:create redis -a crash --plan gold",
            plans.iter().map(String::as_str).chain(["gold"]).collect(),
        ),
        (
            "skiff addons:create redis -a crash --as REDIS",
            vec!["REDIS"],
        ),
        ("skiff addons:destroy redis-crash", vec!["--confirm"]),
        (
            "skiff addons:destroy redis-crash --confirm other",
            vec!["--confirm"],
        ),
        (
            "skiff addons:attach redis-crash -a nosuchapp",
            vec!["nosuchapp"],
        ),
    ];
    for (cmd, needles) in refusals {
        let err = cli_error(c, cmd);
        for needle in needles {
            assert_contains(&err, needle, cmd);
        }
        assert_eq!(
            snapshot(c, "crash"),
            before,
            "`{cmd}` changed add-ons, config or releases"
        );
    }
    c.wait_active("skiff-addon-redis-crash.service", Duration::from_secs(5));

    // skiffd killed while it makes the first database (perhaps skiff's cluster too): afterwards
    // all of it or none of it.
    c.ok(
        "(setsid sh -c 'skiff addons:create postgres -a crash --json > /root/create.out 2>&1; echo $? >> /root/create.out' > /dev/null 2>&1 &); \
         sleep 0.3; kill -9 \"$(systemctl show -p MainPID --value skiffd)\"",
    );
    c.wait_active("skiffd", Duration::from_secs(30));
    let mut outcome = None;
    let settled = wait_until(Duration::from_secs(60), || {
        outcome = crash_outcome(c, "crash");
        outcome.is_some() && {
            std::thread::sleep(Duration::from_secs(2));
            crash_outcome(c, "crash") == outcome
        }
    });
    assert!(
        settled,
        "a minute after the crash: add-ons {:?}, config {}, databases {:?}; the client said: {}",
        owned_postgres(c, "crash"),
        config(c, "crash"),
        addon_databases(c),
        c.sh("cat /root/create.out").stdout
    );
    let outcome = outcome.expect("settled");
    c.note(&format!(
        "after skiffd was killed during addons:create: {outcome}"
    ));

    // Nothing is left half made that would block the next one.
    let next = c.json("skiff addons:create postgres -a crash --as AFTER --json");
    let want_name = if outcome == "none" {
        "postgresql-crash"
    } else {
        "postgresql-crash-2"
    };
    assert_eq!(next["name"], want_name, "{next}");
    assert_eq!(
        spec_view(&next)["attachments"],
        json!([attachment("crash", "AFTER")]),
        "{next}"
    );
    wait_sql(
        c,
        "crash",
        "AFTER_URL",
        "select 1",
        "1",
        "the add-on made after the crash",
    );
}
