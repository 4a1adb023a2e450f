//! Demo data for `hallpass demo`: people, groups and managers, an `exec` integration whose
//! scripts record to a file, flows of every approval kind, pending requests waiting for the
//! demo admin, and active grants that expire within minutes. Seeded through the same RPCs as
//! any client (in-memory connections), so the audit log and events read like real use.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use hallpass_core::audit::Source;
use hallpass_core::flow::{
    Approval, ApprovalRule, Approver, Flow, FlowTargets, Requestors, Trigger,
};
use hallpass_core::integration::{Bundle, Connector, ExecConfig, Integration, ResourceDef, Target};
use hallpass_core::user::Role;
use hallpass_core::{BundleName, FlowName, GroupName, IntegrationName, Timestamp, UserId};
use hallpass_proto::{HallpassClient, InviteArgs, NewRequest, PutMode, SignupArgs, UserRef};
use tarpc::context;

use crate::broker::Broker;
use crate::server::connect_in_memory;

/// Fake OS uids for the demo's other people (they exist only inside the demo daemon).
const FIRST_FAKE_UID: u32 = 61_000;

/// What was seeded, for the banner.
#[derive(Debug)]
pub struct Seeded {
    pub admin_email: String,
    pub connector_log: PathBuf,
    pub pending: usize,
    pub active: usize,
}

fn ctx() -> context::Context {
    context::current()
}

/// Unwraps an RPC result in seeding, naming the step that failed.
macro_rules! rpc {
    ($step:expr, $call:expr) => {
        $call
            .await
            .map_err(|e| anyhow!("demo seeding ({}): {e}", $step))?
            .map_err(|e| anyhow!("demo seeding ({}): {e}", $step))?
    };
}

