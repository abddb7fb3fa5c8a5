//! Renders Caddy's complete JSON config from the routes in the DB (pure, snapshot-tested): one
//! route per app on `APP.<base_domain>` and its custom domains, load-balanced over its routed web
//! dynos (their text responses compressed unless the app turned that off), a sleeping app's
//! requests held by a wake subrequest to skiffd, a 503 page in maintenance or without web dynos, a 404 page for unknown hosts, JSON
//! access lines in a file of their own (rolled by Caddy; skiffd follows it for router lines),
//! Caddy's other messages on its stderr (its journal), and automatic HTTPS when `tls` is on.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::{BaseDomain, TlsMode};
use crate::model::{
    service_addr, service_port, AppRoutes, Compression, DynoName, NetworkRange, ProcessType,
};
use crate::wake::WAKE_HEADER;

/// Where skiff's Caddy listens for its admin API: a Unix socket only root (and Caddy) can use.
pub const ADMIN_SOCKET: &str = "/run/skiff-caddy/admin.sock";
/// Caddy's access lines, one JSON object per request; skiffd turns them into router lines.
/// The folder is skiff-caddy.service's `LogsDirectory=`.
pub const ACCESS_LOG: &str = "/var/log/skiff-caddy/access.log";
/// Caddy rolls the access log at this size and keeps this many rolled (compressed) files, so it
/// never grows without bound; the router lines themselves live in journald.
const ACCESS_LOG_ROLL_MB: u32 = 10;
const ACCESS_LOG_ROLL_KEEP: u32 = 2;
/// Responses shorter than this go out unencoded (Caddy's own default, made explicit).
const COMPRESS_MIN_BYTES: u32 = 512;
/// The response Content-Types worth compressing, in Caddy's header-matcher syntax (a trailing
/// `*` matches parameters such as `; charset=utf-8`). Deliberately not `text/*`, which would
/// take in `text/event-stream` (an encoder buffers and would hold events back); images other
/// than SVG, video, audio, fonts and archives are compressed already.
const COMPRESSIBLE_TYPES: &[&str] = &[
    "text/html*",
    "text/plain*",
    "text/css*",
    "text/javascript*",
    "text/xml*",
    "text/csv*",
    "text/markdown*",
    "application/javascript*",
    "application/json*",
    "application/ld+json*",
    "application/manifest+json*",
    "application/xml*",
    "application/xhtml+xml*",
    "application/atom+xml*",
    "application/rss+xml*",
    "application/wasm*",
    "image/svg+xml*",
];
/// Name of the one HTTP server in the config.
const SERVER: &str = "skiff";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    pub base_domain: BaseDomain,
    pub tls: TlsMode,
    pub acme_email: String,
    pub admin_socket: PathBuf,
    /// Where Caddy writes its access lines.
    pub access_log: PathBuf,
    /// Certificates and keys (Caddy's storage), under the state directory.
    pub storage_dir: PathBuf,
    pub http_port: u16,
    pub https_port: u16,
    /// Largest request body an app accepts.
    pub max_body: u64,
    /// Apps' private networks: the proxy dials each app's service address. None: dynos run on
    /// the host's network and are dialled on loopback.
    pub network: Option<NetworkRange>,
    /// skiffd's wake socket, which holds a sleeping app's requests until it is up.
    pub wake_socket: PathBuf,
    /// The dashboard's host and skiffd's dashboard socket, when the proxy serves it.
    pub dashboard: Option<(String, PathBuf)>,
    /// `api_domain` and skiffd's socket for the API's proxied requests, when the proxy serves it.
    pub api: Option<(String, PathBuf)>,
}

impl ProxySettings {
    /// skiffd's own hosts (the dashboard's, the API's) with the socket each is proxied to.
    fn own_hosts(&self) -> impl Iterator<Item = &(String, PathBuf)> {
        self.dashboard.iter().chain(&self.api)
    }
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:4em auto;max-width:40em\">\
         <h1>{title}</h1><p>{text}</p></body></html>\n"
    )
}

