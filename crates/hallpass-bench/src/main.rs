//! `hallpass-bench`: parses the subcommand, runs it, prints tables or JSON. See the library
//! docs for what each subcommand measures.

use std::path::PathBuf;

/// The same allocator as `hallpassd`, so in-process measurements match the daemon.
#[global_allocator]
static GLOBAL: hallpass_alloc::Allocator = hallpass_alloc::Allocator;

use clap::{Parser, Subcommand};
use hallpass_bench::{
    Env, crash, daemon, expiry, lifecycle, machine, reads, report, startup, sync, tui, writes,
};

/// Benchmarks and the crash harness of hallpass. Build in release first:
/// `cargo build --release -p hallpass-bench -p hallpass-daemon`.
#[derive(Parser, Debug)]
#[command(name = "hallpass-bench", version, about)]
struct Cli {
    /// Print one JSON document instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// The hallpassd binary (default: next to this executable).
    #[arg(long, global = true, value_name = "PATH")]
    hallpassd: Option<PathBuf>,
    /// Where temporary stores and sockets go (default: the system temp dir).
    #[arg(long, global = true, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// request → approve → active → release latency per step, against its floors.
    Lifecycle(lifecycle::Args),
    /// get and list-a-page RPCs at 1, 16 and 64 clients, against a tarpc echo.
    Reads(reads::Args),
    /// Durable state changes per second with group commit, against raw sled batches.
    Writes(writes::Args),
    /// Revocation lag at many active grants, and a burst expiring at once.
    Expiry(expiry::Args),
    /// Start-up time and memory with a big store holding overdue grants.
    Startup(startup::Args),
    /// Reading a big directory from a throwaway slapd, against raw paged LDAP searches.
    Sync(sync::Args),
    /// The TUI's Identities screen over 100k people: first paint, key → frame, memory.
    Tui(tui::Args),
    /// SIGKILL hallpassd at random moments under load; fails on any lost acknowledged change.
    Crash(crash::Args),
    /// (Used by `startup`.) Opens a store in this fresh process and prints, as JSON, how long
    /// the open took and the process's RSS right after: the memory floor of the store alone.
    #[command(hide = true)]
    OpenStore {
        #[arg(long)]
        path: PathBuf,
        #[arg(long)]
        cache_mb: u64,
    },
    /// Every benchmark at default sizes, as a BENCHMARKS.md-ready document.
    All {
        /// Also write the document to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    hallpass_daemon::memory::disable_transparent_huge_pages();
    let cli = Cli::parse();
    let env = Env {
        // `sync` never starts the daemon, so it runs without one built.
        hallpassd: match (
            &cli.command,
            daemon::find_hallpassd(cli.hallpassd.as_deref()),
        ) {
            (_, Ok(p)) => p,
            (Command::Sync(_) | Command::Tui(_) | Command::OpenStore { .. }, Err(_)) => {
                PathBuf::new()
            }
            (_, Err(e)) => return Err(e),
        },
        work_dir: cli.work_dir.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let outcome = match &cli.command {
            Command::Lifecycle(a) => lifecycle::run(&env, a).await?,
            Command::Reads(a) => reads::run(&env, a).await?,
            Command::Writes(a) => writes::run(&env, a).await?,
            Command::Expiry(a) => expiry::run(&env, a).await?,
            Command::Startup(a) => startup::run(&env, a).await?,
            Command::Sync(a) => sync::run(&env, a).await?,
            Command::Tui(a) => tui::run(a)?,
            Command::Crash(a) => {
                let (outcome, ok) = crash::run(&env, a).await?;
                print(&outcome, cli.json);
                if !ok {
                    std::process::exit(1);
                }
                return Ok(());
            }
            Command::OpenStore { path, cache_mb } => {
                println!("{}", startup::open_alone(path, *cache_mb)?);
                return Ok(());
            }
            Command::All { out } => return all(&env, cli.json, out.as_deref()).await,
        };
        print(&outcome, cli.json);
        Ok(())
    })
}

fn print(o: &report::Outcome, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&o.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", o.markdown());
    }
}

async fn all(env: &Env, json: bool, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let m = machine::Machine::describe();
    let mut outcomes = Vec::new();
    // First: `tui` reads this process's own memory, which the later benches would have grown.
    let tui = tui::run(&default_args::<tui::Args>("tui")?)?;
    outcomes.push(lifecycle::run(env, &default_args::<lifecycle::Args>("lifecycle")?).await?);
    outcomes.push(reads::run(env, &default_args::<reads::Args>("reads")?).await?);
    outcomes.push(writes::run(env, &default_args::<writes::Args>("writes")?).await?);
    outcomes.push(expiry::run(env, &default_args::<expiry::Args>("expiry")?).await?);
    outcomes.push(startup::run(env, &default_args::<startup::Args>("startup")?).await?);
    outcomes.push(sync::run(env, &default_args::<sync::Args>("sync")?).await?);
    outcomes.push(tui);
    let (c, ok) = crash::run(env, &default_args::<crash::Args>("crash")?).await?;
    outcomes.push(c);
    if json {
        let doc = serde_json::json!({
            "machine": m,
            "command": "hallpass-bench all --json",
            "benches": outcomes.iter().map(report::Outcome::to_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc)?;
        println!("{text}");
        if let Some(p) = out {
            std::fs::write(p, text)?;
        }
    } else {
        let mut doc = format!(
            "## Machine\n\n{}\nCommand: `hallpass-bench all`\n\n",
            m.markdown()
        );
        for o in &outcomes {
            doc.push_str(&format!("## {}\n\n{}", o.name, o.markdown()));
        }
        print!("{doc}");
        if let Some(p) = out {
            std::fs::write(p, doc)?;
        }
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// A subcommand's arguments at their defaults.
fn default_args<A: clap::Args>(name: &str) -> anyhow::Result<A> {
    #[derive(Parser)]
    struct Wrap<A: clap::Args> {
        #[command(flatten)]
        inner: A,
    }
    Ok(Wrap::<A>::try_parse_from([name])?.inner)
}