fn write_script(path: &Path, body: &str) -> anyhow::Result<()> {
    std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn t(s: &str) -> Target {
    s.parse().expect("invariant: demo targets are well-formed")
}

fn flow(
    name: &str,
    rule: ApprovalRule,
    approvers: Vec<Approver>,
    targets: FlowTargets,
    max_mins: u64,
) -> Flow {
    Flow {
        name: FlowName::new(name).expect("invariant: demo names are slugs"),
        enabled: true,
        trigger: Trigger::SelfServe,
        requestors: Requestors {
            everyone: true,
            users: vec![],
            groups: vec![],
        },
        targets,
        approval: Approval { rule, approvers },
        max_duration: Duration::from_secs(max_mins * 60),
        default_duration: Duration::from_secs((max_mins * 60).min(3600)),
        pending_ttl: Duration::from_secs(24 * 3600),
        justification_required: true,
        approver_reason_required: false,
        allow_self_approval: false,
        description: String::new(),
        updated_at: Timestamp::EPOCH,
        on_eligibility_lost: Default::default(),
    }
}

/// Seeds `broker` with demo data. The OS user `admin_uid` becomes the demo's admin.
pub async fn seed(broker: &Arc<Broker>, admin_uid: u32, dir: &Path) -> anyhow::Result<Seeded> {
    let admin = connect_in_memory(broker, admin_uid);
    let admin_email = "you@demo.hallpass.dev".to_string();
    rpc!(
        "signup",
        admin.signup(
            ctx(),
            SignupArgs {
                email: admin_email.clone(),
                name: "You (demo admin)".into(),
                source: Source::Cli
            }
        )
    );

    // People: invited and accepted from fake uids.
    let people = [
        ("grace@demo.hallpass.dev", "Grace Hopper", Role::Grantee),
        ("linus@demo.hallpass.dev", "Linus Torvalds", Role::Grantee),
        (
            "margaret@demo.hallpass.dev",
            "Margaret Hamilton",
            Role::Grantee,
        ),
        ("ken@demo.hallpass.dev", "Ken Thompson", Role::Grantee),
        ("barbara@demo.hallpass.dev", "Barbara Liskov", Role::Admin),
        ("alan@demo.hallpass.dev", "Alan Turing", Role::Auditor),
    ];
    let mut clients: Vec<(UserId, HallpassClient)> = Vec::new();
    for (i, (email, name, role)) in people.iter().enumerate() {
        let invite = rpc!(
            "invite",
            admin.invite_user(
                ctx(),
                InviteArgs {
                    email: (*email).into(),
                    name: (*name).into(),
                    role: *role,
                    phone: None,
                    expires_in_secs: None
                }
            )
        );
        let client = connect_in_memory(broker, FIRST_FAKE_UID + i as u32);
        let user = rpc!("accept", client.accept_invite(ctx(), invite.code));
        clients.push((user.id, client));
    }
    let me = rpc!("whoami", admin.whoami(ctx()))
        .user
        .ok_or_else(|| anyhow!("demo admin missing"))?;
    let (grace, linus, margaret, ken) = (&clients[0], &clients[1], &clients[2], &clients[3]);

    // Groups and managers: you manage Grace and Linus; you and Barbara are SREs.
    for (g, members) in [
        ("sre", vec![me.id, clients[4].0]),
        ("engineering", vec![grace.0, linus.0, margaret.0, ken.0]),
    ] {
        let name = GroupName::new(g).expect("invariant: slug");
        rpc!(
            "group",
            admin.create_group(ctx(), name.clone(), format!("The {g} team"))
        );
        for m in members {
            rpc!(
                "member",
                admin.add_member(ctx(), name.clone(), UserRef::Id(m))
            );
        }
    }
    for report in [grace.0, linus.0] {
        rpc!(
            "manager",
            admin.set_manager(ctx(), UserRef::Id(report), Some(UserRef::Id(me.id)))
        );
    }
    rpc!(
        "manager",
        admin.set_manager(
            ctx(),
            UserRef::Id(margaret.0),
            Some(UserRef::Id(clients[4].0))
        )
    );

    // An exec integration whose scripts record what they are asked to do.
    let log = dir.join("connector.log");
    let grant_sh = dir.join("grant.sh");
    let revoke_sh = dir.join("revoke.sh");
    let record = |verb: &str| {
        format!(
            "#!/bin/sh\n# demo connector: records the request it is given\nprintf '%s {verb} ' \"$(date -u +%FT%TZ)\" >> '{log}'\ncat >> '{log}'\necho >> '{log}'\n",
            log = log.display()
        )
    };
    write_script(&grant_sh, &record("grant"))?;
    write_script(&revoke_sh, &record("revoke"))?;
    let integration = Integration {
        name: IntegrationName::new("pg-orders").expect("invariant: slug"),
        connector: Connector::Exec(ExecConfig {
            grant: vec!["/bin/sh".into(), grant_sh.display().to_string()],
            revoke: vec!["/bin/sh".into(), revoke_sh.display().to_string()],
            verify: None,
            timeout: Duration::from_secs(10),
            secret_env: Default::default(),
        }),
        resources: vec![
            ResourceDef {
                name: "orders".into(),
                permissions: vec!["read".into(), "write".into()],
                description: "Orders database".into(),
            },
            ResourceDef {
                name: "billing".into(),
                permissions: vec!["read".into()],
                description: "Billing database".into(),
            },
            ResourceDef {
                name: "bastion".into(),
                permissions: vec!["ssh".into(), "sudo".into()],
                description: "Production bastion".into(),
            },
        ],
        description: "Demo: scripts record grants to connector.log".into(),
        updated_at: Timestamp::EPOCH,
    };
    rpc!(
        "integration",
        admin.put_integration(ctx(), integration, PutMode::Create)
    );
    let bundle = Bundle {
        name: BundleName::new("incident-kit").expect("invariant: slug"),
        description: "Everything an on-call engineer needs".into(),
        targets: vec![
            t("pg-orders/orders/read"),
            t("pg-orders/billing/read"),
            t("pg-orders/bastion/ssh"),
        ],
        updated_at: Timestamp::EPOCH,
    };
    rpc!("bundle", admin.put_bundle(ctx(), bundle, PutMode::Create));

    let res = |ts: &[&str]| FlowTargets {
        bundles: vec![],
        resources: ts.iter().map(|s| t(s)).collect(),
    };
    let flows = [
        flow(
            "db-read",
            ApprovalRule::AnyOf,
            vec![
                Approver::Manager,
                Approver::Group(GroupName::new("sre").expect("slug")),
            ],
            res(&["pg-orders/orders/read", "pg-orders/billing/read"]),
            480,
        ),
        flow(
            "db-write",
            ApprovalRule::Quorum(2),
            vec![Approver::Group(GroupName::new("sre").expect("slug"))],
            res(&["pg-orders/orders/write"]),
            120,
        ),
        flow(
            "prod-ssh",
            ApprovalRule::AllOf,
            vec![
                Approver::Manager,
                Approver::Group(GroupName::new("sre").expect("slug")),
            ],
            res(&["pg-orders/bastion/ssh", "pg-orders/bastion/sudo"]),
            60,
        ),
        flow(
            "on-call",
            ApprovalRule::Auto,
            vec![],
            FlowTargets {
                bundles: vec![BundleName::new("incident-kit").expect("slug")],
                resources: vec![],
            },
            240,
        ),
    ];
    for f in flows {
        rpc!("flow", admin.put_flow(ctx(), f, PutMode::Create));
    }

    let ask = |flow: &str, target: Option<&str>, bundle: Option<&str>, mins: u64, reason: &str| {
        NewRequest {
            flow: FlowName::new(flow).expect("slug"),
            bundle: bundle.map(|b| BundleName::new(b).expect("slug")),
            targets: target.map(|s| vec![t(s)]).unwrap_or_default(),
            duration_secs: Some(mins * 60),
            reason: Some(reason.into()),
            source: Source::Cli,
        }
    };
    // Pending, waiting for you.
    let pending = [
        (
            &grace.1,
            ask(
                "db-read",
                Some("pg-orders/orders/read"),
                None,
                120,
                "Investigate order #4521 stuck in payment",
            ),
        ),
        (
            &linus.1,
            ask(
                "prod-ssh",
                Some("pg-orders/bastion/ssh"),
                None,
                30,
                "Rotate the bastion's host keys",
            ),
        ),
        (
            &margaret.1,
            ask(
                "db-write",
                Some("pg-orders/orders/write"),
                None,
                60,
                "Backfill the shipping_region column",
            ),
        ),
    ];
    for (client, req) in pending.iter() {
        rpc!("request", client.submit_request(ctx(), req.clone()));
    }
    // Active, expiring within minutes (auto-approved on-call access).
    let active = [(&ken.1, 3), (&grace.1, 10), (&linus.1, 45)];
    for (client, mins) in active.iter() {
        rpc!(
            "on-call",
            client.submit_request(
                ctx(),
                ask(
                    "on-call",
                    None,
                    Some("incident-kit"),
                    *mins,
                    "Paged: checkout latency alert"
                )
            )
        );
    }
    Ok(Seeded {
        admin_email,
        connector_log: log,
        pending: pending.len(),
        active: active.len() * 3,
    })
}
