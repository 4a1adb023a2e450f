//! Synced identities through the daemon (in-memory transport, manual clock): file imports as
//! whole-source snapshots, the safety checks that refuse a bad source, deactivation, managers,
//! source-owned groups, eligibility re-checks that take access away (or only tell, for a
//! notify-only flow), first contact of an OS user, and a configured file source run on demand.

use hallpass_core::SourceName;
use hallpass_core::event::EventKind;
use hallpass_core::flow::{OnEligibilityLost, Requestors};
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::identity::{GroupRecord, PersonRecord, Snapshot, SyncReport};
use hallpass_core::request::RequestStatus;
use hallpass_core::user::{Role, UserStatus};
use hallpass_proto::{ApiError, ImportChunk, UserQuery, UserRef, UserView};

use crate::support::harness::*;

fn person(login: &str, manager: Option<&str>) -> PersonRecord {
    PersonRecord {
        external_id: login.into(),
        login: Some(login.into()),
        email: format!("{login}@example.com"),
        name: format!("Person {login}"),
        phone: None,
        manager: manager.map(str::to_string),
        active: true,
    }
}

fn group(name: &str, members: &[&str]) -> GroupRecord {
    GroupRecord {
        external_id: name.into(),
        name: group_name(name),
        description: format!("{name} from the directory"),
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

fn source() -> SourceName {
    SourceName::new("hr").expect("a valid source name")
}

/// Imports `snap` as source `hr` in one chunk.
async fn import(d: &TestDaemon, snap: &Snapshot, dry_run: bool, force: bool) -> SyncReport {
    try_import(d, snap, dry_run, force)
        .await
        .expect("the import is answered")
}

async fn try_import(
    d: &TestDaemon,
    snap: &Snapshot,
    dry_run: bool,
    force: bool,
) -> Result<SyncReport, ApiError> {
    let chunk = ImportChunk {
        upload: None,
        source: source(),
        people: snap.people.clone(),
        groups: snap.groups.clone(),
        done: true,
        dry_run,
        force,
    };
    let ack = d
        .admin()
        .import_identities(ctx(), chunk)
        .await
        .expect("transport")?;
    Ok(ack.report.expect("a finished import reports"))
}

async fn user(d: &TestDaemon, email: &str) -> UserView {
    d.admin()
        .get_user(ctx(), UserRef::Email(email.into()))
        .await
        .done(&format!("get {email}"))
}

async fn user_count(d: &TestDaemon) -> usize {
    d.admin()
        .list_users(
            ctx(),
            UserQuery {
                role: None,
                status: None,
                text: None,
                group: None,
                after: None,
                limit: 1000,
            },
        )
        .await
        .done("list users")
        .items
        .len()
}

fn team() -> Snapshot {
    Snapshot {
        people: vec![
            person("ada", None),
            person("bob", Some("ada")),
            person("cy", Some("bob")),
            person("dee", Some("ada")),
            person("eve", Some("ada")),
        ],
        groups: vec![
            group("sre", &["ada", "bob"]),
            group("dev", &["cy", "dee", "eve"]),
        ],
        unreadable: vec![],
    }
}

#[tokio::test]
async fn an_import_creates_people_with_managers_and_groups_and_a_dry_run_changes_nothing() {
    let d = TestDaemon::start().await;
    let (users_before, audit_before) = (user_count(&d).await, d.audit_head());

    let plan = import(&d, &team(), true, false).await;
    assert!(plan.dry_run && plan.refused.is_none(), "{plan:?}");
    assert_eq!((plan.added, plan.groups_added), (5, 2));
    assert_eq!(plan.changes.len(), 7, "one diff line per person and group");
    assert_eq!(
        user_count(&d).await,
        users_before,
        "a dry run creates no one"
    );
    assert_eq!(d.audit_head(), audit_before, "a dry run audits nothing");

    let applied = import(&d, &team(), false, false).await;
    assert_eq!((applied.added, applied.groups_added), (5, 2), "{applied:?}");
    let ada = user(&d, "ada@example.com").await;
    let cy = user(&d, "cy@example.com").await;
    assert_eq!(ada.status, UserStatus::Active);
    assert_eq!(ada.role, Role::Grantee);
    assert_eq!(ada.login.as_deref(), Some("ada"));
    assert_eq!(ada.sources, vec![source()]);
    assert_eq!(cy.manager_email.as_deref(), Some("bob@example.com"));
    assert_eq!(ada.groups, vec![group_name("sre")]);
    let sre = d
        .admin()
        .get_group(ctx(), group_name("sre"))
        .await
        .done("get sre");
    assert_eq!(sre.source, Some(source()));
    assert_eq!(emails(&sre.members), ["ada@example.com", "bob@example.com"]);
    assert_eq!(d.audit("identity.add").await.len(), 5);
    assert_eq!(d.audit("sync.run").await.len(), 1);

    // The same file again changes nothing.
    let again = import(&d, &team(), false, false).await;
    assert_eq!(
        (
            again.added,
            again.updated,
            again.unchanged,
            again.groups_updated
        ),
        (0, 0, 5, 0),
        "{again:?}"
    );
    // A synced group is changed at its source, not by hand.
    let e = d
        .admin()
        .add_member(
            ctx(),
            group_name("sre"),
            UserRef::Email("cy@example.com".into()),
        )
        .await
        .refused("a synced group edited by hand");
    assert_eq!(e.kind(), "conflict", "{e}");
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn people_the_source_drops_are_deactivated_and_come_back_when_listed_again() {
    let d = TestDaemon::start().await;
    import(&d, &team(), false, false).await;
    let mut fewer = team();
    fewer.people.retain(|p| p.external_id != "eve");
    let r = import(&d, &fewer, false, false).await;
    assert_eq!(r.deactivated, 1, "{r:?}");
    let eve = user(&d, "eve@example.com").await;
    assert_eq!(eve.status, UserStatus::Deactivated);
    assert!(
        eve.groups.is_empty(),
        "a deactivated person is in no synced group"
    );
    assert_eq!(d.audit("identity.deactivate").await.len(), 1);

    let back = import(&d, &team(), false, false).await;
    assert_eq!(back.reactivated, 1, "{back:?}");
    let eve = user(&d, "eve@example.com").await;
    assert_eq!(eve.status, UserStatus::Active);
    assert_eq!(eve.groups, vec![group_name("dev")]);
}

#[tokio::test]
async fn a_source_that_looks_wrong_changes_nothing_and_says_why() {
    let d = TestDaemon::start().await;
    import(&d, &team(), false, false).await;
    let users = user_count(&d).await;

    // Empty: refused.
    let empty = import(&d, &Snapshot::default(), false, false).await;
    let why = empty.refused.clone().expect("an empty source is refused");
    assert!(why.contains("no valid people"), "{why}");

    // Four of five gone: past the 20% threshold.
    let mut one = team();
    one.people.truncate(1);
    one.groups.clear();
    let r = import(&d, &one, false, false).await;
    let why = r.refused.clone().expect("a mass deactivation is refused");
    assert!(why.contains("max_deactivate_percent"), "{why}");
    for p in team().people {
        let u = user(&d, &p.email).await;
        assert_eq!(u.status, UserStatus::Active, "{} untouched", u.email);
    }
    assert_eq!(user_count(&d).await, users);
    let status = d.admin().sync_status(ctx()).await.done("sync status");
    let hr = status
        .iter()
        .find(|s| s.name == source())
        .expect("hr listed");
    assert!(
        hr.last.as_ref().is_some_and(|l| l.refused.is_some()),
        "{hr:?}"
    );
    assert_eq!(hr.people, 5);

    // --force applies it.
    let forced = import(&d, &one, false, true).await;
    assert_eq!(forced.deactivated, 4, "{forced:?}");

    // A strict import with a bad record applies nothing at all.
    let mut bad = team();
    bad.people[2].email = "not-an-address".into();
    let r = import(&d, &bad, false, true).await;
    assert!(r.refused.is_some(), "{r:?}");
    assert!(
        r.errors
            .iter()
            .any(|e| e.record.contains("cy") && e.field == "email"),
        "{:?}",
        r.errors
    );
    assert_eq!(
        user(&d, "bob@example.com").await.status,
        UserStatus::Deactivated
    );
}

/// A flow only members of `sre` may use, auto-approved.
async fn sre_flow(d: &TestDaemon, name: &str, on_lost: OnEligibilityLost) {
    let mut f = auto_flow(name);
    f.requestors = Requestors {
        everyone: false,
        users: vec![],
        groups: vec![group_name("sre")],
    };
    f.on_eligibility_lost = on_lost;
    d.put_flow(f).await;
}

#[tokio::test]
async fn leaving_a_group_at_the_source_revokes_the_access_that_depended_on_it() {
    let d = TestDaemon::start().await;
    // Ada already has an account (invited, bound to uid 2001); the import adopts it by e-mail.
    let ada = d.add_user(2001, "ada@example.com", Role::Grantee).await;
    import(&d, &team(), false, false).await;
    assert_eq!(
        user(&d, "ada@example.com").await.id,
        ada.id,
        "matched by e-mail"
    );
    sre_flow(&d, "sre-db", OnEligibilityLost::Revoke).await;
    sre_flow(&d, "sre-logs", OnEligibilityLost::NotifyOnly).await;
    let revoked = d
        .active_grant(2001, "sre-db", &target("db", "read"), None)
        .await;
    let kept = d
        .active_grant(2001, "sre-logs", &target("logs", "read"), None)
        .await;
    // A pending request that would no longer qualify either (a second, manual flow).
    let mut manual = flow(
        "sre-ssh",
        hallpass_core::flow::ApprovalRule::AnyOf,
        vec![hallpass_core::flow::Approver::Admins],
    );
    manual.requestors.everyone = false;
    manual.requestors.groups = vec![group_name("sre")];
    d.put_flow(manual).await;
    let pending = d
        .request(2001, "sre-ssh", &target("ssh", "login"), None)
        .await;

    let mut moved = team();
    moved.groups = vec![
        group("sre", &["bob"]),
        group("dev", &["ada", "cy", "dee", "eve"]),
    ];
    let r = import(&d, &moved, false, false).await;
    assert_eq!((r.grants_revoked, r.requests_cancelled), (1, 1), "{r:?}");

    let g = d.wait_grant(revoked.id, GrantStatus::Revoked).await;
    assert!(
        matches!(&g.end_reason, Some(EndReason::EligibilityLost { because }) if because.contains("sre")),
        "{g:?}"
    );
    assert_eq!(
        d.grant(kept.id).await.status,
        GrantStatus::Active,
        "notify-only keeps it"
    );
    let req = d
        .admin()
        .get_request(ctx(), pending.id)
        .await
        .done("get the pending request");
    assert_eq!(req.status, RequestStatus::Cancelled);
    let revoke_audit = d.audit("grant.revoke").await;
    assert!(
        revoke_audit
            .iter()
            .any(|a| a.entry.summary.contains("eligibility lost")),
        "{revoke_audit:?}"
    );
    let events = d.events_for(2001).await;
    let lost: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::EligibilityLost { flow, kept, .. } => Some((flow.to_string(), *kept)),
            _ => None,
        })
        .collect();
    assert!(lost.contains(&("sre-db".into(), false)), "{lost:?}");
    assert!(lost.contains(&("sre-logs".into(), true)), "{lost:?}");
    assert!(!d.target_has_access(ada.id, &target("db", "read")));
    assert!(d.target_has_access(ada.id, &target("logs", "read")));
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn removing_someone_from_a_local_group_rechecks_their_access_too() {
    let d = TestDaemon::start().await;
    let ada = d.add_user(2001, "ada@example.com", Role::Grantee).await;
    d.add_group("sre", &[&ada]).await;
    sre_flow(&d, "sre-db", OnEligibilityLost::Revoke).await;
    let g = d
        .active_grant(2001, "sre-db", &target("db", "read"), None)
        .await;
    d.admin()
        .remove_member(ctx(), group_name("sre"), UserRef::Id(ada.id))
        .await
        .done("remove ada from sre");
    let g = d.wait_grant(g.id, GrantStatus::Revoked).await;
    assert!(
        matches!(g.end_reason, Some(EndReason::EligibilityLost { .. })),
        "{g:?}"
    );
}

#[tokio::test]
async fn deactivation_at_the_source_takes_all_access_away() {
    let d = TestDaemon::start().await;
    let ada = d.add_user(2001, "ada@example.com", Role::Grantee).await;
    import(&d, &team(), false, false).await;
    // An everyone-flow: only deactivation can end this one.
    d.put_flow(auto_flow("any-db")).await;
    let g = d
        .active_grant(2001, "any-db", &target("db", "write"), None)
        .await;
    let mut gone = team();
    gone.people[0].active = false;
    let r = import(&d, &gone, false, false).await;
    assert_eq!((r.deactivated, r.grants_revoked), (1, 1), "{r:?}");
    d.wait_grant(g.id, GrantStatus::Revoked).await;
    let e = d
        .client(2001)
        .whoami(ctx())
        .await
        .done("whoami as a deactivated person");
    assert!(e.user.is_none(), "a deactivated person is nobody: {e:?}");
    let refused = d
        .client(2001)
        .list_grants(ctx(), Default::default())
        .await
        .refused("a deactivated person acts");
    assert_eq!(refused.kind(), "unauthenticated", "{refused}");
    assert!(refused.to_string().contains("deactivated"), "{refused}");
    assert_eq!(user(&d, "ada@example.com").await.id, ada.id);
}

/// `nobody` (uid 65534) exists on every Debian system; a synced identity with that login is
/// bound to it on first contact.
const NOBODY_UID: u32 = 65534;

#[tokio::test]
async fn first_contact_binds_an_os_user_to_the_synced_identity_with_its_name() {
    if nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(NOBODY_UID))
        .ok()
        .flatten()
        .map(|u| u.name)
        .as_deref()
        != Some("nobody")
    {
        panic!("this test needs the system user nobody (uid {NOBODY_UID})");
    }
    let d = TestDaemon::start().await;
    let before = d
        .client(NOBODY_UID)
        .whoami(ctx())
        .await
        .done("whoami before any sync");
    assert!(before.user.is_none());
    let mut snap = team();
    snap.people.push(person("nobody", Some("ada")));
    import(&d, &snap, false, false).await;
    let me = d
        .client(NOBODY_UID)
        .get_user(ctx(), UserRef::Email("nobody@example.com".into()))
        .await
        .done("the synced identity acts on first contact");
    assert_eq!(me.os_uid, Some(NOBODY_UID));
    assert_eq!(me.role, Role::Grantee);
    assert_eq!(d.audit("identity.first_contact").await.len(), 1);
    // Another login is not bound to that uid, and the binding happens once.
    d.client(NOBODY_UID)
        .whoami(ctx())
        .await
        .done("whoami again");
    assert_eq!(d.audit("identity.first_contact").await.len(), 1);
}

#[tokio::test]
async fn first_contact_can_be_turned_off() {
    let d = TestDaemon::start_configured(|c| c.sync.first_contact = false).await;
    let mut snap = team();
    snap.people.push(person("nobody", None));
    import(&d, &snap, false, false).await;
    let e = d
        .client(NOBODY_UID)
        .list_grants(ctx(), Default::default())
        .await
        .refused("first contact is off");
    assert_eq!(e.kind(), "unauthenticated", "{e}");
}

/// A daemon with one configured file source, `people-file`, reading `path` on demand.
async fn with_file_source(path: &std::path::Path) -> TestDaemon {
    let path = path.to_path_buf();
    TestDaemon::start_configured(move |c| {
        c.sync.source.push(hallpass_daemon::config::SourceConfig {
            name: SourceName::new("people-file").expect("valid"),
            interval: std::time::Duration::ZERO,
            max_deactivate_percent: 20,
            min_people: 1,
            file: Some(hallpass_daemon::config::FileSourceConfig { path }),
            ldap: None,
        })
    })
    .await
}

#[tokio::test]
async fn a_configured_file_source_runs_on_demand_and_reports_its_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("people.csv");
    std::fs::write(
        &path,
        "login,email,name,manager,groups\nada,ada@example.com,Ada,,sre\nbob,bob@example.com,Bob,ada,sre;dev\n",
    )
    .expect("write the file");
    let d = with_file_source(&path).await;
    let reports = d
        .admin()
        .sync_run(ctx(), None, false, false)
        .await
        .done("sync run");
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].added, reports[0].groups_added),
        (2, 2),
        "{reports:?}"
    );
    assert_eq!(
        user(&d, "bob@example.com").await.manager_email.as_deref(),
        Some("ada@example.com")
    );
    // A broken file is recorded as a refused run and changes nothing.
    std::fs::write(&path, "login,email\nada,nope\n").expect("break the file");
    let reports = d
        .admin()
        .sync_run(
            ctx(),
            Some(SourceName::new("people-file").expect("valid")),
            false,
            false,
        )
        .await
        .done("sync run of a broken file");
    let why = reports[0].refused.clone().expect("refused");
    assert!(why.contains("row 1") || why.contains("row 2"), "{why}");
    assert_eq!(user(&d, "bob@example.com").await.status, UserStatus::Active);
    let status = d.admin().sync_status(ctx()).await.done("status");
    assert_eq!(status[0].kind, "file");
    assert!(status[0].last.as_ref().is_some_and(|l| l.refused.is_some()));
    let unknown = d
        .admin()
        .sync_run(
            ctx(),
            Some(SourceName::new("nope").expect("valid")),
            false,
            false,
        )
        .await
        .refused("an unknown source");
    assert_eq!(unknown.kind(), "not_found", "{unknown}");
}

