//! Which secondary-index entries (and deadlines) a record implies. Invariant: every index is a
//! pure function of its record, so the transaction can diff a record's old and new entries and
//! a checker can recompute them from the records alone.

use hallpass_core::Timestamp;
use hallpass_core::grant::{Grant, GrantStatus};
use hallpass_core::request::{Request, RequestStatus};
use hallpass_core::user::{User, UserStatus};

use crate::backend::Table;
use crate::deadline::Due;
use crate::error::StoreError;
use crate::keys;

/// One index key and its value (empty unless the index maps to an id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct IndexEntry {
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl IndexEntry {
    fn new(table: Table, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        IndexEntry {
            table,
            key: key.into(),
            value: value.into(),
        }
    }
}

/// UsersByEmail and UsersByExternal (one per source) always; UsersByUid while bound and not
/// Deleted; UsersByLogin while not Deleted; UsersByRole while Active.
pub(crate) fn user_entries(u: &User) -> Vec<IndexEntry> {
    let id = keys::user(u.id);
    let mut out = vec![IndexEntry::new(
        Table::UsersByEmail,
        keys::email(&u.email),
        id,
    )];
    for (source, external_id) in &u.sources {
        out.push(IndexEntry::new(
            Table::UsersByExternal,
            keys::external(source, external_id),
            id,
        ));
    }
    if let Some(login) = &u.login
        && u.status != UserStatus::Deleted
    {
        out.push(IndexEntry::new(Table::UsersByLogin, keys::login(login), id));
    }
    if let Some(os) = &u.os
        && u.status != UserStatus::Deleted
    {
        out.push(IndexEntry::new(Table::UsersByUid, keys::uid(os.uid), id));
    }
    if u.status == UserStatus::Active {
        out.push(IndexEntry::new(
            Table::UsersByRole,
            keys::user_by_role(u.role, u.id),
            [],
        ));
    }
    out
}

/// A Pending request times out at `pending_until`.
pub(crate) fn request_deadline(r: &Request) -> Option<(Timestamp, Due)> {
    (r.status == RequestStatus::Pending).then_some((r.pending_until, Due::RequestTimeout(r.id)))
}

/// RequestsByRequester always; RequestsPending and its deadline while Pending.
pub(crate) fn request_entries(r: &Request) -> Vec<IndexEntry> {
    let mut out = vec![IndexEntry::new(
        Table::RequestsByRequester,
        keys::requester_request(r.requester, r.id),
        [],
    )];
    if r.status == RequestStatus::Pending {
        out.push(IndexEntry::new(
            Table::RequestsPending,
            keys::request(r.id),
            [],
        ));
    }
    if let Some((at, due)) = request_deadline(r) {
        out.push(IndexEntry::new(
            Table::Deadlines,
            keys::deadline(at, due),
            [],
        ));
    }
    out
}

/// An Active grant expires at `expires_at` and warns at `next_warning_at`; a grant owing a
/// connector call (granting, revoking, or pushing an extension to an Active grant's target) is
/// due at `next_attempt_at`.
pub(crate) fn grant_deadlines(g: &Grant) -> Vec<(Timestamp, Due)> {
    let mut out = Vec::with_capacity(3);
    if g.status == GrantStatus::Active
        && let Some(at) = g.expires_at
    {
        out.push((at, Due::GrantExpiry(g.id)));
    }
    if g.status == GrantStatus::Active
        && let Some(at) = g.next_warning_at
    {
        out.push((at, Due::GrantWarning(g.id)));
    }
    if !g.status.is_terminal()
        && let Some(at) = g.next_attempt_at
    {
        out.push((at, Due::GrantWork(g.id)));
    }
    out
}

/// Where a deadline's key lives: owed connector work in Work, so that however much of it
/// waits (a slow or failing connector), expiries and timeouts are never read behind it.
pub(crate) fn deadline_table(due: Due) -> Table {
    match due {
        Due::GrantWork(_) => Table::Work,
        Due::RequestTimeout(_) | Due::GrantExpiry(_) | Due::GrantWarning(_) => Table::Deadlines,
    }
}

/// Whether a grant may cover access (so overlap checks must see it).
pub(crate) fn grant_may_cover(status: GrantStatus) -> bool {
    matches!(status, GrantStatus::Active | GrantStatus::Granting)
}

/// GrantsByUser always; GrantsBySubject while Active or Granting; its deadlines.
pub(crate) fn grant_entries(g: &Grant) -> Result<Vec<IndexEntry>, StoreError> {
    let mut out = vec![IndexEntry::new(
        Table::GrantsByUser,
        keys::user_grant(g.user, g.id),
        [],
    )];
    if grant_may_cover(g.status) {
        out.push(IndexEntry::new(
            Table::GrantsBySubject,
            keys::subject_grant(g.user, &g.target, g.id)?,
            [],
        ));
    }
    for (at, due) in grant_deadlines(g) {
        out.push(IndexEntry::new(
            deadline_table(due),
            keys::deadline(at, due),
            [],
        ));
    }
    Ok(out)
}
