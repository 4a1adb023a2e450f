//! The audit log: an append-only, hash-chained sequence of events.
//! Invariant: `hash = SHA-256(prev_hash ‖ canonical JSON of the event without its hash)`, and
//! each event's `prev_hash` is the previous event's `hash` (zeros for the first), so any edit,
//! insertion or deletion breaks verification at the first changed event.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::{IntegrationName, UserId};
use crate::time::Timestamp;

/// Where an action came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cli,
    Tui,
    Api,
    Link,
    Scim,
    Ldap,
    System,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Cli => "cli",
            Source::Tui => "tui",
            Source::Api => "api",
            Source::Link => "link",
            Source::Scim => "scim",
            Source::Ldap => "ldap",
            Source::System => "system",
        })
    }
}

/// Who did it. `Unknown` is an OS user the broker does not know (refused, but recorded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Actor {
    User {
        id: UserId,
        email: String,
        /// The API token a remote caller acted through (absent on the unix socket).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<crate::id::TokenId>,
    },
    Unknown {
        uid: u32,
    },
    /// A TCP peer that has not shown a valid API token.
    Remote {
        address: String,
    },
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User {
                email, via: None, ..
            } => f.write_str(email),
            Actor::User {
                email,
                via: Some(t),
                ..
            } => write!(f, "{email} via token {t}"),
            Actor::Unknown { uid } => write!(f, "uid {uid} (unknown)"),
            Actor::Remote { address } => write!(f, "{address} (no valid token)"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// An audit event as recorded (without seq and hashes, which the log assigns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub actor: Actor,
    pub source: Source,
    /// Dotted verb, e.g. `request.approve`, `grant.revoke_failed`.
    pub action: String,
    /// What it acted on, e.g. `HP-1042`, `G-7`, `user ada@example.com`.
    pub target: String,
    /// A short before → after summary. Never holds a secret.
    pub summary: String,
    /// The person the event is about (requester, grantee, invited user), for filtering.
    #[serde(default)]
    pub subject: Option<UserId>,
    #[serde(default)]
    pub integration: Option<IntegrationName>,
    /// The resulting status (request or grant), for filtering.
    #[serde(default)]
    pub status: Option<String>,
}

impl AuditEntry {
    pub fn new(
        actor: Actor,
        source: Source,
        action: &str,
        target: impl fmt::Display,
        summary: impl Into<String>,
    ) -> Self {
        AuditEntry {
            actor,
            source,
            action: action.into(),
            target: target.to_string(),
            summary: summary.into(),
            subject: None,
            integration: None,
            status: None,
        }
    }

    /// The person the event is about.
    pub fn about(mut self, user: UserId) -> Self {
        self.subject = Some(user);
        self
    }

    pub fn on(mut self, integration: &IntegrationName) -> Self {
        self.integration = Some(integration.clone());
        self
    }

    pub fn with_status(mut self, status: impl fmt::Display) -> Self {
        self.status = Some(status.to_string());
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: u64,
    pub at: Timestamp,
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hex SHA-256 of the previous event (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this event.
    pub hash: String,
}

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    at: Timestamp,
    entry: &'a AuditEntry,
}

impl AuditEvent {
    /// Seals an entry after `prev_hash`.
    pub fn seal(seq: u64, at: Timestamp, entry: AuditEntry, prev_hash: &str) -> Self {
        let hash = Self::compute_hash(seq, at, &entry, prev_hash);
        AuditEvent {
            seq,
            at,
            entry,
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }

    pub fn compute_hash(seq: u64, at: Timestamp, entry: &AuditEntry, prev_hash: &str) -> String {
        let body = serde_json::to_vec(&Hashed { seq, at, entry })
            .expect("invariant: audit entries serialize");
        let mut h = Sha256::new();
        h.update(prev_hash.as_bytes());
        h.update(&body);
        hex::encode(h.finalize())
    }

    /// Does this event's own hash match its content?
    pub fn is_intact(&self) -> bool {
        Self::compute_hash(self.seq, self.at, &self.entry, &self.prev_hash) == self.hash
    }
}

/// The first problem found when walking the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub seq: u64,
    pub why: String,
}

/// Walks events in order and checks every link; stops at the first break.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: u64,
    prev_hash: String,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.into(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, e: &AuditEvent) -> Result<(), ChainBreak> {
        if e.seq != self.expected_seq {
            return Err(ChainBreak {
                seq: self.expected_seq,
                why: format!(
                    "event {} is missing (found {} next)",
                    self.expected_seq, e.seq
                ),
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(ChainBreak {
                seq: e.seq,
                why: "its prev_hash does not match the previous event's hash".into(),
            });
        }
        if !e.is_intact() {
            return Err(ChainBreak {
                seq: e.seq,
                why: "its content does not match its hash (edited)".into(),
            });
        }
        self.prev_hash = e.hash.clone();
        self.expected_seq += 1;
        self.checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            actor: Actor::System,
            source: Source::System,
            action: action.into(),
            target: "HP-1".into(),
            summary: "x".into(),
            subject: None,
            integration: None,
            status: None,
        }
    }

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|i| {
                let e = AuditEvent::seal(i, Timestamp(i as i64), entry("a"), &prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let mut v = ChainVerifier::default();
        for e in chain(5) {
            v.push(&e).unwrap();
        }
        assert_eq!(v.checked, 5);
    }

    #[test]
    fn edits_deletions_and_reorders_are_found_at_the_first_break() {
        let mut c = chain(5);
        c[2].entry.summary = "tampered".into();
        let mut v = ChainVerifier::default();
        let err = c.iter().try_for_each(|e| v.push(e)).unwrap_err();
        assert_eq!(err.seq, 3);

        let mut c = chain(5);
        c.remove(1);
        let mut v = ChainVerifier::default();
        assert_eq!(c.iter().try_for_each(|e| v.push(e)).unwrap_err().seq, 2);

        // Rewriting one event and its own hash still breaks the next link.
        let mut c = chain(5);
        c[1].entry.summary = "tampered".into();
        c[1].hash = AuditEvent::compute_hash(2, c[1].at, &c[1].entry, &c[1].prev_hash);
        let mut v = ChainVerifier::default();
        assert_eq!(c.iter().try_for_each(|e| v.push(e)).unwrap_err().seq, 3);
    }
}
