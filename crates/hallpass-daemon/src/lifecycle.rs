//! Lifecycle steps shared by handlers and the scheduler, each inside the caller's transaction:
//! fulfilling an approved request and starting a revocation. Invariant: every step that changes
//! a request or grant appends its audit event (and event, when someone should hear of it) in
//! the same transaction.

use std::collections::BTreeSet;
use std::time::Duration;

use hallpass_core::Timestamp;
use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::event::EventKind;
use hallpass_core::grant::{EndReason, Grant};
use hallpass_core::request::{Request, RequestKind};
use hallpass_core::time::format_duration;
use hallpass_proto::ApiError;
use hallpass_store::Txn;

use crate::broker::Fail;

/// The audit entry for something that happened to a grant: about its holder, on its
/// integration, with its resulting status.
pub fn grant_entry(
    actor: Actor,
    source: Source,
    action: &str,
    g: &Grant,
    summary: impl Into<String>,
) -> AuditEntry {
    AuditEntry::new(actor, source, action, g.id, summary)
        .about(g.user)
        .on(&g.target.integration)
        .with_status(g.status)
}

/// An approved request takes effect: new grants (waiting for their connector call), or more
/// time on the grant being extended (its "expiring soon" warnings rescheduled from the new end,
/// at the offsets `warn_before`).
pub fn fulfil(
    tx: &mut Txn<'_>,
    req: &mut Request,
    now: Timestamp,
    actor: &Actor,
    source: Source,
    warn_before: &[Duration],
) -> Result<(), Fail> {
    match req.kind.clone() {
        RequestKind::Access => {
            for target in req.targets.clone() {
                let id = tx.next_grant_id()?;
                let grant =
                    Grant::new(id, req.id, req.requester, target.clone(), req.duration, now);
                tx.put_grant(&grant)?;
                req.grants.push(id);
                tx.audit(
                    now,
                    AuditEntry::new(
                        actor.clone(),
                        source,
                        "grant.create",
                        id,
                        format!(
                            "{} for {} on {target}, granting",
                            req.id,
                            format_duration(req.duration)
                        ),
                    )
                    .about(req.requester)
                    .on(&target.integration)
                    .with_status(grant.status),
                )?;
            }
        }
        RequestKind::Extend { grant } => {
            let mut g = tx
                .grant(grant)?
                .ok_or_else(|| ApiError::not_found(format!("grant {grant}")))?;
            let before = g.expires_at;
            g.extend(req.duration, req.id, now)?;
            g.schedule_warning(warn_before, now);
            tx.put_grant(&g)?;
            let expires_at = g.expires_at.unwrap_or(now);
            req.grants.push(grant);
            tx.audit(
                now,
                grant_entry(
                    actor.clone(),
                    source,
                    "grant.extend",
                    &g,
                    format!(
                        "{} adds {}: expires {} → {}",
                        req.id,
                        format_duration(req.duration),
                        before.map(|t| t.to_string()).unwrap_or_default(),
                        expires_at
                    ),
                ),
            )?;
            tx.event(
                now,
                EventKind::GrantExtended {
                    grant,
                    user: g.user,
                    expires_at,
                },
                BTreeSet::from([g.user]),
            )?;
        }
    }
    Ok(())
}

/// Starts ending a grant's access. The connector call follows from the scheduler.
pub fn begin_revoke(
    tx: &mut Txn<'_>,
    grant: &mut Grant,
    reason: EndReason,
    now: Timestamp,
    actor: &Actor,
    source: Source,
) -> Result<(), Fail> {
    let action = match &reason {
        EndReason::Expired => "grant.expire",
        EndReason::Released => "grant.release",
        EndReason::Revoked { .. } => "grant.revoke",
        EndReason::UserDeleted | EndReason::EligibilityLost { .. } => "grant.revoke",
        EndReason::GrantFailed { .. } => "grant.fail",
    };
    let summary = format!(
        "{}: {} → revoking ({reason})",
        grant.target,
        grant.status_at(now)
    );
    grant.begin_revoke(reason, now)?;
    tx.put_grant(grant)?;
    tx.audit(
        now,
        grant_entry(actor.clone(), source, action, grant, summary),
    )?;
    Ok(())
}
