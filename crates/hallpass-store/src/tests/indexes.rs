//! After random writes (users, requests and grants moved through random states and times, some
//! writes failing), every index equals a recomputation from the records, written here
//! independently of `index.rs`, and the query methods agree with a model.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use hallpass_core::grant::{Grant, GrantStatus};
use hallpass_core::request::{Request, RequestStatus};
use hallpass_core::user::{OsAccount, Role, User, UserStatus};
use hallpass_core::{GrantId, RequestId, Timestamp, UserId};

use super::{grant, request, target, user};
use crate::backend::Table;
use crate::deadline::Due;
use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

const TARGETS: [&str; 3] = ["pg/orders/read", "pg/orders/write", "pg/order/read"];
const ROLES: [Role; 4] = [Role::Admin, Role::Grantee, Role::Auditor, Role::External];
const USER_STATUSES: [UserStatus; 3] =
    [UserStatus::Invited, UserStatus::Active, UserStatus::Deleted];
const REQUEST_STATUSES: [RequestStatus; 5] = [
    RequestStatus::Pending,
    RequestStatus::Approved,
    RequestStatus::Rejected,
    RequestStatus::Cancelled,
    RequestStatus::TimedOut,
];
const GRANT_STATUSES: [GrantStatus; 7] = [
    GrantStatus::Granting,
    GrantStatus::Active,
    GrantStatus::Revoking,
    GrantStatus::RevokeFailed,
    GrantStatus::Expired,
    GrantStatus::Revoked,
    GrantStatus::Failed,
];

/// One upsert; `slot` picks the record so later steps update earlier ones.
#[derive(Clone, Debug)]
enum Step {
    User {
        slot: u64,
        variant: u64,
        role: usize,
        status: usize,
        bound: bool,
    },
    Request {
        slot: u64,
        requester: u64,
        status: usize,
        pending_until: i64,
    },
    Grant {
        slot: u64,
        user: u64,
        target: usize,
        status: usize,
        expires_at: Option<i64>,
        next_attempt_at: Option<i64>,
        next_warning_at: Option<i64>,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let slot = 0u64..5;
    let time = -3i64..4;
    prop_oneof![
        (
            slot.clone(),
            0u64..3,
            0..ROLES.len(),
            0..USER_STATUSES.len(),
            any::<bool>()
        )
            .prop_map(|(slot, variant, role, status, bound)| Step::User {
                slot,
                variant,
                role,
                status,
                bound
            }),
        (
            slot.clone(),
            0u64..3,
            0..REQUEST_STATUSES.len(),
            time.clone()
        )
            .prop_map(|(slot, requester, status, pending_until)| Step::Request {
                slot,
                requester,
                status,
                pending_until
            }),
        (
            slot,
            0u64..3,
            0..TARGETS.len(),
            0..GRANT_STATUSES.len(),
            proptest::option::of(time.clone()),
            proptest::option::of(time.clone()),
            proptest::option::of(time),
        )
            .prop_map(
                |(slot, user, target, status, expires_at, next_attempt_at, next_warning_at)| {
                    Step::Grant {
                        slot,
                        user,
                        target,
                        status,
                        expires_at,
                        next_attempt_at,
                        next_warning_at,
                    }
                }
            ),
    ]
}

/// The records the store should hold.
#[derive(Default)]
struct Model {
    users: BTreeMap<u64, User>,
    requests: BTreeMap<u64, Request>,
    grants: BTreeMap<u64, Grant>,
}

impl Model {
    /// The record `step` produces from the current one (the store's, read through the txn).
    fn apply(&mut self, step: &Step) {
        match *step {
            Step::User {
                slot,
                variant,
                role,
                status,
                bound,
            } => {
                let id = slot + 1;
                let mut u = self
                    .users
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| user(id, "x@example.com"));
                // E-mails and uids are unique per user: only the variant changes.
                u.email = format!("u{id}-{variant}@example.com");
                u.role = ROLES[role];
                u.status = USER_STATUSES[status];
                u.os = bound.then(|| OsAccount {
                    uid: (id * 10 + variant) as u32,
                    name: None,
                });
                self.users.insert(id, u);
            }
            Step::Request {
                slot,
                requester,
                status,
                pending_until,
            } => {
                let id = 1001 + slot;
                let mut r = self
                    .requests
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| request(id, requester + 1, pending_until));
                r.requester = UserId(requester + 1);
                r.status = REQUEST_STATUSES[status];
                r.pending_until = Timestamp(pending_until);
                self.requests.insert(id, r);
            }
            Step::Grant {
                slot,
                user: u,
                target: t,
                status,
                expires_at,
                next_attempt_at,
                next_warning_at,
            } => {
                let id = 1 + slot;
                let mut g = self
                    .grants
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| grant(id, u + 1, TARGETS[t], 0));
                g.user = UserId(u + 1);
                g.target = target(TARGETS[t]);
                g.status = GRANT_STATUSES[status];
                g.expires_at = expires_at.map(Timestamp);
                g.next_attempt_at = next_attempt_at.map(Timestamp);
                g.next_warning_at = next_warning_at.map(Timestamp);
                self.grants.insert(id, g);
            }
        }
    }
}

