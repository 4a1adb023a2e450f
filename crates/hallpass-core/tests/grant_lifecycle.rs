//! Table tests of every grant transition (Granting → Active → Revoking → Expired | Revoked, with
//! Failed and RevokeFailed), the reader's view `status_at`, and retry backoff.

mod fixture;

use std::time::Duration;

use fixture::{GRANT, HOUR, T0, assert_invalid_transition, granting, ms, secs};
use hallpass_core::grant::{EndReason, Grant, GrantStatus, REVOKE_FAILED_AFTER, backoff};
use hallpass_core::{DomainError, RequestId, Timestamp, UserId};
use proptest::prelude::*;

const ADMIN: UserId = UserId(9);

fn all_reasons() -> Vec<(EndReason, GrantStatus)> {
    vec![
        (EndReason::Expired, GrantStatus::Expired),
        (EndReason::Released, GrantStatus::Revoked),
        (
            EndReason::Revoked {
                by: ADMIN,
                reason: Some("offboarding".into()),
            },
            GrantStatus::Revoked,
        ),
        (
            EndReason::Revoked {
                by: ADMIN,
                reason: None,
            },
            GrantStatus::Revoked,
        ),
        (EndReason::UserDeleted, GrantStatus::Revoked),
    ]
}

#[test]
fn activation_starts_the_access_clock() {
    for (duration, activated_at) in [
        (secs(1), T0),
        (HOUR, T0.plus(secs(5))),
        (secs(90 * 86_400), T0.plus(HOUR)),
    ] {
        let mut g = granting(duration);
        assert_eq!(g.status, GrantStatus::Granting);
        assert_eq!(g.next_attempt_at, Some(T0));
        g.attempts = 2; // two connector attempts failed before this one worked
        g.last_error = Some("timeout".into());
        g.activate(activated_at).expect("granting → active");
        assert_eq!(g.status, GrantStatus::Active);
        assert_eq!(g.activated_at, Some(activated_at));
        assert_eq!(g.expires_at, Some(activated_at.plus(duration)));
        assert_eq!(
            g.expires_at.expect("set").as_millis() - activated_at.as_millis(),
            i64::try_from(duration.as_millis()).expect("small")
        );
        assert_eq!(g.attempts, 0);
        assert_eq!(g.next_attempt_at, None);
        assert_eq!(g.last_error, None);
        assert_eq!(g.remaining(activated_at), Some(duration));
    }
}

#[test]
fn a_failed_grant_is_terminal_and_keeps_the_error() {
    let mut g = granting(HOUR);
    let at = T0.plus(secs(3));
    g.fail("connection refused".into(), at)
        .expect("granting → failed");
    assert_eq!(g.status, GrantStatus::Failed);
    assert!(g.status.is_terminal());
    assert!(!g.status.needs_connector());
    assert_eq!(g.attempts, 1);
    assert_eq!(g.last_error.as_deref(), Some("connection refused"));
    assert_eq!(g.ended_at, Some(at));
    assert_eq!(g.next_attempt_at, None);
    assert_eq!(g.activated_at, None);
    assert_eq!(g.expires_at, None);
}

#[test]
fn active_and_granting_grants_begin_revoking_then_finish_by_reason() {
    for from in [GrantStatus::Active, GrantStatus::Granting] {
        for (reason, final_status) in all_reasons() {
            let mut g = grant_in(from);
            let started = T0.plus(secs(600));
            g.begin_revoke(reason.clone(), started)
                .unwrap_or_else(|e| panic!("{from} → revoking ({reason}): {e}"));
            assert_eq!(g.status, GrantStatus::Revoking);
            assert!(g.status.needs_connector());
            assert_eq!(g.end_reason.as_ref(), Some(&reason));
            assert_eq!(g.attempts, 0);
            assert_eq!(g.next_attempt_at, Some(started));
            assert_eq!(g.status_at(started), GrantStatus::Revoking);

            let ended = started.plus(secs(2));
            g.finish_revoke(ended).expect("revoking → end");
            assert_eq!(g.status, final_status, "{reason}");
            assert_eq!(reason.final_status(), final_status);
            assert!(g.status.is_terminal());
            assert_eq!(g.ended_at, Some(ended));
            assert_eq!(g.next_attempt_at, None);
        }
    }
}

