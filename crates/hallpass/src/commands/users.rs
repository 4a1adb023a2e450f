//! People: `users invite | list | show | set-role | set-manager | delete`, and how a user is
//! shown everywhere else. Invariant: an invite code is printed exactly once, when it is made.

use std::io::{BufRead, IsTerminal, Write};

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use hallpass_core::Timestamp;
use hallpass_core::user::{Role, UserStatus};
use hallpass_proto::{InviteArgs as WireInvite, UserQuery, UserView};

use crate::commands::{collect_pages, note_truncated};
use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::{duration_secs, group_name, user_ref};
use crate::output::{Details, Output, table, when};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Invite someone; prints a single-use code they redeem with `hallpass accept`
    #[command(
        after_help = "Example:\n  hallpass users invite --email bob@example.com --name 'Bob Marley' --role grantee"
    )]
    Invite(InviteArgs),
    /// List people, filtered by role, status, group or text
    #[command(
        after_help = "Examples:\n  hallpass users list --role admin\n  hallpass users list --filter bob --status invited"
    )]
    List(ListArgs),
    /// Show one person
    Show(UserArg),
    /// Change someone's role
    SetRole(SetRoleArgs),
    /// Set (or clear with --none) someone's manager, who can approve flows with `manager` approvers
    SetManager(SetManagerArgs),
    /// Delete someone: keeps their audit history, cancels their pending requests and revokes
    /// their active grants
    Delete(DeleteArgs),
}

/// Roles that can be given (externals come from access links only).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// Everything: policy, people, audit
    Admin,
    /// Requests access, approves what is routed to them
    Grantee,
    /// Reads everything an admin sees, changes nothing
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Grantee => Role::Grantee,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum UserStatusArg {
    Invited,
    Active,
    Deleted,
}

impl From<UserStatusArg> for UserStatus {
    fn from(s: UserStatusArg) -> UserStatus {
        match s {
            UserStatusArg::Invited => UserStatus::Invited,
            UserStatusArg::Active => UserStatus::Active,
            UserStatusArg::Deleted => UserStatus::Deleted,
        }
    }
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// Their e-mail address
    #[arg(long)]
    pub email: String,
    /// Their role
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Their full name
    #[arg(long)]
    pub name: String,
    /// Their phone number, e.g. +44 20 7946 0000
    #[arg(long)]
    pub phone: Option<String>,
    /// How long the invite code stays valid, e.g. 3d [default: the daemon's, 7d]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only people with this role
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Only people in this state
    #[arg(long, value_enum)]
    pub status: Option<UserStatusArg>,
    /// Only members of this group
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Only people whose e-mail or name contains TEXT (case-insensitive)
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Show at most N people
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct UserArg {
    /// The user: an id like U-3 or an e-mail address
    pub user: String,
}

#[derive(Debug, Args)]
pub struct SetRoleArgs {
    /// The user: an id like U-3 or an e-mail address
    pub user: String,
    /// The new role
    #[arg(value_enum)]
    pub role: RoleArg,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("manager_or_none").required(true).args(["manager", "none"])))]
