//! API tokens: `tokens create/list/revoke`, and `authenticate`, the first call on a TCP
//! connection. Invariants: the token string is in the answer that made it and nowhere else
//! (the store keeps its SHA-256, compared in constant time); a token's role is never above its
//! maker's, and it acts with the lower of its role and its owner's current one; every call
//! on a remote connection re-reads the token, so a revocation or expiry stops the next call;
//! a wrong token and an unknown one are refused alike, audited, and counted against the
//! client address.

use std::time::Duration;

use hallpass_core::audit::{Actor, AuditEntry};
use hallpass_core::token::{self, ApiToken, TokenState};
use hallpass_core::user::{Role, User};
use hallpass_core::{Timestamp, TokenId, UserId};
use hallpass_proto::{
    ApiError, Authenticate, Authenticated, NewToken, TokenCreated, TokenRef, TokenView,
};
use hallpass_store::{Store, StoreError, Txn};
use subtle::ConstantTimeEq;

use super::{Peer, Session};
use crate::broker::{Caller, Fail, random_hex};

/// The longest a token may live.
const MAX_TTL: Duration = Duration::from_secs(5 * 365 * 86_400);

pub fn view(store: &Store, t: &ApiToken, now: Timestamp) -> Result<TokenView, StoreError> {
    let owner_email = store
        .user(t.owner)?
        .map(|u| u.email)
        .unwrap_or_else(|| t.owner.to_string());
    Ok(TokenView {
        id: t.id,
        name: t.name.clone(),
        owner: t.owner,
        owner_email,
        role: t.role,
        state: t.state_at(now),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        last_used_from: t.last_used_from.clone(),
        revoked_at: t.revoked_at,
    })
}

fn hash(token: &str) -> [u8; 32] {
    hallpass_core::link::token_hash(token.trim())
}

/// Makes a token for `owner` in `tx` and returns it with its record (the caller audits).
pub(super) fn mint(
    tx: &mut Txn<'_>,
    owner: &User,
    name: &str,
    role: Role,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(String, ApiToken), Fail> {
    token::validate_name(name)?;
    let taken =
        tx.store().tokens()?.into_iter().any(|t| {
            t.owner == owner.id && t.name == name && t.state_at(now) == TokenState::Active
        });
    if taken {
        return Err(Fail::Api(ApiError::conflict(format!(
            "you already have an active token named `{name}`; revoke it (`hallpass tokens revoke {name}`) or pick another name"
        ))));
    }
    let id = tx.next_token_id()?;
    // 256 random bits.
    let secret = token::format_token(id, &random_hex(32));
    let record = ApiToken {
        id,
        name: name.to_string(),
        owner: owner.id,
        role,
        hash: hash(&secret),
        created_at: now,
        created_by: owner.id,
        expires_at,
        last_used_at: None,
        last_used_from: None,
        revoked_at: None,
        revoked_by: None,
    };
    tx.put_token(&record)?;
    Ok((secret, record))
}

fn expiry(secs: Option<u64>, now: Timestamp) -> Result<Option<Timestamp>, Fail> {
    match secs {
        None => Ok(None),
        Some(0) => Err(Fail::Api(ApiError::invalid(
            "expires",
            "must be longer than zero",
        ))),
        Some(s) if Duration::from_secs(s) > MAX_TTL => Err(Fail::Api(ApiError::invalid(
            "expires",
            "must be at most 5 years (1825d)",
        ))),
        Some(s) => Ok(Some(now.plus(Duration::from_secs(s)))),
    }
}

pub async fn create(s: &Session, c: &Caller, args: NewToken) -> Result<TokenCreated, Fail> {
    let role = args.role.unwrap_or(c.user.role);
    if role == Role::External {
        return Err(Fail::Api(ApiError::invalid(
            "role",
            "one of admin, auditor, grantee",
        )));
    }
    if !c.user.role.covers(role) {
        return Err(Fail::Api(ApiError::Forbidden {
            why: format!(
                "a token's role can't be above yours: you act as {}, so your tokens can be {}",
                c.user.role,
                [Role::Admin, Role::Auditor, Role::Grantee]
                    .into_iter()
                    .filter(|r| c.user.role.covers(*r))
                    .map(Role::as_str)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            admins: vec![],
            hint: None,
        }));
    }
    let now = s.broker.now();
    let expires_at = expiry(args.expires_in_secs, now)?;
    let name = args.name.trim().to_string();
    let (secret, record) = s
        .broker
        .commit(|tx| {
            let (secret, record) = mint(tx, &c.user, &name, role, expires_at, now)?;
            let until = expires_at.map_or("never expires".to_string(), |e| {
                format!("expires {}", e.to_rfc3339())
            });
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "token.create",
                    format!("token {} ({name})", record.id),
                    format!("API token made: role {role}, {until}"),
                )
                .about(c.id()),
            )?;
            Ok((secret, record))
        })
        .await?;
    tracing::info!(token = %record.id, owner = %c.id(), %role, "API token made");
    Ok(TokenCreated {
        token: secret,
        view: view(s.broker.store(), &record, now)?,
    })
}

