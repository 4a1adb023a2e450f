//! Bundles, named sets of targets requested together: `bundles create | list | delete`.

use clap::{Args, Subcommand};
use hallpass_core::Timestamp;
use hallpass_core::integration::{Bundle, Target};
use hallpass_proto::PutMode;

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::{bundle_name, target};
use crate::output::{Output, clip, table};

#[derive(Debug, Subcommand)]
pub enum BundlesCommand {
    /// Create (or with --replace, replace) a bundle
    #[command(
        after_help = "Example:\n  hallpass bundles create oncall --target pg-prod/orders/read --target pg-prod/billing/read"
    )]
    Create(CreateArgs),
    /// List bundles and their targets
    List,
    /// Delete a bundle
    Delete(NameArg),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle's name: lowercase letters, digits, '.', '_', '-'
    pub name: String,
    /// A target, integration/resource/permission (repeatable)
    #[arg(
        long = "target",
        value_name = "INTEGRATION/RESOURCE/PERMISSION",
        required = true
    )]
    pub targets: Vec<String>,
    /// What the bundle is for
    #[arg(long, default_value = "")]
    pub description: String,
    /// Replace an existing bundle of that name instead of creating one
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The bundle's name
    pub name: String,
}

/// Builds the bundle the flags describe; repeated targets count once.
pub fn build(a: &CreateArgs, now: Timestamp) -> Result<Bundle, Failure> {
    let mut targets: Vec<Target> = Vec::new();
    for t in &a.targets {
        let t = target("--target", t)?;
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    Ok(Bundle {
        name: bundle_name("NAME", &a.name)?,
        description: a.description.trim().to_string(),
        targets,
        updated_at: now,
    })
}

pub async fn run(s: &Session, out: Output, c: BundlesCommand) -> Result<(), Failure> {
    match c {
        BundlesCommand::Create(a) => {
            let bundle = build(&a, out.now())?;
            let mode = if a.replace {
                PutMode::Replace
            } else {
                PutMode::Create
            };
            let saved = answer(s.client.put_bundle(ctx(), bundle, mode).await)?;
            if !out.json(&saved)? {
                let verb = if a.replace { "replaced" } else { "created" };
                println!(
                    "{verb} bundle {} ({} target(s))",
                    saved.name,
                    saved.targets.len()
                );
            }
        }
        BundlesCommand::List => {
            let all = answer(s.client.list_bundles(ctx()).await)?;
            if out.json(&all)? {
                return Ok(());
            }
            if all.is_empty() {
                println!(
                    "no bundles yet; create one with `hallpass bundles create NAME --target …`"
                );
                return Ok(());
            }
            println!(
                "{}",
                table(
                    ["name", "targets", "description"],
                    all.iter()
                        .map(|b| {
                            [
                                b.name.to_string(),
                                b.targets
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                                clip(&b.description, 50),
                            ]
                        })
                        .collect(),
                )
            );
        }
        BundlesCommand::Delete(a) => {
            let b = answer(
                s.client
                    .delete_bundle(ctx(), bundle_name("NAME", &a.name)?)
                    .await,
            )?;
            if !out.json(&b)? {
                println!("deleted bundle {}", b.name);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_proto::ApiError;

    fn args(name: &str, targets: &[&str]) -> CreateArgs {
        CreateArgs {
            name: name.into(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            description: " on call ".into(),
            replace: false,
        }
    }

    #[test]
    fn targets_are_parsed_and_deduplicated() {
        let b = build(
            &args(
                "oncall",
                &["pg/orders/read", "pg/billing/read", "pg/orders/read"],
            ),
            Timestamp(1),
        )
        .expect("valid");
        assert_eq!(b.targets.len(), 2);
        assert_eq!(b.targets[1].to_string(), "pg/billing/read");
        assert_eq!(b.description, "on call");
    }

    #[test]
    fn bad_targets_and_names_name_their_flag() {
        for (a, flag) in [
            (args("oncall", &["pg/orders"]), "--target"),
            (args("On Call", &["pg/orders/read"]), "NAME"),
        ] {
            match build(&a, Timestamp(0)) {
                Err(Failure::Api(ApiError::InvalidInput { field, .. })) => assert_eq!(field, flag),
                other => panic!("expected invalid {flag}, got {other:?}"),
            }
        }
    }
}
