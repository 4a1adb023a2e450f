//! `hello` (the handshake, no account needed), `whoami` and `status`.

use hallpass_core::audit::Source;
use hallpass_core::grant::GrantStatus;
use hallpass_core::user::Role;
use hallpass_proto::{ApiError, ClientHello, DaemonStatus, PROTOCOL_VERSION, ServerHello, WhoAmI};

use super::Session;
use crate::broker::{Caller, Fail};
use crate::views;

pub const DAEMON_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn hello(s: &Session, hello: ClientHello) -> Result<ServerHello, ApiError> {
    if s.conn.uid().is_none() {
        return Err(ApiError::TokenRefused {
            why: "a TCP connection starts with `authenticate` and an API token, not `hello`".into(),
        });
    }
    handshake(s, &hello)
}

/// The version check and the client's announced source, shared by `hello` and `authenticate`.
pub(super) fn handshake(s: &Session, hello: &ClientHello) -> Result<ServerHello, ApiError> {
    if hello.protocol != PROTOCOL_VERSION {
        return Err(ApiError::VersionMismatch {
            client: hello.protocol,
            server: PROTOCOL_VERSION,
            daemon: DAEMON_VERSION.into(),
        });
    }
    let source = if hello.client.starts_with("hallpass-tui") {
        Source::Tui
    } else if hello.client.starts_with("hallpass-cli") {
        Source::Cli
    } else {
        Source::Api
    };
    let _ = s.conn.source.set(source);
    tracing::debug!(peer = ?s.conn.peer, client = %hello.client, "hello");
    Ok(ServerHello {
        protocol: PROTOCOL_VERSION,
        daemon_version: DAEMON_VERSION.into(),
        organisation: s.broker.config().organisation.clone(),
    })
}

/// Who the caller is. An OS user with no account whose name is a synced login becomes that
/// person here too (first contact), so the TUI's first screen already knows them.
pub async fn whoami(s: &Session) -> Result<WhoAmI, Fail> {
    let store = s.broker.store();
    let Some(uid) = s.conn.uid() else {
        let (caller, token) = super::tokens::caller_and_token(s)?;
        return Ok(WhoAmI {
            uid: None,
            user: Some(views::user(store, &caller.user)?),
            token: Some(super::tokens::view(store, &token, s.broker.now())?),
            signup_open: false,
        });
    };
    let user = match store.user_by_uid(uid)? {
        Some(u) if u.is_active() => Some(views::user(store, &u)?),
        None if s.broker.config().sync.first_contact => {
            match super::first_contact::bind(s).await? {
                Some(u) => Some(views::user(store, &u)?),
                None => None,
            }
        }
        _ => None,
    };
    Ok(WhoAmI {
        uid: Some(uid),
        user,
        token: None,
        signup_open: store.users_with_role(Role::Admin)?.is_empty(),
    })
}

pub async fn status(s: &Session, _caller: &Caller) -> Result<DaemonStatus, Fail> {
    let store = s.broker.store();
    let now = s.broker.now();
    // Both counts walk index keys only; failing grants are among the few with work owed.
    let active = store.active_grant_count(now)?;
    let mut failing = 0u64;
    for id in store.grants_with_work()? {
        if store
            .grant(id)?
            .is_some_and(|g| g.status_at(now) == GrantStatus::RevokeFailed)
        {
            failing += 1;
        }
    }
    Ok(DaemonStatus {
        daemon_version: DAEMON_VERSION.into(),
        started_at: s.broker.started_at(),
        now,
        users: store.user_count()?,
        pending_requests: store.pending_count()?,
        active_grants: active,
        failing_grants: failing,
        audit_head: store.audit_head()?.0,
    })
}
