//! `make bench`, backups: a Postgres backup of a generated database of about 200 MB against a
//! bare `pg_dump -Fc` of the same database in the same container (the dump before the check, and
//! the check's own time), and the time of a restore (its safety backup included); then a
//! whole-server `skiff backup` and `skiff restore --force` against plain `tar` of the same trees.

use std::time::Duration;

use crate::harness::{shell_quote, Container};

/// Rows of about 200 bytes each: about 200 MB of table data.
const ROWS: u64 = 1_000_000;

/// Follows a capture from the shell, polling its status every 50 ms: the ms until it is
/// `checking` (the dump written) and until it is `checked`.
const CAPTURE_SH: &str = r#"s=$(date +%s%N)
(skiff pg:backups:capture -a bkup >/root/capture.out 2>&1 &)
dumped=""; while :; do
  st=$(skiff pg:backups -a bkup --json | python3 -c 'import json,sys; b=json.load(sys.stdin)["backups"]; print(b[0]["status"] if b else "none")')
  now=$(date +%s%N)
  [ "$st" = checking ] && [ -z "$dumped" ] && dumped=$now
  [ "$st" = checked ] && break
  [ "$st" = failed ] && exit 3
  [ $(( (now - s) / 1000000000 )) -gt 1800 ] && exit 4
  sleep 0.05
done
[ -n "$dumped" ] || dumped=$now
echo $(( (dumped - s) / 1000000 )) $(( (now - s) / 1000000 ))"#;

fn ms(c: &Container, script: &str) -> Vec<f64> {
    let out = c.ok(&format!("sh -c {}", shell_quote(script)));
    out.split_whitespace()
        .map(|v| v.parse().expect("milliseconds"))
        .collect()
}

pub fn run(c: &Container) {
    c.ok("skiff apps:create bkup");
    c.json("skiff addons:create postgres -a bkup --json");
    c.ok(&format!(
        "skiff pg:psql -a bkup -c {}",
        shell_quote(&format!(
            "create table big (id bigint primary key, body text); \
             insert into big select g, md5(g::text) || repeat('x', 160) from generate_series(1, {ROWS}) g"
        ))
    ));
    let port = c
        .ok("pg_lsclusters -h | awk '$2 == \"skiff\" {print $3}'")
        .trim()
        .to_owned();
    let size_mb: f64 = c
        .ok(&format!(
            "runuser -u postgres -- psql -X -At -p {port} -c \"select pg_database_size('skiff_postgresql_bkup')\""
        ))
        .trim()
        .parse::<f64>()
        .expect("database size")
        / 1e6;

    // The same dump skiff makes, by hand: pg_dump's custom format, as the cluster's superuser.
    let bare = ms(
        c,
        &format!(
            "s=$(date +%s%N); runuser -u postgres -- pg_dump -p {port} -Fc -f /tmp/bare.dump skiff_postgresql_bkup || exit 2; \
             e=$(date +%s%N); echo $(( (e - s) / 1000000 ))"
        ),
    )[0];
    c.ok("rm -f /tmp/bare.dump");
    let capture = ms(c, CAPTURE_SH);
    let (dumped, checked) = (capture[0], capture[1]);
    std::thread::sleep(Duration::from_millis(200));
    let restore = ms(
        c,
        "s=$(date +%s%N); skiff pg:backups:restore b001 --confirm bkup -a bkup >/dev/null || exit 2; \
         e=$(date +%s%N); echo $(( (e - s) / 1000000 ))",
    )[0];

    println!("bench: Postgres backup of a {size_mb:.0} MB database ({ROWS} rows):");
    println!(
        "bench:   bare pg_dump -Fc                 {bare:8.0} ms  {:6.1} MB/s",
        size_mb / (bare / 1000.0)
    );
    println!(
        "bench:   pg:backups:capture until dumped  {dumped:8.0} ms  {:6.1} MB/s   ratio {:.2} of bare (aim ≥ 0.90; polled every 50 ms)",
        size_mb / (dumped / 1000.0),
        bare / dumped
    );
    println!(
        "bench:   its check (restore elsewhere, count, compare) {:8.0} ms",
        checked - dumped
    );
    println!("bench:   pg:backups:restore (a checked safety backup first) {restore:8.0} ms");
    whole_server(c, bare + checked);
}

/// `skiff backup` and `skiff restore --force` of the same server, against plain `tar` of the
/// same trees (plus, for the backup, the add-on backup it takes first, measured above).
fn whole_server(c: &Container, addon_backup: f64) {
    let timed = |cmd: &str| {
        ms(
            c,
            &format!(
                "s=$(date +%s%N); {cmd} || exit 2; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))"
            ),
        )[0]
    };
    let plain = timed(
        "cd /var/lib/skiff && tar -cf /root/plain.tar $(ls -d apps/*/slugs apps/*/volumes repos caddy backups 2>/dev/null)",
    );
    let backup = timed("skiff backup -o /root/server.tar >/dev/null");
    let size_mb: f64 = c
        .ok("stat -c %s /root/server.tar")
        .trim()
        .parse::<f64>()
        .expect("archive size")
        / 1e6;
    let untar = timed("mkdir -p /root/untar && tar -xf /root/server.tar -C /root/untar");
    let restore = timed("skiff restore --force /root/server.tar >/dev/null");
    c.ok("rm -rf /root/plain.tar /root/server.tar /root/untar");
    println!("bench: whole-server backup and restore ({size_mb:.0} MB archive):");
    println!(
        "bench:   skiff backup (a checked add-on backup, then the archive) {backup:8.0} ms   ratio {:.2} of tar -cf ({plain:.0} ms) plus the add-on's checked backup ({addon_backup:.0} ms)",
        (plain + addon_backup) / backup
    );
    println!(
        "bench:   skiff restore --force (check, unpack, state, add-on restored after a safety backup) {restore:8.0} ms   tar -xf alone {untar:.0} ms"
    );
}
