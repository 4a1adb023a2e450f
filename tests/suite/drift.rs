//! Drift detection for integrations that cannot be listed but can verify one grant at a time
//! (exec with a verify command), and the periodic reconcile the daemon runs on its own.

use std::time::Duration;

use hallpass_core::audit::{Actor, Source};
use hallpass_daemon::drift;

use crate::support::harness::*;

#[tokio::test]
async fn exec_grants_are_checked_one_by_one() {
    let d = TestDaemon::start().await;
    d.put_flow(auto_flow("auto")).await;
    let t = target("db", "read");
    let g = d.active_grant(ADMIN_UID, "auto", &t, None).await;
    d.advance(MINUTE);
    let clean = drift::reconcile(&d.broker, false, &Actor::System, Source::System)
        .await
        .unwrap_or_else(|e| panic!("{}", e.into_api()));
    assert_eq!(clean.findings(), 0, "{clean:#?}");
    assert!(clean.integrations[0].checked, "{clean:#?}");

    // Someone removed the access behind hallpass's back.
    let user = g.user.id;
    assert!(d.target_has_access(user, &t));
    for entry in std::fs::read_dir(&d.exec_state).expect("state dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    let report = d.admin().drift(ctx(), false).await.done("drift");
    let files = &report.integrations[0];
    assert_eq!(files.missing.len(), 1, "{files:#?}");
    assert_eq!(files.missing[0].grant, Some(g.id));
    assert!(
        files.leftovers.is_empty(),
        "exec cannot list leftovers: {files:#?}"
    );
    // Reported, not repaired: the grant is still Active for hallpass.
    assert_eq!(
        d.grant(g.id).await.status,
        hallpass_core::grant::GrantStatus::Active
    );
}

#[tokio::test]
async fn the_daemon_reconciles_on_its_own_interval() {
    let d = TestDaemon::start_configured(|c| c.drift.interval = Duration::from_millis(50)).await;
    d.put_flow(auto_flow("auto")).await;
    let t = target("db", "read");
    d.active_grant(ADMIN_UID, "auto", &t, None).await;
    d.advance(MINUTE);
    for entry in std::fs::read_dir(&d.exec_state).expect("state dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(drift::run(d.broker.clone(), stop_rx));
    let found = wait_for("the periodic drift check to report", || {
        let d = &d;
        async move {
            let found = d.audit("drift.found").await;
            (!found.is_empty()).then_some(found)
        }
    })
    .await;
    assert!(matches!(found[0].entry.actor, Actor::System), "{found:?}");
    assert!(found[0].entry.summary.contains("1 missing"), "{found:?}");
    stop.send(true).expect("stop");
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the drift task stops when told")
        .expect("no panic");
}
