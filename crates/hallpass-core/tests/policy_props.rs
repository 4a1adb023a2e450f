//! Property tests of approval policy with an in-memory directory and a manual clock: no request is
//! Approved without its flow's threshold, and a requester never approves their own request unless
//! the flow allows it. The expected verdicts come from an oracle written here from the rules'
//! documentation, not from `policy`.

mod fixture;

use std::collections::BTreeSet;
use std::time::Duration;

use fixture::{MemDirectory, REQUEST, T0, flow, group, pending_request, secs, user};
use hallpass_core::flow::{ApprovalRule, Approver, Flow};
use hallpass_core::policy::{approval_satisfied, may_decide, possible_approvers};
use hallpass_core::request::{Decision, RequestStatus};
use hallpass_core::user::{Role, User, UserStatus};
use hallpass_core::{Clock, DomainError, ManualClock, UserId};
use proptest::prelude::*;

/// People in the directory are `U-1..=U-PEOPLE`; `U-UNKNOWN` is named in flows but unknown.
const PEOPLE: u64 = 6;
const UNKNOWN: u64 = PEOPLE + 1;
const GROUPS: [&str; 3] = ["sre", "dba", "oncall"];

fn person(id: u64) -> impl Strategy<Value = User> {
    (
        prop_oneof![Just(Role::Admin), Just(Role::Grantee), Just(Role::Auditor)],
        prop_oneof![
            4 => Just(UserStatus::Active),
            1 => Just(UserStatus::Invited),
            1 => Just(UserStatus::Deleted),
        ],
        proptest::option::of(1..=UNKNOWN),
        proptest::collection::btree_set(0..GROUPS.len(), 0..=GROUPS.len()),
    )
        .prop_map(move |(role, status, manager, groups)| {
            let mut u = user(id, role);
            u.status = status;
            u.manager = manager.map(UserId);
            u.groups = groups.into_iter().map(|g| group(GROUPS[g])).collect();
            u
        })
}

fn directory() -> impl Strategy<Value = MemDirectory> {
    (1..=PEOPLE)
        .map(person)
        .collect::<Vec<_>>()
        .prop_map(MemDirectory::new)
}

fn approver() -> impl Strategy<Value = Approver> {
    prop_oneof![
        (1..=UNKNOWN).prop_map(|id| Approver::User(UserId(id))),
        (0..GROUPS.len()).prop_map(|g| Approver::Group(group(GROUPS[g]))),
        Just(Approver::Manager),
        Just(Approver::Admins),
    ]
}

fn human_rule() -> impl Strategy<Value = ApprovalRule> {
    prop_oneof![
        Just(ApprovalRule::AnyOf),
        Just(ApprovalRule::AllOf),
        (1u32..=4).prop_map(ApprovalRule::Quorum),
    ]
}

/// Flows as admins might write them, valid or not: policy must be safe either way.
fn any_flow(rule: impl Strategy<Value = ApprovalRule>) -> impl Strategy<Value = Flow> {
    (
        rule,
        proptest::collection::vec(approver(), 0..5),
        any::<bool>(),
    )
        .prop_map(|(rule, approvers, allow_self)| {
            let mut f = flow(rule, approvers);
            f.allow_self_approval = allow_self;
            f
        })
}

/// The rules as documented on `ApprovalRule` and `Approver`, from first principles.
struct Oracle<'a> {
    flow: &'a Flow,
    dir: &'a MemDirectory,
    requester: &'a User,
}

