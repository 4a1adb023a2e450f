//! `approve` and `reject`. Invariants: eligibility is checked at decision time against the
//! directory as it is now; the requester never approves their own request unless the flow
//! allows it (and then it is audited as a self-approval); the request becomes Approved only when
//! the flow's threshold (any-of, all-of, quorum) is met.

use std::collections::BTreeSet;

use hallpass_core::audit::AuditEntry;
use hallpass_core::event::EventKind;
use hallpass_core::request::{Decision, Request, RequestStatus};
use hallpass_core::{RequestId, policy};
use hallpass_proto::{ApiError, RequestView};
use hallpass_store::Txn;

use super::{Session, clean_text};
use crate::broker::{Caller, Fail};
use crate::{lifecycle, views};

/// Loads a request that can still be decided, with its flow and requester.
fn decidable(
    tx: &Txn<'_>,
    id: RequestId,
    now: hallpass_core::Timestamp,
) -> Result<
    (
        Request,
        hallpass_core::flow::Flow,
        hallpass_core::user::User,
    ),
    Fail,
> {
    let req = tx
        .request(id)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("request {id}"))))?;
    if req.is_overdue(now) {
        return Err(Fail::Api(ApiError::InvalidTransition {
            what: format!("request {id}"),
            from: "timed_out".into(),
            action: format!("decide (it waited past {})", req.pending_until),
        }));
    }
    if req.status != RequestStatus::Pending {
        return Err(Fail::Api(ApiError::InvalidTransition {
            what: format!("request {id}"),
            from: req.status.to_string(),
            action: "decide".into(),
        }));
    }
    let flow = tx.flow(&req.flow)?.ok_or_else(|| {
        Fail::Api(ApiError::conflict(format!(
            "flow {} no longer exists",
            req.flow
        )))
    })?;
    let requester = tx
        .user(req.requester)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("user {}", req.requester))))?;
    Ok((req, flow, requester))
}

/// Flows may require approvers to say why they decided.
fn require_reason(flow: &hallpass_core::flow::Flow, reason: &Option<String>) -> Result<(), Fail> {
    if flow.approver_reason_required && reason.is_none() {
        return Err(Fail::Api(ApiError::invalid(
            "reason",
            format!(
                "flow {} requires a reason from approvers (--reason)",
                flow.name
            ),
        )));
    }
    Ok(())
}

fn forbidden(why: String) -> Fail {
    Fail::Api(ApiError::Forbidden {
        why,
        admins: vec![],
        hint: Some("`hallpass requests --to-approve` lists what you can decide".into()),
    })
}

pub async fn approve(
    s: &Session,
    c: &Caller,
    id: RequestId,
    reason: Option<String>,
) -> Result<RequestView, Fail> {
    let reason = clean_text("reason", reason)?;
    let now = s.broker.now();
    let broker = &s.broker;
    let req = broker
        .commit(|tx| {
            let (mut req, flow, requester) = decidable(tx, id, now)?;
            let dir = broker.directory();
            policy::may_decide(&flow, &dir, &requester, &c.user).map_err(forbidden)?;
            require_reason(&flow, &reason)?;
            let mut approvals: Vec<_> = req.approvals.iter().map(|a| a.by).collect();
            approvals.push(c.id());
            let complete = policy::approval_satisfied(&flow, &dir, &requester, &approvals);
            req.approve(
                Decision {
                    by: c.id(),
                    at: now,
                    reason: reason.clone(),
                },
                complete,
            )?;
            let self_approval = c.id() == requester.id;
            let action = if self_approval {
                "request.self_approve"
            } else {
                "request.approve"
            };
            let summary = match (complete, self_approval) {
                (true, true) => format!("self-approved (flow {} allows it); approved", flow.name),
                (true, false) => "approved".to_string(),
                (false, _) => format!(
                    "approval {} recorded; {} needed",
                    req.approvals.len(),
                    flow.approval.rule
                ),
            };
            tx.audit(
                now,
                AuditEntry::new(c.actor(), c.source, action, id, summary)
                    .about(requester.id)
                    .with_status(req.status),
            )?;
            if complete {
                lifecycle::fulfil(
                    tx,
                    &mut req,
                    now,
                    &c.actor(),
                    c.source,
                    &broker.config().expiry.warn_before,
                )?;
            }
            tx.put_request(&req)?;
            let mut audience: BTreeSet<_> = policy::possible_approvers(&flow, &dir, &requester);
            audience.insert(requester.id);
            tx.event(
                now,
                EventKind::RequestApproved {
                    request: id,
                    by: c.id(),
                    complete,
                },
                audience,
            )?;
            Ok(req)
        })
        .await?;
    tracing::info!(request = %id, by = %c.id(), status = %req.status, "approval recorded");
    Ok(views::request(broker, &req, &c.user)?)
}

pub async fn reject(
    s: &Session,
    c: &Caller,
    id: RequestId,
    reason: Option<String>,
) -> Result<RequestView, Fail> {
    let reason = clean_text("reason", reason)?;
    let now = s.broker.now();
    let broker = &s.broker;
    let req = broker
        .commit(|tx| {
            let (mut req, flow, requester) = decidable(tx, id, now)?;
            let dir = broker.directory();
            if !c.is_admin() {
                policy::may_decide(&flow, &dir, &requester, &c.user).map_err(forbidden)?;
            }
            require_reason(&flow, &reason)?;
            req.reject(Decision {
                by: c.id(),
                at: now,
                reason: reason.clone(),
            })?;
            tx.put_request(&req)?;
            let summary = reason
                .as_deref()
                .map_or("rejected".to_string(), |r| format!("rejected: {r}"));
            tx.audit(
                now,
                AuditEntry::new(c.actor(), c.source, "request.reject", id, summary)
                    .about(requester.id)
                    .with_status(req.status),
            )?;
            let mut audience: BTreeSet<_> = policy::possible_approvers(&flow, &dir, &requester);
            audience.insert(requester.id);
            tx.event(
                now,
                EventKind::RequestRejected {
                    request: id,
                    by: c.id(),
                    reason: reason.clone(),
                },
                audience,
            )?;
            Ok(req)
        })
        .await?;
    tracing::info!(request = %id, by = %c.id(), "request rejected");
    Ok(views::request(broker, &req, &c.user)?)
}
