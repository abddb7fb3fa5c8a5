//! The network shell against a fake host and a fake systemd.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;
use crate::model::{AppName, DynoName, Route};
use crate::network::host_routes::HostRoute;
use crate::systemd::FakeSystemd;

struct Fixture {
    store: Store,
    systemd: Arc<FakeSystemd>,
    host: Arc<FakeHost>,
    networks: Networking,
}

fn settings() -> NetworkSettings {
    NetworkSettings {
        range: Some("10.213.0.0/16".parse().unwrap()),
        default_egress: true,
        proxy_ports: vec![80, 443],
    }
}

async fn fixture(host: FakeHost, apps: &[&str]) -> Fixture {
    let store = Store::open_in_memory().unwrap();
    for app in apps {
        store.create_app(name(app)).await.unwrap();
    }
    let systemd = Arc::new(FakeSystemd::default());
    let host = Arc::new(host);
    let networks = Networking::new(settings(), store.clone(), systemd.clone(), host.clone());
    Fixture {
        store,
        systemd,
        host,
        networks,
    }
}

fn name(app: &str) -> AppName {
    AppName::parse(app).unwrap()
}

fn started(f: &Fixture) -> Vec<String> {
    f.systemd.calls()
}

#[tokio::test]
async fn missing_namespaces_are_set_up_by_units_and_complete_ones_left_alone() {
    let host = FakeHost::default();
    host.absent.lock().unwrap().push("skiff-shop.build".into());
    let f = fixture(host, &["shop", "blog"]).await;
    let converged = f.networks.converge(&BTreeSet::new()).await;
    assert!(converged.failures.is_empty(), "{:?}", converged.failures);
    assert_eq!(started(&f), ["start skiff-shop.net-build.service"]);
    let units = f.systemd.units();
    let props = &units["skiff-shop.net-build.service"].properties;
    let exec = format!(
        "{:?}",
        props.iter().find(|(n, _)| *n == "ExecStart").unwrap()
    );
    assert!(
        exec.contains("\"netns\", \"add\", \"skiff-shop.build\""),
        "{exec}"
    );
    assert!(exec.contains("10.213.0.9/29"), "{exec}");
    assert_eq!(
        converged.ready.keys().cloned().collect::<Vec<_>>(),
        [name("blog"), name("shop")]
    );
}

#[tokio::test]
async fn namespaces_of_gone_apps_go_once_their_units_are_gone() {
    let host = FakeHost::default();
    *host.listed.lock().unwrap() = vec![
        "skiff-shop".into(),
        "skiff-gone".into(),
        "skiff-gone.build".into(),
        "someone-elses".into(),
    ];
    let f = fixture(host, &["shop"]).await;
    let busy: BTreeSet<AppName> = [name("gone")].into();
    f.networks.converge(&busy).await;
    assert!(started(&f).is_empty(), "{:?}", started(&f));
    f.networks.converge(&BTreeSet::new()).await;
    assert_eq!(
        started(&f),
        [
            "start skiff-gone.net-remove.service",
            "start skiff-gone.net-removebuild.service"
        ]
    );
}

fn routes(app: &str, port: u16) -> AppRoutes {
    AppRoutes {
        app: name(app),
        domains: vec![],
        maintenance: false,
        compression: crate::model::Compression::On,
        upstreams: vec![Route {
            unit_name: format!("skiff-{app}.web.1.v1.service"),
            dyno: DynoName::parse("web.1").unwrap(),
            port,
        }],
        network_slot: None,
        sleep: crate::model::SleepState::Awake,
        web_dynos: 1,
    }
}

#[tokio::test]
async fn rules_are_applied_when_they_change_or_drift_and_not_otherwise() {
    let f = fixture(FakeHost::default(), &["shop"]).await;
    let ready = f.networks.converge(&BTreeSet::new()).await.ready;
    let scripts = |f: &Fixture| f.host.scripts.lock().unwrap().clone();
    assert!(f
        .networks
        .apply_rules(&ready, &[routes("shop", 20000)], &[])
        .await
        .unwrap());
    assert!(scripts(&f)[0].contains("10.213.0.3 . 10001 : 10.213.0.2 . 20000"));
    assert!(!f
        .networks
        .apply_rules(&ready, &[routes("shop", 20000)], &[])
        .await
        .unwrap());
    // A deploy moves web.1 to a new port: only the rules change.
    assert!(f
        .networks
        .apply_rules(&ready, &[routes("shop", 20001)], &[])
        .await
        .unwrap());
    assert!(scripts(&f)[1].contains("10.213.0.3 . 10001 : 10.213.0.2 . 20001"));
    // Someone flushed the table: it is put back.
    *f.host.listing.lock().unwrap() = String::new();
    assert!(f
        .networks
        .apply_rules(&ready, &[routes("shop", 20001)], &[])
        .await
        .unwrap());
    assert_eq!(scripts(&f).len(), 3);
    // Egress off takes the app's veth out of the masquerade.
    f.networks
        .set_egress(&name("shop"), Some(false))
        .await
        .unwrap();
    let ready = f.networks.converge(&BTreeSet::new()).await.ready;
    assert!(f
        .networks
        .apply_rules(&ready, &[routes("shop", 20001)], &[])
        .await
        .unwrap());
    let last = scripts(&f).last().cloned().unwrap();
    assert!(last.contains("iifname { \"skiff0b\" } oifname"), "{last}");
    let described = f.networks.describe(&name("shop")).await.unwrap();
    assert!(!described.egress && described.own_choice, "{described:?}");
    assert!(f.store.get_app("shop").await.is_ok());
}

