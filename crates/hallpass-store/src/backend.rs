//! The ordered key-value [`Backend`] the store runs on, and the fixed set of [`Table`]s.
//! Invariant: a backend applies a batch of [`Op`]s all-or-nothing across tables, and scans
//! return keys in byte order, so callers can add an etcd (or other) backend without changes.

use crate::error::StoreError;

/// One key space. Each is a sled tree named [`Table::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Meta,
    Users,
    UsersByEmail,
    UsersByUid,
    UsersByRole,
    Invites,
    Groups,
    Integrations,
    Bundles,
    Flows,
    Requests,
    RequestsByRequester,
    RequestsPending,
    Grants,
    GrantsByUser,
    GrantsBySubject,
    Deadlines,
    Audit,
    Events,
    Credentials,
    Links,
    LinksByToken,
    StatusPasses,
    Outbox,
    UsersByLogin,
    UsersByExternal,
    SyncRuns,
    ScimResources,
    Tokens,
    LinkSubmissions,
    /// Owed connector work, apart from the other deadlines (schema 2).
    Work,
}

impl Table {
    pub const ALL: [Table; 31] = [
        Table::Meta,
        Table::Users,
        Table::UsersByEmail,
        Table::UsersByUid,
        Table::UsersByRole,
        Table::Invites,
        Table::Groups,
        Table::Integrations,
        Table::Bundles,
        Table::Flows,
        Table::Requests,
        Table::RequestsByRequester,
        Table::RequestsPending,
        Table::Grants,
        Table::GrantsByUser,
        Table::GrantsBySubject,
        Table::Deadlines,
        Table::Audit,
        Table::Events,
        Table::Credentials,
        Table::Links,
        Table::LinksByToken,
        Table::StatusPasses,
        Table::Outbox,
        Table::UsersByLogin,
        Table::UsersByExternal,
        Table::SyncRuns,
        Table::ScimResources,
        Table::Tokens,
        Table::LinkSubmissions,
        Table::Work,
    ];

    /// The on-disk name (sled tree name). Never change one: it would orphan the data.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Users => "users",
            Table::UsersByEmail => "users_by_email",
            Table::UsersByUid => "users_by_uid",
            Table::UsersByRole => "users_by_role",
            Table::Invites => "invites",
            Table::Groups => "groups",
            Table::Integrations => "integrations",
            Table::Bundles => "bundles",
            Table::Flows => "flows",
            Table::Requests => "requests",
            Table::RequestsByRequester => "requests_by_requester",
            Table::RequestsPending => "requests_pending",
            Table::Grants => "grants",
            Table::GrantsByUser => "grants_by_user",
            Table::GrantsBySubject => "grants_by_subject",
            Table::Deadlines => "deadlines",
            Table::Audit => "audit",
            Table::Events => "events",
            Table::Credentials => "credentials",
            Table::Links => "links",
            Table::LinksByToken => "links_by_token",
            Table::StatusPasses => "status_passes",
            Table::Outbox => "outbox",
            Table::UsersByLogin => "users_by_login",
            Table::UsersByExternal => "users_by_external",
            Table::SyncRuns => "sync_runs",
            Table::ScimResources => "scim_resources",
            Table::Tokens => "tokens",
            Table::LinkSubmissions => "link_submissions",
            Table::Work => "work",
        }
    }

    /// Position in [`Table::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One write in an atomic batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(Table, Vec<u8>, Vec<u8>),
    Delete(Table, Vec<u8>),
}

/// A scan's items: `(key, value)` in key order (or reverse order).
pub type ScanIter<'a> =
    Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + Send + 'a>;

pub trait Backend: Send + Sync + 'static {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Ordered scan of keys in [from, to) (to=None: to the end); reverse=true walks backwards.
    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, reverse: bool) -> ScanIter<'_>;
    /// Applies all ops across tables, in order (a later op on the same key wins). After a
    /// crash either all of them are found or none. Readers of the backend itself may see them
    /// land one by one ([`crate::store::Store`] reads through its group apply, which shows a
    /// batch whole until it is applied and flushed); an error may leave some applied, and
    /// applying the same batch again completes it.
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError>;
    /// [`Backend::apply`] for the union of `batches` batches (group commit): a backend may
    /// apply a group that several writers made differently from one writer's batch.
    fn apply_group(&self, ops: Vec<Op>, batches: usize) -> Result<(), StoreError> {
        let _ = batches;
        self.apply(ops)
    }
    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_table_once_in_index_order_with_distinct_names() {
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert!(names.insert(t.name()), "{} twice", t.name());
        }
        assert_eq!(Table::UsersByEmail.name(), "users_by_email");
    }
}
