//! The host's side of private networks behind a narrow trait: which namespaces and veths exist,
//! skiff's nftables table (replaced with `nft -f -`, read back with `nft list table`), IPv4
//! forwarding and the host's routes. `LinuxHost` is the real one; `FakeHost` records for tests.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::host_routes::{parse_routes, HostRoute};
use super::rules::TABLE;
use super::setup::{Presence, IP};
use crate::model::{Namespace, NETNS_DIR};

/// nftables' command-line tool, from Debian's `nftables` package.
pub const NFT: &str = "/usr/sbin/nft";
/// The longest one `nft` call may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(10);
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("nft {action} failed: {message}")]
    Nft { action: String, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        what: what.to_owned(),
        source,
    }
}

#[async_trait::async_trait]
pub trait HostNetwork: Send + Sync {
    /// Why private networks cannot work on this host, if they cannot.
    async fn unavailable(&self) -> Option<String>;
    async fn presence(&self, namespace: &Namespace) -> Presence;
    /// Whether `addr` is one of the host's own addresses.
    async fn has_address(&self, addr: std::net::Ipv4Addr) -> bool;
    /// Names of the network namespaces in `/run/netns`.
    async fn namespaces(&self) -> Vec<String>;
    /// Runs an nft script (one transaction).
    async fn apply_rules(&self, script: &str) -> Result<(), HostError>;
    /// skiff's table as nft lists it; empty when there is none.
    async fn listed_rules(&self) -> Result<String, HostError>;
    async fn enable_forwarding(&self) -> Result<(), HostError>;
    async fn routes(&self) -> Result<Vec<HostRoute>, HostError>;
}

/// This machine's kernel, through `nft`, `/run/netns`, `/sys/class/net` and `/proc`.
pub struct LinuxHost;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking host task panicked")
}

fn names_in(dir: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

async fn nft(args: &[&str], stdin: Option<&str>) -> Result<String, HostError> {
    let action = args.join(" ");
    let mut child = tokio::process::Command::new(NFT)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HostError::Nft {
            action: action.clone(),
            message: e.to_string(),
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .map_err(io("writing to nft"))?;
    }
    let output = tokio::time::timeout(NFT_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| HostError::Nft {
            action: action.clone(),
            message: format!("no answer within {}s", NFT_TIMEOUT.as_secs()),
        })?
        .map_err(io("waiting for nft"))?;
    if !output.status.success() {
        return Err(HostError::Nft {
            action,
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[async_trait::async_trait]
impl HostNetwork for LinuxHost {
    async fn unavailable(&self) -> Option<String> {
        for tool in [NFT, IP] {
            if !Path::new(tool).exists() {
                return Some(format!(
                    "{tool} is missing (install Debian's nftables and iproute2)"
                ));
            }
        }
        match nft(&["list", "tables"], None).await {
            Ok(_) => None,
            Err(e) => Some(format!(
                "nftables cannot be used here ({e}); skiffd needs CAP_NET_ADMIN"
            )),
        }
    }

    async fn presence(&self, namespace: &Namespace) -> Presence {
        let ns = Path::new(NETNS_DIR).join(&namespace.name);
        let veth = Path::new("/sys/class/net").join(&namespace.host_veth);
        blocking(move || Presence {
            namespace: ns.exists(),
            veth: veth.exists(),
        })
        .await
    }

    async fn has_address(&self, addr: std::net::Ipv4Addr) -> bool {
        let trie = blocking(|| std::fs::read_to_string("/proc/net/fib_trie")).await;
        trie.is_ok_and(|t| super::setup::is_local_address(&t, addr))
    }

    async fn namespaces(&self) -> Vec<String> {
        blocking(|| names_in(NETNS_DIR)).await
    }

    async fn apply_rules(&self, script: &str) -> Result<(), HostError> {
        nft(&["-f", "-"], Some(script)).await.map(drop)
    }

    async fn listed_rules(&self) -> Result<String, HostError> {
        let (family, name) = TABLE.split_once(' ').expect("family and name");
        // A missing table is an error to nft; it is what a host without skiff's rules has.
        Ok(nft(&["list", "table", family, name], None)
            .await
            .unwrap_or_default())
    }

    async fn enable_forwarding(&self) -> Result<(), HostError> {
        blocking(|| {
            if std::fs::read_to_string(IP_FORWARD)
                .map_err(io(IP_FORWARD))?
                .trim()
                == "1"
            {
                return Ok(());
            }
            std::fs::write(IP_FORWARD, "1\n").map_err(io(IP_FORWARD))
        })
        .await
    }

    async fn routes(&self) -> Result<Vec<HostRoute>, HostError> {
        let text = blocking(|| std::fs::read_to_string("/proc/net/route"))
            .await
            .map_err(io("/proc/net/route"))?;
        Ok(parse_routes(&text))
    }
}

/// A host that records what it is asked and answers from its fields, for tests: every
/// namespace is there unless `absent` names it.
#[cfg(any(test, feature = "fakes"))]
#[derive(Default)]
pub struct FakeHost {
    pub missing: Option<String>,
    /// Namespaces (and their veths) and addresses reported missing.
    pub absent: std::sync::Mutex<Vec<String>>,
    /// What `/run/netns` lists.
    pub listed: std::sync::Mutex<Vec<String>>,
    pub scripts: std::sync::Mutex<Vec<String>>,
    pub listing: std::sync::Mutex<String>,
    pub forwarding: std::sync::atomic::AtomicBool,
    pub host_routes: Vec<HostRoute>,
}

#[cfg(any(test, feature = "fakes"))]
#[async_trait::async_trait]
impl HostNetwork for FakeHost {
    async fn unavailable(&self) -> Option<String> {
        self.missing.clone()
    }

    async fn presence(&self, namespace: &Namespace) -> Presence {
        let there = !self.absent.lock().unwrap().contains(&namespace.name);
        Presence {
            namespace: there,
            veth: there,
        }
    }

    async fn has_address(&self, addr: std::net::Ipv4Addr) -> bool {
        let addr = addr.to_string();
        !self.absent.lock().unwrap().contains(&addr)
    }

    async fn namespaces(&self) -> Vec<String> {
        self.listed.lock().unwrap().clone()
    }

    async fn apply_rules(&self, script: &str) -> Result<(), HostError> {
        self.scripts.lock().unwrap().push(script.to_owned());
        // nft lists the table in its own words: any text that changes with the script will do.
        *self.listing.lock().unwrap() = format!("listed {}", script.len());
        Ok(())
    }

    async fn listed_rules(&self) -> Result<String, HostError> {
        Ok(self.listing.lock().unwrap().clone())
    }

    async fn enable_forwarding(&self) -> Result<(), HostError> {
        self.forwarding
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn routes(&self) -> Result<Vec<HostRoute>, HostError> {
        Ok(self.host_routes.clone())
    }
}