fn static_page(status: u16, title: &str, text: &str, retry_after: bool) -> Value {
    let mut headers = json!({
        "Content-Type": ["text/html; charset=utf-8"],
        "Cache-Control": ["no-store"],
    });
    if retry_after {
        headers["Retry-After"] = json!(["30"]);
    }
    json!({
        "handler": "static_response",
        "status_code": status,
        "headers": headers,
        "body": page(title, text),
    })
}

/// The handlers of one app's requests.
fn app_handlers(
    app: &AppRoutes,
    max_body: u64,
    network: Option<NetworkRange>,
    wake_socket: &Path,
) -> Vec<Value> {
    if app.maintenance {
        return vec![static_page(
            503,
            "Down for maintenance",
            "This app is undergoing maintenance. Please try again in a moment.",
            true,
        )];
    }
    if app.sleep.holds_requests() {
        if let Some(range) = network {
            let dials = woken_dials(app, range);
            if !dials.is_empty() {
                return asleep_handlers(app, &dials, max_body, wake_socket);
            }
        }
    }
    let dials = upstream_dials(app, network);
    if dials.is_empty() {
        return vec![static_page(
            503,
            "No web dynos running",
            &format!(
                "The app {} has no web dynos running. Its owner can start one with: skiff ps:scale web=1 -a {}",
                app.app, app.app
            ),
            true,
        )];
    }
    vec![json!({
        "handler": "subroute",
        "routes": [first_route(app), declared_length_route(max_body), proxy_route(&dials, max_body)],
    })]
}

/// The request id, behind the encoder unless the app turned compression off.
fn first_route(app: &AppRoutes) -> Value {
    match app.compression {
        Compression::On => compressing(request_id_route()),
        Compression::Off => request_id_route(),
    }
}

/// A sleeping (or waking) app's chain: as an awake one's, with the wake between the size check
/// and the proxy. Its requests are held by a subrequest to skiffd's wake socket, which answers
/// once the app's web dynos are healthy and routed; on a 2xx the request goes on to the dynos
/// (the wake answer's routes must not be empty, or Caddy would hand the wake answer itself to
/// the client), and any other answer — the 503 page of a failed or timed-out wake — is the
/// client's. The request's body is never sent to skiffd: the subrequest is a GET.
fn asleep_handlers(
    app: &AppRoutes,
    dials: &[(String, String)],
    max_body: u64,
    wake_socket: &Path,
) -> Vec<Value> {
    let wake = json!({
        "handle": [{
            "handler": "reverse_proxy",
            "upstreams": [{"dial": format!("unix/{}", wake_socket.display())}],
            "rewrite": {"method": "GET", "uri": format!("/wake/{}", app.app)},
            // Only while skiffd restarts does the dial fail.
            "load_balancing": {"try_duration": "10s", "try_interval": "250ms"},
            "handle_response": [
                {
                    // The request that woke the app carries the wake's time to its router line.
                    "match": {"status_code": [2], "headers": {WAKE_HEADER: ["*"]}},
                    "routes": [{"handle": [{
                        "handler": "headers",
                        "response": {"set": {WAKE_HEADER: [format!("{{http.reverse_proxy.header.{WAKE_HEADER}}}")]}},
                    }]}],
                },
                {
                    "match": {"status_code": [2]},
                    "routes": [{"handle": [{"handler": "vars"}]}],
                },
            ],
        }],
    });
    vec![json!({
        "handler": "subroute",
        "routes": [first_route(app), declared_length_route(max_body), wake, proxy_route(dials, max_body)],
    })]
}

/// Where a woken app's held requests go: its service address at the ports of the web dynos the
/// formation wants, which the rules map to whichever units the wake routed.
fn woken_dials(app: &AppRoutes, range: NetworkRange) -> Vec<(String, String)> {
    let Some(slot) = app.network_slot else {
        return Vec::new();
    };
    (1..=app.web_dynos)
        .map(|index| {
            let dyno = DynoName {
                process_type: ProcessType::web(),
                index,
            };
            (
                format!("{}:{}", service_addr(&range, slot), service_port(&dyno)),
                dyno.to_string(),
            )
        })
        .collect()
}

