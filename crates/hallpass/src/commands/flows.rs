//! Access flows, the policy: `flows create | list | show | enable | disable | delete`.
//! Invariant: a flow is checked with the same `Flow::validate` the daemon runs before any
//! e-mail is looked up, and people named by e-mail are sent as ids.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use hallpass_core::flow::{
    Approval, ApprovalRule, Approver, DEFAULT_PENDING_TTL, Flow, FlowTargets, Requestors, Trigger,
};
use hallpass_core::{FlowName, Timestamp, UserId};
use hallpass_proto::{ApiError, FlowView, PutMode, UserRef};

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::{
    ApproverSpec, FlowTargetSpec, RequestorSpec, approval_rule, approver, duration, flow_name,
    flow_target, relabel, requestor,
};
use crate::output::{Details, Output, secs, table, when};

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Create (or with --replace, replace) an access flow
    #[command(after_help = "\
Examples:
  hallpass flows create db-read --everyone --target pg-prod/orders/read \\
      --approval any-of --approver group:db-admins --approver manager --max 8h
  hallpass flows create oncall --requestor group:sre --target bundle:oncall \\
      --approval auto --max 4h --default 2h
  hallpass flows create prod-write --requestor user:ada@example.com --target pg-prod/orders/write \\
      --approval quorum:2 --approver group:db-admins --approver-reason")]
    Create(CreateArgs),
    /// List flows
    List,
    /// Show a flow: who may request what, who approves, for how long, and whether you can request
    Show(NameArg),
    /// Enable a flow
    Enable(NameArg),
    /// Disable a flow: no new requests through it
    Disable(NameArg),
    /// Delete a flow
    Delete(NameArg),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The flow's name: lowercase letters, digits, '.', '_', '-'
    pub name: String,
    /// Anyone with an active account may request
    #[arg(long)]
    pub everyone: bool,
    /// Who may request: user:EMAIL, group:NAME or everyone (repeatable)
    #[arg(long = "requestor", value_name = "SPEC")]
    pub requestors: Vec<String>,
    /// What may be requested: bundle:NAME or integration/resource/permission (repeatable)
    #[arg(long = "target", value_name = "SPEC", required = true)]
    pub targets: Vec<String>,
    /// How requests are approved: auto, any-of, all-of or quorum:N
    #[arg(long, value_name = "RULE")]
    pub approval: String,
    /// Who approves: user:EMAIL, group:NAME, manager or admins (repeatable)
    #[arg(long = "approver", value_name = "SPEC")]
    pub approvers: Vec<String>,
    /// The longest access one request may get
    #[arg(long, value_name = "DURATION", default_value = "8h")]
    pub max: String,
    /// The access duration when a request names none [default: 1h, or --max if shorter]
    #[arg(long, value_name = "DURATION")]
    pub default: Option<String>,
    /// How long a request may wait for a decision before it times out
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub pending_ttl: String,
    /// Requests need no reason (by default they do)
    #[arg(long)]
    pub no_justification: bool,
    /// Approvers must give a reason
    #[arg(long)]
    pub approver_reason: bool,
    /// Requesters may approve their own requests (audited)
    #[arg(long)]
    pub allow_self_approval: bool,
    /// Create the flow disabled
    #[arg(long)]
    pub disabled: bool,
    /// What the flow is for
    #[arg(long, default_value = "")]
    pub description: String,
    /// Replace an existing flow of that name instead of creating one
    #[arg(long)]
    pub replace: bool,
    /// How people ask: `self-serve` (members, with `hallpass request`) or `access-link`
    /// (externals, through links from `hallpass links create`; no --requestor needed)
    #[arg(long, value_name = "TRIGGER", default_value = "self-serve")]
    pub trigger: String,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The flow's name
    pub name: String,
}

/// The flags a flow's validation fields come from.
const FIELD_FLAGS: &[(&str, &str)] = &[
    ("max_duration", "--max"),
    ("default_duration", "--default"),
    ("pending_ttl", "--pending-ttl"),
    ("targets", "--target"),
    ("requestors", "--requestor"),
    ("approval", "--approval"),
    ("approvers", "--approver"),
];

