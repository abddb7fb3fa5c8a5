//! The reconciler's round tests: a whole round against a temp store, fake systemd, proxy and
//! prober.

use std::sync::Arc;
use std::time::Duration;

use super::round::Round;
use super::spec::app_totals;
use super::*;
use crate::config::Config;
use crate::health::FakeProber;
use crate::model::{DynoFilter, DynoName, DynoSize, Limits, Procfile, ScaleChange};
use crate::proxy::FakeProxy;
use crate::systemd::FakeSystemd;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    systemd: Arc<FakeSystemd>,
    reconciler: Reconciler,
    layout: Layout,
    proxy: Arc<FakeProxy>,
    prober: Arc<FakeProber>,
    host: Arc<crate::network::FakeHost>,
    postgres: Arc<crate::addons::postgres::FakePostgres>,
    redis: Arc<crate::addons::redis::FakeRedis>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(&dir.path().join("state"), &dir.path().join("run"));
    let store = Store::open_in_memory().unwrap();
    let systemd = Arc::new(FakeSystemd::default());
    let proxy = Arc::new(FakeProxy::default());
    let prober = Arc::new(FakeProber::default());
    let host = Arc::new(crate::network::FakeHost::default());
    let postgres = Arc::new(crate::addons::postgres::FakePostgres::default());
    let redis = Arc::new(crate::addons::redis::FakeRedis::default());
    let reconciler = Reconciler::new(
        store.clone(),
        systemd.clone(),
        layout.clone(),
        DynoDefaults::from_config(&Config::default()),
        Traffic {
            proxy: proxy.clone(),
            prober: prober.clone(),
            settings: crate::daemon::proxy_settings(&Config::default()),
            drain: Duration::ZERO,
            sleep_default: None,
            activity: crate::activity::Activity::default(),
        },
        crate::network::Networking::new(
            crate::daemon::network_settings(&Config::default()),
            store.clone(),
            systemd.clone(),
            host.clone(),
        ),
        crate::addons::Addons::new(
            postgres.clone(),
            redis.clone(),
            Config::default().plans().unwrap(),
        ),
    );
    Fixture {
        _dir: dir,
        store,
        systemd,
        reconciler,
        layout,
        proxy,
        prober,
        host,
        postgres,
        redis,
    }
}

/// Runs rounds until health probes have answered and traffic has moved: what the loop does
/// on its own when probes poke it. At least six rounds, then until the units and the proxy's
/// config stayed the same for five rounds in a row (probes run as tasks of their own, so a
/// loaded machine needs more rounds), at most a hundred.
async fn settle(f: &Fixture) {
    let state = |f: &Fixture| (names(f), f.proxy.loaded().last().cloned());
    let (mut last, mut same) = (state(f), 0);
    for i in 0..100 {
        f.reconciler.round().await.unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
        let now = state(f);
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if i >= 5 && same >= 5 {
            return;
        }
    }
}

/// App `hello` deployed and running, its web dynos given 1 s to pass their health check.
async fn deployed_with_a_one_second_check() -> Fixture {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\n").await;
    settle(&f).await;
    f.store
        .set_health_check(
            &AppName::parse("hello").unwrap(),
            crate::model::HealthCheck::new(None, None, Some(Duration::from_secs(1))).unwrap(),
        )
        .await
        .unwrap();
    f
}

async fn deploy(f: &Fixture, app: &str, procfile: &str) {
    let app = AppName::parse(app).unwrap();
    if f.store.get_app(app.as_str()).await.is_err() {
        f.store.create_app(app.clone()).await.unwrap();
    }
    let layout = f.layout.clone();
    let a = app.clone();
    f.store
        .create_release(
            app,
            Procfile::parse(procfile).unwrap(),
            "Deploy".into(),
            move |v| std::fs::create_dir_all(layout.slug_dir(&a, v)).map_err(|e| e.to_string()),
        )
        .await
        .unwrap();
}

async fn scale(f: &Fixture, changes: &[&str]) {
    let changes = changes
        .iter()
        .map(|c| ScaleChange::parse(c).unwrap())
        .collect();
    f.store
        .scale(
            &crate::model::AppName::parse("hello").unwrap(),
            changes,
            "uid:0",
        )
        .await
        .unwrap();
}

fn names(f: &Fixture) -> Vec<String> {
    f.systemd.units().into_keys().collect()
}