pub struct SetManagerArgs {
    /// The user whose manager changes: an id like U-3 or an e-mail address
    pub user: String,
    /// The manager: an id like U-3 or an e-mail address
    pub manager: Option<String>,
    /// Clear the manager
    #[arg(long)]
    pub none: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The user: an id like U-3 or an e-mail address
    pub user: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(s: &Session, out: Output, c: UsersCommand) -> Result<(), Failure> {
    match c {
        UsersCommand::Invite(a) => invite(s, out, a).await,
        UsersCommand::List(a) => list(s, out, a).await,
        UsersCommand::Show(a) => {
            let user = answer(s.client.get_user(ctx(), user_ref("USER", &a.user)?).await)?;
            if !out.json(&user)? {
                println!("{}", user_details(&user, out.now()).render());
            }
            Ok(())
        }
        UsersCommand::SetRole(a) => {
            let user = user_ref("USER", &a.user)?;
            let updated = answer(s.client.set_role(ctx(), user, a.role.into()).await)?;
            if !out.json(&updated)? {
                println!("{} is now {}", user_label(&updated), updated.role);
            }
            Ok(())
        }
        UsersCommand::SetManager(a) => {
            let user = user_ref("USER", &a.user)?;
            let manager = match (&a.manager, a.none) {
                (Some(m), false) => Some(user_ref("MANAGER", m)?),
                _ => None,
            };
            let updated = answer(s.client.set_manager(ctx(), user, manager).await)?;
            if !out.json(&updated)? {
                match &updated.manager_email {
                    Some(m) => println!("{}'s manager is now {m}", user_label(&updated)),
                    None => println!("{} has no manager now", user_label(&updated)),
                }
            }
            Ok(())
        }
        UsersCommand::Delete(a) => delete(s, out, a).await,
    }
}

async fn invite(s: &Session, out: Output, a: InviteArgs) -> Result<(), Failure> {
    let args = WireInvite {
        email: a.email,
        name: a.name,
        role: a.role.into(),
        phone: a.phone,
        expires_in_secs: duration_secs("--expires", a.expires.as_deref())?,
    };
    let created = answer(s.client.invite_user(ctx(), args).await)?;
    if out.json(&created)? {
        return Ok(());
    }
    let now = out.now();
    println!(
        "invited {} as {}",
        user_label(&created.user),
        created.user.role
    );
    println!();
    println!("  invite code: {}", created.code);
    println!("  the invitee runs: hallpass accept {}", created.code);
    println!("  it expires at {}", when(created.expires_at, now));
    println!();
    if created.emailed {
        println!("The code was also e-mailed to {}.", created.user.email);
    }
    println!("This is the only time the code is shown; hallpass keeps only its hash.");
    Ok(())
}

async fn list(s: &Session, out: Output, a: ListArgs) -> Result<(), Failure> {
    let base = UserQuery {
        role: a.role.map(Into::into),
        status: a.status.map(Into::into),
        text: a.filter.filter(|t| !t.trim().is_empty()),
        group: a
            .group
            .as_deref()
            .map(|g| group_name("--group", g))
            .transpose()?,
        after: None,
        limit: 0,
    };
    let client = &s.client;
    let (users, more) = collect_pages(a.limit, |after, limit| {
        let q = UserQuery {
            after,
            limit,
            ..base.clone()
        };
        async move { answer(client.list_users(ctx(), q).await) }
    })
    .await?;
    if out.json(&users)? {
        note_truncated(users.len(), more);
        return Ok(());
    }
    if users.is_empty() {
        println!("no users match");
        return Ok(());
    }
    println!("{}", users_table(&users));
    note_truncated(users.len(), more);
    Ok(())
}

fn users_table(users: &[UserView]) -> String {
    table(
        ["id", "email", "name", "role", "status", "manager", "groups"],
        users
            .iter()
            .map(|u| {
                [
                    u.id.to_string(),
                    u.email.clone(),
                    u.name.clone(),
                    u.role.to_string(),
                    u.status.to_string(),
                    u.manager_email.clone().unwrap_or_else(|| "-".into()),
                    join_or_dash(u.groups.iter().map(ToString::to_string)),
                ]
            })
            .collect(),
    )
}

fn join_or_dash(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

async fn delete(s: &Session, out: Output, a: DeleteArgs) -> Result<(), Failure> {
    let user = user_ref("USER", &a.user)?;
    if !a.yes {
        let view = answer(s.client.get_user(ctx(), user.clone()).await)?;
        confirm(&format!(
            "Delete {}? Their pending requests are cancelled and their active grants revoked; their audit history stays.",
            user_label(&view)
        ))?;
    }
    let deleted = answer(s.client.delete_user(ctx(), user).await)?;
    if !out.json(&deleted)? {
        println!("deleted {}", user_label(&deleted));
    }
    Ok(())
}

/// Asks on the terminal; refuses to guess when there is no terminal to ask on.
fn confirm(question: &str) -> Result<(), Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::invalid(
            "--yes",
            "stdin is not a terminal, so hallpass cannot ask for confirmation; pass --yes to go ahead without asking",
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr()
        .flush()
        .map_err(|e| Failure::Local(format!("cannot write the question: {e}")))?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Local(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Failure::Local("not confirmed; nothing was changed".into()))
    }
}

/// `Ada Lovelace <ada@example.com> (U-1)`.
pub fn user_label(u: &UserView) -> String {
    format!("{} <{}> ({})", u.name, u.email, u.id)
}

/// Everything about a person, for `show` and `whoami`.
pub fn user_details(u: &UserView, now: Timestamp) -> Details {
    let mut d = Details::new();
    d.row("user", user_label(u))
        .row("role", u.role.to_string())
        .row("status", u.status.to_string())
        .opt("phone", u.phone.clone())
        .opt(
            "company",
            (!u.company.is_empty()).then(|| u.company.clone()),
        )
        .opt(
            "os user",
            match (&u.os_user, u.os_uid) {
                (Some(n), Some(uid)) => Some(format!("{n} (uid {uid})")),
                (None, Some(uid)) => Some(format!("uid {uid}")),
                (Some(n), None) => Some(n.clone()),
                (None, None) => None,
            },
        )
        .row(
            "manager",
            match (&u.manager_email, u.manager) {
                (Some(e), Some(id)) => format!("{e} ({id})"),
                (Some(e), None) => e.clone(),
                (None, Some(id)) => id.to_string(),
                (None, None) => "-".into(),
            },
        )
        .row(
            "groups",
            join_or_dash(u.groups.iter().map(ToString::to_string)),
        )
        .row("created", when(u.created_at, now));
    d
}