// A group another source owns is skipped by this one, and does not become this source's to
// decide: the people both sources list keep it.
#[tokio::test]
async fn a_group_owned_by_another_source_is_skipped_and_its_members_keep_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("people.csv");
    std::fs::write(
        &path,
        "login,email,name,manager,groups\nada,ada@example.com,Ada,,sre\nzed,zed@example.com,Zed,,sre;ops\n",
    )
    .expect("write the file");
    let d = with_file_source(&path).await;
    import(&d, &team(), false, false).await; // `hr` owns sre (ada, bob)
    let run = || async {
        d.admin()
            .sync_run(ctx(), None, false, false)
            .await
            .done("sync run")
            .remove(0)
    };
    let first = run().await;
    assert!(first.refused.is_none(), "{first:?}");
    assert!(
        first
            .errors
            .iter()
            .any(|e| e.why.contains("group sre belongs to source hr")),
        "{:?}",
        first.errors
    );
    let groups = |u: UserView| u.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>();
    assert_eq!(groups(user(&d, "ada@example.com").await), ["sre"]);
    assert_eq!(groups(user(&d, "zed@example.com").await), ["ops"]);
    // And again: nothing flips back and forth between the sources.
    let again = run().await;
    assert_eq!((again.updated, again.unchanged), (0, 2), "{again:?}");
    assert_eq!(groups(user(&d, "ada@example.com").await), ["sre"]);
}