#[test]
fn failed_revocations_count_up_to_revoke_failed_and_can_still_finish() {
    for (reason, final_status) in all_reasons() {
        let mut g = grant_in(GrantStatus::Active);
        g.begin_revoke(reason.clone(), T0.plus(HOUR))
            .expect("active → revoking");
        for attempt in 1..=REVOKE_FAILED_AFTER + 3 {
            let retry_at = T0.plus(HOUR).plus(secs(u64::from(attempt) * 10));
            g.revoke_attempt_failed(format!("error {attempt}"), retry_at)
                .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
            assert_eq!(g.attempts, attempt);
            assert_eq!(g.next_attempt_at, Some(retry_at));
            assert_eq!(g.last_error, Some(format!("error {attempt}")));
            let expected = if attempt < REVOKE_FAILED_AFTER {
                GrantStatus::Revoking
            } else {
                GrantStatus::RevokeFailed
            };
            assert_eq!(g.status, expected, "after {attempt} failures");
            // Never shown as active, never given up on.
            assert_ne!(g.status_at(retry_at), GrantStatus::Active);
            assert!(g.status.needs_connector());
            assert!(!g.status.is_terminal());
        }
        g.finish_revoke(T0.plus(secs(2 * 3600)))
            .expect("a RevokeFailed grant can still finish");
        assert_eq!(g.status, final_status, "{reason}");
        assert_eq!(g.end_reason, Some(reason));
    }
}

#[test]
fn extend_adds_time_only_to_an_active_grant_before_its_deadline() {
    let mut g = grant_in(GrantStatus::Active);
    let deadline = g.expires_at.expect("active grant has a deadline");
    g.extend(HOUR, RequestId(2000), deadline.minus(ms(1)))
        .expect("one millisecond before the deadline");
    assert_eq!(g.expires_at, Some(deadline.plus(HOUR)));
    assert_eq!(g.extensions, vec![RequestId(2000)]);
    g.extend(secs(30), RequestId(2001), T0)
        .expect("well before the deadline");
    assert_eq!(g.expires_at, Some(deadline.plus(HOUR).plus(secs(30))));
    assert_eq!(g.extensions, vec![RequestId(2000), RequestId(2001)]);

    // At and after the (extended) deadline the grant reads as revoking and is not extended.
    let deadline = g.expires_at.expect("still set");
    for late in [deadline, deadline.plus(ms(1)), deadline.plus(HOUR)] {
        let mut h = g.clone();
        let result = h.extend(HOUR, RequestId(2002), late);
        assert_invalid_transition(result, &format!("grant {GRANT}"), "revoking", "extend");
        assert_eq!(h, g, "a refused extension changed the grant");
    }
}

#[test]
fn warnings_fall_at_each_offset_before_the_deadline_and_skip_the_passed_ones() {
    let offsets = [secs(15 * 60), secs(5 * 60)];
    // Activated at T0 for an hour: the 15-minute point comes first, then the 5-minute one.
    let mut g = grant_in(GrantStatus::Active);
    let e = g.expires_at.expect("active grant has a deadline");
    g.schedule_warning(&offsets, T0);
    assert_eq!(g.next_warning_at, Some(e.minus(secs(15 * 60))));
    // After the first warning (the scheduler calls it at the warning point).
    g.schedule_warning(&offsets, e.minus(secs(15 * 60)));
    assert_eq!(g.next_warning_at, Some(e.minus(secs(5 * 60))));
    g.schedule_warning(&offsets, e.minus(secs(5 * 60)));
    assert_eq!(
        g.next_warning_at, None,
        "no warning left after the last offset"
    );
    // A late scheduler (daemon down) skips the points that passed, warning once.
    g.schedule_warning(&offsets, e.minus(secs(6 * 60)));
    assert_eq!(g.next_warning_at, Some(e.minus(secs(5 * 60))));

    // A 10-minute grant never warns "15 minutes left": only the 5-minute point applies.
    let mut short = granting(secs(600));
    short.activate(T0).expect("granting → active");
    short.schedule_warning(&offsets, T0);
    assert_eq!(short.next_warning_at, Some(T0.plus(secs(300))));
    // An offset equal to the whole duration falls at activation: skipped.
    short.schedule_warning(&[secs(600)], T0);
    assert_eq!(short.next_warning_at, None);

    // An extension reschedules from the new deadline.
    g.extend(HOUR, RequestId(2000), e.minus(secs(60)))
        .expect("extend before the deadline");
    g.schedule_warning(&offsets, e.minus(secs(60)));
    assert_eq!(g.next_warning_at, Some(e.plus(HOUR).minus(secs(15 * 60))));

    // Only Active grants warn.
    for s in [
        GrantStatus::Granting,
        GrantStatus::Revoking,
        GrantStatus::Expired,
        GrantStatus::RevokeFailed,
    ] {
        let mut other = grant_in(s);
        other.next_warning_at = Some(T0);
        other.schedule_warning(&offsets, T0);
        assert_eq!(other.next_warning_at, None, "{s}");
    }
}

