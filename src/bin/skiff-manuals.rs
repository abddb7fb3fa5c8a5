//! `skiff-manuals DIR`: writes the manual pages and shell completions into DIR at build time
//! (`make deb`); a thin entry point around `skiff::manuals`. Not shipped.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: skiff-manuals DIR");
        return ExitCode::from(2);
    };
    match skiff::manuals::write_all(&PathBuf::from(dir)) {
        Ok(files) => {
            println!("skiff-manuals: {} files", files.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skiff-manuals: {e}");
            ExitCode::FAILURE
        }
    }
}
