//! The daemon's request and grant lifecycle over tarpc's in-memory transport, with a manual
//! clock and the exec connector: people, approvals of every kind, the two clocks, extension,
//! expiry, release and revocation, overlap, failing revocation, deletion, bad input, audit and
//! events.

use std::time::Duration;

use hallpass_core::audit::Source;
use hallpass_core::event::EventKind;
use hallpass_core::flow::{ApprovalRule, Approver};
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::request::{RequestKind, RequestStatus};
use hallpass_core::user::{Role, UserStatus};
use hallpass_core::{FlowName, GrantId, RequestId};
use hallpass_proto::{
    ApiError, AuditQuery, ExtendArgs, GrantQuery, GrantScope, InviteArgs, NewRequest, RequestQuery,
    RequestScope, SignupArgs, UserQuery, UserRef,
};

use crate::assert_api_err;
use crate::support::harness::*;

fn invite_args(email: &str, role: Role, expires_in_secs: Option<u64>) -> InviteArgs {
    InviteArgs {
        email: email.into(),
        name: "Invited Person".into(),
        role,
        phone: None,
        expires_in_secs,
    }
}

fn extend_args(by: Duration) -> ExtendArgs {
    ExtendArgs {
        duration_secs: by.as_secs(),
        reason: Some("need more time".into()),
        source: Source::Cli,
    }
}

/// A daemon with alice (1001, requester), bob (1002) and carol (1003), all grantees.
async fn with_people() -> (TestDaemon, [hallpass_proto::UserView; 3]) {
    let d = TestDaemon::start().await;
    let alice = d.add_user(1001, "alice@example.com", Role::Grantee).await;
    let bob = d.add_user(1002, "bob@example.com", Role::Grantee).await;
    let carol = d.add_user(1003, "carol@example.com", Role::Grantee).await;
    (d, [alice, bob, carol])
}

/// alice's active grant on db/read through an any-of flow `db-any` approved by bob.
async fn approved_grant(d: &TestDaemon) -> GrantId {
    let req = d
        .request(1001, "db-any", &target("db", "read"), Some(HOUR))
        .await;
    let r = d
        .client(1002)
        .approve(ctx(), req.id, None)
        .await
        .done("bob approves");
    let id = only_grant(&r);
    d.wait_grant(id, GrantStatus::Active).await;
    id
}

// ---- people ----