pub async fn list(s: &Session, c: &Caller, everyone: bool) -> Result<Vec<TokenView>, Fail> {
    if everyone {
        s.broker
            .require_reader(c, "Listing everyone's API tokens")?;
    }
    let store = s.broker.store();
    let now = s.broker.now();
    store
        .tokens()?
        .iter()
        .filter(|t| everyone || t.owner == c.id())
        .map(|t| view(store, t, now).map_err(Fail::from))
        .collect()
}

pub async fn revoke(s: &Session, c: &Caller, which: TokenRef) -> Result<TokenView, Fail> {
    let now = s.broker.now();
    let record = s
        .broker
        .commit(|tx| {
            let store = tx.store().clone();
            let shown = match &which {
                TokenRef::Id(id) => id.to_string(),
                TokenRef::Name(n) => format!("named `{n}`"),
            };
            let unknown = || {
                Fail::Api(ApiError::not_found(format!(
                    "token {shown} (`hallpass tokens list` shows yours)"
                )))
            };
            let mut t = match &which {
                // Others' token ids are not confirmed to non-admins.
                TokenRef::Id(id) => tx
                    .token(*id)?
                    .filter(|t| t.owner == c.id() || c.is_admin())
                    .ok_or_else(unknown)?,
                TokenRef::Name(n) => store
                    .tokens()?
                    .into_iter()
                    .filter(|t| t.owner == c.id() && &t.name == n)
                    .max_by_key(|t| (t.state_at(now) == TokenState::Active, t.id))
                    .ok_or_else(unknown)?,
            };
            if t.revoked_at.is_some() {
                return Err(Fail::Api(ApiError::InvalidTransition {
                    what: format!("token {}", t.id),
                    from: "revoked".into(),
                    action: "revoke it".into(),
                }));
            }
            t.revoked_at = Some(now);
            t.revoked_by = Some(c.id());
            tx.put_token(&t)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "token.revoke",
                    format!("token {} ({})", t.id, t.name),
                    "API token revoked; connections using it are refused from their next call",
                )
                .about(t.owner),
            )?;
            Ok(t)
        })
        .await?;
    tracing::info!(token = %record.id, "API token revoked");
    Ok(view(s.broker.store(), &record, now)?)
}

/// Why a presented token is refused, as its holder is told.
fn refused(why: impl Into<String>) -> Fail {
    Fail::Api(ApiError::TokenRefused { why: why.into() })
}

/// The token's record if `presented` is exactly it. Unknown ids and wrong secrets look alike.
fn lookup(store: &Store, presented: &str) -> Result<Option<ApiToken>, StoreError> {
    let Ok(id) = token::token_id(presented) else {
        return Ok(None);
    };
    let digest = hash(presented);
    Ok(store
        .token(id)?
        .filter(|t| bool::from(t.hash.ct_eq(&digest))))
}

/// Whether `t` may act now, and as whom (its owner with the role capped at the token's).
fn acting(store: &Store, t: &ApiToken, now: Timestamp) -> Result<User, Fail> {
    match t.state_at(now) {
        TokenState::Active => {}
        TokenState::Revoked => {
            return Err(refused(format!(
                "token {} ({}) was revoked; make a new one with `hallpass tokens create`",
                t.id, t.name
            )));
        }
        TokenState::Expired => {
            return Err(refused(format!(
                "token {} ({}) expired at {}; make a new one with `hallpass tokens create`",
                t.id,
                t.name,
                t.expires_at.map(Timestamp::to_rfc3339).unwrap_or_default()
            )));
        }
    }
    let mut user = store
        .user(t.owner)?
        .filter(User::is_active)
        .ok_or_else(|| {
            refused(format!(
                "token {} belongs to an account that is no longer active",
                t.id
            ))
        })?;
    user.role = user.role.at_most(t.role);
    Ok(user)
}

