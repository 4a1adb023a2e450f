//! Flows and policy: arbitrary text as a `Flow` (JSON, as on the wire; TOML) and as a policy
//! document (`hallpass_core::policy_doc::PolicyDoc`, TOML), then policy evaluation against a
//! small directory the first 8 input bytes describe.
//!
//! Checks: nothing panics; a flow that validates survives a JSON round trip, resolves
//! durations within its bounds, and policy evaluation holds its invariants (a requester never
//! approves their own request unless the flow allows it; more approvals never un-satisfy a
//! request; `may_decide` and `possible_approvers` agree; any-of is satisfied exactly by one
//! eligible approval; a human rule is never satisfied by no approvals). A policy document that
//! passes `check` survives a TOML round trip of its normalized form and plans no change
//! against itself.
#![no_main]

use std::collections::BTreeSet;
use std::time::Duration;

use hallpass_core::flow::{ApprovalRule, Approver, Flow};
use hallpass_core::policy::{
    Directory, approval_satisfied, may_decide, may_request, possible_approvers,
};
use hallpass_core::policy_doc::PolicyDoc;
use hallpass_core::user::{Role, User, UserStatus};
use hallpass_core::{GroupName, Timestamp, UserId};
use libfuzzer_sys::fuzz_target;

const USERS: u64 = 4;

struct Dir(Vec<User>);

impl Directory for Dir {
    fn user(&self, id: UserId) -> Option<User> {
        self.0.iter().find(|u| u.id == id).cloned()
    }
    fn group_members(&self, group: &GroupName) -> BTreeSet<UserId> {
        self.0
            .iter()
            .filter(|u| u.groups.contains(group))
            .map(|u| u.id)
            .collect()
    }
    fn admins(&self) -> BTreeSet<UserId> {
        self.0
            .iter()
            .filter(|u| u.is_admin())
            .map(|u| u.id)
            .collect()
    }
}

/// Users 1..=4, each described by one byte: role, status, manager, membership of the first two
/// groups the flow names.
fn directory(flow: &Flow, scenario: &[u8; 8]) -> Dir {
    let mut groups: Vec<GroupName> = flow.requestors.groups.clone();
    groups.extend(flow.approval.approvers.iter().filter_map(|a| match a {
        Approver::Group(g) => Some(g.clone()),
        _ => None,
    }));
    groups.dedup();
    let users = (1..=USERS)
        .map(|id| {
            let b = scenario[id as usize - 1];
            User {
                id: UserId(id),
                email: format!("u{id}@example.com"),
                name: format!("User {id}"),
                phone: None,
                role: [Role::Admin, Role::Grantee, Role::Auditor, Role::External]
                    [usize::from(b & 3)],
                status: [UserStatus::Active, UserStatus::Invited][usize::from((b >> 2) & 1)],
                os: None,
                manager: match (b >> 3) & 7 {
                    m @ 1..=4 => Some(UserId(u64::from(m))),
                    _ => None,
                },
                groups: groups
                    .iter()
                    .take(2)
                    .enumerate()
                    .filter(|(i, _)| b & (0x40 << i) != 0)
                    .map(|(_, g)| g.clone())
                    .collect(),
                created_at: Timestamp(0),
                ssh_keys: vec![],
            }
        })
        .collect();
    Dir(users)
}

fn check_flow(flow: &Flow, scenario: &[u8; 8]) {
    let json = serde_json::to_string(flow).expect("serializes");
    let back: Flow =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not parse back: {e}"));
    assert_eq!(&back, flow);

    let max = flow.max_duration;
    assert_eq!(
        flow.resolve_duration(None).ok(),
        Some(flow.default_duration)
    );
    assert!(flow.default_duration <= max);
    assert_eq!(flow.resolve_duration(Some(max)).ok(), Some(max));
    assert!(
        flow.resolve_duration(Some(max + Duration::from_secs(1)))
            .is_err()
    );
    assert!(flow.resolve_duration(Some(Duration::ZERO)).is_err());

    let dir = directory(flow, scenario);
    let requester = &dir.0[usize::from(scenario[4]) % dir.0.len()];
    let _ = may_request(flow, requester);
    let possible = possible_approvers(flow, &dir, requester);
    for u in &dir.0 {
        let may = may_decide(flow, &dir, requester, u).is_ok();
        assert_eq!(
            may,
            possible.contains(&u.id),
            "may_decide and possible_approvers disagree on {:?}",
            u.id
        );
    }
    if !flow.allow_self_approval {
        assert!(may_decide(flow, &dir, requester, requester).is_err());
        assert!(!possible.contains(&requester.id));
    }

    // Approvals: a subset of the users (and an unknown id), from the scenario.
    let approvals: Vec<UserId> = (1..=USERS + 1)
        .filter(|i| scenario[5] & (1 << i) != 0)
        .map(UserId)
        .collect();
    let ok = approval_satisfied(flow, &dir, requester, &approvals);
    match flow.approval.rule {
        ApprovalRule::Auto => assert!(ok),
        rule => {
            assert!(
                !approval_satisfied(flow, &dir, requester, &[]),
                "{rule} satisfied without approvals"
            );
        }
    }
    for extra in 1..=USERS + 1 {
        let mut more = approvals.clone();
        more.push(UserId(extra));
        if ok {
            assert!(approval_satisfied(flow, &dir, requester, &more));
        }
    }
    if !flow.allow_self_approval {
        let without: Vec<UserId> = approvals
            .iter()
            .copied()
            .filter(|a| *a != requester.id)
            .collect();
        let mut with = without.clone();
        with.push(requester.id);
        assert_eq!(
            approval_satisfied(flow, &dir, requester, &without),
            approval_satisfied(flow, &dir, requester, &with),
            "a self-approval changed the outcome"
        );
    }
    if flow.approval.rule == ApprovalRule::AnyOf {
        let any_eligible = approvals.iter().any(|a| {
            dir.user(*a)
                .is_some_and(|u| may_decide(flow, &dir, requester, &u).is_ok())
        });
        assert_eq!(ok, any_eligible);
    }
}

fn check_doc(text: &str, scenario: &[u8; 8]) {
    let Ok(doc) = toml::from_str::<PolicyDoc>(text) else {
        return;
    };
    let _ = doc.check_references();
    if doc.check().is_err() {
        return;
    }
    for f in &doc.flows {
        check_flow(f, scenario);
    }
    let normal = doc.clone().normalized();
    let exported = toml::to_string(&normal).expect("a checked policy serializes as TOML");
    let again: PolicyDoc = toml::from_str(&exported)
        .unwrap_or_else(|e| panic!("exported policy does not parse back: {e}\n{exported}"));
    assert_eq!(again, normal, "{exported}");
    assert!(again.check().is_ok());
    let plan = doc.plan_to(&doc, true);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(doc.end_state(&doc, true).normalized(), normal);
}

fuzz_target!(|data: &[u8]| {
    let Some((scenario, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(flow) = serde_json::from_str::<Flow>(text)
        && flow.validate().is_ok()
    {
        check_flow(&flow, scenario);
    }
    if let Ok(flow) = toml::from_str::<Flow>(text)
        && flow.validate().is_ok()
    {
        check_flow(&flow, scenario);
    }
    check_doc(text, scenario);
});