type Entries = BTreeSet<(Vec<u8>, Vec<u8>)>;

/// Every index recomputed from the model's records.
fn expected_indexes(m: &Model) -> BTreeMap<Table, Entries> {
    let mut out: BTreeMap<Table, Entries> = BTreeMap::new();
    let mut add = |t: Table, k: Vec<u8>, v: Vec<u8>| {
        out.entry(t).or_default().insert((k, v));
    };
    for u in m.users.values() {
        let id = u.id.0.to_be_bytes().to_vec();
        add(Table::UsersByEmail, u.email.as_bytes().to_vec(), id.clone());
        if let (Some(os), false) = (&u.os, u.status == UserStatus::Deleted) {
            add(Table::UsersByUid, os.uid.to_be_bytes().to_vec(), id.clone());
        }
        if u.status == UserStatus::Active {
            let mut k = vec![keys::role_byte(u.role)];
            k.extend_from_slice(&id);
            add(Table::UsersByRole, k, vec![]);
        }
    }
    for r in m.requests.values() {
        let mut k = r.requester.0.to_be_bytes().to_vec();
        k.extend_from_slice(&r.id.0.to_be_bytes());
        add(Table::RequestsByRequester, k, vec![]);
        if r.status == RequestStatus::Pending {
            add(
                Table::RequestsPending,
                r.id.0.to_be_bytes().to_vec(),
                vec![],
            );
            let k = keys::deadline(r.pending_until, Due::RequestTimeout(r.id));
            add(Table::Deadlines, k.to_vec(), vec![]);
        }
    }
    for g in m.grants.values() {
        let mut k = g.user.0.to_be_bytes().to_vec();
        k.extend_from_slice(&g.id.0.to_be_bytes());
        add(Table::GrantsByUser, k, vec![]);
        if matches!(g.status, GrantStatus::Active | GrantStatus::Granting) {
            let t = g.target.to_string();
            let mut k = g.user.0.to_be_bytes().to_vec();
            k.extend_from_slice(&(t.len() as u16).to_be_bytes());
            k.extend_from_slice(t.as_bytes());
            k.extend_from_slice(&g.id.0.to_be_bytes());
            add(Table::GrantsBySubject, k, vec![]);
        }
        if g.status == GrantStatus::Active
            && let Some(at) = g.expires_at
        {
            add(
                Table::Deadlines,
                keys::deadline(at, Due::GrantExpiry(g.id)).to_vec(),
                vec![],
            );
        }
        if g.status == GrantStatus::Active
            && let Some(at) = g.next_warning_at
        {
            add(
                Table::Deadlines,
                keys::deadline(at, Due::GrantWarning(g.id)).to_vec(),
                vec![],
            );
        }
        if !matches!(
            g.status,
            GrantStatus::Expired | GrantStatus::Revoked | GrantStatus::Failed
        ) && let Some(at) = g.next_attempt_at
        {
            add(
                Table::Work,
                keys::deadline(at, Due::GrantWork(g.id)).to_vec(),
                vec![],
            );
        }
    }
    out
}

fn actual(s: &Store, t: Table) -> Entries {
    s.backend()
        .scan(t, &[], None, false)
        .collect::<Result<_, _>>()
        .expect("scan")
}

