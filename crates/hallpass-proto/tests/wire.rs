//! The wire format: every request, response, event and error survives a JSON round trip, and
//! the handshake's JSON is pinned byte for byte so other languages can rely on it.

use std::collections::BTreeSet;
use std::time::Duration;

use hallpass_core::audit::{Actor, AuditEntry, AuditEvent, GENESIS_HASH, Source};
use hallpass_core::event::{Event, EventKind};
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::integration::Target;
use hallpass_core::request::{Decision, RequestKind, RequestStatus};
use hallpass_core::user::{Role, UserStatus};
use hallpass_core::{FlowName, GrantId, RequestId, Timestamp, UserId};
use hallpass_proto::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: T) {
    let json = serde_json::to_string(&v).expect("serializes");
    let back: T =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not parse back: {e}"));
    assert_eq!(back, v, "{json}");
}

fn target() -> Target {
    "pg/orders/read".parse().expect("target")
}

fn user_view() -> UserView {
    UserView {
        id: UserId(2),
        email: "grace@example.com".into(),
        name: "Grace".into(),
        phone: Some("+1 555 0100".into()),
        role: Role::Grantee,
        status: UserStatus::Active,
        os_user: Some("grace".into()),
        os_uid: Some(1001),
        manager: Some(UserId(1)),
        manager_email: Some("ada@example.com".into()),
        groups: vec!["sre".parse().expect("group")],
        created_at: Timestamp(1_800_000_000_000),
        company: "Vendor Ltd".into(),
        login: None,
        sources: vec![],
    }
}

fn request_view() -> RequestView {
    RequestView {
        id: RequestId(1001),
        requester: UserRefView {
            id: UserId(2),
            email: "grace@example.com".into(),
        },
        flow: FlowName::new("db-read").expect("flow"),
        kind: RequestKind::Extend { grant: GrantId(3) },
        bundle: None,
        targets: vec![target()],
        duration_secs: 3600,
        reason: "debug".into(),
        status: RequestStatus::Pending,
        created_at: Timestamp(1),
        pending_until: Timestamp(2),
        approvals: vec![Decision {
            by: UserId(1),
            at: Timestamp(3),
            reason: Some("ok".into()),
        }],
        rejection: None,
        grants: vec![GrantSummary {
            id: GrantId(3),
            target: target(),
            status: GrantStatus::Active,
            expires_at: Some(Timestamp(9)),
        }],
        approvers: vec![UserRefView {
            id: UserId(1),
            email: "ada@example.com".into(),
        }],
        can_decide: true,
        approval_rule: "quorum 2".into(),
        again_of: Some(RequestId(1000)),
    }
}

fn grant_view() -> GrantView {
    GrantView {
        id: GrantId(3),
        request: RequestId(1001),
        user: UserRefView {
            id: UserId(2),
            email: "grace@example.com".into(),
        },
        target: target(),
        status: GrantStatus::RevokeFailed,
        duration_secs: 60,
        created_at: Timestamp(1),
        activated_at: Some(Timestamp(2)),
        expires_at: Some(Timestamp(3)),
        remaining_secs: None,
        ended_at: None,
        end_reason: Some(EndReason::Revoked {
            by: UserId(1),
            reason: Some("offboarding".into()),
        }),
        attempts: 4,
        next_attempt_at: Some(Timestamp(5)),
        last_error: Some("exit status 1".into()),
    }
}

#[test]
fn every_argument_type_round_trips() {
    round_trip(ClientHello {
        protocol: PROTOCOL_VERSION,
        client: "hallpass-cli 0.1.0".into(),
    });
    round_trip(SignupArgs {
        email: "a@b.co".into(),
        name: "A".into(),
        source: Source::Cli,
    });
    round_trip(InviteArgs {
        email: "a@b.co".into(),
        name: "A".into(),
        role: Role::Auditor,
        phone: None,
        expires_in_secs: Some(60),
    });
    round_trip(UserQuery {
        role: Some(Role::Admin),
        status: Some(UserStatus::Invited),
        text: Some("ada".into()),
        group: None,
        after: Some("3".into()),
        limit: 10,
    });
    for r in [UserRef::Id(UserId(3)), UserRef::Email("a@b.co".into())] {
        round_trip(r);
    }
    for m in [PutMode::Create, PutMode::Replace, PutMode::Upsert] {
        round_trip(m);
    }
    round_trip(NewRequest {
        flow: FlowName::new("db-read").expect("flow"),
        bundle: None,
        targets: vec![target()],
        duration_secs: Some(7200),
        reason: Some("why".into()),
        source: Source::Tui,
    });
    for scope in [
        RequestScope::Mine,
        RequestScope::ToApprove,
        RequestScope::All,
    ] {
        round_trip(RequestQuery {
            scope,
            status: Some(RequestStatus::TimedOut),
            ..RequestQuery::default()
        });
    }
    round_trip(AgainArgs {
        duration_secs: None,
        reason: None,
        source: Source::Cli,
    });
    round_trip(ExtendArgs {
        duration_secs: 60,
        reason: Some("more".into()),
        source: Source::Api,
    });
    round_trip(GrantQuery {
        scope: GrantScope::All,
        statuses: vec![GrantStatus::Active, GrantStatus::Failed],
        ..GrantQuery::default()
    });
    round_trip(NewLink {
        flow: FlowName::new("vendor").expect("flow"),
        expires_in_secs: Some(86_400),
        max_uses: Some(2),
        note: "Acme".into(),
    });
    round_trip(AuditQuery {
        since: Some(Timestamp(1)),
        until: Some(Timestamp(2)),
        action: Some("grant.".into()),
        ..AuditQuery::default()
    });
}

