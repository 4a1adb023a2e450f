//! Fixed data for snapshots, examples and the benchmark: an organisation with people, flows,
//! requests, grants and audit events at a fixed clock. Invariant: everything here is a pure
//! function of its arguments, so snapshots are byte-for-byte stable.

use std::time::Duration;

use hallpass_core::audit::{Actor, AuditEntry, AuditEvent, GENESIS_HASH, Source};
use hallpass_core::credential::Credentials;
use hallpass_core::flow::{
    Approval, ApprovalRule, Approver, Flow, FlowTargets, Requestors, Trigger,
};
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::integration::{Bundle, Connector, ExecConfig, Integration, ResourceDef, Target};
use hallpass_core::request::{Decision, RequestKind, RequestStatus};
use hallpass_core::user::{Role, UserStatus};
use hallpass_core::{
    BundleName, FlowName, GrantId, GroupName, IntegrationName, RequestId, Timestamp, UserId,
};
use hallpass_proto::{
    AuditVerification, DaemonStatus, FlowView, GrantQuery, GrantSummary, GrantView, GroupView,
    Page, RequestQuery, RequestView, ServerHello, UserRefView, UserView, WhoAmI,
};

use crate::app::App;
use crate::effect::{GrantsFor, RequestsFor, UsersFor};
use crate::message::{Msg, Reply};
use crate::paged::PageRequest;
use crate::theme::Theme;
use crate::update::update;

/// 2026-03-02T10:00:00Z: the fixed "now".
pub const NOW: Timestamp = Timestamp(1_772_445_600_000);

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn name<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("invariant: fixture names are valid")
}

pub fn target(s: &str) -> Target {
    name(s)
}

pub fn user(
    id: u64,
    email: &str,
    full: &str,
    role: Role,
    groups: &[&str],
    manager: Option<(u64, &str)>,
) -> UserView {
    UserView {
        id: UserId(id),
        email: email.into(),
        name: full.into(),
        phone: None,
        role,
        status: UserStatus::Active,
        os_user: Some(email.split('@').next().unwrap_or("x").into()),
        os_uid: Some(1000 + u32::try_from(id).unwrap_or(0)),
        manager: manager.map(|(m, _)| UserId(m)),
        manager_email: manager.map(|(_, e)| e.to_string()),
        groups: groups.iter().map(|g| name(g)).collect(),
        created_at: NOW.minus(Duration::from_secs(86_400 * (30 + id))),
        company: String::new(),
        // People with a manager come from the directory, with its login.
        login: manager.map(|_| email.split('@').next().unwrap_or("x").into()),
        sources: match manager {
            Some(_) => vec![name("corp-ldap")],
            None => vec![],
        },
    }
}

pub fn ada() -> UserView {
    user(
        1,
        "ada@example.com",
        "Ada Admin",
        Role::Admin,
        &["platform"],
        None,
    )
}

pub fn grace() -> UserView {
    user(
        2,
        "grace@example.com",
        "Grace Hopper",
        Role::Grantee,
        &["eng"],
        Some((5, "linus@example.com")),
    )
}

pub fn people() -> Vec<UserView> {
    vec![
        ada(),
        grace(),
        user(
            3,
            "alan@example.com",
            "Alan Turing",
            Role::Grantee,
            &["eng", "oncall"],
            Some((5, "linus@example.com")),
        ),
        user(
            4,
            "barbara@example.com",
            "Barbara Liskov",
            Role::Auditor,
            &["security"],
            None,
        ),
        user(
            5,
            "linus@example.com",
            "Linus Torvalds",
            Role::Grantee,
            &["eng"],
            None,
        ),
        UserView {
            status: UserStatus::Invited,
            os_user: None,
            os_uid: None,
            ..user(
                6,
                "ken@example.com",
                "Ken Thompson",
                Role::Grantee,
                &[],
                None,
            )
        },
    ]
}