#[tokio::test]
async fn signup_creates_the_first_admin_and_then_closes() {
    let d = TestDaemon::bare().await;
    let who = d.admin().whoami(ctx()).await.done("whoami before signup");
    assert_eq!(
        (who.uid, who.user.is_none(), who.signup_open),
        (Some(ADMIN_UID), true, true),
        "{who:?}"
    );

    let admin = d.signup_admin().await;
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(admin.status, UserStatus::Active);
    assert_eq!(admin.os_uid, Some(ADMIN_UID));
    assert_eq!(admin.email, ADMIN_EMAIL);
    let who = d.admin().whoami(ctx()).await.done("whoami after signup");
    assert_eq!(who.user.as_ref().map(|u| u.id), Some(admin.id));
    assert!(!who.signup_open, "signup closes once an admin exists");

    let head = d.audit_head();
    let args = SignupArgs {
        email: "mallory@example.com".into(),
        name: "Mallory".into(),
        source: Source::Cli,
    };
    let e = d
        .client(1001)
        .signup(ctx(), args.clone())
        .await
        .refused("a second signup from another OS user");
    assert_api_err!(e, ApiError::Conflict { ref why } if why.contains(ADMIN_EMAIL));
    let e = d
        .admin()
        .signup(ctx(), args)
        .await
        .refused("a second signup from the admin's OS user");
    assert_api_err!(e, ApiError::Conflict { .. });
    assert_eq!(d.audit_head(), head, "refused signups write nothing");
    assert!(
        d.client(1001)
            .whoami(ctx())
            .await
            .done("whoami 1001")
            .user
            .is_none()
    );
    let users = d
        .admin()
        .list_users(ctx(), UserQuery::default())
        .await
        .done("list users");
    assert_eq!(users.items.len(), 1, "{users:?}");
    assert_eq!(d.audit("user.signup").await.len(), 1);
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn an_invite_is_accepted_by_another_os_user() {
    let d = TestDaemon::start().await;
    let mut args = invite_args("  Alice@Example.COM ", Role::Grantee, None);
    args.phone = Some("+44 20 7946 0000".into());
    let inv = d
        .admin()
        .invite_user(ctx(), args)
        .await
        .done("invite alice");
    assert_eq!(inv.user.status, UserStatus::Invited);
    assert_eq!(
        inv.user.email, "alice@example.com",
        "e-mails are normalised"
    );
    assert_eq!(
        inv.expires_at,
        T0.plus(Duration::from_secs(7 * 86_400)),
        "the default invite lifetime is 7 days"
    );
    assert!(!inv.emailed, "no SMTP is configured");
    assert!(
        inv.code.len() >= 32,
        "the code carries at least 128 bits: {}",
        inv.code
    );

    let e = d
        .client(1001)
        .list_flows(ctx())
        .await
        .refused("uid 1001 before accepting");
    assert_api_err!(e, ApiError::Unauthenticated { uid: 1001, .. });

    let alice = d
        .client(1001)
        .accept_invite(ctx(), inv.code.clone())
        .await
        .done("accept as uid 1001");
    assert_eq!(
        (alice.id, alice.status, alice.os_uid, alice.role),
        (inv.user.id, UserStatus::Active, Some(1001), Role::Grantee)
    );
    assert_eq!(alice.phone.as_deref(), Some("+44 20 7946 0000"));
    let who = d.client(1001).whoami(ctx()).await.done("whoami as alice");
    assert_eq!(who.user.map(|u| u.email), Some("alice@example.com".into()));
    assert!(
        d.client(1001)
            .list_flows(ctx())
            .await
            .is_ok_and(|r| r.is_ok()),
        "alice can now call the daemon"
    );
    assert_eq!(d.audit("user.invite").await.len(), 1);
    assert_eq!(d.audit("user.accept").await.len(), 1);
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn an_expired_invite_is_refused_and_changes_nothing() {
    let d = TestDaemon::start().await;
    let inv = d
        .admin()
        .invite_user(
            ctx(),
            invite_args("alice@example.com", Role::Grantee, Some(3600)),
        )
        .await
        .done("invite");
    assert_eq!(inv.expires_at, T0.plus(HOUR));
    d.advance(HOUR);

    let head = d.audit_head();
    let e = d
        .client(1001)
        .accept_invite(ctx(), inv.code)
        .await
        .refused("accept an expired invite");
    assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "code");
    assert_eq!(d.audit_head(), head, "a refused accept writes nothing");
    let alice = d
        .admin()
        .get_user(ctx(), email_ref("alice@example.com"))
        .await
        .done("get alice");
    assert_eq!((alice.status, alice.os_uid), (UserStatus::Invited, None));
    assert!(
        d.client(1001)
            .whoami(ctx())
            .await
            .done("whoami")
            .user
            .is_none()
    );
}

#[tokio::test]
async fn a_used_invite_code_cannot_be_reused() {
    let d = TestDaemon::start().await;
    let inv = d
        .admin()
        .invite_user(ctx(), invite_args("alice@example.com", Role::Grantee, None))
        .await
        .done("invite");
    d.client(1001)
        .accept_invite(ctx(), inv.code.clone())
        .await
        .done("first accept");

    let head = d.audit_head();
    let e = d
        .client(1002)
        .accept_invite(ctx(), inv.code.clone())
        .await
        .refused("the same code from another uid");
    assert_api_err!(e, ApiError::NotFound { .. });
    let e = d
        .client(1001)
        .accept_invite(ctx(), inv.code)
        .await
        .refused("the same code again");
    assert_api_err!(e, ApiError::NotFound { .. });
    let e = d
        .client(1002)
        .accept_invite(ctx(), "hp-00000000000000000000000000000000".into())
        .await
        .refused("a made-up code");
    assert_api_err!(e, ApiError::NotFound { .. });
    assert_eq!(d.audit_head(), head);
    assert!(
        d.client(1002)
            .whoami(ctx())
            .await
            .done("whoami 1002")
            .user
            .is_none()
    );
    let alice = d
        .admin()
        .get_user(ctx(), email_ref("alice@example.com"))
        .await
        .done("get alice");
    assert_eq!(
        alice.os_uid,
        Some(1001),
        "the account stays bound to its first acceptor"
    );
}

// ---- approvals ----

/// A submit builds its answer from what its transaction found (flow, approvers); it must
/// equal what a later read of the same request shows.
#[tokio::test]
async fn the_view_a_submit_returns_is_the_view_a_read_returns() {
    let (d, [alice, bob, carol]) = with_people().await;
    let ops = d.add_group("ops", &[&alice, &bob, &carol]).await;
    let mut quorum = flow(
        "db-quorum",
        ApprovalRule::Quorum(2),
        vec![Approver::Group(ops)],
    );
    quorum.allow_self_approval = true;
    d.put_flow(quorum).await;
    d.put_flow(flow(
        "db-admins",
        ApprovalRule::AnyOf,
        vec![Approver::Admins],
    ))
    .await;
    let t = target("db", "read");
    for name in ["db-quorum", "db-admins"] {
        let submitted = d.request(1001, name, &t, Some(HOUR)).await;
        assert_eq!(submitted.status, RequestStatus::Pending, "{name}");
        assert!(!submitted.approvers.is_empty(), "{name}");
        let read = d
            .client(1001)
            .get_request(ctx(), submitted.id)
            .await
            .done("get");
        assert_eq!(submitted, read, "flow {name}");
    }
    // Self-approval allowed and alice is in ops: she may decide her own quorum request.
    let own = d.request(1001, "db-quorum", &t, Some(HOUR)).await;
    assert!(own.can_decide);
    assert_eq!(
        emails(&own.approvers),
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
}

#[tokio::test]
async fn an_any_of_request_waits_for_an_approver_and_access_time_starts_at_activation() {
    let (d, [alice, bob, _carol]) = with_people().await;
    d.put_flow(flow(
        "db-any",
        ApprovalRule::AnyOf,
        vec![approver_user(&bob)],
    ))
    .await;
    let t = target("db", "read");

    let req = d.request(1001, "db-any", &t, Some(HOUR)).await;
    assert_eq!(req.status, RequestStatus::Pending);
    assert_eq!(emails(&req.approvers), vec!["bob@example.com"]);
    assert!(!req.can_decide, "the requester cannot decide");
    assert!(req.grants.is_empty());
    assert_eq!(req.pending_until, T0.plus(24 * HOUR));

    let e = d
        .client(1001)
        .approve(ctx(), req.id, None)
        .await
        .refused("alice approves her own request");
    assert_api_err!(e, ApiError::Forbidden { ref why, .. } if why.contains("own request"));
    let e = d
        .client(1003)
        .approve(ctx(), req.id, None)
        .await
        .refused("carol is no approver");
    assert_api_err!(e, ApiError::Forbidden { .. });
    let waiting = d
        .client(1002)
        .list_requests(
            ctx(),
            RequestQuery {
                scope: RequestScope::ToApprove,
                ..RequestQuery::default()
            },
        )
        .await
        .done("bob's approvals");
    assert_eq!(
        waiting.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![req.id]
    );
    assert!(waiting.items[0].can_decide);

    // The request waits half an hour: that time is not taken from the access.
    d.advance(30 * MINUTE);
    let approved_at = d.now();
    let r = d
        .client(1002)
        .approve(ctx(), req.id, Some("looks fine".into()))
        .await
        .done("bob approves");
    assert_eq!(r.status, RequestStatus::Approved);
    let id = only_grant(&r);
    assert_eq!(
        r.grants[0].status,
        GrantStatus::Granting,
        "the grant waits for its connector call"
    );

    let g = d.wait_grant(id, GrantStatus::Active).await;
    assert_eq!(g.activated_at, Some(approved_at));
    assert_eq!(
        g.expires_at,
        Some(approved_at.plus(HOUR)),
        "expires_at = activated_at + duration"
    );
    assert_ne!(
        g.expires_at,
        Some(T0.plus(HOUR)),
        "not counted from the request"
    );
    assert_eq!(g.remaining_secs, Some(3600));
    assert_eq!(g.user.id, alice.id);

    let log = d.exec_log();
    let grants: Vec<_> = log.iter().filter(|c| c.action == "grant").collect();
    assert_eq!(grants.len(), 1, "{log:?}");
    assert_eq!(grants[0].grant_id(), Some(id.0));
    assert_eq!(grants[0].doc["user"]["id"].as_u64(), Some(alice.id.0));
    assert_eq!(grants[0].doc["resource"], "db");
    assert_eq!(grants[0].doc["permission"], "read");
    assert_eq!(
        grants[0].doc["expires_at"],
        approved_at.plus(HOUR).to_rfc3339(),
        "the command is told the real end"
    );
    assert!(
        log.iter().all(|c| c.action == "grant"),
        "nothing revoked: {log:?}"
    );
    assert!(d.target_has_access(alice.id, &t));

    let approvals = d.audit("request.approve").await;
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].entry.actor.to_string(), "bob@example.com");
    assert_eq!(d.audit("grant.activate").await.len(), 1);
    let alice_events = d.events_for(1001).await;
    assert!(
        alice_events
            .iter()
            .any(|e| matches!(e.kind, EventKind::GrantActivated { grant, .. } if grant == id)),
        "alice hears her access is active: {alice_events:?}"
    );
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn self_approval_works_only_where_the_flow_allows_it_and_is_audited() {
    let (d, [alice, bob, _]) = with_people().await;
    let mut f = flow(
        "self-ok",
        ApprovalRule::AnyOf,
        vec![approver_user(&alice), approver_user(&bob)],
    );
    f.allow_self_approval = true;
    d.put_flow(f).await;

    let req = d
        .request(1001, "self-ok", &target("db", "read"), None)
        .await;
    assert!(
        req.can_decide,
        "the flow lets alice decide on her own request"
    );
    assert_eq!(
        emails(&req.approvers),
        vec!["alice@example.com", "bob@example.com"]
    );
    let r = d
        .client(1001)
        .approve(ctx(), req.id, None)
        .await
        .done("alice approves her own request");
    assert_eq!(r.status, RequestStatus::Approved);
    d.wait_grant(only_grant(&r), GrantStatus::Active).await;

    let selfies = d.audit("request.self_approve").await;
    assert_eq!(selfies.len(), 1, "{selfies:?}");
    assert_eq!(selfies[0].entry.target, req.id.to_string());
    assert_eq!(selfies[0].entry.actor.to_string(), "alice@example.com");
    assert!(
        d.audit("request.approve").await.is_empty(),
        "recorded as a self-approval, not a plain one"
    );
}

#[tokio::test]
async fn quorum_two_needs_two_distinct_approvers() {
    let (d, [_alice, bob, carol]) = with_people().await;
    let dave = d.add_user(1004, "dave@example.com", Role::Grantee).await;
    d.put_flow(flow(
        "db-quorum",
        ApprovalRule::Quorum(2),
        vec![
            approver_user(&bob),
            approver_user(&carol),
            approver_user(&dave),
        ],
    ))
    .await;
    let req = d
        .request(1001, "db-quorum", &target("db", "write"), None)
        .await;

    let r = d
        .client(1002)
        .approve(ctx(), req.id, None)
        .await
        .done("bob approves");
    assert_eq!(r.status, RequestStatus::Pending, "one of two approvals");
    assert_eq!(r.approvals.len(), 1);
    assert_eq!(
        emails(&r.approvers),
        vec!["carol@example.com", "dave@example.com"],
        "who can still approve"
    );
    assert!(r.grants.is_empty());

    let e = d
        .client(1002)
        .approve(ctx(), req.id, None)
        .await
        .refused("bob approves twice");
    assert_api_err!(e, ApiError::Conflict { .. });
    assert_eq!(
        d.admin()
            .get_request(ctx(), req.id)
            .await
            .done("get")
            .approvals
            .len(),
        1
    );

    let r = d
        .client(1003)
        .approve(ctx(), req.id, None)
        .await
        .done("carol approves");
    assert_eq!(r.status, RequestStatus::Approved);
    assert_eq!(r.approvals.len(), 2);
    d.wait_grant(only_grant(&r), GrantStatus::Active).await;
}

#[tokio::test]
async fn all_of_needs_the_group_entry_and_the_user_entry() {
    let (d, [_alice, bob, carol]) = with_people().await;
    let dave = d.add_user(1004, "dave@example.com", Role::Grantee).await;
    let oncall = d.add_group("oncall", &[&carol, &dave]).await;
    d.put_flow(flow(
        "db-all",
        ApprovalRule::AllOf,
        vec![Approver::Group(oncall), approver_user(&bob)],
    ))
    .await;
    let req = d
        .request(1001, "db-all", &target("db", "write"), None)
        .await;
    assert_eq!(
        emails(&req.approvers),
        vec!["bob@example.com", "carol@example.com", "dave@example.com"]
    );

    let r = d
        .client(1003)
        .approve(ctx(), req.id, None)
        .await
        .done("carol (oncall) approves");
    assert_eq!(
        r.status,
        RequestStatus::Pending,
        "the user entry is still missing"
    );
    let r = d
        .client(1004)
        .approve(ctx(), req.id, None)
        .await
        .done("dave (oncall) approves");
    assert_eq!(
        r.status,
        RequestStatus::Pending,
        "a second group member does not stand in for bob"
    );
    let r = d
        .client(1002)
        .approve(ctx(), req.id, None)
        .await
        .done("bob approves");
    assert_eq!(r.status, RequestStatus::Approved);
    d.wait_grant(only_grant(&r), GrantStatus::Active).await;
}

#[tokio::test]
async fn the_requesters_manager_approves_a_manager_flow() {
    let (d, [alice, bob, _carol]) = with_people().await;
    d.put_flow(flow("db-mgr", ApprovalRule::AnyOf, vec![Approver::Manager]))
        .await;

    let head = d.audit_head();
    let e = d
        .client(1001)
        .submit_request(ctx(), new_request("db-mgr", &target("db", "read"), None))
        .await;
    assert_api_err!(e.refused("request without a manager"), ApiError::Conflict { ref why } if why.contains("manager"));
    assert_eq!(
        d.audit_head(),
        head,
        "a request nobody could approve is not stored"
    );

    let a = d
        .admin()
        .set_manager(ctx(), UserRef::Id(alice.id), Some(UserRef::Id(bob.id)))
        .await
        .done("set alice's manager");
    assert_eq!(a.manager, Some(bob.id));
    assert_eq!(a.manager_email.as_deref(), Some("bob@example.com"));
    let req = d.request(1001, "db-mgr", &target("db", "read"), None).await;
    assert_eq!(emails(&req.approvers), vec!["bob@example.com"]);
    let e = d
        .client(1003)
        .approve(ctx(), req.id, None)
        .await
        .refused("carol is not alice's manager");
    assert_api_err!(e, ApiError::Forbidden { .. });
    let r = d
        .client(1002)
        .approve(ctx(), req.id, None)
        .await
        .done("bob, the manager, approves");
    assert_eq!(r.status, RequestStatus::Approved);
}

// ---- extension ----

#[tokio::test]
async fn an_auto_flow_approves_at_once_and_extends_up_to_its_maximum() {
    let (d, _) = with_people().await;
    let mut f = auto_flow("auto-db");
    f.max_duration = 2 * HOUR;
    d.put_flow(f).await;

    let req = d
        .request(1001, "auto-db", &target("db", "read"), None)
        .await;
    assert_eq!(
        req.status,
        RequestStatus::Approved,
        "auto flows need nobody"
    );
    assert_eq!(req.duration_secs, 3600, "the flow's default duration");
    let g = d.wait_grant(only_grant(&req), GrantStatus::Active).await;
    assert_eq!(g.expires_at, Some(T0.plus(HOUR)));

    let alice = d.client(1001);
    let head = d.audit_head();
    let e = alice
        .extend(ctx(), g.id, extend_args(2 * HOUR))
        .await
        .refused("extend past the flow's maximum");
    assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "duration");
    assert_eq!(d.audit_head(), head, "a refused extension writes nothing");
    assert_eq!(d.grant(g.id).await.expires_at, Some(T0.plus(HOUR)));

    let r = alice
        .extend(ctx(), g.id, extend_args(HOUR))
        .await
        .done("extend to exactly the maximum");
    assert_eq!(r.status, RequestStatus::Approved);
    assert_eq!(r.kind, RequestKind::Extend { grant: g.id });
    let after = d.grant(g.id).await;
    assert_eq!(
        after.expires_at,
        Some(T0.plus(2 * HOUR)),
        "the deadline moved by the extension"
    );
    assert_eq!(after.status, GrantStatus::Active);

    let e = alice
        .extend(ctx(), g.id, extend_args(Duration::from_secs(60)))
        .await
        .refused("one more minute");
    assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "duration");
    assert_eq!(
        d.exec_calls("grant", g.id),
        1,
        "extending does not grant again"
    );
    assert_eq!(d.audit("grant.extend").await.len(), 1);
    let events = d.events_for(1001).await;
    assert!(events.iter().any(
        |e| matches!(e.kind, EventKind::GrantExtended { grant, expires_at, .. }
        if grant == g.id && expires_at == T0.plus(2 * HOUR))
    ));
}