#[test]
fn every_response_type_round_trips() {
    round_trip(ServerHello {
        protocol: 1,
        daemon_version: "0.1.0".into(),
        organisation: "Example".into(),
    });
    round_trip(WhoAmI {
        uid: Some(1000),
        user: Some(user_view()),
        token: None,
        signup_open: false,
    });
    round_trip(InviteCreated {
        user: user_view(),
        code: "hp-0123".into(),
        expires_at: Timestamp(5),
        emailed: false,
    });
    round_trip(Page {
        items: vec![user_view()],
        next: Some("2".into()),
    });
    round_trip(GroupView {
        name: "sre".parse().expect("group"),
        description: "d".into(),
        members: vec![],
        created_at: Timestamp(0),
        source: None,
    });
    round_trip(request_view());
    round_trip(grant_view());
    round_trip(AuditVerification {
        checked: 3,
        head_seq: 3,
        head_hash: "ab".into(),
        broken_at: Some(2),
        why: Some("edited".into()),
    });
    round_trip(DaemonStatus {
        daemon_version: "0.1.0".into(),
        started_at: Timestamp(0),
        now: Timestamp(1),
        users: 2,
        pending_requests: 1,
        active_grants: 4,
        failing_grants: 0,
        audit_head: 9,
    });
    let link = LinkView {
        id: hallpass_core::LinkId(3),
        flow: FlowName::new("vendor").expect("flow"),
        state: hallpass_core::link::LinkState::UsedUp,
        created_by: "ada@example.com".into(),
        created_at: Timestamp(0),
        expires_at: Some(Timestamp(9)),
        max_uses: Some(1),
        uses: 1,
        revoked_at: None,
        note: "Acme".into(),
    };
    round_trip(link.clone());
    round_trip(LinkCreated {
        link,
        url: "https://access.example.com/l/0123".into(),
    });
    round_trip(MailView {
        id: hallpass_core::MailId(1),
        to: "vera@vendor.example".into(),
        purpose: "invite".into(),
        created_at: Timestamp(0),
        attempts: 2,
        next_attempt_at: Timestamp(5),
        last_error: Some("connection refused".into()),
    });
    let entry = AuditEntry::new(
        Actor::Unknown { uid: 4242 },
        Source::System,
        "auth.refuse",
        "uid 4242",
        "refused",
    );
    round_trip(AuditEvent::seal(1, Timestamp(1), entry, GENESIS_HASH));
}