fn refv(u: &UserView) -> UserRefView {
    UserRefView {
        id: u.id,
        email: u.email.clone(),
    }
}

pub fn flows() -> Vec<FlowView> {
    let flow = |n: &str,
                rule: ApprovalRule,
                approvers: Vec<Approver>,
                req: Requestors,
                targets: FlowTargets,
                max: u64| Flow {
        name: name(n),
        enabled: true,
        trigger: Trigger::SelfServe,
        requestors: req,
        targets,
        approval: Approval { rule, approvers },
        max_duration: mins(max),
        default_duration: mins(60.min(max)),
        pending_ttl: Duration::from_secs(86_400),
        justification_required: true,
        approver_reason_required: false,
        allow_self_approval: false,
        description: String::new(),
        updated_at: NOW.minus(Duration::from_secs(86_400 * 3)),
        on_eligibility_lost: Default::default(),
    };
    let db_read = flow(
        "db-read",
        ApprovalRule::AnyOf,
        vec![Approver::Admins, Approver::Manager],
        Requestors {
            everyone: false,
            users: vec![],
            groups: vec![name("eng")],
        },
        FlowTargets {
            bundles: vec![],
            resources: vec![
                target("pg-prod/orders/read"),
                target("pg-prod/billing/read"),
            ],
        },
        240,
    );
    let prod_write = Flow {
        description: "Write access to production databases".into(),
        ..flow(
            "prod-write",
            ApprovalRule::Quorum(2),
            vec![Approver::Group(name("platform")), Approver::User(UserId(4))],
            Requestors {
                everyone: false,
                users: vec![UserId(3)],
                groups: vec![name("oncall")],
            },
            FlowTargets {
                bundles: vec![name("prod-db-write")],
                resources: vec![],
            },
            120,
        )
    };
    let ssh = Flow {
        justification_required: false,
        ..flow(
            "ssh-staging",
            ApprovalRule::Auto,
            vec![],
            Requestors {
                everyone: true,
                users: vec![],
                groups: vec![],
            },
            FlowTargets {
                bundles: vec![],
                resources: vec![target("ssh-staging/web/login")],
            },
            480,
        )
    };
    let legacy = Flow {
        enabled: false,
        ..flow(
            "legacy-admin",
            ApprovalRule::AllOf,
            vec![Approver::Admins],
            Requestors {
                everyone: false,
                users: vec![],
                groups: vec![name("platform")],
            },
            FlowTargets {
                bundles: vec![],
                resources: vec![target("legacy/console/admin")],
            },
            60,
        )
    };
    vec![
        FlowView {
            offered: db_read.targets.resources.clone(),
            flow: db_read,
            user_emails: vec![],
            can_request: true,
        },
        FlowView {
            offered: vec![
                target("pg-prod/orders/write"),
                target("pg-prod/billing/write"),
            ],
            flow: prod_write,
            user_emails: vec![refv(&people()[2]), refv(&people()[3])],
            can_request: false,
        },
        FlowView {
            offered: ssh.targets.resources.clone(),
            flow: ssh,
            user_emails: vec![],
            can_request: true,
        },
        FlowView {
            offered: legacy.targets.resources.clone(),
            flow: legacy,
            user_emails: vec![],
            can_request: false,
        },
    ]
}

pub fn bundles() -> Vec<Bundle> {
    vec![Bundle {
        name: name::<BundleName>("prod-db-write"),
        description: "Both production databases, read-write".into(),
        targets: vec![
            target("pg-prod/orders/write"),
            target("pg-prod/billing/write"),
        ],
        updated_at: NOW,
    }]
}

