//! The SCIM server's bearer token: `scim token [--rotate]` and `scim revoke`. Invariant: the
//! token is printed once, by `token`; nothing else can show it again.

use clap::{Args, Subcommand};

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// Make the bearer token identity providers send to the SCIM server (shown this once)
    #[command(
        after_help = "Paste the URL and the token into the identity provider's SCIM app (Okta: \
                      Provisioning > Integration; Entra ID: Provisioning > Admin credentials).\n\n\
                      Example:\n  hallpass scim token\n  hallpass scim token --rotate"
    )]
    Token(TokenArgs),
    /// Remove the token: SCIM requests are refused until a new one is made
    Revoke,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Replace the existing token; the identity provider using it stops at once
    #[arg(long)]
    pub rotate: bool,
}

pub async fn run(s: &Session, out: Output, c: ScimCommand) -> Result<(), Failure> {
    match c {
        ScimCommand::Token(a) => {
            let made = answer(s.client.create_scim_token(ctx(), a.rotate).await)?;
            if !out.json(&made)? {
                println!("{}", made.token);
                eprintln!(
                    "SCIM base URL: {}\n{} The token is shown only now: put it in the identity provider's SCIM settings.",
                    made.url,
                    if made.replaced {
                        "The previous token no longer works."
                    } else {
                        "Token made."
                    }
                );
            }
        }
        ScimCommand::Revoke => {
            answer(s.client.revoke_scim_token(ctx()).await)?;
            if !out.json(&serde_json::json!({ "revoked": true }))? {
                println!(
                    "SCIM token revoked; SCIM requests are refused until `hallpass scim token`"
                );
            }
        }
    }
    Ok(())
}