impl Oracle<'_> {
    /// The approver entries `id` satisfies, or none when their approval must not count.
    fn entries(&self, id: UserId) -> BTreeSet<usize> {
        let Some(u) = self.dir.users.get(&id) else {
            return BTreeSet::new();
        };
        if u.status != UserStatus::Active
            || (id == self.requester.id && !self.flow.allow_self_approval)
        {
            return BTreeSet::new();
        }
        let covers = |a: &Approver| match a {
            Approver::User(x) => *x == id,
            Approver::Group(g) => u.groups.contains(g),
            Approver::Manager => self.requester.manager == Some(id),
            Approver::Admins => u.role == Role::Admin,
        };
        (0..self.flow.approval.approvers.len())
            .filter(|i| covers(&self.flow.approval.approvers[*i]))
            .collect()
    }

    fn eligible(&self, approvals: &[UserId]) -> Vec<(UserId, BTreeSet<usize>)> {
        let distinct: BTreeSet<UserId> = approvals.iter().copied().collect();
        distinct
            .into_iter()
            .map(|id| (id, self.entries(id)))
            .filter(|(_, e)| !e.is_empty())
            .collect()
    }

    fn satisfied(&self, approvals: &[UserId]) -> bool {
        let eligible = self.eligible(approvals);
        match self.flow.approval.rule {
            ApprovalRule::Auto => true,
            ApprovalRule::AnyOf => !eligible.is_empty(),
            ApprovalRule::Quorum(n) => eligible.len() >= n as usize,
            ApprovalRule::AllOf => (0..self.flow.approval.approvers.len())
                .all(|i| eligible.iter().any(|(_, e)| e.contains(&i))),
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// Someone tries to approve (the daemon checks `may_decide` first).
    Approve(UserId),
    /// Time passes on the manual clock.
    Advance(Duration),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1..=UNKNOWN).prop_map(|id| Step::Approve(UserId(id))),
        1 => (0u64..=1200).prop_map(|s| Step::Advance(secs(s))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Random flows, people and approval attempts, run the way the daemon runs them: time out
    /// an overdue request, ask `may_decide`, then record with `threshold_met` from policy.
    #[test]
    fn approved_only_when_the_flow_is_satisfied(
        dir in directory(),
        f in any_flow(prop_oneof![1 => Just(ApprovalRule::Auto), 6 => human_rule()]),
        requester_id in 1..=PEOPLE,
        steps in proptest::collection::vec(step(), 0..24),
    ) {
        let requester = dir.users[&UserId(requester_id)].clone();
        let oracle = Oracle { flow: &f, dir: &dir, requester: &requester };
        let clock = ManualClock::new(T0);
        let mut req = pending_request();
        req.requester = requester.id;
        req.pending_until = clock.now().plus(f.pending_ttl);
        if f.approval.rule == ApprovalRule::Auto {
            req.auto_approve(clock.now()).expect("a new request is pending");
        }

        for s in steps {
            let id = match s {
                Step::Advance(d) => {
                    clock.advance(d);
                    continue;
                }
                Step::Approve(id) => id,
            };
            let now = clock.now();
            if req.is_overdue(now) {
                req.time_out(now).expect("an overdue pending request times out");
            }
            let Some(approver) = dir.users.get(&id) else {
                continue; // unknown people are refused before policy is asked
            };
            let verdict = may_decide(&f, &dir, &requester, approver);
            prop_assert_eq!(
                verdict.is_ok(),
                !oracle.entries(id).is_empty(),
                "may_decide for {} said {:?}", id, verdict
            );
            if id == requester.id && !f.allow_self_approval {
                prop_assert!(verdict.is_err(), "the requester may decide on their own request");
            }
            if verdict.is_err() {
                continue;
            }

            let before = req.clone();
            let mut ids: Vec<UserId> = req.approvals.iter().map(|d| d.by).collect();
            ids.push(id);
            let threshold_met = approval_satisfied(&f, &dir, &requester, &ids);
            let result = req.approve(Decision { by: id, at: now, reason: None }, threshold_met);
            if before.status != RequestStatus::Pending {
                match result {
                    Err(DomainError::InvalidTransition { from, .. }) => {
                        prop_assert_eq!(from, before.status.as_str());
                    }
                    other => prop_assert!(false, "approve on {}: {:?}", before.status, other),
                }
                prop_assert_eq!(&req, &before);
            } else if before.approvals.iter().any(|d| d.by == id) {
                prop_assert!(
                    matches!(result, Err(DomainError::Conflict { .. })),
                    "duplicate approval by {}: {:?}", id, result
                );
                prop_assert_eq!(&req, &before);
            } else {
                result.expect("a first approval on a pending request");
                prop_assert_eq!(req.status == RequestStatus::Approved, threshold_met);
                prop_assert_eq!(req.closed_at, threshold_met.then_some(now));
            }
        }

        let approvals: Vec<UserId> = req.approvals.iter().map(|d| d.by).collect();
        let distinct: BTreeSet<UserId> = approvals.iter().copied().collect();
        prop_assert_eq!(distinct.len(), approvals.len(), "one approval per approver");
        for a in &approvals {
            prop_assert!(!oracle.entries(*a).is_empty(), "{} approved but is not eligible", a);
        }
        if !f.allow_self_approval {
            prop_assert!(!approvals.contains(&requester.id), "self-approval recorded");
        }
        if f.approval.rule == ApprovalRule::Auto {
            prop_assert!(approvals.is_empty());
            prop_assert_eq!(req.status, RequestStatus::Approved);
        }

        let satisfied = approval_satisfied(&f, &dir, &requester, &approvals);
        if req.status == RequestStatus::Approved {
            prop_assert!(satisfied, "approved with {:?} under {}", approvals, f.approval.rule);
            let eligible = oracle.eligible(&approvals);
            match f.approval.rule {
                ApprovalRule::Auto => {}
                ApprovalRule::AnyOf => prop_assert!(!eligible.is_empty()),
                ApprovalRule::Quorum(n) => prop_assert!(
                    eligible.len() >= n as usize,
                    "quorum {} approved by {} eligible: {:?}", n, eligible.len(), eligible
                ),
                ApprovalRule::AllOf => {
                    for (i, entry) in f.approval.approvers.iter().enumerate() {
                        prop_assert!(
                            eligible.iter().any(|(_, e)| e.contains(&i)),
                            "all-of approved but `{}` is not covered by {:?}", entry, eligible
                        );
                    }
                }
            }
        } else if req.status == RequestStatus::Pending && !approvals.is_empty() {
            // Approvals only add up, so the last one would have met the threshold.
            prop_assert!(!satisfied, "threshold met but still pending");
        }
        if req.status == RequestStatus::TimedOut {
            prop_assert!(req.closed_at.expect("closed") >= req.pending_until);
        }
        prop_assert_eq!(req.id, REQUEST);
    }

    /// `approval_satisfied` agrees with the documented rules for any set of approvals, counts no
    /// self-approval unless allowed, and ignores duplicates and unknown or inactive people.
    #[test]
    fn approval_satisfied_follows_the_rules_and_ignores_the_requester(
        dir in directory(),
        f in any_flow(prop_oneof![1 => Just(ApprovalRule::Auto), 6 => human_rule()]),
        requester_id in 1..=PEOPLE,
        approvals in proptest::collection::vec((1..=UNKNOWN).prop_map(UserId), 0..10),
    ) {
        let requester = dir.users[&UserId(requester_id)].clone();
        let oracle = Oracle { flow: &f, dir: &dir, requester: &requester };
        let verdict = approval_satisfied(&f, &dir, &requester, &approvals);
        prop_assert_eq!(verdict, oracle.satisfied(&approvals));

        let mut with_self = approvals.clone();
        with_self.push(requester.id);
        if !f.allow_self_approval {
            prop_assert_eq!(
                approval_satisfied(&f, &dir, &requester, &with_self),
                verdict,
                "the requester's own approval changed the verdict"
            );
            prop_assert!(may_decide(&f, &dir, &requester, &requester).is_err());
            prop_assert!(!possible_approvers(&f, &dir, &requester).contains(&requester.id));
        }
        let doubled: Vec<UserId> = approvals.iter().chain(&approvals).copied().collect();
        prop_assert_eq!(approval_satisfied(&f, &dir, &requester, &doubled), verdict);
    }

    /// Everyone routed a request as a possible approver may decide on it, and nobody else may.
    #[test]
    fn possible_approvers_are_exactly_those_who_may_decide(
        dir in directory(),
        f in any_flow(human_rule()),
        requester_id in 1..=PEOPLE,
    ) {
        let requester = dir.users[&UserId(requester_id)].clone();
        let routed = possible_approvers(&f, &dir, &requester);
        let may: BTreeSet<UserId> = dir
            .users
            .values()
            .filter(|u| may_decide(&f, &dir, &requester, u).is_ok())
            .map(|u| u.id)
            .collect();
        prop_assert_eq!(routed, may);
    }
}

#[test]
fn self_approval_counts_only_when_the_flow_allows_it() {
    let mut requester = user(1, Role::Admin);
    requester.manager = Some(UserId(1));
    let dir = MemDirectory::new([requester.clone(), user(2, Role::Grantee)]);
    for approvers in [
        vec![Approver::User(UserId(1))],
        vec![Approver::Admins],
        vec![Approver::Manager],
    ] {
        let mut f = flow(ApprovalRule::AnyOf, approvers.clone());
        assert!(
            may_decide(&f, &dir, &requester, &requester).is_err(),
            "{approvers:?}"
        );
        assert!(!approval_satisfied(&f, &dir, &requester, &[UserId(1)]));
        f.allow_self_approval = true;
        may_decide(&f, &dir, &requester, &requester)
            .unwrap_or_else(|e| panic!("{approvers:?} with self-approval allowed: {e}"));
        assert!(approval_satisfied(&f, &dir, &requester, &[UserId(1)]));
    }
}