#[test]
fn status_at_never_reports_active_at_or_after_the_deadline() {
    let g = grant_in(GrantStatus::Active);
    let e = g.expires_at.expect("active grant has a deadline");
    let table = [
        (
            g.activated_at.expect("set"),
            GrantStatus::Active,
            Some(HOUR),
        ),
        (e.minus(ms(1)), GrantStatus::Active, Some(ms(1))),
        (e, GrantStatus::Revoking, None),
        (e.plus(ms(1)), GrantStatus::Revoking, None),
        (e.plus(secs(86_400 * 365)), GrantStatus::Revoking, None),
    ];
    for (now, status, remaining) in table {
        assert_eq!(g.status_at(now), status, "at {now:?} (deadline {e:?})");
        assert_eq!(g.remaining(now), remaining, "at {now:?}");
    }
    // Other states read as themselves whatever the time.
    for s in [
        GrantStatus::Granting,
        GrantStatus::Revoking,
        GrantStatus::RevokeFailed,
        GrantStatus::Expired,
        GrantStatus::Revoked,
        GrantStatus::Failed,
    ] {
        let g = grant_in(s);
        for now in [T0, e, e.plus(HOUR)] {
            assert_eq!(g.status_at(now), s);
            assert_eq!(g.remaining(now), None);
        }
    }
}

/// Reaches `status` through real transitions (activated at T0 for one hour).
fn grant_in(status: GrantStatus) -> Grant {
    let mut g = granting(HOUR);
    reach(&mut g, status).unwrap_or_else(|e| panic!("reaching {status}: {e}"));
    assert_eq!(g.status, status);
    g
}

fn reach(g: &mut Grant, status: GrantStatus) -> Result<(), DomainError> {
    let t = T0.plus(secs(1));
    match status {
        GrantStatus::Granting => Ok(()),
        GrantStatus::Active => g.activate(T0),
        GrantStatus::Failed => g.fail("refused".into(), t),
        GrantStatus::Revoking => {
            g.activate(T0)?;
            g.begin_revoke(EndReason::Released, t)
        }
        GrantStatus::RevokeFailed => {
            reach(g, GrantStatus::Revoking)?;
            for _ in 0..REVOKE_FAILED_AFTER {
                g.revoke_attempt_failed("unreachable".into(), t)?;
            }
            Ok(())
        }
        GrantStatus::Expired => {
            g.activate(T0)?;
            g.begin_revoke(EndReason::Expired, T0.plus(HOUR))?;
            g.finish_revoke(T0.plus(HOUR))
        }
        GrantStatus::Revoked => {
            reach(g, GrantStatus::Revoking)?;
            g.finish_revoke(t)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Activate,
    Fail,
    BeginRevoke,
    FinishRevoke,
    RevokeAttemptFailed,
    Extend,
}

impl Op {
    const ALL: [Op; 6] = [
        Op::Activate,
        Op::Fail,
        Op::BeginRevoke,
        Op::FinishRevoke,
        Op::RevokeAttemptFailed,
        Op::Extend,
    ];

    fn apply(self, g: &mut Grant, now: Timestamp) -> Result<(), DomainError> {
        match self {
            Op::Activate => g.activate(now),
            Op::Fail => g.fail("boom".into(), now),
            Op::BeginRevoke => g.begin_revoke(EndReason::Released, now),
            Op::FinishRevoke => g.finish_revoke(now),
            Op::RevokeAttemptFailed => g.revoke_attempt_failed("boom".into(), now.plus(secs(5))),
            Op::Extend => g.extend(HOUR, RequestId(3000), now),
        }
    }

    fn refusal_name(self) -> &'static str {
        match self {
            Op::Activate => "activate",
            Op::Fail => "fail",
            Op::BeginRevoke => "revoke",
            Op::FinishRevoke => "finish revoking",
            Op::RevokeAttemptFailed => "retry revoking",
            Op::Extend => "extend",
        }
    }

    /// The states this operation is legal from (an Active grant before its deadline).
    fn legal_from(self) -> &'static [GrantStatus] {
        match self {
            Op::Activate | Op::Fail => &[GrantStatus::Granting],
            Op::BeginRevoke => &[GrantStatus::Active, GrantStatus::Granting],
            Op::FinishRevoke | Op::RevokeAttemptFailed => {
                &[GrantStatus::Revoking, GrantStatus::RevokeFailed]
            }
            Op::Extend => &[GrantStatus::Active],
        }
    }
}

