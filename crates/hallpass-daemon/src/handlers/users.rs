//! Users: invite, list, show, change role, set manager, delete. Invariants: the last active
//! admin can be neither demoted nor deleted; deleting keeps history, cancels the user's pending
//! requests and revokes their grants in the same transaction.

use std::collections::BTreeSet;
use std::time::Duration;

use hallpass_core::audit::AuditEntry;
use hallpass_core::event::EventKind;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::request::RequestStatus;
use hallpass_core::user::{
    Invite, Role, User, UserStatus, normalize_email, validate_person_name, validate_phone,
};
use hallpass_proto::{ApiError, InviteArgs, InviteCreated, Page, UserQuery, UserRef, UserView};

use super::accept::code_hash;
use super::{Session, find_user, page_limit, parse_cursor};
use crate::broker::{Caller, Fail, random_hex};
use crate::{lifecycle, mailer, views};

pub async fn invite(s: &Session, c: &Caller, args: InviteArgs) -> Result<InviteCreated, Fail> {
    s.broker.require_admin(c, "Inviting users")?;
    let email = normalize_email(&args.email)?;
    let name = validate_person_name(&args.name)?;
    let phone = args.phone.as_deref().map(validate_phone).transpose()?;
    if args.role == Role::External {
        return Err(Fail::Api(ApiError::invalid(
            "role",
            "externals come through access links; invite admin, grantee or auditor",
        )));
    }
    let ttl = match args.expires_in_secs {
        Some(0) => {
            return Err(Fail::Api(ApiError::invalid(
                "expires",
                "must be longer than zero",
            )));
        }
        Some(secs) if secs > 90 * 86_400 => {
            return Err(Fail::Api(ApiError::invalid(
                "expires",
                "must be at most 90d",
            )));
        }
        Some(secs) => Duration::from_secs(secs),
        None => s.broker.config().invites.ttl,
    };
    let now = s.broker.now();
    // 128 random bits, shown once; only the hash is stored.
    let code = format!("hp-{}", random_hex(16));
    let hash = code_hash(&code);
    let expires_at = now.plus(ttl);
    let emailed = s.broker.config().smtp.enabled();
    let user = s
        .broker
        .commit(|tx| {
            let id = match tx.user_by_email(&email)? {
                Some(u) if u.status != UserStatus::Deleted => {
                    return Err(Fail::Api(ApiError::conflict(format!(
                        "{email} already has an account ({})",
                        u.status
                    ))));
                }
                // A deleted account's history stays with it; a new person gets a new id.
                Some(_) | None => tx.next_user_id()?,
            };
            let user = User {
                phone,
                ..User::new(id, email.clone(), name, args.role, UserStatus::Invited, now)
            };
            tx.put_user(&user)?;
            tx.put_invite(&Invite {
                code_hash: hash,
                user: id,
                created_by: c.id(),
                created_at: now,
                expires_at,
            })?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "user.invite",
                    format!("user {email}"),
                    format!("invited as {} (code expires {expires_at})", args.role),
                )
                .about(id)
                .with_status("invited"),
            )?;
            tx.event(
                now,
                EventKind::UserInvited {
                    user: id,
                    email: email.clone(),
                },
                BTreeSet::new(),
            )?;
            if emailed {
                let org = &s.broker.config().organisation;
                mailer::enqueue(tx, now, mailer::invite(org, &user, &code, expires_at))?;
            }
            Ok(user)
        })
        .await?;
    tracing::info!(user = %user.id, emailed, "user invited");
    Ok(InviteCreated {
        user: views::user(s.broker.store(), &user)?,
        code,
        expires_at,
        emailed,
    })
}

pub async fn list(s: &Session, c: &Caller, q: UserQuery) -> Result<Page<UserView>, Fail> {
    s.broker.require_reader(c, "Listing users")?;
    let store = s.broker.store();
    let after = parse_cursor(&q.after)?.map(hallpass_core::UserId);
    let text = q.text.as_deref().map(str::to_lowercase);
    let keep = |u: &User| {
        q.role.is_none_or(|r| u.role == r)
            && q.status.is_none_or(|st| u.status == st)
            && q.group.as_ref().is_none_or(|g| u.groups.contains(g))
            && text
                .as_deref()
                .is_none_or(|t| u.email.contains(t) || u.name.to_lowercase().contains(t))
    };
    let (users, next) = store.users_page(after, page_limit(q.limit), &keep)?;
    Ok(Page {
        items: users
            .iter()
            .map(|u| views::user(store, u))
            .collect::<Result<_, _>>()?,
        next: next.map(|id| id.0.to_string()),
    })
}

pub async fn get(s: &Session, c: &Caller, r: UserRef) -> Result<UserView, Fail> {
    let user = find_user(&s.broker, &r)?;
    if user.id != c.id() {
        s.broker.require_reader(c, "Looking up other users")?;
    }
    Ok(views::user(s.broker.store(), &user)?)
}

