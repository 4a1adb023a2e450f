//! The policy catalog: integrations, bundles and flows. Invariants: nothing stored references
//! something missing (bundle targets are offered by their integration; flows name existing
//! bundles, groups and users); nothing in use is deleted.

use std::collections::{BTreeSet, HashSet};

use hallpass_core::audit::AuditEntry;
use hallpass_core::event::EventKind;
use hallpass_core::flow::{Approver, Flow};
use hallpass_core::integration::{Bundle, Integration, Target};
use hallpass_core::policy;
use hallpass_core::{BundleName, FlowName, IntegrationName};
use hallpass_proto::{ApiError, FlowView, PutMode, UserRefView};
use hallpass_store::{Store, Txn};

use super::Session;
use crate::broker::{Caller, Fail};
use crate::views;

fn check_mode(kind: &str, name: &str, exists: bool, mode: PutMode) -> Result<&'static str, Fail> {
    match (mode, exists) {
        (PutMode::Create, true) => Err(Fail::Api(ApiError::conflict(format!(
            "{kind} {name} already exists (use --replace to change it)"
        )))),
        (PutMode::Replace, false) => Err(Fail::Api(ApiError::not_found(format!("{kind} {name}")))),
        (_, true) => Ok("update"),
        (_, false) => Ok("create"),
    }
}

fn policy_changed(
    tx: &mut Txn<'_>,
    c: &Caller,
    now: hallpass_core::Timestamp,
    action: &str,
    what: String,
) -> Result<(), Fail> {
    tx.audit(
        now,
        AuditEntry::new(c.actor(), c.source, action, &what, "saved"),
    )?;
    tx.event(now, EventKind::PolicyChanged { what }, BTreeSet::new())?;
    Ok(())
}

fn check_target(store: &Store, t: &Target) -> Result<(), Fail> {
    let i = store.integration(&t.integration)?.ok_or_else(|| {
        Fail::Api(ApiError::invalid(
            "target",
            format!("{t}: no integration named {}", t.integration),
        ))
    })?;
    if !i.offers(&t.resource, &t.permission) {
        return Err(Fail::Api(ApiError::invalid(
            "target",
            format!(
                "{t}: integration {} does not declare resource {} with permission {}",
                t.integration, t.resource, t.permission
            ),
        )));
    }
    Ok(())
}

pub async fn put_integration(
    s: &Session,
    c: &Caller,
    mut i: Integration,
    mode: PutMode,
) -> Result<Integration, Fail> {
    s.broker.require_admin(c, "Configuring integrations")?;
    i.validate()?;
    let now = s.broker.now();
    i.updated_at = now;
    s.broker
        .commit(|tx| {
            let old = tx.integration(&i.name)?;
            let verb = check_mode("integration", i.name.as_str(), old.is_some(), mode)?;
            if let Some(old) = old {
                // A resource or permission still used by a bundle or flow may not disappear.
                for t in referenced_targets(tx.store())? {
                    if t.integration == i.name
                        && old.offers(&t.resource, &t.permission)
                        && !i.offers(&t.resource, &t.permission)
                    {
                        return Err(Fail::Api(ApiError::conflict(format!(
                            "{t} is still used by a bundle or flow"
                        ))));
                    }
                }
            }
            tx.put_integration(&i)?;
            policy_changed(
                tx,
                c,
                now,
                &format!("integration.{verb}"),
                format!("integration {}", i.name),
            )?;
            Ok(i)
        })
        .await
}

/// Every target named by a bundle or a flow.
fn referenced_targets(store: &Store) -> Result<Vec<Target>, Fail> {
    let mut out: Vec<Target> = store
        .bundles()?
        .into_iter()
        .flat_map(|b| b.targets)
        .collect();
    out.extend(store.flows()?.into_iter().flat_map(|f| f.targets.resources));
    Ok(out)
}

pub async fn list_integrations(s: &Session, c: &Caller) -> Result<Vec<Integration>, Fail> {
    s.broker.require_reader(c, "Listing integrations")?;
    Ok(s.broker.store().integrations()?)
}

pub async fn get_integration(
    s: &Session,
    c: &Caller,
    name: IntegrationName,
) -> Result<Integration, Fail> {
    s.broker.require_reader(c, "Looking at integrations")?;
    s.broker
        .store()
        .integration(&name)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("integration {name}"))))
}

