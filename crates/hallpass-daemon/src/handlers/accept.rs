//! `accept CODE`: binds the calling OS user to an invited account, or, over TCP, gives the
//! account an API token instead. Invariants: the code is compared by its hash; a wrong, used
//! or expired code changes nothing and reveals nothing about other invites.

use std::collections::BTreeSet;
use std::time::Duration;

use hallpass_core::Timestamp;
use hallpass_core::audit::{Actor, AuditEntry};
use hallpass_core::event::EventKind;
use hallpass_core::user::{User, UserStatus};
use hallpass_proto::{ApiError, RemoteAccept, RemoteAccepted, TokenCreated, UserView};
use hallpass_store::Txn;

use super::signup::os_account;
use super::{Peer, Session};
use crate::broker::Fail;
use crate::views;

/// How long the token an invite accepted over TCP yields lives.
const REMOTE_TOKEN_TTL: Duration = Duration::from_secs(90 * 86_400);

/// SHA-256 of an invite code as typed (trimmed, lowercased).
pub fn code_hash(code: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(code.trim().to_ascii_lowercase().as_bytes()).into()
}

fn check_code(code: &str) -> Result<[u8; 32], Fail> {
    if code.trim().is_empty() || code.len() > 200 {
        return Err(Fail::Api(ApiError::invalid("code", "is empty or too long")));
    }
    Ok(code_hash(code))
}

/// Turns the invite `hash` names into an active account in `tx`, with `bind` deciding what
/// the account is reached by; audits and announces it. Nothing is written on a refusal.
fn redeem<T>(
    tx: &mut Txn<'_>,
    s: &Session,
    hash: &[u8; 32],
    now: Timestamp,
    bind: impl FnOnce(&mut Txn<'_>, &mut User) -> Result<(String, T), Fail>,
) -> Result<(User, T), Fail> {
    let unknown = || {
        Fail::Api(ApiError::not_found(
            "invite code (check it, or ask the admin for a new one)",
        ))
    };
    let invite = tx.invite(hash)?.ok_or_else(unknown)?;
    if invite.expires_at <= now {
        return Err(Fail::Api(ApiError::invalid(
            "code",
            format!(
                "this invite expired at {}; ask an admin to invite you again",
                invite.expires_at
            ),
        )));
    }
    let mut user = tx.user(invite.user)?.ok_or_else(unknown)?;
    if user.status != UserStatus::Invited {
        return Err(unknown());
    }
    user.status = UserStatus::Active;
    let (how, extra) = bind(tx, &mut user)?;
    tx.put_user(&user)?;
    tx.delete_invite(hash)?;
    let actor = Actor::User {
        id: user.id,
        email: user.email.clone(),
        via: None,
    };
    tx.audit(
        now,
        AuditEntry::new(
            actor,
            s.conn.source(),
            "user.accept",
            format!("user {}", user.email),
            format!("invited → active, {how}"),
        )
        .about(user.id)
        .with_status("active"),
    )?;
    tx.event(
        now,
        EventKind::UserJoined {
            user: user.id,
            email: user.email.clone(),
        },
        BTreeSet::new(),
    )?;
    Ok((user, extra))
}

pub async fn accept(s: &Session, code: String) -> Result<UserView, Fail> {
    let hash = check_code(&code)?;
    let uid = s.conn.local_uid("`accept CODE`")?;
    let now = s.broker.now();
    let os = os_account(uid);
    let (user, ()) = s
        .broker
        .commit(|tx| {
            redeem(tx, s, &hash, now, |tx, user| {
                if let Some(existing) = tx.user_by_uid(uid)? {
                    return Err(Fail::Api(ApiError::conflict(format!(
                        "this OS user (uid {uid}) is already bound to {}; accept as the invitee's own OS user",
                        existing.email
                    ))));
                }
                user.os = Some(os);
                Ok((format!("bound to uid {uid}"), ()))
            })
        })
        .await?;
    tracing::info!(user = %user.id, uid, "invite accepted");
    Ok(views::user(s.broker.store(), &user)?)
}

/// Over TCP, as the connection's first call: the invite code is the credential, and the
/// account gets an API token (with the invited role, for 90 days) instead of an OS user.
pub async fn accept_remote(s: &Session, args: RemoteAccept) -> Result<RemoteAccepted, Fail> {
    let Peer::Remote { addr } = s.conn.peer else {
        return Err(Fail::Api(ApiError::conflict(
            "on the daemon's own machine, `hallpass accept CODE` binds your OS user instead",
        )));
    };
    if s.conn.token().is_some() {
        return Err(Fail::Api(ApiError::conflict(
            "this connection is already authenticated",
        )));
    }
    let now = s.broker.now();
    // Every remote accept counts against the address (they are rare; guesses are not).
    let key = super::tokens::failure_key(addr.ip());
    if let Err(wait) = s.broker.auth_failures.hit(key, now) {
        return Err(Fail::Api(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }));
    }
    let server = super::hello::handshake(s, &args.hello)?;
    let name = args.token_name.trim().to_string();
    hallpass_core::token::validate_name(&name)?;
    let hash = check_code(&args.code)?;
    let expires = Some(now.plus(REMOTE_TOKEN_TTL));
    let outcome = s
        .broker
        .commit(|tx| {
            redeem(tx, s, &hash, now, |tx, user| {
                let (secret, record) =
                    super::tokens::mint(tx, user, &name, user.role, expires, None, now)?;
                Ok((
                    format!("accepted from {addr}; API token {} ({name})", record.id),
                    (secret, record),
                ))
            })
        })
        .await;
    let (user, (secret, record)) = match outcome {
        Ok(v) => v,
        // Unknown, used and expired codes look alike from the network, and are audited.
        Err(Fail::Api(ApiError::NotFound { .. } | ApiError::InvalidInput { .. })) => {
            s.broker
                .commit(|tx| {
                    Ok(tx.audit(
                        now,
                        AuditEntry::new(
                            Actor::Remote {
                                address: addr.to_string(),
                            },
                            s.conn.source(),
                            "auth.invite_refuse",
                            format!("connection from {addr}"),
                            "refused: not a valid invite code",
                        ),
                    )?)
                })
                .await?;
            return Err(Fail::Api(ApiError::not_found(
                "invite code (check it, or ask the admin for a new one)",
            )));
        }
        Err(e) => return Err(e),
    };
    let _ = s.conn.token.set(record.id);
    s.conn.authenticated.notify_one();
    tracing::info!(user = %user.id, %addr, token = %record.id, "invite accepted over TCP");
    let store = s.broker.store();
    Ok(RemoteAccepted {
        user: views::user(store, &user)?,
        token: TokenCreated {
            token: secret,
            view: super::tokens::view(store, &record, now)?,
        },
        server,
    })
}
