//! API tokens for scripts and remote use: `tokens create | list | revoke`.
//! Invariant: a token is printed once, by `create` (on stdout, alone, so it can be piped into
//! a file); nothing else can show it.

use clap::{Args, Subcommand};
use hallpass_core::TokenId;
use hallpass_core::user::Role;
use hallpass_proto::{NewToken, TokenRef, TokenView};

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::duration_secs;
use crate::output::{Output, ago_opt, table, when, when_opt};

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make an API token for yourself and print it (shown this once)
    #[command(after_help = "Examples:\n  \
        hallpass tokens create --name ci-deploy --expires 30d > ~/.hallpass-ci.token\n  \
        hallpass tokens create --name approver-bot --role grantee")]
    Create(CreateArgs),
    /// List your tokens (never the tokens themselves); --all lists everyone's (admins, auditors)
    List(ListArgs),
    /// Revoke a token by id (T-3) or, among yours, by name; admins may revoke anyone's by id
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the token is for, like ci-deploy (letters, digits, - _ .)
    #[arg(long)]
    pub name: String,
    /// How long the token works, like 30d or 12h, or `never`
    #[arg(long, value_name = "DURATION", default_value = "90d")]
    pub expires: String,
    /// The most the token may do; never above your own role [default: your role]
    #[arg(long, value_enum)]
    pub role: Option<TokenRole>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TokenRole {
    Admin,
    Auditor,
    Grantee,
}

impl From<TokenRole> for Role {
    fn from(r: TokenRole) -> Role {
        match r {
            TokenRole::Admin => Role::Admin,
            TokenRole::Auditor => Role::Auditor,
            TokenRole::Grantee => Role::Grantee,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Everyone's tokens (admins and auditors)
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (T-3) or the name of one of yours
    pub token: String,
}

fn token_ref(s: &str) -> TokenRef {
    let t = s.trim();
    let prefixed = t.len() > TokenId::PREFIX.len()
        && t[..TokenId::PREFIX.len()].eq_ignore_ascii_case(TokenId::PREFIX);
    match t.parse::<TokenId>() {
        Ok(id) if prefixed => TokenRef::Id(id),
        _ => TokenRef::Name(t.to_string()),
    }
}

pub async fn run(s: &Session, out: Output, c: TokensCommand) -> Result<(), Failure> {
    match c {
        TokensCommand::Create(a) => {
            let expires_in_secs = if a.expires.trim().eq_ignore_ascii_case("never") {
                None
            } else {
                duration_secs("--expires", Some(&a.expires))?
            };
            let args = NewToken {
                name: a.name,
                role: a.role.map(Role::from),
                expires_in_secs,
            };
            let created = answer(s.client.create_token(ctx(), args).await)?;
            if !out.json(&created)? {
                let v = &created.view;
                println!("{}", created.token);
                eprintln!(
                    "token {} ({}) acts as {} {}, {}. It is shown only now: store it like a password.\n\
                     Use it from another machine with `hallpass login --remote HOST:PORT --token-file FILE`.",
                    v.id,
                    v.name,
                    v.owner_email,
                    v.role,
                    v.expires_at
                        .map(|e| format!("until {}", when(e, out.now())))
                        .unwrap_or_else(|| "and never expires".into()),
                );
            }
        }
        TokensCommand::List(a) => {
            let tokens = answer(s.client.list_tokens(ctx(), a.all).await)?;
            if out.json(&tokens)? {
                return Ok(());
            }
            if tokens.is_empty() {
                println!("no API tokens; make one with `hallpass tokens create --name NAME`");
                return Ok(());
            }
            println!("{}", token_table(&tokens, out));
        }
        TokensCommand::Revoke(a) => {
            let v = answer(s.client.revoke_token(ctx(), token_ref(&a.token)).await)?;
            if !out.json(&v)? {
                println!(
                    "token {} ({}) of {} is revoked: it is refused from its next call.",
                    v.id, v.name, v.owner_email
                );
            }
        }
    }
    Ok(())
}

fn token_table(tokens: &[TokenView], out: Output) -> String {
    let now = out.now();
    table(
        [
            "id",
            "name",
            "owner",
            "role",
            "state",
            "created",
            "expires",
            "last used",
        ],
        tokens
            .iter()
            .map(|t| {
                let used = match (&t.last_used_at, &t.last_used_from) {
                    (Some(_), Some(from)) => {
                        format!("{} from {from}", ago_opt(t.last_used_at, now))
                    }
                    _ => ago_opt(t.last_used_at, now),
                };
                [
                    t.id.to_string(),
                    t.name.clone(),
                    t.owner_email.clone(),
                    t.role.to_string(),
                    t.state.to_string(),
                    when(t.created_at, now),
                    when_opt(t.expires_at, now),
                    used,
                ]
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_need_their_prefix_and_everything_else_is_a_name() {
        assert_eq!(token_ref("T-3"), TokenRef::Id(TokenId(3)));
        assert_eq!(token_ref("t-12"), TokenRef::Id(TokenId(12)));
        assert_eq!(token_ref("3"), TokenRef::Name("3".into()));
        assert_eq!(token_ref("ci-deploy"), TokenRef::Name("ci-deploy".into()));
    }
}
