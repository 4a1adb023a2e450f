//! `accept CODE`: binds the calling OS user to an invited account. Invariants: the code is
//! compared by its hash; a wrong, used or expired code changes nothing and reveals nothing
//! about other invites.

use std::collections::BTreeSet;

use hallpass_core::audit::{Actor, AuditEntry};
use hallpass_core::event::EventKind;
use hallpass_core::user::UserStatus;
use hallpass_proto::{ApiError, UserView};

use super::Session;
use super::signup::os_account;
use crate::broker::Fail;
use crate::views;

/// SHA-256 of an invite code as typed (trimmed, lowercased).
pub fn code_hash(code: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(code.trim().to_ascii_lowercase().as_bytes()).into()
}

pub async fn accept(s: &Session, code: String) -> Result<UserView, Fail> {
    if code.trim().is_empty() || code.len() > 200 {
        return Err(Fail::Api(ApiError::invalid("code", "is empty or too long")));
    }
    let hash = code_hash(&code);
    let now = s.broker.now();
    let uid = s.conn.uid;
    let source = s.conn.source();
    let os = os_account(uid);
    let user = s
        .broker
        .commit(|tx| {
            let unknown = || Fail::Api(ApiError::not_found("invite code (check it, or ask the admin for a new one)"));
            let invite = tx.invite(&hash)?.ok_or_else(unknown)?;
            if invite.expires_at <= now {
                return Err(Fail::Api(ApiError::invalid(
                    "code",
                    format!("this invite expired at {}; ask an admin to invite you again", invite.expires_at),
                )));
            }
            let mut user = tx.user(invite.user)?.ok_or_else(unknown)?;
            if user.status != UserStatus::Invited {
                return Err(unknown());
            }
            if let Some(existing) = tx.user_by_uid(uid)? {
                return Err(Fail::Api(ApiError::conflict(format!(
                    "this OS user (uid {uid}) is already bound to {}; accept as the invitee's own OS user",
                    existing.email
                ))));
            }
            user.status = UserStatus::Active;
            user.os = Some(os);
            tx.put_user(&user)?;
            tx.delete_invite(&hash)?;
            let actor = Actor::User { id: user.id, email: user.email.clone() };
            tx.audit(
                now,
                AuditEntry::new(actor, source, "user.accept", format!("user {}", user.email), format!("invited → active, bound to uid {uid}"))
                    .about(user.id)
                    .with_status("active"),
            )?;
            tx.event(now, EventKind::UserJoined { user: user.id, email: user.email.clone() }, BTreeSet::new())?;
            Ok(user)
        })
        .await?;
    tracing::info!(user = %user.id, uid, "invite accepted");
    Ok(views::user(s.broker.store(), &user)?)
}
