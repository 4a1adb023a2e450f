//! Drift detection: compares each integration's real state with the grants. Access on a
//! target without a live grant behind it is a *leftover*; an Active grant whose access the
//! target lacks is *missing*. Findings are logged, audited and sent as an event to admins;
//! leftovers are removed only when asked (`cleanup`).
//!
//! Invariants: a reconcile never changes a grant; connector calls run outside transactions;
//! anything that changed state while the target was being listed (a grant activated or ended
//! after the listing began) is not reported, so a reconcile racing the scheduler raises no
//! false alarm.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::event::EventKind;
use hallpass_core::grant::{Grant, GrantStatus};
use hallpass_core::integration::Integration;
use hallpass_core::{GrantId, Timestamp};
use hallpass_proto::{DriftItem, DriftReport, IntegrationDrift};
use tokio::sync::watch;

use crate::broker::{Broker, Fail};
use crate::connectors::{self, Action, GrantSpec, Holding, Inventory, SpecUser};

/// Compares every integration with the grants; with `cleanup`, removes leftovers.
pub async fn reconcile(
    broker: &Arc<Broker>,
    cleanup: bool,
    actor: &Actor,
    source: Source,
) -> Result<DriftReport, Fail> {
    let store = broker.store();
    let checked_at = broker.now();
    // Active grants by integration, from the deadline index (no scan of all grants).
    let mut active: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
    for id in store.active_grant_ids(checked_at)? {
        if let Some(g) = store.grant(id)? {
            active
                .entry(g.target.integration.to_string())
                .or_default()
                .push(g);
        }
    }
    let mut report = DriftReport {
        checked_at,
        integrations: vec![],
    };
    for integration in store.integrations()? {
        let grants = active.remove(integration.name.as_str()).unwrap_or_default();
        let mut d = compare(broker, &integration, grants, checked_at).await?;
        if cleanup {
            for item in &mut d.leftovers {
                let holding = Holding {
                    name: item.name.clone(),
                    grant: item.grant,
                };
                match connectors::remove_leftover(&integration, &holding).await {
                    Ok(()) => item.cleaned = true,
                    Err(e) => item.detail = format!("{}; cleanup failed: {e}", item.detail),
                }
            }
        }
        record(broker, &d, actor, source).await?;
        report.integrations.push(d);
    }
    Ok(report)
}

async fn compare(
    broker: &Arc<Broker>,
    integration: &Integration,
    active: Vec<Grant>,
    started: Timestamp,
) -> Result<IntegrationDrift, Fail> {
    let mut d = IntegrationDrift {
        integration: integration.name.clone(),
        checked: false,
        note: String::new(),
        leftovers: vec![],
        missing: vec![],
    };
    let store = broker.store();
    let inventory = match connectors::inventory(integration).await {
        Ok(i) => i,
        Err(e) => {
            d.note = format!("cannot list the target: {e}");
            return Ok(d);
        }
    };
    // Settled grants only: one with a connector call owed (an extension being pushed) is
    // the scheduler's business, not drift.
    let settled = |g: &Grant| g.activated_at.is_some_and(|a| a < started) && !g.owes_work();
    match inventory {
        Inventory::Unsupported(why) => d.note = why.to_string(),
        Inventory::Listed(holdings) => {
            d.checked = true;
            d.note = format!("{} item(s) on the target", holdings.len());
            let present: BTreeSet<GrantId> = holdings.iter().filter_map(|h| h.grant).collect();
            for h in holdings {
                let Some(id) = h.grant else {
                    d.leftovers.push(DriftItem {
                        name: h.name,
                        grant: None,
                        detail: "has hallpass's prefix but names no grant".into(),
                        cleaned: false,
                    });
                    continue;
                };
                let g = store.grant(id)?;
                let detail = match &g {
                    None => format!("{id} does not exist"),
                    Some(g) if g.target.integration != integration.name => continue,
                    Some(g) if !g.status.is_terminal() => continue,
                    // Ended after the listing began: its revocation removed it since.
                    Some(g) if g.ended_at.is_none_or(|e| e >= started) => continue,
                    Some(g) => format!(
                        "{id} ended {} ({})",
                        g.ended_at.map(|t| t.to_string()).unwrap_or_default(),
                        g.status
                    ),
                };
                d.leftovers.push(DriftItem {
                    name: h.name,
                    grant: Some(id),
                    detail,
                    cleaned: false,
                });
            }
            for g in active.iter().filter(|g| settled(g)) {
                if !present.contains(&g.id) {
                    d.missing.push(missing_item(g));
                }
            }
        }
        Inventory::PerGrant => {
            d.checked = true;
            d.note = format!("{} active grant(s) checked one by one", active.len());
            for g in active.iter().filter(|g| settled(g)) {
                let spec = GrantSpec::new(
                    Action::Verify,
                    g,
                    SpecUser::of(g.user, store.user(g.user)?.as_ref()),
                    g.expires_at,
                );
                match connectors::present(integration, &spec).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Re-read: the grant may have ended while we were checking.
                        if store
                            .grant(g.id)?
                            .is_some_and(|now| now.status_at(broker.now()) == GrantStatus::Active)
                        {
                            d.missing.push(missing_item(g));
                        }
                    }
                    Err(e) => {
                        d.note = format!("checking {} failed: {e}", g.id);
                        d.checked = false;
                        break;
                    }
                }
            }
        }
    }
    Ok(d)
}

