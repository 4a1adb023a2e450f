//! Broker events: what happened, in the past tense, for the resumable cursor that the TUI,
//! desktop notifications and scripts follow. Invariant: events are written in the same store
//! transaction as the change they describe, so a reader never sees one without the other.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::grant::EndReason;
use crate::id::{FlowName, GrantId, RequestId, UserId};
use crate::integration::Target;
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum EventKind {
    RequestSubmitted {
        request: RequestId,
        requester: UserId,
        requester_email: String,
        flow: FlowName,
        targets: Vec<Target>,
        #[serde(with = "crate::time::secs")]
        duration: Duration,
        reason: String,
        /// Who can approve it now (empty for auto flows).
        approvers: Vec<UserId>,
    },
    RequestApproved {
        request: RequestId,
        by: UserId,
        complete: bool,
    },
    RequestRejected {
        request: RequestId,
        by: UserId,
        reason: Option<String>,
    },
    RequestCancelled {
        request: RequestId,
        by: UserId,
    },
    RequestTimedOut {
        request: RequestId,
    },
    GrantActivated {
        grant: GrantId,
        request: RequestId,
        user: UserId,
        target: Target,
        expires_at: Timestamp,
    },
    GrantFailed {
        grant: GrantId,
        request: RequestId,
        user: UserId,
        target: Target,
        error: String,
    },
    GrantExtended {
        grant: GrantId,
        user: UserId,
        expires_at: Timestamp,
    },
    /// An Active grant reached one of the daemon's warning offsets before `expires_at`
    /// (`expiry.warn_before`); the time left is `expires_at - at`.
    GrantExpiringSoon {
        grant: GrantId,
        user: UserId,
        target: Target,
        expires_at: Timestamp,
    },
    GrantEnded {
        grant: GrantId,
        user: UserId,
        target: Target,
        reason: EndReason,
    },
    GrantRevokeFailed {
        grant: GrantId,
        user: UserId,
        target: Target,
        attempts: u32,
        error: String,
    },
    UserInvited {
        user: UserId,
        email: String,
    },
    UserJoined {
        user: UserId,
        email: String,
    },
    UserRoleChanged {
        user: UserId,
        role: crate::user::Role,
    },
    UserDeleted {
        user: UserId,
        email: String,
    },
    /// Integrations, bundles, flows or groups changed.
    PolicyChanged {
        what: String,
    },
    /// An identity source was read and applied (or refused, with `error`).
    IdentitySynced {
        source: crate::id::SourceName,
        added: u32,
        updated: u32,
        deactivated: u32,
        #[serde(default)]
        error: Option<String>,
    },
    /// Someone stopped qualifying for a flow they hold or asked for access through; with a
    /// `notify-only` flow the access stays (`kept`), otherwise it is being taken away.
    EligibilityLost {
        user: UserId,
        flow: crate::id::FlowName,
        why: String,
        kept: bool,
    },
    /// A reconcile found access on a target without a grant, or a grant without its access.
    DriftDetected {
        integration: crate::id::IntegrationName,
        leftovers: u32,
        missing: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
    /// Users (besides admins and auditors) who may see this event.
    pub audience: BTreeSet<UserId>,
}
