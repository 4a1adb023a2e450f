//! `hallpassd`: parses flags, loads config, sets up logging, binds the socket and runs the
//! broker until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hallpass_core::SystemClock;
use hallpass_daemon::config::Config;
use hallpass_daemon::paths::{self, Env};
use hallpass_daemon::{logging, server, socket};

/// mimalloc: under glibc malloc a 100k-person directory sync spent about a third of its time
/// in fragmentation bookkeeping; with mimalloc the initial load and the no-change re-sync both
/// take about a third less (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: hallpass_alloc::Allocator = hallpass_alloc::Allocator;

/// The hallpass broker daemon: owns the state, serves clients on a unix socket and takes access
/// away when its time is up.
#[derive(Parser, Debug)]
#[command(name = "hallpassd", version, about)]
struct Args {
    /// Config file (TOML). Default: $CONFIGURATION_DIRECTORY/hallpassd.toml,
    /// /etc/hallpass/hallpassd.toml as root, else ~/.config/hallpass/hallpassd.toml, if present.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to keep the store (overrides the config).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The unix socket to serve on (overrides the config).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Parse the config, print the resolved paths and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> anyhow::Result<()> {
    hallpass_daemon::memory::disable_transparent_huge_pages();
    let args = Args::parse();
    let env = Env::from_process();
    let config_file = args
        .config
        .clone()
        .or_else(|| paths::default_config_file(&env));
    let mut config = match &config_file {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(d) = args.state_dir {
        config.paths.state_dir = Some(d);
    }
    if let Some(s) = args.socket {
        config.paths.socket = Some(s);
    }
    let resolved = paths::resolve(&config, &env)?;
    if args.check_config {
        println!(
            "config:    {}",
            config_file.map_or("(defaults)".into(), |p| p.display().to_string())
        );
        println!("state dir: {}", resolved.state_dir.display());
        println!("socket:    {}", resolved.socket.display());
        return Ok(());
    }
    logging::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    // What the refresh after the stop needs, kept before `run` takes the config.
    let (state_dir, store_options) = (resolved.state_dir.clone(), server::store_options(&config));
    let served = runtime.block_on(async move {
        let mode = config.paths.socket_mode.unwrap_or(socket::DEFAULT_MODE);
        let listener = socket::bind(&resolved.socket, mode)?;
        tracing::info!(socket = %resolved.socket.display(), state = %resolved.state_dir.display(), "hallpassd starting");
        let socket_path = resolved.socket.clone();
        let result = hallpass_daemon::run(config, &resolved.state_dir, listener, Arc::new(SystemClock), shutdown_signal()).await;
        let _ = std::fs::remove_file(&socket_path);
        result
    });
    // Ends the connections' tasks, which hold the last handles on the store.
    runtime.shutdown_timeout(Duration::from_secs(5));
    served?;
    // Everything is flushed: a failure here costs only a slower next start.
    match server::refresh_store_snapshot(store_options, &state_dir) {
        Ok(took) => tracing::info!(
            took_ms = took.as_millis() as u64,
            "store snapshot refreshed; stopped"
        ),
        Err(e) => tracing::warn!(error = %e, "stopped; the next start replays this run's writes"),
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the daemon still stops on SIGKILL; the store is crash-safe.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