pub async fn delete_integration(
    s: &Session,
    c: &Caller,
    name: IntegrationName,
) -> Result<Integration, Fail> {
    s.broker.require_admin(c, "Deleting integrations")?;
    let now = s.broker.now();
    s.broker
        .commit(|tx| {
            let i = tx
                .integration(&name)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("integration {name}"))))?;
            if referenced_targets(tx.store())?
                .iter()
                .any(|t| t.integration == name)
            {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "integration {name} is used by a bundle or flow; remove those first"
                ))));
            }
            let (live, _) = tx.store().grants_page(None, 1, &|g| {
                g.target.integration == name && !g.status.is_terminal()
            })?;
            if !live.is_empty() {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "integration {name} still has live grants (e.g. {})",
                    live[0].id
                ))));
            }
            tx.delete_integration(&name)?;
            policy_changed(
                tx,
                c,
                now,
                "integration.delete",
                format!("integration {name}"),
            )?;
            Ok(i)
        })
        .await
}

pub async fn put_bundle(
    s: &Session,
    c: &Caller,
    mut b: Bundle,
    mode: PutMode,
) -> Result<Bundle, Fail> {
    s.broker.require_admin(c, "Configuring bundles")?;
    if b.targets.is_empty() {
        return Err(Fail::Api(ApiError::invalid(
            "targets",
            "a bundle needs at least one target",
        )));
    }
    let unique: HashSet<&Target> = b.targets.iter().collect();
    if unique.len() != b.targets.len() {
        return Err(Fail::Api(ApiError::invalid(
            "targets",
            "a target is listed twice",
        )));
    }
    let now = s.broker.now();
    b.updated_at = now;
    s.broker
        .commit(|tx| {
            for t in &b.targets {
                check_target(tx.store(), t)?;
            }
            let verb = check_mode(
                "bundle",
                b.name.as_str(),
                tx.bundle(&b.name)?.is_some(),
                mode,
            )?;
            tx.put_bundle(&b)?;
            policy_changed(
                tx,
                c,
                now,
                &format!("bundle.{verb}"),
                format!("bundle {}", b.name),
            )?;
            Ok(b)
        })
        .await
}

pub async fn list_bundles(s: &Session, _c: &Caller) -> Result<Vec<Bundle>, Fail> {
    Ok(s.broker.store().bundles()?)
}

pub async fn delete_bundle(s: &Session, c: &Caller, name: BundleName) -> Result<Bundle, Fail> {
    s.broker.require_admin(c, "Deleting bundles")?;
    let now = s.broker.now();
    s.broker
        .commit(|tx| {
            let b = tx
                .bundle(&name)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("bundle {name}"))))?;
            let users: Vec<String> = tx
                .store()
                .flows()?
                .into_iter()
                .filter(|f| f.targets.bundles.contains(&name))
                .map(|f| f.name.to_string())
                .collect();
            if !users.is_empty() {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "bundle {name} is used by flow(s) {}",
                    users.join(", ")
                ))));
            }
            tx.delete_bundle(&name)?;
            policy_changed(tx, c, now, "bundle.delete", format!("bundle {name}"))?;
            Ok(b)
        })
        .await
}

fn check_flow_refs(store: &Store, f: &Flow) -> Result<(), Fail> {
    for b in &f.targets.bundles {
        if store.bundle(b)?.is_none() {
            return Err(Fail::Api(ApiError::invalid(
                "targets",
                format!("no bundle named {b}"),
            )));
        }
    }
    for t in &f.targets.resources {
        check_target(store, t)?;
    }
    check_people(store, f)
}

/// The groups and users a flow names exist.
pub(super) fn check_people(store: &Store, f: &Flow) -> Result<(), Fail> {
    let groups = f
        .requestors
        .groups
        .iter()
        .chain(f.approval.approvers.iter().filter_map(|a| match a {
            Approver::Group(g) => Some(g),
            _ => None,
        }));
    for g in groups {
        if store.group(g)?.is_none() {
            return Err(Fail::Api(ApiError::invalid(
                "groups",
                format!("no group named {g}"),
            )));
        }
    }
    let users = f
        .requestors
        .users
        .iter()
        .chain(f.approval.approvers.iter().filter_map(|a| match a {
            Approver::User(u) => Some(u),
            _ => None,
        }));
    for u in users {
        if store.user(*u)?.is_none() {
            return Err(Fail::Api(ApiError::invalid(
                "users",
                format!("no user {u}"),
            )));
        }
    }
    Ok(())
}