fn check(s: &Store, m: &Model) -> Result<(), TestCaseError> {
    // Records.
    for (id, u) in &m.users {
        prop_assert_eq!(s.user(UserId(*id)).unwrap(), Some(u.clone()));
        prop_assert_eq!(s.user_by_email(&u.email).unwrap(), Some(u.clone()));
    }
    prop_assert_eq!(s.user_count().unwrap(), m.users.len() as u64);
    prop_assert_eq!(actual(s, Table::Requests).len(), m.requests.len());
    prop_assert_eq!(actual(s, Table::Grants).len(), m.grants.len());
    for (id, r) in &m.requests {
        prop_assert_eq!(s.request(RequestId(*id)).unwrap(), Some(r.clone()));
    }
    for (id, g) in &m.grants {
        prop_assert_eq!(s.grant(GrantId(*id)).unwrap(), Some(g.clone()));
    }

    // Indexes, table by table.
    let expected = expected_indexes(m);
    for t in [
        Table::UsersByEmail,
        Table::UsersByUid,
        Table::UsersByRole,
        Table::RequestsByRequester,
        Table::RequestsPending,
        Table::GrantsByUser,
        Table::GrantsBySubject,
        Table::Deadlines,
        Table::Work,
    ] {
        let want = expected.get(&t).cloned().unwrap_or_default();
        prop_assert_eq!(actual(s, t), want, "index {}", t.name());
    }

    // Queries built on them.
    let pending: Vec<u64> = m
        .requests
        .values()
        .filter(|r| r.status == RequestStatus::Pending)
        .map(|r| r.id.0)
        .collect();
    let got: Vec<u64> = s
        .pending_requests()
        .unwrap()
        .iter()
        .map(|r| r.id.0)
        .collect();
    prop_assert_eq!(&got, &pending);
    prop_assert_eq!(s.pending_count().unwrap(), pending.len() as u64);
    for u in 1..=3u64 {
        for t in TARGETS {
            let want: Vec<u64> = m
                .grants
                .values()
                .filter(|g| g.user == UserId(u) && g.target == target(t))
                .filter(|g| matches!(g.status, GrantStatus::Active | GrantStatus::Granting))
                .map(|g| g.id.0)
                .collect();
            let got: Vec<u64> = s
                .grants_covering(UserId(u), &target(t))
                .unwrap()
                .iter()
                .map(|g| g.id.0)
                .collect();
            prop_assert_eq!(got, want);
        }
        let want: Vec<u64> = m
            .requests
            .values()
            .rev()
            .filter(|r| r.requester == UserId(u))
            .map(|r| r.id.0)
            .collect();
        let got: Vec<u64> = s
            .requests_of(UserId(u), None, 100, &|_| true)
            .unwrap()
            .0
            .iter()
            .map(|r| r.id.0)
            .collect();
        prop_assert_eq!(got, want);
    }
    for role in ROLES {
        let want: Vec<u64> = m
            .users
            .values()
            .filter(|u| u.status == UserStatus::Active && u.role == role)
            .map(|u| u.id.0)
            .collect();
        let got: Vec<u64> = s
            .users_with_role(role)
            .unwrap()
            .iter()
            .map(|u| u.id.0)
            .collect();
        prop_assert_eq!(got, want);
    }
    let parsed = |t: Table| -> Vec<(Timestamp, Due)> {
        expected
            .get(&t)
            .into_iter()
            .flatten()
            .map(|(k, _)| keys::parse_deadline(k).expect("deadline key"))
            .collect()
    };
    let deadlines = parsed(Table::Deadlines);
    let work = parsed(Table::Work);
    prop_assert_eq!(
        s.due(Timestamp(i64::MAX), usize::MAX).unwrap(),
        deadlines.clone()
    );
    prop_assert_eq!(
        s.work_due(Timestamp(i64::MAX), usize::MAX).unwrap(),
        work.iter()
            .map(|(_, d)| GrantId(d.id()))
            .collect::<Vec<_>>()
    );
    prop_assert_eq!(
        s.next_deadline().unwrap(),
        deadlines.iter().chain(&work).min().copied()
    );
    let upto_zero: Vec<_> = deadlines
        .iter()
        .copied()
        .filter(|(at, _)| at.0 <= 0)
        .collect();
    prop_assert_eq!(s.due(Timestamp(0), usize::MAX).unwrap(), upto_zero);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn indexes_agree_with_records_after_random_writes(
        batches in proptest::collection::vec(
            (proptest::collection::vec(step(), 1..5), proptest::bool::weighted(0.2)),
            1..12,
        )
    ) {
        let s = Store::open_temporary().unwrap();
        let mut model = Model::default();
        for (steps, fail) in &batches {
            let mut staged = Model {
                users: model.users.clone(),
                requests: model.requests.clone(),
                grants: model.grants.clone(),
            };
            let res = s.write(|t| -> Result<(), StoreError> {
                for st in steps {
                    staged.apply(st);
                    match st {
                        Step::User { slot, .. } => t.put_user(&staged.users[&(slot + 1)])?,
                        Step::Request { slot, .. } => t.put_request(&staged.requests[&(1001 + slot)])?,
                        Step::Grant { slot, .. } => t.put_grant(&staged.grants[&(1 + slot)])?,
                    }
                }
                if *fail {
                    return Err(StoreError::Backend("the test aborts this write".into()));
                }
                Ok(())
            });
            prop_assert_eq!(res.is_err(), *fail);
            if !fail {
                model = staged;
            }
        }
        check(&s, &model)?;
    }
}
