//! Wire views built from records with the daemon's clock. Invariant: a view shows what a reader
//! must see now: never an Active grant past its deadline, never a Pending request past its TTL.

use std::collections::{BTreeMap, BTreeSet};

use hallpass_core::flow::Flow;
use hallpass_core::grant::Grant;
use hallpass_core::policy;
use hallpass_core::request::{Request, RequestStatus};
use hallpass_core::user::{Group, User};
use hallpass_core::{Timestamp, UserId};
use hallpass_proto::{GrantSummary, GrantView, GroupView, RequestView, UserRefView, UserView};
use hallpass_store::{Store, StoreError};

use crate::broker::Broker;

pub fn user_ref(store: &Store, id: UserId) -> Result<UserRefView, StoreError> {
    let email = store
        .user(id)?
        .map(|u| u.email)
        .unwrap_or_else(|| format!("{id} (unknown)"));
    Ok(UserRefView { id, email })
}

pub fn user(store: &Store, u: &User) -> Result<UserView, StoreError> {
    let manager_email = match u.manager {
        Some(m) => store.user(m)?.map(|m| m.email),
        None => None,
    };
    Ok(UserView {
        id: u.id,
        email: u.email.clone(),
        name: u.name.clone(),
        phone: u.phone.clone(),
        role: u.role,
        status: u.status,
        os_user: u.os.as_ref().and_then(|o| o.name.clone()),
        os_uid: u.os.as_ref().map(|o| o.uid),
        manager: u.manager,
        manager_email,
        groups: u.groups.iter().cloned().collect(),
        created_at: u.created_at,
        company: u.company.clone(),
        login: u.login.clone(),
        sources: u.sources.keys().cloned().collect(),
    })
}

pub fn group(store: &Store, g: &Group) -> Result<GroupView, StoreError> {
    Ok(GroupView {
        name: g.name.clone(),
        description: g.description.clone(),
        members: g
            .members
            .iter()
            .map(|m| user_ref(store, *m))
            .collect::<Result<_, _>>()?,
        created_at: g.created_at,
        source: g.source.as_ref().map(|s| s.source.clone()),
    })
}

pub fn grant(store: &Store, g: &Grant, now: Timestamp) -> Result<GrantView, StoreError> {
    Ok(grant_of(g, now, user_ref(store, g.user)?))
}

/// Views of a page of grants, each holder read once however many of the grants are theirs.
pub fn grants(store: &Store, gs: &[Grant], now: Timestamp) -> Result<Vec<GrantView>, StoreError> {
    let mut holders: BTreeMap<UserId, UserRefView> = BTreeMap::new();
    gs.iter()
        .map(|g| {
            let user = match holders.get(&g.user) {
                Some(u) => u.clone(),
                None => {
                    let u = user_ref(store, g.user)?;
                    holders.insert(g.user, u.clone());
                    u
                }
            };
            Ok(grant_of(g, now, user))
        })
        .collect()
}

fn grant_of(g: &Grant, now: Timestamp, user: UserRefView) -> GrantView {
    GrantView {
        id: g.id,
        request: g.request,
        user,
        target: g.target.clone(),
        status: g.status_at(now),
        duration_secs: g.duration.as_secs(),
        created_at: g.created_at,
        activated_at: g.activated_at,
        expires_at: g.expires_at,
        remaining_secs: g.remaining(now).map(|d| d.as_secs()),
        ended_at: g.ended_at,
        end_reason: g.end_reason.clone(),
        attempts: g.attempts,
        next_attempt_at: g.next_attempt_at,
        last_error: g.last_error.clone(),
    }
}

/// The request as `viewer` sees it now.
pub fn request(broker: &Broker, r: &Request, viewer: &User) -> Result<RequestView, StoreError> {
    let store = broker.store();
    let flow = store.flow(&r.flow)?;
    let requester = store.user(r.requester)?;
    let possible = match (&flow, &requester) {
        (Some(flow), Some(requester)) if status_now(r, broker.now()) == RequestStatus::Pending => {
            Some(policy::possible_approvers(
                flow,
                &broker.directory(),
                requester,
            ))
        }
        _ => None,
    };
    build_request(
        broker,
        r,
        viewer,
        flow.as_ref(),
        requester.as_ref(),
        possible.as_ref(),
    )
}

/// The requester's view of a request just opened, from what the transaction that opened it
/// found (its flow and possible approvers): nothing is read or decided a second time.
pub fn opened_request(
    broker: &Broker,
    r: &Request,
    requester: &User,
    flow: &Flow,
    approvers: &BTreeSet<UserId>,
) -> Result<RequestView, StoreError> {
    build_request(
        broker,
        r,
        requester,
        Some(flow),
        Some(requester),
        Some(approvers),
    )
}

/// A request's status as a reader must see it now.
fn status_now(r: &Request, now: Timestamp) -> RequestStatus {
    if r.is_overdue(now) {
        RequestStatus::TimedOut
    } else {
        r.status
    }
}

/// A request's view, given its flow, its requester and (while Pending) who could approve it.
fn build_request(
    broker: &Broker,
    r: &Request,
    viewer: &User,
    flow: Option<&Flow>,
    requester: Option<&User>,
    possible: Option<&BTreeSet<UserId>>,
) -> Result<RequestView, StoreError> {
    let store = broker.store();
    let now = broker.now();
    let status = status_now(r, now);
    let (approvers, can_decide) = match (flow, requester, possible) {
        (Some(flow), Some(requester), Some(possible)) if status == RequestStatus::Pending => {
            let already: Vec<UserId> = r.approvals.iter().map(|a| a.by).collect();
            let remaining: Vec<UserRefView> = possible
                .iter()
                .filter(|id| !already.contains(id))
                .map(|id| user_ref(store, *id))
                .collect::<Result<_, _>>()?;
            let can = !already.contains(&viewer.id)
                && policy::may_decide(flow, &broker.directory(), requester, viewer).is_ok();
            (remaining, can)
        }
        _ => (vec![], false),
    };
    let mut grants = Vec::with_capacity(r.grants.len());
    for id in &r.grants {
        if let Some(g) = store.grant(*id)? {
            grants.push(GrantSummary {
                id: g.id,
                target: g.target.clone(),
                status: g.status_at(now),
                expires_at: g.expires_at,
            });
        }
    }
    Ok(RequestView {
        id: r.id,
        requester: match requester {
            Some(u) => UserRefView {
                id: u.id,
                email: u.email.clone(),
            },
            None => user_ref(store, r.requester)?,
        },
        flow: r.flow.clone(),
        kind: r.kind.clone(),
        bundle: r.bundle.clone(),
        targets: r.targets.clone(),
        duration_secs: r.duration.as_secs(),
        reason: r.reason.clone(),
        status,
        created_at: r.created_at,
        pending_until: r.pending_until,
        approvals: r.approvals.clone(),
        rejection: r.rejection.clone(),
        grants,
        approvers,
        can_decide,
        approval_rule: flow
            .map(|f| f.approval.rule.to_string())
            .unwrap_or_default(),
        again_of: r.again_of,
    })
}
