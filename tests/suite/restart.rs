//! Deadlines that pass while the daemon is down: the store is closed, the clock moves on, and a
//! new broker on the same store must revoke every overdue grant in its catch-up step (what
//! `serve` runs before it accepts a connection), exactly once, and resume revocations that were
//! owed when it stopped.

use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::request::RequestStatus;
use hallpass_core::user::Role;
use hallpass_core::{GrantId, flow::ApprovalRule, flow::Approver};

use crate::support::harness::*;

fn stored_status(d: &TestDaemon, id: GrantId) -> GrantStatus {
    d.broker
        .store()
        .grant(id)
        .expect("read the store")
        .expect("the grant exists")
        .status
}

#[tokio::test]
async fn grants_that_expire_while_the_daemon_is_down_are_revoked_before_it_serves() {
    let d = TestDaemon::start().await;
    let alice = d.add_user(1001, "alice@example.com", Role::Grantee).await;
    let bob = d.add_user(1002, "bob@example.com", Role::Grantee).await;
    d.put_flow(auto_flow("auto-db")).await;
    let mut f = flow("db-any", ApprovalRule::AnyOf, vec![Approver::User(bob.id)]);
    f.pending_ttl = 2 * HOUR;
    d.put_flow(f).await;

    let overdue = [
        (1001, target("db", "read"), HOUR),
        (1001, target("ssh", "login"), 2 * HOUR),
        (1002, target("db", "write"), 3 * HOUR),
    ];
    let mut grants = Vec::new();
    for (uid, t, dur) in &overdue {
        grants.push((
            d.active_grant(*uid, "auto-db", t, Some(*dur)).await,
            t.clone(),
        ));
    }
    let lasting = d
        .active_grant(1001, "auto-db", &target("logs", "read"), Some(8 * HOUR))
        .await;
    let waiting = d
        .request(1001, "db-any", &target("db", "write"), None)
        .await;
    assert_eq!(d.exec_log().len(), 4, "four grants, nothing revoked yet");

    let parked = d.shut_down().await;
    parked.clock().advance(4 * HOUR);
    let d = parked.reopen();

    // Before catching up, the store still holds them as Active; no reader sees them active.
    for (g, _) in &grants {
        assert_eq!(stored_status(&d, g.id), GrantStatus::Active);
    }
    hallpass_daemon::expiry::step(&d.broker)
        .await
        .unwrap_or_else(|e| panic!("catch-up step: {}", e.into_api()));
    for (g, _) in &grants {
        let s = stored_status(&d, g.id);
        assert!(
            matches!(s, GrantStatus::Revoking | GrantStatus::Expired),
            "{} is {s} right after the catch-up step, before any client call",
            g.id
        );
    }
    assert_eq!(
        stored_status(&d, lasting.id),
        GrantStatus::Active,
        "a grant with time left stays active"
    );
    let req = d
        .broker
        .store()
        .request(waiting.id)
        .expect("read the store")
        .expect("the request exists");
    assert_eq!(
        req.status,
        RequestStatus::TimedOut,
        "a request whose pending TTL passed times out too"
    );

    let mut d = d;
    d.start_scheduler().await;
    for (g, t) in &grants {
        let done = d.wait_grant(g.id, GrantStatus::Expired).await;
        assert_eq!(done.end_reason, Some(EndReason::Expired));
        assert_eq!(
            done.ended_at,
            Some(d.now()),
            "ended when the daemon came back"
        );
        assert_eq!(
            d.exec_calls("revoke", g.id),
            1,
            "{} revoked exactly once",
            g.id
        );
        assert_eq!(d.exec_calls("grant", g.id), 1, "{} not granted again", g.id);
        assert!(!d.target_has_access(g.user.id, t));
    }
    assert_eq!(d.grant(lasting.id).await.status, GrantStatus::Active);
    assert_eq!(d.exec_calls("revoke", lasting.id), 0);
    assert!(d.target_has_access(alice.id, &target("logs", "read")));

    // Nothing more happens on a second catch-up, and the log is one chain across the restart.
    hallpass_daemon::expiry::step(&d.broker)
        .await
        .unwrap_or_else(|e| panic!("second step: {}", e.into_api()));
    assert_eq!(
        d.exec_log().iter().filter(|c| c.action == "revoke").count(),
        3
    );
    assert_eq!(d.audit("grant.expired").await.len(), 3);
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn a_revocation_owed_at_shutdown_is_resumed_at_start_up() {
    let d = TestDaemon::start().await;
    let alice = d.add_user(1001, "alice@example.com", Role::Grantee).await;
    d.put_flow(auto_flow("auto-db")).await;
    let t = target("db", "read");
    let g = d.active_grant(1001, "auto-db", &t, Some(HOUR)).await;

    // The revocation is recorded (Revoking) but its connector call fails before the shutdown.
    d.set_revoke_failing(true);
    d.advance(HOUR);
    let failed = wait_for("the first revoke attempt to fail", || async {
        let v = d.grant(g.id).await;
        (v.attempts == 1).then_some(v)
    })
    .await;
    assert_eq!(failed.status, GrantStatus::Revoking);
    let retry_at = failed.next_attempt_at.expect("a retry is scheduled");

    let parked = d.shut_down().await;
    let down_until = retry_at.plus(MINUTE);
    parked.clock().set(down_until);
    let mut d = parked.reopen();
    d.set_revoke_failing(false);
    assert_eq!(
        stored_status(&d, g.id),
        GrantStatus::Revoking,
        "the intent survived the restart"
    );

    d.start_scheduler().await;
    let done = d.wait_grant(g.id, GrantStatus::Expired).await;
    assert_eq!(done.ended_at, Some(down_until));
    assert_eq!(d.exec_calls("revoke_refused", g.id), 1);
    assert_eq!(d.exec_calls("revoke", g.id), 1);
    assert!(!d.target_has_access(alice.id, &t));
    d.assert_audit_intact().await;
}
