//! "Expiring soon" warnings come from the daemon as events on the cursor, raised by the deadline
//! scheduler (`Due::GrantWarning`) at the configured offsets before an Active grant's end (15 and
//! 5 minutes by default): once per offset, skipping offsets longer than the grant, rescheduled by
//! an extension, and once (not once per missed offset) when the daemon was down.

use std::time::Duration;

use hallpass_core::Timestamp;
use hallpass_core::event::{Event, EventKind};
use hallpass_core::grant::GrantStatus;
use hallpass_core::user::Role;
use hallpass_core::{GrantId, UserId};
use hallpass_proto::ExtendArgs;

use crate::support::harness::*;

const UID: u32 = 1001;

/// The warnings `uid` has seen for grant `id`, as (event time, expires_at).
async fn warnings(d: &TestDaemon, uid: u32, id: GrantId) -> Vec<(Timestamp, Timestamp)> {
    d.events_for(uid)
        .await
        .into_iter()
        .filter_map(|e: Event| match e.kind {
            EventKind::GrantExpiringSoon {
                grant, expires_at, ..
            } if grant == id => Some((e.at, expires_at)),
            _ => None,
        })
        .collect()
}

async fn wait_warnings(d: &TestDaemon, id: GrantId, n: usize) -> Vec<(Timestamp, Timestamp)> {
    wait_for(format!("{n} warning(s) for {id}"), || async {
        let w = warnings(d, UID, id).await;
        (w.len() >= n).then_some(w)
    })
    .await
}

async fn setup() -> (TestDaemon, UserId) {
    let d = TestDaemon::start().await;
    let user = d.add_user(UID, "dev@example.com", Role::Grantee).await;
    d.put_flow(auto_flow("auto-db")).await;
    (d, user.id)
}

#[tokio::test]
async fn an_hour_long_grant_warns_at_fifteen_and_five_minutes_then_expires() {
    let (d, user) = setup().await;
    let g = d
        .active_grant(UID, "auto-db", &target("db", "read"), Some(HOUR))
        .await;
    let end = g.expires_at.expect("active grant has an end");
    let fifteen = end.minus(15 * MINUTE);
    let five = end.minus(5 * MINUTE);

    // A millisecond early is too early: the warning's own time is the 15-minute point.
    d.advance_to(fifteen.minus(Duration::from_millis(1)));
    d.advance_to(fifteen);
    assert_eq!(wait_warnings(&d, g.id, 1).await, [(fifteen, end)]);
    d.advance_to(five);
    assert_eq!(
        wait_warnings(&d, g.id, 2).await,
        [(fifteen, end), (five, end)]
    );

    // The warning reaches its holder and the admins, nobody else.
    let e = d
        .events_for(ADMIN_UID)
        .await
        .into_iter()
        .rfind(|e| matches!(e.kind, EventKind::GrantExpiringSoon { .. }))
        .expect("admins see every event");
    assert_eq!(e.audience, [user].into());
    d.add_user(1002, "other@example.com", Role::Grantee).await;
    assert!(warnings(&d, 1002, g.id).await.is_empty());

    d.advance_to(end);
    d.wait_grant(g.id, GrantStatus::Expired).await;
    assert_eq!(
        warnings(&d, UID, g.id).await.len(),
        2,
        "no warning after the end"
    );
}

#[tokio::test]
async fn a_short_grant_skips_offsets_longer_than_itself() {
    let (d, _) = setup().await;
    let g = d
        .active_grant(UID, "auto-db", &target("db", "read"), Some(10 * MINUTE))
        .await;
    let end = g.expires_at.expect("active");
    d.advance_to(end.minus(5 * MINUTE));
    assert_eq!(
        wait_warnings(&d, g.id, 1).await,
        [(end.minus(5 * MINUTE), end)]
    );
    d.advance_to(end);
    d.wait_grant(g.id, GrantStatus::Expired).await;
    assert_eq!(warnings(&d, UID, g.id).await.len(), 1);
}

#[tokio::test]
async fn an_extension_warns_again_before_the_new_end() {
    let (d, _) = setup().await;
    let g = d
        .active_grant(UID, "auto-db", &target("db", "read"), Some(HOUR))
        .await;
    let end = g.expires_at.expect("active");
    d.advance_to(end.minus(4 * MINUTE));
    wait_warnings(&d, g.id, 1).await;
    d.client(UID)
        .extend(
            ctx(),
            g.id,
            ExtendArgs {
                duration_secs: HOUR.as_secs(),
                reason: Some("still on it".into()),
                source: hallpass_core::audit::Source::Cli,
            },
        )
        .await
        .done("extend through the auto flow");
    let new_end = end.plus(HOUR);
    assert_eq!(d.grant(g.id).await.expires_at, Some(new_end));
    d.advance_to(new_end.minus(15 * MINUTE));
    let w = wait_warnings(&d, g.id, 2).await;
    assert_eq!(w[1], (new_end.minus(15 * MINUTE), new_end), "{w:?}");
}

#[tokio::test]
async fn warnings_missed_while_the_daemon_was_down_are_given_once() {
    let (d, _) = setup().await;
    let g = d
        .active_grant(UID, "auto-db", &target("db", "read"), Some(HOUR))
        .await;
    let end = g.expires_at.expect("active");
    let parked = d.shut_down().await;
    // Down across both warning points; back up 3 minutes before the end.
    parked.clock().set(end.minus(3 * MINUTE));
    let mut d = parked.reopen();
    d.start_scheduler().await;
    let at = end.minus(3 * MINUTE);
    assert_eq!(wait_warnings(&d, g.id, 1).await, [(at, end)]);
    d.advance_to(end.minus(MINUTE));
    d.advance_to(end);
    d.wait_grant(g.id, GrantStatus::Expired).await;
    assert_eq!(warnings(&d, UID, g.id).await, [(at, end)], "exactly one");
}
