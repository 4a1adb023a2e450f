//! Deadlines: what falls due at a time ([`Due`]), kept as `Timestamp ‖ kind ‖ id` in the
//! Deadlines table, except owed connector work ([`Due::GrantWork`]), which has the Work table
//! to itself (see `index::deadline_table`). Invariant: the key order equals the order of `(Timestamp, Due)`,
//! and a record's deadlines are derived from its state alone (see `index`): a request has at
//! most one, a grant at most one of each kind.

use hallpass_core::{GrantId, RequestId};

/// Work that falls due at a deadline. The variant order is the kind byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    /// A Pending request's `pending_until`.
    RequestTimeout(RequestId),
    /// An Active grant's `expires_at`.
    GrantExpiry(GrantId),
    /// A connector attempt owed by a grant (`next_attempt_at`): granting, revoking, or pushing
    /// an extension's new end to an Active grant's target.
    GrantWork(GrantId),
    /// An Active grant's next "expiring soon" warning (`next_warning_at`).
    GrantWarning(GrantId),
}

impl Due {
    /// The kind byte in the key. Never renumber: it is on disk.
    pub fn kind_byte(self) -> u8 {
        match self {
            Due::RequestTimeout(_) => 0,
            Due::GrantExpiry(_) => 1,
            Due::GrantWork(_) => 2,
            Due::GrantWarning(_) => 3,
        }
    }

    /// The record id (a request or a grant id).
    pub fn id(self) -> u64 {
        match self {
            Due::RequestTimeout(r) => r.0,
            Due::GrantExpiry(g) | Due::GrantWork(g) | Due::GrantWarning(g) => g.0,
        }
    }

    /// The inverse of ([`Due::kind_byte`], [`Due::id`]).
    pub fn from_parts(kind: u8, id: u64) -> Option<Due> {
        match kind {
            0 => Some(Due::RequestTimeout(RequestId(id))),
            1 => Some(Due::GrantExpiry(GrantId(id))),
            2 => Some(Due::GrantWork(GrantId(id))),
            3 => Some(Due::GrantWarning(GrantId(id))),
            _ => None,
        }
    }
}
