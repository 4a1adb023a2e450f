//! `Flow::validate` refusals, each naming its field, and the duration cap of
//! `Flow::resolve_duration` down to the grant's access clock.

mod fixture;

use std::time::Duration;

use fixture::{HOUR, T0, flow, granting, group, secs};
use hallpass_core::flow::{ApprovalRule, Approver, FlowTargets, MAX_FLOW_DURATION, Requestors};
use hallpass_core::{BundleName, DomainError, UserId};
use proptest::prelude::*;

const DAY: u64 = 86_400;

fn any_of() -> hallpass_core::flow::Flow {
    flow(ApprovalRule::AnyOf, vec![Approver::Manager])
}

/// Asserts `r` is an `InvalidInput` naming `field`, whose text mentions each of `mentions`.
#[track_caller]
fn assert_invalid_field(r: Result<(), DomainError>, field: &str, mentions: &[&str], case: &str) {
    match r {
        Err(DomainError::InvalidInput { field: f, why }) => {
            assert_eq!(f, field, "{case}: wrong field ({why})");
            for m in mentions {
                assert!(why.contains(m), "{case}: `{why}` does not mention `{m}`");
            }
        }
        other => panic!("{case}: expected InvalidInput on `{field}`, got {other:?}"),
    }
}

#[test]
fn the_fixture_flow_is_valid() {
    any_of().validate().expect("base flow");
    flow(ApprovalRule::Auto, vec![])
        .validate()
        .expect("auto flow without approvers");
}

#[test]
fn each_invalid_flow_is_refused_naming_its_field() {
    type Change = fn(&mut hallpass_core::flow::Flow);
    let table: Vec<(&str, Change, &str, &[&str])> = vec![
        (
            "zero max",
            |f| f.max_duration = Duration::ZERO,
            "max_duration",
            &[],
        ),
        (
            "max over 90d",
            |f| f.max_duration = MAX_FLOW_DURATION + secs(1),
            "max_duration",
            &["90d"],
        ),
        (
            "zero default",
            |f| f.default_duration = Duration::ZERO,
            "default_duration",
            &[],
        ),
        (
            "default over max",
            |f| f.default_duration = f.max_duration + secs(1),
            "default_duration",
            &["max_duration"],
        ),
        (
            "pending ttl under a minute",
            |f| f.pending_ttl = secs(59),
            "pending_ttl",
            &[],
        ),
        (
            "pending ttl over 30d",
            |f| f.pending_ttl = secs(30 * DAY + 1),
            "pending_ttl",
            &[],
        ),
        (
            "no targets",
            |f| f.targets = FlowTargets::default(),
            "targets",
            &[],
        ),
        (
            "no requestors",
            |f| f.requestors = Requestors::default(),
            "requestors",
            &[],
        ),
        (
            "any-of without approvers",
            |f| f.approval.approvers.clear(),
            "approvers",
            &["any-of"],
        ),
        (
            "all-of without approvers",
            |f| {
                f.approval.rule = ApprovalRule::AllOf;
                f.approval.approvers.clear();
            },
            "approvers",
            &["all-of"],
        ),
        (
            "quorum without approvers",
            |f| {
                f.approval.rule = ApprovalRule::Quorum(1);
                f.approval.approvers.clear();
            },
            "approvers",
            &["quorum 1"],
        ),
        (
            "quorum 0",
            |f| f.approval.rule = ApprovalRule::Quorum(0),
            "approval",
            &["at least 1"],
        ),
        (
            "quorum 0 without approvers",
            |f| {
                f.approval.rule = ApprovalRule::Quorum(0);
                f.approval.approvers.clear();
            },
            "approval",
            &["at least 1"],
        ),
        (
            "quorum 3 of two named users",
            |f| {
                f.approval.rule = ApprovalRule::Quorum(3);
                f.approval.approvers = vec![Approver::User(UserId(2)), Approver::User(UserId(3))];
            },
            "approval",
            &["quorum 3", "2 named"],
        ),
        (
            "quorum 3 of a user and the manager",
            |f| {
                f.approval.rule = ApprovalRule::Quorum(3);
                f.approval.approvers = vec![Approver::User(UserId(2)), Approver::Manager];
            },
            "approval",
            &["quorum 3", "2 named"],
        ),
        (
            "quorum 2 of one user named twice",
            |f| {
                f.approval.rule = ApprovalRule::Quorum(2);
                f.approval.approvers = vec![Approver::User(UserId(2)), Approver::User(UserId(2))];
            },
            "approval",
            &["quorum 2", "1 named"],
        ),
        (
            "quorum 2 of the manager named twice",
            |f| {
                f.approval.rule = ApprovalRule::Quorum(2);
                f.approval.approvers = vec![Approver::Manager, Approver::Manager];
            },
            "approval",
            &["quorum 2", "1 named"],
        ),
    ];
    for (case, change, field, mentions) in table {
        let mut f = any_of();
        change(&mut f);
        assert_invalid_field(f.validate(), field, mentions, case);
    }
}

