//! Applying SCIM resources to hallpass users and groups, inside the caller's single
//! transaction. This is the only SCIM file that writes users, groups, requests or grants; it is
//! kept small so a shared sync layer (`sync/`) can replace it. Invariants: a SCIM person is a
//! hallpass user linked to the source `scim` under its SCIM id (the user id as a string); a
//! userName or e-mail another user holds is refused (`uniqueness`) before anything is written;
//! `User::groups` and `Group::members` change together; leaving a group or being deactivated
//! re-checks eligibility in the same transaction (`eligibility::recheck`, as a sync does); every change is audited (actor system,
//! source scim).

use std::collections::BTreeSet;

use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::event::EventKind;
use hallpass_core::identity::{self, GroupRecord, Person};
use hallpass_core::scim::{ScimKind, ScimRecord};
use hallpass_core::user::{Group, Role, User, UserStatus};
use hallpass_core::{GroupName, Timestamp, UserId};
use hallpass_store::{StoreError, Txn};
use serde_json::Value;

use super::error::ScimError;
use super::resource;
use crate::broker::{Fail, random_hex};
use crate::eligibility;

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        let incident = random_hex(4);
        tracing::error!(%incident, error = %e, "store failure in a SCIM request");
        ScimError::internal(format!("nothing was changed; incident {incident}"))
    }
}

impl From<Fail> for ScimError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Store(e) => e.into(),
            Fail::Api(e) => ScimError::internal(e.to_string()),
        }
    }
}

fn entry(action: &str, target: impl std::fmt::Display, summary: impl Into<String>) -> AuditEntry {
    AuditEntry::new(Actor::System, Source::Scim, action, target, summary)
}

/// The user a SCIM id names (404 when there is none).
fn user_id(id: &str) -> Result<UserId, ScimError> {
    id.parse::<u64>()
        .map(UserId)
        .map_err(|_| ScimError::not_found(format!("no User {id}")))
}

fn validate(id: &str, res: &Value) -> Result<Person, ScimError> {
    resource::person(id, res)?
        .validate()
        .map_err(|e| ScimError::invalid_value(e.to_string()))
}

/// The user holding `p`'s e-mail or login, other than `me`: refused unless it is Deleted or
/// (`reuse`) a person this source made earlier and has since deleted.
fn holder(tx: &Txn<'_>, p: &Person, me: Option<UserId>) -> Result<Option<User>, ScimError> {
    let source = super::source();
    let mut found: Option<User> = None;
    let by_email = tx.user_by_email(&p.email)?.map(|u| (u, "e-mail"));
    let by_login = match &p.login {
        Some(l) => tx.user_by_login(l)?.map(|u| (u, "userName")),
        None => None,
    };
    for (u, what) in by_email.into_iter().chain(by_login) {
        if Some(u.id) == me || u.status == UserStatus::Deleted {
            continue;
        }
        let gone_from_scim = match u.sources.get(&source) {
            Some(ext) => tx.scim_resource(ScimKind::User, ext)?.is_none(),
            None => false,
        };
        let value = if what == "e-mail" {
            p.email.clone()
        } else {
            p.login.clone().unwrap_or_default()
        };
        if me.is_some() || !gone_from_scim || found.as_ref().is_some_and(|f| f.id != u.id) {
            return Err(ScimError::uniqueness(format!(
                "the {what} `{value}` is already used by another user"
            )));
        }
        found = Some(u);
    }
    Ok(found)
}

/// The hallpass id of a person's manager, when the manager is a SCIM user here.
fn manager(tx: &Txn<'_>, p: &Person, me: UserId) -> Result<Option<UserId>, ScimError> {
    let Some(m) = &p.manager else { return Ok(None) };
    Ok(tx
        .user_by_external(&super::source(), m)?
        .filter(|u| u.id != me && u.status != UserStatus::Deleted)
        .map(|u| u.id))
}

