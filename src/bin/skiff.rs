//! `skiff`: the command-line client. A thin entry point around `skiff::cli`.

use std::process::ExitCode;

use clap::Parser;
use skiff::cli::{self, Cli, Context};

fn main() -> ExitCode {
    let args = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let ctx = Context::from_env()?;
        cli::run(
            args,
            &ctx,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )
        .await
    });
    // A read of standard input may still be blocked in tokio's blocking pool; don't wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::CliError::DynoExit { status, message }) => {
            if !message.is_empty() {
                eprintln!("skiff: {message}");
            }
            ExitCode::from(u8::try_from(status).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
