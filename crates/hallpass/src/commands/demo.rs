//! `hallpass demo`: a private daemon in a temporary directory, filled with demo data, with the
//! TUI open against it (or, with `--no-tui`, serving until Ctrl-C). The daemon runs in this
//! process (the CLI links the daemon library for this one command; see ARCHITECTURE.md), so
//! `cargo run --bin hallpass -- demo` needs nothing else. Invariant: the daemon stops when the
//! TUI quits.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use hallpass_core::SystemClock;
use hallpass_daemon::config::Config;
use hallpass_daemon::{Broker, demo, socket};
use hallpass_store::{Store, StoreOptions};

use crate::failure::Failure;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo's state in DIR (created if missing) instead of a temporary directory that
    /// is removed on exit.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Do not open the TUI: print how to use the demo daemon and serve until Ctrl-C.
    #[arg(long)]
    pub no_tui: bool,
}

fn local(what: &str) -> impl Fn(String) -> Failure + '_ {
    move |e| Failure::Local(format!("demo: {what}: {e}"))
}

pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    let temp;
    let is_temp = args.dir.is_none();
    let dir = match args.dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .map_err(|e| local("creating the directory")(e.to_string()))?;
            d
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("hallpass-demo-")
                .tempdir()
                .map_err(|e| local("temporary directory")(e.to_string()))?;
            temp.path().to_path_buf()
        }
    };
    let socket_path = dir.join("hallpassd.sock");
    let config = Config {
        organisation: "hallpass demo".into(),
        ..Config::default()
    };
    // The demo daemon is private to this OS user.
    let listener = socket::bind(&socket_path, 0o600).map_err(|e| local("socket")(e.to_string()))?;
    let store = Store::open(
        &dir.join("store"),
        StoreOptions {
            cache_bytes: 16 << 20,
        },
    )
    .map_err(|e| local("store")(e.to_string()))?;
    let fresh = store
        .user_count()
        .map_err(|e| local("store")(e.to_string()))?
        == 0;
    let broker = Broker::new(store, Arc::new(SystemClock), config)
        .map_err(|e| local("broker")(e.to_string()))?;
    let me = nix::unistd::geteuid().as_raw();
    let seeded = if fresh {
        Some(
            demo::seed(&broker, me, &dir)
                .await
                .map_err(|e| local("seeding")(e.to_string()))?,
        )
    } else {
        None
    };

    println!("hallpass demo: a private daemon is running with demo data.");
    println!();
    println!("  socket:  {}", socket_path.display());
    println!("  state:   {}", dir.display());
    if let Some(s) = &seeded {
        println!(
            "  you are: {} (admin), with {} requests waiting for you and {} grants expiring soon",
            s.admin_email, s.pending, s.active
        );
        println!(
            "  the demo connector records to {}",
            s.connector_log.display()
        );
    }
    println!();
    println!("In another terminal:");
    println!("  export HALLPASS_SOCKET={}", socket_path.display());
    println!("  hallpass requests --to-approve     # what waits for you");
    println!("  hallpass approve HP-1001           # approve Grace's request");
    println!("  hallpass grants --all              # live countdowns");
    println!("  hallpass audit verify              # check the hash chain");
    println!();
    if !args.no_tui && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        // The TUI takes over the screen; the banner is back when it quits.
        run_with_tui(broker, listener, socket_path.clone()).await?;
        println!("hallpass demo: stopped.");
        return Ok(());
    }
    println!(
        "Press Ctrl-C to stop{}.",
        if is_temp {
            " (the temporary state is removed)"
        } else {
            ""
        }
    );

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    hallpass_daemon::serve(broker, listener, shutdown)
        .await
        .map_err(|e| local("daemon")(e.to_string()))?;
    let _ = std::fs::remove_file(&socket_path);
    Ok(())
}

/// Serves the demo daemon while the TUI runs against it; stops the daemon when the TUI quits.
async fn run_with_tui(
    broker: Arc<Broker>,
    listener: tokio::net::UnixListener,
    socket_path: PathBuf,
) -> Result<(), Failure> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        tokio::select! {
            _ = stopped => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let serve = hallpass_daemon::serve(broker, listener, shutdown);
    let tui = async {
        let r = hallpass_tui::run(hallpass_proto::Endpoint::Unix(socket_path.clone())).await;
        let _ = stop.send(());
        r
    };
    let (served, ran) = tokio::join!(serve, tui);
    let _ = std::fs::remove_file(&socket_path);
    ran.map_err(|e| local("tui")(e.to_string()))?;
    served.map_err(|e| local("daemon")(e.to_string()))?;
    Ok(())
}
