//! Access links for externals: `links create | list | revoke`, and `outbox` (undelivered
//! e-mail). Invariant: a link's URL is printed once, by `create`; nothing else can show it.

use clap::{Args, Subcommand};
use hallpass_core::LinkId;
use hallpass_proto::{LinkView, NewLink};

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::{duration_secs, flow_name};
use crate::output::{Output, clip, table, when, when_opt};

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Create a link for an access-link flow and print its URL (shown this once)
    #[command(
        after_help = "Example:\n  hallpass links create --flow vendor-db --expires 30d --max-uses 1 --note 'Acme DBA'"
    )]
    Create(CreateArgs),
    /// List links (never their URLs)
    List(ListArgs),
    /// Revoke a link: it opens nothing from now on (requests it opened go on)
    Revoke(IdArg),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The access-link flow the link offers
    #[arg(long)]
    pub flow: String,
    /// How long the link stays usable, like 7d or 12h (default: until revoked)
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// How many requests the link may open (default: unlimited)
    #[arg(long, value_name = "N")]
    pub max_uses: Option<u32>,
    /// Who the link is for, shown in `links list`
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the links of this flow
    #[arg(long)]
    pub flow: Option<String>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The link's id, like L-3
    pub id: String,
}

fn link_id(flag: &str, s: &str) -> Result<LinkId, Failure> {
    s.parse::<LinkId>()
        .map_err(|e| Failure::invalid(flag, e.to_string()))
}

fn uses(l: &LinkView) -> String {
    match l.max_uses {
        Some(m) => format!("{}/{m}", l.uses),
        None => l.uses.to_string(),
    }
}

pub async fn run(s: &Session, out: Output, c: LinksCommand) -> Result<(), Failure> {
    match c {
        LinksCommand::Create(a) => {
            let args = NewLink {
                flow: flow_name("--flow", &a.flow)?,
                expires_in_secs: duration_secs("--expires", a.expires.as_deref())?,
                max_uses: a.max_uses,
                note: a.note,
            };
            let created = answer(s.client.create_link(ctx(), args).await)?;
            if !out.json(&created)? {
                println!("{}", created.url);
                eprintln!(
                    "link {} for flow {} ({}, {} uses). The URL is shown only now: send it to the person it is for.",
                    created.link.id,
                    created.link.flow,
                    created
                        .link
                        .expires_at
                        .map(|e| format!("expires {}", when(e, out.now())))
                        .unwrap_or_else(|| "never expires".into()),
                    created
                        .link
                        .max_uses
                        .map(|m| format!("at most {m}"))
                        .unwrap_or_else(|| "unlimited".into())
                );
            }
        }
        LinksCommand::List(a) => {
            let flow = a
                .flow
                .as_deref()
                .map(|f| flow_name("--flow", f))
                .transpose()?;
            let links = answer(s.client.list_links(ctx(), flow).await)?;
            if out.json(&links)? {
                return Ok(());
            }
            if links.is_empty() {
                println!("no access links; create one with `hallpass links create --flow FLOW`");
                return Ok(());
            }
            let now = out.now();
            println!(
                "{}",
                table(
                    [
                        "id",
                        "flow",
                        "state",
                        "uses",
                        "expires",
                        "created by",
                        "note"
                    ],
                    links
                        .iter()
                        .map(|l| {
                            [
                                l.id.to_string(),
                                l.flow.to_string(),
                                l.state.to_string(),
                                uses(l),
                                when_opt(l.expires_at, now),
                                l.created_by.clone(),
                                clip(&l.note, 40),
                            ]
                        })
                        .collect(),
                )
            );
        }
        LinksCommand::Revoke(a) => {
            let l = answer(s.client.revoke_link(ctx(), link_id("ID", &a.id)?).await)?;
            if !out.json(&l)? {
                println!(
                    "revoked link {} for flow {} (used {} time(s))",
                    l.id, l.flow, l.uses
                );
            }
        }
    }
    Ok(())
}

/// `hallpass outbox`: e-mail waiting for the SMTP server, with why.
pub async fn outbox(s: &Session, out: Output) -> Result<(), Failure> {
    let mails = answer(s.client.list_outbox(ctx()).await)?;
    if out.json(&mails)? {
        return Ok(());
    }
    if mails.is_empty() {
        println!("no e-mail waiting");
        return Ok(());
    }
    let now = out.now();
    println!(
        "{}",
        table(
            [
                "id",
                "to",
                "purpose",
                "attempts",
                "next attempt",
                "last error"
            ],
            mails
                .iter()
                .map(|m| {
                    [
                        m.id.to_string(),
                        m.to.clone(),
                        m.purpose.clone(),
                        m.attempts.to_string(),
                        when(m.next_attempt_at, now),
                        clip(m.last_error.as_deref().unwrap_or(""), 60),
                    ]
                })
                .collect(),
        )
    );
    Ok(())
}