#[tokio::test]
async fn an_extension_on_an_any_of_flow_waits_for_approval() {
    let (d, [_alice, bob, _]) = with_people().await;
    d.put_flow(flow(
        "db-any",
        ApprovalRule::AnyOf,
        vec![approver_user(&bob)],
    ))
    .await;
    let id = approved_grant(&d).await;
    let before = d
        .grant(id)
        .await
        .expires_at
        .expect("active grants have a deadline");

    let r = d
        .client(1001)
        .extend(ctx(), id, extend_args(30 * MINUTE))
        .await
        .done("alice asks for 30 more minutes");
    assert_eq!(r.status, RequestStatus::Pending);
    assert_eq!(r.kind, RequestKind::Extend { grant: id });
    assert_eq!(emails(&r.approvers), vec!["bob@example.com"]);
    assert_eq!(
        d.grant(id).await.expires_at,
        Some(before),
        "nothing changes before approval"
    );

    let e = d
        .client(1002)
        .extend(ctx(), id, extend_args(30 * MINUTE))
        .await
        .refused("bob extends alice's grant");
    assert_api_err!(e, ApiError::Forbidden { .. });

    let done = d
        .client(1002)
        .approve(ctx(), r.id, None)
        .await
        .done("bob approves the extension");
    assert_eq!(done.status, RequestStatus::Approved);
    let g = d.grant(id).await;
    assert_eq!(g.expires_at, Some(before.plus(30 * MINUTE)));
    assert_eq!(g.status, GrantStatus::Active);
    assert_eq!(d.exec_calls("grant", id), 1);
}

