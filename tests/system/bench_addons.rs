//! `make bench`, add-ons: `addons:create` until the new Postgres database answers `select 1` and
//! the new Redis answers `PING`, and a query's round trip to skiff's Postgres from inside a dyno's
//! namespace against the same from the host.

use crate::addons::deploy_tools_app;
use crate::bench::median;
use crate::harness::{shell_quote, Container};

const ROUNDS: usize = 3;
const QUERIES: usize = 200;

/// Times `addons:create SERVICE -a APP --as NAME` and then `probe` (run with `$url` set to the new
/// var, retried every 10 ms for up to 10 s) until it succeeds: (create's ms, until answered ms).
fn time_create(c: &Container, app: &str, service: &str, name: &str, probe: &str) -> (f64, f64) {
    let script = format!(
        r#"s=$(date +%s%N); skiff addons:create {service} -a {app} --as {name} >/dev/null || exit 2
m=$(date +%s%N); url=$(skiff config:get {name}_URL -a {app})
n=0; until {probe}; do n=$((n+1)); [ $n -lt 1000 ] || exit 3; sleep 0.01; done
e=$(date +%s%N); echo $(( (m - s) / 1000 )) $(( (e - s) / 1000 ))"#
    );
    let out = c.ok(&format!("sh -c {}", shell_quote(&script)));
    let mut us = out
        .split_whitespace()
        .map(|v| v.parse::<f64>().expect("microseconds") / 1000.0);
    (
        us.next().expect("create time"),
        us.next().expect("answer time"),
    )
}

/// One psql session with one `select 1` and one with `QUERIES + 1`, wall times in µs, as a shell
/// script taking the URL or the name of a config var as `$1`.
const RTT_SH: &str = r#"url=$(printenv "$1" || echo "$1")
t0=$(date +%s%N); yes 'select 1;' | head -n 1 | psql "$url" -X -q -At >/dev/null || exit 2
t1=$(date +%s%N); yes 'select 1;' | head -n QUERIES_PLUS_ONE | psql "$url" -X -q -At >/dev/null || exit 2
t2=$(date +%s%N); echo $(( (t1 - t0) / 1000 )) $(( (t2 - t1) / 1000 ))
"#;

/// Microseconds per `select 1` from the two sessions' times (the extra queries' share).
fn per_query_us(out: &str) -> Option<f64> {
    let t: Vec<f64> = out
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    match t.as_slice() {
        [one, many] => Some((many - one) / QUERIES as f64),
        _ => None,
    }
}

pub fn run(c: &Container) {
    deploy_tools_app(c, "addb");
    let mut pg = (Vec::new(), Vec::new());
    let mut redis = (Vec::new(), Vec::new());
    for i in 1..=ROUNDS {
        let (created, answered) = time_create(
            c,
            "addb",
            "postgres",
            &format!("PG{i}"),
            r#"psql "$url" -X -At -c 'select 1' >/dev/null 2>&1"#,
        );
        pg.0.push(created);
        pg.1.push(answered);
        let (created, answered) = time_create(
            c,
            "addb",
            "redis",
            &format!("RD{i}"),
            r#"redis-cli --no-auth-warning -u "$url" PING 2>/dev/null | grep -q PONG"#,
        );
        redis.0.push(created);
        redis.1.push(answered);
    }
    println!(
        "bench: add-on creation, median of {ROUNDS} (the first postgres one may make skiff's cluster too; probes from the host):"
    );
    for (what, (created, answered)) in [("postgres", pg), ("redis", redis)] {
        println!(
            "bench:   addons:create {what:<8} command {:6.0} ms, until it answers {:6.0} ms (first {:6.0} ms; goal ≤ 2 s)",
            median(created.clone()),
            median(answered.clone()),
            answered[0]
        );
    }

    let rtt = RTT_SH.replace("QUERIES_PLUS_ONE", &(QUERIES + 1).to_string());
    c.ok(&format!("cat > /root/rtt.sh <<'EOF'\n{rtt}EOF"));
    c.ok("cp /root/rtt.sh /root/addb/rtt.sh && cd /root/addb && skiff deploy -a addb >/dev/null 2>&1");
    let url = c.ok("skiff config:get PG1_URL -a addb").trim().to_owned();
    let host = c.sh(&format!("sh /root/rtt.sh {}", shell_quote(&url)));
    let dyno = c.sh("skiff run -a addb -- sh rtt.sh PG1_URL");
    let host_us = per_query_us(&host.stdout).filter(|_| host.success());
    let dyno_us = per_query_us(&dyno.stdout).filter(|_| dyno.success());
    println!("bench: `select 1` round trip over {QUERIES} queries in one psql session:");
    match host_us {
        Some(us) => println!("bench:   from the host                               {us:8.0} µs"),
        None => println!(
            "bench:   from the host: no figure ({})",
            host.describe().replace('\n', " ")
        ),
    }
    match dyno_us {
        Some(us) => println!(
            "bench:   from a one-off dyno's namespace                {us:8.0} µs{}",
            host_us
                .map(|h| format!("   ratio {:.2}", us / h))
                .unwrap_or_default()
        ),
        None => println!(
            "bench:   from a one-off dyno: no figure ({})",
            dyno.describe().replace('\n', " ")
        ),
    }
}
