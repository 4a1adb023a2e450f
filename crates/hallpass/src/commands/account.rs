//! Your own account and the daemon: `signup`, `accept`, `whoami`, `status`.

use clap::Args;
use hallpass_core::audit::Source;
use hallpass_proto::{SignupArgs as WireSignup, TokenView, UserView};

use crate::commands::users::{user_details, user_label};
use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::output::{Details, Output, when};

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  hallpass signup --email ada@example.com --name 'Ada Lovelace'")]
pub struct SignupArgs {
    /// Your e-mail address: how others name you in hallpass
    #[arg(long)]
    pub email: String,
    /// Your full name, as approvers and auditors will see it
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example (run as the OS user the account is for):\n  hallpass accept 7Q2M-XK4P-9D3F"
)]
pub struct AcceptArgs {
    /// The invite code an admin gave you (single use)
    pub code: String,
}

pub async fn signup(s: &Session, out: Output, a: SignupArgs) -> Result<(), Failure> {
    let args = WireSignup {
        email: a.email,
        name: a.name,
        source: Source::Cli,
    };
    let user = answer(s.client.signup(ctx(), args).await)?;
    if !out.json(&user)? {
        println!(
            "Welcome, {}: you are the first admin of {}.",
            user_label(&user),
            s.server.organisation
        );
        println!(
            "Next: connect a system with `hallpass integrations create`, then invite people with `hallpass users invite`."
        );
    }
    Ok(())
}

pub async fn accept(s: &Session, out: Output, a: AcceptArgs) -> Result<(), Failure> {
    let code = a.code.trim().to_string();
    if code.is_empty() {
        return Err(Failure::invalid("CODE", "the invite code is empty"));
    }
    let user = answer(s.client.accept_invite(ctx(), code).await)?;
    if !out.json(&user)? {
        println!(
            "Welcome, {}: your account is active ({}).",
            user_label(&user),
            user.role
        );
        println!("Next: `hallpass flows list` shows what you can request.");
    }
    Ok(())
}

pub async fn whoami(s: &Session, out: Output) -> Result<(), Failure> {
    let me = answer(s.client.whoami(ctx()).await)?;
    if out.json(&me)? {
        return Ok(());
    }
    match &me.user {
        Some(user) => print_me(user, me.token.as_ref(), s, out),
        None if me.signup_open => {
            println!("OS user {} has no hallpass account yet.", os_user(me.uid));
            println!(
                "No admin exists: run `hallpass signup --email EMAIL --name NAME` to become the first admin."
            );
        }
        None => {
            println!("OS user {} has no hallpass account.", os_user(me.uid));
            println!("Ask an admin to invite you, then run `hallpass accept CODE`.");
        }
    }
    Ok(())
}

fn os_user(uid: Option<u32>) -> String {
    uid.map_or_else(|| "?".into(), |u| u.to_string())
}

fn print_me(user: &UserView, token: Option<&TokenView>, s: &Session, out: Output) {
    let mut d = user_details(user, out.now());
    if let Some(t) = token {
        d.row(
            "via token",
            format!("{} ({}), acting as {}", t.id, t.name, t.role),
        );
    }
    d.row(
        "daemon",
        format!(
            "{} (hallpassd {})",
            s.server.organisation, s.server.daemon_version
        ),
    );
    println!("{}", d.render());
}

pub async fn status(s: &Session, out: Output) -> Result<(), Failure> {
    let st = answer(s.client.status(ctx()).await)?;
    if out.json(&st)? {
        return Ok(());
    }
    let now = out.now();
    let failing = if st.failing_grants > 0 {
        format!(
            "{} (need attention: `hallpass grants --all --status failed,revoke-failed`)",
            st.failing_grants
        )
    } else {
        "0".into()
    };
    let text = Details::new()
        .row("organisation", s.server.organisation.clone())
        .row("daemon", format!("hallpassd {}", st.daemon_version))
        .row("started", when(st.started_at, now))
        .row("daemon clock", when(st.now, now))
        .row("users", st.users.to_string())
        .row("pending requests", st.pending_requests.to_string())
        .row("active grants", st.active_grants.to_string())
        .row("failing grants", failing)
        .row("audit head", format!("seq {}", st.audit_head))
        .render();
    println!("{text}");
    Ok(())
}
