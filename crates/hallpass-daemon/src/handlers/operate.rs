//! Operating on grants beyond the request flow: the grantee reading their credentials, and an
//! admin's `retry` (connector attempt now) and `force` (end a revocation the connector cannot
//! confirm). Invariant: credentials reach only their grantee, and their values never reach the
//! audit log; forcing is always audited with its reason.

use hallpass_core::GrantId;
use hallpass_core::credential::Credentials;
use hallpass_core::event::EventKind;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_proto::{ApiError, GrantView};

use super::{Session, clean_text};
use crate::broker::{Caller, Fail};
use crate::{lifecycle, views};

fn not_found(id: GrantId) -> Fail {
    Fail::Api(ApiError::not_found(format!("grant {id}")))
}

pub async fn credentials(s: &Session, c: &Caller, id: GrantId) -> Result<Credentials, Fail> {
    let store = s.broker.store();
    let now = s.broker.now();
    let g = store.grant(id)?.ok_or_else(|| not_found(id))?;
    if g.user != c.id() {
        return Err(Fail::Api(ApiError::Forbidden {
            why: format!("{id} is someone else's access; credentials go only to their holder"),
            admins: vec![],
            hint: None,
        }));
    }
    let status = g.status_at(now);
    if status != GrantStatus::Active {
        return Err(Fail::Api(ApiError::InvalidTransition {
            what: format!("grant {id}"),
            from: status.to_string(),
            action: "show credentials (they exist only while access is active)".into(),
        }));
    }
    let creds = store.credentials(id)?.ok_or_else(|| {
        Fail::Api(ApiError::not_found(format!(
            "credentials for {id} (the {} integration issues none; use your own login)",
            g.target.integration
        )))
    })?;
    s.broker
        .commit(|tx| {
            tx.audit(
                now,
                lifecycle::grant_entry(
                    c.actor(),
                    c.source,
                    "grant.credentials_read",
                    &g,
                    format!("{} credentials delivered to the grantee", g.target),
                ),
            )?;
            Ok(())
        })
        .await?;
    Ok(creds)
}

pub async fn retry(s: &Session, c: &Caller, id: GrantId) -> Result<GrantView, Fail> {
    s.broker.require_admin(c, "Retrying a connector call")?;
    let now = s.broker.now();
    let g = s
        .broker
        .commit(|tx| {
            let mut g = tx.grant(id)?.ok_or_else(|| not_found(id))?;
            let was = g.next_attempt_at;
            g.retry_now(now)?;
            tx.put_grant(&g)?;
            tx.audit(
                now,
                lifecycle::grant_entry(
                    c.actor(),
                    c.source,
                    "grant.retry",
                    &g,
                    format!(
                        "{} ({}): next attempt now instead of {}",
                        g.target,
                        g.status,
                        was.map(|t| t.to_string()).unwrap_or_default()
                    ),
                ),
            )?;
            Ok(g)
        })
        .await?;
    Ok(views::grant(s.broker.store(), &g, now)?)
}

pub async fn force_end(
    s: &Session,
    c: &Caller,
    id: GrantId,
    reason: String,
) -> Result<GrantView, Fail> {
    s.broker
        .require_admin(c, "Forcing the end of a revocation")?;
    let reason = clean_text("reason", Some(reason))?.ok_or_else(|| {
        Fail::Api(ApiError::invalid(
            "reason",
            "say why the revocation is forced",
        ))
    })?;
    let now = s.broker.now();
    let g = s
        .broker
        .commit(|tx| {
            let mut g = tx.grant(id)?.ok_or_else(|| not_found(id))?;
            let last_error = g.last_error.clone().unwrap_or_default();
            g.force_end(now)?;
            tx.put_grant(&g)?;
            tx.audit(
                now,
                lifecycle::grant_entry(
                    c.actor(),
                    c.source,
                    "grant.force_end",
                    &g,
                    format!(
                        "{} ended without the connector's confirmation: {reason} (last error: {last_error})",
                        g.target
                    ),
                ),
            )?;
            tx.event(
                now,
                EventKind::GrantEnded {
                    grant: id,
                    user: g.user,
                    target: g.target.clone(),
                    reason: g.end_reason.clone().unwrap_or(EndReason::Expired),
                },
                std::collections::BTreeSet::from([g.user]),
            )?;
            Ok(g)
        })
        .await?;
    tracing::warn!(grant = %id, by = %c.id(), "revocation forced without confirmation");
    Ok(views::grant(s.broker.store(), &g, now)?)
}
