//! Store tests and the record fixtures they share. Invariant: every test uses a temporary sled
//! (or an in-memory backend) and never a fixed path, and none synchronises by sleeping.

mod cache;
mod durability;
mod indexes;
mod records;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::flow::{Approval, ApprovalRule, Flow, FlowTargets, Requestors, Trigger};
use hallpass_core::grant::Grant;
use hallpass_core::integration::{Bundle, Connector, ExecConfig, Integration, ResourceDef, Target};
use hallpass_core::request::{Request, RequestKind, RequestStatus};
use hallpass_core::user::{Group, Invite, OsAccount, Role, User, UserStatus};
use hallpass_core::{
    BundleName, FlowName, GrantId, GroupName, IntegrationName, RequestId, Timestamp, UserId,
};

pub(crate) fn user(id: u64, email: &str) -> User {
    User {
        id: UserId(id),
        email: email.into(),
        name: format!("User {id}"),
        phone: None,
        role: Role::Grantee,
        status: UserStatus::Active,
        os: Some(OsAccount {
            uid: 1000 + id as u32,
            name: None,
        }),
        manager: None,
        groups: BTreeSet::new(),
        created_at: Timestamp(1),
        ssh_keys: vec![],
        company: String::new(),
        login: None,
        sources: Default::default(),
    }
}

pub(crate) fn target(s: &str) -> Target {
    s.parse().expect("test target")
}

pub(crate) fn request(id: u64, requester: u64, pending_until: i64) -> Request {
    Request {
        id: RequestId(id),
        requester: UserId(requester),
        flow: FlowName::new("db").expect("name"),
        kind: RequestKind::Access,
        bundle: None,
        targets: vec![target("pg/orders/read")],
        duration: Duration::from_secs(3600),
        reason: "debugging".into(),
        status: RequestStatus::Pending,
        created_at: Timestamp(0),
        pending_until: Timestamp(pending_until),
        approvals: vec![],
        rejection: None,
        closed_at: None,
        cancelled_by: None,
        grants: vec![],
        again_of: None,
    }
}

pub(crate) fn grant(id: u64, user: u64, t: &str, now: i64) -> Grant {
    Grant::new(
        GrantId(id),
        RequestId(1001),
        UserId(user),
        target(t),
        Duration::from_secs(60),
        Timestamp(now),
    )
}

pub(crate) fn group(name: &str, members: &[u64]) -> Group {
    Group {
        name: GroupName::new(name).expect("name"),
        description: String::new(),
        members: members.iter().map(|m| UserId(*m)).collect(),
        created_at: Timestamp(0),
        source: None,
    }
}

pub(crate) fn invite(code: u8, user: u64) -> Invite {
    Invite {
        code_hash: [code; 32],
        user: UserId(user),
        created_by: UserId(1),
        created_at: Timestamp(0),
        expires_at: Timestamp(100),
    }
}

pub(crate) fn integration(name: &str) -> Integration {
    Integration {
        name: IntegrationName::new(name).expect("name"),
        connector: Connector::Exec(ExecConfig {
            grant: vec!["/bin/true".into()],
            revoke: vec!["/bin/true".into()],
            verify: None,
            timeout: Duration::from_secs(10),
            secret_env: BTreeMap::new(),
        }),
        resources: vec![ResourceDef {
            name: "orders".into(),
            permissions: vec!["read".into()],
            description: String::new(),
        }],
        description: String::new(),
        updated_at: Timestamp(0),
    }
}

pub(crate) fn bundle(name: &str) -> Bundle {
    Bundle {
        name: BundleName::new(name).expect("name"),
        description: String::new(),
        targets: vec![target("pg/orders/read")],
        updated_at: Timestamp(0),
    }
}

pub(crate) fn flow(name: &str) -> Flow {
    Flow {
        name: FlowName::new(name).expect("name"),
        enabled: true,
        trigger: Trigger::SelfServe,
        requestors: Requestors {
            everyone: true,
            ..Requestors::default()
        },
        targets: FlowTargets {
            bundles: vec![],
            resources: vec![target("pg/orders/read")],
        },
        approval: Approval {
            rule: ApprovalRule::Auto,
            approvers: vec![],
        },
        max_duration: Duration::from_secs(7200),
        default_duration: Duration::from_secs(3600),
        pending_ttl: Duration::from_secs(3600),
        justification_required: false,
        approver_reason_required: false,
        allow_self_approval: false,
        description: String::new(),
        updated_at: Timestamp(0),
        on_eligibility_lost: Default::default(),
    }
}

pub(crate) fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        actor: Actor::System,
        source: Source::System,
        action: action.into(),
        target: "HP-1001".into(),
        summary: "x".into(),
        subject: None,
        integration: None,
        status: None,
    }
}
