//! Grants, provisioned access: `grants` (and `grants show`), `release`, `revoke`, `extend`.

use clap::{Args, Subcommand, ValueEnum};
use hallpass_core::Timestamp;
use hallpass_core::audit::Source;
use hallpass_core::grant::GrantStatus;
use hallpass_proto::{ExtendArgs as WireExtend, GrantQuery, GrantScope, GrantView};

use crate::commands::requests::headline;
use crate::commands::{collect_pages, note_truncated};
use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::{duration, grant_id, integration_name, user_ref};
use crate::output::{
    Details, Output, ago_opt, relative, secs, short_duration, table, when, when_opt,
};

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Examples:
  hallpass grants                                your grants
  hallpass grants --all --status active,revoke-failed
  hallpass grants show G-7"
)]
pub struct GrantsArgs {
    #[command(subcommand)]
    pub show: Option<GrantsSubcommand>,
    #[command(flatten)]
    pub list: GrantsListArgs,
}

#[derive(Debug, Args)]
pub struct GrantsListArgs {
    /// Everyone's grants (admins and auditors)
    #[arg(long)]
    pub all: bool,
    /// Only grants in these states, comma-separated
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STATUS,...")]
    pub status: Vec<GrantStatusArg>,
    /// Only grants on this integration
    #[arg(long, value_name = "INTEGRATION")]
    pub integration: Option<String>,
    /// Only this person's grants (U-3 or e-mail)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Show at most N grants
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum GrantsSubcommand {
    /// Show one grant: its clock, its connector attempts, how it ended
    #[command(after_help = "\
Examples:
  hallpass grants show G-7
  hallpass grants show G-7 --credentials     the login the connector made for you
  psql \"$(hallpass grants show G-7 --credentials --field url)\"")]
    Show(ShowArgs),
    /// Make the owed connector call (grant, revoke, extension) now instead of at the next
    /// retry (admins)
    Retry(GrantIdArg),
    /// End a revocation the connector cannot confirm, e.g. its target is gone for good
    /// (admins; audited with the reason; `hallpass drift` reports access in fact left)
    Force(ForceArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The grant, e.g. G-7
    pub id: String,
    /// Show the credentials the connector issued for your active grant (password included)
    #[arg(long)]
    pub credentials: bool,
    /// With --credentials: print only this field's value (e.g. url, password, certificate)
    #[arg(long, value_name = "NAME", requires = "credentials")]
    pub field: Option<String>,
}

