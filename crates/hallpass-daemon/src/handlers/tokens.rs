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
    parent: Option<TokenId>,
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
        parent,
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
    let mut expires_at = expiry(args.expires_in_secs, now)?;
    // A token made through a token lives no longer than it, and dies with it.
    if let Some(parent) = c
        .via
        .and_then(|id| s.broker.store().token(id).ok().flatten())
    {
        expires_at = match (expires_at, parent.expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let name = args.name.trim().to_string();
    let (secret, record) = s
        .broker
        .commit(|tx| {
            let (secret, record) = mint(tx, &c.user, &name, role, expires_at, c.via, now)?;
            let mut until = expires_at.map_or("never expires".to_string(), |e| {
                format!("expires {}", e.to_rfc3339())
            });
            if let Some(p) = c.via {
                until.push_str(&format!(", made through token {p} and bound to it"));
            }
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

/// Why `t` may not act now, if it may not: its own state, then its parents' (a token made
/// through another works only while that one does).
fn unusable(store: &Store, t: &ApiToken, now: Timestamp) -> Result<Option<String>, StoreError> {
    let mut current = t.clone();
    // Parents are always older tokens, so the chain ends; the bound is a guard against damage.
    for _ in 0..32 {
        match current.state_at(now) {
            TokenState::Active => {}
            TokenState::Revoked if current.id == t.id => {
                return Ok(Some(format!("token {} ({}) was revoked", t.id, t.name)));
            }
            TokenState::Expired if current.id == t.id => {
                return Ok(Some(format!(
                    "token {} ({}) expired at {}",
                    t.id,
                    t.name,
                    t.expires_at.map(Timestamp::to_rfc3339).unwrap_or_default()
                )));
            }
            state => {
                return Ok(Some(format!(
                    "token {} ({}) was made through token {}, which is {state}",
                    t.id, t.name, current.id
                )));
            }
        }
        match current.parent {
            None => return Ok(None),
            Some(p) => match store.token(p)? {
                Some(parent) if parent.id < current.id => current = parent,
                _ => {
                    return Ok(Some(format!(
                        "token {} was made through a token that no longer exists",
                        t.id
                    )));
                }
            },
        }
    }
    Ok(Some(format!(
        "token {} has too deep a chain of parents",
        t.id
    )))
}

/// Whether `t` may act now, and as whom (its owner with the role capped at the token's).
fn acting(store: &Store, t: &ApiToken, now: Timestamp) -> Result<User, Fail> {
    if let Some(why) = unusable(store, t, now)? {
        return Err(refused(format!(
            "{why}; make a new one with `hallpass tokens create`"
        )));
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

/// The address failures are counted under: IPv4 as is, IPv6 by its /64 (one host usually
/// holds a whole /64).
pub(crate) fn failure_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(_) => ip,
        std::net::IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
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
    let key = failure_key(addr.ip());
    if let Err(wait) = s.broker.auth_failures.check(key, now) {
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
            let _ = s.broker.auth_failures.hit(key, now);
            // Whoever presents a refused token is not known to be its owner.
            let actor = Actor::Remote {
                address: from.clone(),
            };
            let why = match &e {
                Fail::Api(ApiError::TokenRefused { why }) => why.clone(),
                _ => "refused".to_string(),
            };
            let (target, detail) = match &t {
                Some(t) => (
                    format!(
                        "token {} ({}) of {}",
                        t.id,
                        t.name,
                        owner_email(store, t.owner)?
                    ),
                    format!("refused from {from}: {why}"),
                ),
                None => (
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
                via: Some(id),
            };
            let record = s
                .broker
                .commit(|tx| {
                    // A revocation may have landed since the lookup.
                    let mut t = tx.token(id)?.unwrap_or(t);
                    if let Some(why) = unusable(tx.store(), &t, now)? {
                        return Err(refused(why));
                    }
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

fn owner_email(store: &Store, owner: UserId) -> Result<String, StoreError> {
    Ok(store
        .user(owner)?
        .map_or_else(|| owner.to_string(), |u| u.email))
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
            via: Some(t.id),
        },
        t,
    ))
}
