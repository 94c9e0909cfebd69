//! The `accord` binary: parses the command line, sets up logging and configuration, and
//! runs one subcommand.

mod cli;
mod commands;
mod config;
mod import;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::cli::{Cli, LogFormat};

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    init_logging(cli.global.log_format, cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `accord status | head -3`: once the reader has gone, printing fails with a broken pipe
/// and `println!` panics. Standard tools are killed by `SIGPIPE` there and say nothing, so
/// this one exits the same way, with status 141 (128 + `SIGPIPE`); any other panic is
/// reported as before. (Putting `SIGPIPE` back to its default would take `unsafe`, and
/// would apply to `accord serve`'s sockets too.)
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

fn init_logging(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "warn,sqlx=error,accord=info",
        1 => "debug,sqlx=warn",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Human => registry
            .with(fmt::layer().with_writer(std::io::stderr).compact())
            .init(),
        LogFormat::Json => registry
            .with(fmt::layer().with_writer(std::io::stderr).json())
            .init(),
    }
}
