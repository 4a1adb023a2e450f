//! `signup`: the first admin, bound to the calling OS user. Refused once an admin exists.

use std::collections::BTreeSet;

use hallpass_core::audit::{Actor, AuditEntry};
use hallpass_core::event::EventKind;
use hallpass_core::user::{
    OsAccount, Role, User, UserStatus, normalize_email, validate_person_name,
};
use hallpass_proto::{ApiError, SignupArgs, UserView};

use super::Session;
use crate::broker::Fail;
use crate::views;

/// The OS account name for a uid, if the system knows it.
pub fn os_account(uid: u32) -> OsAccount {
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name);
    OsAccount { uid, name }
}

pub async fn signup(s: &Session, args: SignupArgs) -> Result<UserView, Fail> {
    let email = normalize_email(&args.email)?;
    let name = validate_person_name(&args.name)?;
    let now = s.broker.now();
    let uid = s.conn.local_uid("`signup`")?;
    let source = s.conn.source();
    let os = os_account(uid);
    let user = s
        .broker
        .commit(|tx| {
            let store = tx.store().clone();
            if let Some(admin) = store.users_with_role(Role::Admin)?.first() {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "signup is closed: an admin exists ({}); ask them to invite you",
                    admin.email
                ))));
            }
            if tx.user_by_uid(uid)?.is_some() {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "OS user {uid} already has a hallpass account"
                ))));
            }
            if tx
                .user_by_email(&email)?
                .is_some_and(|u| u.status != UserStatus::Deleted)
            {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "{email} already has an account"
                ))));
            }
            let user = User {
                os: Some(os),
                ..User::new(
                    tx.next_user_id()?,
                    email.clone(),
                    name,
                    Role::Admin,
                    UserStatus::Active,
                    now,
                )
            };
            tx.put_user(&user)?;
            let actor = Actor::User {
                id: user.id,
                email: email.clone(),
                via: None,
            };
            tx.audit(
                now,
                AuditEntry::new(
                    actor,
                    source,
                    "user.signup",
                    format!("user {email}"),
                    format!("first admin, bound to uid {uid}"),
                )
                .about(user.id)
                .with_status("active"),
            )?;
            tx.event(
                now,
                EventKind::UserJoined {
                    user: user.id,
                    email: email.clone(),
                },
                BTreeSet::new(),
            )?;
            Ok(user)
        })
        .await?;
    tracing::info!(user = %user.id, uid, "first admin signed up");
    Ok(views::user(s.broker.store(), &user)?)
}
