//! Shared machinery of the system suite: the cached Debian rootfs, a booted `systemd-nspawn` container with the
//! skiff .deb bound in and a network of its own, and helpers to run commands inside it and to assert on their
//! results.

use std::cell::Cell;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::cgroup::OwnCgroup;
use crate::net;

/// The Debian releases the suite runs on, every scenario on each: 12 (systemd 252) and 13 (systemd 257).
pub const SUITES: &[&str] = &["bookworm", "trixie"];
/// Packages debootstrap adds to minbase: systemd as PID 1, D-Bus, logind and certificates, plus what the scenarios use.
pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "ca-certificates",
    "caddy",
    "git",
    "curl",
    "python3",
    "openssh-server",
    "procps",
    "iproute2",
    "nftables",
    "man-db",
    "bash-completion",
];
/// Installed with apt after debootstrap, whose own resolver cannot handle npm's dependencies: the
/// toolchains the builders use (the .deb recommends them) and the servers add-ons run on.
pub const APT_PACKAGES: &[&str] = &[
    "python3-venv",
    "python3-pip",
    "nodejs",
    "npm",
    "postgresql",
    "redis-server",
    "rclone",
    "chromium",
    "chromium-driver",
];
/// Bump when the way the rootfs is prepared changes, so old caches are not reused.
const ROOTFS_RECIPE: &str = "v3: minbase + /etc/hosts + /etc/hostname + the host's extra CAs";
/// Hostname inside the containers (debootstrap copies the host's, which makes the shells look alike).
pub const HOSTNAME: &str = "skiff-test";
const CACHE_DIR: &str = "/var/cache/skiff-test";
/// Where the chosen .deb is visible inside every container.
pub const DEB_MOUNT: &str = "/mnt/skiff-deb";
const PATH_IN_CONTAINER: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
pub const POWEROFF_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for any single command run inside a container.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------------------------------
// Host-side process helpers

/// Result of a finished command.
#[derive(Debug, Clone)]
pub struct Out {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Everything, for error messages.
    pub fn describe(&self) -> String {
        let code = match self.status {
            Some(124) => "exit 124 (timed out inside the container)".to_string(),
            Some(c) => format!("exit {c}"),
            None => "killed by a signal or timed out".to_string(),
        };
        format!(
            "{code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` with captured output; kills it if it outlives `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Out> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let mut so = child.stdout.take().expect("piped stdout");
    let mut se = child.stderr.take().expect("piped stderr");
    let t_out = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let status: Option<ExitStatus> = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let mut stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    if status.is_none() {
        stderr.push_str(&format!("\n[harness: killed after {timeout:?}]"));
    }
    Ok(Out {
        status: status.and_then(|s| s.code()),
        stdout,
        stderr,
    })
}

/// Polls `cond` every 100 ms until it holds; false if `timeout` passes first.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

pub fn pid_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; treat it as gone.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Single-quotes `s` for `sh -c`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r#"'\''"#))
}

// ---------------------------------------------------------------------------------------------------------------
// Preconditions: root, the .deb, the rootfs

pub fn require_root() -> Result<()> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or_else(|| anyhow!("no Uid line in /proc/self/status"))?;
    if euid != "0" {
        bail!(
            "the system suite must run as root (effective uid is {euid}): it debootstraps a rootfs and \
             boots containers with systemd-nspawn"
        );
    }
    for tool in [
        "systemd-nspawn",
        "nsenter",
        "debootstrap",
        "setpriv",
        "ip",
        "nft",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            bail!(
                "`{tool}` is not installed on this host (apt-get install systemd-container debootstrap util-linux \
                 iproute2 nftables, or run .ci/prereqs)"
            );
        }
    }
    Ok(())
}

/// The .deb under test: `$SKIFF_DEB`, or the newest `target/debian/skiff_*_*.deb`.
pub fn find_deb() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SKIFF_DEB") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("SKIFF_DEB={} is not a file", p.display());
        }
        return Ok(p);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("skiff_")
                && name.ends_with(".deb")
                && name.matches('_').count() >= 2
            {
                let mtime = e.metadata()?.modified()?;
                if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
                    best = Some((mtime, e.path()));
                }
            }
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        anyhow!(
            "no skiff .deb in {} and SKIFF_DEB is not set: run `make deb` first",
            dir.display()
        )
    })
}

