//! Policy as code: export the catalog as one document, and apply a document as one plan in one
//! transaction. Invariants: the whole end state is checked (each object valid, references
//! resolve, groups and users exist, no deleted integration has live grants) before anything
//! is written; a dry run writes nothing; every change is audited.

use std::collections::BTreeSet;

use hallpass_core::audit::AuditEntry;
use hallpass_core::event::EventKind;
use hallpass_core::policy_doc::{PlanOp, PolicyDoc, PolicyPlan};
use hallpass_core::{BundleName, FlowName, IntegrationName};
use hallpass_proto::ApiError;
use hallpass_store::Store;

use super::Session;
use super::catalog::check_people;
use crate::broker::{Caller, Fail};

fn current(store: &Store) -> Result<PolicyDoc, Fail> {
    Ok(PolicyDoc {
        integrations: store.integrations()?,
        bundles: store.bundles()?,
        flows: store.flows()?,
    })
}

pub async fn export(s: &Session, c: &Caller) -> Result<PolicyDoc, Fail> {
    s.broker.require_reader(c, "Exporting the policy")?;
    Ok(current(s.broker.store())?.normalized())
}

pub async fn apply(
    s: &Session,
    c: &Caller,
    doc: PolicyDoc,
    prune: bool,
    dry_run: bool,
    expect: Option<String>,
) -> Result<PolicyPlan, Fail> {
    s.broker.require_admin(c, "Applying policy")?;
    doc.check()?;
    let now = s.broker.now();
    s.broker
        .commit(|tx| {
            let store = tx.store();
            let have = current(store)?;
            let mut plan = have.plan_to(&doc, prune);
            if let Some(e) = &expect
                && *e != plan.fingerprint
            {
                return Err(Fail::Api(ApiError::conflict(
                    "the policy changed since this plan was made; plan again",
                )));
            }
            let end = have.end_state(&doc, prune);
            end.check_references()?;
            for f in &end.flows {
                check_people(store, f)?;
            }
            for ch in plan.changes.iter().filter(|c| c.op == PlanOp::Delete) {
                if ch.kind == "integration" {
                    let name = IntegrationName::new(&ch.name)?;
                    let (live, _) = store.grants_page(None, 1, &|g| {
                        g.target.integration == name && !g.status.is_terminal()
                    })?;
                    if let Some(g) = live.first() {
                        return Err(Fail::Api(ApiError::conflict(format!(
                            "integration {name} still has live grants (e.g. {}); it cannot be pruned",
                            g.id
                        ))));
                    }
                }
            }
            if dry_run || plan.changes.is_empty() {
                return Ok(plan);
            }
            for ch in &plan.changes {
                match (ch.kind.as_str(), ch.op) {
                    ("integration", PlanOp::Delete) => {
                        tx.delete_integration(&IntegrationName::new(&ch.name)?)?
                    }
                    ("bundle", PlanOp::Delete) => tx.delete_bundle(&BundleName::new(&ch.name)?)?,
                    ("flow", PlanOp::Delete) => tx.delete_flow(&FlowName::new(&ch.name)?)?,
                    ("integration", _) => {
                        if let Some(i) = doc.integrations.iter().find(|i| i.name.as_str() == ch.name) {
                            let mut i = i.clone();
                            i.updated_at = now;
                            tx.put_integration(&i)?;
                        }
                    }
                    ("bundle", _) => {
                        if let Some(b) = doc.bundles.iter().find(|b| b.name.as_str() == ch.name) {
                            let mut b = b.clone();
                            b.updated_at = now;
                            tx.put_bundle(&b)?;
                        }
                    }
                    ("flow", _) => {
                        if let Some(f) = doc.flows.iter().find(|f| f.name.as_str() == ch.name) {
                            let mut f = f.clone();
                            f.updated_at = now;
                            tx.put_flow(&f)?;
                        }
                    }
                    _ => {}
                }
                let op = match ch.op {
                    PlanOp::Create => "create",
                    PlanOp::Update => "update",
                    PlanOp::Delete => "delete",
                };
                let fields: Vec<&str> = ch.fields.iter().map(|f| f.path.as_str()).take(8).collect();
                tx.audit(
                    now,
                    AuditEntry::new(
                        c.actor(),
                        c.source,
                        &format!("{}.{op}", ch.kind),
                        format!("{} {}", ch.kind, ch.name),
                        format!("policy apply {}: {}", plan.fingerprint, fields.join(", ")),
                    ),
                )?;
            }
            tx.event(
                now,
                EventKind::PolicyChanged {
                    what: format!("policy apply ({} change(s))", plan.changes.len()),
                },
                BTreeSet::new(),
            )?;
            plan.applied = true;
            Ok(plan)
        })
        .await
}