/// The access duration when a request names none, unless --default says otherwise.
const DEFAULT_DURATION: Duration = Duration::from_secs(3600);

/// A flow as the flags describe it, before people named by e-mail are resolved to ids.
#[derive(Debug)]
pub struct FlowDraft {
    name: FlowName,
    trigger: Trigger,
    everyone: bool,
    requestors: Vec<RequestorSpec>,
    targets: Vec<FlowTargetSpec>,
    rule: ApprovalRule,
    approvers: Vec<ApproverSpec>,
    max: Duration,
    default: Duration,
    pending_ttl: Duration,
    enabled: bool,
    justification_required: bool,
    approver_reason_required: bool,
    allow_self_approval: bool,
    description: String,
}

impl FlowDraft {
    pub fn parse(a: &CreateArgs) -> Result<FlowDraft, Failure> {
        let max = duration("--max", &a.max)?;
        let default = match &a.default {
            Some(d) => duration("--default", d)?,
            None => DEFAULT_DURATION.min(max),
        };
        let pending_ttl = if a.pending_ttl.trim().is_empty() {
            DEFAULT_PENDING_TTL
        } else {
            duration("--pending-ttl", &a.pending_ttl)?
        };
        let trigger = match a.trigger.trim() {
            "self-serve" => Trigger::SelfServe,
            "access-link" => Trigger::AccessLink,
            other => {
                return Err(Failure::invalid(
                    "--trigger",
                    format!("`{other}` is not one of self-serve, access-link"),
                ));
            }
        };
        let draft = FlowDraft {
            name: flow_name("NAME", &a.name)?,
            trigger,
            everyone: a.everyone,
            requestors: a
                .requestors
                .iter()
                .map(|r| requestor("--requestor", r))
                .collect::<Result<_, _>>()?,
            targets: a
                .targets
                .iter()
                .map(|t| flow_target("--target", t))
                .collect::<Result<_, _>>()?,
            rule: approval_rule("--approval", &a.approval)?,
            approvers: a
                .approvers
                .iter()
                .map(|s| approver("--approver", s))
                .collect::<Result<_, _>>()?,
            max,
            default,
            pending_ttl,
            enabled: !a.disabled,
            justification_required: !a.no_justification,
            approver_reason_required: a.approver_reason,
            allow_self_approval: a.allow_self_approval,
            description: a.description.trim().to_string(),
        };
        // Check everything but the people before asking the daemon about them.
        draft.to_flow(|_| Some(UserId(0)), Timestamp::EPOCH)?;
        Ok(draft)
    }

    /// E-mail addresses to resolve, with the flag each came from.
    pub fn emails(&self) -> Vec<(String, &'static str)> {
        let requestors = self.requestors.iter().filter_map(|r| match r {
            RequestorSpec::User(UserRef::Email(e)) => Some((e.clone(), "--requestor")),
            _ => None,
        });
        let approvers = self.approvers.iter().filter_map(|a| match a {
            ApproverSpec::User(UserRef::Email(e)) => Some((e.clone(), "--approver")),
            _ => None,
        });
        requestors.chain(approvers).collect()
    }

