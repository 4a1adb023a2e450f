//! Groups and membership (local until identity sync lands). Invariant: membership is kept on
//! both the group and the user record, changed together in one transaction.

use std::collections::BTreeSet;

use hallpass_core::GroupName;
use hallpass_core::audit::AuditEntry;
use hallpass_core::event::EventKind;
use hallpass_core::user::{Group, UserStatus};
use hallpass_proto::{ApiError, GroupView, UserRef};

use super::{Session, clean_text, find_user};
use crate::broker::{Caller, Fail};
use crate::views;

fn missing(name: &GroupName) -> Fail {
    Fail::Api(ApiError::not_found(format!("group {name}")))
}

pub async fn create(
    s: &Session,
    c: &Caller,
    name: GroupName,
    description: String,
) -> Result<GroupView, Fail> {
    s.broker.require_admin(c, "Creating groups")?;
    let description = clean_text("description", Some(description))?.unwrap_or_default();
    let now = s.broker.now();
    let group = s
        .broker
        .commit(|tx| {
            if tx.group(&name)?.is_some() {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "group {name} already exists"
                ))));
            }
            let g = Group {
                name: name.clone(),
                description,
                members: BTreeSet::new(),
                created_at: now,
                source: None,
            };
            tx.put_group(&g)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "group.create",
                    format!("group {name}"),
                    "created",
                ),
            )?;
            tx.event(
                now,
                EventKind::PolicyChanged {
                    what: format!("group {name}"),
                },
                BTreeSet::new(),
            )?;
            Ok(g)
        })
        .await?;
    Ok(views::group(s.broker.store(), &group)?)
}

pub async fn delete(s: &Session, c: &Caller, name: GroupName) -> Result<GroupView, Fail> {
    s.broker.require_admin(c, "Deleting groups")?;
    let now = s.broker.now();
    let group = s
        .broker
        .commit(|tx| {
            let g = tx.group(&name)?.ok_or_else(|| missing(&name))?;
            refuse_synced(&g)?;
            let using: Vec<String> = tx
                .store()
                .flows()?
                .into_iter()
                .filter(|f| {
                    f.requestors.groups.contains(&name)
                        || f.approval
                            .approvers
                            .contains(&hallpass_core::flow::Approver::Group(name.clone()))
                })
                .map(|f| f.name.to_string())
                .collect();
            if !using.is_empty() {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "group {name} is used by flow(s) {}; change them first",
                    using.join(", ")
                ))));
            }
            for id in &g.members {
                if let Some(mut u) = tx.user(*id)? {
                    u.groups.remove(&name);
                    tx.put_user(&u)?;
                }
            }
            tx.delete_group(&name)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "group.delete",
                    format!("group {name}"),
                    format!("deleted with {} member(s)", g.members.len()),
                ),
            )?;
            tx.event(
                now,
                EventKind::PolicyChanged {
                    what: format!("group {name}"),
                },
                BTreeSet::new(),
            )?;
            Ok(g)
        })
        .await?;
    Ok(views::group(s.broker.store(), &group)?)
}

pub async fn list(s: &Session, c: &Caller) -> Result<Vec<GroupView>, Fail> {
    s.broker.require_reader(c, "Listing groups")?;
    let store = s.broker.store();
    Ok(store
        .groups()?
        .iter()
        .map(|g| views::group(store, g))
        .collect::<Result<_, _>>()?)
}

pub async fn get(s: &Session, c: &Caller, name: GroupName) -> Result<GroupView, Fail> {
    let g = s
        .broker
        .store()
        .group(&name)?
        .ok_or_else(|| missing(&name))?;
    if !g.members.contains(&c.id()) {
        s.broker
            .require_reader(c, "Looking at groups you are not in")?;
    }
    Ok(views::group(s.broker.store(), &g)?)
}

pub async fn set_member(
    s: &Session,
    c: &Caller,
    name: GroupName,
    r: UserRef,
    member: bool,
) -> Result<GroupView, Fail> {
    s.broker.require_admin(c, "Changing group membership")?;
    let now = s.broker.now();
    let group = s
        .broker
        .commit(|tx| {
            let mut g = tx.group(&name)?.ok_or_else(|| missing(&name))?;
            refuse_synced(&g)?;
            let mut u = find_user(&s.broker, &r)?;
            if u.status == UserStatus::Deleted {
                return Err(Fail::Api(ApiError::invalid(
                    "user",
                    format!("{} is deleted", u.email),
                )));
            }
            let changed = if member {
                u.groups.insert(name.clone()) | g.members.insert(u.id)
            } else {
                u.groups.remove(&name) | g.members.remove(&u.id)
            };
            if !changed {
                return Ok(g);
            }
            tx.put_group(&g)?;
            tx.put_user(&u)?;
            let (action, summary) = if member {
                ("group.add_member", "added")
            } else {
                ("group.remove_member", "removed")
            };
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    action,
                    format!("group {name}"),
                    format!("{} {summary}", u.email),
                )
                .about(u.id),
            )?;
            if !member {
                crate::eligibility::recheck(
                    tx,
                    &u,
                    &format!("left group {name}"),
                    now,
                    &c.actor(),
                    c.source,
                )?;
            }
            Ok(g)
        })
        .await?;
    s.broker.wake_scheduler();
    Ok(views::group(s.broker.store(), &group)?)
}

/// A group an identity source owns changes only through that source.
fn refuse_synced(g: &Group) -> Result<(), Fail> {
    match &g.source {
        Some(src) => Err(Fail::Api(ApiError::conflict(format!(
            "group {} is synced from source {}; change it there (its next sync would undo this)",
            g.name, src.source
        )))),
        None => Ok(()),
    }
}
