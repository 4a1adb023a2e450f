//! Lists the requests waiting for your approval, one per line (tab-separated), or one JSON
//! object per line with `--json` (each a `RequestView` exactly as the daemon sent it). Uses
//! `hallpass-proto` on its own:
//!
//! ```text
//! cargo run -p hallpass-proto --example pending_approvals -- [--socket PATH | --remote HOST:PORT --token-file FILE] [--json]
//! ```

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use hallpass_proto::{RequestQuery, RequestScope, RequestView};

#[derive(Parser)]
#[command(about = "List the requests waiting for your approval")]
struct Args {
    #[command(flatten)]
    connect: common::Connect,
    /// One JSON object per line instead of text
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (client, _) = args.connect.connect("pending-approvals example").await?;

    let mut query = RequestQuery {
        scope: RequestScope::ToApprove,
        ..RequestQuery::default()
    };
    loop {
        let page = client
            .list_requests(tarpc::context::current(), query.clone())
            .await
            .context("list_requests")??;
        for r in &page.items {
            if args.json {
                println!("{}", serde_json::to_string(r)?);
            } else {
                println!("{}", line(r));
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(()),
        }
    }
}

/// `HP-7  ada@example.com  db-read  sandbox/db/read  30m  debug orders`, tab-separated.
fn line(r: &RequestView) -> String {
    let targets: Vec<String> = r.targets.iter().map(ToString::to_string).collect();
    let what = match &r.bundle {
        Some(bundle) => format!("bundle {bundle}"),
        None => targets.join(","),
    };
    let duration = humantime::format_duration(Duration::from_secs(r.duration_secs));
    format!(
        "{}\t{}\t{}\t{what}\t{duration}\t{}",
        r.id, r.requester.email, r.flow, r.reason
    )
}