pub async fn authenticate(s: &Session, args: Authenticate) -> Result<Authenticated, Fail> {
    let Peer::Remote { addr } = s.conn.peer else {
        return Err(Fail::Api(ApiError::conflict(
            "the unix socket knows you by your OS user; API tokens are for TCP connections",
        )));
    };
    if s.conn.token().is_some() {
        return Err(Fail::Api(ApiError::conflict(
            "this connection is already authenticated",
        )));
    }
    let now = s.broker.now();
    if let Err(wait) = s.broker.auth_failures.check(addr.ip(), now) {
        tracing::warn!(%addr, "API token attempt refused: too many failures from this address");
        return Err(Fail::Api(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }));
    }
    let server = super::hello::handshake(s, &args.hello)?;
    let store = s.broker.store();
    let outcome = match lookup(store, &args.token)? {
        None => Err((
            None,
            refused(
                "the token is not valid (check it, or make a new one with `hallpass tokens create`)",
            ),
        )),
        Some(t) => match acting(store, &t, now) {
            Ok(user) => Ok((t, user)),
            Err(e) => Err((Some(t), e)),
        },
    };
    let from = addr.to_string();
    match outcome {
        Err((t, e)) => {
            let _ = s.broker.auth_failures.hit(addr.ip(), now);
            let (actor, target, detail) = match &t {
                Some(t) => (
                    owner_actor(store, t.owner)?,
                    format!("token {} ({})", t.id, t.name),
                    format!("refused from {from}: {}", t.state_at(now)),
                ),
                None => (
                    Actor::Remote {
                        address: from.clone(),
                    },
                    format!("connection from {from}"),
                    "refused: not a valid API token".to_string(),
                ),
            };
            s.broker
                .commit(|tx| {
                    Ok(tx.audit(
                        now,
                        AuditEntry::new(
                            actor,
                            s.conn.source(),
                            "auth.token_refuse",
                            target,
                            detail,
                        ),
                    )?)
                })
                .await?;
            tracing::warn!(%addr, "API token refused");
            Err(e)
        }
        Ok((t, user)) => {
            let id = t.id;
            let actor = Actor::User {
                id: user.id,
                email: user.email.clone(),
            };
            let record = s
                .broker
                .commit(|tx| {
                    let mut t = tx.token(id)?.unwrap_or(t);
                    t.last_used_at = Some(now);
                    t.last_used_from = Some(from.clone());
                    tx.put_token(&t)?;
                    tx.audit(
                        now,
                        AuditEntry::new(
                            actor,
                            s.conn.source(),
                            "auth.token",
                            format!("token {} ({})", t.id, t.name),
                            format!("connected from {from} as {}", user.role),
                        )
                        .about(user.id),
                    )?;
                    Ok(t)
                })
                .await?;
            let _ = s.conn.token.set(id);
            s.conn.authenticated.notify_one();
            tracing::info!(%addr, token = %id, user = %user.id, "remote connection authenticated");
            Ok(Authenticated {
                server,
                token: view(store, &record, now)?,
            })
        }
    }
}

fn owner_actor(store: &Store, owner: UserId) -> Result<Actor, StoreError> {
    Ok(match store.user(owner)? {
        Some(u) => Actor::User {
            id: u.id,
            email: u.email,
        },
        None => Actor::System,
    })
}

/// The caller of a remote connection, from its token, re-checked on every call.
pub fn caller(s: &Session) -> Result<Caller, Fail> {
    caller_and_token(s).map(|(c, _)| c)
}

pub fn caller_and_token(s: &Session) -> Result<(Caller, ApiToken), Fail> {
    let id: TokenId = s.conn.token().ok_or_else(|| {
        refused("authenticate with an API token first: nothing is served on TCP before that")
    })?;
    let store = s.broker.store();
    let t = store
        .token(id)?
        .ok_or_else(|| refused(format!("token {id} no longer exists")))?;
    let user = acting(store, &t, s.broker.now())?;
    Ok((
        Caller {
            user,
            source: s.conn.source(),
        },
        t,
    ))
}