#[derive(Debug, Args)]
pub struct ForceArgs {
    /// The grant, e.g. G-7
    pub id: String,
    /// Why the revocation is forced (required; audited)
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GrantStatusArg {
    Granting,
    Active,
    Revoking,
    RevokeFailed,
    Expired,
    Revoked,
    Failed,
}

impl From<GrantStatusArg> for GrantStatus {
    fn from(s: GrantStatusArg) -> GrantStatus {
        match s {
            GrantStatusArg::Granting => GrantStatus::Granting,
            GrantStatusArg::Active => GrantStatus::Active,
            GrantStatusArg::Revoking => GrantStatus::Revoking,
            GrantStatusArg::RevokeFailed => GrantStatus::RevokeFailed,
            GrantStatusArg::Expired => GrantStatus::Expired,
            GrantStatusArg::Revoked => GrantStatus::Revoked,
            GrantStatusArg::Failed => GrantStatus::Failed,
        }
    }
}

#[derive(Debug, Args)]
pub struct GrantIdArg {
    /// The grant, e.g. G-7
    pub id: String,
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  hallpass revoke G-7 --reason 'left the incident'")]
pub struct RevokeArgs {
    /// The grant, e.g. G-7
    pub id: String,
    /// Why (recorded in the audit log and shown to the grantee)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  hallpass extend G-7 --duration 1h --reason 'migration still running'"
)]
pub struct ExtendArgs {
    /// The grant, e.g. G-7
    pub id: String,
    /// How much more time
    #[arg(long, value_name = "DURATION")]
    pub duration: String,
    /// Why you need more time
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

pub async fn list_or_show(s: &Session, out: Output, a: GrantsArgs) -> Result<(), Failure> {
    match a.show {
        Some(GrantsSubcommand::Show(g)) if g.credentials => {
            return credentials(s, out, g).await;
        }
        Some(GrantsSubcommand::Show(g)) => {
            let v = answer(s.client.get_grant(ctx(), grant_id("ID", &g.id)?).await)?;
            if !out.json(&v)? {
                println!("{}", render(&v, out.now()));
            }
            return Ok(());
        }
        Some(GrantsSubcommand::Retry(g)) => {
            let v = answer(s.client.retry_grant(ctx(), grant_id("ID", &g.id)?).await)?;
            if !out.json(&v)? {
                println!(
                    "{}: connector attempt scheduled now",
                    grant_line(&v, out.now())
                );
            }
            return Ok(());
        }
        Some(GrantsSubcommand::Force(f)) => {
            let v = answer(
                s.client
                    .force_end_grant(ctx(), grant_id("ID", &f.id)?, f.reason)
                    .await,
            )?;
            if !out.json(&v)? {
                println!(
                    "{}\nforced without the connector's confirmation; `hallpass drift` shows access left on the target",
                    grant_line(&v, out.now())
                );
            }
            return Ok(());
        }
        None => {}
    }
    let l = a.list;
    let scope = if l.all {
        GrantScope::All
    } else {
        GrantScope::Mine
    };
    let base = GrantQuery {
        scope,
        statuses: l.status.iter().map(|s| (*s).into()).collect(),
        integration: l
            .integration
            .as_deref()
            .map(|i| integration_name("--integration", i))
            .transpose()?,
        user: l
            .user
            .as_deref()
            .map(|u| user_ref("--user", u))
            .transpose()?,
        after: None,
        limit: 0,
    };
    let client = &s.client;
    let (items, more) = collect_pages(l.limit, |after, limit| {
        let q = GrantQuery {
            after,
            limit,
            ..base.clone()
        };
        async move { answer(client.list_grants(ctx(), q).await) }
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
                GrantScope::Mine =>
                    "you have no grants matching that; `hallpass flows list` shows what you can request",
                GrantScope::All => "no grants match",
            }
        );
        return Ok(());
    }
    println!("{}", grants_table(&items, out.now()));
    note_truncated(items.len(), more);
    Ok(())
}

/// `1h59m` for an active grant, `-` otherwise.
pub fn remaining(g: &GrantView) -> String {
    g.remaining_secs.map_or_else(
        || "-".into(),
        |s| short_duration(std::time::Duration::from_secs(s)),
    )
}

fn grants_table(items: &[GrantView], now: Timestamp) -> String {
    table(
        [
            "id",
            "user",
            "target",
            "status",
            "remaining",
            "ends",
            "request",
        ],
        items
            .iter()
            .map(|g| {
                [
                    g.id.to_string(),
                    g.user.email.clone(),
                    g.target.to_string(),
                    g.status.to_string(),
                    remaining(g),
                    ends(g, now),
                    g.request.to_string(),
                ]
            })
            .collect(),
    )
}

/// When access ends (`in 1h59m`) or ended (`ended 5m ago`); `-` before it starts.
pub fn ends(g: &GrantView, now: Timestamp) -> String {
    if g.status.is_terminal() || g.ended_at.is_some() {
        return g
            .ended_at
            .map_or_else(|| "-".into(), |t| format!("ended {}", relative(t, now)));
    }
    ago_opt(g.expires_at, now)
}

/// Everything about a grant.
pub fn render(g: &GrantView, now: Timestamp) -> String {
    let mut d = Details::new();
    d.row("grant", g.id.to_string())
        .row("user", format!("{} ({})", g.user.email, g.user.id))
        .row("target", g.target.to_string())
        .row("status", g.status.to_string())
        .row("remaining", remaining(g))
        .row("duration", secs(g.duration_secs))
        .row("request", g.request.to_string())
        .row("created", when(g.created_at, now))
        .row("activated", when_opt(g.activated_at, now))
        .row("expires", when_opt(g.expires_at, now));
    d.opt("ended", g.ended_at.map(|t| when(t, now)))
        .opt("why", g.end_reason.as_ref().map(ToString::to_string));
    if g.attempts > 0 || g.last_error.is_some() {
        d.row("attempts", g.attempts.to_string())
            .opt("next attempt", g.next_attempt_at.map(|t| when(t, now)))
            .opt("last error", g.last_error.clone());
    }
    d.render()
}

/// One line about a grant after an action on it.
fn grant_line(g: &GrantView, now: Timestamp) -> String {
    match (g.status, g.expires_at) {
        (GrantStatus::Active, Some(e)) => format!(
            "{} {}: active, {} left (until {})",
            g.id,
            g.target,
            remaining(g),
            when(e, now)
        ),
        (GrantStatus::Revoking, _) => format!("{} {}: access is being removed", g.id, g.target),
        (status, _) => format!("{} {}: {status}", g.id, g.target),
    }
}

async fn credentials(s: &Session, out: Output, a: ShowArgs) -> Result<(), Failure> {
    let c = answer(
        s.client
            .grant_credentials(ctx(), grant_id("ID", &a.id)?)
            .await,
    )?;
    if let Some(name) = &a.field {
        let value = c.get(name).ok_or_else(|| {
            let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
            Failure::invalid(
                "--field",
                format!("`{name}` is not one of {}", names.join(", ")),
            )
        })?;
        println!("{value}");
        return Ok(());
    }
    if out.json(&c)? {
        return Ok(());
    }
    let mut d = Details::new();
    for f in &c.fields {
        d.row(&f.name, f.value.clone());
    }
    println!("{}", d.render());
    if !c.hint.is_empty() {
        println!("\n{}", c.hint);
    }
    Ok(())
}

pub async fn release(s: &Session, out: Output, a: GrantIdArg) -> Result<(), Failure> {
    let g = answer(s.client.release(ctx(), grant_id("ID", &a.id)?).await)?;
    if !out.json(&g)? {
        println!("released {}", grant_line(&g, out.now()));
    }
    Ok(())
}

pub async fn revoke(s: &Session, out: Output, a: RevokeArgs) -> Result<(), Failure> {
    let g = answer(
        s.client
            .revoke(ctx(), grant_id("ID", &a.id)?, a.reason)
            .await,
    )?;
    if !out.json(&g)? {
        println!("revoked {}", grant_line(&g, out.now()));
    }
    Ok(())
}

pub async fn extend(s: &Session, out: Output, a: ExtendArgs) -> Result<(), Failure> {
    let id = grant_id("ID", &a.id)?;
    let args = WireExtend {
        duration_secs: duration("--duration", &a.duration)?.as_secs().max(1),
        reason: a.reason,
        source: Source::Cli,
    };
    let v = answer(s.client.extend(ctx(), id, args).await)?;
    if !out.json(&v)? {
        println!("{}", headline(&v, out.now()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_core::{GrantId, RequestId, UserId};
    use hallpass_proto::UserRefView;

    fn grant(status: GrantStatus, remaining_secs: Option<u64>) -> GrantView {
        GrantView {
            id: GrantId(7),
            request: RequestId(1001),
            user: UserRefView {
                id: UserId(2),
                email: "bob@example.com".into(),
            },
            target: "pg/orders/read".parse().expect("valid"),
            status,
            duration_secs: 7200,
            created_at: Timestamp(0),
            activated_at: Some(Timestamp(1000)),
            expires_at: Some(Timestamp(7_201_000)),
            remaining_secs,
            ended_at: None,
            end_reason: None,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
        }
    }

    #[test]
    fn remaining_column() {
        assert_eq!(remaining(&grant(GrantStatus::Active, Some(7140))), "1h59m");
        assert_eq!(remaining(&grant(GrantStatus::Expired, None)), "-");
        let t = grants_table(&[grant(GrantStatus::Active, Some(7140))], Timestamp(61_000));
        assert!(t.starts_with("ID"), "{t}");
        assert!(t.contains("1h59m"), "{t}");
        assert!(t.contains("in 1h59m"), "{t}");
        let mut ended = grant(GrantStatus::Revoked, None);
        ended.ended_at = Some(Timestamp(1000));
        assert_eq!(ends(&ended, Timestamp(301_000)), "ended 5m ago");
        assert_eq!(
            ends(&grant(GrantStatus::Active, Some(1)), Timestamp(1_000)),
            "in 2h"
        );
    }
}