/// `route` behind Caddy's encode handler, which then wraps everything after it in the app's
/// chain (the 413 page and the proxied responses): zstd, else gzip, as the client accepts, for
/// the [`COMPRESSIBLE_TYPES`] only. Caddy itself leaves alone a response that already has a
/// Content-Encoding. The app's routes keep their places.
fn compressing(route: Value) -> Value {
    json!({
        "handle": [
            {
                "handler": "encode",
                "encodings": {"zstd": {}, "gzip": {}},
                "prefer": ["zstd", "gzip"],
                "minimum_length": COMPRESS_MIN_BYTES,
                "match": {"headers": {"Content-Type": COMPRESSIBLE_TYPES}},
            },
            {"handler": "subroute", "routes": [route]},
        ],
    })
}

/// Heroku's X-Request-Id: the client's own, or a fresh one.
fn request_id_route() -> Value {
    json!({
        "match": [{"not": [{"header": {"X-Request-Id": []}}]}],
        "handle": [{"handler": "headers", "request": {"set": {"X-Request-Id": ["{http.request.uuid}"]}}}],
    })
}

/// Caddy 2.6's request_body limit answers 502 for a declared length over it; a declared length
/// is refused here with 413, and request_body (in [`proxy_route`]) catches chunked ones.
fn declared_length_route(max_body: u64) -> Value {
    json!({
        "match": [{"expression": format!(
            "{{http.request.header.Content-Length}} != \"\" && int({{http.request.header.Content-Length}}) > {max_body}"
        )}],
        "handle": [static_page(
            413,
            "Request too large",
            &format!("Request bodies are limited to {max_body} bytes."),
            false,
        )],
        "terminal": true,
    })
}

/// Where the proxy dials each routed web dyno, with the dyno's name. In a private network that
/// is the app's service address at the dyno's service port (`web.2` → 10002), which skiff's
/// nftables rules map to whichever unit of `web.2` is routed: a deploy or restart changes the
/// rules, not this config. On the host's network it is the unit's own loopback port.
fn upstream_dials(app: &AppRoutes, network: Option<NetworkRange>) -> Vec<(String, String)> {
    let mut dials: Vec<(String, String)> = Vec::new();
    for route in &app.upstreams {
        let dial = match (network, app.network_slot) {
            (None, _) => format!("127.0.0.1:{}", route.port),
            (Some(range), Some(slot)) => format!(
                "{}:{}",
                service_addr(&range, slot),
                service_port(&route.dyno)
            ),
            (Some(_), None) => continue,
        };
        if !dials.iter().any(|(d, _)| *d == dial) {
            dials.push((dial, route.dyno.to_string()));
        }
    }
    dials
}

/// Round-robin over the app's routed web dynos, naming the one that answered.
fn proxy_route(dials: &[(String, String)], max_body: u64) -> Value {
    let mappings: Vec<Value> = dials
        .iter()
        .map(|(dial, dyno)| json!({"input": dial, "outputs": [dyno]}))
        .collect();
    let upstreams: Vec<Value> = dials
        .iter()
        .map(|(dial, _)| json!({"dial": dial}))
        .collect();
    json!({
        "handle": [
            {"handler": "request_body", "max_size": max_body},
            {
                // Names the dyno that answered, for the router log line.
                "handler": "map",
                "source": "{http.reverse_proxy.upstream.hostport}",
                "destinations": ["{skiff.dyno}"],
                "mappings": mappings,
                "defaults": ["none"],
            },
            {
                "handler": "reverse_proxy",
                "upstreams": upstreams,
                "load_balancing": {
                    "selection_policy": {"policy": "round_robin"},
                    "try_duration": "5s",
                    "try_interval": "100ms",
                },
                "headers": {
                    "response": {
                        "set": {
                            "X-Skiff-Dyno": ["{skiff.dyno}"],
                            "X-Request-Id": ["{http.request.header.X-Request-Id}"],
                        },
                    },
                },
            },
        ],
    })
}