fn missing_item(g: &Grant) -> DriftItem {
    DriftItem {
        name: g.target.to_string(),
        grant: Some(g.id),
        detail: format!(
            "{} is active until {} but the target does not have the access",
            g.id,
            g.expires_at.map(|t| t.to_string()).unwrap_or_default()
        ),
        cleaned: false,
    }
}

/// Logs, audits and announces what one integration's comparison found.
async fn record(
    broker: &Broker,
    d: &IntegrationDrift,
    actor: &Actor,
    source: Source,
) -> Result<(), Fail> {
    if d.leftovers.is_empty() && d.missing.is_empty() {
        return Ok(());
    }
    let names = |items: &[DriftItem]| {
        items
            .iter()
            .map(|i| {
                if i.cleaned {
                    format!("{} (removed)", i.name)
                } else {
                    i.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let summary = format!(
        "{} leftover(s) [{}]; {} missing [{}]",
        d.leftovers.len(),
        names(&d.leftovers),
        d.missing.len(),
        names(&d.missing)
    );
    tracing::warn!(integration = %d.integration, %summary, "drift detected");
    let now = broker.now();
    let leftovers = u32::try_from(d.leftovers.len()).unwrap_or(u32::MAX);
    let missing = u32::try_from(d.missing.len()).unwrap_or(u32::MAX);
    broker
        .commit(|tx| {
            tx.audit(
                now,
                AuditEntry::new(
                    actor.clone(),
                    source,
                    "drift.found",
                    &d.integration,
                    summary.clone(),
                )
                .on(&d.integration),
            )?;
            for item in d.leftovers.iter().filter(|i| i.cleaned) {
                tx.audit(
                    now,
                    AuditEntry::new(
                        actor.clone(),
                        source,
                        "drift.cleanup",
                        &item.name,
                        format!("leftover removed from the target: {}", item.detail),
                    )
                    .on(&d.integration),
                )?;
            }
            tx.event(
                now,
                EventKind::DriftDetected {
                    integration: d.integration.clone(),
                    leftovers,
                    missing,
                },
                BTreeSet::new(),
            )?;
            Ok(())
        })
        .await
}

/// The periodic reconcile: every `interval`, until `stop` turns true.
pub async fn run(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let cfg = broker.config().drift.clone();
    if cfg.interval.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        match reconcile(&broker, cfg.cleanup, &Actor::System, Source::System).await {
            Ok(r) => tracing::info!(findings = r.findings(), "drift check done"),
            Err(e) => tracing::error!(error = %e.into_api(), "drift check failed"),
        }
    }
}
