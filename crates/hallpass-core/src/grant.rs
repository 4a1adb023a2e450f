//! Grants: one provisioned access, Granting → Active → Revoking → Expired | Revoked, with Failed
//! and RevokeFailed. Invariants: the access clock starts at activation; a grant whose
//! `expires_at <= now` is never reported Active ([`Grant::status_at`]); revocation never gives
//! up (RevokeFailed keeps retrying).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::id::{GrantId, RequestId, UserId};
use crate::integration::Target;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Granting,
    Active,
    Revoking,
    RevokeFailed,
    Expired,
    Revoked,
    Failed,
}

impl GrantStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            GrantStatus::Expired | GrantStatus::Revoked | GrantStatus::Failed
        )
    }

    /// States in which a connector call is owed (grant or revoke).
    pub fn needs_connector(self) -> bool {
        matches!(
            self,
            GrantStatus::Granting | GrantStatus::Revoking | GrantStatus::RevokeFailed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Granting => "granting",
            GrantStatus::Active => "active",
            GrantStatus::Revoking => "revoking",
            GrantStatus::RevokeFailed => "revoke_failed",
            GrantStatus::Expired => "expired",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for GrantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why access ended (or is ending).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "why")]
pub enum EndReason {
    Expired,
    Released,
    Revoked {
        by: UserId,
        reason: Option<String>,
    },
    UserDeleted,
    /// The holder no longer qualifies for the flow (left a group, deactivated at the source).
    EligibilityLost {
        because: String,
    },
    /// The connector could not grant; whatever it may have done is revoked, and the grant
    /// ends Failed.
    GrantFailed {
        error: String,
    },
}

