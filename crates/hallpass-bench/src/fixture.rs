//! The policy every benchmark runs against: the calling OS user signs up as the first admin,
//! one integration (`bench`, with a no-op or an `exec /bin/true` connector) and two flows over
//! it — `manual` (any admin approves; self-approval allowed, because every benchmark
//! connection is the same OS user) and `auto`. Invariant: set up through the public RPCs, the
//! way a person would, so the benchmarks measure a daemon in a state people reach.

use std::time::Duration;

use hallpass_core::audit::Source;
use hallpass_core::flow::{
    Approval, ApprovalRule, Approver, Flow, FlowTargets, Requestors, Trigger,
};
use hallpass_core::integration::{Connector, ExecConfig, Integration, ResourceDef, Target};
use hallpass_core::{Clock, FlowName, IntegrationName, SystemClock, UserId};
use hallpass_proto::{HallpassClient, NewRequest, PutMode, SignupArgs};

/// Resources the bench integration declares (`r0` … `r15`, permission `use`).
pub const RESOURCES: usize = 16;
pub const INTEGRATION: &str = "bench";
pub const MANUAL: &str = "manual";
pub const AUTO: &str = "auto";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum ConnectorKind {
    /// The built-in no-op connector: the broker's own cost.
    Noop,
    /// `exec` running `/bin/true` for grant and revoke: a process per call.
    True,
}

impl ConnectorKind {
    pub fn label(self) -> &'static str {
        match self {
            ConnectorKind::Noop => "noop",
            ConnectorKind::True => "exec /bin/true",
        }
    }
}

pub fn connector(kind: ConnectorKind) -> Connector {
    match kind {
        ConnectorKind::Noop => Connector::Noop,
        ConnectorKind::True => Connector::Exec(ExecConfig {
            grant: vec!["/bin/true".into()],
            revoke: vec!["/bin/true".into()],
            verify: None,
            timeout: Duration::from_secs(30),
            secret_env: Default::default(),
        }),
    }
}

pub fn integration(kind: ConnectorKind) -> Integration {
    Integration {
        name: integration_name(),
        connector: connector(kind),
        resources: (0..RESOURCES)
            .map(|i| ResourceDef {
                name: format!("r{i}"),
                permissions: vec!["use".into()],
                description: String::new(),
            })
            .collect(),
        description: "benchmark integration".into(),
        updated_at: SystemClock.now(),
    }
}

fn integration_name() -> IntegrationName {
    IntegrationName::new(INTEGRATION).expect("invariant: a slug")
}

/// Target `r{i % RESOURCES}` of the bench integration.
pub fn target(i: usize) -> Target {
    Target {
        integration: integration_name(),
        resource: format!("r{}", i % RESOURCES),
        permission: "use".into(),
    }
}

pub fn flow(name: &str, rule: ApprovalRule) -> Flow {
    let approvers = if rule == ApprovalRule::Auto {
        vec![]
    } else {
        vec![Approver::Admins]
    };
    Flow {
        name: FlowName::new(name).expect("invariant: a slug"),
        enabled: true,
        trigger: Trigger::SelfServe,
        requestors: Requestors {
            everyone: true,
            users: vec![],
            groups: vec![],
        },
        targets: FlowTargets {
            bundles: vec![],
            resources: (0..RESOURCES).map(target).collect(),
        },
        approval: Approval { rule, approvers },
        max_duration: Duration::from_secs(24 * 3600),
        default_duration: Duration::from_secs(3600),
        pending_ttl: Duration::from_secs(3600),
        justification_required: false,
        approver_reason_required: false,
        allow_self_approval: true,
        description: "benchmark flow".into(),
        updated_at: SystemClock.now(),
        on_eligibility_lost: Default::default(),
    }
}

/// Signs up, creates the integration and both flows; returns the admin's id.
pub async fn prepare(c: &HallpassClient, kind: ConnectorKind) -> anyhow::Result<UserId> {
    let admin = c
        .signup(
            tarpc::context::current(),
            SignupArgs {
                email: "bench@example.com".into(),
                name: "Bench Admin".into(),
                source: Source::Api,
            },
        )
        .await??;
    c.put_integration(
        tarpc::context::current(),
        integration(kind),
        PutMode::Upsert,
    )
    .await??;
    for (name, rule) in [(MANUAL, ApprovalRule::AnyOf), (AUTO, ApprovalRule::Auto)] {
        c.put_flow(tarpc::context::current(), flow(name, rule), PutMode::Upsert)
            .await??;
    }
    Ok(admin.id)
}

/// A request through `flow_name` for target `i`, lasting `secs` (the flow default when None).
pub fn new_request(flow_name: &str, i: usize, secs: Option<u64>) -> NewRequest {
    NewRequest {
        flow: FlowName::new(flow_name).expect("invariant: a slug"),
        bundle: None,
        targets: vec![target(i)],
        duration_secs: secs,
        reason: Some("benchmark".into()),
        source: Source::Api,
    }
}

/// A tarpc context with a generous deadline (tarpc's default is 10 s).
pub fn ctx() -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = std::time::Instant::now() + Duration::from_secs(60);
    c
}
