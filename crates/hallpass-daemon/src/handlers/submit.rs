//! `submit_request`, `request_again` and the shared opening of a request (also used by
//! `extend`). Invariants: everything is validated against the flow before anything is written;
//! a request nobody could approve is refused rather than left to time out; auto flows approve
//! and fulfil in the same transaction.

use std::collections::BTreeSet;
use std::time::Duration;

use hallpass_core::Timestamp;
use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::event::EventKind;
use hallpass_core::flow::{ApprovalRule, Flow, Trigger};
use hallpass_core::integration::Target;
use hallpass_core::request::{Request, RequestKind, RequestStatus};
use hallpass_core::time::format_duration;
use hallpass_core::user::User;
use hallpass_core::{BundleName, FlowName, RequestId, UserId, policy};
use hallpass_proto::{AgainArgs, ApiError, NewRequest, RequestView};
use hallpass_store::Txn;

use super::catalog::offered_targets;
use super::{Session, clean_text};
use crate::broker::{Broker, Caller, Fail};
use crate::{lifecycle, views};

/// A request about to be opened.
pub struct Draft {
    pub flow: FlowName,
    pub kind: RequestKind,
    pub bundle: Option<BundleName>,
    pub targets: Vec<Target>,
    pub duration: Option<Duration>,
    pub reason: Option<String>,
    pub again_of: Option<RequestId>,
}

pub async fn submit(s: &Session, c: &Caller, args: NewRequest) -> Result<RequestView, Fail> {
    let draft = Draft {
        flow: args.flow,
        kind: RequestKind::Access,
        bundle: args.bundle,
        targets: args.targets,
        duration: args.duration_secs.map(Duration::from_secs),
        reason: clean_text("reason", args.reason)?,
        again_of: None,
    };
    open(s, c, draft).await
}

pub async fn again(
    s: &Session,
    c: &Caller,
    id: RequestId,
    args: AgainArgs,
) -> Result<RequestView, Fail> {
    let now = s.broker.now();
    let old = s
        .broker
        .store()
        .request(id)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("request {id}"))))?;
    if old.requester != c.id() {
        return Err(Fail::Api(ApiError::Forbidden {
            why: format!("{id} is someone else's request; only its requester can ask again"),
            admins: vec![],
            hint: None,
        }));
    }
    if old.status == RequestStatus::Pending && !old.is_overdue(now) {
        return Err(Fail::Api(ApiError::InvalidTransition {
            what: format!("request {id}"),
            from: "pending".into(),
            action: "request again (it is still waiting)".into(),
        }));
    }
    if let RequestKind::Extend { .. } = old.kind {
        return Err(Fail::Api(ApiError::invalid(
            "request",
            format!("{id} was an extension; use `hallpass extend` instead"),
        )));
    }
    let draft = Draft {
        flow: old.flow.clone(),
        kind: RequestKind::Access,
        bundle: old.bundle.clone(),
        targets: if old.bundle.is_some() {
            vec![]
        } else {
            old.targets.clone()
        },
        duration: Some(
            args.duration_secs
                .map(Duration::from_secs)
                .unwrap_or(old.duration),
        ),
        reason: clean_text("reason", args.reason)?.or(Some(old.reason.clone())),
        again_of: Some(id),
    };
    open(s, c, draft).await
}

fn targets_for(
    tx: &Txn<'_>,
    flow: &Flow,
    bundle: &Option<BundleName>,
    explicit: &[Target],
) -> Result<Vec<Target>, Fail> {
    let offered = offered_targets(tx.store(), flow)?;
    let list = |ts: &[Target]| {
        ts.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (bundle, explicit.is_empty()) {
        (Some(_), false) => Err(Fail::Api(ApiError::invalid(
            "targets",
            "ask for a bundle or for resources, not both",
        ))),
        (Some(b), true) => {
            if !flow.targets.bundles.contains(b) {
                return Err(Fail::Api(ApiError::invalid(
                    "bundle",
                    format!(
                        "flow {} does not offer bundle {b}; it offers: {}",
                        flow.name,
                        list(&offered)
                    ),
                )));
            }
            let bundle = tx
                .bundle(b)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("bundle {b}"))))?;
            Ok(bundle.targets)
        }
        (None, true) => Err(Fail::Api(ApiError::invalid(
            "resource",
            format!(
                "name what you need with --resource or --bundle; flow {} offers: {}",
                flow.name,
                list(&offered)
            ),
        ))),
        (None, false) => {
            let mut out: Vec<Target> = Vec::new();
            for t in explicit {
                if !offered.contains(t) {
                    return Err(Fail::Api(ApiError::invalid(
                        "resource",
                        format!(
                            "flow {} does not offer {t}; it offers: {}",
                            flow.name,
                            list(&offered)
                        ),
                    )));
                }
                if !out.contains(t) {
                    out.push(t.clone());
                }
            }
            Ok(out)
        }
    }
}