/// The complete Caddy config for `apps`.
pub fn render(apps: &[AppRoutes], settings: &ProxySettings) -> Value {
    let routed = route_apps(apps, settings);
    let mut apps_json = json!({
        "http": {
            "http_port": settings.http_port,
            "https_port": settings.https_port,
            "servers": servers(routed.routes, routed.logger_names, settings),
        },
    });
    add_tls(&mut apps_json, routed.hosts, settings);
    json!({
        "admin": {
            "listen": format!("unix/{}", settings.admin_socket.display()),
            "origins": ["localhost"],
            "config": {"persist": true},
        },
        "storage": {"module": "file_system", "root": settings.storage_dir.display().to_string()},
        "logging": {
            "logs": {
                "default": {
                    "writer": {"output": "stderr"},
                    "encoder": {"format": "json"},
                    "exclude": ["http.log.access"],
                },
                "access": {
                    "writer": {
                        "output": "file",
                        "filename": settings.access_log.display().to_string(),
                        "roll_size_mb": ACCESS_LOG_ROLL_MB,
                        "roll_keep": ACCESS_LOG_ROLL_KEEP,
                    },
                    "encoder": {"format": "json"},
                    "include": ["http.log.access"],
                },
            },
        },
        "apps": apps_json,
    })
}

/// The apps' routes (then the 404 page), each host's access logger, and every host served.
struct RoutedApps {
    routes: Vec<Value>,
    logger_names: serde_json::Map<String, Value>,
    hosts: Vec<String>,
}

fn route_apps(apps: &[AppRoutes], settings: &ProxySettings) -> RoutedApps {
    let mut routed = RoutedApps {
        routes: Vec::new(),
        logger_names: serde_json::Map::new(),
        hosts: Vec::new(),
    };
    for app in apps {
        let hosts: Vec<String> =
            std::iter::once(format!("{}.{}", app.app, settings.base_domain.as_str()))
                .chain(app.domains.iter().map(|d| d.to_string()))
                .collect();
        for host in &hosts {
            // Access lines then come from logger `http.log.access.APP`: the router-log reader
            // takes the app from there.
            routed
                .logger_names
                .insert(host.clone(), json!(app.app.as_str()));
        }
        routed.hosts.extend(hosts.iter().cloned());
        routed.routes.push(json!({
            "match": [{"host": hosts}],
            "handle": app_handlers(app, settings.max_body, settings.network, &settings.wake_socket),
            "terminal": true,
        }));
    }
    for (host, socket) in settings.own_hosts() {
        routed.hosts.push(host.clone());
        routed
            .routes
            .push(socket_route(host, socket, settings.max_body));
    }
    routed.routes.push(json!({"handle": [not_found_page()]}));
    routed
}

/// One of skiffd's own hosts (the dashboard's, the API's), proxied to its socket. Its requests
/// are not an app's: no access lines (`skip_hosts` in [`servers`]), no metrics. No
/// `flush_interval`: Caddy flushes `text/event-stream` answers (the live log) and answers of no
/// known length (`logs -f`) as they come anyway, and with `flush_interval: -1` Caddy 2.6 ties
/// each request to the config it arrived under, so every config load would cut the requests in
/// flight.
fn socket_route(host: &str, socket: &Path, max_body: u64) -> Value {
    json!({
        "match": [{"host": [host]}],
        "handle": [
            {"handler": "request_body", "max_size": max_body},
            {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": format!("unix/{}", socket.display())}],
            },
        ],
        "terminal": true,
    })
}

/// The access loggers of the apps' hosts; skiffd's own hosts write no access line.
fn server_logs(logger_names: &serde_json::Map<String, Value>, settings: &ProxySettings) -> Value {
    let mut logs = json!({"logger_names": logger_names});
    let own: Vec<&String> = settings.own_hosts().map(|(host, _)| host).collect();
    if !own.is_empty() {
        logs["skip_hosts"] = json!(own);
    }
    logs
}

fn not_found_page() -> Value {
    static_page(
        404,
        "No such app",
        "No app is served at this address.",
        false,
    )
}

