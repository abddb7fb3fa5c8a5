//! The containers' own networks: each container gets a veth and a /30 of 10.99.0.0/24; the host gets one
//! nftables table that masquerades them to its uplink, and IPv4 forwarding. Both are undone when the suite ends,
//! or, after a run that crashed, when the next one starts.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::cgroup;
use crate::harness::{pid_alive, run_with_timeout, wait_until};

/// The host's nftables table the suite owns.
const TABLE: &str = "skiff_test";
/// The suite's host-side state: the PID of the run that owns it, the host's original ip_forward.
const STATE_DIR: &str = "/run/skiff-test";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// The first three octets of every container network; slot N is 10.99.0.(4N)/30.
const NET_PREFIX: &str = "10.99.0";
const NET_CIDR: &str = "10.99.0.0/24";
const SLOTS: u32 = 64;
/// Host-side names of the containers' veths: nspawn calls them `ve-` + the machine name.
pub const VETH_PREFIX: &str = "ve-";
/// Linux limits interface names to 15 bytes, so machine names stay within 12.
pub const MAX_MACHINE_NAME: usize = 15 - VETH_PREFIX.len();
const MACHINE_PREFIX: &str = "skiff-";
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

struct State {
    /// Set while this run owns the test network (its PID is in the owner file), so two runs never share (or
    /// tear down) each other's.
    owned: bool,
    /// The table exists and forwarding is on.
    nat_ready: bool,
    /// Bit N set: slot N's /30 is in use.
    used: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    owned: false,
    nat_ready: false,
    used: 0,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

fn state_file(name: &str) -> PathBuf {
    Path::new(STATE_DIR).join(name)
}

/// Runs a host tool (`ip`, `nft`) with a bound on its time; its output on success.
fn tool(program: &str, args: &[&str]) -> Result<String> {
    let out = run_with_timeout(Command::new(program).args(args), TOOL_TIMEOUT)?;
    if !out.success() {
        bail!("`{program} {}` failed: {}", args.join(" "), out.describe());
    }
    Ok(out.stdout)
}

/// The suite's claim on the host network: taken at start (cleaning up what a crashed run left), released with
/// everything undone when dropped, also while unwinding from a panic.
pub struct HostNet(());

impl HostNet {
    pub fn claim() -> Result<HostNet> {
        fs::create_dir_all(STATE_DIR).with_context(|| format!("creating {STATE_DIR}"))?;
        take_ownership()?;
        undo_host_changes().context("cleaning up the network of an earlier run")?;
        for link in stale_veths() {
            let _ = tool("ip", &["link", "delete", &link]);
        }
        cgroup::remove_stale(MACHINE_PREFIX);
        state().owned = true;
        Ok(HostNet(()))
    }
}

impl Drop for HostNet {
    fn drop(&mut self) {
        let mut st = state();
        if let Err(e) = undo_host_changes() {
            eprintln!("system: cannot undo the test network on the host: {e:#}");
        }
        st.nat_ready = false;
        st.owned = false;
        let _ = fs::remove_file(state_file("owner"));
    }
}

/// Writes this run's PID to the owner file, unless a live run's PID is there already; a dead run's is replaced.
fn take_ownership() -> Result<()> {
    let owner = state_file("owner");
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(&owner) {
            Ok(mut f) => {
                write!(f, "{}", std::process::id())?;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let pid = fs::read_to_string(&owner).unwrap_or_default();
                if pid.trim().parse::<u32>().is_ok_and(pid_alive) {
                    bail!(
                        "another run of the system suite (PID {}) owns the containers' network ({}); wait for it to end",
                        pid.trim(),
                        owner.display()
                    );
                }
                fs::remove_file(&owner)?;
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", owner.display())),
        }
    }
    bail!("cannot take {}", owner.display())
}

/// Deletes the suite's table and puts ip_forward back to the value saved before the suite changed it; tries
/// both even if one fails.
fn undo_host_changes() -> Result<()> {
    let table = if tool("nft", &["list", "table", "ip", TABLE]).is_ok() {
        tool("nft", &["delete", "table", "ip", TABLE]).map(drop)
    } else {
        Ok(())
    };
    let saved = state_file("ip_forward");
    let forward = match fs::read_to_string(&saved) {
        Ok(value) => fs::write(IP_FORWARD, value.trim())
            .with_context(|| format!("restoring {IP_FORWARD}"))
            .and_then(|()| Ok(fs::remove_file(&saved)?)),
        Err(_) => Ok(()),
    };
    table.and(forward)
}

/// Host ends of veths named like the suite's containers (see [`machine_name`]) that outlived their run.
fn stale_veths() -> Vec<String> {
    let prefix = format!("{VETH_PREFIX}{MACHINE_PREFIX}");
    fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The machine name of the suite's container number `seq`: short enough for its veth's name.
pub fn machine_name(seq: u32) -> String {
    let name = format!("{MACHINE_PREFIX}{seq}");
    debug_assert!(name.len() <= MAX_MACHINE_NAME);
    name
}

/// The interface that carries the host's default route, from `ip -o route show default`.
fn uplink_of(routes: &str) -> Option<&str> {
    let mut words = routes.lines().next()?.split_whitespace();
    words.by_ref().find(|w| *w == "dev")?;
    words.next()
}

/// The table that lets the containers out: their addresses masqueraded as the uplink's.
fn nat_table(uplink: &str) -> String {
    format!(
        "table ip {TABLE} {{\n\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {NET_CIDR} oifname \"{uplink}\" masquerade\n\t}}\n}}\n"
    )
}

/// Creates the table and turns forwarding on, saving ip_forward's value first so it can always be restored.
fn prepare_nat() -> Result<()> {
    let routes = tool("ip", &["-o", "route", "show", "default"])?;
    let uplink = uplink_of(&routes)
        .ok_or_else(|| anyhow!("the host has no default route (`ip route`: {routes:?})"))?
        .to_string();
    let script = state_file("nat.nft");
    fs::write(&script, nat_table(&uplink))?;
    let loaded = tool("nft", &["-f", &script.to_string_lossy()]);
    let _ = fs::remove_file(&script);
    loaded?;
    let saved = state_file("ip_forward");
    if !saved.exists() {
        let original =
            fs::read_to_string(IP_FORWARD).with_context(|| format!("reading {IP_FORWARD}"))?;
        fs::write(&saved, original.trim())?;
    }
    fs::write(IP_FORWARD, "1").with_context(|| format!("turning on {IP_FORWARD}"))?;
    Ok(())
}

/// One container's /30, held while the container lives.
pub struct Lease {
    slot: u32,
}

impl Lease {
    /// A free /30; the first lease also sets up NAT and forwarding on the host.
    pub fn take() -> Result<Lease> {
        let mut st = state();
        if !st.owned {
            bail!("the test network is not claimed (HostNet::claim)");
        }
        if !st.nat_ready {
            prepare_nat().context("setting up NAT for the containers")?;
            st.nat_ready = true;
        }
        let slot = (0..SLOTS)
            .find(|s| st.used & (1 << s) == 0)
            .ok_or_else(|| anyhow!("all {SLOTS} container networks are in use"))?;
        st.used |= 1 << slot;
        Ok(Lease { slot })
    }

    /// The host's end of the veth.
    pub fn host_ip(&self) -> String {
        format!("{NET_PREFIX}.{}", 4 * self.slot + 1)
    }

    /// The container's own address, how the host reaches it.
    pub fn guest_ip(&self) -> String {
        format!("{NET_PREFIX}.{}", 4 * self.slot + 2)
    }

    /// Addresses the host's end of `machine`'s veth once nspawn has made it.
    pub fn attach_host(&self, machine: &str) -> Result<()> {
        let veth = format!("{VETH_PREFIX}{machine}");
        let sys = Path::new("/sys/class/net").join(&veth);
        if !wait_until(Duration::from_secs(10), || sys.exists()) {
            bail!("systemd-nspawn made no {veth} on the host");
        }
        tool(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", self.host_ip()),
                "dev",
                &veth,
            ],
        )?;
        tool("ip", &["link", "set", &veth, "up"])?;
        Ok(())
    }

    /// Shell text that addresses host0 inside the container and routes through the host.
    pub fn guest_setup(&self) -> String {
        format!(
            "ip addr add {}/30 dev host0 && ip link set host0 up && ip route add default via {}",
            self.guest_ip(),
            self.host_ip()
        )
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        state().used &= !(1 << self.slot);
    }
}
