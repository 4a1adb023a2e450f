//! The SCIM bearer token. Invariants: admins only; the token is in the answer that made it and
//! nowhere else (the store keeps its SHA-256, the audit log says only that one was made);
//! making one when one exists needs `rotate`, so a second admin cannot silently cut off the
//! identity provider that uses the first.

use hallpass_core::audit::AuditEntry;
use hallpass_proto::{ApiError, ScimTokenCreated};

use super::Session;
use crate::broker::{Caller, Fail, random_hex};
use crate::scim::http::token_hash;

/// Prefixed so secret scanners and people can tell what a leaked string is.
const TOKEN_PREFIX: &str = "hallpass_scim_";

/// Where identity providers reach the SCIM server, or why they cannot.
fn scim_url(s: &Session) -> Result<String, Fail> {
    let cfg = s.broker.config();
    if !cfg.scim.enabled {
        return Err(Fail::Api(ApiError::conflict(
            "the SCIM server is off: set [scim] enabled = true (and [web] listen) in hallpassd.toml",
        )));
    }
    let base = cfg.web.base_url().ok_or_else(|| {
        Fail::Api(ApiError::conflict(
            "the SCIM server needs the web site: set [web] listen (and public_url) in hallpassd.toml",
        ))
    })?;
    Ok(format!("{base}/scim/v2"))
}

pub async fn create(s: &Session, c: &Caller, rotate: bool) -> Result<ScimTokenCreated, Fail> {
    s.broker.require_admin(c, "Making the SCIM token")?;
    let url = scim_url(s)?;
    // 256 random bits.
    let token = format!("{TOKEN_PREFIX}{}", random_hex(32));
    let now = s.broker.now();
    let replaced = s
        .broker
        .commit(|tx| {
            let replaced = tx.scim_token_hash()?.is_some();
            if replaced && !rotate {
                return Err(Fail::Api(ApiError::conflict(
                    "a SCIM token exists: `hallpass scim token --rotate` replaces it (the identity provider using it must get the new one)",
                )));
            }
            tx.set_scim_token_hash(&token_hash(&token))?;
            let (action, detail) = if replaced {
                ("scim.token_rotate", "SCIM token replaced; the previous one no longer works")
            } else {
                ("scim.token_create", "SCIM token made")
            };
            tx.audit(
                now,
                AuditEntry::new(c.actor(), c.source, action, "scim", detail),
            )?;
            Ok(replaced)
        })
        .await?;
    tracing::info!(replaced, "SCIM token made");
    Ok(ScimTokenCreated {
        token,
        url,
        replaced,
    })
}

pub async fn revoke(s: &Session, c: &Caller) -> Result<(), Fail> {
    s.broker.require_admin(c, "Revoking the SCIM token")?;
    let now = s.broker.now();
    s.broker
        .commit(|tx| {
            if tx.scim_token_hash()?.is_none() {
                return Err(Fail::Api(ApiError::not_found(
                    "SCIM token (none was made; `hallpass scim token` makes one)",
                )));
            }
            tx.clear_scim_token()?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "scim.token_revoke",
                    "scim",
                    "SCIM token revoked; SCIM requests are refused until a new one is made",
                ),
            )?;
            Ok(())
        })
        .await?;
    tracing::info!("SCIM token revoked");
    Ok(())
}
