//! `release` (the grantee ends their own access) and `revoke` (an admin ends anyone's).
//! Invariant: both only record the intent (Revoking); the scheduler performs and verifies the
//! revocation, retrying until it succeeds.

use hallpass_core::GrantId;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_proto::{ApiError, GrantView};

use super::{Session, clean_text};
use crate::broker::{Caller, Fail};
use crate::{lifecycle, views};

async fn end(s: &Session, c: &Caller, id: GrantId, reason: EndReason) -> Result<GrantView, Fail> {
    let now = s.broker.now();
    let grant = s
        .broker
        .commit(|tx| {
            let mut g = tx
                .grant(id)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("grant {id}"))))?;
            if matches!(reason, EndReason::Released) && g.user != c.id() {
                return Err(Fail::Api(ApiError::Forbidden {
                    why: format!("{id} is someone else's access; only its holder can release it"),
                    admins: s.broker.admin_emails(),
                    hint: Some("admins can end anyone's access with `hallpass revoke`".into()),
                }));
            }
            match g.status_at(now) {
                GrantStatus::Active | GrantStatus::Granting => {}
                other => {
                    return Err(Fail::Api(ApiError::InvalidTransition {
                        what: format!("grant {id}"),
                        from: other.to_string(),
                        action: "end it (it is already ending or over)".into(),
                    }));
                }
            }
            lifecycle::begin_revoke(tx, &mut g, reason, now, &c.actor(), c.source)?;
            Ok(g)
        })
        .await?;
    tracing::info!(grant = %id, by = %c.id(), "access ending");
    Ok(views::grant(s.broker.store(), &grant, now)?)
}

pub async fn release(s: &Session, c: &Caller, id: GrantId) -> Result<GrantView, Fail> {
    end(s, c, id, EndReason::Released).await
}

pub async fn revoke(
    s: &Session,
    c: &Caller,
    id: GrantId,
    reason: Option<String>,
) -> Result<GrantView, Fail> {
    s.broker.require_admin(c, "Revoking someone's access")?;
    let reason = clean_text("reason", reason)?;
    end(s, c, id, EndReason::Revoked { by: c.id(), reason }).await
}