    /// The flow, with users resolved by `resolve` (e-mail → id).
    pub fn to_flow(
        &self,
        resolve: impl Fn(&str) -> Option<UserId>,
        now: Timestamp,
    ) -> Result<Flow, Failure> {
        let user_id = |r: &UserRef, flag: &str| match r {
            UserRef::Id(id) => Ok(*id),
            UserRef::Email(e) => resolve(e)
                .ok_or_else(|| Failure::invalid(flag, format!("{e} is not a hallpass user"))),
        };
        let mut requestors = Requestors {
            everyone: self.everyone,
            ..Requestors::default()
        };
        for r in &self.requestors {
            match r {
                RequestorSpec::Everyone => requestors.everyone = true,
                RequestorSpec::User(u) => {
                    push_new(&mut requestors.users, user_id(u, "--requestor")?)
                }
                RequestorSpec::Group(g) => push_new(&mut requestors.groups, g.clone()),
            }
        }
        let mut targets = FlowTargets::default();
        for t in &self.targets {
            match t {
                FlowTargetSpec::Bundle(b) => push_new(&mut targets.bundles, b.clone()),
                FlowTargetSpec::Resource(r) => push_new(&mut targets.resources, r.clone()),
            }
        }
        let mut approvers = Vec::new();
        for a in &self.approvers {
            let approver = match a {
                ApproverSpec::User(u) => Approver::User(user_id(u, "--approver")?),
                ApproverSpec::Group(g) => Approver::Group(g.clone()),
                ApproverSpec::Manager => Approver::Manager,
                ApproverSpec::Admins => Approver::Admins,
            };
            push_new(&mut approvers, approver);
        }
        let flow = Flow {
            name: self.name.clone(),
            enabled: self.enabled,
            trigger: self.trigger,
            requestors,
            targets,
            approval: Approval {
                rule: self.rule,
                approvers,
            },
            max_duration: self.max,
            default_duration: self.default,
            pending_ttl: self.pending_ttl,
            justification_required: self.justification_required,
            approver_reason_required: self.approver_reason_required,
            allow_self_approval: self.allow_self_approval,
            description: self.description.clone(),
            updated_at: now,
            on_eligibility_lost: Default::default(),
        };
        flow.validate().map_err(|e| relabel(e, FIELD_FLAGS))?;
        Ok(flow)
    }
}

fn push_new<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

pub async fn run(s: &Session, out: Output, c: FlowsCommand) -> Result<(), Failure> {
    match c {
        FlowsCommand::Create(a) => create(s, out, a).await,
        FlowsCommand::List => {
            let flows = answer(s.client.list_flows(ctx()).await)?;
            if out.json(&flows)? {
                return Ok(());
            }
            if flows.is_empty() {
                println!("no access flows yet; an admin creates them with `hallpass flows create`");
                return Ok(());
            }
            println!("{}", flows_table(&flows));
            Ok(())
        }
        FlowsCommand::Show(a) => {
            let v = answer(s.client.get_flow(ctx(), flow_name("NAME", &a.name)?).await)?;
            if !out.json(&v)? {
                println!("{}", render(&v, out.now()));
            }
            Ok(())
        }
        FlowsCommand::Enable(a) => set_enabled(s, out, &a.name, true).await,
        FlowsCommand::Disable(a) => set_enabled(s, out, &a.name, false).await,
        FlowsCommand::Delete(a) => {
            let f = answer(
                s.client
                    .delete_flow(ctx(), flow_name("NAME", &a.name)?)
                    .await,
            )?;
            if !out.json(&f)? {
                println!("deleted flow {}", f.name);
            }
            Ok(())
        }
    }
}

