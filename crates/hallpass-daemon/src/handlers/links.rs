//! Access links: create (the URL is shown once), list, revoke; and the e-mail outbox admins
//! watch. Invariants: a link's token is 128 random bits, returned once and stored only as its
//! SHA-256; no list, audit entry or log line carries a token or a message body.

use std::time::Duration;

use hallpass_core::audit::AuditEntry;
use hallpass_core::flow::Trigger;
use hallpass_core::link::{AccessLink, token_hash};
use hallpass_core::{FlowName, LinkId, Timestamp};
use hallpass_proto::{ApiError, LinkCreated, LinkView, MailView, NewLink};
use hallpass_store::Store;

use super::{Session, clean_text};
use crate::broker::{Caller, Fail, random_hex};

/// The longest a link may stay open.
const MAX_LINK_TTL: Duration = Duration::from_secs(365 * 86_400);

/// A fresh link token: 128 random bits, URL-safe.
pub fn new_token() -> String {
    random_hex(16)
}

pub fn view(store: &Store, l: &AccessLink, now: Timestamp) -> Result<LinkView, Fail> {
    let created_by = store
        .user(l.created_by)?
        .map(|u| u.email)
        .unwrap_or_else(|| l.created_by.to_string());
    Ok(LinkView {
        id: l.id,
        flow: l.flow.clone(),
        state: l.state_at(now),
        created_by,
        created_at: l.created_at,
        expires_at: l.expires_at,
        max_uses: l.max_uses,
        uses: l.uses,
        revoked_at: l.revoked_at,
        note: l.note.clone(),
    })
}

pub async fn create(s: &Session, c: &Caller, args: NewLink) -> Result<LinkCreated, Fail> {
    s.broker.require_admin(c, "Creating access links")?;
    let base = s.broker.config().web.base_url().ok_or_else(|| {
        Fail::Api(ApiError::conflict(
            "the daemon serves no access-link site: set [web] listen (and public_url) in hallpassd.toml",
        ))
    })?;
    let ttl = match args.expires_in_secs {
        Some(0) => {
            return Err(Fail::Api(ApiError::invalid(
                "expires",
                "must be longer than zero",
            )));
        }
        Some(secs) if Duration::from_secs(secs) > MAX_LINK_TTL => {
            return Err(Fail::Api(ApiError::invalid(
                "expires",
                "must be at most 365d",
            )));
        }
        other => other.map(Duration::from_secs),
    };
    if args.max_uses == Some(0) {
        return Err(Fail::Api(ApiError::invalid(
            "max-uses",
            "must be at least 1",
        )));
    }
    let note = clean_text("note", Some(args.note))?.unwrap_or_default();
    let now = s.broker.now();
    let token = new_token();
    let link = s
        .broker
        .commit(|tx| {
            let flow = tx.flow(&args.flow)?.ok_or_else(|| {
                Fail::Api(ApiError::not_found(format!(
                    "flow {} (`hallpass flows list` shows the flows)",
                    args.flow
                )))
            })?;
            if flow.trigger != Trigger::AccessLink {
                return Err(Fail::Api(ApiError::invalid(
                    "flow",
                    format!(
                        "flow {} is self-serve; links are for flows created with --trigger access-link",
                        flow.name
                    ),
                )));
            }
            let link = AccessLink {
                id: tx.next_link_id()?,
                token_hash: token_hash(&token),
                flow: flow.name.clone(),
                created_by: c.id(),
                created_at: now,
                expires_at: ttl.map(|t| now.plus(t)),
                max_uses: args.max_uses,
                uses: 0,
                revoked_at: None,
                revoked_by: None,
                note,
            };
            tx.put_link(&link)?;
            let limits = format!(
                "{}, {}",
                link.expires_at
                    .map(|e| format!("expires {e}"))
                    .unwrap_or_else(|| "never expires".into()),
                link.max_uses
                    .map(|m| format!("at most {m} use(s)"))
                    .unwrap_or_else(|| "unlimited uses".into())
            );
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "link.create",
                    link.id,
                    format!("access link for flow {} ({limits})", flow.name),
                )
                .with_status("open"),
            )?;
            Ok(link)
        })
        .await?;
    tracing::info!(link = %link.id, flow = %link.flow, "access link created");
    Ok(LinkCreated {
        link: view(s.broker.store(), &link, now)?,
        url: format!("{base}/l/{token}"),
    })
}

pub async fn list(s: &Session, c: &Caller, flow: Option<FlowName>) -> Result<Vec<LinkView>, Fail> {
    s.broker.require_reader(c, "Listing access links")?;
    let store = s.broker.store();
    let now = s.broker.now();
    store
        .links()?
        .iter()
        .filter(|l| flow.as_ref().is_none_or(|f| &l.flow == f))
        .map(|l| view(store, l, now))
        .collect()
}

pub async fn revoke(s: &Session, c: &Caller, id: LinkId) -> Result<LinkView, Fail> {
    s.broker.require_admin(c, "Revoking access links")?;
    let now = s.broker.now();
    let link = s
        .broker
        .commit(|tx| {
            let mut l = tx
                .link(id)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("link {id}"))))?;
            if l.revoked_at.is_some() {
                return Err(Fail::Api(ApiError::InvalidTransition {
                    what: format!("link {id}"),
                    from: "revoked".into(),
                    action: "revoke it".into(),
                }));
            }
            l.revoked_at = Some(now);
            l.revoked_by = Some(c.id());
            tx.put_link(&l)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "link.revoke",
                    l.id,
                    format!(
                        "access link for flow {} revoked after {} use(s)",
                        l.flow, l.uses
                    ),
                )
                .with_status("revoked"),
            )?;
            Ok(l)
        })
        .await?;
    tracing::info!(link = %id, "access link revoked");
    view(s.broker.store(), &link, now)
}

pub async fn outbox(s: &Session, c: &Caller) -> Result<Vec<MailView>, Fail> {
    s.broker.require_admin(c, "Reading the e-mail outbox")?;
    Ok(s.broker
        .store()
        .outbox()?
        .into_iter()
        .map(|m| MailView {
            id: m.id,
            to: m.to,
            purpose: m.purpose,
            created_at: m.created_at,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
        })
        .collect())
}
