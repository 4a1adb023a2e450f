//! Requests for access: `request` (and `request again`), `requests` (and `requests show`),
//! `approve`, `reject`, `cancel`, and the one-line account of where a request stands.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use hallpass_core::Timestamp;
use hallpass_core::audit::Source;
use hallpass_core::request::{Decision, RequestKind, RequestStatus};
use hallpass_proto::{AgainArgs as WireAgain, NewRequest, RequestQuery, RequestScope, RequestView};

use crate::commands::{collect_pages, note_truncated};
use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::{bundle_name, duration_secs, flow_name, request_id, target, user_ref};
use crate::output::{Details, Output, clip, list, relative, secs, table, when};

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "\
Examples:
  hallpass request --flow db-read --resource pg-prod/orders/read --duration 2h --reason INC-123
  hallpass request --flow oncall --bundle oncall
  hallpass request again HP-1042 --duration 1h"
)]
#[command(group(ArgGroup::new("what").required(true).args(["resources", "bundle"])))]
pub struct RequestArgs {
    #[command(subcommand)]
    pub again: Option<RequestSubcommand>,
    #[command(flatten)]
    pub new: NewRequestArgs,
}

#[derive(Debug, Args)]
pub struct NewRequestArgs {
    /// The access flow to request through (`hallpass flows list` shows yours)
    #[arg(long, required = true, value_name = "FLOW")]
    pub flow: Option<String>,
    /// What you need: integration/resource/permission (repeatable)
    #[arg(long = "resource", value_name = "INTEGRATION/RESOURCE/PERMISSION")]
    pub resources: Vec<String>,
    /// A bundle the flow offers, instead of --resource
    #[arg(long, value_name = "BUNDLE")]
    pub bundle: Option<String>,
    /// How long you need it, from when access becomes active [default: the flow's]
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Why you need it (most flows require one)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RequestSubcommand {
    /// Ask again like an earlier request (any finished one: rejected, timed out, expired …)
    Again(AgainArgs),
}

#[derive(Debug, Args)]
pub struct AgainArgs {
    /// The earlier request, e.g. HP-1042
    pub id: String,
    /// How long this time [default: as before]
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Why, this time [default: the earlier reason]
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Examples:
  hallpass requests                      your requests
  hallpass requests --to-approve         requests waiting for your decision
  hallpass requests --all --status pending --flow db-read
  hallpass requests show HP-1042"
)]
pub struct RequestsArgs {
    #[command(subcommand)]
    pub show: Option<RequestsSubcommand>,
    #[command(flatten)]
    pub list: RequestsListArgs,
}

