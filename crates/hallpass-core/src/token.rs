//! API tokens: a bearer credential for remote (TCP+TLS) callers and scripts.
//! Invariants: the secret is never stored, only the SHA-256 of the whole token; a token acts
//! with at most the role it was made with and at most its owner's current role
//! ([`Role::at_most`]); a revoked or expired token authenticates nothing ([`ApiToken::state_at`]),
//! and neither does one made through it (`parent`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::id::{TokenId, UserId};
use crate::time::Timestamp;
use crate::user::Role;

/// Every token starts with this, so secret scanners and people can tell what a leaked string is.
pub const TOKEN_PREFIX: &str = "hallpass_tok_";

/// The longest token name.
pub const MAX_NAME: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    /// What the owner calls it ("ci-deploy", "approver-bot"); unique among the owner's live tokens.
    pub name: String,
    pub owner: UserId,
    /// The most this token may do; never above the owner's role when it was made.
    pub role: Role,
    /// SHA-256 of the whole token string.
    pub hash: [u8; 32],
    pub created_at: Timestamp,
    pub created_by: UserId,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    /// The client address of the last authentication.
    #[serde(default)]
    pub last_used_from: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    #[serde(default)]
    pub revoked_by: Option<UserId>,
    /// The token this one was made through (a remote caller making a token): this one works
    /// only while that one does, and never past its expiry.
    #[serde(default)]
    pub parent: Option<TokenId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl fmt::Display for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        })
    }
}

impl ApiToken {
    /// Revoked wins over expired.
    pub fn state_at(&self, now: Timestamp) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if self.expires_at.is_some_and(|e| now >= e) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

/// The token string for `id` and its random `secret` (lowercase hex).
pub fn format_token(id: TokenId, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{}_{secret}", id.0)
}

/// The id a token string names, read without trusting anything else in it. Only the id is
/// parsed here; whether the whole string is right is decided by comparing hashes.
pub fn token_id(token: &str) -> Result<TokenId, DomainError> {
    let bad = || {
        DomainError::invalid(
            "token",
            format!("not a hallpass API token (they look like {TOKEN_PREFIX}3_…)"),
        )
    };
    let rest = token.trim().strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let (id, secret) = rest.split_once('_').ok_or_else(bad)?;
    if secret.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    id.parse::<u64>().map(TokenId).map_err(|_| bad())
}

/// Checks a token name: 1 to [`MAX_NAME`] characters of letters, digits, `-`, `_` and `.`.
pub fn validate_name(name: &str) -> Result<(), DomainError> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(DomainError::invalid(
            "name",
            format!("a token name has 1 to {MAX_NAME} characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(DomainError::invalid(
            "name",
            format!("`{c}` is not allowed in a token name (letters, digits, - _ . only)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_garbage_is_refused() {
        let t = format_token(TokenId(42), "00ff");
        assert_eq!(token_id(&t).expect("a token"), TokenId(42));
        for bad in [
            "",
            "hallpass_tok_",
            "hallpass_tok_42",
            "hallpass_tok_42_",
            "hallpass_tok_x_ab",
            "hallpass_tok_+4_ab",
            "hallpass_scim_ab",
            "hallpass_tok_99999999999999999999999_ab",
        ] {
            assert!(token_id(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn revoked_wins_over_expired() {
        let mut t = ApiToken {
            id: TokenId(1),
            name: "ci".into(),
            owner: UserId(1),
            role: Role::Grantee,
            hash: [0; 32],
            created_at: Timestamp(0),
            created_by: UserId(1),
            expires_at: Some(Timestamp(10)),
            last_used_at: None,
            last_used_from: None,
            revoked_at: None,
            revoked_by: None,
            parent: None,
        };
        assert_eq!(t.state_at(Timestamp(9)), TokenState::Active);
        assert_eq!(t.state_at(Timestamp(10)), TokenState::Expired);
        t.revoked_at = Some(Timestamp(1));
        assert_eq!(t.state_at(Timestamp(0)), TokenState::Revoked);
    }

    #[test]
    fn names() {
        assert!(validate_name("ci-deploy.v2_x").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name(&"a".repeat(MAX_NAME + 1)).is_err());
    }
}
