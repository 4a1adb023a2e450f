//! A grant the connector fails to provide is cleaned up through the same verified,
//! overlap-aware revocation as any other ending, and ends Failed: nothing it may have half-done
//! is left on the target, and access another grant still covers is kept.

use hallpass_core::event::EventKind;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::integration::Connector;
use hallpass_core::user::Role;
use hallpass_core::{GrantId, UserId};
use hallpass_proto::PutMode;

use crate::support::harness::*;

/// An exec integration `flaky` that records and gives access, then fails while
/// `FLAG` exists (a connector that half-grants). Returns the daemon, alice and the flag path.
async fn flaky() -> (TestDaemon, UserId, std::path::PathBuf) {
    let d = TestDaemon::start().await;
    let alice = d.add_user(1001, "alice@example.com", Role::Grantee).await;
    let mut integration = d.exec_integration("flaky");
    let cfg = match &mut integration.connector {
        Connector::Exec(cfg) => cfg,
        #[allow(unreachable_patterns)] // more connector kinds may exist
        _ => panic!("the harness builds exec integrations"),
    };
    let flag = std::path::PathBuf::from(format!("{}.grant", cfg.grant[6]));
    cfg.grant[2].push_str(&format!(
        "; if [ -e '{}' ]; then echo 'half-granted, then failed' >&2; exit 3; fi",
        flag.display()
    ));
    d.admin()
        .put_integration(ctx(), integration, PutMode::Create)
        .await
        .done("create flaky");
    let mut f = auto_flow("flaky-db");
    f.targets.resources = vec!["flaky/db/read".parse().expect("target")];
    d.put_flow(f).await;
    (d, alice.id, flag)
}

async fn requested_grant(d: &TestDaemon) -> GrantId {
    let t = "flaky/db/read".parse().expect("target");
    let req = d.request(1001, "flaky-db", &t, Some(HOUR)).await;
    only_grant(&req)
}

#[tokio::test]
async fn a_failed_grant_is_revoked_on_the_target_and_ends_failed() {
    let (d, alice, flag) = flaky().await;
    std::fs::write(&flag, b"").expect("set the grant failure flag");
    let id = requested_grant(&d).await;

    let g = d.wait_grant(id, GrantStatus::Failed).await;
    assert!(
        g.last_error
            .as_deref()
            .is_some_and(|e| e.contains("half-granted")),
        "{g:?}"
    );
    assert!(
        matches!(g.end_reason, Some(EndReason::GrantFailed { .. })),
        "{g:?}"
    );
    assert_eq!(
        d.exec_calls("revoke", id),
        1,
        "whatever was half-granted is revoked"
    );
    assert!(!d.target_has_access(alice, &"flaky/db/read".parse().expect("target")));
    assert_eq!(d.audit("grant.fail").await.len(), 1);
    assert_eq!(d.audit("grant.failed").await.len(), 1);
    let events = d.events_for(1001).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::GrantFailed { grant, .. } if *grant == id)),
        "{events:?}"
    );
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn a_failed_grant_keeps_access_that_an_active_grant_still_covers() {
    let (d, alice, flag) = flaky().await;
    let t = "flaky/db/read".parse().expect("target");
    let first = d.active_grant(1001, "flaky-db", &t, Some(HOUR)).await;
    d.advance(10 * MINUTE);

    std::fs::write(&flag, b"").expect("set the grant failure flag");
    let second = requested_grant(&d).await;
    d.wait_grant(second, GrantStatus::Failed).await;
    assert_eq!(
        d.exec_calls("revoke", second),
        0,
        "the active grant still covers the access"
    );
    assert!(
        d.target_has_access(alice, &t),
        "access kept for {}",
        first.id
    );
    assert_eq!(d.grant(first.id).await.status, GrantStatus::Active);

    d.advance(HOUR);
    d.wait_grant(first.id, GrantStatus::Expired).await;
    assert_eq!(d.exec_calls("revoke", first.id), 1);
    assert!(
        !d.target_has_access(alice, &t),
        "the last grant's end takes the access away"
    );
    d.assert_audit_intact().await;
}