/// Moves `user` to the status the source says, deactivating or reactivating (and auditing).
fn set_active(
    tx: &mut Txn<'_>,
    now: Timestamp,
    user: &mut User,
    active: bool,
    why: &str,
) -> Result<(), ScimError> {
    match (user.status, active) {
        (UserStatus::Active | UserStatus::Invited, false) => {
            if tx.store().is_last_admin(user)? {
                return Err(ScimError::invalid_value(format!(
                    "{} is hallpass's last admin and stays active: make someone else admin first",
                    user.email
                )));
            }
            user.status = UserStatus::Deactivated;
            let w = eligibility::recheck(tx, user, why, now, &Actor::System, Source::Scim)?;
            let (cancelled, revoked) = (w.requests_cancelled, w.grants_revoked);
            tx.audit(
                now,
                entry(
                    "identity.deactivate",
                    format!("user {}", user.email),
                    format!(
                        "{why}; {cancelled} pending request(s) cancelled, {revoked} grant(s) being revoked"
                    ),
                )
                .about(user.id)
                .with_status(user.status),
            )?;
        }
        (UserStatus::Deactivated, true) => {
            user.status = UserStatus::Active;
            tx.audit(
                now,
                entry(
                    "identity.reactivate",
                    format!("user {}", user.email),
                    "active again at source scim",
                )
                .about(user.id)
                .with_status(user.status),
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// POST /Users: a new person (or one this source deleted earlier, linked again). `resource`
/// is already normalised.
pub fn create_user(
    tx: &mut Txn<'_>,
    now: Timestamp,
    resource: Value,
) -> Result<ScimRecord, ScimError> {
    // Validate with a placeholder id first, so nothing is allocated for a bad record.
    let probe = validate("0", &resource)?;
    let reuse = holder(tx, &probe, None)?;
    let id = match &reuse {
        Some(u) => u.id,
        None => tx.next_user_id()?,
    };
    let ext = id.0.to_string();
    let p = validate(&ext, &resource)?;
    let source = super::source();
    let mut user = reuse.clone().unwrap_or_else(|| {
        User::new(
            id,
            p.email.clone(),
            p.name.clone(),
            Role::Grantee,
            UserStatus::Active,
            now,
        )
    });
    // A link this source made earlier points at the old SCIM id: drop it.
    user.sources.remove(&source);
    let mgr = manager(tx, &p, id)?;
    identity::merge_person(&mut user, &source, &p, mgr);
    if reuse.is_some() {
        tx.audit(
            now,
            entry(
                "identity.update",
                format!("user {}", user.email),
                "created again at source scim",
            )
            .about(id),
        )?;
        set_active(tx, now, &mut user, p.active, "deactivated at source scim")?;
    } else {
        tx.audit(
            now,
            entry(
                "identity.create",
                format!("user {}", user.email),
                format!(
                    "created from SCIM userName {}",
                    p.login.as_deref().unwrap_or("")
                ),
            )
            .about(id)
            .with_status(UserStatus::Active),
        )?;
        tx.event(
            now,
            EventKind::UserJoined {
                user: id,
                email: user.email.clone(),
            },
            BTreeSet::new(),
        )?;
        if !p.active {
            set_active(tx, now, &mut user, false, "created inactive at source scim")?;
        }
    }
    tx.put_user(&user)?;
    let rec = ScimRecord {
        kind: ScimKind::User,
        id: ext,
        created: now,
        last_modified: now,
        version: 1,
        resource,
    };
    tx.put_scim_resource(&rec)?;
    Ok(rec)
}

/// PUT /Users/{id}, and a PATCH once applied: the person becomes what `resource` says.
pub fn replace_user(
    tx: &mut Txn<'_>,
    now: Timestamp,
    id: &str,
    resource: Value,
) -> Result<ScimRecord, ScimError> {
    let uid = user_id(id)?;
    let old = tx
        .scim_resource(ScimKind::User, id)?
        .ok_or_else(|| ScimError::not_found(format!("no User {id}")))?;
    let mut user = tx
        .user(uid)?
        .filter(|u| u.status != UserStatus::Deleted)
        .ok_or_else(|| ScimError::not_found(format!("User {id} was deleted in hallpass")))?;
    let p = validate(id, &resource)?;
    holder(tx, &p, Some(uid))?;
    let mgr = manager(tx, &p, uid)?;
    let changes = identity::merge_person(&mut user, &super::source(), &p, mgr);
    if !changes.is_empty() {
        tx.audit(
            now,
            entry(
                "identity.update",
                format!("user {}", user.email),
                changes.to_string(),
            )
            .about(uid),
        )?;
    }
    set_active(tx, now, &mut user, p.active, "deactivated at source scim")?;
    tx.put_user(&user)?;
    let rec = ScimRecord {
        last_modified: if old.resource == resource {
            old.last_modified
        } else {
            now
        },
        version: old.version + u64::from(old.resource != resource),
        resource,
        ..old
    };
    tx.put_scim_resource(&rec)?;
    Ok(rec)
}

/// DELETE /Users/{id}: the person is deactivated (history kept) and leaves SCIM's groups; the
/// resource is gone. A later POST with the same userName or e-mail links the same user again.
pub fn delete_user(tx: &mut Txn<'_>, now: Timestamp, id: &str) -> Result<(), ScimError> {
    let uid = user_id(id)?;
    tx.scim_resource(ScimKind::User, id)?
        .ok_or_else(|| ScimError::not_found(format!("no User {id}")))?;
    if let Some(mut user) = tx.user(uid)?.filter(|u| u.status != UserStatus::Deleted) {
        set_active(tx, now, &mut user, false, "deleted at source scim")?;
        // Out of every group this source owns, in hallpass and in the stored resources.
        for name in user.groups.clone() {
            let Some(mut g) = tx.group(&name)? else {
                continue;
            };
            let Some(gs) = g.source.clone().filter(|s| s.source == super::source()) else {
                continue;
            };
            g.members.remove(&uid);
            tx.put_group(&g)?;
            user.groups.remove(&name);
            if let Some(mut rec) = tx.scim_resource(ScimKind::Group, &gs.external_id)? {
                if let Some(Value::Array(ms)) = rec.resource.get_mut("members") {
                    ms.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
                }
                rec.last_modified = now;
                rec.version += 1;
                tx.put_scim_resource(&rec)?;
            }
        }
        tx.put_user(&user)?;
    }
    tx.delete_scim_resource(ScimKind::User, id)?;
    Ok(())
}

fn group_name(display: &str) -> Result<GroupName, ScimError> {
    identity::group_name_from(display).map_err(|e| ScimError::invalid_value(e.to_string()))
}

/// The SCIM users a group resource lists, as hallpass ids.
fn members(tx: &Txn<'_>, ids: &[String]) -> Result<BTreeSet<UserId>, ScimError> {
    let source = super::source();
    ids.iter()
        .map(|m| {
            tx.user_by_external(&source, m)?
                .filter(|u| u.status != UserStatus::Deleted)
                .map(|u| u.id)
                .ok_or_else(|| {
                    ScimError::invalid_value(format!("member `{m}` is not a User of this server"))
                })
        })
        .collect()
}

/// Whether the hallpass group `g` is the one this source made for SCIM group `id`.
fn owned(g: &Group, id: &str) -> bool {
    g.source
        .as_ref()
        .is_some_and(|s| s.source == super::source() && s.external_id == id)
}

/// Adds or removes `name` on each user's `groups`.
fn mark(
    tx: &mut Txn<'_>,
    now: Timestamp,
    users: impl IntoIterator<Item = UserId>,
    name: &GroupName,
    member: bool,
) -> Result<(), ScimError> {
    for id in users {
        if let Some(mut u) = tx.user(id)? {
            let changed = if member {
                u.groups.insert(name.clone())
            } else {
                u.groups.remove(name)
            };
            if changed {
                if !member {
                    // Flows for this group may no longer be theirs.
                    let why = format!("left group {name} at source scim");
                    eligibility::recheck(tx, &u, &why, now, &Actor::System, Source::Scim)?;
                }
                tx.put_user(&u)?;
            }
        }
    }
    Ok(())
}

/// POST /Groups.
pub fn create_group(
    tx: &mut Txn<'_>,
    now: Timestamp,
    resource: Value,
) -> Result<ScimRecord, ScimError> {
    let (display, ids) = resource::group(&resource)?;
    let name = group_name(&display)?;
    if tx.group(&name)?.is_some() {
        return Err(ScimError::uniqueness(format!(
            "a group named {name} already exists"
        )));
    }
    let set = members(tx, &ids)?;
    let id = random_hex(16);
    let record = GroupRecord {
        external_id: id.clone(),
        name: name.clone(),
        description: String::new(),
        members: ids,
    };
    let g = identity::group_from_record(&super::source(), &record, set.clone(), None, now);
    tx.put_group(&g)?;
    mark(tx, now, set.iter().copied(), &name, true)?;
    tx.audit(
        now,
        entry(
            "group.create",
            format!("group {name}"),
            format!("created from SCIM with {} member(s)", set.len()),
        ),
    )?;
    tx.event(
        now,
        EventKind::PolicyChanged {
            what: format!("group {name}"),
        },
        BTreeSet::new(),
    )?;
    let rec = ScimRecord {
        kind: ScimKind::Group,
        id,
        created: now,
        last_modified: now,
        version: 1,
        resource,
    };
    tx.put_scim_resource(&rec)?;
    Ok(rec)
}

/// PUT /Groups/{id}, and a PATCH once applied: name and members become what `resource` says.
pub fn replace_group(
    tx: &mut Txn<'_>,
    now: Timestamp,
    id: &str,
    resource: Value,
) -> Result<ScimRecord, ScimError> {
    let old = tx
        .scim_resource(ScimKind::Group, id)?
        .ok_or_else(|| ScimError::not_found(format!("no Group {id}")))?;
    let old_name = group_name(&resource::group(&old.resource)?.0)?;
    let (display, ids) = resource::group(&resource)?;
    let name = group_name(&display)?;
    let set = members(tx, &ids)?;
    let existing = tx.group(&old_name)?.filter(|g| owned(g, id));
    if name != old_name && tx.group(&name)?.is_some_and(|g| !owned(&g, id)) {
        return Err(ScimError::uniqueness(format!(
            "a group named {name} already exists"
        )));
    }
    let before = existing
        .as_ref()
        .map(|g| g.members.clone())
        .unwrap_or_default();
    if name != old_name {
        if existing.is_some() {
            tx.delete_group(&old_name)?;
        }
        mark(tx, now, before.iter().copied(), &old_name, false)?;
        mark(tx, now, set.iter().copied(), &name, true)?;
    } else {
        mark(tx, now, before.difference(&set).copied(), &name, false)?;
        mark(tx, now, set.difference(&before).copied(), &name, true)?;
    }
    let record = GroupRecord {
        external_id: id.to_string(),
        name: name.clone(),
        description: existing
            .as_ref()
            .map(|g| g.description.clone())
            .unwrap_or_default(),
        members: ids,
    };
    let g = identity::group_from_record(
        &super::source(),
        &record,
        set.clone(),
        existing.as_ref(),
        now,
    );
    tx.put_group(&g)?;
    if old.resource != resource {
        let added = set.difference(&before).count();
        let removed = before.difference(&set).count();
        let renamed = if name != old_name {
            format!("renamed from {old_name}; ")
        } else {
            String::new()
        };
        tx.audit(
            now,
            entry(
                "group.update",
                format!("group {name}"),
                format!("{renamed}{added} member(s) added, {removed} removed"),
            ),
        )?;
        tx.event(
            now,
            EventKind::PolicyChanged {
                what: format!("group {name}"),
            },
            BTreeSet::new(),
        )?;
    }
    let rec = ScimRecord {
        last_modified: if old.resource == resource {
            old.last_modified
        } else {
            now
        },
        version: old.version + u64::from(old.resource != resource),
        resource,
        ..old
    };
    tx.put_scim_resource(&rec)?;
    Ok(rec)
}

/// DELETE /Groups/{id}: the hallpass group and its memberships go; flows naming it then match
/// nobody through it.
pub fn delete_group(tx: &mut Txn<'_>, now: Timestamp, id: &str) -> Result<(), ScimError> {
    let old = tx
        .scim_resource(ScimKind::Group, id)?
        .ok_or_else(|| ScimError::not_found(format!("no Group {id}")))?;
    let name = group_name(&resource::group(&old.resource)?.0)?;
    if let Some(g) = tx.group(&name)?.filter(|g| owned(g, id)) {
        mark(tx, now, g.members.iter().copied(), &name, false)?;
        tx.delete_group(&name)?;
        tx.audit(
            now,
            entry(
                "group.delete",
                format!("group {name}"),
                format!("deleted at source scim with {} member(s)", g.members.len()),
            ),
        )?;
        tx.event(
            now,
            EventKind::PolicyChanged {
                what: format!("group {name}"),
            },
            BTreeSet::new(),
        )?;
    }
    tx.delete_scim_resource(ScimKind::Group, id)?;
    Ok(())
}
