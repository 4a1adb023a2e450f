//! Access links for externals and the status passes they lead to.
//! Invariants: neither a link's token nor a status token is ever stored, only its SHA-256;
//! a link that is expired, revoked or used up opens nothing ([`AccessLink::state_at`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::{FlowName, LinkId, RequestId, UserId};
use crate::time::Timestamp;

/// The SHA-256 a token is stored and looked up by.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A link an admin hands to an external: whoever holds its URL may ask for the flow's access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLink {
    pub id: LinkId,
    pub token_hash: [u8; 32],
    pub flow: FlowName,
    pub created_by: UserId,
    pub created_at: Timestamp,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// How many requests the link may open; `None` is unlimited.
    #[serde(default)]
    pub max_uses: Option<u32>,
    #[serde(default)]
    pub uses: u32,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    #[serde(default)]
    pub revoked_by: Option<UserId>,
    /// What the admin noted about it (who it was for), shown in `links list`.
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkState {
    Open,
    Expired,
    Revoked,
    UsedUp,
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkState::Open => "open",
            LinkState::Expired => "expired",
            LinkState::Revoked => "revoked",
            LinkState::UsedUp => "used up",
        })
    }
}

impl AccessLink {
    /// Revoked wins over used up, which wins over expired.
    pub fn state_at(&self, now: Timestamp) -> LinkState {
        if self.revoked_at.is_some() {
            LinkState::Revoked
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            LinkState::UsedUp
        } else if self.expires_at.is_some_and(|e| now >= e) {
            LinkState::Expired
        } else {
            LinkState::Open
        }
    }
}

/// The private status page of one request made through a link, found by its token's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPass {
    pub token_hash: [u8; 32],
    pub request: RequestId,
    pub user: UserId,
    pub link: LinkId,
    pub created_at: Timestamp,
}

/// How long an e-mailed confirmation link works.
pub const SUBMISSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// A link form sent while `[web] confirm_email` is on, waiting for its sender to open the
/// confirmation link e-mailed to the address typed. Until then no user, request or use of the
/// link exists. Only the token's SHA-256 is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSubmission {
    pub token_hash: [u8; 32],
    pub link: LinkId,
    pub name: String,
    pub email: String,
    pub company: String,
    pub justification: Option<String>,
    #[serde(with = "crate::time::secs")]
    pub duration: Duration,
    pub ssh_key: Option<String>,
    pub created_at: Timestamp,
}

impl LinkSubmission {
    pub fn expired_at(&self, now: Timestamp) -> bool {
        now >= self.created_at.plus(SUBMISSION_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> AccessLink {
        AccessLink {
            id: LinkId(1),
            token_hash: token_hash("t"),
            flow: FlowName::new("f").expect("a slug"),
            created_by: UserId(1),
            created_at: Timestamp(0),
            expires_at: Some(Timestamp(1000)),
            max_uses: Some(2),
            uses: 0,
            revoked_at: None,
            revoked_by: None,
            note: String::new(),
        }
    }

    #[test]
    fn states() {
        let mut l = link();
        assert_eq!(l.state_at(Timestamp(999)), LinkState::Open);
        assert_eq!(l.state_at(Timestamp(1000)), LinkState::Expired);
        l.uses = 2;
        assert_eq!(l.state_at(Timestamp(0)), LinkState::UsedUp);
        l.revoked_at = Some(Timestamp(1));
        assert_eq!(l.state_at(Timestamp(0)), LinkState::Revoked);
    }

    #[test]
    fn tokens_hash_to_distinct_digests() {
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_eq!(token_hash("a"), token_hash("a"));
    }
}
