//! Requests for access and their lifecycle: Pending → Approved | Rejected | Cancelled | TimedOut.
//! Invariants: only a Pending request changes state; one approval per approver; a request is
//! Approved only when the caller has checked the flow's threshold (see `policy`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::id::{BundleName, FlowName, GrantId, RequestId, UserId};
use crate::integration::Target;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
    TimedOut,
}

impl RequestStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, RequestStatus::Pending)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// New access, or more time on an existing grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RequestKind {
    Access,
    Extend { grant: GrantId },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub by: UserId,
    pub at: Timestamp,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    pub requester: UserId,
    pub flow: FlowName,
    pub kind: RequestKind,
    #[serde(default)]
    pub bundle: Option<BundleName>,
    pub targets: Vec<Target>,
    #[serde(with = "crate::time::secs")]
    pub duration: Duration,
    pub reason: String,
    pub status: RequestStatus,
    pub created_at: Timestamp,
    /// The pending clock: after this the request times out.
    pub pending_until: Timestamp,
    #[serde(default)]
    pub approvals: Vec<Decision>,
    #[serde(default)]
    pub rejection: Option<Decision>,
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    /// Who cancelled, when cancelled (the requester, an admin, or the system on user deletion).
    #[serde(default)]
    pub cancelled_by: Option<UserId>,
    #[serde(default)]
    pub grants: Vec<GrantId>,
    /// Set when this request was made with "request again".
    #[serde(default)]
    pub again_of: Option<RequestId>,
}

impl Request {
    fn require_pending(&self, action: &str) -> Result<(), DomainError> {
        if self.status == RequestStatus::Pending {
            Ok(())
        } else {
            Err(DomainError::transition(
                format!("request {}", self.id),
                self.status,
                action,
            ))
        }
    }

    /// Records one approval. `threshold_met` is the policy's verdict including this approval.
    pub fn approve(&mut self, d: Decision, threshold_met: bool) -> Result<(), DomainError> {
        self.require_pending("approve")?;
        if self.approvals.iter().any(|a| a.by == d.by) {
            return Err(DomainError::conflict(format!(
                "you have already approved {}",
                self.id
            )));
        }
        let at = d.at;
        self.approvals.push(d);
        if threshold_met {
            self.status = RequestStatus::Approved;
            self.closed_at = Some(at);
        }
        Ok(())
    }

    /// Approves without a human (auto flows).
    pub fn auto_approve(&mut self, at: Timestamp) -> Result<(), DomainError> {
        self.require_pending("approve")?;
        self.status = RequestStatus::Approved;
        self.closed_at = Some(at);
        Ok(())
    }

    pub fn reject(&mut self, d: Decision) -> Result<(), DomainError> {
        self.require_pending("reject")?;
        self.closed_at = Some(d.at);
        self.rejection = Some(d);
        self.status = RequestStatus::Rejected;
        Ok(())
    }

    pub fn cancel(&mut self, by: UserId, at: Timestamp) -> Result<(), DomainError> {
        self.require_pending("cancel")?;
        self.status = RequestStatus::Cancelled;
        self.cancelled_by = Some(by);
        self.closed_at = Some(at);
        Ok(())
    }

    /// Times out a pending request whose pending clock has run out.
    pub fn time_out(&mut self, now: Timestamp) -> Result<(), DomainError> {
        self.require_pending("time out")?;
        if now < self.pending_until {
            return Err(DomainError::conflict(format!(
                "{} may still wait until {}",
                self.id, self.pending_until
            )));
        }
        self.status = RequestStatus::TimedOut;
        self.closed_at = Some(now);
        Ok(())
    }

    /// True when a read at `now` must treat the request as timed out even if the task is late.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.status == RequestStatus::Pending && self.pending_until <= now
    }
}