fn rootfs_key(suite: &str) -> String {
    let mut h = Sha256::new();
    h.update(ROOTFS_RECIPE.as_bytes());
    h.update(b"\0");
    h.update(suite.as_bytes());
    for p in PACKAGES.iter().chain(APT_PACKAGES) {
        h.update(b"\0");
        h.update(p.as_bytes());
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Returns the cached rootfs of Debian `suite`, building it first if needed (debootstrap into a temp dir beside
/// the cache entry, then an atomic rename, so a half-made rootfs is never used). `$SKIFF_TEST_ROOTFS_<SUITE>`
/// (`SKIFF_TEST_ROOTFS_TRIXIE`) names a prepared one instead.
pub fn ensure_rootfs(suite: &str) -> Result<PathBuf> {
    let var = format!("SKIFF_TEST_ROOTFS_{}", suite.to_uppercase());
    if let Some(p) = std::env::var_os(&var) {
        let p = PathBuf::from(p);
        if !p.is_dir() {
            bail!("{var}={} is not a directory", p.display());
        }
        return Ok(p);
    }
    let cache = Path::new(CACHE_DIR);
    let key = rootfs_key(suite);
    let root = cache.join(format!("rootfs-{key}"));
    if root.join("etc/hosts").is_file() && root.join("usr/bin/caddy").is_file() {
        return Ok(root);
    }
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    // Leftovers of builds whose process is gone.
    let tmp_prefix = format!(".rootfs-{key}.tmp-");
    for e in fs::read_dir(cache)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix(&tmp_prefix)
            .and_then(|p| p.parse::<u32>().ok())
        {
            if !pid_alive(pid) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let tmp = cache.join(format!("{tmp_prefix}{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let log = cache.join(format!("rootfs-{key}.debootstrap.log"));
    eprintln!(
        "system: building the Debian {suite} test rootfs {} with debootstrap (one time, a few minutes; log: {})",
        root.display(),
        log.display()
    );
    let started = Instant::now();
    let logf = fs::File::create(&log)?;
    let status = Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(suite)
        .arg(&tmp)
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .status()
        .context("cannot run debootstrap")?;
    if !status.success() {
        let text = fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let _ = fs::remove_dir_all(&tmp);
        bail!(
            "debootstrap failed ({status}); last lines of {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    // minbase ships no /etc/hosts; without it Caddy's admin endpoint cannot resolve localhost.
    fs::write(
        tmp.join("etc/hosts"),
        format!("127.0.0.1 localhost\n::1 localhost\n127.0.1.1 {HOSTNAME}\n"),
    )?;
    fs::write(tmp.join("etc/hostname"), format!("{HOSTNAME}\n"))?;
    trust_host_cas(&tmp)?;
    apt_install(&tmp, APT_PACKAGES, &log)?;
    // Keep the image small: the .deb cache is not needed.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "rm -f {}/var/cache/apt/archives/*.deb",
            shell_quote(&tmp.to_string_lossy())
        ))
        .status();
    if let Err(e) = fs::rename(&tmp, &root) {
        // Another run may have finished first; use theirs.
        let _ = fs::remove_dir_all(&tmp);
        if !root.join("etc/hosts").is_file() {
            return Err(e)
                .with_context(|| format!("renaming {} to {}", tmp.display(), root.display()));
        }
    }
    eprintln!("system: rootfs ready in {:.0?}", started.elapsed());
    Ok(root)
}

/// Builds fetch from the package registries (pip, npm); the container must trust what the host trusts to reach
/// them, so the host's locally added CAs are copied in and the bundle regenerated.
fn trust_host_cas(root: &Path) -> Result<()> {
    let local = Path::new("/usr/local/share/ca-certificates");
    let Ok(entries) = fs::read_dir(local) else {
        return Ok(());
    };
    let dest = root.join("usr/local/share/ca-certificates");
    fs::create_dir_all(&dest)?;
    for e in entries.flatten() {
        if e.path().extension().is_some_and(|x| x == "crt") {
            fs::copy(e.path(), dest.join(e.file_name()))?;
        }
    }
    let status = Command::new("chroot")
        .arg(root)
        .arg("update-ca-certificates")
        .stdout(Stdio::null())
        .status()
        .context("cannot run update-ca-certificates in the rootfs")?;
    if !status.success() {
        bail!("update-ca-certificates in the rootfs failed ({status})");
    }
    Ok(())
}

/// `apt-get install` inside the rootfs (not booted: nspawn gives it /proc and the host's network).
fn apt_install(root: &Path, packages: &[&str], log: &Path) -> Result<()> {
    let logf = fs::OpenOptions::new().append(true).open(log)?;
    let status = Command::new("systemd-nspawn")
        .arg("-D")
        .arg(root)
        .args(["--register=no", "--keep-unit", "--quiet", "--pipe"])
        .args(["env", "DEBIAN_FRONTEND=noninteractive", "sh", "-c"])
        .arg(format!(
            "apt-get update && apt-get install -y --no-install-recommends {}",
            packages.join(" ")
        ))
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .status()
        .context("cannot run systemd-nspawn")?;
    if !status.success() {
        bail!(
            "installing {} in the rootfs failed ({status}); see {}",
            packages.join(" "),
            log.display()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// The container

static SEQ: AtomicU32 = AtomicU32::new(0);
const WORKDIR_PREFIX: &str = "skiff-system-";

/// Removes work dirs (the .deb copy, console logs) left by runs that were killed before they could clean up.
pub fn remove_stale_workdirs() {
    let tmp = std::env::temp_dir();
    let Ok(rd) = fs::read_dir(&tmp) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(WORKDIR_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !pid_alive(pid) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A booted throwaway container on a network of its own. Dropping it powers it off (and kills it if it will not
/// stop), also during a panic.
pub struct Container {
    pub name: String,
    /// The Debian release it runs (one of [`SUITES`]).
    pub suite: &'static str,
    /// Who it runs for (a scenario's name, `try`, `bench`): the prefix of its [`Container::note`]s.
    pub label: String,
    /// The container's own address, how the host reaches it (its Caddy, a TCP listener).
    pub ip: String,
    pub leader: u32,
    nspawn: Child,
    /// Holds the directory bound at /mnt/skiff-deb and the console log.
    workdir: tempfile::TempDir,
    pub boot_time: Duration,
    /// How long the last [`Container::install_deb`] took.
    pub install_time: Cell<Option<Duration>>,
    /// Its /30, given back once nspawn has exited (fields drop after [`Container::shutdown`]).
    net: net::Lease,
    /// Its cgroups, removed once nspawn has exited.
    _cgroup: OwnCgroup,
}

impl Container {
    /// Boots `rootfs` with the .deb's directory bound read-only at /mnt/skiff-deb, on a veth of its own with a
    /// /30 and a default route through the host (needs a claimed [`net::HostNet`]).
    pub fn boot(suite: &'static str, rootfs: &Path, deb: &Path, label: &str) -> Result<Container> {
        let lease = net::Lease::take()?;
        let workdir = tempfile::Builder::new()
            .prefix(&format!("{WORKDIR_PREFIX}{}-", std::process::id()))
            .tempdir()?;
        let debdir = workdir.path().join("deb");
        fs::create_dir(&debdir)?;
        let file_name = deb
            .file_name()
            .ok_or_else(|| anyhow!("bad .deb path {}", deb.display()))?;
        // Only the chosen .deb is visible, so `skiff_*.deb` inside matches exactly one file.
        fs::copy(deb, debdir.join(file_name))
            .with_context(|| format!("copying {}", deb.display()))?;
        let console = workdir.path().join("console.log");
        let name = net::machine_name(SEQ.fetch_add(1, Ordering::SeqCst));
        let started = Instant::now();
        let cgroup = OwnCgroup::create(&name)?;
        let mut nspawn = spawn_nspawn(rootfs, &name, &debdir, &console, &cgroup)?;
        let nspawn_pid = nspawn.id();

        let mut leader = None;
        let deadline = started + BOOT_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(st) = nspawn.try_wait()? {
                bail!(
                    "systemd-nspawn exited with {st} before the container booted; console:\n{}",
                    fs::read_to_string(&console).unwrap_or_default()
                );
            }
            if let Some(pid) = find_leader(nspawn_pid) {
                leader = Some(pid);
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let Some(leader) = leader else {
            kill_nspawn(&mut nspawn, None);
            bail!(
                "no systemd inside the container after {BOOT_TIMEOUT:?}; console:\n{}",
                fs::read_to_string(&console).unwrap_or_default()
            );
        };
        let mut c = Container {
            name,
            suite,
            label: label.to_string(),
            ip: lease.guest_ip(),
            leader,
            nspawn,
            workdir,
            boot_time: Duration::ZERO,
            install_time: Cell::new(None),
            net: lease,
            _cgroup: cgroup,
        };
        // From here on, an error drops `c`, which powers the container off.
        c.net.attach_host(&c.name)?;
        c.wait_booted(deadline)?;
        let addressed = c.sh_timeout(&c.net.guest_setup(), Duration::from_secs(20))?;
        if !addressed.success() {
            bail!(
                "cannot address host0 in the container: {}",
                addressed.describe()
            );
        }
        c.boot_time = started.elapsed();
        Ok(c)
    }

    /// Waits until systemd inside says the boot is over (running or degraded), at the latest until `deadline`.
    fn wait_booted(&self, deadline: Instant) -> Result<()> {
        let mut last = String::new();
        let booted = wait_until(
            deadline.saturating_duration_since(Instant::now()),
            || match self.sh_timeout(
                "systemctl is-system-running --wait",
                Duration::from_secs(30),
            ) {
                Ok(o) => {
                    let state = o.stdout.trim().to_string();
                    last = format!("is-system-running: {}", o.describe());
                    state == "running" || state == "degraded"
                }
                Err(e) => {
                    last = format!("{e:#}");
                    false
                }
            },
        );
        if !booted {
            let journal = self.sh("journalctl -b --no-pager -n 100").stdout;
            bail!(
                "container did not finish booting within {BOOT_TIMEOUT:?}; last check: {last}\nconsole:\n{}\njournal:\n{journal}",
                fs::read_to_string(self.workdir.path().join("console.log")).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Prints what a scenario measured or saw, every line prefixed with its label, all at once (so scenarios
    /// running side by side do not mix their lines).
    pub fn note(&self, text: &str) {
        let lines: String = text
            .lines()
            .map(|l| format!("  {}: {l}\n", self.label))
            .collect();
        eprint!("{lines}");
    }

    fn nsenter(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t").arg(self.leader.to_string()).arg("-a");
        // The host's (and cargo's) environment has no business inside the container.
        cmd.env_clear()
            .env("PATH", PATH_IN_CONTAINER)
            .env("HOME", "/root")
            .env("LANG", "C.UTF-8")
            .env("USER", "root")
            .env("LOGNAME", "root");
        cmd
    }

    /// Runs `sh -c cmd` inside the container as root, with a bound on how long it may take.
    pub fn sh_timeout(&self, cmd: &str, timeout: Duration) -> Result<Out> {
        // `timeout` inside the container really stops the command (killing nsenter alone would not).
        let secs = timeout.as_secs().max(1);
        let mut c = self.nsenter();
        c.args(["timeout", "-k", "5", &secs.to_string(), "sh", "-c", cmd]);
        run_with_timeout(&mut c, timeout + Duration::from_secs(15))
    }

    /// Runs `sh -c cmd` inside the container as root: (exit status, stdout, stderr) in an [`Out`].
    pub fn sh(&self, cmd: &str) -> Out {
        match self.sh_timeout(cmd, CMD_TIMEOUT) {
            Ok(o) => o,
            Err(e) => panic!("cannot run `{cmd}` in the container: {e:#}"),
        }
    }

    /// Runs `cmd`, panics with the full output unless it exits 0; returns stdout.
    #[track_caller]
    pub fn ok(&self, cmd: &str) -> String {
        let o = self.sh(cmd);
        if !o.success() {
            panic!("`{cmd}` failed: {}", o.describe());
        }
        o.stdout
    }

    /// Runs `cmd`, panics if it exits 0; returns stderr followed by stdout.
    #[track_caller]
    pub fn fails(&self, cmd: &str) -> String {
        let o = self.sh(cmd);
        if o.success() {
            panic!("`{cmd}` should have failed but succeeded: {}", o.describe());
        }
        if o.status.is_none() {
            panic!(
                "`{cmd}` did not fail on its own, it was killed: {}",
                o.describe()
            );
        }
        format!("{}{}", o.stderr, o.stdout)
    }

    /// Runs `sh -c cmd` as `user` (runuser, so no password and no login shell).
    pub fn as_user(&self, user: &str, cmd: &str) -> Out {
        self.sh(&format!("runuser -u {user} -- sh -c {}", shell_quote(cmd)))
    }

    /// The host's end of the container's veth: where its connections from the host come from.
    pub fn host_ip(&self) -> String {
        self.net.host_ip()
    }

    /// Installs the bound .deb and waits until skiffd is active.
    #[track_caller]
    pub fn install_deb(&self) -> String {
        let started = Instant::now();
        let out = self.ok(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y {DEB_MOUNT}/skiff_*.deb 2>&1"
        ));
        self.wait_active("skiffd", Duration::from_secs(30));
        self.install_time.set(Some(started.elapsed()));
        out
    }

    /// Waits until `systemctl is-active UNIT` says active; panics with its status otherwise.
    #[track_caller]
    pub fn wait_active(&self, unit: &str, timeout: Duration) {
        let q = format!("systemctl is-active {unit}");
        if !wait_until(timeout, || self.sh(&q).stdout.trim() == "active") {
            let status = self.sh(&format!(
                "systemctl status --no-pager -l {unit}; journalctl -u {unit} --no-pager -n 50"
            ));
            panic!("{unit} is not active after {timeout:?}:\n{}", status.stdout);
        }
    }

    /// Parses `cmd`'s stdout as JSON; panics with the output if it fails or is not JSON.
    #[track_caller]
    pub fn json(&self, cmd: &str) -> serde_json::Value {
        let out = self.ok(cmd);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("`{cmd}` did not print JSON ({e}):\n{out}"))
    }

    /// The last lines of this boot's journal, for failure reports.
    pub fn journal_tail(&self) -> String {
        match self.sh_timeout("journalctl -b --no-pager -n 300", Duration::from_secs(30)) {
            Ok(o) => o.stdout,
            Err(e) => format!("(cannot read the journal: {e:#})"),
        }
    }

    /// Opens an interactive login shell inside the container with the terminal attached; returns when it exits.
    pub fn interactive_shell(&self) -> Result<ExitStatus> {
        let mut c = self.nsenter();
        if let Some(term) = std::env::var_os("TERM") {
            c.env("TERM", term);
        }
        c.args(["sh", "-c", "cd /root && exec bash -l"]);
        c.status()
            .context("cannot start the shell in the container")
    }

    /// Powers the container off and waits for nspawn to exit; kills it if it does not.
    pub fn shutdown(&mut self) {
        if matches!(self.nspawn.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = self.sh_timeout("systemctl poweroff --no-block", Duration::from_secs(10));
        let nspawn = &mut self.nspawn;
        if wait_until(POWEROFF_TIMEOUT, || {
            matches!(nspawn.try_wait(), Ok(Some(_)))
        }) {
            return;
        }
        eprintln!(
            "system: container {} did not power off within {POWEROFF_TIMEOUT:?}; killing it",
            self.name
        );
        kill_nspawn(&mut self.nspawn, Some(self.leader));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts `systemd-nspawn` booting `rootfs` as machine `name` in `cgroup`, on a veth of its own, with `debdir`
/// bound at /mnt/skiff-deb and its console written to `console`.
fn spawn_nspawn(
    rootfs: &Path,
    name: &str,
    debdir: &Path,
    console: &Path,
    cgroup: &OwnCgroup,
) -> Result<Child> {
    let console_f = fs::File::create(console)?;
    // The shell joins the container's own cgroups, then becomes nspawn. setpriv --pdeathsig: if the thread
    // that started it ends (Ctrl-C, kill), nspawn gets SIGTERM and shuts the container down cleanly. Its own
    // process group keeps the terminal's Ctrl-C away from it.
    Command::new("sh")
        .arg("-c")
        .arg(r#"for f in $SKIFF_CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; exec "$@""#)
        .arg("sh")
        .env("SKIFF_CGROUP_PROCS", cgroup.procs_files())
        .args(["setpriv", "--pdeathsig", "TERM", "--", "systemd-nspawn"])
        .arg("-D")
        .arg(rootfs)
        .arg(format!("--machine={name}"))
        .args([
            "--register=no",
            "--keep-unit",
            "-b",
            "--volatile=overlay",
            "--console=read-only",
            "--private-network",
            "--network-veth",
            "--resolv-conf=copy-host",
        ])
        .arg(format!("--bind-ro={}:{DEB_MOUNT}", debdir.display()))
        .stdin(Stdio::null())
        .stdout(console_f.try_clone()?)
        .stderr(console_f)
        .process_group(0)
        .spawn()
        .context("cannot start systemd-nspawn")
}

/// nspawn's child that runs systemd as the container's PID 1.
fn find_leader(nspawn_pid: u32) -> Option<u32> {
    let own_pidns = fs::read_link("/proc/self/ns/pid").ok()?;
    let children =
        fs::read_to_string(format!("/proc/{nspawn_pid}/task/{nspawn_pid}/children")).ok()?;
    children
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let ns = fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
            comm.trim() == "systemd" && ns.is_some_and(|ns| ns != own_pidns)
        })
}

/// Last resort: SIGTERM nspawn (it asks init to halt), then SIGKILL the container's init (which takes its whole
/// PID namespace with it) and nspawn itself.
fn kill_nspawn(nspawn: &mut Child, leader: Option<u32>) {
    signal(nspawn.id(), "TERM");
    if wait_until(Duration::from_secs(10), || {
        matches!(nspawn.try_wait(), Ok(Some(_)))
    }) {
        return;
    }
    if let Some(l) = leader {
        if pid_alive(l) {
            signal(l, "KILL");
        }
    }
    let _ = nspawn.kill();
    let _ = nspawn.wait();
}

// ---------------------------------------------------------------------------------------------------------------
// Assertions

/// Panics unless `haystack` contains `needle` (case-insensitive), showing both.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str, what: &str) {
    if !haystack.to_lowercase().contains(&needle.to_lowercase()) {
        panic!("{what}: expected to find {needle:?} in:\n{haystack}");
    }
}

/// Parses JSON or panics with the text.
#[track_caller]
pub fn parse_json(text: &str, what: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{text}"))
}

/// Names of the apps in `skiff apps --json` output (a JSON array of objects with `name`).
#[track_caller]
pub fn app_names(v: &serde_json::Value) -> Vec<String> {
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("`skiff apps --json` is not a JSON array: {v}"));
    arr.iter()
        .map(|a| {
            a.get("name")
                .and_then(|n| n.as_str())
                .unwrap_or_else(|| panic!("app entry without a string `name`: {a}"))
                .to_string()
        })
        .collect()
}

/// Writes `text` to stderr, line by line, indented, flushing as it goes.
pub fn eprint_indented(title: &str, text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "  --- {title} ---");
    for l in text.lines() {
        let _ = writeln!(e, "  | {l}");
    }
    let _ = e.flush();
}

/// A parsed HTTP response from `curl -i`.
#[derive(Debug)]
pub struct Http {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Http {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        parse_json(&self.body, &format!("HTTP {} body", self.status))
    }
}

impl Container {
    /// `curl -sS -i ARGS` inside the container; ARGS is shell text (quote it yourself). Panics if curl fails.
    #[track_caller]
    pub fn curl(&self, args: &str) -> Http {
        let out = self.ok(&format!("curl -sS -i --max-time 30 {args}"));
        parse_http(&out).unwrap_or_else(|e| panic!("curl {args}: {e}:\n{out}"))
    }

    /// The address `app`'s dynos listen on inside their network namespace (what the proxy and
    /// health checks reach; the container's own loopback is not theirs). A new app gets it in
    /// skiffd's next round, so this waits for it a little.
    #[track_caller]
    pub fn dyno_addr(&self, app: &str) -> String {
        let mut network = serde_json::Value::Null;
        wait_until(Duration::from_secs(30), || {
            network = self.json(&format!("skiff network -a {app} --json"));
            network["address"].is_string()
        });
        network["address"]
            .as_str()
            .unwrap_or_else(|| panic!("{app} has no network address: {network}"))
            .to_owned()
    }

    /// HTTP over the local API socket: `METHOD path` plus extra curl args.
    #[track_caller]
    pub fn api(&self, method: &str, path: &str, extra: &str) -> Http {
        self.curl(&format!(
            "--unix-socket /run/skiff/api.sock -X {method} {extra} {}",
            shell_quote(&format!("http://localhost{path}"))
        ))
    }
}

fn parse_http(raw: &str) -> Result<Http> {
    let mut rest = raw;
    // Skip interim responses such as `100 Continue`.
    loop {
        let (head, body) = rest
            .split_once("\r\n\r\n")
            .or_else(|| rest.split_once("\n\n"))
            .ok_or_else(|| anyhow!("no header/body separator"))?;
        let mut lines = head.lines();
        let status_line = lines.next().ok_or_else(|| anyhow!("empty response"))?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
        if (100..200).contains(&status) {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        return Ok(Http {
            status,
            headers,
            body: body.to_string(),
        });
    }
}