// ---- the pending clock ----

#[tokio::test]
async fn a_request_times_out_when_its_pending_ttl_passes() {
    let (mut d, [alice, bob, _]) = with_people().await;
    let mut f = flow("db-any", ApprovalRule::AnyOf, vec![approver_user(&bob)]);
    f.pending_ttl = HOUR;
    d.put_flow(f).await;
    let req = d.request(1001, "db-any", &target("db", "read"), None).await;
    assert_eq!(req.pending_until, T0.plus(HOUR));

    // Reads see the timeout even while the scheduler has not acted on it.
    d.stop_scheduler().await;
    d.advance(HOUR);
    let seen = d
        .client(1001)
        .get_request(ctx(), req.id)
        .await
        .done("alice reads her request");
    assert_eq!(seen.status, RequestStatus::TimedOut);
    let stored = d
        .broker
        .store()
        .request(req.id)
        .expect("read the store")
        .expect("the request exists");
    assert_eq!(
        stored.status,
        RequestStatus::Pending,
        "the scheduler has not run yet"
    );
    let e = d
        .client(1002)
        .approve(ctx(), req.id, None)
        .await
        .refused("approve after the TTL");
    assert_api_err!(e, ApiError::InvalidTransition { .. });

    d.start_scheduler().await;
    let stored = d
        .broker
        .store()
        .request(req.id)
        .expect("read the store")
        .expect("the request exists");
    assert_eq!(
        stored.status,
        RequestStatus::TimedOut,
        "the catch-up step times it out"
    );
    let audit = d.audit("request.time_out").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.target, req.id.to_string());
    assert_eq!(audit[0].entry.subject, Some(alice.id));
    let events = d.events_for(1001).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::RequestTimedOut { request } if request == req.id))
    );
    assert!(d.exec_log().is_empty(), "nothing was granted");
    d.assert_audit_intact().await;
}

// ---- ending access ----

#[tokio::test]
async fn access_expires_at_its_deadline_and_reads_never_show_it_active_past_it() {
    let (mut d, [alice, ..]) = with_people().await;
    d.put_flow(auto_flow("auto-db")).await;
    let t = target("db", "read");
    let g = d.active_grant(1001, "auto-db", &t, Some(HOUR)).await;
    let deadline = g.expires_at.expect("a deadline");

    d.stop_scheduler().await;
    d.advance_to(deadline);
    let stored = d
        .broker
        .store()
        .grant(g.id)
        .expect("read the store")
        .expect("the grant exists");
    assert_eq!(
        stored.status,
        GrantStatus::Active,
        "the scheduler has not run yet"
    );
    let seen = d
        .client(1001)
        .get_grant(ctx(), g.id)
        .await
        .done("alice reads her grant");
    assert_ne!(
        seen.status,
        GrantStatus::Active,
        "never active at or past expires_at"
    );
    assert_eq!(seen.remaining_secs, None);
    let active = d
        .admin()
        .list_grants(
            ctx(),
            GrantQuery {
                scope: GrantScope::All,
                statuses: vec![GrantStatus::Active],
                ..GrantQuery::default()
            },
        )
        .await
        .done("list active grants");
    assert!(active.items.is_empty(), "{active:?}");
    assert_eq!(
        d.admin().status(ctx()).await.done("status").active_grants,
        0
    );
    let e = d
        .client(1001)
        .extend(ctx(), g.id, extend_args(MINUTE))
        .await
        .refused("extend an expired grant");
    assert_api_err!(e, ApiError::InvalidTransition { .. });
    assert_eq!(d.exec_calls("revoke", g.id), 0);

    d.start_scheduler().await;
    let done = d.wait_grant(g.id, GrantStatus::Expired).await;
    assert_eq!(done.end_reason, Some(EndReason::Expired));
    assert_eq!(done.ended_at, Some(deadline));
    assert_eq!(d.exec_calls("revoke", g.id), 1);
    assert!(!d.target_has_access(alice.id, &t));
    assert_eq!(d.audit("grant.expire").await.len(), 1);
    assert_eq!(d.audit("grant.expired").await.len(), 1);
    let events = d.events_for(1001).await;
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::GrantEnded { grant, reason: EndReason::Expired, .. } if *grant == g.id)));
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn the_holder_releases_their_own_access() {
    let (d, [alice, ..]) = with_people().await;
    d.put_flow(auto_flow("auto-db")).await;
    let t = target("ssh", "login");
    let g = d.active_grant(1001, "auto-db", &t, None).await;

    let e = d
        .client(1002)
        .release(ctx(), g.id)
        .await
        .refused("bob releases alice's access");
    assert_api_err!(e, ApiError::Forbidden { ref why, .. } if why.contains("holder"));
    let e = d
        .admin()
        .release(ctx(), g.id)
        .await
        .refused("an admin releases someone's access");
    assert_api_err!(e, ApiError::Forbidden { .. });

    let r = d
        .client(1001)
        .release(ctx(), g.id)
        .await
        .done("alice releases");
    assert_eq!(r.status, GrantStatus::Revoking);
    let done = d.wait_grant(g.id, GrantStatus::Revoked).await;
    assert_eq!(done.end_reason, Some(EndReason::Released));
    assert_eq!(d.exec_calls("revoke", g.id), 1);
    assert!(!d.target_has_access(alice.id, &t));
    let e = d
        .client(1001)
        .release(ctx(), g.id)
        .await
        .refused("release twice");
    assert_api_err!(e, ApiError::InvalidTransition { .. });
}