pub fn integrations() -> Vec<Integration> {
    let exec = |grant: &str| {
        Connector::Exec(ExecConfig {
            grant: vec![grant.into()],
            revoke: vec!["/usr/local/bin/revoke".into()],
            verify: None,
            timeout: Duration::from_secs(30),
            secret_env: [(
                "PGPASSWORD".to_string(),
                "env:PG_ADMIN_PASSWORD"
                    .parse()
                    .expect("invariant: valid ref"),
            )]
            .into(),
        })
    };
    vec![
        Integration {
            name: name::<IntegrationName>("pg-prod"),
            connector: exec("/usr/local/bin/pg-grant"),
            resources: vec![
                ResourceDef {
                    name: "orders".into(),
                    permissions: vec!["read".into(), "write".into()],
                    description: String::new(),
                },
                ResourceDef {
                    name: "billing".into(),
                    permissions: vec!["read".into(), "write".into()],
                    description: String::new(),
                },
            ],
            description: "Production PostgreSQL".into(),
            updated_at: NOW,
        },
        Integration {
            name: name::<IntegrationName>("ssh-staging"),
            connector: exec("/usr/local/bin/ssh-sign"),
            resources: vec![ResourceDef {
                name: "web".into(),
                permissions: vec!["login".into()],
                description: String::new(),
            }],
            description: String::new(),
            updated_at: NOW,
        },
    ]
}

