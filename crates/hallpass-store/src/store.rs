//! The [`Store`]: typed reads over committed data, the single writer lock, the schema check at
//! open, and group-committed durability. Invariant: all writes go through [`Store::write`], one
//! at a time, each as one atomic [`Backend::apply`] of a record with its derived indexes.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use hallpass_core::audit::{AuditEvent, GENESIS_HASH};
use hallpass_core::credential::Credentials;
use hallpass_core::event::Event;
use hallpass_core::flow::Flow;
use hallpass_core::grant::Grant;
use hallpass_core::identity::SyncReport;
use hallpass_core::integration::{Bundle, Integration, Target};
use hallpass_core::link::{AccessLink, LinkSubmission, StatusPass};
use hallpass_core::outbox::Mail;
use hallpass_core::request::Request;
use hallpass_core::scim::{ScimKind, ScimRecord};
use hallpass_core::token::ApiToken;
use hallpass_core::user::{Group, Invite, Role, User};
use hallpass_core::{
    BundleName, FlowName, GrantId, GroupName, IntegrationName, LinkId, RequestId, SourceName,
    Timestamp, TokenId, UserId,
};

use crate::backend::{Backend, Op, ScanIter, Table};
use crate::cache::Cache;
use crate::codec;
use crate::deadline::Due;
use crate::deadline_watch::DeadlineWatch;
use crate::durability::Durability;
use crate::error::StoreError;
use crate::group_apply::GroupApply;
use crate::index;
use crate::keys::{self, meta};
use crate::sled_backend::SledBackend;
use crate::txn::Txn;

/// The schema this build writes. Stored in Meta as 4 big-endian bytes (the one value without
/// a version byte: it decides how everything else is read).
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What a write's ops change that readers outside the store keep track of.
struct Touched {
    users: bool,
    flows: bool,
    /// The earliest deadline put in Deadlines or Work.
    earliest_deadline: Option<Timestamp>,
}

impl Touched {
    fn by(ops: &[Op]) -> Touched {
        let mut t = Touched {
            users: false,
            flows: false,
            earliest_deadline: None,
        };
        for op in ops {
            let (Op::Put(table, key, _) | Op::Delete(table, key)) = op;
            match table {
                Table::Users => t.users = true,
                Table::Flows => t.flows = true,
                Table::Deadlines | Table::Work if matches!(op, Op::Put(..)) => {
                    if let Some((at, _)) = keys::parse_deadline(key) {
                        t.earliest_deadline = Some(t.earliest_deadline.map_or(at, |e| e.min(at)));
                    }
                }
                _ => {}
            }
        }
        t
    }
}

/// Identifies one applied write; pass it to [`Store::durable`] to wait until it is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommitTicket(pub u64);

/// The Meta `audit_head` record: the newest audit event's seq and hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

/// Handle to the store; clones share one backend, writer lock and flusher thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    /// The same backend as `backend`, for what only group apply knows (is a key on disk?).
    group: Arc<GroupApply>,
    /// Held for the whole of a write transaction: one writer at a time.
    writer: Mutex<()>,
    /// The ticket of the write being applied (or the last one): see [`Store::applied`].
    applying: AtomicU64,
    durability: Arc<Durability>,
    flusher: Option<JoinHandle<()>>,
    /// Decoded users by id (every user lookup, whatever index found the id), the user bound to
    /// each OS uid (every RPC's caller: its index read contends with the writers for the group
    /// apply's pending set), and flows by name; [`Store::write`] invalidates each after any
    /// write to its table (Users for the first two).
    users: Cache<UserId, User>,
    uids: Cache<u32, UserId>,
    flows: Cache<FlowName, Flow>,
    /// Tells the scheduler when a write put a deadline before the one it sleeps until.
    deadlines: DeadlineWatch,
}