/// Validates and opens a request (new access or an extension) for the caller.
pub async fn open(s: &Session, c: &Caller, d: Draft) -> Result<RequestView, Fail> {
    let now = s.broker.now();
    let broker = &s.broker;
    let (req, flow, approvers) = broker
        .commit(|tx| {
            let flow = tx.flow(&d.flow)?.ok_or_else(|| {
                Fail::Api(ApiError::not_found(format!(
                    "flow {} (`hallpass flows list` shows the flows)",
                    d.flow
                )))
            })?;
            if flow.trigger != Trigger::SelfServe {
                return Err(Fail::Api(ApiError::invalid(
                    "flow",
                    format!("flow {} is requested through access links", flow.name),
                )));
            }
            policy::may_request(&flow, &c.user).map_err(|why| {
                Fail::Api(ApiError::Forbidden {
                    why,
                    admins: broker.admin_emails(),
                    hint: Some(
                        "`hallpass flows list` shows the flows you can request through".into(),
                    ),
                })
            })?;
            let (req, approvers) = open_in(tx, broker, &c.user, c.source, &flow, &d, now)?;
            Ok((req, flow, approvers))
        })
        .await?;
    tracing::info!(request = %req.id, user = %c.id(), status = %req.status, "request opened");
    Ok(views::opened_request(
        broker, &req, &c.user, &flow, &approvers,
    )?)
}

/// Opens a request for `requester` through `flow`, inside the caller's transaction: targets and
/// duration checked against the flow, approvers found (or auto-approved and fulfilled), audit
/// and event written. The flow's trigger and the requester's eligibility are the caller's to check.
/// Returns the request and who could approve it (none for an auto flow).
pub(crate) fn open_in(
    tx: &mut Txn<'_>,
    broker: &Broker,
    requester: &User,
    source: Source,
    flow: &Flow,
    d: &Draft,
    now: Timestamp,
) -> Result<(Request, BTreeSet<UserId>), Fail> {
    let actor = Actor::User {
        id: requester.id,
        email: requester.email.clone(),
        via: None,
    };
    let (targets, duration) = match &d.kind {
        RequestKind::Access => (
            targets_for(tx, flow, &d.bundle, &d.targets)?,
            flow.resolve_duration(d.duration)?,
        ),
        RequestKind::Extend { grant } => {
            let g = tx
                .grant(*grant)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("grant {grant}"))))?;
            let by = flow.resolve_duration(d.duration)?;
            if flow.approval.rule == ApprovalRule::Auto
                && let (Some(start), Some(end)) = (g.activated_at, g.expires_at)
                && start.until(end.plus(by)) > flow.max_duration
            {
                return Err(Fail::Api(ApiError::invalid(
                    "duration",
                    format!(
                        "flow {} allows at most {} of access in total; {} has {} left to give",
                        flow.name,
                        format_duration(flow.max_duration),
                        g.id,
                        format_duration(flow.max_duration.saturating_sub(start.until(end)))
                    ),
                )));
            }
            (vec![g.target.clone()], by)
        }
    };
    if flow.justification_required && d.reason.is_none() {
        return Err(Fail::Api(ApiError::invalid(
            "reason",
            format!("flow {} requires a justification (--reason)", flow.name),
        )));
    }
    let approvers = if flow.approval.rule == ApprovalRule::Auto {
        BTreeSet::new()
    } else {
        let found = policy::possible_approvers(flow, &broker.directory(), requester);
        if found.is_empty() {
            return Err(Fail::Api(ApiError::conflict(format!(
                "nobody can approve this request: flow {} has no eligible approver for you (is your manager set?)",
                flow.name
            ))));
        }
        found
    };
    let mut req = Request {
        id: tx.next_request_id()?,
        requester: requester.id,
        flow: flow.name.clone(),
        kind: d.kind.clone(),
        bundle: d.bundle.clone(),
        targets,
        duration,
        reason: d.reason.clone().unwrap_or_default(),
        status: RequestStatus::Pending,
        created_at: now,
        pending_until: now.plus(flow.pending_ttl),
        approvals: vec![],
        rejection: None,
        closed_at: None,
        cancelled_by: None,
        grants: vec![],
        again_of: d.again_of,
    };
    let what = match &req.kind {
        RequestKind::Access => req
            .targets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        RequestKind::Extend { grant } => format!("more time on {grant}"),
    };
    let action = if req.again_of.is_some() {
        "request.again"
    } else {
        "request.submit"
    };
    tx.audit(
        now,
        AuditEntry::new(
            actor.clone(),
            source,
            action,
            req.id,
            format!(
                "{what} for {} via flow {}",
                format_duration(duration),
                flow.name
            ),
        )
        .about(requester.id)
        .with_status(RequestStatus::Pending),
    )?;
    let mut audience = approvers.clone();
    audience.insert(requester.id);
    tx.event(
        now,
        EventKind::RequestSubmitted {
            request: req.id,
            requester: requester.id,
            requester_email: requester.email.clone(),
            flow: flow.name.clone(),
            targets: req.targets.clone(),
            duration,
            reason: req.reason.clone(),
            approvers: approvers.iter().copied().collect(),
        },
        audience,
    )?;
    if flow.approval.rule == ApprovalRule::Auto {
        req.auto_approve(now)?;
        tx.audit(
            now,
            AuditEntry::new(
                Actor::System,
                source,
                "request.approve",
                req.id,
                format!("auto-approved by flow {}", flow.name),
            )
            .about(requester.id)
            .with_status(req.status),
        )?;
        lifecycle::fulfil(
            tx,
            &mut req,
            now,
            &Actor::System,
            source,
            &broker.config().expiry.warn_before,
        )?;
        tx.event(
            now,
            EventKind::RequestApproved {
                request: req.id,
                by: requester.id,
                complete: true,
            },
            BTreeSet::from([requester.id]),
        )?;
    }
    tx.put_request(&req)?;
    Ok((req, approvers))
}
