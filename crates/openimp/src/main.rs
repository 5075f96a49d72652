//! `openimp`: the one binary. `serve` runs the API (and its background loops); the other
//! commands administer the same database, also while a server runs on it.

mod command;
mod config;
mod connectors;
mod datalock;
#[cfg(feature = "scripted-pg")]
mod scripted_pg;
mod secret;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a charge allocates and frees many small buffers on
/// several threads (request, JSON, rows), where glibc's allocator showed in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before any file exists: everything openimp creates (databases, their -wal and -shm, the
    // key files, the lock file) is then 0600 and every directory 0700.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = command::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("openimp: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("openimp: {err:#}");
            ExitCode::from(1)
        }
    }
}