/// The upstream ports of `app` in the proxy config last loaded.
/// Where the proxy's requests for `app` end up: each upstream the proxy dials (the app's
/// service address), through the mapping in the last nftables script, to a dyno's address.
fn upstreams(f: &Fixture, app: &str) -> Vec<String> {
    let script = f
        .host
        .scripts
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or_default();
    let mapped = |dial: String| {
        let (ip, port) = dial.split_once(':').unwrap();
        let from = format!("{ip} . {port} : ");
        let Some(start) = script.find(&from) else {
            return format!("{dial} (not mapped)");
        };
        let rest = &script[start + from.len()..];
        let end = rest.find([',', ' ', '}']).unwrap();
        let dyno_ip = &rest[..end];
        let port: String = rest[end + 3..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        format!("{dyno_ip}:{port}")
    };
    proxy_dials(f, app).into_iter().map(mapped).collect()
}

fn proxy_dials(f: &Fixture, app: &str) -> Vec<String> {
    let config = f.proxy.loaded().last().cloned().unwrap();
    let routes = config["apps"]["http"]["servers"]["skiff"]["routes"]
        .as_array()
        .unwrap()
        .clone();
    let host = format!("{app}.localhost");
    let route = routes
        .iter()
        .find(|r| r["match"][0]["host"][0] == host.as_str())
        .unwrap();
    route["handle"][0]["routes"][2]["handle"][2]["upstreams"]
        .as_array()
        .map(|u| {
            u.iter()
                .map(|d| d["dial"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn converges_scales_replaces_and_stays_put() {
    let f = fixture().await;
    deploy(&f, "hello", "web: python3 app.py\nworker: sleep 1000\n").await;
    let round = f.reconciler.round().await.unwrap();
    assert_eq!(round.started, 1);
    assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
    assert!(
        upstreams(&f, "hello").is_empty(),
        "not routed before it is healthy"
    );
    settle(&f).await;
    assert_eq!(upstreams(&f, "hello"), ["10.213.0.2:20000"]);
    assert_eq!(
        f.store
            .current_release(&crate::model::AppName::parse("hello").unwrap())
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    scale(&f, &["web=2", "worker=1"]).await;
    settle(&f).await;
    assert_eq!(names(&f).len(), 3);
    assert_eq!(
        upstreams(&f, "hello"),
        ["10.213.0.2:20000", "10.213.0.2:20001"]
    );
    // Converged: another round changes nothing (running dynos are adopted, not restarted).
    let calls = f.systemd.calls().len();
    let loads = f.proxy.loaded().len();
    assert_eq!(f.reconciler.round().await.unwrap(), Round::default());
    assert_eq!(f.systemd.calls().len(), calls);
    assert_eq!(f.proxy.loaded().len(), loads);

    deploy(&f, "hello", "web: python3 app2.py\nworker: sleep 1000\n").await;
    f.reconciler.round().await.unwrap();
    assert_eq!(
        names(&f).len(),
        5,
        "new web dynos start beside the routed ones; the worker waits for the switch"
    );
    assert_eq!(
        upstreams(&f, "hello"),
        ["10.213.0.2:20000", "10.213.0.2:20001"]
    );
    settle(&f).await;
    assert_eq!(
        names(&f),
        [
            "skiff-hello.web.1.v2.service",
            "skiff-hello.web.2.v2.service",
            "skiff-hello.worker.1.v2.service"
        ]
    );
    assert_eq!(
        upstreams(&f, "hello"),
        ["10.213.0.2:20002", "10.213.0.2:20003"]
    );
}

#[tokio::test]
async fn an_unhealthy_release_fails_and_the_live_one_keeps_serving() {
    let f = deployed_with_a_one_second_check().await;
    f.prober.break_port(20001);
    deploy(&f, "hello", "web: broken\n").await;
    f.reconciler.round().await.unwrap();
    let app = AppName::parse("hello").unwrap();
    let (status, failure) = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            f.reconciler.round().await.unwrap();
            let s = f
                .store
                .release_status(&crate::model::AppName::parse("hello").unwrap(), 2.into())
                .await
                .unwrap();
            if s.0 != crate::model::ReleaseStatus::Pending {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(status, crate::model::ReleaseStatus::Failed);
    let failure = failure.unwrap();
    assert!(
        failure.contains("web.1 failed its health check"),
        "{failure}"
    );
    assert_eq!(
        f.reconciler.wait_for_release(&app, 2).await.unwrap().0,
        crate::model::ReleaseStatus::Failed
    );
    settle(&f).await;
    assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
    assert_eq!(upstreams(&f, "hello"), ["10.213.0.2:20000"]);
    assert_eq!(
        f.store
            .current_release(&crate::model::AppName::parse("hello").unwrap())
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn restart_replaces_web_dynos_beside_the_routed_ones() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\n").await;
    settle(&f).await;
    let app = AppName::parse("hello").unwrap();
    let request = f
        .store
        .request_restart(
            &crate::model::AppName::parse("hello").unwrap(),
            DynoFilter::All,
            "uid:0",
        )
        .await
        .unwrap();
    f.reconciler.round().await.unwrap();
    assert_eq!(
        f.reconciler.wait_for_restart(&app, request).await.unwrap(),
        1
    );
    assert_eq!(
        names(&f),
        [
            "skiff-hello.web.1.v1.g1.service",
            "skiff-hello.web.1.v1.service"
        ]
    );
    settle(&f).await;
    assert_eq!(names(&f), ["skiff-hello.web.1.v1.g1.service"]);
    assert_eq!(upstreams(&f, "hello"), ["10.213.0.2:20001"]);
}

#[tokio::test]
async fn web_dynos_get_distinct_persisted_ports_and_a_private_env_file() {
    use crate::systemd::properties::PropertyValue;
    use std::os::unix::fs::PermissionsExt;
    let f = fixture().await;
    deploy(&f, "hello", "web: a\nworker: b\n").await;
    settle(&f).await;
    scale(&f, &["web=2", "worker=1"]).await;
    f.reconciler.round().await.unwrap();
    let units = f.systemd.units();
    let env_of = |name: &str| {
        units[name]
            .properties
            .iter()
            .find(|(k, _)| *k == "Environment")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        env_of("skiff-hello.web.1.v1.service"),
        PropertyValue::StrList(vec![
            "DYNO=web.1".into(),
            "HOME=/app".into(),
            format!("PATH={}", crate::systemd::properties::DYNO_PATH),
            "PORT=20000".into()
        ])
    );
    assert_eq!(
        env_of("skiff-hello.web.2.v1.service"),
        PropertyValue::StrList(vec![
            "DYNO=web.2".into(),
            "HOME=/app".into(),
            format!("PATH={}", crate::systemd::properties::DYNO_PATH),
            "PORT=20001".into()
        ])
    );
    assert_eq!(
        env_of("skiff-hello.worker.1.v1.service"),
        PropertyValue::StrList(vec![
            "DYNO=worker.1".into(),
            "HOME=/app".into(),
            format!("PATH={}", crate::systemd::properties::DYNO_PATH)
        ])
    );
    let env_file = f.layout.env_file(&AppName::parse("hello").unwrap(), 1);
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let ports = f.store.ports().await.unwrap();
    assert_eq!(ports["skiff-hello.web.1.v1.service"], 20000);
}

#[tokio::test]
async fn strays_are_stopped_and_crashed_dynos_are_held() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\n").await;
    settle(&f).await;
    f.systemd.add_unit("skiff-stray.service", "active");
    f.reconciler.round().await.unwrap();
    assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);

    f.systemd.fail("skiff-hello.web.1.v1.service");
    let round = f.reconciler.round().await.unwrap();
    assert_eq!(round.crashed, 1);
    assert!(
        names(&f).is_empty(),
        "the failed unit is reset and not restarted"
    );
    assert_eq!(f.reconciler.round().await.unwrap(), Round::default());
    let holds = f
        .store
        .holds(&crate::model::AppName::parse("hello").unwrap())
        .await
        .unwrap();
    assert_eq!(holds[0].dyno, DynoName::parse("web.1").unwrap());

    f.store
        .scale(
            &crate::model::AppName::parse("hello").unwrap(),
            vec![ScaleChange::parse("web=1").unwrap()],
            "uid:0",
        )
        .await
        .unwrap();
    f.reconciler.round().await.unwrap();
    assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
}

#[tokio::test]
async fn paused_processes_stop_and_start_again_once_the_pause_ends() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\n").await;
    settle(&f).await;
    assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
    let paused = f.reconciler.pause_processes();
    settle(&f).await;
    assert!(
        names(&f).is_empty(),
        "no dyno while paused: {:?}",
        names(&f)
    );
    drop(paused);
    settle(&f).await;
    assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
}

#[tokio::test]
async fn destroying_an_app_stops_its_dynos_and_removes_its_files() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\n").await;
    deploy(&f, "other", "web: a\n").await;
    settle(&f).await;
    f.reconciler.round().await.unwrap();
    let hello_dir = f.layout.app_dir(&AppName::parse("hello").unwrap());
    assert!(hello_dir.is_dir());
    f.store
        .delete_app(&crate::model::AppName::parse("hello").unwrap())
        .await
        .unwrap();
    f.reconciler.round().await.unwrap();
    assert_eq!(names(&f), ["skiff-other.web.1.v1.service"]);
    // The unit is gone now, so the next round removes the files.
    f.reconciler.round().await.unwrap();
    assert!(!hello_dir.exists());
    assert!(f.layout.app_dir(&AppName::parse("other").unwrap()).is_dir());
}

#[tokio::test]
async fn resize_applies_limits_to_running_dynos_of_that_type() {
    use crate::systemd::properties::PropertyValue;
    let f = fixture().await;
    deploy(&f, "hello", "web: a\nworker: b\n").await;
    settle(&f).await;
    f.store
        .scale(
            &crate::model::AppName::parse("hello").unwrap(),
            vec![ScaleChange::parse("worker=1").unwrap()],
            "uid:0",
        )
        .await
        .unwrap();
    f.reconciler.round().await.unwrap();
    let web = crate::model::ProcessType::parse("web").unwrap();
    let size = DynoSize {
        memory_bytes: Some(256 << 20),
        ..DynoSize::default()
    };
    f.store
        .resize(
            &crate::model::AppName::parse("hello").unwrap(),
            &web,
            size,
            "uid:0",
        )
        .await
        .unwrap();
    let round = f.reconciler.round().await.unwrap();
    assert_eq!(round.resized, 1);
    let memory = |unit: &str| {
        f.systemd.units()[unit]
            .properties
            .iter()
            .find(|(k, _)| *k == "MemoryMax")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        memory("skiff-hello.web.1.v1.service"),
        PropertyValue::U64(256 << 20)
    );
    assert_eq!(
        memory("skiff-hello.worker.1.v1.service"),
        PropertyValue::U64(512 << 20)
    );
}

#[tokio::test]
async fn slices_get_the_sum_of_their_dynos_limits() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\nworker: b\n").await;
    settle(&f).await;
    scale(&f, &["web=2", "worker=1"]).await;
    let desired = f.store.desired_state().await.unwrap();
    let totals = app_totals(
        desired.dynos.values(),
        &DynoDefaults::from_config(&Config::default()),
    );
    assert_eq!(
        totals[&AppName::parse("hello").unwrap()],
        Limits {
            memory_bytes: 3 * (512 << 20),
            cpu_percent: 300,
            tasks: 768
        }
    );
    f.systemd.add_unit("skiff-hello.slice", "active");
    settle(&f).await;
    let sets = |f: &Fixture| {
        f.systemd
            .calls()
            .iter()
            .filter(|c| *c == "set-property skiff-hello.slice")
            .count()
    };
    let sent = sets(&f);
    assert!(sent >= 1);
    f.reconciler.round().await.unwrap();
    assert_eq!(sets(&f), sent, "unchanged totals are not sent again");
}

#[tokio::test]
async fn files_of_an_app_created_after_the_rounds_snapshot_are_kept() {
    let f = fixture().await;
    // The round's desired state is read before `late` exists; its upload lands meanwhile.
    let late = AppName::parse("late").unwrap();
    f.store.create_app(late.clone()).await.unwrap();
    std::fs::create_dir_all(f.layout.builds_dir(&late)).unwrap();
    f.reconciler.remove_files_of_gone_apps(&[]).await.unwrap();
    assert!(f.layout.app_dir(&late).is_dir());
    f.store
        .delete_app(&crate::model::AppName::parse("late").unwrap())
        .await
        .unwrap();
    f.reconciler.remove_files_of_gone_apps(&[]).await.unwrap();
    assert!(!f.layout.app_dir(&late).exists());
}

#[tokio::test]
async fn restart_restarts_matching_running_dynos_only() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\nworker: b\n").await;
    settle(&f).await;
    scale(&f, &["web=2", "worker=1"]).await;
    f.reconciler.round().await.unwrap();
    let web = DynoFilter::Type(crate::model::ProcessType::parse("web").unwrap());
    assert_eq!(restart(&f, web).await, 2);
    let worker = DynoFilter::One(DynoName::parse("worker.1").unwrap());
    assert_eq!(restart(&f, worker).await, 1);
    let in_place: Vec<String> = f
        .systemd
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("restart "))
        .collect();
    assert_eq!(in_place, ["restart skiff-hello.worker.1.v1.service"]);
}

/// `ps:restart` as the API does it: the request recorded, a round, the outcome.
async fn restart(f: &Fixture, filter: DynoFilter) -> usize {
    let request = f
        .store
        .request_restart(
            &crate::model::AppName::parse("hello").unwrap(),
            filter,
            "uid:0",
        )
        .await
        .unwrap();
    f.reconciler.round().await.unwrap();
    let app = AppName::parse("hello").unwrap();
    f.reconciler.wait_for_restart(&app, request).await.unwrap()
}

#[tokio::test]
async fn dynos_adopted_at_start_get_their_limits_once() {
    let f = fixture().await;
    deploy(
        &f, "hello", "web: a
",
    )
    .await;
    settle(&f).await;
    // Another reconciler (skiffd restarted) does not know what the running dyno has.
    let fresh = Reconciler::new(
        f.store.clone(),
        f.systemd.clone(),
        f.layout.clone(),
        DynoDefaults::from_config(&Config::default()),
        f.reconciler.traffic.clone(),
        f.reconciler.networks.clone(),
        f.reconciler.addons.clone(),
    );
    assert_eq!(fresh.round().await.unwrap().resized, 1);
    assert_eq!(fresh.round().await.unwrap(), Round::default());
}

#[tokio::test]
async fn waiting_for_a_round_waits_for_one_that_began_after_the_call() {
    let f = fixture().await;
    let waiter = tokio::spawn({
        let reconciler = f.reconciler.clone();
        async move { reconciler.wait_for_round().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished());
    f.reconciler.round().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn waiting_for_a_restart_of_a_destroyed_app_ends() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\n").await;
    let request = f
        .store
        .request_restart(
            &crate::model::AppName::parse("hello").unwrap(),
            DynoFilter::All,
            "uid:0",
        )
        .await
        .unwrap();
    f.store
        .delete_app(&crate::model::AppName::parse("hello").unwrap())
        .await
        .unwrap();
    let rounds = tokio::spawn({
        let reconciler = f.reconciler.clone();
        async move {
            loop {
                reconciler.round().await.unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let app = AppName::parse("hello").unwrap();
    let waited = tokio::time::timeout(
        Duration::from_secs(5),
        f.reconciler.wait_for_restart(&app, request),
    )
    .await
    .unwrap();
    rounds.abort();
    assert!(
        matches!(
            waited,
            Err(ReconcileError::Store(
                crate::store::StoreError::AppNotFound(_)
            ))
        ),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_round_that_changed_no_unit_hands_its_listing_on() {
    let f = fixture().await;
    deploy(&f, "hello", "web: a\n").await;
    let (round, listed) = f.reconciler.round_observing(None).await.unwrap();
    assert_eq!(round.started, 1);
    assert!(listed.is_none(), "a round that started a dyno lists again");
    // The release goes live once its web dyno's probe answered (it can be scaled then).
    settle(&f).await;
    let (_, listed) = f.reconciler.round_observing(None).await.unwrap();
    let listed = listed.expect("converged: the listing stays valid");
    assert_eq!(listed.len(), 1);
    // A scale's round plans on that listing: it starts only the new dyno.
    scale(&f, &["web=2"]).await;
    let (round, _) = f.reconciler.round_observing(Some(listed)).await.unwrap();
    assert_eq!(
        round,
        Round {
            started: 1,
            ..Round::default()
        }
    );
    assert_eq!(
        names(&f),
        [
            "skiff-hello.web.1.v1.service",
            "skiff-hello.web.2.v1.service"
        ]
    );
}

mod addons {
    use super::*;
    use crate::model::{AddonName, AddonSecret, AddonService, AddonState, PlanName};
    use crate::store::NewAddon;

    async fn create(f: &Fixture, service: AddonService, app: &str) -> AddonName {
        f.store
            .create_addon(NewAddon {
                name: None,
                service,
                plan: PlanName::parse("mini").unwrap(),
                owner: AppName::parse(app).unwrap(),
                attach_as: service.default_attachment(),
                secret: AddonSecret::generate(),
            })
            .await
            .unwrap()
            .name
    }

    fn last_rules(f: &Fixture) -> String {
        f.host
            .scripts
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    async fn url(f: &Fixture, app: &str, key: &str) -> Option<String> {
        let config = f.store.config(&AppName::parse(app).unwrap()).await.unwrap();
        config.get(key).cloned()
    }

    #[tokio::test]
    async fn without_addons_no_server_is_asked_anything() {
        let f = fixture().await;
        deploy(&f, "shop", "web: a").await;
        settle(&f).await;
        assert!(f.postgres.calls().is_empty(), "{:?}", f.postgres.calls());
        assert!(f.redis.calls().is_empty(), "{:?}", f.redis.calls());
        assert!(
            !names(&f).iter().any(|n| n.contains("addon")),
            "{:?}",
            names(&f)
        );
    }

    #[tokio::test]
    async fn an_addon_is_made_reachable_from_its_app_and_only_then_its_url_is_set() {
        let f = fixture().await;
        deploy(&f, "shop", "web: a").await;
        deploy(&f, "blog", "web: a").await;
        settle(&f).await;
        let pg = create(&f, AddonService::Postgres, "shop").await;
        let redis = create(&f, AddonService::Redis, "shop").await;
        settle(&f).await;
        let shop_addr = f
            .reconciler
            .networks()
            .describe(&AppName::parse("shop").unwrap())
            .await
            .unwrap()
            .placed
            .unwrap()
            .0
            .namespace_addr;
        assert_eq!(f.postgres.listen(), Some("10.213.255.241".parse().unwrap()));
        assert_eq!(
            f.postgres
                .access()
                .iter()
                .map(|a| (a.addon.clone(), a.from))
                .collect::<Vec<_>>(),
            [(pg.clone(), shop_addr)]
        );
        let record = f.store.addon(pg.as_str()).await.unwrap();
        assert_eq!((record.state, record.port), (AddonState::Ready, Some(5433)));
        let database_url = url(&f, "shop", "DATABASE_URL").await.unwrap();
        assert!(
            database_url.starts_with("postgres://skiff_postgresql_shop__1:")
                && database_url.ends_with("@10.213.255.241:5433/skiff_postgresql_shop"),
            "{database_url}"
        );
        let redis_url = url(&f, "shop", "REDIS_URL").await.unwrap();
        assert!(redis_url.ends_with("@10.213.255.241:6380"), "{redis_url}");
        assert!(f.redis.instances().contains_key(&redis));
        let rules = last_rules(&f);
        for port in [5433, 6380] {
            let line =
                format!("ip saddr {shop_addr} ip daddr 10.213.255.241 tcp dport {port} accept");
            assert!(rules.contains(&line), "{line} in {rules}");
        }
        assert_eq!(
            rules.matches("ip daddr 10.213.255.241").count(),
            2,
            "blog gets nothing: {rules}"
        );
        assert_eq!(url(&f, "blog", "DATABASE_URL").await, None);
        // The release that set the URLs went live: the units run it.
        let live = f
            .store
            .current_release(&AppName::parse("shop").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(live.config.contains_key("DATABASE_URL") && live.config.contains_key("REDIS_URL"));
        assert!(names(&f)
            .iter()
            .any(|n| n.ends_with(&format!(".v{}.service", live.version))));
    }

    #[tokio::test]
    async fn a_rotation_keeps_the_previous_login_until_the_app_runs_with_the_new_one() {
        let f = fixture().await;
        deploy(&f, "shop", "web: a").await;
        let pg = create(&f, AddonService::Postgres, "shop").await;
        settle(&f).await;
        let before = url(&f, "shop", "DATABASE_URL").await.unwrap();
        f.store
            .rotate_addon_secret(&pg, AddonSecret::generate())
            .await
            .unwrap();
        f.reconciler.round().await.unwrap();
        let logins = f.postgres.logins(&pg);
        assert_eq!(
            logins.iter().map(|l| l.generation).collect::<Vec<_>>(),
            [2, 1],
            "both work meanwhile"
        );
        settle(&f).await;
        let after = url(&f, "shop", "DATABASE_URL").await.unwrap();
        assert!(
            after.starts_with("postgres://skiff_postgresql_shop__2:"),
            "{after}"
        );
        assert_ne!(before, after);
        assert_eq!(
            f.postgres
                .logins(&pg)
                .iter()
                .map(|l| l.generation)
                .collect::<Vec<_>>(),
            [2]
        );
        assert_eq!(f.store.addon(pg.as_str()).await.unwrap().previous, None);
    }

    #[tokio::test]
    async fn destroying_removes_the_data_the_url_and_the_access() {
        let f = fixture().await;
        deploy(&f, "shop", "web: a").await;
        let pg = create(&f, AddonService::Postgres, "shop").await;
        let redis = create(&f, AddonService::Redis, "shop").await;
        settle(&f).await;
        let backups = f.layout.backup_dir(&redis);
        std::fs::create_dir_all(&backups).unwrap();
        std::fs::write(backups.join("b001.rdb"), "REDIS").unwrap();
        f.store.destroy_addon(&redis).await.unwrap();
        settle(&f).await;
        assert!(!backups.exists(), "its backups go with its data");
        assert!(
            f.redis.calls().contains(&format!("remove {redis}")),
            "{:?}",
            f.redis.calls()
        );
        assert_eq!(url(&f, "shop", "REDIS_URL").await, None);
        assert!(!last_rules(&f).contains("dport 6380"), "{}", last_rules(&f));
        f.store
            .delete_app(&AppName::parse("shop").unwrap())
            .await
            .unwrap();
        settle(&f).await;
        assert!(
            f.postgres.calls().contains(&format!("drop_database {pg}")),
            "{:?}",
            f.postgres.calls()
        );
        assert!(f.store.addons().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_missing_server_is_reported_for_the_addon_and_nothing_is_set() {
        let mut f = fixture().await;
        deploy(&f, "shop", "web: a").await;
        let reconciler = Reconciler::new(
            f.store.clone(),
            f.systemd.clone(),
            f.layout.clone(),
            DynoDefaults::from_config(&Config::default()),
            f.reconciler.traffic.clone(),
            f.reconciler.networks.clone(),
            crate::addons::Addons::new(
                Arc::new(crate::addons::postgres::FakePostgres::without_server(
                    "postgresql is not installed",
                )),
                f.redis.clone(),
                Config::default().plans().unwrap(),
            ),
        );
        f.reconciler = reconciler;
        let pg = create(&f, AddonService::Postgres, "shop").await;
        settle(&f).await;
        let failure = f.reconciler.addon_failure(&pg).unwrap();
        assert!(failure.contains("postgresql is not installed"), "{failure}");
        assert_eq!(
            f.store.addon(pg.as_str()).await.unwrap().state,
            AddonState::Creating
        );
        assert_eq!(url(&f, "shop", "DATABASE_URL").await, None);
    }
}

mod sleeping {
    use super::*;
    use crate::model::{SleepSetting, SleepState};
    use crate::store::WakeStart;

    async fn sleep_state(f: &Fixture) -> SleepState {
        f.store.app_sleep(&hello()).await.unwrap().state
    }

    fn hello() -> AppName {
        AppName::parse("hello").unwrap()
    }

    fn proxied_to_wake(f: &Fixture) -> bool {
        let config = f.proxy.loaded().last().cloned().unwrap().to_string();
        config.contains("/wake/hello")
    }

    /// Lets the app go idle past its 1 s period, then runs rounds: it falls asleep.
    async fn idle_until_asleep(f: &Fixture) {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        settle(f).await;
        assert_eq!(sleep_state(f).await, SleepState::Sleeping);
    }

    /// What the wake endpoint does for a request: starts the wake and counts it as activity.
    async fn wake(f: &Fixture) -> WakeStart {
        let start = f
            .store
            .begin_wake(&hello(), crate::activity::unix_now_ms())
            .await
            .unwrap();
        f.reconciler
            .traffic
            .activity
            .touch(&hello(), crate::activity::unix_now_ms());
        start
    }

    #[tokio::test]
    async fn an_idle_app_sleeps_and_a_request_wakes_it_with_the_release_deployed_meanwhile() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\nworker: b\n").await;
        settle(&f).await;
        scale(&f, &["worker=1"]).await;
        settle(&f).await;
        assert_eq!(names(&f).len(), 2);
        f.store
            .set_autosleep(&hello(), SleepSetting::parse("1s").unwrap())
            .await
            .unwrap();
        idle_until_asleep(&f).await;
        assert!(names(&f).is_empty(), "web and worker stop: {:?}", names(&f));
        assert!(proxied_to_wake(&f), "requests are held for a wake");

        // A deploy while asleep leaves it asleep, its release pending.
        deploy(&f, "hello", "web: a2\nworker: b2\n").await;
        settle(&f).await;
        assert!(names(&f).is_empty(), "{:?}", names(&f));
        assert_eq!(sleep_state(&f).await, SleepState::Sleeping);

        assert_eq!(wake(&f).await, WakeStart::Started { pending: Some(2) });
        assert_eq!(wake(&f).await, WakeStart::Joined { pending: Some(2) });
        settle(&f).await;
        assert_eq!(sleep_state(&f).await, SleepState::Awake);
        assert_eq!(
            names(&f),
            [
                "skiff-hello.web.1.v2.service",
                "skiff-hello.worker.1.v2.service"
            ]
        );
        assert!(!proxied_to_wake(&f));
        assert_eq!(upstreams(&f, "hello").len(), 1);
        assert!(!upstreams(&f, "hello")[0].contains("not mapped"));
        assert_eq!(
            f.store
                .current_release(&hello())
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );
        assert_eq!(wake(&f).await, WakeStart::Awake);
    }

    #[tokio::test]
    async fn a_wake_whose_dynos_never_get_healthy_sleeps_again_and_is_not_retried_at_once() {
        let f = deployed_with_a_one_second_check().await;
        f.store
            .set_autosleep(&hello(), SleepSetting::parse("1s").unwrap())
            .await
            .unwrap();
        idle_until_asleep(&f).await;
        for port in 20000..20010 {
            f.prober.break_port(port);
        }
        assert!(matches!(wake(&f).await, WakeStart::Started { .. }));
        tokio::time::timeout(Duration::from_secs(5), async {
            while sleep_state(&f).await != SleepState::Sleeping {
                f.reconciler.round().await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap();
        settle(&f).await;
        assert!(names(&f).is_empty(), "{:?}", names(&f));
        assert!(
            f.store.holds(&hello()).await.unwrap().is_empty(),
            "no dyno is held"
        );
        let failure = f.store.app_sleep(&hello()).await.unwrap().wake_failure;
        let (_, why) = failure.unwrap();
        assert!(why.contains("web.1 failed its health check"), "{why}");
        // The next request within the pause gets that reason without another try.
        assert_eq!(wake(&f).await, WakeStart::Throttled(why));
        assert!(proxied_to_wake(&f));
    }

    #[tokio::test]
    async fn a_scale_wakes_a_sleeping_app_and_apps_without_a_period_stay_awake() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\n").await;
        deploy(&f, "other", "web: a\n").await;
        settle(&f).await;
        f.store
            .set_autosleep(&hello(), SleepSetting::parse("1s").unwrap())
            .await
            .unwrap();
        idle_until_asleep(&f).await;
        assert_eq!(names(&f), ["skiff-other.web.1.v1.service"]);
        f.reconciler
            .traffic
            .activity
            .touch(&hello(), crate::activity::unix_now_ms());
        scale(&f, &["web=2"]).await;
        assert_eq!(sleep_state(&f).await, SleepState::Waking);
        settle(&f).await;
        assert_eq!(sleep_state(&f).await, SleepState::Awake);
        assert_eq!(names(&f).len(), 3, "{:?}", names(&f));
    }

    fn waker(f: &Fixture, timeout: Duration) -> crate::wake::Waker {
        crate::wake::Waker {
            store: f.store.clone(),
            reconciler: f.reconciler.clone(),
            activity: f.reconciler.traffic.activity.clone(),
            timeout,
        }
    }

    #[tokio::test]
    async fn a_held_request_waits_for_the_rounds_and_gets_a_reason_after_the_wake_timeout() {
        use crate::wake::Woken;
        let f = fixture().await;
        deploy(&f, "hello", "web: a\n").await;
        settle(&f).await;
        f.store
            .set_autosleep(&hello(), SleepSetting::parse("1s").unwrap())
            .await
            .unwrap();
        idle_until_asleep(&f).await;
        // No round runs: the wake cannot finish, and the request gets the timeout's reason.
        let held = waker(&f, Duration::from_millis(200)).wake(&hello()).await;
        assert_eq!(held, Woken::Failed("it did not wake within 200ms".into()));
        assert_eq!(sleep_state(&f).await, SleepState::Waking);
        // With rounds running, a request joins the wake and goes on once the app is up; only
        // the request that started a wake carries its time.
        let waiting = tokio::spawn({
            let w = waker(&f, Duration::from_secs(10));
            async move { w.wake(&hello()).await }
        });
        settle(&f).await;
        assert_eq!(waiting.await.unwrap(), Woken::Up { started_it: None });
        assert_eq!(
            waker(&f, Duration::from_secs(1)).wake(&hello()).await,
            Woken::Up { started_it: None }
        );
    }
}