#[test]
fn boundary_flows_are_accepted() {
    type Change = fn(&mut hallpass_core::flow::Flow);
    let table: Vec<(&str, Change)> = vec![
        ("max of exactly 90d", |f| f.max_duration = MAX_FLOW_DURATION),
        ("max of 1s with default 1s", |f| {
            f.max_duration = secs(1);
            f.default_duration = secs(1);
        }),
        ("default equal to max", |f| {
            f.default_duration = f.max_duration
        }),
        ("pending ttl of one minute", |f| f.pending_ttl = secs(60)),
        ("pending ttl of 30d", |f| f.pending_ttl = secs(30 * DAY)),
        ("bundles only", |f| {
            f.targets = FlowTargets {
                bundles: vec![BundleName::new("oncall").expect("slug")],
                resources: vec![],
            }
        }),
        ("named requestors only", |f| {
            f.requestors = Requestors {
                everyone: false,
                users: vec![UserId(1)],
                groups: vec![],
            }
        }),
        ("requestor groups only", |f| {
            f.requestors = Requestors {
                everyone: false,
                users: vec![],
                groups: vec![group("sre")],
            }
        }),
        ("auto without approvers", |f| {
            f.approval.rule = ApprovalRule::Auto;
            f.approval.approvers.clear();
        }),
        ("quorum 2 of a user and the manager", |f| {
            f.approval.rule = ApprovalRule::Quorum(2);
            f.approval.approvers = vec![Approver::User(UserId(2)), Approver::Manager];
        }),
        ("quorum 5 with a group", |f| {
            f.approval.rule = ApprovalRule::Quorum(5);
            f.approval.approvers = vec![Approver::User(UserId(2)), Approver::Group(group("sre"))];
        }),
        ("quorum 5 with admins", |f| {
            f.approval.rule = ApprovalRule::Quorum(5);
            f.approval.approvers = vec![Approver::Admins];
        }),
        ("all-of one user named twice", |f| {
            f.approval.rule = ApprovalRule::AllOf;
            f.approval.approvers = vec![Approver::User(UserId(2)), Approver::User(UserId(2))];
        }),
    ];
    for (case, change) in table {
        let mut f = any_of();
        change(&mut f);
        f.validate().unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}

#[test]
fn resolve_duration_table() {
    let f = any_of(); // default 1h, max 8h
    let max = f.max_duration;
    assert_eq!(f.resolve_duration(None), Ok(HOUR));
    assert_eq!(f.resolve_duration(Some(secs(1))), Ok(secs(1)));
    assert_eq!(f.resolve_duration(Some(max)), Ok(max));
    for bad in [
        Duration::ZERO,
        max + secs(1),
        max * 2,
        MAX_FLOW_DURATION * 2,
    ] {
        match f.resolve_duration(Some(bad)) {
            Err(DomainError::InvalidInput { field, .. }) => assert_eq!(field, "duration"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let msg = f
        .resolve_duration(Some(max + secs(1)))
        .expect_err("over the cap")
        .to_string();
    assert!(msg.contains("db-read") && msg.contains("8h"), "{msg}");
}

/// A requested duration: anything, or within a couple of seconds of the flow's maximum.
#[derive(Clone, Debug)]
enum Asked {
    Secs(u64),
    AroundMax(i64),
}

proptest! {
    /// Whatever is asked for, a valid flow resolves to a duration in (0, max_duration], refuses
    /// anything longer, and a grant of that duration is active for exactly that long.
    #[test]
    fn durations_are_capped_from_request_to_grant(
        max_s in 1u64..=90 * DAY,
        default_permille in 1u64..=1000,
        requested in proptest::option::of(prop_oneof![
            (0u64..=120 * DAY).prop_map(Asked::Secs),
            (-2i64..=2).prop_map(Asked::AroundMax),
        ]),
        activate_after_ms in 0u64..=7 * DAY * 1000,
    ) {
        let mut f = any_of();
        f.max_duration = secs(max_s);
        f.default_duration = secs((max_s * default_permille / 1000).max(1));
        f.validate().expect("generated flow is valid");

        let requested = requested.map(|a| match a {
            Asked::Secs(s) => secs(s),
            Asked::AroundMax(delta) => secs(max_s.saturating_add_signed(delta)),
        });
        match f.resolve_duration(requested) {
            Ok(d) => {
                prop_assert!(!d.is_zero());
                prop_assert!(d <= f.max_duration, "{:?} > max {:?}", d, f.max_duration);
                prop_assert_eq!(d, requested.unwrap_or(f.default_duration));

                let mut g = granting(d);
                let activated = T0.plus(Duration::from_millis(activate_after_ms));
                g.activate(activated).expect("granting → active");
                let (start, end) = (
                    g.activated_at.expect("set at activation"),
                    g.expires_at.expect("set at activation"),
                );
                prop_assert_eq!(start, activated);
                prop_assert_eq!(
                    end.as_millis() - start.as_millis(),
                    i64::try_from(d.as_millis()).expect("at most 90d")
                );
            }
            Err(DomainError::InvalidInput { field, .. }) => {
                prop_assert_eq!(field, "duration");
                let r = requested.expect("None resolves to the default");
                prop_assert!(r.is_zero() || r > f.max_duration, "{:?} refused", r);
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}
