//! skiffd's command line: parsed by the binary, and rendered into skiffd(8) by `manuals`.

use std::path::PathBuf;

use clap::Parser;

use crate::config::DEFAULT_CONFIG_PATH;

#[derive(Debug, Parser)]
#[command(
    name = "skiffd",
    version,
    about = "The skiff PaaS daemon (run by systemd as skiffd.service)",
    long_about = "The skiff PaaS daemon. systemd runs it as skiffd.service; it keeps every app's \
        dynos as sandboxed transient units, routes HTTP to them through skiff's Caddy, and \
        serves the API that the skiff command uses on /run/skiff/api.sock. Its settings \
        are in /etc/skiff/skiffd.toml (skiffd --print-default-config shows them all, with \
        comments); its state is in /var/lib/skiff; its lines are in journalctl -u skiffd."
)]
pub struct DaemonArgs {
    /// Configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG_PATH, env = "SKIFFD_CONFIG")]
    pub config: PathBuf,
    /// Print the commented default configuration and exit.
    #[arg(long)]
    pub print_default_config: bool,
    /// Validate the configuration file and exit.
    #[arg(long)]
    pub check_config: bool,
}
