//! Approves pending requests routed to you that match rules given as flags, and logs every
//! decision on stdout. It handles what is pending now, then follows the event cursor and looks
//! again whenever something happens; `--once` stops after what is pending now. Uses
//! `hallpass-proto` on its own:
//!
//! ```text
//! cargo run -p hallpass-proto --example auto_approver -- --flow db-read --max-duration 1h \
//!     [--requester-group oncall] [--once] [--socket PATH | --remote HOST:PORT --token-file FILE]
//! ```
//!
//! A request it does not approve is left pending for a person, and logged once as skipped.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use hallpass_core::{FlowName, GroupName, RequestId, UserId};
use hallpass_proto::{FROM_NOW, HallpassClient, RequestQuery, RequestScope, RequestView};

/// How long one `events_since` call may wait for the next event (the daemon caps it at 60 s).
const WAIT_MS: u32 = 25_000;

#[derive(Parser)]
#[command(about = "Approve pending requests that match rules")]
struct Args {
    /// Only requests through this flow
    #[arg(long, value_name = "FLOW")]
    flow: FlowName,
    /// Only requests for at most this long, e.g. 1h or 30m
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    max_duration: Option<Duration>,
    /// Only requests by members of this group
    #[arg(long, value_name = "GROUP")]
    requester_group: Option<GroupName>,
    /// Decide on what is pending now, then exit
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    connect: common::Connect,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (client, _) = args.connect.connect("auto-approver example").await?;
    let me = client
        .whoami(tarpc::context::current())
        .await
        .context("whoami")??;
    let Some(me) = me.user else {
        let who = me
            .uid
            .map_or("this caller".to_string(), |u| format!("OS user {u}"));
        bail!("{who} has no hallpass account here");
    };
    eprintln!("auto-approving as {} ({})", me.email, me.id);

    // Take the head before the first look, so nothing submitted meanwhile is missed.
    let mut cursor = common::events_since(&client, FROM_NOW, 0).await?.cursor;
    let mut skipped = HashSet::new();
    loop {
        decide_pending(&client, &args, &mut skipped).await?;
        if args.once {
            return Ok(());
        }
        // Anything may make a request approvable (a new request, a group change): look again.
        loop {
            let batch = common::events_since(&client, cursor, WAIT_MS).await?;
            cursor = cursor.max(batch.cursor);
            if !batch.events.is_empty() {
                break;
            }
        }
    }
}

/// Approves every pending request routed to the caller that the rules allow.
async fn decide_pending(
    client: &HallpassClient,
    args: &Args,
    skipped: &mut HashSet<RequestId>,
) -> anyhow::Result<()> {
    let members = match &args.requester_group {
        Some(group) => Some(
            client
                .get_group(tarpc::context::current(), group.clone())
                .await
                .context("get_group")?
                .with_context(|| format!("cannot read group {group}"))?
                .members
                .into_iter()
                .map(|m| m.id)
                .collect::<HashSet<UserId>>(),
        ),
        None => None,
    };
    let mut query = RequestQuery {
        scope: RequestScope::ToApprove,
        flow: Some(args.flow.clone()),
        ..RequestQuery::default()
    };
    loop {
        let page = client
            .list_requests(tarpc::context::current(), query.clone())
            .await
            .context("list_requests")??;
        for r in page.items.iter().filter(|r| r.can_decide) {
            match refusal(args, members.as_ref(), r) {
                Some(why) => {
                    if skipped.insert(r.id) {
                        println!("skipped {}: {why}", r.id);
                    }
                }
                None => approve(client, args, r).await?,
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(()),
        }
    }
}

/// Why the rules do not allow `r`, or None when they do.
fn refusal(args: &Args, members: Option<&HashSet<UserId>>, r: &RequestView) -> Option<String> {
    let asked = Duration::from_secs(r.duration_secs);
    if r.flow != args.flow {
        return Some(format!("flow {} is not {}", r.flow, args.flow));
    }
    if let Some(max) = args.max_duration
        && asked > max
    {
        return Some(format!(
            "{} is longer than --max-duration {}",
            humantime::format_duration(asked),
            humantime::format_duration(max)
        ));
    }
    if let (Some(group), Some(members)) = (&args.requester_group, members)
        && !members.contains(&r.requester.id)
    {
        return Some(format!("{} is not in group {group}", r.requester.email));
    }
    None
}

async fn approve(client: &HallpassClient, args: &Args, r: &RequestView) -> anyhow::Result<()> {
    let reason = format!("auto-approved: flow {}{}", args.flow, limits(args));
    let answer = client
        .approve(tarpc::context::current(), r.id, Some(reason))
        .await
        .context("approve")?;
    match answer {
        Ok(v) => println!(
            "approved {} by {} for {}: now {}",
            v.id,
            v.requester.email,
            humantime::format_duration(Duration::from_secs(v.duration_secs)),
            v.status
        ),
        // Someone else decided first, or it timed out: not ours to fail on.
        Err(e) => println!("could not approve {}: {e}", r.id),
    }
    Ok(())
}

/// The rules besides the flow, for the approval's reason.
fn limits(args: &Args) -> String {
    let mut out = String::new();
    if let Some(max) = args.max_duration {
        out += &format!(", at most {}", humantime::format_duration(max));
    }
    if let Some(group) = &args.requester_group {
        out += &format!(", requester in {group}");
    }
    out
}
