//! Re-checking eligibility when a person changes: someone who left a requestor group or was
//! deactivated loses the pending requests and active grants that depended on it, in the same
//! transaction as the change. Invariant: only access that no longer qualifies is touched; a
//! `notify-only` flow keeps the access and says so; every withdrawal is audited with
//! "eligibility lost" and its reason.

use std::collections::BTreeSet;

use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::event::EventKind;
use hallpass_core::flow::OnEligibilityLost;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::policy;
use hallpass_core::request::RequestStatus;
use hallpass_core::user::User;
use hallpass_core::{FlowName, Timestamp};
use hallpass_store::Txn;

use crate::broker::Fail;
use crate::lifecycle;

/// What a re-check withdrew.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Withdrawn {
    pub requests_cancelled: u32,
    pub grants_revoked: u32,
}

impl std::ops::AddAssign for Withdrawn {
    fn add_assign(&mut self, o: Withdrawn) {
        self.requests_cancelled += o.requests_cancelled;
        self.grants_revoked += o.grants_revoked;
    }
}

/// Whether `after` may have lost eligibility that `before` had: fewer groups, or no longer
/// active. Cheap, so callers skip the scans for everyone else.
pub fn may_have_lost(before: &User, after: &User) -> bool {
    (before.is_active() && !after.is_active()) || !before.groups.is_subset(&after.groups)
}

/// Re-checks `user` (as it is about to be written) against the flows of their pending
/// requests and active grants, withdrawing what no longer qualifies. `why` says what changed
/// ("left group sre", "deactivated at source corp-ldap"). A deactivated person loses
/// everything whatever the flow says; `notify-only` applies to group changes.
pub fn recheck(
    tx: &mut Txn<'_>,
    user: &User,
    why: &str,
    now: Timestamp,
    actor: &Actor,
    source: Source,
) -> Result<Withdrawn, Fail> {
    let store = tx.store().clone();
    let mut out = Withdrawn::default();
    let mut told: BTreeSet<FlowName> = BTreeSet::new();
    let (pending, _) = store.requests_of(user.id, None, usize::MAX, &|r| {
        r.status == RequestStatus::Pending
    })?;
    for req in pending {
        let Some(mut req) = tx.request(req.id)? else {
            continue;
        };
        if req.status != RequestStatus::Pending {
            continue;
        }
        let Some(keep) = decide(tx, user, &req.flow)? else {
            continue;
        };
        if keep {
            announce(tx, user, &req.flow, why, true, now, &mut told)?;
            continue;
        }
        req.cancel(user.id, now)?;
        tx.put_request(&req)?;
        tx.audit(
            now,
            AuditEntry::new(
                actor.clone(),
                source,
                "request.cancel",
                req.id,
                format!("eligibility lost: {why}"),
            )
            .about(user.id)
            .with_status(req.status),
        )?;
        tx.event(
            now,
            EventKind::RequestCancelled {
                request: req.id,
                by: user.id,
            },
            BTreeSet::from([user.id]),
        )?;
        announce(tx, user, &req.flow, why, false, now, &mut told)?;
        out.requests_cancelled += 1;
    }
    let (grants, _) = store.grants_of(user.id, None, usize::MAX, &|g| {
        matches!(g.status, GrantStatus::Active | GrantStatus::Granting)
    })?;
    for g in grants {
        let Some(mut g) = tx.grant(g.id)? else {
            continue;
        };
        if !matches!(g.status, GrantStatus::Active | GrantStatus::Granting) {
            continue;
        }
        let Some(req) = tx.request(g.request)? else {
            continue;
        };
        let Some(keep) = decide(tx, user, &req.flow)? else {
            continue;
        };
        if keep {
            announce(tx, user, &req.flow, why, true, now, &mut told)?;
            continue;
        }
        lifecycle::begin_revoke(
            tx,
            &mut g,
            EndReason::EligibilityLost {
                because: why.to_string(),
            },
            now,
            actor,
            source,
        )?;
        announce(tx, user, &req.flow, why, false, now, &mut told)?;
        out.grants_revoked += 1;
    }
    Ok(out)
}

/// `None`: still eligible. `Some(true)`: not eligible but the flow keeps the access.
/// `Some(false)`: withdraw it. A flow that no longer exists keeps what it granted (its
/// deletion was already refused while it had live grants).
fn decide(tx: &Txn<'_>, user: &User, flow: &FlowName) -> Result<Option<bool>, Fail> {
    let Some(f) = tx.flow(flow)? else {
        return Ok(None);
    };
    // A disabled flow stops new requests; what it granted stays until it ends.
    let judged = hallpass_core::flow::Flow {
        enabled: true,
        ..f.clone()
    };
    if policy::may_request(&judged, user).is_ok() {
        return Ok(None);
    }
    let keep = user.is_active() && f.on_eligibility_lost == OnEligibilityLost::NotifyOnly;
    Ok(Some(keep))
}

fn announce(
    tx: &mut Txn<'_>,
    user: &User,
    flow: &FlowName,
    why: &str,
    kept: bool,
    now: Timestamp,
    told: &mut BTreeSet<FlowName>,
) -> Result<(), Fail> {
    if !told.insert(flow.clone()) {
        return Ok(());
    }
    if kept {
        tx.audit(
            now,
            AuditEntry::new(
                Actor::System,
                Source::System,
                "eligibility.lost",
                flow,
                format!(
                    "{} no longer qualifies ({why}); kept: the flow is notify-only",
                    user.email
                ),
            )
            .about(user.id),
        )?;
    }
    tx.event(
        now,
        EventKind::EligibilityLost {
            user: user.id,
            flow: flow.clone(),
            why: why.to_string(),
            kept,
        },
        BTreeSet::from([user.id]),
    )?;
    Ok(())
}
