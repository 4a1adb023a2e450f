//! Groups of people: `groups create | list | show | add | remove | delete`.

use clap::{Args, Subcommand};
use hallpass_proto::GroupView;

use crate::connection::{Session, ctx};
use crate::failure::{Failure, answer};
use crate::flag_values::{group_name, user_ref};
use crate::output::{Details, Output, clip, table, when};

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Create a group
    #[command(
        after_help = "Example:\n  hallpass groups create db-admins --description 'Approve production database access'"
    )]
    Create(CreateArgs),
    /// List groups
    List,
    /// Show a group and its members
    Show(NameArg),
    /// Add people to a group
    #[command(after_help = "Example:\n  hallpass groups add db-admins ada@example.com U-7")]
    Add(MembersArgs),
    /// Remove people from a group
    Remove(MembersArgs),
    /// Delete a group (flows naming it stop matching it)
    Delete(NameArg),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The group's name: lowercase letters, digits, '.', '_', '-'
    pub name: String,
    /// What the group is for
    #[arg(long, default_value = "")]
    pub description: String,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The group's name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct MembersArgs {
    /// The group's name
    pub name: String,
    /// People: ids like U-3 or e-mail addresses
    #[arg(required = true, value_name = "USER")]
    pub users: Vec<String>,
}

pub async fn run(s: &Session, out: Output, c: GroupsCommand) -> Result<(), Failure> {
    match c {
        GroupsCommand::Create(a) => {
            let name = group_name("NAME", &a.name)?;
            let g = answer(s.client.create_group(ctx(), name, a.description).await)?;
            if !out.json(&g)? {
                println!("created group {}", g.name);
            }
        }
        GroupsCommand::List => {
            let groups = answer(s.client.list_groups(ctx()).await)?;
            if out.json(&groups)? {
                return Ok(());
            }
            if groups.is_empty() {
                println!("no groups yet; create one with `hallpass groups create NAME`");
                return Ok(());
            }
            println!(
                "{}",
                table(
                    ["name", "members", "description"],
                    groups
                        .iter()
                        .map(|g| {
                            [
                                g.name.to_string(),
                                g.members.len().to_string(),
                                clip(&g.description, 60),
                            ]
                        })
                        .collect(),
                )
            );
        }
        GroupsCommand::Show(a) => {
            let g = answer(
                s.client
                    .get_group(ctx(), group_name("NAME", &a.name)?)
                    .await,
            )?;
            if !out.json(&g)? {
                print_group(&g, out);
            }
        }
        GroupsCommand::Add(a) => {
            let name = group_name("NAME", &a.name)?;
            let mut last = None;
            for u in &a.users {
                let user = user_ref("USER", u)?;
                last = Some(answer(
                    s.client.add_member(ctx(), name.clone(), user).await,
                )?);
                if !out.json {
                    println!("added {u} to {name}");
                }
            }
            if let Some(g) = last {
                out.json(&g)?;
            }
        }
        GroupsCommand::Remove(a) => {
            let name = group_name("NAME", &a.name)?;
            let mut last = None;
            for u in &a.users {
                let user = user_ref("USER", u)?;
                last = Some(answer(
                    s.client.remove_member(ctx(), name.clone(), user).await,
                )?);
                if !out.json {
                    println!("removed {u} from {name}");
                }
            }
            if let Some(g) = last {
                out.json(&g)?;
            }
        }
        GroupsCommand::Delete(a) => {
            let g = answer(
                s.client
                    .delete_group(ctx(), group_name("NAME", &a.name)?)
                    .await,
            )?;
            if !out.json(&g)? {
                println!("deleted group {}", g.name);
            }
        }
    }
    Ok(())
}

fn print_group(g: &GroupView, out: Output) {
    let mut d = Details::new();
    d.row("group", g.name.to_string());
    if !g.description.is_empty() {
        d.row("description", g.description.clone());
    }
    d.row("created", when(g.created_at, out.now()));
    d.row(
        "members",
        if g.members.is_empty() {
            "none".to_string()
        } else {
            g.members
                .iter()
                .map(|m| format!("{} ({})", m.email, m.id))
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    println!("{}", d.render());
}