pub fn groups() -> Vec<GroupView> {
    let ps = people();
    let members = |g: &str| -> Vec<UserRefView> {
        ps.iter()
            .filter(|u| u.groups.iter().any(|x| x.as_str() == g))
            .map(refv)
            .collect()
    };
    ["eng", "oncall", "platform", "security"]
        .iter()
        .map(|g| GroupView {
            name: name::<GroupName>(g),
            description: String::new(),
            members: members(g),
            created_at: NOW,
            source: None,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn request(
    id: u64,
    requester: &UserView,
    flow: &str,
    targets: &[&str],
    duration_min: u64,
    reason: &str,
    status: RequestStatus,
    age_min: u64,
) -> RequestView {
    let created_at = NOW.minus(mins(age_min));
    RequestView {
        id: RequestId(id),
        requester: refv(requester),
        flow: name::<FlowName>(flow),
        kind: RequestKind::Access,
        bundle: None,
        targets: targets.iter().map(|t| target(t)).collect(),
        duration_secs: duration_min * 60,
        reason: reason.into(),
        status,
        created_at,
        pending_until: created_at.plus(Duration::from_secs(86_400)),
        approvals: vec![],
        rejection: None,
        grants: vec![],
        approvers: vec![refv(&ada()), refv(&people()[4])],
        can_decide: status == RequestStatus::Pending,
        approval_rule: "any-of".into(),
        again_of: None,
    }
}

/// Requests waiting for Ada.
pub fn to_approve() -> Vec<RequestView> {
    let ps = people();
    let mut quorum = request(
        1003,
        &ps[2],
        "prod-write",
        &["pg-prod/orders/write", "pg-prod/billing/write"],
        60,
        "INC-4521 fix stuck orders",
        RequestStatus::Pending,
        3,
    );
    quorum.approval_rule = "quorum 2".into();
    quorum.bundle = Some(name("prod-db-write"));
    quorum.approvals = vec![Decision {
        by: UserId(4),
        at: NOW.minus(mins(1)),
        reason: None,
    }];
    quorum.approvers = vec![refv(&ada())];
    vec![
        request(
            1001,
            &grace(),
            "db-read",
            &["pg-prod/orders/read"],
            120,
            "Debug order sync (OPS-88)",
            RequestStatus::Pending,
            12,
        ),
        request(
            1002,
            &ps[4],
            "db-read",
            &["pg-prod/billing/read"],
            30,
            "Month-end report",
            RequestStatus::Pending,
            47,
        ),
        quorum,
    ]
}

pub fn grant(
    id: u64,
    request: u64,
    u: &UserView,
    t: &str,
    status: GrantStatus,
    left_min: Option<u64>,
) -> GrantView {
    let expires_at = left_min.map(|m| NOW.plus(mins(m)));
    GrantView {
        id: GrantId(id),
        request: RequestId(request),
        user: refv(u),
        target: target(t),
        status,
        duration_secs: 3600,
        created_at: NOW.minus(mins(30)),
        activated_at: Some(NOW.minus(mins(30))),
        expires_at,
        remaining_secs: left_min.map(|m| m * 60),
        ended_at: None,
        end_reason: None,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
    }
}

/// Everyone's live grants.
pub fn live_grants() -> Vec<GrantView> {
    let ps = people();
    let mut failing = grant(
        7,
        990,
        &ps[2],
        "pg-prod/orders/write",
        GrantStatus::RevokeFailed,
        None,
    );
    failing.attempts = 4;
    failing.last_error = Some("revoke exited 1: connection refused".into());
    failing.end_reason = Some(EndReason::Expired);
    vec![
        grant(
            11,
            1000,
            &grace(),
            "ssh-staging/web/login",
            GrantStatus::Active,
            Some(4),
        ),
        grant(
            12,
            998,
            &ps[2],
            "pg-prod/orders/read",
            GrantStatus::Active,
            Some(42),
        ),
        grant(
            13,
            997,
            &ps[4],
            "pg-prod/billing/read",
            GrantStatus::Active,
            Some(185),
        ),
        grant(
            14,
            999,
            &grace(),
            "pg-prod/orders/read",
            GrantStatus::Granting,
            None,
        ),
        failing,
    ]
}

pub fn failures() -> Vec<GrantView> {
    let ps = people();
    let mut f = grant(
        6,
        980,
        &ps[4],
        "pg-prod/billing/write",
        GrantStatus::Failed,
        None,
    );
    f.last_error = Some("grant exited 2: role already exists".into());
    vec![f, live_grants()[4].clone()]
}

/// Grace's grants and requests.
pub fn my_grants() -> Vec<GrantView> {
    let g = grace();
    let mut ended = grant(
        9,
        990,
        &g,
        "pg-prod/billing/read",
        GrantStatus::Expired,
        None,
    );
    ended.ended_at = Some(NOW.minus(mins(90)));
    ended.end_reason = Some(EndReason::Expired);
    vec![
        grant(
            11,
            1000,
            &g,
            "ssh-staging/web/login",
            GrantStatus::Active,
            Some(4),
        ),
        grant(
            14,
            999,
            &g,
            "pg-prod/orders/read",
            GrantStatus::Granting,
            None,
        ),
        ended,
    ]
}

/// An active database grant of Grace's (not in [`my_grants`]; tests add it where they need
/// credentials with secrets).
pub fn db_grant() -> GrantView {
    grant(
        16,
        1002,
        &grace(),
        "pg-prod/billing/read",
        GrantStatus::Active,
        Some(55),
    )
}

/// Gives `app` (connected as Grace) [`db_grant`] besides her fixture grants.
pub fn add_db_grant(app: &mut App) {
    let mut items = my_grants();
    items.push(db_grant());
    update(
        app,
        Msg::Reply(Reply::Grants {
            purpose: GrantsFor::Mine,
            query: GrantQuery::default(),
            page: page(items),
        }),
    );
}

/// What the PostgreSQL connector issues for [`db_grant`] (fake values).
pub fn db_credentials() -> Credentials {
    Credentials::default()
        .field("host", "db.prod.internal")
        .field("port", "5432")
        .field("database", "billing")
        .field("user", "hp_g16")
        .secret("password", "fixture-pw-7Hq2")
        .secret(
            "url",
            "postgresql://hp_g16:fixture-pw-7Hq2@db.prod.internal:5432/billing",
        )
        .field("valid_until", "2026-03-02T10:55:00Z")
        .hint("psql \"<url>\"  (the role stops working at valid_until)")
}

/// What the SSH connector issues for G-11 (a fake certificate line: long, and no secret).
pub fn ssh_credentials() -> Credentials {
    let blob: String = (0..40).map(|i| format!("AAAA{i:02}xq")).collect();
    Credentials::default()
        .field(
            "certificate",
            format!("ssh-ed25519-cert-v01@openssh.com {blob} grace@example.com"),
        )
        .field("principals", "grace")
        .field("valid_before", "2026-03-02T10:04:00Z")
        .field("serial", "11")
        .hint(
            "save the certificate as ~/.ssh/id_ed25519-cert.pub (beside the private key you registered); then ssh grace@<host>",
        )
}

pub fn my_requests() -> Vec<RequestView> {
    let g = grace();
    let mut approved = request(
        1000,
        &g,
        "ssh-staging",
        &["ssh-staging/web/login"],
        60,
        "Deploy check",
        RequestStatus::Approved,
        34,
    );
    approved.grants = vec![GrantSummary {
        id: GrantId(11),
        target: target("ssh-staging/web/login"),
        status: GrantStatus::Active,
        expires_at: Some(NOW.plus(mins(4))),
    }];
    approved.can_decide = false;
    let mut rejected = request(
        995,
        &g,
        "db-read",
        &["pg-prod/billing/read"],
        240,
        "Curious",
        RequestStatus::Rejected,
        300,
    );
    rejected.rejection = Some(Decision {
        by: UserId(1),
        at: NOW.minus(mins(280)),
        reason: Some("Use the reporting replica".into()),
    });
    rejected.can_decide = false;
    let mut pending = request(
        1001,
        &g,
        "db-read",
        &["pg-prod/orders/read"],
        120,
        "Debug order sync (OPS-88)",
        RequestStatus::Pending,
        12,
    );
    pending.can_decide = false;
    vec![pending, approved, rejected]
}

pub fn audit_events() -> Vec<AuditEvent> {
    let ada = Actor::User {
        id: UserId(1),
        email: "ada@example.com".into(),
        via: None,
    };
    let grace = Actor::User {
        id: UserId(2),
        email: "grace@example.com".into(),
        via: None,
    };
    let entries = [
        (
            90,
            grace.clone(),
            Source::Cli,
            "request.submit",
            "HP-1000",
            "pending → auto-approved",
        ),
        (
            88,
            Actor::System,
            Source::System,
            "grant.activate",
            "G-11",
            "granting → active, until 10:04",
        ),
        (
            47,
            Actor::User {
                id: UserId(5),
                email: "linus@example.com".into(),
                via: None,
            },
            Source::Tui,
            "request.submit",
            "HP-1002",
            "new, pending",
        ),
        (
            12,
            grace,
            Source::Tui,
            "request.submit",
            "HP-1001",
            "new, pending",
        ),
        (
            5,
            ada.clone(),
            Source::Tui,
            "user.invite",
            "user ken@example.com",
            "invited as grantee",
        ),
        (
            3,
            Actor::System,
            Source::System,
            "grant.revoke_failed",
            "G-7",
            "revoking → revoke_failed (attempt 4)",
        ),
        (
            1,
            ada,
            Source::Cli,
            "flow.update",
            "flow legacy-admin",
            "enabled → disabled",
        ),
    ];
    let mut prev = GENESIS_HASH.to_string();
    entries
        .into_iter()
        .enumerate()
        .map(|(i, (ago, actor, source, action, target, summary))| {
            let e = AuditEvent::seal(
                i as u64 + 1,
                NOW.minus(mins(ago)),
                AuditEntry::new(actor, source, action, target, summary),
                &prev,
            );
            prev = e.hash.clone();
            e
        })
        .collect()
}

/// `n` synthetic people for scale tests: page `after` (a decimal id), `limit` rows.
pub fn people_page(n: u64, after: Option<&str>, limit: u32, text: Option<&str>) -> Page<UserView> {
    let mut id = after.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let mut items = vec![];
    while items.len() < limit as usize && id < n {
        id += 1;
        let u = synthetic(id);
        if text.is_none_or(|t| u.email.contains(t) || u.name.to_lowercase().contains(t)) {
            items.push(u);
        }
    }
    Page {
        next: (id < n).then(|| id.to_string()),
        items,
    }
}

fn synthetic(id: u64) -> UserView {
    const FIRST: [&str; 8] = [
        "ada", "alan", "barbara", "dennis", "edsger", "frances", "grace", "ken",
    ];
    const LAST: [&str; 8] = [
        "lovelace", "turing", "liskov", "ritchie", "dijkstra", "allen", "hopper", "thompson",
    ];
    let f = FIRST[(id % 8) as usize];
    let l = LAST[((id / 8) % 8) as usize];
    let groups: Vec<GroupName> = vec![name(["eng", "sales", "ops", "finance"][(id % 4) as usize])];
    UserView {
        id: UserId(id),
        email: format!("{f}.{l}{id}@example.com"),
        name: format!("{} {} {id}", capital(f), capital(l)),
        phone: None,
        role: Role::Grantee,
        status: UserStatus::Active,
        os_user: None,
        os_uid: None,
        manager: Some(UserId(id / 10 + 1)),
        manager_email: Some(format!("manager{}@example.com", id / 10 + 1)),
        groups,
        created_at: NOW,
        company: String::new(),
        login: Some(format!("{f}{id}")),
        // Most people come from the directory; every fifth was invited locally.
        sources: if id.is_multiple_of(5) {
            vec![]
        } else {
            vec![hallpass_core::SourceName::new("corp-ldap").expect("a valid source name")]
        },
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}

pub fn verification() -> AuditVerification {
    let events = audit_events();
    let head = events.last().expect("invariant: fixture has events");
    AuditVerification {
        checked: events.len() as u64,
        head_seq: head.seq,
        head_hash: head.hash.clone(),
        broken_at: None,
        why: None,
    }
}

pub fn status() -> DaemonStatus {
    DaemonStatus {
        daemon_version: "0.1.0".into(),
        started_at: NOW.minus(Duration::from_secs(86_400)),
        now: NOW,
        users: 6,
        pending_requests: 3,
        active_grants: 3,
        failing_grants: 2,
        audit_head: 7,
    }
}

/// Requests over the last two weeks for the dashboard's statistics.
pub fn history() -> Vec<RequestView> {
    let ps = people();
    let mut out = vec![];
    let mut id = 900;
    for day in 0..14u64 {
        for k in 0..(day * 7 % 5 + (day % 3)) {
            id += 1;
            let t = [
                "pg-prod/orders/read",
                "pg-prod/billing/read",
                "ssh-staging/web/login",
            ][((day + k) % 3) as usize];
            out.push(request(
                id,
                &ps[(k % 5) as usize],
                "db-read",
                &[t],
                60,
                "history",
                RequestStatus::Approved,
                day * 1440 + 30 + k,
            ));
        }
    }
    out
}

fn page<T>(items: Vec<T>) -> Page<T> {
    Page { items, next: None }
}

/// Connects `app` as `me`, as the runtime would.
pub fn connect(app: &mut App, me: UserView) {
    update(
        app,
        Msg::Connected {
            server: ServerHello {
                protocol: 1,
                daemon_version: "0.1.0".into(),
                organisation: "Example Org".into(),
            },
            whoami: WhoAmI {
                uid: me.os_uid,
                user: Some(me),
                token: None,
                signup_open: false,
            },
        },
    );
}

/// Feeds every fixture reply to `app`, answering page requests from the fixture data.
pub fn feed_all(app: &mut App) {
    let mut replies = vec![
        Reply::Status(status()),
        Reply::Flows(flows()),
        Reply::Bundles(bundles()),
        Reply::Integrations(integrations()),
        Reply::Groups(groups()),
        Reply::Verification(verification()),
        Reply::Admins(vec!["ada@example.com".into()]),
        Reply::Requests {
            purpose: RequestsFor::ToApprove,
            query: RequestQuery::default(),
            page: page(to_approve()),
        },
        Reply::Requests {
            purpose: RequestsFor::AllPending,
            query: RequestQuery::default(),
            page: page(to_approve()),
        },
        Reply::Requests {
            purpose: RequestsFor::Mine,
            query: RequestQuery::default(),
            page: page(my_requests()),
        },
        Reply::Grants {
            purpose: GrantsFor::Mine,
            query: GrantQuery::default(),
            page: page(my_grants()),
        },
        Reply::Grants {
            purpose: GrantsFor::Live,
            query: GrantQuery::default(),
            page: page(live_grants()),
        },
        Reply::Grants {
            purpose: GrantsFor::Failures,
            query: GrantQuery::default(),
            page: page(failures()),
        },
        Reply::RecentActivity {
            after: None,
            page: page(audit_events()),
        },
    ];
    // Statistics (the dashboard asks for them with an `after` of None first).
    app.dashboard.stats.today = crate::display::local_day(app.now, app.utc_offset_secs);
    replies.push(Reply::Requests {
        purpose: RequestsFor::Stats,
        query: RequestQuery {
            scope: hallpass_proto::RequestScope::All,
            limit: 1000,
            ..RequestQuery::default()
        },
        page: page(history()),
    });
    for r in replies {
        update(app, Msg::Reply(r));
    }
    // Paged lists: start them and answer their page requests.
    for who in [UsersFor::Identities, UsersFor::Users, UsersFor::Graph] {
        let cmds = crate::screens::people::load(app, who);
        answer_people(app, cmds, &people());
    }
    let cmds = crate::screens::audit::load(app);
    answer_audit(app, cmds);
    update(app, Msg::Reply(Reply::Verification(verification())));
}

fn answer_people(app: &mut App, mut cmds: Vec<crate::effect::Cmd>, all: &[UserView]) {
    while let Some(cmd) = cmds.pop() {
        if let crate::effect::Cmd::Load(crate::effect::Query::Users {
            purpose,
            page: req,
            text,
        }) = cmd
        {
            let items: Vec<UserView> = all
                .iter()
                .filter(|u| {
                    text.as_deref()
                        .is_none_or(|t| u.email.contains(t) || u.name.to_lowercase().contains(t))
                })
                .cloned()
                .collect();
            cmds.extend(update(
                app,
                Msg::Reply(Reply::Users {
                    purpose,
                    page: req,
                    items: page(items),
                }),
            ));
        }
    }
}

fn answer_audit(app: &mut App, mut cmds: Vec<crate::effect::Cmd>) {
    while let Some(cmd) = cmds.pop() {
        if let crate::effect::Cmd::Load(crate::effect::Query::Audit { page: req, .. }) = cmd {
            let items = if req.index == 0 {
                audit_events()
            } else {
                vec![]
            };
            cmds.extend(update(
                app,
                Msg::Reply(Reply::Audit {
                    page: req,
                    items: page(items),
                }),
            ));
        }
    }
}

/// The fixture integrations, bundles and flows as one policy document (what the daemon would
/// plan against).
pub fn policy() -> hallpass_core::policy_doc::PolicyDoc {
    hallpass_core::policy_doc::PolicyDoc {
        integrations: integrations(),
        bundles: bundles(),
        flows: flows().into_iter().map(|f| f.flow).collect(),
    }
}

/// An app at the fixed clock, connected as `me`, with every fixture loaded.
pub fn app(me: UserView, width: u16, height: u16, theme: Theme) -> App {
    let mut app = App::new(NOW, 0, theme, width, height);
    connect(&mut app, me);
    feed_all(&mut app);
    app
}

/// Answers a users page request from `n` synthetic people (for the benchmark).
pub fn synthetic_reply(n: u64, purpose: UsersFor, req: PageRequest, text: Option<&str>) -> Msg {
    let items = people_page(n, req.after.as_deref(), req.limit, text);
    Msg::Reply(Reply::Users {
        purpose,
        page: req,
        items,
    })
}
