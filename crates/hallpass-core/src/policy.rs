//! Policy evaluation: may this person request through this flow, may that person approve, and
//! does a set of approvals satisfy the flow. Pure functions over a [`Directory`] view.
//! Invariants: a requester never counts as their own approver unless the flow allows it;
//! eligibility is evaluated at decision time, against the directory as it is then.

use std::collections::BTreeSet;

use crate::flow::{ApprovalRule, Approver, Flow};
use crate::id::{GroupName, UserId};
use crate::user::User;

/// What policy needs to know about people. The daemon implements it over the store.
pub trait Directory {
    fn user(&self, id: UserId) -> Option<User>;
    fn group_members(&self, group: &GroupName) -> BTreeSet<UserId>;
    fn admins(&self) -> BTreeSet<UserId>;
}

/// May `user` request through `flow`?
pub fn may_request(flow: &Flow, user: &User) -> Result<(), String> {
    if !flow.enabled {
        return Err(format!("flow `{}` is disabled", flow.name));
    }
    if !user.is_active() {
        return Err(format!("{} is not active", user.email));
    }
    let r = &flow.requestors;
    if r.everyone || r.users.contains(&user.id) || r.groups.iter().any(|g| user.groups.contains(g))
    {
        Ok(())
    } else {
        Err(format!(
            "{} is not among the requestors of flow `{}`",
            user.email, flow.name
        ))
    }
}

/// Which approver entries of the flow `approver` satisfies for a request by `requester`.
/// Empty means not an eligible approver.
pub fn satisfied_entries(
    flow: &Flow,
    dir: &dyn Directory,
    requester: &User,
    approver: &User,
) -> Vec<usize> {
    if !approver.is_active() {
        return vec![];
    }
    flow.approval
        .approvers
        .iter()
        .enumerate()
        .filter(|(_, a)| match a {
            Approver::User(u) => *u == approver.id,
            Approver::Group(g) => {
                approver.groups.contains(g) || dir.group_members(g).contains(&approver.id)
            }
            Approver::Manager => requester.manager == Some(approver.id),
            Approver::Admins => approver.is_admin(),
        })
        .map(|(i, _)| i)
        .collect()
}

/// Why `approver` may not decide on a request by `requester`, if they may not.
pub fn may_decide(
    flow: &Flow,
    dir: &dyn Directory,
    requester: &User,
    approver: &User,
) -> Result<(), String> {
    if approver.id == requester.id && !flow.allow_self_approval {
        return Err(
            "you cannot approve your own request (flow does not allow self-approval)".into(),
        );
    }
    if satisfied_entries(flow, dir, requester, approver).is_empty() {
        return Err(format!(
            "you are not an approver of flow `{}` for this request",
            flow.name
        ));
    }
    Ok(())
}

/// Is the set of approvals (by user) enough for the flow? Only approvals from users who are
/// eligible now count; a self-approval counts only when the flow allows it.
pub fn approval_satisfied(
    flow: &Flow,
    dir: &dyn Directory,
    requester: &User,
    approvals: &[UserId],
) -> bool {
    let eligible: Vec<(UserId, Vec<usize>)> = approvals
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|id| **id != requester.id || flow.allow_self_approval)
        .filter_map(|id| dir.user(*id))
        .map(|u| (u.id, satisfied_entries(flow, dir, requester, &u)))
        .filter(|(_, e)| !e.is_empty())
        .collect();
    match flow.approval.rule {
        ApprovalRule::Auto => true,
        ApprovalRule::AnyOf => !eligible.is_empty(),
        ApprovalRule::Quorum(n) => eligible.len() >= n as usize,
        ApprovalRule::AllOf => {
            let covered: BTreeSet<usize> = eligible
                .iter()
                .flat_map(|(_, e)| e.iter().copied())
                .collect();
            (0..flow.approval.approvers.len()).all(|i| covered.contains(&i))
        }
    }
}

/// Everyone who could approve a request by `requester` right now (for routing and display).
pub fn possible_approvers(flow: &Flow, dir: &dyn Directory, requester: &User) -> BTreeSet<UserId> {
    let mut out = BTreeSet::new();
    for a in &flow.approval.approvers {
        match a {
            Approver::User(u) => {
                out.insert(*u);
            }
            Approver::Group(g) => out.extend(dir.group_members(g)),
            Approver::Manager => out.extend(requester.manager),
            Approver::Admins => out.extend(dir.admins()),
        }
    }
    if !flow.allow_self_approval {
        out.remove(&requester.id);
    }
    out.retain(|id| dir.user(*id).is_some_and(|u| u.is_active()));
    out
}