#[test]
fn every_event_kind_round_trips() {
    let kinds = vec![
        EventKind::RequestSubmitted {
            request: RequestId(1001),
            requester: UserId(2),
            requester_email: "g@x.co".into(),
            flow: FlowName::new("f").expect("flow"),
            targets: vec![target()],
            duration: Duration::from_secs(60),
            reason: "r".into(),
            approvers: vec![UserId(1)],
        },
        EventKind::RequestApproved {
            request: RequestId(1),
            by: UserId(1),
            complete: true,
        },
        EventKind::RequestRejected {
            request: RequestId(1),
            by: UserId(1),
            reason: None,
        },
        EventKind::RequestCancelled {
            request: RequestId(1),
            by: UserId(2),
        },
        EventKind::RequestTimedOut {
            request: RequestId(1),
        },
        EventKind::GrantActivated {
            grant: GrantId(1),
            request: RequestId(1),
            user: UserId(2),
            target: target(),
            expires_at: Timestamp(9),
        },
        EventKind::GrantFailed {
            grant: GrantId(1),
            request: RequestId(1),
            user: UserId(2),
            target: target(),
            error: "e".into(),
        },
        EventKind::GrantExtended {
            grant: GrantId(1),
            user: UserId(2),
            expires_at: Timestamp(10),
        },
        EventKind::GrantExpiringSoon {
            grant: GrantId(1),
            user: UserId(2),
            target: target(),
            expires_at: Timestamp(10),
        },
        EventKind::GrantEnded {
            grant: GrantId(1),
            user: UserId(2),
            target: target(),
            reason: EndReason::Released,
        },
        EventKind::GrantRevokeFailed {
            grant: GrantId(1),
            user: UserId(2),
            target: target(),
            attempts: 3,
            error: "e".into(),
        },
        EventKind::UserInvited {
            user: UserId(3),
            email: "n@x.co".into(),
        },
        EventKind::UserJoined {
            user: UserId(3),
            email: "n@x.co".into(),
        },
        EventKind::UserRoleChanged {
            user: UserId(3),
            role: Role::Auditor,
        },
        EventKind::UserDeleted {
            user: UserId(3),
            email: "n@x.co".into(),
        },
        EventKind::PolicyChanged {
            what: "flow f".into(),
        },
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        round_trip(Event {
            seq: i as u64 + 1,
            at: Timestamp(7),
            kind,
            audience: BTreeSet::from([UserId(2)]),
        });
    }
    round_trip(EventBatch {
        events: vec![],
        cursor: 17,
    });
}

#[test]
fn every_error_round_trips_and_has_a_stable_exit_code() {
    let errors = vec![
        (
            ApiError::NotFound {
                what: "request HP-1".into(),
            },
            3,
        ),
        (
            ApiError::Forbidden {
                why: "admins only".into(),
                admins: vec!["ada@example.com".into()],
                hint: Some("request".into()),
            },
            4,
        ),
        (
            ApiError::Unauthenticated {
                uid: 4242,
                why: "no account".into(),
            },
            4,
        ),
        (
            ApiError::InvalidInput {
                field: "duration".into(),
                why: "too long".into(),
            },
            5,
        ),
        (
            ApiError::InvalidTransition {
                what: "grant G-1".into(),
                from: "expired".into(),
                action: "extend".into(),
            },
            6,
        ),
        (
            ApiError::Conflict {
                why: "exists".into(),
            },
            6,
        ),
        (ApiError::Unavailable { why: "busy".into() }, 7),
        (
            ApiError::Internal {
                incident: "0badcafe".into(),
            },
            8,
        ),
        (
            ApiError::VersionMismatch {
                client: 2,
                server: 1,
                daemon: "0.1.0".into(),
            },
            9,
        ),
    ];
    for (e, code) in errors {
        assert_eq!(e.exit_code(), code, "{e:?}");
        assert!(!e.to_string().is_empty());
        round_trip(e);
    }
    let forbidden = ApiError::Forbidden {
        why: "Inviting users is for admins.".into(),
        admins: vec!["ada@example.com".into()],
        hint: None,
    };
    assert!(
        forbidden.to_string().contains("ada@example.com"),
        "{forbidden}"
    );
}

/// The handshake as other languages must send and read it (inside tarpc's envelope, see the
/// crate docs). Changing these strings is a protocol change.
#[test]
fn handshake_json_is_pinned() {
    let req = HallpassRequest::Hello {
        hello: ClientHello {
            protocol: 1,
            client: "hallpass-cli 0.1.0".into(),
        },
    };
    assert_eq!(
        serde_json::to_string(&req).expect("json"),
        r#"{"Hello":{"hello":{"protocol":1,"client":"hallpass-cli 0.1.0"}}}"#
    );
    let ok: HallpassResponse = HallpassResponse::Hello(Ok(ServerHello {
        protocol: 1,
        daemon_version: "0.1.0".into(),
        organisation: "Example".into(),
    }));
    assert_eq!(
        serde_json::to_string(&ok).expect("json"),
        r#"{"Hello":{"Ok":{"protocol":1,"daemon_version":"0.1.0","organisation":"Example"}}}"#
    );
    let refused = HallpassResponse::Hello(Err(ApiError::VersionMismatch {
        client: 2,
        server: 1,
        daemon: "0.1.0".into(),
    }));
    assert_eq!(
        serde_json::to_string(&refused).expect("json"),
        r#"{"Hello":{"Err":{"kind":"version_mismatch","client":2,"server":1,"daemon":"0.1.0"}}}"#
    );
}
