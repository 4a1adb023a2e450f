//! Table tests of every request transition: Pending → Approved | Rejected | Cancelled | TimedOut,
//! and the refusal of every action from every terminal state.

mod fixture;

use fixture::{REQUEST, REQUESTER, T0, assert_invalid_transition, ms, pending_request, secs};
use hallpass_core::request::{Decision, Request, RequestStatus};
use hallpass_core::{DomainError, Timestamp, UserId};

const APPROVER: UserId = UserId(2);
const OTHER_APPROVER: UserId = UserId(3);
const ADMIN: UserId = UserId(9);

fn decision(by: UserId, at: Timestamp) -> Decision {
    Decision {
        by,
        at,
        reason: Some("looks fine".into()),
    }
}

/// Every action a request accepts, as data, with the name its refusal uses.
#[derive(Clone, Debug)]
enum Action {
    Approve { by: UserId, threshold_met: bool },
    AutoApprove,
    Reject { by: UserId },
    Cancel { by: UserId },
    TimeOut { at: Timestamp },
}

impl Action {
    fn apply(&self, r: &mut Request, now: Timestamp) -> Result<(), DomainError> {
        match self {
            Action::Approve { by, threshold_met } => r.approve(decision(*by, now), *threshold_met),
            Action::AutoApprove => r.auto_approve(now),
            Action::Reject { by } => r.reject(decision(*by, now)),
            Action::Cancel { by } => r.cancel(*by, now),
            Action::TimeOut { at } => r.time_out(*at),
        }
    }

    fn refusal_name(&self) -> &'static str {
        match self {
            Action::Approve { .. } | Action::AutoApprove => "approve",
            Action::Reject { .. } => "reject",
            Action::Cancel { .. } => "cancel",
            Action::TimeOut { .. } => "time out",
        }
    }
}

fn all_actions() -> Vec<Action> {
    let overdue = T0.plus(secs(2 * 3600));
    vec![
        Action::Approve {
            by: APPROVER,
            threshold_met: true,
        },
        Action::Approve {
            by: OTHER_APPROVER,
            threshold_met: false,
        },
        Action::AutoApprove,
        Action::Reject { by: APPROVER },
        Action::Cancel { by: REQUESTER },
        Action::TimeOut { at: overdue },
    ]
}

#[test]
fn pending_moves_to_each_outcome() {
    let now = T0.plus(secs(60));
    let deadline = pending_request().pending_until;
    // (action, the status after it, closed_at after it)
    let table: Vec<(Action, RequestStatus, Option<Timestamp>)> = vec![
        (
            Action::Approve {
                by: APPROVER,
                threshold_met: true,
            },
            RequestStatus::Approved,
            Some(now),
        ),
        (
            Action::Approve {
                by: APPROVER,
                threshold_met: false,
            },
            RequestStatus::Pending,
            None,
        ),
        (Action::AutoApprove, RequestStatus::Approved, Some(now)),
        (
            Action::Reject { by: APPROVER },
            RequestStatus::Rejected,
            Some(now),
        ),
        (
            Action::Cancel { by: REQUESTER },
            RequestStatus::Cancelled,
            Some(now),
        ),
        (
            Action::Cancel { by: ADMIN },
            RequestStatus::Cancelled,
            Some(now),
        ),
        (
            Action::TimeOut { at: deadline },
            RequestStatus::TimedOut,
            Some(deadline),
        ),
        (
            Action::TimeOut {
                at: deadline.plus(secs(3600)),
            },
            RequestStatus::TimedOut,
            Some(deadline.plus(secs(3600))),
        ),
    ];
    for (action, status, closed_at) in table {
        let mut r = pending_request();
        action
            .apply(&mut r, now)
            .unwrap_or_else(|e| panic!("{action:?} from pending: {e}"));
        assert_eq!(r.status, status, "{action:?}");
        assert_eq!(r.closed_at, closed_at, "{action:?}");
        assert_eq!(r.status.is_terminal(), closed_at.is_some(), "{action:?}");

        // What each outcome records besides its status.
        match &action {
            Action::Approve { by, .. } => {
                assert_eq!(r.approvals, vec![decision(*by, now)], "{action:?}");
                assert_eq!(r.rejection, None);
            }
            Action::Reject { by } => {
                assert_eq!(r.rejection, Some(decision(*by, now)));
                assert!(r.approvals.is_empty());
            }
            Action::Cancel { by } => assert_eq!(r.cancelled_by, Some(*by)),
            Action::AutoApprove | Action::TimeOut { .. } => {
                assert!(r.approvals.is_empty(), "{action:?}");
                assert_eq!(r.rejection, None, "{action:?}");
                assert_eq!(r.cancelled_by, None, "{action:?}");
            }
        }
    }
}