#[tokio::test]
async fn an_admin_revokes_with_a_reason_and_grantees_are_told_who_can() {
    let (d, [alice, ..]) = with_people().await;
    d.put_flow(auto_flow("auto-db")).await;
    let t = target("db", "write");
    let g = d.active_grant(1001, "auto-db", &t, None).await;

    let e = d
        .client(1001)
        .revoke(ctx(), g.id, None)
        .await
        .refused("alice calls revoke");
    let shown = e.to_string();
    assert_api_err!(e, ApiError::Forbidden { ref admins, .. } if admins == &vec![ADMIN_EMAIL.to_string()]);
    assert!(
        shown.contains(ADMIN_EMAIL) && shown.contains("admins"),
        "the message names the admins: {shown}"
    );
    let e = d
        .client(1002)
        .revoke(ctx(), g.id, Some("no".into()))
        .await
        .refused("bob calls revoke");
    assert_api_err!(e, ApiError::Forbidden { .. });
    assert_eq!(d.grant(g.id).await.status, GrantStatus::Active);

    let admin_id = d
        .admin()
        .whoami(ctx())
        .await
        .done("whoami")
        .user
        .expect("the admin")
        .id;
    let r = d
        .admin()
        .revoke(ctx(), g.id, Some("incident INC-7".into()))
        .await
        .done("the admin revokes");
    assert_eq!(r.status, GrantStatus::Revoking);
    let done = d.wait_grant(g.id, GrantStatus::Revoked).await;
    assert_eq!(
        done.end_reason,
        Some(EndReason::Revoked {
            by: admin_id,
            reason: Some("incident INC-7".into())
        })
    );
    assert_eq!(d.exec_calls("revoke", g.id), 1);
    assert!(!d.target_has_access(alice.id, &t));
    let audit = d.audit("grant.revoke").await;
    assert!(
        audit
            .iter()
            .any(|e| e.entry.action == "grant.revoke" && e.entry.summary.contains("INC-7")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn overlapping_grants_keep_access_until_the_last_one_ends() {
    let (d, [alice, ..]) = with_people().await;
    d.put_flow(auto_flow("auto-db")).await;
    let t = target("db", "read");
    let first = d.active_grant(1001, "auto-db", &t, Some(HOUR)).await;
    d.advance(30 * MINUTE);
    let second = d.active_grant(1001, "auto-db", &t, Some(HOUR)).await;
    assert_ne!(first.request, second.request);
    assert_eq!(second.expires_at, Some(T0.plus(90 * MINUTE)));

    // The first ends while the second still covers the same access.
    d.advance(30 * MINUTE);
    d.wait_grant(first.id, GrantStatus::Expired).await;
    assert_eq!(
        d.exec_calls("revoke", first.id),
        0,
        "no revoke while another grant covers the access"
    );
    assert!(d.target_has_access(alice.id, &t), "access is kept");
    let ended = d.audit("grant.expired").await;
    assert_eq!(ended.len(), 1);
    assert!(
        ended[0].entry.summary.contains("kept"),
        "the audit says why nothing was removed: {:?}",
        ended[0].entry
    );
    assert_eq!(d.grant(second.id).await.status, GrantStatus::Active);

    d.advance(30 * MINUTE);
    d.wait_grant(second.id, GrantStatus::Expired).await;
    assert_eq!(d.exec_calls("revoke", second.id), 1);
    assert!(
        !d.target_has_access(alice.id, &t),
        "the last grant takes the access away"
    );
    assert_eq!(
        d.exec_log().iter().filter(|c| c.action == "revoke").count(),
        1
    );
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn a_failing_revocation_is_retried_shown_as_revoke_failed_and_finally_completes() {
    let (d, [alice, ..]) = with_people().await;
    d.put_flow(auto_flow("auto-db")).await;
    let t = target("db", "write");
    let g = d.active_grant(1001, "auto-db", &t, Some(HOUR)).await;

    d.set_revoke_failing(true);
    d.advance(HOUR);
    let mut seen_attempts = Vec::new();
    for attempt in 1..=3u32 {
        let view = wait_for(format!("revoke attempt {attempt} of {}", g.id), || async {
            let v = d.grant(g.id).await;
            (v.attempts == attempt).then_some(v)
        })
        .await;
        assert_ne!(
            view.status,
            GrantStatus::Active,
            "never shown active while revocation fails"
        );
        assert!(
            view.last_error
                .as_deref()
                .is_some_and(|e| e.contains("revoke refused")),
            "{view:?}"
        );
        let next = view.next_attempt_at.expect("a retry is scheduled");
        assert!(next > d.now(), "the retry is in the future");
        let delay = d.now().until(next);
        assert!(
            delay <= Duration::from_secs(72),
            "backoff is capped (60 s + jitter): {delay:?}"
        );
        seen_attempts.push((view.status, delay));
        if attempt < 3 {
            d.advance_to(next);
        }
    }
    assert_eq!(seen_attempts[0].0, GrantStatus::Revoking);
    assert_eq!(seen_attempts[1].0, GrantStatus::Revoking);
    assert_eq!(
        seen_attempts[2].0,
        GrantStatus::RevokeFailed,
        "after three failures: {seen_attempts:?}"
    );
    assert!(
        seen_attempts[1].1 > seen_attempts[0].1,
        "backoff grows: {seen_attempts:?}"
    );
    assert_eq!(
        d.admin().status(ctx()).await.done("status").failing_grants,
        1
    );
    let admin_events = d.events_for(ADMIN_UID).await;
    let failed: Vec<_> = admin_events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::GrantRevokeFailed { grant, attempts: 3, .. } if grant == g.id))
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "one GrantRevokeFailed event: {admin_events:?}"
    );
    assert!(
        d.target_has_access(alice.id, &t),
        "the target still has it: that is why it is alarming"
    );
    assert_eq!(d.exec_calls("revoke_refused", g.id), 3);

    d.set_revoke_failing(false);
    let next = d
        .grant(g.id)
        .await
        .next_attempt_at
        .expect("a retry is scheduled");
    d.advance_to(next);
    let done = d.wait_grant(g.id, GrantStatus::Expired).await;
    assert_eq!(done.end_reason, Some(EndReason::Expired));
    assert_eq!(d.exec_calls("revoke", g.id), 1);
    assert!(!d.target_has_access(alice.id, &t));
    assert_eq!(d.audit("grant.revoke_attempt_failed").await.len(), 3);
    assert_eq!(d.audit("grant.expired").await.len(), 1);
    assert_eq!(
        d.admin().status(ctx()).await.done("status").failing_grants,
        0
    );
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn an_admin_forces_the_end_of_a_revocation_that_cannot_complete() {
    let (d, [alice, ..]) = with_people().await;
    d.put_flow(auto_flow("auto-db")).await;
    let t = target("db", "write");
    let g = d.active_grant(1001, "auto-db", &t, Some(HOUR)).await;
    d.set_revoke_failing(true);
    d.admin()
        .revoke(ctx(), g.id, Some("contract ended".into()))
        .await
        .done("revoke");
    wait_for("the first failed attempt", || async {
        let v = d.grant(g.id).await;
        (v.attempts >= 1).then_some(v)
    })
    .await;

    // A grantee cannot force; a reason is required; an Active grant cannot be forced.
    let refused = d
        .client(1001)
        .force_end_grant(ctx(), g.id, "mine".into())
        .await
        .refused("a grantee forcing");
    assert_eq!(refused.kind(), "forbidden");
    let blank = d
        .admin()
        .force_end_grant(ctx(), g.id, "  ".into())
        .await
        .refused("no reason");
    assert_eq!(blank.kind(), "invalid_input");

    // Retry now: another attempt at once instead of at the backoff.
    let before = d.grant(g.id).await.attempts;
    d.admin().retry_grant(ctx(), g.id).await.done("retry");
    wait_for("the retried attempt", || async {
        let v = d.grant(g.id).await;
        (v.attempts > before).then_some(v)
    })
    .await;

    let forced = d
        .admin()
        .force_end_grant(ctx(), g.id, "host decommissioned".into())
        .await
        .done("force");
    assert_eq!(forced.status, GrantStatus::Revoked);
    let audit = d.audit("grant.force_end").await;
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0].entry.summary.contains("host decommissioned")
            && audit[0].entry.summary.contains("revoke refused"),
        "the reason and the last error are on record: {:?}",
        audit[0].entry
    );
    assert!(
        d.events_for(1001).await.iter().any(|e| matches!(
            e.kind,
            EventKind::GrantEnded { grant, .. } if grant == g.id
        )),
        "the holder hears that it ended"
    );
    // Forcing records the end without touching the target: the access is still there.
    assert!(d.target_has_access(alice.id, &t));
    // No more connector work is owed.
    let view = d.grant(g.id).await;
    assert_eq!(view.next_attempt_at, None);
    let again = d
        .admin()
        .retry_grant(ctx(), g.id)
        .await
        .refused("retry after the end");
    assert_eq!(again.kind(), "invalid_transition");
}

