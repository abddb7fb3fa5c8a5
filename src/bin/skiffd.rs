//! `skiffd`: the skiff daemon. A thin entry point around `skiff::daemon`.

use std::process::ExitCode;

use clap::Parser;
use skiff::config::{Config, DEFAULT_CONFIG_TOML};
use skiff::daemon::{self, DaemonArgs};

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
    if args.print_default_config {
        print!("{DEFAULT_CONFIG_TOML}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skiffd: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("{}: ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    // Files skiffd creates are private unless it says otherwise.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    daemon::init_logging(config.log_level);
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("skiffd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    daemon::drop_capabilities()?;
    if let Err(e) = daemon::migrate_queued_connections() {
        tracing::warn!(
            "cannot turn on net.ipv4.tcp_migrate_req ({e}): each proxy config load may reset connections waiting to be accepted"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let adapters = daemon::Adapters::production(&config).await?;
        let listeners = daemon::Listeners::bind(&config).await?;
        daemon::run(config, listeners, adapters, daemon::termination_signal()).await
    })
}