/// Reaches `status` through real transitions, never by setting the field.
fn request_in(status: RequestStatus) -> Request {
    let mut r = pending_request();
    let now = T0.plus(secs(60));
    let reached = match status {
        RequestStatus::Pending => Ok(()),
        RequestStatus::Approved => r.approve(decision(APPROVER, now), true),
        RequestStatus::Rejected => r.reject(decision(APPROVER, now)),
        RequestStatus::Cancelled => r.cancel(REQUESTER, now),
        RequestStatus::TimedOut => r.time_out(r.pending_until),
    };
    reached.unwrap_or_else(|e| panic!("reaching {status}: {e}"));
    assert_eq!(r.status, status);
    r
}

#[test]
fn every_action_from_every_terminal_state_is_an_invalid_transition_naming_the_state() {
    let terminal = [
        (RequestStatus::Approved, "approved"),
        (RequestStatus::Rejected, "rejected"),
        (RequestStatus::Cancelled, "cancelled"),
        (RequestStatus::TimedOut, "timed_out"),
    ];
    for (status, name) in terminal {
        assert!(status.is_terminal());
        for action in all_actions() {
            let mut r = request_in(status);
            let before = r.clone();
            let result = action.apply(&mut r, T0.plus(secs(120)));
            assert_invalid_transition(
                result.clone(),
                &format!("request {REQUEST}"),
                name,
                action.refusal_name(),
            );
            let msg = result.expect_err("refused above").to_string();
            assert!(msg.contains(name) && msg.contains("HP-1042"), "{msg}");
            assert_eq!(r, before, "{action:?} from {status} changed the request");
        }
    }
}

#[test]
fn a_second_approval_by_the_same_person_is_a_conflict() {
    let mut r = pending_request();
    r.approve(decision(APPROVER, T0.plus(secs(1))), false)
        .expect("first approval");
    let before = r.clone();
    // Even if the caller claims the threshold is now met, the duplicate is not recorded.
    for threshold_met in [false, true] {
        let err = r
            .approve(decision(APPROVER, T0.plus(secs(2))), threshold_met)
            .expect_err("duplicate approval");
        match &err {
            DomainError::Conflict { why } => assert!(why.contains("HP-1042"), "{why}"),
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert_eq!(r, before);
    }
    // A different approver is still welcome.
    r.approve(decision(OTHER_APPROVER, T0.plus(secs(3))), true)
        .expect("second approver");
    assert_eq!(r.status, RequestStatus::Approved);
    let by: Vec<UserId> = r.approvals.iter().map(|d| d.by).collect();
    assert_eq!(by, vec![APPROVER, OTHER_APPROVER]);
}

#[test]
fn approvals_below_threshold_accumulate_while_pending() {
    let mut r = pending_request();
    for (i, by) in [2, 3, 4].map(UserId).into_iter().enumerate() {
        r.approve(decision(by, T0.plus(secs(i as u64))), false)
            .expect("below threshold");
        assert_eq!(r.status, RequestStatus::Pending);
        assert_eq!(r.closed_at, None);
        assert_eq!(r.approvals.len(), i + 1);
    }
    r.reject(decision(UserId(5), T0.plus(secs(10))))
        .expect("a rejection ends a partly approved request");
    assert_eq!(r.status, RequestStatus::Rejected);
}

#[test]
fn time_out_before_pending_until_is_refused() {
    let deadline = pending_request().pending_until;
    for early in [T0, deadline.minus(secs(60)), deadline.minus(ms(1))] {
        let mut r = pending_request();
        let before = r.clone();
        match r.time_out(early) {
            Err(DomainError::Conflict { why }) => {
                assert!(why.contains("HP-1042"), "{why}");
                assert!(why.contains(&deadline.to_string()), "{why}");
            }
            other => panic!("time_out at {early:?} (deadline {deadline:?}): {other:?}"),
        }
        assert_eq!(r, before);
        assert!(!r.is_overdue(early));
    }
    let mut r = pending_request();
    assert!(r.is_overdue(deadline));
    r.time_out(deadline).expect("at the deadline");
    assert_eq!(r.status, RequestStatus::TimedOut);
}

#[test]
fn only_a_pending_request_is_ever_overdue() {
    let late = T0.plus(secs(10 * 3600));
    for status in [
        RequestStatus::Approved,
        RequestStatus::Rejected,
        RequestStatus::Cancelled,
        RequestStatus::TimedOut,
    ] {
        assert!(!request_in(status).is_overdue(late), "{status}");
    }
    assert!(request_in(RequestStatus::Pending).is_overdue(late));
}
