//! Follows the daemon's event cursor and prints each event you may see as one JSON line (the
//! same objects as `hallpass events --json`). Starts from now, or after `--from N` (0: from the
//! first event); `--limit N` exits after N events. Uses `hallpass-proto` on its own:
//!
//! ```text
//! cargo run -p hallpass-proto --example follow_events -- [--socket PATH | --remote HOST:PORT --token-file FILE] [--from N] [--limit N]
//! ```

#[path = "common/mod.rs"]
mod common;

use std::io::Write;

use clap::Parser;
use hallpass_proto::FROM_NOW;

/// How long one `events_since` call may wait for the next event (the daemon caps it at 60 s).
const WAIT_MS: u32 = 25_000;

#[derive(Parser)]
#[command(about = "Print broker events as JSON lines as they happen")]
struct Args {
    #[command(flatten)]
    connect: common::Connect,
    /// Print events after this cursor (an event's `seq`; 0 for all) [default: from now]
    #[arg(long, value_name = "N")]
    from: Option<u64>,
    /// Exit after printing N events
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (client, _) = args.connect.connect("follow-events example").await?;

    let mut cursor = match args.from {
        Some(n) => n,
        // FROM_NOW answers at once with no events and the current head.
        None => common::events_since(&client, FROM_NOW, 0).await?.cursor,
    };
    eprintln!("following events after cursor {cursor}");
    let mut printed = 0u64;
    let mut stdout = std::io::stdout().lock();
    while args.limit.is_none_or(|limit| printed < limit) {
        let batch = common::events_since(&client, cursor, WAIT_MS).await?;
        for event in &batch.events {
            writeln!(stdout, "{}", serde_json::to_string(event)?)?;
            stdout.flush()?;
            printed += 1;
            if args.limit == Some(printed) {
                break;
            }
        }
        // The cursor only moves forward, past events we may not see, too.
        cursor = cursor.max(batch.cursor);
    }
    Ok(())
}