// ---- deleting people ----

#[tokio::test]
async fn deleting_a_user_cancels_their_requests_revokes_their_access_and_keeps_history() {
    let d = TestDaemon::start().await;
    // uid 65534 (nobody) has a name, so the OS account shows in the connector documents.
    let alice = d.add_user(65534, "alice@example.com", Role::Grantee).await;
    let bob = d.add_user(1002, "bob@example.com", Role::Grantee).await;
    d.put_flow(auto_flow("auto-db")).await;
    d.put_flow(flow(
        "db-any",
        ApprovalRule::AnyOf,
        vec![approver_user(&bob)],
    ))
    .await;
    let t = target("db", "read");
    let g = d.active_grant(65534, "auto-db", &t, None).await;
    let pending = d
        .request(65534, "db-any", &target("ssh", "login"), None)
        .await;
    let os_user = alice
        .os_user
        .clone()
        .expect("uid 65534 has an OS account name");

    let gone = d
        .admin()
        .delete_user(ctx(), UserRef::Id(alice.id))
        .await
        .done("delete alice");
    assert_eq!(gone.status, UserStatus::Deleted);

    let req = d
        .admin()
        .get_request(ctx(), pending.id)
        .await
        .done("get alice's pending request");
    assert_eq!(req.status, RequestStatus::Cancelled);
    let done = d.wait_grant(g.id, GrantStatus::Revoked).await;
    assert_eq!(done.end_reason, Some(EndReason::UserDeleted));
    assert!(!d.target_has_access(alice.id, &t));
    let revokes: Vec<_> = d
        .exec_log()
        .into_iter()
        .filter(|c| c.action == "revoke")
        .collect();
    assert_eq!(revokes.len(), 1, "{revokes:?}");
    assert_eq!(revokes[0].doc["user"]["id"].as_u64(), Some(alice.id.0));
    assert_eq!(
        revokes[0].doc["user"]["os_user"],
        os_user.as_str(),
        "the revoke command still learns whose access it removes"
    );

    // History stays: the record, the requests, the grants and the audit trail.
    let kept = d
        .admin()
        .get_user(ctx(), email_ref("alice@example.com"))
        .await
        .done("get deleted alice");
    assert_eq!(kept.status, UserStatus::Deleted);
    let history = d
        .admin()
        .list_audit(
            ctx(),
            AuditQuery {
                person: Some(UserRef::Id(alice.id)),
                limit: 1000,
                ..AuditQuery::default()
            },
        )
        .await
        .done("alice's audit trail");
    let actions: Vec<&str> = history
        .items
        .iter()
        .map(|e| e.entry.action.as_str())
        .collect();
    for a in [
        "user.invite",
        "user.accept",
        "request.submit",
        "grant.activate",
        "request.cancel",
        "user.delete",
        "grant.revoked",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let waiting = d
        .client(1002)
        .list_requests(
            ctx(),
            RequestQuery {
                scope: RequestScope::ToApprove,
                ..RequestQuery::default()
            },
        )
        .await
        .done("bob's approvals");
    assert!(waiting.items.is_empty(), "{waiting:?}");

    let who = d
        .client(65534)
        .whoami(ctx())
        .await
        .done("whoami as the deleted user's uid");
    assert!(who.user.is_none());
    let e = d
        .client(65534)
        .list_flows(ctx())
        .await
        .refused("the deleted user calls");
    assert_api_err!(e, ApiError::Unauthenticated { uid: 65534, .. });
    d.assert_audit_intact().await;
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_deleted() {
    let d = TestDaemon::start().await;
    let me = d
        .admin()
        .whoami(ctx())
        .await
        .done("whoami")
        .user
        .expect("the admin");

    let head = d.audit_head();
    let e = d
        .admin()
        .set_role(ctx(), UserRef::Id(me.id), Role::Grantee)
        .await
        .refused("demote the last admin");
    assert_api_err!(e, ApiError::Conflict { .. });
    let e = d
        .admin()
        .delete_user(ctx(), UserRef::Id(me.id))
        .await
        .refused("delete the last admin");
    assert_api_err!(e, ApiError::Conflict { .. });
    assert_eq!(d.audit_head(), head);

    let second = d.add_user(1001, "second@example.com", Role::Admin).await;
    let demoted = d
        .client(1001)
        .set_role(ctx(), UserRef::Id(me.id), Role::Grantee)
        .await
        .done("the second admin demotes the first");
    assert_eq!(demoted.role, Role::Grantee);
    let e = d
        .client(1001)
        .delete_user(ctx(), UserRef::Id(second.id))
        .await
        .refused("delete the new last admin");
    assert_api_err!(e, ApiError::Conflict { .. });
    let e = d
        .client(1001)
        .set_role(ctx(), UserRef::Id(second.id), Role::Auditor)
        .await
        .refused("demote the new last admin");
    assert_api_err!(e, ApiError::Conflict { .. });
    let e = d
        .admin()
        .set_role(ctx(), UserRef::Id(me.id), Role::Admin)
        .await
        .refused("the demoted admin promotes themself");
    assert_api_err!(e, ApiError::Forbidden { .. });
}

// ---- bad input ----

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_writes_nothing() {
    let (d, [_alice, bob, _]) = with_people().await;
    d.put_flow(flow(
        "db-any",
        ApprovalRule::AnyOf,
        vec![approver_user(&bob)],
    ))
    .await;
    let mut narrow = flow("narrow", ApprovalRule::AnyOf, vec![approver_user(&bob)]);
    narrow.targets.resources = vec![target("db", "read")];
    d.put_flow(narrow).await;
    d.put_flow(auto_flow("auto-db")).await;
    let g = d
        .active_grant(1001, "auto-db", &target("logs", "read"), None)
        .await;

    let (audit_before, events_before) = (d.audit_head(), d.event_head());
    let alice = d.client(1001);
    let submit = |r: NewRequest| {
        let alice = alice.clone();
        async move { alice.submit_request(ctx(), r).await }
    };

    let mut r = new_request("db-any", &target("db", "read"), None);
    r.flow = FlowName::new("no-such-flow").expect("a slug");
    let e = submit(r).await.refused("unknown flow");
    assert_api_err!(e, ApiError::NotFound { ref what } if what.contains("no-such-flow"));

    let e = submit(new_request("narrow", &target("ssh", "login"), None))
        .await
        .refused("a target the flow does not offer");
    assert_api_err!(e, ApiError::InvalidInput { ref field, ref why } if field == "resource" && why.contains("ssh/login"));

    let mut r = new_request("narrow", &target("db", "read"), None);
    r.targets = vec![];
    let e = submit(r).await.refused("no target at all");
    assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "resource");

    let e = submit(new_request("db-any", &target("db", "read"), Some(9 * HOUR)))
        .await
        .refused("longer than the flow allows");
    assert_api_err!(e, ApiError::InvalidInput { ref field, ref why } if field == "duration" && why.contains("8h"));

    let e = submit(new_request(
        "db-any",
        &target("db", "read"),
        Some(Duration::ZERO),
    ))
    .await
    .refused("zero duration");
    assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "duration");

    for reason in [None, Some("   ".to_string())] {
        let mut r = new_request("db-any", &target("db", "read"), None);
        r.reason = reason.clone();
        let e = submit(r)
            .await
            .refused(&format!("reason {reason:?} on a flow that requires one"));
        assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "reason");
    }

    let e = alice
        .extend(ctx(), g.id, extend_args(Duration::ZERO))
        .await
        .refused("extend by nothing");
    assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "duration");

    let e = alice
        .approve(ctx(), RequestId(999_999), None)
        .await
        .refused("approve a request that does not exist");
    assert_api_err!(e, ApiError::NotFound { .. });

    let admin = d.admin();
    for (email, phone, field) in [
        ("not-an-email", None, "email"),
        ("a b@example.com", None, "email"),
        ("ok@example.com", Some("call me maybe".to_string()), "phone"),
    ] {
        let args = InviteArgs {
            email: email.into(),
            name: "X".into(),
            role: Role::Grantee,
            phone,
            expires_in_secs: None,
        };
        let e = admin
            .invite_user(ctx(), args)
            .await
            .refused(&format!("invite {email}"));
        assert_api_err!(e, ApiError::InvalidInput { field: ref f, .. } if f == field);
    }
    let args = InviteArgs {
        email: "ok@example.com".into(),
        name: " ".into(),
        role: Role::Grantee,
        phone: None,
        expires_in_secs: None,
    };
    let e = admin
        .invite_user(ctx(), args)
        .await
        .refused("invite without a name");
    assert_api_err!(e, ApiError::InvalidInput { ref field, .. } if field == "name");
    let args = InviteArgs {
        email: "bob@example.com".into(),
        name: "Bob".into(),
        role: Role::Grantee,
        phone: None,
        expires_in_secs: None,
    };
    let e = admin
        .invite_user(ctx(), args)
        .await
        .refused("invite an existing user");
    assert_api_err!(e, ApiError::Conflict { .. });

    assert_eq!(d.audit_head(), audit_before, "refusals write no audit");
    assert_eq!(d.event_head(), events_before, "refusals write no events");
    let all = d
        .admin()
        .list_requests(
            ctx(),
            RequestQuery {
                scope: RequestScope::All,
                ..RequestQuery::default()
            },
        )
        .await
        .done("list every request");
    assert_eq!(all.items.len(), 1, "only the auto request exists: {all:?}");
    assert_eq!(d.grant(g.id).await.expires_at, g.expires_at);
}

