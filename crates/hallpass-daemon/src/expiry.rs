//! The scheduler: one task that sleeps until the next deadline in the store's deadline indexes
//! (request timeouts, grant expiries and warnings; owed connector work, kept apart) or until
//! woken, then acts.
//! Invariants: no polling scans (a sleep ends at the next deadline, a wake, or after
//! [`LONGEST_SLEEP`] to read the wall clock again); every overdue item is handled at start-up before the daemon
//! serves; connector work for a grant runs at most once at a time; a failed revocation is
//! retried with jittered exponential backoff for as long as it takes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::credential::Credentials;
use hallpass_core::event::EventKind;
use hallpass_core::grant::{EndReason, Grant, GrantStatus, backoff};
use hallpass_core::{GrantId, Timestamp};
use hallpass_store::{CommitTicket, Due, Txn};
use tokio::sync::watch;

use crate::broker::{Broker, Fail};
use crate::connectors::{self, Action, GrantSpec, SpecUser};
use crate::lifecycle;

/// Expiries and timeouts handled in one transaction.
const BATCH: usize = 512;

/// Connector calls started per connector slot: the rest of those past the first wait for a
/// slot (or for their intent's flush), holding nothing.
const QUEUED_PER_SLOT: usize = 8;

/// How long a grant whose connector work failed in the store (not in the connector: that is
/// recorded, with its own backoff) waits before it is tried again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// The longest the scheduler sleeps before it reads the clock again. Deadlines are wall-clock
/// times but tokio's timer runs on the monotonic clock, which stands still while the machine
/// is suspended and ignores a wall clock set forward: without a bound a laptop's daemon could
/// revoke late by the whole suspend. A look that finds nothing due costs two index reads.
const LONGEST_SLEEP: Duration = Duration::from_secs(30);