pub async fn set_role(s: &Session, c: &Caller, r: UserRef, role: Role) -> Result<UserView, Fail> {
    s.broker.require_admin(c, "Changing roles")?;
    if role == Role::External {
        return Err(Fail::Api(ApiError::invalid(
            "role",
            "choose admin, grantee or auditor",
        )));
    }
    let now = s.broker.now();
    let user = s
        .broker
        .commit(|tx| {
            let mut user = find_user(&s.broker, &r)?;
            if user.status == UserStatus::Deleted {
                return Err(Fail::Api(ApiError::invalid(
                    "user",
                    format!("{} is deleted", user.email),
                )));
            }
            if role != Role::Admin && s.broker.store().is_last_admin(&user)? {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "{} is the last admin; make someone else admin first",
                    user.email
                ))));
            }
            let before = user.role;
            user.role = role;
            tx.put_user(&user)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "user.set_role",
                    format!("user {}", user.email),
                    format!("{before} → {role}"),
                )
                .about(user.id),
            )?;
            tx.event(
                now,
                EventKind::UserRoleChanged {
                    user: user.id,
                    role,
                },
                BTreeSet::from([user.id]),
            )?;
            Ok(user)
        })
        .await?;
    Ok(views::user(s.broker.store(), &user)?)
}

pub async fn set_manager(
    s: &Session,
    c: &Caller,
    r: UserRef,
    manager: Option<UserRef>,
) -> Result<UserView, Fail> {
    s.broker.require_admin(c, "Setting managers")?;
    let now = s.broker.now();
    let user = s
        .broker
        .commit(|tx| {
            let mut user = find_user(&s.broker, &r)?;
            let mgr = match &manager {
                Some(m) => {
                    let m = find_user(&s.broker, m)?;
                    if m.id == user.id {
                        return Err(Fail::Api(ApiError::invalid(
                            "manager",
                            "a user cannot be their own manager",
                        )));
                    }
                    if m.status == UserStatus::Deleted {
                        return Err(Fail::Api(ApiError::invalid(
                            "manager",
                            format!("{} is deleted", m.email),
                        )));
                    }
                    Some(m)
                }
                None => None,
            };
            user.manager = mgr.as_ref().map(|m| m.id);
            tx.put_user(&user)?;
            let summary = match &mgr {
                Some(m) => format!("manager → {}", m.email),
                None => "manager removed".into(),
            };
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "user.set_manager",
                    format!("user {}", user.email),
                    summary,
                )
                .about(user.id),
            )?;
            Ok(user)
        })
        .await?;
    Ok(views::user(s.broker.store(), &user)?)
}

pub async fn delete(s: &Session, c: &Caller, r: UserRef) -> Result<UserView, Fail> {
    s.broker.require_admin(c, "Deleting users")?;
    let now = s.broker.now();
    let user = s
        .broker
        .commit(|tx| {
            let store = tx.store().clone();
            let mut user = find_user(&s.broker, &r)?;
            if user.status == UserStatus::Deleted {
                return Err(Fail::Api(ApiError::InvalidTransition {
                    what: format!("user {}", user.email),
                    from: "deleted".into(),
                    action: "delete".into(),
                }));
            }
            if s.broker.store().is_last_admin(&user)? {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "{} is the last admin and cannot be deleted",
                    user.email
                ))));
            }
            // Pending requests are cancelled.
            let (pending, _) = store.requests_of(user.id, None, usize::MAX, &|r| {
                r.status == RequestStatus::Pending
            })?;
            for req in pending {
                let Some(mut req) = tx.request(req.id)? else {
                    continue;
                };
                req.cancel(c.id(), now)?;
                tx.put_request(&req)?;
                tx.audit(
                    now,
                    AuditEntry::new(
                        c.actor(),
                        c.source,
                        "request.cancel",
                        req.id,
                        "requester deleted",
                    )
                    .about(user.id)
                    .with_status(req.status),
                )?;
                tx.event(
                    now,
                    EventKind::RequestCancelled {
                        request: req.id,
                        by: c.id(),
                    },
                    BTreeSet::from([user.id]),
                )?;
            }
            // Active (and still-granting) access is revoked.
            let (grants, _) = store.grants_of(user.id, None, usize::MAX, &|g| {
                matches!(g.status, GrantStatus::Active | GrantStatus::Granting)
            })?;
            for g in grants {
                let Some(mut g) = tx.grant(g.id)? else {
                    continue;
                };
                lifecycle::begin_revoke(
                    tx,
                    &mut g,
                    EndReason::UserDeleted,
                    now,
                    &c.actor(),
                    c.source,
                )?;
            }
            // Group memberships end; history stays.
            for name in user.groups.clone() {
                if let Some(mut g) = tx.group(&name)? {
                    g.members.remove(&user.id);
                    tx.put_group(&g)?;
                }
            }
            user.groups.clear();
            user.status = UserStatus::Deleted;
            // The OS account stays on the record (history, and the revocations started above
            // still need to know whose access they remove); the uid index drops deleted users,
            // so the uid is free to accept another invite.
            tx.put_user(&user)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "user.delete",
                    format!("user {}", user.email),
                    "deleted; history kept",
                )
                .about(user.id)
                .with_status("deleted"),
            )?;
            tx.event(
                now,
                EventKind::UserDeleted {
                    user: user.id,
                    email: user.email.clone(),
                },
                BTreeSet::new(),
            )?;
            Ok(user)
        })
        .await?;
    tracing::info!(user = %user.id, "user deleted");
    Ok(views::user(s.broker.store(), &user)?)
}