impl Drop for Inner {
    /// Stops the flusher after a last flush, so the database is closed when the last clone goes.
    fn drop(&mut self) {
        self.durability.stop();
        if let Some(h) = self.flusher.take() {
            // A panicked flusher has nothing left to clean up.
            let _ = h.join();
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("written", &self.inner.durability.current())
            .field("flushes", &self.inner.durability.flush_count())
            .finish_non_exhaustive()
    }
}

/// Brings a store written at schema `from` up to [`SCHEMA_VERSION`], one step at a time, inside
/// `Store::with_backend` before anything else reads it. Each step rewrites what it changes and
/// sets `schema_version` in ONE apply, then flushes: a crash leaves the store at one schema or
/// the next, never between. Each step has a test that opens a store written by the schema
/// before it.
fn migrate(backend: &dyn Backend, from: u32) -> Result<(), StoreError> {
    if from < 1 {
        return Err(StoreError::corrupt(
            Table::Meta.name(),
            meta::SCHEMA_VERSION,
            format!("schema {from} never existed; there is no migration from it"),
        ));
    }
    if from < 2 {
        migrate_1_to_2(backend)?;
    }
    Ok(())
}

/// Schema 2 keeps owed connector work (kind [`Due::GrantWork`]) in its own table, Work; schema 1
/// kept it in Deadlines with everything else. The keys move unchanged.
fn migrate_1_to_2(backend: &dyn Backend) -> Result<(), StoreError> {
    let mut ops = Vec::new();
    for r in backend.scan(Table::Deadlines, &[], None, false) {
        let (k, v) = r?;
        if let Some((_, Due::GrantWork(_))) = keys::parse_deadline(&k) {
            ops.push(Op::Delete(Table::Deadlines, k.clone()));
            ops.push(Op::Put(Table::Work, k, v));
        }
    }
    ops.push(schema_version_op(2));
    backend.apply(ops)?;
    backend.flush()
}

/// Sets the stored schema version.
fn schema_version_op(version: u32) -> Op {
    Op::Put(
        Table::Meta,
        meta::SCHEMA_VERSION.to_vec(),
        version.to_be_bytes().to_vec(),
    )
}

impl Store {
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        let backend = SledBackend::open(path, opts.cache_bytes)?;
        Store::with_backend(Arc::new(backend)).map_err(|e| match e {
            StoreError::Backend(why) => StoreError::Open {
                path: path.to_path_buf(),
                why,
            },
            other => other,
        })
    }

    /// Opens and closes the database at `path` once, for its snapshot; call it only once every
    /// handle on the store has been dropped. sled 0.34 writes the snapshot of its page table
    /// only when it opens a database, so each open replays every log write since the previous
    /// one: a daemon that served for a while would pay for all its writes at its next start
    /// (1.2–1.9 s at 1M grants after a bulk load, against 0.2 s with a fresh snapshot;
    /// BENCHMARKS.md). Called after a clean stop, this moves that replay from the next start
    /// to the stop. A crash skips it and costs nothing but the slower next start.
    pub fn refresh_snapshot(path: &Path, opts: StoreOptions) -> Result<(), StoreError> {
        SledBackend::open(path, opts.cache_bytes).map(drop)
    }

    /// A sled store in temporary storage, removed when the last clone is dropped. For tests.
    pub fn open_temporary() -> Result<Store, StoreError> {
        Store::with_backend(Arc::new(SledBackend::temporary()?))
    }

