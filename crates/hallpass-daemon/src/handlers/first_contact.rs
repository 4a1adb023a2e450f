//! First contact: an OS user with no account whose user name is the login of a synced
//! identity becomes that person. Invariants: the match is on the kernel's uid → the system's
//! user name → the identity's login, never on anything the client sends; only an active,
//! synced, still-unbound identity is bound; the binding is audited and announced.

use std::collections::BTreeSet;

use hallpass_core::audit::{Actor, AuditEntry};
use hallpass_core::event::EventKind;
use hallpass_core::user::{OsAccount, User, UserStatus};

use super::Session;
use crate::broker::Fail;

/// The OS user name of `uid`, from the system's user database.
fn os_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

fn bindable(u: &User) -> bool {
    u.status == UserStatus::Active && u.os.is_none() && !u.sources.is_empty()
}

/// Binds the caller's uid to the synced identity with their OS user name as login, if there
/// is one to bind; `None` otherwise.
pub async fn bind(s: &Session) -> Result<Option<User>, Fail> {
    let Some(uid) = s.conn.uid() else {
        return Ok(None);
    };
    let Some(name) = os_name(uid) else {
        return Ok(None);
    };
    match s.broker.store().user_by_login(&name)? {
        Some(u) if bindable(&u) => {}
        _ => return Ok(None),
    }
    let now = s.broker.now();
    let source = s.conn.source();
    s.broker
        .commit(|tx| {
            let Some(mut user) = tx.user_by_login(&name)? else {
                return Ok(None);
            };
            if !bindable(&user) || tx.user_by_uid(uid)?.is_some() {
                return Ok(None);
            }
            user.os = Some(OsAccount {
                uid,
                name: Some(name.clone()),
            });
            tx.put_user(&user)?;
            let sources: Vec<&str> = user.sources.keys().map(|s| s.as_str()).collect();
            tx.audit(
                now,
                AuditEntry::new(
                    Actor::User {
                        id: user.id,
                        email: user.email.clone(),
                        via: None,
                    },
                    source,
                    "identity.first_contact",
                    &user.email,
                    format!(
                        "OS user {name} (uid {uid}) bound to the identity synced from {}",
                        sources.join(", ")
                    ),
                )
                .about(user.id),
            )?;
            tx.event(
                now,
                EventKind::UserJoined {
                    user: user.id,
                    email: user.email.clone(),
                },
                BTreeSet::from([user.id]),
            )?;
            tracing::info!(uid, os_user = %name, user = %user.id, "first contact bound a synced identity");
            Ok(Some(user))
        })
        .await
}
