//! Broker events after a cursor: `events [--since N] [--follow]`. One JSON object per line with
//! `--json` (for scripts), a readable line each otherwise. Invariant: the cursor only moves
//! forward, to the one the daemon returns, so following resumes exactly where it left off.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use hallpass_core::event::{Event, EventKind};

use crate::connection::{Session, ctx_for};
use crate::failure::{Failure, answer};
use crate::output::{Output, secs};

/// Events asked for per call.
const BATCH: u32 = 100;
/// How long the daemon may hold a follow call open waiting for the next event.
const WAIT_MS: u32 = 25_000;
/// Slack on top of the wait for the answer to travel back.
const DEADLINE_SLACK: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  hallpass events                      everything you may see so far
  hallpass events --since 1200 --follow --json | jq .type")]
pub struct EventsArgs {
    /// Print events after this cursor (an event's seq); 0 for all
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub since: u64,
    /// Keep waiting for new events until interrupted
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub async fn run(s: &Session, out: Output, a: EventsArgs) -> Result<(), Failure> {
    let wait_ms = if a.follow { WAIT_MS } else { 0 };
    let deadline = Duration::from_millis(u64::from(wait_ms)) + DEADLINE_SLACK;
    let mut cursor = a.since;
    let stdout = std::io::stdout();
    loop {
        let batch = answer(
            s.client
                .events_since(ctx_for(deadline), cursor, BATCH, wait_ms)
                .await,
        )?;
        let mut lock = stdout.lock();
        for e in &batch.events {
            let line = if out.json {
                serde_json::to_string(e).map_err(|err| {
                    Failure::Local(format!("cannot encode event {}: {err}", e.seq))
                })?
            } else {
                event_line(e)
            };
            if let Err(err) = writeln!(lock, "{line}").and_then(|()| lock.flush()) {
                // The reader went away (`| head`): that is the end, not a failure.
                if err.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(Failure::Local(format!("cannot write to stdout: {err}")));
            }
        }
        let moved = batch.cursor > cursor;
        cursor = cursor.max(batch.cursor);
        if !a.follow && batch.events.is_empty() && !moved {
            return Ok(());
        }
    }
}

/// `#12 2026-11-26T18:52:00Z HP-1001 approved by U-1`.
pub fn event_line(e: &Event) -> String {
    format!("#{} {} {}", e.seq, e.at, describe(&e.kind))
}

/// What happened, in a few words.
pub fn describe(k: &EventKind) -> String {
    match k {
        EventKind::RequestSubmitted {
            request,
            requester_email,
            flow,
            targets,
            duration,
            reason,
            ..
        } => {
            let what: Vec<String> = targets.iter().map(ToString::to_string).collect();
            let mut s = format!(
                "{request} submitted by {requester_email} through {flow}: {} for {}",
                what.join(", "),
                secs(duration.as_secs())
            );
            if !reason.is_empty() {
                s.push_str(&format!(" ({reason})"));
            }
            s
        }
        EventKind::RequestApproved {
            request,
            by,
            complete,
        } => {
            if *complete {
                format!("{request} approved by {by}")
            } else {
                format!("{request} approval from {by}; more approvals needed")
            }
        }
        EventKind::RequestRejected {
            request,
            by,
            reason,
        } => match reason {
            Some(r) => format!("{request} rejected by {by}: {r}"),
            None => format!("{request} rejected by {by}"),
        },
        EventKind::RequestCancelled { request, by } => format!("{request} cancelled by {by}"),
        EventKind::RequestTimedOut { request } => format!("{request} timed out"),
        EventKind::GrantActivated {
            grant,
            request,
            user,
            target,
            expires_at,
        } => format!("{grant} active for {user}: {target} until {expires_at} ({request})"),
        EventKind::GrantFailed {
            grant,
            user,
            target,
            error,
            ..
        } => format!("{grant} failed for {user}: {target}: {error}"),
        EventKind::GrantExtended {
            grant,
            user,
            expires_at,
        } => format!("{grant} of {user} extended until {expires_at}"),
        EventKind::GrantExpiringSoon {
            grant,
            user,
            target,
            expires_at,
        } => format!("{grant} of {user} expires soon: {target} until {expires_at}"),
        EventKind::GrantEnded {
            grant,
            user,
            target,
            reason,
        } => format!("{grant} of {user} ended ({reason}): {target}"),
        EventKind::GrantRevokeFailed {
            grant,
            user,
            target,
            attempts,
            error,
        } => format!(
            "{grant} of {user}: revoking {target} failed after {attempts} attempt(s), still retrying: {error}"
        ),
        EventKind::UserInvited { user, email } => format!("{email} ({user}) invited"),
        EventKind::UserJoined { user, email } => format!("{email} ({user}) joined"),
        EventKind::UserRoleChanged { user, role } => format!("{user} is now {role}"),
        EventKind::UserDeleted { user, email } => format!("{email} ({user}) deleted"),
        EventKind::PolicyChanged { what } => format!("policy changed: {what}"),
        EventKind::DriftDetected {
            integration,
            leftovers,
            missing,
        } => format!("drift on {integration}: {leftovers} leftover, {missing} missing"),
        EventKind::IdentitySynced {
            source,
            added,
            updated,
            deactivated,
            error,
        } => match error {
            Some(why) => format!("identity sync {source} changed nothing: {why}"),
            None => format!(
                "identity sync {source}: {added} added, {updated} updated, {deactivated} deactivated"
            ),
        },
        EventKind::EligibilityLost {
            user,
            flow,
            why,
            kept,
        } => format!(
            "{user} no longer qualifies for flow {flow} ({why}){}",
            if *kept {
                "; access kept (notify-only)"
            } else {
                "; access withdrawn"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    use hallpass_core::{RequestId, Timestamp, UserId};

    #[test]
    fn events_read_as_sentences() {
        let e = Event {
            seq: 12,
            at: Timestamp(0),
            kind: EventKind::RequestApproved {
                request: RequestId(1001),
                by: UserId(1),
                complete: true,
            },
            audience: BTreeSet::new(),
        };
        assert_eq!(
            event_line(&e),
            "#12 1970-01-01T00:00:00Z HP-1001 approved by U-1"
        );
        let submitted = EventKind::RequestSubmitted {
            request: RequestId(1002),
            requester: UserId(2),
            requester_email: "bob@example.com".into(),
            flow: hallpass_core::FlowName::new("db-read").expect("valid"),
            targets: vec!["pg/orders/read".parse().expect("valid")],
            duration: Duration::from_secs(7200),
            reason: "INC-1".into(),
            approvers: vec![],
        };
        assert_eq!(
            describe(&submitted),
            "HP-1002 submitted by bob@example.com through db-read: pg/orders/read for 2h (INC-1)"
        );
    }
}