pub async fn put_flow(s: &Session, c: &Caller, mut f: Flow, mode: PutMode) -> Result<Flow, Fail> {
    s.broker.require_admin(c, "Configuring access flows")?;
    f.validate()?;
    let now = s.broker.now();
    f.updated_at = now;
    s.broker
        .commit(|tx| {
            check_flow_refs(tx.store(), &f)?;
            let verb = check_mode("flow", f.name.as_str(), tx.flow(&f.name)?.is_some(), mode)?;
            tx.put_flow(&f)?;
            let what = format!("flow {}", f.name);
            let summary = format!(
                "{} approval, max {}, {}",
                f.approval.rule,
                hallpass_core::time::format_duration(f.max_duration),
                if f.enabled { "enabled" } else { "disabled" }
            );
            tx.audit(
                now,
                AuditEntry::new(c.actor(), c.source, &format!("flow.{verb}"), &what, summary),
            )?;
            tx.event(now, EventKind::PolicyChanged { what }, BTreeSet::new())?;
            Ok(f)
        })
        .await
}

/// Every target a flow offers, bundles expanded, in a stable order.
pub fn offered_targets(store: &Store, f: &Flow) -> Result<Vec<Target>, Fail> {
    let mut out: BTreeSet<Target> = f.targets.resources.iter().cloned().collect();
    for b in &f.targets.bundles {
        if let Some(b) = store.bundle(b)? {
            out.extend(b.targets);
        }
    }
    Ok(out.into_iter().collect())
}

fn flow_view(s: &Session, c: &Caller, f: Flow) -> Result<FlowView, Fail> {
    let store = s.broker.store();
    let ids: BTreeSet<_> = f
        .requestors
        .users
        .iter()
        .copied()
        .chain(f.approval.approvers.iter().filter_map(|a| match a {
            Approver::User(u) => Some(*u),
            _ => None,
        }))
        .collect();
    let user_emails: Vec<UserRefView> = ids
        .into_iter()
        .map(|id| views::user_ref(store, id))
        .collect::<Result<_, _>>()?;
    Ok(FlowView {
        offered: offered_targets(store, &f)?,
        can_request: policy::may_request(&f, &c.user).is_ok(),
        user_emails,
        flow: f,
    })
}

pub async fn list_flows(s: &Session, c: &Caller) -> Result<Vec<FlowView>, Fail> {
    s.broker
        .store()
        .flows()?
        .into_iter()
        .map(|f| flow_view(s, c, f))
        .collect()
}

pub async fn get_flow(s: &Session, c: &Caller, name: FlowName) -> Result<FlowView, Fail> {
    let f = s
        .broker
        .store()
        .flow(&name)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("flow {name}"))))?;
    flow_view(s, c, f)
}

pub async fn delete_flow(s: &Session, c: &Caller, name: FlowName) -> Result<Flow, Fail> {
    s.broker.require_admin(c, "Deleting access flows")?;
    let now = s.broker.now();
    s.broker
        .commit(|tx| {
            let f = tx.flow(&name)?.ok_or_else(|| Fail::Api(ApiError::not_found(format!("flow {name}"))))?;
            if tx.store().pending_requests()?.iter().any(|r| r.flow == name) {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "flow {name} has pending requests; disable it (`hallpass flows disable {name}`) and let them finish"
                ))));
            }
            tx.delete_flow(&name)?;
            policy_changed(tx, c, now, "flow.delete", format!("flow {name}"))?;
            Ok(f)
        })
        .await
}

pub async fn set_flow_enabled(
    s: &Session,
    c: &Caller,
    name: FlowName,
    enabled: bool,
) -> Result<Flow, Fail> {
    s.broker
        .require_admin(c, "Enabling and disabling access flows")?;
    let now = s.broker.now();
    s.broker
        .commit(|tx| {
            let mut f = tx
                .flow(&name)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("flow {name}"))))?;
            f.enabled = enabled;
            f.updated_at = now;
            tx.put_flow(&f)?;
            let action = if enabled {
                "flow.enable"
            } else {
                "flow.disable"
            };
            policy_changed(tx, c, now, action, format!("flow {name}"))?;
            Ok(f)
        })
        .await
}