// ---- audit and events ----

#[tokio::test]
async fn the_audit_chain_verifies_after_a_whole_lifecycle() {
    let (d, [_alice, bob, _]) = with_people().await;
    d.put_flow(flow(
        "db-any",
        ApprovalRule::AnyOf,
        vec![approver_user(&bob)],
    ))
    .await;
    let id = approved_grant(&d).await;
    let ext = d
        .client(1001)
        .extend(ctx(), id, extend_args(MINUTE))
        .await
        .done("extend");
    d.client(1002)
        .approve(ctx(), ext.id, None)
        .await
        .done("approve the extension");
    let rejected = d
        .request(1001, "db-any", &target("db", "write"), None)
        .await;
    d.client(1002)
        .reject(ctx(), rejected.id, Some("not today".into()))
        .await
        .done("reject");
    let again = d
        .client(1001)
        .request_again(
            ctx(),
            rejected.id,
            hallpass_proto::AgainArgs {
                duration_secs: None,
                reason: None,
                source: Source::Cli,
            },
        )
        .await
        .done("request again");
    assert_eq!(
        (again.status, again.again_of),
        (RequestStatus::Pending, Some(rejected.id))
    );
    d.client(1001).cancel(ctx(), again.id).await.done("cancel");
    d.advance(2 * HOUR);
    d.wait_grant(id, GrantStatus::Expired).await;

    d.assert_audit_intact().await;
    let all = d.audit_log().await;
    assert_eq!(all.len() as u64, d.audit_head());
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "audit sequence numbers have no gaps");
        assert!(e.is_intact(), "event {} matches its hash", e.seq);
        if i > 0 {
            assert_eq!(
                e.prev_hash,
                all[i - 1].hash,
                "event {} links to its predecessor",
                e.seq
            );
            assert!(e.at >= all[i - 1].at, "audit time never goes backwards");
        }
    }
    for action in [
        "request.submit",
        "request.approve",
        "request.reject",
        "request.again",
        "request.cancel",
        "grant.extend",
        "grant.expired",
    ] {
        assert!(
            all.iter().any(|e| e.entry.action == action),
            "{action} audited"
        );
    }
}