/// The HTTP server(s): one on :80, or with TLS the apps on :443 and :80 left to Caddy's
/// HTTP → HTTPS redirects of every app host (unknown hosts get the 404 page).
fn servers(
    routes: Vec<Value>,
    logger_names: serde_json::Map<String, Value>,
    settings: &ProxySettings,
) -> serde_json::Map<String, Value> {
    let mut servers = serde_json::Map::new();
    if settings.tls != TlsMode::Off {
        servers.insert(
            SERVER.into(),
            json!({
                "listen": [format!(":{}", settings.https_port)],
                "routes": routes,
                "logs": server_logs(&logger_names, settings),
            }),
        );
        servers.insert(
            format!("{SERVER}_http"),
            json!({
                "listen": [format!(":{}", settings.http_port)],
                "routes": [{"handle": [not_found_page()]}],
            }),
        );
    } else {
        servers.insert(
            SERVER.into(),
            json!({
                "listen": [format!(":{}", settings.http_port)],
                "routes": routes,
                "logs": server_logs(&logger_names, settings),
                "automatic_https": {"disable": true},
            }),
        );
    }
    servers
}

/// Certificates for every host: from skiff's own CA, or from an ACME issuer.
fn add_tls(apps_json: &mut Value, hosts: Vec<String>, settings: &ProxySettings) {
    match settings.tls {
        TlsMode::Off => {}
        TlsMode::Internal => {
            apps_json["tls"] = json!({
                "automation": {"policies": [{"subjects": hosts, "issuers": [{"module": "internal"}]}]},
            });
            // The CA stays skiff's own: never added to the server's trust store.
            apps_json["pki"] =
                json!({"certificate_authorities": {"local": {"install_trust": false}}});
        }
        TlsMode::Acme => {
            let mut issuer = json!({"module": "acme"});
            if !settings.acme_email.is_empty() {
                issuer["email"] = json!(settings.acme_email);
            }
            apps_json["tls"] = json!({
                "automation": {"policies": [{"subjects": hosts, "issuers": [issuer]}]},
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Route;
    use crate::model::{AppName, Domain, DynoName, SleepState};

    fn settings(tls: TlsMode) -> ProxySettings {
        ProxySettings {
            base_domain: "localhost".parse().unwrap(),
            tls,
            acme_email: "ops@example.com".into(),
            admin_socket: ADMIN_SOCKET.into(),
            access_log: ACCESS_LOG.into(),
            storage_dir: "/var/lib/skiff/caddy".into(),
            http_port: 80,
            https_port: 443,
            max_body: 100 << 20,
            network: None,
            wake_socket: "/run/skiff/wake.sock".into(),
            dashboard: None,
            api: None,
        }
    }

    fn app(name: &str, domains: &[&str], maintenance: bool, ports: &[u16]) -> AppRoutes {
        AppRoutes {
            app: AppName::parse(name).unwrap(),
            domains: domains.iter().map(|d| Domain::parse(d).unwrap()).collect(),
            maintenance,
            compression: Compression::On,
            upstreams: ports
                .iter()
                .enumerate()
                .map(|(i, p)| Route {
                    unit_name: format!("skiff-{name}.web.{}.v1.service", i + 1),
                    dyno: DynoName::parse(&format!("web.{}", i + 1)).unwrap(),
                    port: *p,
                })
                .collect(),
            network_slot: None,
            sleep: crate::model::SleepState::Awake,
            web_dynos: ports.len() as u32,
        }
    }

    /// Compares with `src/proxy/snapshots/NAME.json`; `UPDATE_SNAPSHOTS=1` rewrites it.
    fn snapshot(name: &str, value: &Value) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/proxy/snapshots")
            .join(format!("{name}.json"));
        let rendered = serde_json::to_string_pretty(value).unwrap() + "\n";
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let stored = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()));
        assert_eq!(rendered, stored, "snapshot {name} differs");
    }

    fn apps() -> Vec<AppRoutes> {
        vec![
            app("hello", &["www.example.com"], false, &[20000, 20001]),
            app("quiet", &[], false, &[]),
            app("under-works", &[], true, &[20002]),
        ]
    }

    #[test]
    fn the_dashboard_host_is_proxied_to_its_socket_unlogged_and_uncut_by_loads() {
        let mut with_dashboard = settings(TlsMode::Internal);
        with_dashboard.dashboard =
            Some(("skiff.localhost".into(), "/run/skiff/dashboard.sock".into()));
        let config = render(&apps(), &with_dashboard);
        let server = &config["apps"]["http"]["servers"]["skiff"];
        let routes = server["routes"].as_array().unwrap();
        let dashboard = &routes[routes.len() - 2];
        assert_eq!(dashboard["match"], json!([{"host": ["skiff.localhost"]}]));
        let proxy = &dashboard["handle"][1];
        assert_eq!(
            proxy["upstreams"],
            json!([{"dial": "unix//run/skiff/dashboard.sock"}])
        );
        assert!(proxy.get("flush_interval").is_none(), "{proxy}");
        assert_eq!(server["logs"]["skip_hosts"], json!(["skiff.localhost"]));
        let subjects = &config["apps"]["tls"]["automation"]["policies"][0]["subjects"];
        assert!(
            subjects
                .as_array()
                .unwrap()
                .contains(&json!("skiff.localhost")),
            "{subjects}"
        );
        let without = render(&apps(), &settings(TlsMode::Internal));
        assert!(without["apps"]["http"]["servers"]["skiff"]["logs"]
            .get("skip_hosts")
            .is_none());
        assert!(!without.to_string().contains("dashboard.sock"));
    }

    #[test]
    fn the_api_host_is_proxied_to_its_socket_beside_the_dashboard() {
        let mut both = settings(TlsMode::Acme);
        both.dashboard = Some(("skiff.localhost".into(), "/run/skiff/dashboard.sock".into()));
        both.api = Some((
            "paas.example.com".into(),
            "/run/skiff/api-proxied.sock".into(),
        ));
        let config = render(&apps(), &both);
        let server = &config["apps"]["http"]["servers"]["skiff"];
        let routes = server["routes"].as_array().unwrap();
        let api = &routes[routes.len() - 2];
        assert_eq!(api["match"], json!([{"host": ["paas.example.com"]}]));
        assert_eq!(
            api["handle"][1]["upstreams"],
            json!([{"dial": "unix//run/skiff/api-proxied.sock"}])
        );
        assert_eq!(
            server["logs"]["skip_hosts"],
            json!(["skiff.localhost", "paas.example.com"]),
            "neither writes router lines"
        );
        let subjects = &config["apps"]["tls"]["automation"]["policies"][0]["subjects"];
        assert!(
            subjects
                .as_array()
                .unwrap()
                .contains(&json!("paas.example.com")),
            "{subjects}"
        );
    }

    #[test]
    fn tls_off_snapshot() {
        snapshot("tls-off", &render(&apps(), &settings(TlsMode::Off)));
    }

    #[test]
    fn tls_internal_snapshot() {
        snapshot(
            "tls-internal",
            &render(&apps(), &settings(TlsMode::Internal)),
        );
    }

    #[test]
    fn tls_acme_snapshot() {
        snapshot("tls-acme", &render(&apps(), &settings(TlsMode::Acme)));
    }

    #[test]
    fn no_apps_still_answers_404_and_keeps_the_admin_socket() {
        let config = render(&[], &settings(TlsMode::Off));
        let routes = &config["apps"]["http"]["servers"]["skiff"]["routes"];
        assert_eq!(routes.as_array().unwrap().len(), 1);
        assert_eq!(routes[0]["handle"][0]["status_code"], 404);
        assert_eq!(
            config["admin"]["listen"],
            "unix//run/skiff-caddy/admin.sock"
        );
    }

    #[test]
    fn each_app_routes_its_hosts_to_its_own_dynos_or_a_503() {
        let config = render(&apps(), &settings(TlsMode::Off));
        let routes = &config["apps"]["http"]["servers"]["skiff"]["routes"];
        assert_eq!(
            routes[0]["match"][0]["host"],
            json!(["hello.localhost", "www.example.com"])
        );
        let proxy = &routes[0]["handle"][0]["routes"][2]["handle"][2];
        assert_eq!(
            proxy["upstreams"],
            json!([{"dial": "127.0.0.1:20000"}, {"dial": "127.0.0.1:20001"}])
        );
        assert_eq!(routes[1]["handle"][0]["status_code"], 503);
        assert!(routes[1]["handle"][0]["body"]
            .as_str()
            .unwrap()
            .contains("No web dynos running"));
        assert!(routes[2]["handle"][0]["body"]
            .as_str()
            .unwrap()
            .contains("maintenance"));
        let loggers = &config["apps"]["http"]["servers"]["skiff"]["logs"]["logger_names"];
        assert_eq!(loggers["www.example.com"], "hello");
        assert_eq!(loggers["under-works.localhost"], "under-works");
    }

    #[test]
    fn compression_wraps_the_proxy_for_compressible_types_only_and_can_be_off() {
        let mut apps = apps();
        apps[1] = app("quiet", &[], false, &[20003]);
        apps[1].compression = Compression::Off;
        let config = render(&apps, &settings(TlsMode::Off));
        let routes = &config["apps"]["http"]["servers"]["skiff"]["routes"];
        let inner = |i: usize| routes[i]["handle"][0]["routes"].as_array().unwrap().clone();
        let handlers = |route: &Value| -> Vec<String> {
            route["handle"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["handler"].as_str().unwrap().to_owned())
                .collect()
        };
        let on = inner(0);
        assert_eq!(
            handlers(&on[0]),
            ["encode", "subroute"],
            "encode comes first"
        );
        assert!(on[0].get("terminal").is_none() && on[0].get("match").is_none());
        assert_eq!(on[0]["handle"][1]["routes"], json!([request_id_route()]));
        assert_eq!(handlers(&on[2]), ["request_body", "map", "reverse_proxy"]);
        let encode = &on[0]["handle"][0];
        assert_eq!(encode["encodings"], json!({"zstd": {}, "gzip": {}}));
        assert_eq!(encode["prefer"], json!(["zstd", "gzip"]));
        assert_eq!(encode["minimum_length"], 512);
        let types: Vec<&str> = encode["match"]["headers"]["Content-Type"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let matches = |content_type: &str| {
            types.iter().any(|t| match t.strip_suffix('*') {
                Some(prefix) => content_type.starts_with(prefix),
                None => content_type == *t,
            })
        };
        for (content_type, want) in [
            ("text/html; charset=utf-8", true),
            ("text/css", true),
            ("application/json", true),
            ("application/javascript", true),
            ("image/svg+xml", true),
            ("text/event-stream", false),
            ("image/png", false),
            ("image/jpeg", false),
            ("video/mp4", false),
            ("application/zip", false),
            ("application/gzip", false),
            ("application/octet-stream", false),
            ("font/woff2", false),
        ] {
            assert_eq!(matches(content_type), want, "{content_type}");
        }
        let off = inner(1);
        assert_eq!(off[0], request_id_route());
        assert_eq!(handlers(&off[2]), ["request_body", "map", "reverse_proxy"]);
    }

    #[test]
    fn with_tls_plain_http_is_its_own_server_for_caddys_redirects() {
        let config = render(&apps(), &settings(TlsMode::Internal));
        let servers = &config["apps"]["http"]["servers"];
        assert_eq!(servers["skiff"]["listen"], json!([":443"]));
        assert_eq!(servers["skiff_http"]["listen"], json!([":80"]));
        assert!(servers["skiff"].get("automatic_https").is_none());
        let off = render(&apps(), &settings(TlsMode::Off));
        assert_eq!(
            off["apps"]["http"]["servers"]["skiff"]["listen"],
            json!([":80"])
        );
        assert!(off["apps"]["http"]["servers"].get("skiff_http").is_none());
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(
            serde_json::to_string(&render(&apps(), &settings(TlsMode::Internal))).unwrap(),
            serde_json::to_string(&render(&apps(), &settings(TlsMode::Internal))).unwrap()
        );
    }

    #[test]
    fn in_private_networks_a_deploy_leaves_the_config_as_it_was() {
        let range: NetworkRange = "10.213.0.0/16".parse().unwrap();
        let settings = ProxySettings {
            network: Some(range),
            ..settings(TlsMode::Off)
        };
        let mut live = app("shop", &[], false, &[20000, 20001]);
        live.network_slot = Some(crate::model::NetworkSlot::new(2));
        let config = render(std::slice::from_ref(&live), &settings);
        let proxy = &config["apps"]["http"]["servers"]["skiff"]["routes"][0]["handle"][0]["routes"]
            [2]["handle"];
        assert_eq!(
            proxy[2]["upstreams"],
            json!([{"dial": "10.213.0.35:10001"}, {"dial": "10.213.0.35:10002"}])
        );
        assert_eq!(
            proxy[1]["mappings"],
            json!([
                {"input": "10.213.0.35:10001", "outputs": ["web.1"]},
                {"input": "10.213.0.35:10002", "outputs": ["web.2"]},
            ])
        );
        let mut deployed = live.clone();
        for (route, port) in deployed.upstreams.iter_mut().zip([20002, 20003]) {
            route.unit_name = route.unit_name.replace(".v1.", ".v2.");
            route.port = port;
        }
        assert_eq!(render(&[deployed], &settings), config);
        live.network_slot = None;
        let unplaced = render(&[live], &settings).to_string();
        assert!(unplaced.contains("No web dynos running"), "{unplaced}");
    }

    #[test]
    fn a_sleeping_app_is_held_by_a_wake_subrequest_then_sent_to_its_dynos() {
        let range: NetworkRange = "10.213.0.0/16".parse().unwrap();
        let private = ProxySettings {
            network: Some(range),
            ..settings(TlsMode::Off)
        };
        let mut awake = app("shop", &[], false, &[20000, 20001]);
        awake.network_slot = Some(crate::model::NetworkSlot::new(2));
        let mut asleep = awake.clone();
        asleep.upstreams.clear();
        for state in [SleepState::Sleeping, SleepState::Waking] {
            asleep.sleep = state;
            let config = render(std::slice::from_ref(&asleep), &private);
            let chain =
                &config["apps"]["http"]["servers"]["skiff"]["routes"][0]["handle"][0]["routes"];
            assert_eq!(chain.as_array().unwrap().len(), 4, "{state:?}");
            let wake = &chain[2]["handle"][0];
            assert_eq!(wake["handler"], "reverse_proxy");
            assert_eq!(
                wake["upstreams"],
                json!([{"dial": "unix//run/skiff/wake.sock"}])
            );
            // A GET: the request's body stays for the dyno.
            assert_eq!(
                wake["rewrite"],
                json!({"method": "GET", "uri": "/wake/shop"})
            );
            let handlers = wake["handle_response"].as_array().unwrap();
            assert_eq!(handlers.len(), 2);
            for h in handlers {
                assert_eq!(h["match"]["status_code"], json!([2]));
                // An empty list would hand the wake answer itself to the client.
                assert!(!h["routes"].as_array().unwrap().is_empty());
            }
            assert_eq!(
                handlers[0]["match"]["headers"],
                json!({"X-Skiff-Wake": ["*"]})
            );
            // The held requests go where an awake app's go: the service address.
            let awake_config = render(std::slice::from_ref(&awake), &private);
            let awake_chain = &awake_config["apps"]["http"]["servers"]["skiff"]["routes"][0]
                ["handle"][0]["routes"];
            assert_eq!(chain[3], awake_chain[2]);
            assert_eq!(chain[0], awake_chain[0]);
            assert_eq!(chain[1], awake_chain[1]);
        }
        // In maintenance it answers 503 without a wake.
        asleep.maintenance = true;
        let config = render(std::slice::from_ref(&asleep), &private).to_string();
        assert!(config.contains("Down for maintenance") && !config.contains("wake.sock"));
        // Without web dynos in the formation, or on the host's network, there is nothing to wake.
        asleep.maintenance = false;
        asleep.web_dynos = 0;
        let config = render(std::slice::from_ref(&asleep), &private).to_string();
        assert!(config.contains("No web dynos running") && !config.contains("wake.sock"));
        asleep.web_dynos = 2;
        let config = render(std::slice::from_ref(&asleep), &settings(TlsMode::Off)).to_string();
        assert!(!config.contains("wake.sock"), "{config}");
    }
}