    /// Checks (and on an empty backend, writes) the schema version, runs migrations and starts
    /// the flusher thread. Writes reach `backend` through [`GroupApply`]: held in memory (and
    /// read from there) until the flusher applies everything pending as one batch and flushes.
    pub fn with_backend(backend: Arc<dyn Backend>) -> Result<Store, StoreError> {
        let group = Arc::new(GroupApply::new(backend));
        let backend: Arc<dyn Backend> = group.clone();
        match backend.get(Table::Meta, meta::SCHEMA_VERSION)? {
            Some(raw) => {
                let bytes: [u8; 4] = raw.as_slice().try_into().map_err(|_| {
                    StoreError::corrupt(
                        Table::Meta.name(),
                        meta::SCHEMA_VERSION,
                        format!("expected 4 bytes, found {}", raw.len()),
                    )
                })?;
                let found = u32::from_be_bytes(bytes);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::Version {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                if found < SCHEMA_VERSION {
                    migrate(&*backend, found)?;
                }
            }
            None => {
                for t in Table::ALL {
                    if let Some(first) = backend.scan(t, &[], None, false).next() {
                        let (k, _) = first?;
                        return Err(StoreError::corrupt(
                            t.name(),
                            &k,
                            "the store holds data but no schema_version",
                        ));
                    }
                }
                backend.apply(vec![schema_version_op(SCHEMA_VERSION)])?;
                backend.flush()?;
            }
        }
        let durability = Durability::new();
        let flusher = durability.spawn(Arc::clone(&backend))?;
        let store = Store {
            inner: Arc::new(Inner {
                backend,
                group,
                writer: Mutex::new(()),
                applying: AtomicU64::new(0),
                durability,
                flusher: Some(flusher),
                users: Cache::new(),
                uids: Cache::new(),
                flows: Cache::new(),
                deadlines: DeadlineWatch::default(),
            }),
        };
        // What the store held at open is on disk (sled recovers only flushed data).
        store
            .inner
            .durability
            .opened_with_events(store.event_head()?);
        Ok(store)
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.inner.backend
    }

    // ---- low-level reads ----

    pub(crate) fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        reverse: bool,
    ) -> ScanIter<'_> {
        self.inner.backend.scan(table, from, to, reverse)
    }

    /// A prefix scan.
    fn scan_prefix(&self, table: Table, prefix: &[u8], reverse: bool) -> ScanIter<'_> {
        let end = keys::prefix_end(prefix);
        self.scan(table, prefix, end.as_deref(), reverse)
    }

    fn record<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.inner
            .backend
            .get(table, key)?
            .map(|v| codec::decode(table, key, &v))
            .transpose()
    }

    /// Loads the record an index entry points to; a missing record is corruption.
    fn indexed<T: DeserializeOwned>(
        &self,
        index: Table,
        index_key: &[u8],
        table: Table,
        key: &[u8],
    ) -> Result<T, StoreError> {
        self.record(table, key)?
            .ok_or_else(|| Self::missing(index, index_key, table, key))
    }

    /// The user an index entry names (through the user cache); a missing one is corruption.
    fn indexed_user(&self, index: Table, index_key: &[u8], id: UserId) -> Result<User, StoreError> {
        self.user(id)?
            .ok_or_else(|| Self::missing(index, index_key, Table::Users, &keys::user(id)))
    }

    /// The user id a unique user index holds at `key`, if any.
    fn indexed_id(&self, index: Table, key: &[u8]) -> Result<Option<UserId>, StoreError> {
        self.inner
            .backend
            .get(index, key)?
            .map(|id| {
                keys::read_u64(&id, 0)
                    .map(UserId)
                    .ok_or_else(|| StoreError::corrupt(index.name(), key, "holds no user id"))
            })
            .transpose()
    }

    fn missing(index: Table, index_key: &[u8], table: Table, key: &[u8]) -> StoreError {
        StoreError::corrupt(
            index.name(),
            index_key,
            format!(
                "points to a missing record {} in {}",
                hex::encode(key),
                table.name()
            ),
        )
    }

    fn all<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<T>, StoreError> {
        self.scan(table, &[], None, false)
            .map(|r| r.and_then(|(k, v)| codec::decode(table, &k, &v)))
            .collect()
    }

    /// The 8-byte id at `at` in an index key.
    fn id_in(index: Table, key: &[u8], at: usize) -> Result<[u8; 8], StoreError> {
        keys::read_u64(key, at)
            .map(u64::to_be_bytes)
            .ok_or_else(|| StoreError::corrupt(index.name(), key, "index key too short"))
    }

    /// The meta value at `key`, decoded.
    pub(crate) fn meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.record(Table::Meta, key)
    }

    // ---- users ----

    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner
            .users
            .get(id, || self.record(Table::Users, &keys::user(id)))
    }

    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.by_unique(Table::UsersByEmail, &keys::email(email))
    }

    pub fn user_by_uid(&self, uid: u32) -> Result<Option<User>, StoreError> {
        let key = keys::uid(uid);
        // Only the index entry is cached here: the user itself is read through `users`.
        let id = self
            .inner
            .uids
            .get(uid, || self.indexed_id(Table::UsersByUid, &key))?;
        id.map(|id| self.indexed_user(Table::UsersByUid, &key, id))
            .transpose()
    }

    /// The (not deleted) user with that login, from UsersByLogin.
    pub fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        self.by_unique(Table::UsersByLogin, &keys::login(login))
    }

    /// The user a source knows by `external_id`.
    pub fn user_by_external(
        &self,
        source: &SourceName,
        external_id: &str,
    ) -> Result<Option<User>, StoreError> {
        self.by_unique(Table::UsersByExternal, &keys::external(source, external_id))
    }

    /// Every (external id, user) a source has linked, from UsersByExternal, in external-id
    /// byte order. One index scan: the records are not read.
    pub fn source_links(&self, source: &SourceName) -> Result<Vec<(String, UserId)>, StoreError> {
        let prefix = keys::external_prefix(source);
        self.scan_prefix(Table::UsersByExternal, &prefix, false)
            .map(|r| {
                let (k, v) = r?;
                let id = Self::id_in(Table::UsersByExternal, &v, 0)?;
                let ext = String::from_utf8(k[prefix.len()..].to_vec()).map_err(|_| {
                    StoreError::corrupt(Table::UsersByExternal.name(), &k, "not UTF-8")
                })?;
                Ok((ext, UserId(u64::from_be_bytes(id))))
            })
            .collect()
    }

    /// The newest sync report of a source.
    pub fn sync_run(&self, source: &SourceName) -> Result<Option<SyncReport>, StoreError> {
        self.record(Table::SyncRuns, source.as_str().as_bytes())
    }

    /// The newest sync report of every source that has run, by source name.
    pub fn sync_runs(&self) -> Result<Vec<SyncReport>, StoreError> {
        self.all(Table::SyncRuns)
    }

    fn by_unique(&self, index: Table, key: &[u8]) -> Result<Option<User>, StoreError> {
        self.indexed_id(index, key)?
            .map(|id| self.indexed_user(index, key, id))
            .transpose()
    }

    /// Active users with that role, via UsersByRole, in id order.
    /// Whether `u` is an active admin and no other active admin exists: the one account
    /// nothing may demote, delete or deactivate.
    pub fn is_last_admin(&self, u: &User) -> Result<bool, StoreError> {
        if !u.is_admin() {
            return Ok(false);
        }
        Ok(self
            .users_with_role(Role::Admin)?
            .iter()
            .filter(|a| a.is_active())
            .all(|a| a.id == u.id))
    }

    pub fn users_with_role(&self, role: Role) -> Result<Vec<User>, StoreError> {
        self.scan_prefix(Table::UsersByRole, &[keys::role_byte(role)], false)
            .map(|r| {
                let (k, _) = r?;
                let id = Self::id_in(Table::UsersByRole, &k, 1)?;
                self.indexed_user(Table::UsersByRole, &k, UserId(u64::from_be_bytes(id)))
            })
            .collect()
    }

    /// Users in id order after `after`, keeping those `keep` accepts, until `limit` kept.
    /// Returns (items, next cursor = last id if more may exist).
    pub fn users_page(
        &self,
        after: Option<UserId>,
        limit: usize,
        keep: &dyn Fn(&User) -> bool,
    ) -> Result<(Vec<User>, Option<UserId>), StoreError> {
        let from = match after {
            None => 0,
            Some(UserId(u64::MAX)) => return Ok((vec![], None)),
            Some(UserId(a)) => a + 1,
        };
        let iter = self.scan(Table::Users, &keys::u64_key(from), None, false);
        page(iter, Table::Users, limit, keep, |u: &User| u.id)
    }

    pub fn user_count(&self) -> Result<u64, StoreError> {
        count(self.scan(Table::Users, &[], None, false))
    }

    // ---- invites, groups, integrations, bundles, flows ----

    pub fn invite(&self, code_hash: &[u8; 32]) -> Result<Option<Invite>, StoreError> {
        self.record(Table::Invites, code_hash)
    }

    pub fn group(&self, name: &GroupName) -> Result<Option<Group>, StoreError> {
        self.record(Table::Groups, name.as_str().as_bytes())
    }

    /// All groups, by name.
    pub fn groups(&self) -> Result<Vec<Group>, StoreError> {
        self.all(Table::Groups)
    }

    pub fn integration(&self, name: &IntegrationName) -> Result<Option<Integration>, StoreError> {
        self.record(Table::Integrations, name.as_str().as_bytes())
    }

    /// All integrations, by name.
    pub fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.all(Table::Integrations)
    }

    pub fn bundle(&self, name: &BundleName) -> Result<Option<Bundle>, StoreError> {
        self.record(Table::Bundles, name.as_str().as_bytes())
    }

    /// All bundles, by name.
    pub fn bundles(&self) -> Result<Vec<Bundle>, StoreError> {
        self.all(Table::Bundles)
    }

    pub fn flow(&self, name: &FlowName) -> Result<Option<Flow>, StoreError> {
        self.inner.flows.get(name.clone(), || {
            self.record(Table::Flows, name.as_str().as_bytes())
        })
    }

    /// All flows, by name.
    pub fn flows(&self) -> Result<Vec<Flow>, StoreError> {
        self.all(Table::Flows)
    }

    // ---- requests ----

    pub fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError> {
        self.record(Table::Requests, &keys::request(id))
    }

    /// Newest first (descending id), starting below `before` (exclusive) if given.
    pub fn requests_page(
        &self,
        before: Option<RequestId>,
        limit: usize,
        keep: &dyn Fn(&Request) -> bool,
    ) -> Result<(Vec<Request>, Option<RequestId>), StoreError> {
        let to = before.map(keys::request);
        let iter = self.scan(Table::Requests, &[], to.as_ref().map(|k| &k[..]), true);
        page(iter, Table::Requests, limit, keep, |r: &Request| r.id)
    }

    /// Requests of one requester, newest first, via RequestsByRequester.
    pub fn requests_of(
        &self,
        requester: UserId,
        before: Option<RequestId>,
        limit: usize,
        keep: &dyn Fn(&Request) -> bool,
    ) -> Result<(Vec<Request>, Option<RequestId>), StoreError> {
        let iter = self.scan_owned_desc(
            Table::RequestsByRequester,
            requester.0,
            before.map(|b| b.0),
            Table::Requests,
        );
        page(iter, Table::Requests, limit, keep, |r: &Request| r.id)
    }

    /// Walks an `owner ‖ id` index newest first below `before`, yielding the records it points
    /// to as `(record key, record value)`.
    fn scan_owned_desc(
        &self,
        index: Table,
        owner: u64,
        before: Option<u64>,
        table: Table,
    ) -> ScanIter<'_> {
        let prefix = keys::u64_key(owner);
        let end = match before {
            Some(b) => {
                let mut k = prefix.to_vec();
                k.extend_from_slice(&keys::u64_key(b));
                Some(k)
            }
            None => keys::prefix_end(&prefix),
        };
        let iter = self.scan(index, &prefix, end.as_deref(), true);
        Box::new(iter.map(move |r| {
            let (k, _) = r?;
            let id = Self::id_in(index, &k, 8)?;
            let v = self.inner.backend.get(table, &id)?.ok_or_else(|| {
                StoreError::corrupt(
                    index.name(),
                    &k,
                    format!("points to a missing record in {}", table.name()),
                )
            })?;
            Ok((id.to_vec(), v))
        }))
    }

    /// All Pending requests (via RequestsPending), ascending id.
    pub fn pending_requests(&self) -> Result<Vec<Request>, StoreError> {
        self.scan(Table::RequestsPending, &[], None, false)
            .map(|r| {
                let (k, _) = r?;
                self.indexed(Table::RequestsPending, &k, Table::Requests, &k)
            })
            .collect()
    }

    /// The number of Pending requests (a scan of RequestsPending).
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        count(self.scan(Table::RequestsPending, &[], None, false))
    }

    // ---- grants ----

    pub fn grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
        self.record(Table::Grants, &keys::grant(id))
    }

    /// Asked after reading grant `id`: `None` when what was read is on disk already, else the
    /// ticket whose flush puts it there (so a connector call the grant asks for can wait for
    /// exactly what it needs, and for nothing when the grant is settled).
    pub fn grant_unflushed(&self, id: GrantId) -> Option<CommitTicket> {
        if self.inner.group.settled(Table::Grants, &keys::grant(id)) {
            None
        } else {
            Some(self.applied())
        }
    }

    /// The credentials of an Active grant, if its connector issued any.
    pub fn credentials(&self, id: GrantId) -> Result<Option<Credentials>, StoreError> {
        self.record(Table::Credentials, &keys::grant(id))
    }

    /// Newest first (descending id), starting below `before` (exclusive) if given.
    pub fn grants_page(
        &self,
        before: Option<GrantId>,
        limit: usize,
        keep: &dyn Fn(&Grant) -> bool,
    ) -> Result<(Vec<Grant>, Option<GrantId>), StoreError> {
        let to = before.map(keys::grant);
        let iter = self.scan(Table::Grants, &[], to.as_ref().map(|k| &k[..]), true);
        page(iter, Table::Grants, limit, keep, |g: &Grant| g.id)
    }

    /// Grants of one user, newest first, via GrantsByUser.
    pub fn grants_of(
        &self,
        user: UserId,
        before: Option<GrantId>,
        limit: usize,
        keep: &dyn Fn(&Grant) -> bool,
    ) -> Result<(Vec<Grant>, Option<GrantId>), StoreError> {
        let iter = self.scan_owned_desc(
            Table::GrantsByUser,
            user.0,
            before.map(|b| b.0),
            Table::Grants,
        );
        page(iter, Table::Grants, limit, keep, |g: &Grant| g.id)
    }

    /// Grants (Active or Granting) of `user` on exactly `target`, via GrantsBySubject,
    /// ascending id.
    pub fn grants_covering(&self, user: UserId, target: &Target) -> Result<Vec<Grant>, StoreError> {
        let prefix = keys::subject(user, target)?;
        let at = prefix.len();
        self.scan_prefix(Table::GrantsBySubject, &prefix, false)
            .map(|r| {
                let (k, _) = r?;
                let id = Self::id_in(Table::GrantsBySubject, &k, at)?;
                self.indexed(Table::GrantsBySubject, &k, Table::Grants, &id)
            })
            .collect()
    }

    /// The grants Active at `now` (expiry deadline after `now`), in deadline order, from the
    /// Deadlines index: no scan of the grants themselves.
    pub fn active_grant_ids(&self, now: Timestamp) -> Result<Vec<GrantId>, StoreError> {
        let Some(after) = now.0.checked_add(1) else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for d in self.deadlines(Table::Deadlines, Some(Timestamp(after)), None) {
            if let (_, Due::GrantExpiry(id)) = d? {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The number of grants Active at `now`: those whose expiry deadline is after `now` (a
    /// grant at or past its deadline is not active, even before the scheduler has acted), by a
    /// scan of Deadlines keys.
    pub fn active_grant_count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let Some(after) = now.0.checked_add(1) else {
            return Ok(0);
        };
        let mut n = 0;
        for d in self.deadlines(Table::Deadlines, Some(Timestamp(after)), None) {
            if matches!(d?, (_, Due::GrantExpiry(_))) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Grants with connector work owed (granting, revoking, or retrying a failed revocation),
    /// by a scan of the Work index: these are few, so callers may read each one.
    pub fn grants_with_work(&self) -> Result<Vec<GrantId>, StoreError> {
        self.deadlines(Table::Work, None, None)
            .map(|d| d.map(|(_, due)| GrantId(due.id())))
            .collect()
    }

    // ---- deadlines ----

    /// `table`'s deadlines (Deadlines, or owed work in Work) in time order, from `from` and up
    /// to and including `upto` (both inclusive, both optional).
    fn deadlines(
        &self,
        table: Table,
        from: Option<Timestamp>,
        upto: Option<Timestamp>,
    ) -> impl Iterator<Item = Result<(Timestamp, Due), StoreError>> + '_ {
        let start = from.map(Timestamp::to_key_bytes);
        // Keys at `upto` sort below the first key of the next millisecond.
        // (No next millisecond after i64::MAX: then every key qualifies.)
        let end = upto
            .and_then(|t| t.0.checked_add(1))
            .map(|t| Timestamp(t).to_key_bytes());
        let start = start.as_ref().map_or(&[][..], |s| &s[..]);
        self.scan(table, start, end.as_ref().map(|e| &e[..]), false)
            .map(move |r| {
                let (k, _) = r?;
                keys::parse_deadline(&k)
                    .filter(|(_, due)| index::deadline_table(*due) == table)
                    .ok_or_else(|| StoreError::corrupt(table.name(), &k, "not a deadline key"))
            })
    }

    /// The earliest of both tables' first deadlines from `from`.
    fn first_deadline(
        &self,
        from: Option<Timestamp>,
    ) -> Result<Option<(Timestamp, Due)>, StoreError> {
        let work = self.deadlines(Table::Work, from, None).next().transpose()?;
        let other = self
            .deadlines(Table::Deadlines, from, None)
            .next()
            .transpose()?;
        Ok(work.into_iter().chain(other).min())
    }

    /// The earliest deadline (owed work included), if any.
    pub fn next_deadline(&self) -> Result<Option<(Timestamp, Due)>, StoreError> {
        self.first_deadline(None)
    }

    /// Request timeouts, grant expiries and warnings at or before `now`, earliest first, at
    /// most `limit`. Owed connector work is apart, in [`Store::work_due`].
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<(Timestamp, Due)>, StoreError> {
        self.deadlines(Table::Deadlines, None, Some(now))
            .take(limit)
            .collect()
    }

    /// Grants owing a connector attempt at or before `now`, the longest owed first, at most
    /// `limit`.
    pub fn work_due(&self, now: Timestamp, limit: usize) -> Result<Vec<GrantId>, StoreError> {
        self.deadlines(Table::Work, None, Some(now))
            .take(limit)
            .map(|d| d.map(|(_, due)| GrantId(due.id())))
            .collect()
    }

    /// The earliest deadline (owed work included) strictly after `t`: what a scheduler that has
    /// handled everything up to `t` sleeps until.
    pub fn next_deadline_after(
        &self,
        t: Timestamp,
    ) -> Result<Option<(Timestamp, Due)>, StoreError> {
        let Some(from) = t.0.checked_add(1) else {
            return Ok(None);
        };
        self.first_deadline(Some(Timestamp(from)))
    }

    // ---- audit and events ----

    /// `(0, GENESIS_HASH)` when the log is empty.
    pub fn audit_head(&self) -> Result<(u64, String), StoreError> {
        Ok(self
            .meta::<AuditHead>(meta::AUDIT_HEAD)?
            .map_or_else(|| (0, GENESIS_HASH.to_string()), |h| (h.seq, h.hash)))
    }

    /// Ascending from seq > after, keeping those `keep` accepts, until limit kept.
    pub fn audit_page(
        &self,
        after: u64,
        limit: usize,
        keep: &dyn Fn(&AuditEvent) -> bool,
    ) -> Result<(Vec<AuditEvent>, Option<u64>), StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok((vec![], None));
        };
        let iter = self.scan(Table::Audit, &keys::seq(from), None, false);
        page(iter, Table::Audit, limit, keep, |e: &AuditEvent| e.seq)
    }

    /// The newest event's seq (0 when there is none).
    pub fn event_head(&self) -> Result<u64, StoreError> {
        Ok(self.meta::<u64>(meta::EVENT_HEAD)?.unwrap_or(0))
    }

    /// The newest event known to be on disk: what followers of the cursor may be shown, so a
    /// crash can never take back an event someone has already read (its seq would be reused).
    pub fn durable_event_head(&self) -> u64 {
        self.inner.durability.events_upto()
    }

    /// Events with seq > after and on disk, ascending, at most limit.
    pub fn durable_events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let upto = self.durable_event_head();
        let mut out = self.events_after(after, limit)?;
        out.retain(|e| e.seq <= upto);
        Ok(out)
    }

    /// Events with seq > after, ascending, at most limit.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(vec![]);
        };
        self.scan(Table::Events, &keys::seq(from), None, false)
            .take(limit)
            .map(|r| r.and_then(|(k, v)| codec::decode(Table::Events, &k, &v)))
            .collect()
    }

    // ---- access links, status passes, the outbox ----

    pub fn link(&self, id: LinkId) -> Result<Option<AccessLink>, StoreError> {
        self.record(Table::Links, &id.to_be_bytes())
    }

    /// The link whose token hashes to `hash`.
    pub fn link_by_token(&self, hash: &[u8; 32]) -> Result<Option<AccessLink>, StoreError> {
        match self.inner.backend.get(Table::LinksByToken, hash)? {
            None => Ok(None),
            Some(id) => self
                .indexed(Table::LinksByToken, hash, Table::Links, &id)
                .map(Some),
        }
    }

    /// Every link, oldest first (admins make few).
    pub fn links(&self) -> Result<Vec<AccessLink>, StoreError> {
        self.all(Table::Links)
    }

    pub fn token(&self, id: TokenId) -> Result<Option<ApiToken>, StoreError> {
        self.record(Table::Tokens, &id.to_be_bytes())
    }

    /// Every API token ever made, oldest first (people make few; revoked ones stay as evidence).
    pub fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.all(Table::Tokens)
    }

    pub fn link_submission(&self, hash: &[u8; 32]) -> Result<Option<LinkSubmission>, StoreError> {
        self.record(Table::LinkSubmissions, hash)
    }

    /// Every held link form (few: each waits at most a day, and forms are rate-limited).
    pub fn link_submissions(&self) -> Result<Vec<LinkSubmission>, StoreError> {
        self.all(Table::LinkSubmissions)
    }

    pub fn status_pass(&self, hash: &[u8; 32]) -> Result<Option<StatusPass>, StoreError> {
        self.record(Table::StatusPasses, hash)
    }

    /// The last event the mailer has handled; `None` before the mailer first ran.
    pub fn mail_cursor(&self) -> Result<Option<u64>, StoreError> {
        self.meta::<u64>(meta::MAIL_CURSOR)
    }

    /// Every undelivered message, oldest first.
    pub fn outbox(&self) -> Result<Vec<Mail>, StoreError> {
        self.all(Table::Outbox)
    }

    // ---- SCIM ----

    pub fn scim_resource(
        &self,
        kind: ScimKind,
        id: &str,
    ) -> Result<Option<ScimRecord>, StoreError> {
        self.record(Table::ScimResources, &keys::scim(kind, id))
    }

    /// Every stored SCIM resource of one kind, in id byte order.
    pub fn scim_resources(&self, kind: ScimKind) -> Result<Vec<ScimRecord>, StoreError> {
        self.scan_prefix(Table::ScimResources, &[kind.byte()], false)
            .map(|r| r.and_then(|(k, v)| codec::decode(Table::ScimResources, &k, &v)))
            .collect()
    }

    /// The access-link site's CSRF key (hex), once the site first started.
    pub fn csrf_key(&self) -> Result<Option<String>, StoreError> {
        self.meta::<String>(meta::WEB_CSRF_KEY)
    }

    /// The SHA-256 (hex) of the SCIM bearer token, once an admin made one.
    pub fn scim_token_hash(&self) -> Result<Option<String>, StoreError> {
        self.meta::<String>(meta::SCIM_TOKEN)
    }

    // ---- writes ----

    /// Runs `f` under the single writer lock (a std Mutex; one writer at a time, so reads inside
    /// see a stable store). `f` reads through the Txn (point gets see the Txn's own writes) and
    /// stages writes; if it returns Ok, all staged ops are applied atomically in ONE
    /// Backend::apply; if it returns Err, nothing is written. Returns the value and a
    /// CommitTicket (a write that staged nothing gets the newest existing ticket, so waiting on
    /// it still covers the data `f` read). A write that finds `group_apply::PENDING_MAX` keys
    /// waiting for the disk waits for the flusher to take them (one flush): only a writer that
    /// never waits for durability gets that far ahead.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, E>,
    ) -> Result<(T, CommitTicket), E> {
        // The lock guards no data, only turn-taking: a writer that panicked left nothing behind.
        let _turn = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut txn = Txn::new(self);
        let value = f(&mut txn)?;
        let event = txn.last_event();
        let ops = txn.into_ops();
        if ops.is_empty() {
            return Ok((value, CommitTicket(self.inner.durability.current())));
        }
        let touched = Touched::by(&ops);
        // The ticket this write will get, published before its changes become readable.
        self.inner
            .applying
            .store(self.inner.durability.current() + 1, Ordering::SeqCst);
        if let Err(e) = self.inner.backend.apply(ops) {
            // Nothing became readable and no ticket is issued.
            self.inner
                .applying
                .store(self.inner.durability.current(), Ordering::SeqCst);
            return Err(e.into());
        }
        // After the changes became readable, before the writer learns the write is done.
        if touched.users {
            self.inner.users.invalidate();
            self.inner.uids.invalidate();
        }
        if touched.flows {
            self.inner.flows.invalidate();
        }
        if let Some(at) = touched.earliest_deadline {
            self.inner.deadlines.written(at);
        }
        Ok((value, CommitTicket(self.inner.durability.written(event))))
    }

    /// What the scheduler sleeps on: each write marks there the earliest deadline it put (in
    /// Deadlines or Work), after it is readable and before it returns.
    pub fn deadline_watch(&self) -> &DeadlineWatch {
        &self.inner.deadlines
    }

    /// The ticket covering every write whose changes a read may have seen so far, a write in
    /// progress included (its ticket is published before its changes become readable), so
    /// waiting on it makes everything read before this call durable. Takes no lock.
    pub fn applied(&self) -> CommitTicket {
        CommitTicket(
            self.inner
                .applying
                .load(Ordering::SeqCst)
                .max(self.inner.durability.current()),
        )
    }

    /// Waits (async) until everything up to `ticket` is flushed to disk. Group commit: a single
    /// background flusher thread flushes once for all writers waiting at that moment; writers
    /// never flush themselves. A failed flush is returned as [`StoreError::Flush`].
    pub async fn durable(&self, ticket: CommitTicket) -> Result<(), StoreError> {
        self.inner.durability.wait(ticket.0).await
    }

    /// write + durable.
    pub async fn commit<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let (value, ticket) = self.write(f)?;
        self.durable(ticket).await?;
        Ok(value)
    }

    /// Flushes synchronously on the caller's thread (for shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.durability.flush_now(&*self.inner.backend)
    }

    /// How many backend flushes this store has made (flusher thread and [`Store::flush`]).
    pub fn flush_count(&self) -> u64 {
        self.inner.durability.flush_count()
    }
}

/// Counts a scan's items.
fn count(iter: ScanIter<'_>) -> Result<u64, StoreError> {
    let mut n = 0;
    for r in iter {
        r?;
        n += 1;
    }
    Ok(n)
}

/// Decodes records from `iter`, keeps those `keep` accepts until `limit` are kept, and returns
/// them with a cursor (the last kept record's id) when more records may follow.
fn page<T: DeserializeOwned, C>(
    mut iter: ScanIter<'_>,
    table: Table,
    limit: usize,
    keep: &dyn Fn(&T) -> bool,
    cursor: impl Fn(&T) -> C,
) -> Result<(Vec<T>, Option<C>), StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok((out, None));
    }
    for r in iter.by_ref() {
        let (k, v) = r?;
        let rec: T = codec::decode(table, &k, &v)?;
        if keep(&rec) {
            out.push(rec);
            if out.len() == limit {
                break;
            }
        }
    }
    let more = out.len() == limit && iter.next().is_some();
    let next = if more { out.last().map(cursor) } else { None };
    Ok((out, next))
}
