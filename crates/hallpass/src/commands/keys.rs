//! `hallpass keys`: the SSH public keys the SSH connector certifies for you.

use std::io::Read;

use clap::{Args, Subcommand};
use hallpass_proto::SshKeyView;

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::output::{Output, table};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Register a public key (a .pub file, or - for standard input)
    #[command(after_help = "Example:\n  hallpass keys add ~/.ssh/id_ed25519.pub")]
    Add(AddArgs),
    /// List your registered keys
    List,
    /// Remove a key by its fingerprint (as `keys list` shows it)
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The public key file, or - to read it from standard input
    pub file: String,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// e.g. SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s
    pub fingerprint: String,
}

pub async fn run(s: &Session, out: Output, c: KeysCommand) -> Result<(), Failure> {
    let keys = match c {
        KeysCommand::Add(a) => {
            let key = if a.file == "-" {
                let mut k = String::new();
                std::io::stdin()
                    .read_to_string(&mut k)
                    .map_err(|e| Failure::Local(format!("cannot read standard input: {e}")))?;
                k
            } else {
                std::fs::read_to_string(&a.file)
                    .map_err(|e| Failure::invalid("FILE", format!("cannot read {}: {e}", a.file)))?
            };
            answer(s.client.add_ssh_key(ctx(), key).await)?
        }
        KeysCommand::List => answer(s.client.list_ssh_keys(ctx()).await)?,
        KeysCommand::Remove(a) => answer(s.client.remove_ssh_key(ctx(), a.fingerprint).await)?,
    };
    if !out.json(&keys)? {
        print_keys(&keys);
    }
    Ok(())
}

fn print_keys(keys: &[SshKeyView]) {
    if keys.is_empty() {
        println!("no SSH keys registered; add one with `hallpass keys add ~/.ssh/id_ed25519.pub`");
        return;
    }
    println!(
        "{}",
        table(
            ["fingerprint", "type", "comment"],
            keys.iter()
                .map(|k| [
                    k.fingerprint.clone(),
                    k.algorithm.clone(),
                    k.comment.clone()
                ])
                .collect(),
        )
    );
}