impl EndReason {
    /// The terminal state a successful revocation leads to.
    pub fn final_status(&self) -> GrantStatus {
        match self {
            EndReason::Expired => GrantStatus::Expired,
            EndReason::GrantFailed { .. } => GrantStatus::Failed,
            _ => GrantStatus::Revoked,
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Expired => f.write_str("expired"),
            EndReason::Released => f.write_str("released by the grantee"),
            EndReason::Revoked {
                by,
                reason: Some(r),
            } => write!(f, "revoked by {by}: {r}"),
            EndReason::Revoked { by, reason: None } => write!(f, "revoked by {by}"),
            EndReason::UserDeleted => f.write_str("user deleted"),
            EndReason::EligibilityLost { because } => write!(f, "eligibility lost: {because}"),
            EndReason::GrantFailed { error } => write!(f, "granting failed: {error}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub request: RequestId,
    pub user: UserId,
    pub target: Target,
    pub status: GrantStatus,
    /// The access duration, counted from activation.
    #[serde(with = "crate::time::secs")]
    pub duration: Duration,
    pub created_at: Timestamp,
    #[serde(default)]
    pub activated_at: Option<Timestamp>,
    /// Set at activation: `activated_at + duration` (+ extensions).
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    #[serde(default)]
    pub end_reason: Option<EndReason>,
    /// Connector attempts made for the current operation (grant or revoke).
    #[serde(default)]
    pub attempts: u32,
    /// When the next connector attempt is due, while one is owed.
    #[serde(default)]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Extensions applied, as request ids.
    #[serde(default)]
    pub extensions: Vec<RequestId>,
    /// When the next "expiring soon" warning is due, while Active (see
    /// [`Grant::schedule_warning`]). Absent in records written before warnings existed.
    #[serde(default)]
    pub next_warning_at: Option<Timestamp>,
}

/// Revocation attempts after which a grant is shown as RevokeFailed (it keeps retrying).
pub const REVOKE_FAILED_AFTER: u32 = 3;

impl Grant {
    /// A new grant waiting for its connector call.
    pub fn new(
        id: GrantId,
        request: RequestId,
        user: UserId,
        target: Target,
        duration: Duration,
        now: Timestamp,
    ) -> Self {
        Grant {
            id,
            request,
            user,
            target,
            status: GrantStatus::Granting,
            duration,
            created_at: now,
            activated_at: None,
            expires_at: None,
            ended_at: None,
            end_reason: None,
            attempts: 0,
            next_attempt_at: Some(now),
            last_error: None,
            extensions: vec![],
            next_warning_at: None,
        }
    }

    fn wrong(&self, action: &str) -> DomainError {
        DomainError::transition(format!("grant {}", self.id), self.status, action)
    }

    /// The status a reader must see at `now`: an Active grant past its deadline is Revoking.
    pub fn status_at(&self, now: Timestamp) -> GrantStatus {
        match (self.status, self.expires_at) {
            (GrantStatus::Active, Some(e)) if e <= now => GrantStatus::Revoking,
            (s, _) => s,
        }
    }

    /// Remaining access time at `now`, for Active grants.
    pub fn remaining(&self, now: Timestamp) -> Option<Duration> {
        match (self.status_at(now), self.expires_at) {
            (GrantStatus::Active, Some(e)) => Some(now.until(e)),
            _ => None,
        }
    }

    /// The connector granted access: start the access clock.
    pub fn activate(&mut self, now: Timestamp) -> Result<(), DomainError> {
        if self.status != GrantStatus::Granting {
            return Err(self.wrong("activate"));
        }
        self.status = GrantStatus::Active;
        self.activated_at = Some(now);
        self.expires_at = Some(now.plus(self.duration));
        self.attempts = 0;
        self.next_attempt_at = None;
        self.last_error = None;
        Ok(())
    }

    /// The connector could not grant.
    pub fn fail(&mut self, error: String, now: Timestamp) -> Result<(), DomainError> {
        if self.status != GrantStatus::Granting {
            return Err(self.wrong("fail"));
        }
        self.status = GrantStatus::Failed;
        self.attempts += 1;
        self.last_error = Some(error);
        self.ended_at = Some(now);
        self.next_attempt_at = None;
        Ok(())
    }

    /// Starts ending access (deadline, release, admin revoke, user deleted). A grant still being
    /// granted is revoked too: revocation is idempotent on the target.
    pub fn begin_revoke(&mut self, reason: EndReason, now: Timestamp) -> Result<(), DomainError> {
        match self.status {
            GrantStatus::Active | GrantStatus::Granting => {
                self.status = GrantStatus::Revoking;
                self.end_reason = Some(reason);
                self.attempts = 0;
                self.next_attempt_at = Some(now);
                self.last_error = None;
                Ok(())
            }
            _ => Err(self.wrong("revoke")),
        }
    }

    /// The connector confirmed the access is gone (or another grant still covers it).
    pub fn finish_revoke(&mut self, now: Timestamp) -> Result<(), DomainError> {
        if !matches!(
            self.status,
            GrantStatus::Revoking | GrantStatus::RevokeFailed
        ) {
            return Err(self.wrong("finish revoking"));
        }
        self.status = self
            .end_reason
            .as_ref()
            .map_or(GrantStatus::Revoked, EndReason::final_status);
        self.ended_at = Some(now);
        self.next_attempt_at = None;
        Ok(())
    }

    /// A revocation attempt failed: schedule the next one; after a few, show RevokeFailed.
    pub fn revoke_attempt_failed(
        &mut self,
        error: String,
        retry_at: Timestamp,
    ) -> Result<(), DomainError> {
        if !matches!(
            self.status,
            GrantStatus::Revoking | GrantStatus::RevokeFailed
        ) {
            return Err(self.wrong("retry revoking"));
        }
        self.attempts += 1;
        self.last_error = Some(error);
        self.next_attempt_at = Some(retry_at);
        if self.attempts >= REVOKE_FAILED_AFTER {
            self.status = GrantStatus::RevokeFailed;
        }
        Ok(())
    }

    /// Adds time to an Active grant.
    pub fn extend(
        &mut self,
        by: Duration,
        request: RequestId,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        // Refuse with the state a reader sees: past its deadline an Active grant is revoking.
        let seen = self.status_at(now);
        let wrong = || DomainError::transition(format!("grant {}", self.id), seen, "extend");
        if seen != GrantStatus::Active {
            return Err(wrong());
        }
        let e = self.expires_at.ok_or_else(wrong)?;
        self.expires_at = Some(e.plus(by));
        self.extensions.push(request);
        // The target learns the new end (VALID UNTIL, a new certificate) through the connector.
        self.attempts = 0;
        self.next_attempt_at = Some(now);
        self.last_error = None;
        Ok(())
    }

    /// Whether a connector call is owed: granting, revoking, or pushing an extension.
    pub fn owes_work(&self) -> bool {
        !self.status.is_terminal() && self.next_attempt_at.is_some()
    }

    /// The connector applied the extended end on the target.
    pub fn extension_applied(&mut self) -> Result<(), DomainError> {
        if self.status != GrantStatus::Active {
            return Err(self.wrong("apply an extension"));
        }
        self.attempts = 0;
        self.next_attempt_at = None;
        self.last_error = None;
        Ok(())
    }

    /// Pushing an extension failed: try again at `retry_at` (the grant stays Active).
    pub fn extension_attempt_failed(
        &mut self,
        error: String,
        retry_at: Timestamp,
    ) -> Result<(), DomainError> {
        if self.status != GrantStatus::Active {
            return Err(self.wrong("retry an extension"));
        }
        self.attempts += 1;
        self.last_error = Some(error);
        self.next_attempt_at = Some(retry_at);
        Ok(())
    }

    /// An operator asks for the owed connector call now instead of at the next backoff.
    pub fn retry_now(&mut self, now: Timestamp) -> Result<(), DomainError> {
        if !self.owes_work() {
            return Err(DomainError::transition(
                format!("grant {}", self.id),
                format!("{} with no connector work owed", self.status),
                "retry",
            ));
        }
        self.next_attempt_at = Some(now);
        Ok(())
    }

    /// An operator ends a revocation the connector cannot confirm (the target is gone for
    /// good, say). The grant ends as a successful revocation would; drift detection reports
    /// any access that is in fact left.
    pub fn force_end(&mut self, now: Timestamp) -> Result<(), DomainError> {
        if !matches!(
            self.status,
            GrantStatus::Revoking | GrantStatus::RevokeFailed
        ) {
            return Err(self.wrong("force the end of"));
        }
        self.finish_revoke(now)
    }

    /// Sets `next_warning_at` to the earliest `expires_at - offset` strictly after `now`, over
    /// `warn_before` (any order); None when the grant is not Active or every point has passed.
    /// Called at activation, after an extension and after each warning, so a grant warns at
    /// most once per offset and an offset longer than the time left is skipped.
    pub fn schedule_warning(&mut self, warn_before: &[Duration], now: Timestamp) {
        self.next_warning_at = match (self.status, self.expires_at) {
            (GrantStatus::Active, Some(e)) if e > now => warn_before
                .iter()
                .map(|d| e.minus(*d))
                .filter(|t| *t > now && *t < e)
                .min(),
            _ => None,
        };
    }
}

/// Exponential backoff for connector retries: `base · 2^attempt`, capped at `max`.
/// The daemon adds jitter; this stays deterministic.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}