/// Runs until `stop` turns true.
pub async fn run(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        broker.store().deadline_watch().looks();
        let next = match step(&broker).await {
            Ok(next) => next,
            Err(e) => {
                let e = e.into_api();
                tracing::error!(error = %e, "scheduler step failed; retrying in 1s");
                Some(broker.now().plus(Duration::from_secs(1)))
            }
        };
        if !broker.store().deadline_watch().sleeps(next) {
            continue;
        }
        let sleep = next.map_or(LONGEST_SLEEP, |t| broker.now().until(t).min(LONGEST_SLEEP));
        tokio::select! {
            _ = broker.scheduler_woken() => {}
            _ = stop.changed() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Handles everything due now and starts owed connector work; returns the next deadline.
pub async fn step(broker: &Arc<Broker>) -> Result<Option<Timestamp>, Fail> {
    // The ticket of the last batch written and not yet known to be on disk.
    let mut written: Option<CommitTicket> = None;
    // Everything due up to `now` is handled once the loop ends; the next deadline is sought
    // from the same instant, so nothing falling due while this step ran is slept past.
    let now = loop {
        let now = broker.now();
        // Owed work is in its own index, so these are never read behind it.
        let due = broker.store().due(now, BATCH)?;
        if !due.is_empty() {
            written = Some(apply_deadlines(broker, &due, now)?);
        }
        if due.len() < BATCH {
            break now;
        }
    };
    // Once every due deadline is staged (they were due before the work they owe, and a burst
    // of expiries should not share the writer with the calls), calls start. Each task waits,
    // before its call, for exactly the flush its grant's intent needs (none once it is on
    // disk), so the last batch's flush goes on while they start.
    start_owed_work(broker, now)?;
    if let Some(t) = written {
        broker.durable(t).await?;
    }
    Ok(broker.store().next_deadline_after(now)?.map(|(t, _)| t))
}

/// Starts connector calls for grants owing one, the longest owed first, up to
/// `QUEUED_PER_SLOT` per connector slot. While calls are in flight it refills only once a
/// quarter of that room is free: every finished call wakes the scheduler, and a drain should
/// not re-read the in-flight entries at each one.
fn start_owed_work(broker: &Arc<Broker>, now: Timestamp) -> Result<(), Fail> {
    let max = broker.config().connectors.max_concurrent * QUEUED_PER_SLOT;
    let inflight = broker
        .inflight
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let room = max.saturating_sub(inflight.len());
    if room == 0 || (!inflight.is_empty() && room < max / 4) {
        return Ok(());
    }
    for id in broker
        .store()
        .work_due(now, inflight.len() + room)?
        .into_iter()
        .filter(|id| !inflight.contains(id))
        .take(room)
    {
        start_work(broker, id);
    }
    Ok(())
}

/// Times out requests, starts revoking expired grants and warns of grants expiring soon, in
/// one transaction (applied; the returned ticket makes it durable).
fn apply_deadlines(
    broker: &Broker,
    items: &[(Timestamp, Due)],
    now: Timestamp,
) -> Result<CommitTicket, Fail> {
    let warn_before = &broker.config().expiry.warn_before;
    broker.write(|tx| {
        for (_, d) in items {
            match *d {
                Due::RequestTimeout(id) => {
                    let Some(mut req) = tx.request(id)? else {
                        continue;
                    };
                    if !req.is_overdue(now) {
                        continue;
                    }
                    req.time_out(now)?;
                    tx.put_request(&req)?;
                    tx.audit(
                        now,
                        AuditEntry::new(
                            Actor::System,
                            Source::System,
                            "request.time_out",
                            id,
                            format!("no decision by {}", req.pending_until),
                        )
                        .about(req.requester)
                        .with_status(req.status),
                    )?;
                    tx.event(
                        now,
                        EventKind::RequestTimedOut { request: id },
                        BTreeSet::from([req.requester]),
                    )?;
                }
                Due::GrantExpiry(id) => {
                    let Some(mut g) = tx.grant(id)? else { continue };
                    if g.status != GrantStatus::Active || g.expires_at.is_none_or(|e| e > now) {
                        continue;
                    }
                    lifecycle::begin_revoke(
                        tx,
                        &mut g,
                        EndReason::Expired,
                        now,
                        &Actor::System,
                        Source::System,
                    )?;
                }
                Due::GrantWarning(id) => {
                    let Some(mut g) = tx.grant(id)? else { continue };
                    if g.next_warning_at.is_none_or(|w| w > now) {
                        continue;
                    }
                    // One warning however late the scheduler is; then the next offset (or
                    // none). Past the deadline the expiry ends the grant instead.
                    let warn = g.status_at(now) == GrantStatus::Active;
                    g.schedule_warning(warn_before, now);
                    tx.put_grant(&g)?;
                    if let (true, Some(expires_at)) = (warn, g.expires_at) {
                        tx.event(
                            now,
                            EventKind::GrantExpiringSoon {
                                grant: id,
                                user: g.user,
                                target: g.target.clone(),
                                expires_at,
                            },
                            BTreeSet::from([g.user]),
                        )?;
                    }
                }
                // Owed work is started by `start_owed_work`, from its own index.
                Due::GrantWork(_) => {}
            }
        }
        Ok(())
    })
}

fn start_work(broker: &Arc<Broker>, id: GrantId) {
    if let Ok(mut set) = broker.inflight.lock()
        && !set.insert(id)
    {
        return;
    }
    let broker = broker.clone();
    tokio::spawn(async move {
        let outcome = match perform(&broker, id).await {
            Ok(ticket) => ticket,
            Err(e) => {
                // A store that could not read or flush fails the next attempt the same way at
                // once: the grant stays marked in flight for a while, so a disk outage is
                // retried at that pace rather than in a loop that floods the log.
                let e = e.into_api();
                tracing::error!(grant = %id, error = %e, "connector work failed; retrying in 1s");
                tokio::time::sleep(STORE_RETRY).await;
                None
            }
        };
        // The outcome is applied (the store reads it) but not yet on disk. The connector slot
        // (freed as `perform` returns) and the in-flight mark go now, not after the flush: a
        // crash before it only means the work is owed again after restart, and every connector
        // action is idempotent.
        if let Ok(mut set) = broker.inflight.lock() {
            set.remove(&id);
        }
        broker.wake_scheduler();
        if let Some(ticket) = outcome
            && let Err(e) = broker.durable(ticket).await
        {
            let e = e.into_api();
            tracing::error!(grant = %id, error = %e, "connector work failed to record");
        }
    });
}

/// One connector attempt for a grant, and its outcome written (the ticket that makes it durable;
/// none when nothing was owed).
async fn perform(broker: &Arc<Broker>, id: GrantId) -> Result<Option<CommitTicket>, Fail> {
    let store = broker.store();
    let now = broker.now();
    let Some(g) = store.grant(id)? else {
        return Ok(None);
    };
    if !g.owes_work() || g.next_attempt_at.is_some_and(|t| t > now) {
        return Ok(None);
    }
    // The intent this read saw (the scan's, or another writer's since) is on disk before the
    // call it asks for; the wait holds no connector slot.
    if let Some(ticket) = store.grant_unflushed(id) {
        store.durable(ticket).await?;
    }
    let _slot = broker.connector_slots.clone().acquire_owned().await;
    let spec_user = SpecUser::of(g.user, store.user(g.user)?.as_ref());
    let integration = store.integration(&g.target.integration)?;
    let gone = || format!("integration {} no longer exists", g.target.integration);
    match g.status {
        GrantStatus::Granting => {
            // The access clock starts at activation, so the target is told the end it will have.
            let spec = GrantSpec::new(Action::Grant, &g, spec_user, Some(now.plus(g.duration)));
            let result = match &integration {
                Some(i) => connectors::grant(i, &spec).await.map_err(|e| e.to_string()),
                None => Err(gone()),
            };
            return record_grant(broker, id, result).map(Some);
        }
        GrantStatus::Active => {
            let spec = GrantSpec::new(Action::Extend, &g, spec_user, g.expires_at);
            let result = match &integration {
                Some(i) => connectors::extend(i, &spec)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err(gone()),
            };
            return record_extension(broker, id, result).map(Some);
        }
        _ => {}
    }
    // Revoking: another live grant on the same (person, target) keeps shared access; access
    // of the grant's own (a role, a certificate) always goes.
    let shared = integration
        .as_ref()
        .is_some_and(|i| !i.connector.access_is_per_grant());
    let others = if shared {
        store.grants_covering(g.user, &g.target)?
    } else {
        Vec::new()
    };
    let covering: Vec<GrantId> = others
        .into_iter()
        .filter(|o| {
            o.id != id
                && matches!(
                    o.status_at(now),
                    GrantStatus::Active | GrantStatus::Granting
                )
        })
        .map(|o| o.id)
        .collect();
    let result = if let Some(other) = covering.first() {
        Ok(Some(*other))
    } else {
        let spec = GrantSpec::new(Action::Revoke, &g, spec_user, g.expires_at);
        match &integration {
            Some(i) => connectors::revoke(i, &spec)
                .await
                .map(|()| None)
                .map_err(|e| e.to_string()),
            None => Err(format!("{}; cannot revoke", gone())),
        }
    };
    record_revoke(broker, id, result).map(Some)
}

/// Records an extension's push to the target: new credentials if the connector issued them
/// (a new SSH certificate), or a retry with backoff.
fn record_extension(
    broker: &Broker,
    id: GrantId,
    result: Result<Option<Credentials>, String>,
) -> Result<CommitTicket, Fail> {
    let now = broker.now();
    let cfg = &broker.config().expiry;
    broker.write(|tx| {
            let Some(mut g) = tx.grant(id)? else {
                return Ok(());
            };
            if g.status != GrantStatus::Active || g.expires_at.is_none_or(|e| e <= now) {
                // Ended meanwhile: its revocation removes the access whatever its end.
                return Ok(());
            }
            let expires_at = g.expires_at.unwrap_or(now);
            match result {
                Ok(credentials) => {
                    g.extension_applied()?;
                    put_outcome(tx, &g, credentials.as_ref(), now, "grant.extend_applied", format!(
                                "{} now ends {expires_at} on the target{}",
                                g.target,
                                if credentials.is_some() { "; new credentials issued" } else { "" }
                            ))?;
                }
                Err(error) => {
                    let delay = jitter(backoff(g.attempts, cfg.retry_initial, cfg.retry_max));
                    g.extension_attempt_failed(error.clone(), now.plus(delay))?;
                    tx.put_grant(&g)?;
                    tx.audit(
                        now,
                        lifecycle::grant_entry(
                            Actor::System,
                            Source::System,
                            "grant.extend_attempt_failed",
                            &g,
                            format!(
                                "attempt {} to move the end to {expires_at} failed, retrying in {}: {error}",
                                g.attempts,
                                hallpass_core::time::format_duration(delay)
                            ),
                        ),
                    )?;
                }
            }
            Ok(())
        })
}

fn record_grant(
    broker: &Broker,
    id: GrantId,
    result: Result<Option<Credentials>, String>,
) -> Result<CommitTicket, Fail> {
    let now = broker.now();
    broker.write(|tx| {
        let Some(mut g) = tx.grant(id)? else {
            return Ok(());
        };
        if g.status != GrantStatus::Granting {
            // Ended while being granted: the revocation that follows removes whatever was granted.
            return Ok(());
        }
        let audience = BTreeSet::from([g.user]);
        match result {
            Ok(credentials) => {
                g.activate(now)?;
                g.schedule_warning(&broker.config().expiry.warn_before, now);
                let expires_at = g.expires_at.unwrap_or(now);
                put_outcome(
                    tx,
                    &g,
                    credentials.as_ref(),
                    now,
                    "grant.activate",
                    format!("{} active until {expires_at}", g.target),
                )?;
                tx.event(
                    now,
                    EventKind::GrantActivated {
                        grant: id,
                        request: g.request,
                        user: g.user,
                        target: g.target.clone(),
                        expires_at,
                    },
                    audience,
                )?;
            }
            Err(error) => {
                // Clean up whatever the connector may have done, through the same verified,
                // overlap-aware revocation as any ending; the grant then ends Failed.
                let reason = EndReason::GrantFailed {
                    error: error.clone(),
                };
                lifecycle::begin_revoke(tx, &mut g, reason, now, &Actor::System, Source::System)?;
                g.last_error = Some(error.clone());
                tx.put_grant(&g)?;
                tx.event(
                    now,
                    EventKind::GrantFailed {
                        grant: id,
                        request: g.request,
                        user: g.user,
                        target: g.target.clone(),
                        error,
                    },
                    audience,
                )?;
            }
        }
        Ok(())
    })
}

fn record_revoke(
    broker: &Broker,
    id: GrantId,
    result: Result<Option<GrantId>, String>,
) -> Result<CommitTicket, Fail> {
    let now = broker.now();
    let cfg = &broker.config().expiry;
    broker.write(|tx| {
            let Some(mut g) = tx.grant(id)? else { return Ok(()) };
            if !matches!(g.status, GrantStatus::Revoking | GrantStatus::RevokeFailed) {
                return Ok(());
            }
            let audience = BTreeSet::from([g.user]);
            match result {
                Ok(kept_by) => {
                    g.finish_revoke(now)?;
                    tx.put_grant(&g)?;
                    let reason = g.end_reason.clone().unwrap_or(EndReason::Expired);
                    let summary = match kept_by {
                        Some(other) => format!("{} ended ({reason}); access kept on the target for {other}", g.target),
                        None => format!("{} removed from the target ({reason})", g.target),
                    };
                    let action = match g.status {
                        GrantStatus::Expired => "grant.expired",
                        GrantStatus::Failed => "grant.failed",
                        _ => "grant.revoked",
                    };
                    tx.audit(
                        now,
                        lifecycle::grant_entry(Actor::System, Source::System, action, &g, summary),
                    )?;
                    tx.event(now, EventKind::GrantEnded { grant: id, user: g.user, target: g.target.clone(), reason }, audience)?;
                }
                Err(error) => {
                    let was = g.status;
                    let delay = jitter(backoff(g.attempts, cfg.retry_initial, cfg.retry_max));
                    g.revoke_attempt_failed(error.clone(), now.plus(delay))?;
                    tx.put_grant(&g)?;
                    tx.audit(
                        now,
                        lifecycle::grant_entry(
                            Actor::System,
                            Source::System,
                            "grant.revoke_attempt_failed",
                            &g,
                            format!("attempt {} failed, retrying in {}: {error}", g.attempts, hallpass_core::time::format_duration(delay)),
                        ),
                    )?;
                    if was != GrantStatus::RevokeFailed && g.status == GrantStatus::RevokeFailed {
                        tracing::error!(grant = %id, attempts = g.attempts, "revocation keeps failing; still retrying");
                        tx.event(
                            now,
                            EventKind::GrantRevokeFailed { grant: id, user: g.user, target: g.target.clone(), attempts: g.attempts, error },
                            audience,
                        )?;
                    }
                }
            }
            Ok(())
        })
}

/// Stores a connector call's successful outcome: the grant, the credentials it issued (if
/// any) and a system audit entry.
fn put_outcome(
    tx: &mut Txn<'_>,
    g: &Grant,
    credentials: Option<&Credentials>,
    now: Timestamp,
    action: &str,
    summary: String,
) -> Result<(), Fail> {
    tx.put_grant(g)?;
    if let Some(c) = credentials {
        tx.put_credentials(g.id, c)?;
    }
    tx.audit(
        now,
        lifecycle::grant_entry(Actor::System, Source::System, action, g, summary),
    )?;
    Ok(())
}

/// ±20% jitter so many failing revocations do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        u16::from_le_bytes(b)
    } else {
        u16::MAX / 2
    };
    let factor = 0.8 + 0.4 * (f64::from(r) / f64::from(u16::MAX));
    d.mul_f64(factor).max(Duration::from_millis(100))
}