#[tokio::test]
async fn events_reach_their_audience_through_a_resumable_cursor() {
    let (d, [alice, bob, _]) = with_people().await;
    d.add_user(1005, "audrey@example.com", Role::Auditor).await;
    d.put_flow(auto_flow("auto-db")).await;
    let ga = d
        .active_grant(1001, "auto-db", &target("db", "read"), None)
        .await;
    let gb = d
        .active_grant(1002, "auto-db", &target("db", "read"), None)
        .await;

    let is_about = |e: &hallpass_core::event::Event, g: &hallpass_proto::GrantView| match &e.kind {
        EventKind::RequestSubmitted { request, .. }
        | EventKind::RequestApproved { request, .. } => *request == g.request,
        EventKind::GrantActivated { grant, .. } => *grant == g.id,
        _ => false,
    };
    let for_alice = d.events_for(1001).await;
    assert!(
        for_alice.iter().all(|e| e.audience.contains(&alice.id)),
        "alice sees only events for her: {for_alice:?}"
    );
    assert!(for_alice.iter().any(|e| is_about(e, &ga)));
    assert!(
        !for_alice.iter().any(|e| is_about(e, &gb)),
        "alice does not see bob's access"
    );
    let for_bob = d.events_for(1002).await;
    assert!(for_bob.iter().any(|e| is_about(e, &gb)) && !for_bob.iter().any(|e| is_about(e, &ga)));
    for uid in [ADMIN_UID, 1005] {
        let all = d.events_for(uid).await;
        assert!(
            all.iter().any(|e| is_about(e, &ga)) && all.iter().any(|e| is_about(e, &gb)),
            "uid {uid} sees everything"
        );
        assert_eq!(
            all.len() as u64,
            d.event_head(),
            "uid {uid} sees every event"
        );
    }
    assert!(
        !for_alice
            .iter()
            .any(|e| e.audience.contains(&bob.id) && !e.audience.contains(&alice.id))
    );

    // One event at a time, the cursor resumes where it stopped and ends at the head.
    let c = d.client(1001);
    let (mut cursor, mut one_by_one) = (0, Vec::new());
    loop {
        let b = c.events_since(ctx(), cursor, 1, 0).await.done("one event");
        assert!(b.cursor >= cursor, "the cursor never moves back");
        cursor = b.cursor;
        if b.events.is_empty() {
            break;
        }
        assert_eq!(b.events.len(), 1);
        one_by_one.extend(b.events);
    }
    assert_eq!(one_by_one, for_alice);
    assert_eq!(
        cursor,
        d.event_head(),
        "the cursor moves past events alice may not see"
    );
}

#[tokio::test]
async fn a_long_poll_returns_when_an_event_for_the_caller_arrives() {
    let (d, [alice, ..]) = with_people().await;
    d.put_flow(auto_flow("auto-db")).await;
    let head = d.event_head();

    let quiet = d
        .client(1001)
        .events_since(ctx(), head, 100, 50)
        .await
        .done("a short poll with nothing new");
    assert!(quiet.events.is_empty());
    assert_eq!(quiet.cursor, head);

    let c = d.client(1001);
    let poll = tokio::spawn(async move {
        c.events_since(ctx(), head, 100, 8_000)
            .await
            .done("long poll")
    });
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(!poll.is_finished(), "the poll waits while nothing happens");
    let bobs = d
        .request(1002, "auto-db", &target("db", "read"), None)
        .await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(
        !poll.is_finished(),
        "an event alice may not see does not end her wait"
    );

    let mine = d
        .request(1001, "auto-db", &target("db", "write"), None)
        .await;
    let batch = tokio::time::timeout(WAIT, poll)
        .await
        .expect("the poll returns")
        .expect("the poll task");
    assert!(!batch.events.is_empty());
    assert!(
        batch.events.iter().all(|e| e.audience.contains(&alice.id)),
        "{batch:?}"
    );
    assert!(batch.events.iter().any(
        |e| matches!(e.kind, EventKind::RequestSubmitted { request, .. } if request == mine.id)
    ));
    assert!(!batch.events.iter().any(
        |e| matches!(e.kind, EventKind::RequestSubmitted { request, .. } if request == bobs.id)
    ));
    assert!(batch.cursor > head);
}

#[tokio::test]
async fn following_from_now_skips_history_and_sees_what_comes_next() {
    let (d, [alice, ..]) = with_people().await;
    let head = d.event_head();
    assert!(head > 0, "signup and invites produced events");
    let start = d
        .client(1001)
        .events_since(ctx(), hallpass_proto::FROM_NOW, 100, 0)
        .await
        .done("follow from now");
    assert!(start.events.is_empty(), "no history: {:?}", start.events);
    assert_eq!(start.cursor, head);

    // The next event for alice arrives after that cursor.
    d.put_flow(auto_flow("auto-db")).await;
    d.active_grant(1001, "auto-db", &target("db", "read"), Some(HOUR))
        .await;
    // The grant reads as active once committed; its event is readable once durable, which a
    // shared flush may finish a moment later: follow the cursor (long polls) until it shows.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (mut cursor, mut seen) = (start.cursor, Vec::new());
    while !seen
        .iter()
        .any(|e: &hallpass_core::event::Event| matches!(e.kind, EventKind::GrantActivated { user, .. } if user == alice.id))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no GrantActivated after the head: {seen:?}"
        );
        let next = d
            .client(1001)
            .events_since(ctx(), cursor, 100, 1000)
            .await
            .done("events after the head");
        assert!(next.events.iter().all(|e| e.seq > start.cursor), "history: {next:?}");
        cursor = next.cursor;
        seen.extend(next.events);
    }
}