#[derive(Debug, Args)]
pub struct RequestsListArgs {
    /// Requests you can decide on now
    #[arg(long, conflicts_with = "all")]
    pub to_approve: bool,
    /// Everyone's requests (admins and auditors)
    #[arg(long)]
    pub all: bool,
    /// Only requests in this state
    #[arg(long, value_enum)]
    pub status: Option<RequestStatusArg>,
    /// Only requests through this flow
    #[arg(long, value_name = "FLOW")]
    pub flow: Option<String>,
    /// Only requests by this person (U-3 or e-mail)
    #[arg(long, value_name = "USER")]
    pub requester: Option<String>,
    /// Show at most N requests
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum RequestsSubcommand {
    /// Show one request: targets, decisions, approvers, grants
    Show(RequestIdArg),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RequestStatusArg {
    Pending,
    Approved,
    Rejected,
    Cancelled,
    TimedOut,
}

impl From<RequestStatusArg> for RequestStatus {
    fn from(s: RequestStatusArg) -> RequestStatus {
        match s {
            RequestStatusArg::Pending => RequestStatus::Pending,
            RequestStatusArg::Approved => RequestStatus::Approved,
            RequestStatusArg::Rejected => RequestStatus::Rejected,
            RequestStatusArg::Cancelled => RequestStatus::Cancelled,
            RequestStatusArg::TimedOut => RequestStatus::TimedOut,
        }
    }
}

#[derive(Debug, Args)]
pub struct RequestIdArg {
    /// The request, e.g. HP-1042
    pub id: String,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The request, e.g. HP-1042
    pub id: String,
    /// Why (some flows require a reason from approvers)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

pub async fn request(s: &Session, out: Output, a: RequestArgs) -> Result<(), Failure> {
    let view = match a.again {
        Some(RequestSubcommand::Again(g)) => {
            let id = request_id("ID", &g.id)?;
            let args = WireAgain {
                duration_secs: duration_secs("--duration", g.duration.as_deref())?,
                reason: g.reason,
                source: Source::Cli,
            };
            answer(s.client.request_again(ctx(), id, args).await)?
        }
        None => {
            let n = a.new;
            let Some(flow) = n.flow.as_deref() else {
                return Err(Failure::invalid(
                    "--flow",
                    "name the flow to request through",
                ));
            };
            let args = NewRequest {
                flow: flow_name("--flow", flow)?,
                bundle: n
                    .bundle
                    .as_deref()
                    .map(|b| bundle_name("--bundle", b))
                    .transpose()?,
                targets: n
                    .resources
                    .iter()
                    .map(|r| target("--resource", r))
                    .collect::<Result<_, _>>()?,
                duration_secs: duration_secs("--duration", n.duration.as_deref())?,
                reason: n.reason.filter(|r| !r.trim().is_empty()),
                source: Source::Cli,
            };
            answer(s.client.submit_request(ctx(), args).await)?
        }
    };
    if !out.json(&view)? {
        println!("{}", headline(&view, out.now()));
    }
    Ok(())
}

pub async fn list_or_show(s: &Session, out: Output, a: RequestsArgs) -> Result<(), Failure> {
    if let Some(RequestsSubcommand::Show(r)) = a.show {
        let v = answer(s.client.get_request(ctx(), request_id("ID", &r.id)?).await)?;
        if !out.json(&v)? {
            println!("{}", render(&v, out.now()));
        }
        return Ok(());
    }
    let l = a.list;
    let scope = if l.to_approve {
        RequestScope::ToApprove
    } else if l.all {
        RequestScope::All
    } else {
        RequestScope::Mine
    };
    let base = RequestQuery {
        scope,
        status: l.status.map(Into::into),
        flow: l
            .flow
            .as_deref()
            .map(|f| flow_name("--flow", f))
            .transpose()?,
        requester: l
            .requester
            .as_deref()
            .map(|u| user_ref("--requester", u))
            .transpose()?,
        after: None,
        limit: 0,
    };
    let client = &s.client;
    let (items, more) = collect_pages(l.limit, |after, limit| {
        let q = RequestQuery {
            after,
            limit,
            ..base.clone()
        };
        async move { answer(client.list_requests(ctx(), q).await) }
    })
    .await?;
    if out.json(&items)? {
        note_truncated(items.len(), more);
        return Ok(());
    }
    if items.is_empty() {
        println!(
            "{}",
            match scope {
                RequestScope::ToApprove => "no requests awaiting your approval",
                RequestScope::Mine =>
                    "you have no requests matching that; make one with `hallpass request`",
                RequestScope::All => "no requests match",
            }
        );
        return Ok(());
    }
    println!("{}", requests_table(&items, out.now()));
    note_truncated(items.len(), more);
    Ok(())
}

pub async fn approve(s: &Session, out: Output, a: DecideArgs) -> Result<(), Failure> {
    let id = request_id("ID", &a.id)?;
    let v = answer(s.client.approve(ctx(), id, a.reason).await)?;
    if !out.json(&v)? {
        println!("{}", headline(&v, out.now()));
    }
    Ok(())
}

pub async fn reject(s: &Session, out: Output, a: DecideArgs) -> Result<(), Failure> {
    let id = request_id("ID", &a.id)?;
    let v = answer(s.client.reject(ctx(), id, a.reason).await)?;
    if !out.json(&v)? {
        println!("{}", headline(&v, out.now()));
    }
    Ok(())
}

pub async fn cancel(s: &Session, out: Output, a: RequestIdArg) -> Result<(), Failure> {
    let id = request_id("ID", &a.id)?;
    let v = answer(s.client.cancel(ctx(), id).await)?;
    if !out.json(&v)? {
        println!("{}", headline(&v, out.now()));
    }
    Ok(())
}

/// What a request asks for, in a few words.
fn what(v: &RequestView) -> String {
    match (&v.kind, &v.bundle) {
        (RequestKind::Extend { grant }, _) => format!("more time on {grant}"),
        (RequestKind::Access, Some(b)) => format!("bundle {b}"),
        (RequestKind::Access, None) => v
            .targets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn decision(verb: &str, d: &Decision) -> String {
    match &d.reason {
        Some(r) if !r.trim().is_empty() => format!("{verb} by {}: {r}", d.by),
        _ => format!("{verb} by {}", d.by),
    }
}

/// Where a request stands, in one sentence (plus one line per grant once approved).
pub fn headline(v: &RequestView, now: Timestamp) -> String {
    let id = v.id;
    match v.status {
        RequestStatus::Pending => {
            let who: Vec<String> = v.approvers.iter().map(|a| a.email.clone()).collect();
            let so_far = match v.approvals.len() {
                0 => String::new(),
                n => format!("; {n} approval(s) so far"),
            };
            if who.is_empty() {
                format!(
                    "{id} pending: waiting for approval ({}{so_far}), but nobody can approve it right now; ask an admin",
                    v.approval_rule
                )
            } else {
                format!(
                    "{id} pending: waiting for approval from {} ({}{so_far}; times out {})",
                    list(&who),
                    v.approval_rule,
                    relative(v.pending_until, now)
                )
            }
        }
        RequestStatus::Approved => {
            let mut s = format!("{id} approved: {} for {}", what(v), secs(v.duration_secs));
            for g in &v.grants {
                s.push_str(&format!("\n  {} {}: {}", g.id, g.target, g.status));
                if let Some(e) = g.expires_at {
                    s.push_str(&format!(", until {}", when(e, now)));
                }
            }
            s
        }
        RequestStatus::Rejected => match &v.rejection {
            Some(d) => format!("{id} {}", decision("rejected", d)),
            None => format!("{id} rejected"),
        },
        RequestStatus::Cancelled => format!("{id} cancelled"),
        RequestStatus::TimedOut => format!(
            "{id} timed out: nobody decided by {}; `hallpass request again {id}` asks again",
            v.pending_until
        ),
    }
}

fn requests_table(items: &[RequestView], now: Timestamp) -> String {
    table(
        [
            "id",
            "status",
            "requester",
            "flow",
            "what",
            "for",
            "created",
            "reason",
        ],
        items
            .iter()
            .map(|v| {
                [
                    v.id.to_string(),
                    v.status.to_string(),
                    v.requester.email.clone(),
                    v.flow.to_string(),
                    clip(&what(v), 50),
                    secs(v.duration_secs),
                    relative(v.created_at, now),
                    clip(&v.reason, 40),
                ]
            })
            .collect(),
    )
}

/// Everything about a request.
pub fn render(v: &RequestView, now: Timestamp) -> String {
    let mut d = Details::new();
    d.row("request", v.id.to_string())
        .row("status", v.status.to_string())
        .row(
            "requester",
            format!("{} ({})", v.requester.email, v.requester.id),
        )
        .row("flow", v.flow.to_string());
    if let RequestKind::Extend { grant } = &v.kind {
        d.row("extends", grant.to_string());
    }
    d.opt("bundle", v.bundle.as_ref().map(ToString::to_string))
        .row(
            "targets",
            v.targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .row("duration", secs(v.duration_secs))
        .row(
            "reason",
            if v.reason.is_empty() {
                "-".into()
            } else {
                v.reason.clone()
            },
        )
        .row("created", when(v.created_at, now));
    if v.status == RequestStatus::Pending {
        d.row("times out", when(v.pending_until, now));
    }
    d.row("approval", v.approval_rule.clone());
    if !v.approvals.is_empty() {
        d.row(
            "approvals",
            v.approvals
                .iter()
                .map(|a| format!("{} at {}", decision("approved", a), a.at))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    if let Some(r) = &v.rejection {
        d.row(
            "rejection",
            format!("{} at {}", decision("rejected", r), r.at),
        );
    }
    if v.status == RequestStatus::Pending {
        d.row(
            "can approve",
            if v.approvers.is_empty() {
                "nobody right now".to_string()
            } else {
                v.approvers
                    .iter()
                    .map(|a| format!("{} ({})", a.email, a.id))
                    .collect::<Vec<_>>()
                    .join("\n")
            },
        )
        .row("you can decide", if v.can_decide { "yes" } else { "no" });
    }
    if !v.grants.is_empty() {
        d.row(
            "grants",
            v.grants
                .iter()
                .map(|g| match g.expires_at {
                    Some(e) => format!("{} {} {} until {}", g.id, g.target, g.status, when(e, now)),
                    None => format!("{} {} {}", g.id, g.target, g.status),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    d.opt("again of", v.again_of.map(|r| r.to_string()));
    d.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_core::grant::GrantStatus;
    use hallpass_core::{FlowName, GrantId, RequestId, UserId};
    use hallpass_proto::{GrantSummary, UserRefView};

    fn view(status: RequestStatus) -> RequestView {
        RequestView {
            id: RequestId(1001),
            requester: UserRefView {
                id: UserId(2),
                email: "bob@example.com".into(),
            },
            flow: FlowName::new("db-read").expect("valid"),
            kind: RequestKind::Access,
            bundle: None,
            targets: vec!["pg/orders/read".parse().expect("valid")],
            duration_secs: 7200,
            reason: "INC-1".into(),
            status,
            created_at: Timestamp(0),
            pending_until: Timestamp(3_600_000),
            approvals: vec![],
            rejection: None,
            grants: vec![],
            approvers: vec![
                UserRefView {
                    id: UserId(1),
                    email: "ada@example.com".into(),
                },
                UserRefView {
                    id: UserId(3),
                    email: "cy@example.com".into(),
                },
            ],
            can_decide: false,
            approval_rule: "any-of".into(),
            again_of: None,
        }
    }

    #[test]
    fn headlines_say_where_a_request_stands() {
        let now = Timestamp(0);
        assert_eq!(
            headline(&view(RequestStatus::Pending), now),
            "HP-1001 pending: waiting for approval from ada@example.com or cy@example.com (any-of; times out in 1h)"
        );
        let mut approved = view(RequestStatus::Approved);
        approved.grants.push(GrantSummary {
            id: GrantId(7),
            target: "pg/orders/read".parse().expect("valid"),
            status: GrantStatus::Active,
            expires_at: Some(Timestamp(7_200_000)),
        });
        assert_eq!(
            headline(&approved, now),
            "HP-1001 approved: pg/orders/read for 2h\n  G-7 pg/orders/read: active, until 1970-01-01T02:00:00Z (in 2h)"
        );
        let mut rejected = view(RequestStatus::Rejected);
        rejected.rejection = Some(Decision {
            by: UserId(1),
            at: Timestamp(5),
            reason: Some("not during the freeze".into()),
        });
        assert_eq!(
            headline(&rejected, now),
            "HP-1001 rejected by U-1: not during the freeze"
        );
        assert!(headline(&view(RequestStatus::TimedOut), now).contains("request again HP-1001"));
        let shown = render(&view(RequestStatus::Pending), now);
        assert!(shown.contains("cy@example.com (U-3)"), "{shown}");
    }
}