#[tokio::test]
async fn a_host_that_cannot_is_said_once_and_dynos_wait() {
    let host = FakeHost {
        missing: Some("/usr/sbin/nft is missing".into()),
        ..FakeHost::default()
    };
    let f = fixture(host, &["shop"]).await;
    f.networks.check_host().await.unwrap();
    let converged = f.networks.converge(&BTreeSet::new()).await;
    assert!(converged.ready.is_empty());
    assert!(matches!(
        converged.failures.as_slice(),
        [NetworkError::Unavailable(_)]
    ));
    let err = f
        .networks
        .namespace_for(&name("shop"), NetworkKind::Dynos)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("dyno_network = \"host\""), "{err}");
    assert!(started(&f).is_empty());
    assert!(!f.host.forwarding.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn a_range_over_a_host_route_is_refused_at_start() {
    let host = FakeHost {
        host_routes: vec![HostRoute {
            interface: "wg0".into(),
            destination: "10.213.4.0".parse().unwrap(),
            prefix: 24,
        }],
        ..FakeHost::default()
    };
    let f = fixture(host, &[]).await;
    let err = f.networks.check_host().await.unwrap_err().to_string();
    assert!(
        err.contains("overlaps the host's route to 10.213.4.0/24 on wg0"),
        "{err}"
    );
    let fine = fixture(FakeHost::default(), &[]).await;
    fine.networks.check_host().await.unwrap();
    assert!(fine
        .host
        .forwarding
        .load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn on_the_hosts_network_nothing_is_set_up() {
    let store = Store::open_in_memory().unwrap();
    store.create_app(name("shop")).await.unwrap();
    let systemd = Arc::new(FakeSystemd::default());
    let host = Arc::new(FakeHost::default());
    let networks = Networking::new(
        NetworkSettings {
            range: None,
            ..settings()
        },
        store,
        systemd.clone(),
        host.clone(),
    );
    networks.check_host().await.unwrap();
    assert_eq!(
        networks
            .namespace_for(&name("shop"), NetworkKind::Dynos)
            .await
            .unwrap(),
        None
    );
    assert!(networks.converge(&BTreeSet::new()).await.ready.is_empty());
    assert!(!networks
        .apply_rules(&Default::default(), &[], &[])
        .await
        .unwrap());
    assert!(systemd.calls().is_empty() && host.scripts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_rename_names_the_namespaces_again_and_takes_the_names_back_if_it_fails() {
    let host = FakeHost::default();
    let f = fixture(host, &["shop"]).await;
    let converged = f.networks.converge(&BTreeSet::new()).await;
    assert!(converged.failures.is_empty(), "{:?}", converged.failures);
    f.host
        .absent
        .lock()
        .unwrap()
        .extend(["skiff-store".to_owned(), "skiff-store.build".to_owned()]);
    let refused: Result<(), &str> = f
        .networks
        .carry_over(&name("shop"), &name("store"), async { Err("taken") })
        .await;
    assert_eq!(refused, Err("taken"));
    assert_eq!(
        started(&f),
        [
            "start skiff-shop.net-rename.service",
            "start skiff-shop.net-renamebuild.service",
            "start skiff-shop.net-unrename.service",
            "start skiff-shop.net-unrenamebuild.service",
        ]
    );
    let units = f.systemd.units();
    let exec = format!("{:?}", units["skiff-shop.net-rename.service"].properties);
    assert!(
        exec.contains("/run/netns/skiff-shop") && exec.contains("/run/netns/skiff-store"),
        "{exec}"
    );
    let undo = format!("{:?}", units["skiff-shop.net-unrename.service"].properties);
    assert!(
        undo.contains("skiff-store") && !undo.contains("skiff-shop\""),
        "{undo}"
    );

    let renamed: Result<u8, &str> = f
        .networks
        .carry_over(&name("shop"), &name("store"), async { Ok(7) })
        .await;
    assert_eq!(renamed, Ok(7));
    assert_eq!(
        started(&f).len(),
        6,
        "named again, and kept: {:?}",
        started(&f)
    );
}