#[test]
fn every_illegal_grant_transition_is_refused_naming_the_state() {
    let states = [
        GrantStatus::Granting,
        GrantStatus::Active,
        GrantStatus::Revoking,
        GrantStatus::RevokeFailed,
        GrantStatus::Expired,
        GrantStatus::Revoked,
        GrantStatus::Failed,
    ];
    let now = T0.plus(secs(60)); // before the one-hour deadline
    let mut legal = 0;
    for from in states {
        for op in Op::ALL {
            let mut g = grant_in(from);
            let before = g.clone();
            let result = op.apply(&mut g, now);
            if op.legal_from().contains(&from) {
                legal += 1;
                result.unwrap_or_else(|e| panic!("{op:?} from {from}: {e}"));
                assert_ne!(g, before, "{op:?} from {from} changed nothing");
            } else {
                assert_invalid_transition(
                    result,
                    &format!("grant {GRANT}"),
                    from.as_str(),
                    op.refusal_name(),
                );
                assert_eq!(g, before, "refused {op:?} from {from} changed the grant");
            }
        }
    }
    assert_eq!(legal, 9, "the legal transitions of the lifecycle diagram");
}

#[test]
fn backoff_doubles_from_base_and_caps_at_max() {
    let (base, max) = (secs(1), secs(60));
    let table = [
        (0, 1),
        (1, 2),
        (2, 4),
        (3, 8),
        (4, 16),
        (5, 32),
        (6, 60),
        (7, 60),
        (31, 60),
        (64, 60),
        (u32::MAX, 60),
    ];
    for (attempt, want) in table {
        assert_eq!(backoff(attempt, base, max), secs(want), "attempt {attempt}");
    }
    // A huge base saturates instead of overflowing.
    assert_eq!(backoff(40, Duration::MAX, secs(300)), secs(300));
}

proptest! {
    #[test]
    fn backoff_never_exceeds_max_and_doubles_until_capped(
        base_ms in 1u64..10_000,
        max_ms in 1u64..100_000_000,
        attempt in 0u32..40,
    ) {
        let (base, max) = (ms(base_ms), ms(max_ms));
        let this = backoff(attempt, base, max);
        let next = backoff(attempt + 1, base, max);
        prop_assert!(this <= max);
        prop_assert!(next >= this, "not monotonic: {this:?} then {next:?}");
        if attempt < 30 {
            prop_assert_eq!(next, (this * 2).min(max));
        }
        if attempt == 0 {
            prop_assert_eq!(this, base.min(max));
        }
    }

    /// Activation, extensions and the reader's view over a random timeline.
    #[test]
    fn an_active_grant_reads_active_exactly_until_its_deadline(
        duration_s in 1u64..=90 * 86_400,
        activate_after_ms in 0u64..86_400_000,
        extensions in proptest::collection::vec((1u64..86_400, 0u64..=100), 0..4),
        probe_ms in proptest::collection::vec(0u64..200 * 86_400_000, 1..8),
    ) {
        let duration = secs(duration_s);
        let mut g = granting(duration);
        let activated = T0.plus(ms(activate_after_ms));
        g.activate(activated).expect("granting → active");
        prop_assert_eq!(
            g.expires_at.expect("set").as_millis() - activated.as_millis(),
            i64::try_from(duration.as_millis()).expect("small")
        );
        let mut added = Duration::ZERO;
        for (i, (by_s, at_percent)) in extensions.into_iter().enumerate() {
            // Somewhere between activation and the current deadline.
            let span = activated.until(g.expires_at.expect("set"));
            let at = activated.plus(span.mul_f64(at_percent as f64 / 100.0));
            let before = g.clone();
            let r = g.extend(secs(by_s), RequestId(i as u64), at);
            if at < before.expires_at.expect("set") {
                r.expect("extend before the deadline");
                added += secs(by_s);
            } else {
                prop_assert!(r.is_err());
                prop_assert_eq!(&g, &before);
            }
        }
        let e = g.expires_at.expect("set");
        prop_assert_eq!(e, activated.plus(duration + added));
        for p in probe_ms {
            let now = T0.plus(ms(p));
            let s = g.status_at(now);
            prop_assert_eq!(s == GrantStatus::Active, now < e, "at {:?}, deadline {:?}", now, e);
            prop_assert_eq!(g.remaining(now).is_some(), now < e);
            if let Some(left) = g.remaining(now) {
                prop_assert_eq!(now.plus(left), e);
            }
        }
    }
}