async fn create(s: &Session, out: Output, a: CreateArgs) -> Result<(), Failure> {
    let draft = FlowDraft::parse(&a)?;
    let mut ids: BTreeMap<String, UserId> = BTreeMap::new();
    for (email, flag) in draft.emails() {
        if ids.contains_key(&email) {
            continue;
        }
        let user = s
            .client
            .get_user(ctx(), UserRef::Email(email.clone()))
            .await?;
        match user {
            Ok(u) => {
                ids.insert(email, u.id);
            }
            Err(ApiError::NotFound { .. }) => {
                return Err(Failure::invalid(
                    flag,
                    format!("{email} is not a hallpass user"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let flow = draft.to_flow(|e| ids.get(e).copied(), out.now())?;
    let mode = if a.replace {
        PutMode::Replace
    } else {
        PutMode::Create
    };
    let saved = answer(s.client.put_flow(ctx(), flow, mode).await)?;
    if !out.json(&saved)? {
        let verb = if a.replace { "replaced" } else { "created" };
        println!(
            "{verb} flow {} ({}, {} approval, up to {})",
            saved.name,
            if saved.enabled { "enabled" } else { "disabled" },
            saved.approval.rule,
            secs(saved.max_duration.as_secs())
        );
    }
    Ok(())
}

async fn set_enabled(s: &Session, out: Output, name: &str, enabled: bool) -> Result<(), Failure> {
    let f = answer(
        s.client
            .set_flow_enabled(ctx(), flow_name("NAME", name)?, enabled)
            .await,
    )?;
    if !out.json(&f)? {
        let state = if f.enabled { "enabled" } else { "disabled" };
        println!("flow {} is {state}", f.name);
    }
    Ok(())
}

pub fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::SelfServe => "self-serve",
        Trigger::AccessLink => "access-link",
    }
}

fn flows_table(flows: &[FlowView]) -> String {
    table(
        [
            "name", "enabled", "trigger", "approval", "targets", "max", "you",
        ],
        flows
            .iter()
            .map(|v| {
                let f = &v.flow;
                [
                    f.name.to_string(),
                    if f.enabled { "yes" } else { "no" }.into(),
                    trigger_name(f.trigger).into(),
                    f.approval.rule.to_string(),
                    v.offered.len().to_string(),
                    secs(f.max_duration.as_secs()),
                    if v.can_request { "can request" } else { "-" }.into(),
                ]
            })
            .collect(),
    )
}

/// Everything about a flow, with users shown by e-mail.
pub fn render(v: &FlowView, now: Timestamp) -> String {
    let f = &v.flow;
    let email = |id: &UserId| {
        v.user_emails
            .iter()
            .find(|u| u.id == *id)
            .map_or_else(|| id.to_string(), |u| u.email.clone())
    };
    let mut who: Vec<String> = Vec::new();
    if f.requestors.everyone {
        who.push("everyone".into());
    }
    who.extend(
        f.requestors
            .users
            .iter()
            .map(|u| format!("user:{}", email(u))),
    );
    who.extend(f.requestors.groups.iter().map(|g| format!("group:{g}")));
    let targets: Vec<String> = f
        .targets
        .bundles
        .iter()
        .map(|b| format!("bundle:{b}"))
        .chain(f.targets.resources.iter().map(ToString::to_string))
        .collect();
    let approvers: Vec<String> = f
        .approval
        .approvers
        .iter()
        .map(|a| match a {
            Approver::User(u) => format!("user:{}", email(u)),
            other => other.to_string(),
        })
        .collect();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut d = Details::new();
    d.row("flow", f.name.to_string());
    if !f.description.is_empty() {
        d.row("description", f.description.clone());
    }
    d.row("enabled", yes_no(f.enabled))
        .row("trigger", trigger_name(f.trigger))
        .row("requestors", lines_or(&who, "nobody"))
        .row("targets", lines_or(&targets, "none"))
        .row(
            "offered",
            lines_or(
                &v.offered
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                "none",
            ),
        )
        .row("approval", f.approval.rule.to_string())
        .row("approvers", lines_or(&approvers, "-"))
        .row("max duration", secs(f.max_duration.as_secs()))
        .row("default duration", secs(f.default_duration.as_secs()))
        .row("pending ttl", secs(f.pending_ttl.as_secs()))
        .row(
            "justification",
            if f.justification_required {
                "required"
            } else {
                "optional"
            },
        )
        .row(
            "approver reason",
            if f.approver_reason_required {
                "required"
            } else {
                "optional"
            },
        )
        .row(
            "self-approval",
            if f.allow_self_approval {
                "allowed (audited)"
            } else {
                "not allowed"
            },
        )
        .row("updated", when(f.updated_at, now))
        .row("you can request", yes_no(v.can_request));
    d.render()
}

fn lines_or(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use hallpass_core::GroupName;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn args(extra: &[&str]) -> CreateArgs {
        Wrapper::try_parse_from(["x", "db-read"].iter().chain(extra))
            .expect("parses")
            .a
    }

    fn flag_of(f: Failure) -> String {
        match f {
            Failure::Api(ApiError::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_product() {
        let d = FlowDraft::parse(&args(&[
            "--everyone",
            "--target",
            "pg/orders/read",
            "--approval",
            "auto",
        ]))
        .expect("valid");
        let f = d
            .to_flow(|_| None, Timestamp(9))
            .expect("no users to resolve");
        assert!(f.enabled);
        assert!(f.requestors.everyone);
        assert_eq!(f.max_duration, Duration::from_secs(8 * 3600));
        assert_eq!(f.default_duration, Duration::from_secs(3600));
        assert_eq!(f.pending_ttl, Duration::from_secs(24 * 3600));
        assert!(f.justification_required);
        assert!(!f.approver_reason_required);
        assert!(!f.allow_self_approval);
        assert_eq!(f.trigger, Trigger::SelfServe);
        assert_eq!(f.updated_at, Timestamp(9));
    }

    #[test]
    fn default_duration_is_capped_to_a_short_max() {
        let d = FlowDraft::parse(&args(&[
            "--everyone",
            "--target",
            "pg/orders/read",
            "--approval",
            "auto",
            "--max",
            "30m",
        ]))
        .expect("valid");
        let f = d.to_flow(|_| None, Timestamp(0)).expect("valid");
        assert_eq!(f.default_duration, Duration::from_secs(1800));
    }

    #[test]
    fn people_and_targets_are_resolved() {
        let d = FlowDraft::parse(&args(&[
            "--requestor",
            "user:bob@example.com",
            "--requestor",
            "group:eng",
            "--target",
            "bundle:oncall",
            "--target",
            "pg/orders/read",
            "--approval",
            "quorum:2",
            "--approver",
            "user:ada@example.com",
            "--approver",
            "user:U-9",
            "--approver",
            "manager",
            "--approver",
            "admins",
            "--no-justification",
            "--approver-reason",
            "--allow-self-approval",
            "--disabled",
        ]))
        .expect("valid");
        assert_eq!(
            d.emails(),
            [
                ("bob@example.com".to_string(), "--requestor"),
                ("ada@example.com".to_string(), "--approver")
            ]
        );
        let f = d
            .to_flow(
                |e| match e {
                    "bob@example.com" => Some(UserId(2)),
                    "ada@example.com" => Some(UserId(1)),
                    _ => None,
                },
                Timestamp(0),
            )
            .expect("valid");
        assert_eq!(f.requestors.users, [UserId(2)]);
        assert_eq!(f.requestors.groups, [GroupName::new("eng").expect("valid")]);
        assert_eq!(f.targets.bundles.len(), 1);
        assert_eq!(f.targets.resources.len(), 1);
        assert_eq!(f.approval.rule, ApprovalRule::Quorum(2));
        assert_eq!(
            f.approval.approvers,
            [
                Approver::User(UserId(1)),
                Approver::User(UserId(9)),
                Approver::Manager,
                Approver::Admins
            ]
        );
        assert!(!f.enabled && !f.justification_required);
        assert!(f.approver_reason_required && f.allow_self_approval);

        let e = d
            .to_flow(|_| None, Timestamp(0))
            .expect_err("unknown users");
        assert_eq!(flag_of(e), "--requestor");
    }

    #[test]
    fn bad_flows_name_their_flag() {
        let base = ["--everyone", "--target", "pg/orders/read"];
        let cases: &[(&[&str], &str)] = &[
            (&["--approval", "sometimes"], "--approval"),
            (&["--approval", "any-of"], "--approver"),
            (
                &["--approval", "quorum:3", "--approver", "manager"],
                "--approval",
            ),
            (
                &["--approval", "auto", "--max", "1h", "--default", "2h"],
                "--default",
            ),
            (&["--approval", "auto", "--max", "100d"], "--max"),
            (&["--approval", "auto", "--max", "eternity"], "--max"),
            (
                &["--approval", "auto", "--pending-ttl", "10s"],
                "--pending-ttl",
            ),
            (
                &["--approval", "any-of", "--approver", "boss"],
                "--approver",
            ),
            (&["--approval", "auto", "--target", "pg/orders"], "--target"),
            (
                &["--approval", "auto", "--requestor", "team:x"],
                "--requestor",
            ),
        ];
        for (extra, flag) in cases {
            let all: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
            let e = FlowDraft::parse(&args(&all)).expect_err("refused");
            assert_eq!(flag_of(e), *flag, "{extra:?}");
        }
        let e = FlowDraft::parse(&args(&["--target", "pg/orders/read", "--approval", "auto"]))
            .expect_err("nobody may request");
        assert_eq!(flag_of(e), "--requestor");
    }
}
