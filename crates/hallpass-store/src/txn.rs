//! A write transaction ([`Txn`]): staged writes in an overlay that point reads consult first,
//! applied by [`Store::write`] as one atomic batch. Invariant: every record put also stages
//! the change to its derived index entries (old entries removed, new ones added), computed from
//! the record's previous version as seen through the overlay.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use hallpass_core::audit::{AuditEntry, AuditEvent};
use hallpass_core::credential::Credentials;
use hallpass_core::event::{Event, EventKind};
use hallpass_core::flow::Flow;
use hallpass_core::grant::{Grant, GrantStatus};
use hallpass_core::identity::SyncReport;
use hallpass_core::integration::{Bundle, Integration};
use hallpass_core::link::{AccessLink, LinkSubmission, StatusPass};
use hallpass_core::outbox::Mail;
use hallpass_core::request::Request;
use hallpass_core::scim::{ScimKind, ScimRecord};
use hallpass_core::token::ApiToken;
use hallpass_core::user::{Group, Invite, User};
use hallpass_core::{
    BundleName, FlowName, GrantId, GroupName, IntegrationName, LinkId, MailId, RequestId,
    SourceName, Timestamp, TokenId, UserId,
};

use crate::backend::{Op, Table};
use crate::codec;
use crate::error::StoreError;
use crate::index::{self, IndexEntry};
use crate::keys::{self, meta};
use crate::store::{AuditHead, Store};

/// The first id handed out by each counter.
const FIRST_USER_ID: u64 = 1;
const FIRST_REQUEST_ID: u64 = 1001;
const FIRST_GRANT_ID: u64 = 1;

/// Point reads' results by (table, key): the value, or `None` where nothing was stored.
type Seen = HashMap<(Table, Vec<u8>), Option<Vec<u8>>>;

pub struct Txn<'a> {
    store: &'a Store,
    /// Staged writes: `Some(value)` puts, `None` deletes.
    overlay: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
    /// What point reads found in the store, so a record read and then rewritten (whose old
    /// version the rewrite reads again to diff its indexes) is fetched once. Nothing else
    /// writes while the transaction holds the writer lock, so these stay current.
    read: RefCell<Seen>,
    /// The seq of the last event this transaction appended.
    last_event: Option<u64>,
}

impl fmt::Debug for Txn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Txn")
            .field("staged", &self.overlay.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Txn<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Txn {
            store,
            overlay: BTreeMap::new(),
            read: RefCell::new(HashMap::new()),
            last_event: None,
        }
    }

    /// The seq of the last event this transaction appended, if any.
    pub(crate) fn last_event(&self) -> Option<u64> {
        self.last_event
    }

    /// The staged writes as one batch, in (table, key) order.
    pub(crate) fn into_ops(self) -> Vec<Op> {
        self.overlay
            .into_iter()
            .map(|((t, k), v)| match v {
                Some(v) => Op::Put(t, k, v),
                None => Op::Delete(t, k),
            })
            .collect()
    }

    // ---- raw access through the overlay ----

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let k = (table, key.to_vec());
        if let Some(staged) = self.overlay.get(&k) {
            return Ok(staged.clone());
        }
        if let Some(seen) = self.read.borrow().get(&k) {
            return Ok(seen.clone());
        }
        let found = self.store.backend().get(table, key)?;
        self.read.borrow_mut().insert(k, found.clone());
        Ok(found)
    }

    fn record<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get(table, key)?
            .map(|v| codec::decode(table, key, &v))
            .transpose()
    }

    fn stage_put(&mut self, table: Table, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.overlay.insert((table, key.into()), Some(value));
    }

    fn stage_delete(&mut self, table: Table, key: impl Into<Vec<u8>>) {
        self.overlay.insert((table, key.into()), None);
    }

    fn put_record<T: Serialize>(&mut self, table: Table, key: impl Into<Vec<u8>>, record: &T) {
        self.stage_put(table, key, codec::encode(record));
    }

    /// Replaces `old` index entries by `new` ones. An entry with an empty value has the
    /// record's own id in its key, so it is removed or written without reading it, and left
    /// alone when in both. An entry with a value (a unique index such as UsersByEmail) is
    /// removed only while the index still holds this record's value there (another record may
    /// since have taken it over), and written unless already present with the same value.
    fn reindex(&mut self, old: Vec<IndexEntry>, new: Vec<IndexEntry>) -> Result<(), StoreError> {
        let new_keys: BTreeSet<(Table, &[u8])> =
            new.iter().map(|e| (e.table, e.key.as_slice())).collect();
        let (gone, kept): (Vec<IndexEntry>, Vec<IndexEntry>) = old
            .into_iter()
            .partition(|e| !new_keys.contains(&(e.table, e.key.as_slice())));
        for e in gone {
            if e.value.is_empty() || self.get(e.table, &e.key)?.as_ref() == Some(&e.value) {
                self.stage_delete(e.table, e.key);
            }
        }
        for e in new {
            // A kept entry with a value is still checked: another record may hold it now, and
            // this write claims it back (the last writer of a unique key wins).
            if e.value.is_empty() && kept.contains(&e) {
                continue;
            }
            if e.value.is_empty() || self.get(e.table, &e.key)?.as_ref() != Some(&e.value) {
                self.stage_put(e.table, e.key, e.value);
            }
        }
        Ok(())
    }

    fn by_unique(&self, index: Table, key: &[u8]) -> Result<Option<User>, StoreError> {
        match self.get(index, key)? {
            None => Ok(None),
            Some(id) => self
                .record(Table::Users, &id)?
                .map(Some)
                .ok_or_else(|| StoreError::corrupt(index.name(), key, "points to a missing user")),
        }
    }

    fn next_id(&mut self, key: &'static [u8], first: u64) -> Result<u64, StoreError> {
        let id = self.record::<u64>(Table::Meta, key)?.unwrap_or(first);
        let next = id.checked_add(1).ok_or_else(|| {
            StoreError::corrupt(Table::Meta.name(), key, "the id counter is exhausted")
        })?;
        self.put_record(Table::Meta, key, &next);
        Ok(id)
    }

    // ---- point reads that see staged writes first ----

    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.record(Table::Users, &keys::user(id))
    }

    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.by_unique(Table::UsersByEmail, &keys::email(email))
    }

    pub fn user_by_uid(&self, uid: u32) -> Result<Option<User>, StoreError> {
        self.by_unique(Table::UsersByUid, &keys::uid(uid))
    }

    pub fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        self.by_unique(Table::UsersByLogin, &keys::login(login))
    }

    pub fn user_by_external(
        &self,
        source: &SourceName,
        external_id: &str,
    ) -> Result<Option<User>, StoreError> {
        self.by_unique(Table::UsersByExternal, &keys::external(source, external_id))
    }

    pub fn invite(&self, code_hash: &[u8; 32]) -> Result<Option<Invite>, StoreError> {
        self.record(Table::Invites, code_hash)
    }

    pub fn group(&self, name: &GroupName) -> Result<Option<Group>, StoreError> {
        self.record(Table::Groups, name.as_str().as_bytes())
    }

    pub fn integration(&self, name: &IntegrationName) -> Result<Option<Integration>, StoreError> {
        self.record(Table::Integrations, name.as_str().as_bytes())
    }

    pub fn bundle(&self, name: &BundleName) -> Result<Option<Bundle>, StoreError> {
        self.record(Table::Bundles, name.as_str().as_bytes())
    }

    /// The flow as this transaction sees it: staged here, or else the store's (decoded once
    /// per change of the Flows table: the writer lock keeps it from changing meanwhile).
    pub fn flow(&self, name: &FlowName) -> Result<Option<Flow>, StoreError> {
        let key = name.as_str().as_bytes();
        if self.overlay.contains_key(&(Table::Flows, key.to_vec())) {
            return self.record(Table::Flows, key);
        }
        self.store.flow(name)
    }

    pub fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError> {
        self.record(Table::Requests, &keys::request(id))
    }

    pub fn grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
        self.record(Table::Grants, &keys::grant(id))
    }

    /// The committed store (for scans; does NOT see this txn's staged writes).
    pub fn store(&self) -> &Store {
        self.store
    }

    // ---- writes ----

    /// Puts a user and its UsersByEmail, UsersByUid and UsersByRole entries. Unique indexes
    /// are last-writer-wins: checking that an e-mail or uid is free is the caller's job.
    pub fn put_user(&mut self, u: &User) -> Result<(), StoreError> {
        let key = keys::user(u.id);
        let old: Option<User> = self.record(Table::Users, &key)?;
        let old_entries = old.as_ref().map(index::user_entries).unwrap_or_default();
        self.reindex(old_entries, index::user_entries(u))?;
        self.put_record(Table::Users, key, u);
        Ok(())
    }

    pub fn put_invite(&mut self, i: &Invite) -> Result<(), StoreError> {
        self.put_record(Table::Invites, i.code_hash, i);
        Ok(())
    }

    pub fn delete_invite(&mut self, code_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.stage_delete(Table::Invites, *code_hash);
        Ok(())
    }

    pub fn put_group(&mut self, g: &Group) -> Result<(), StoreError> {
        self.put_record(Table::Groups, g.name.as_str().as_bytes(), g);
        Ok(())
    }

    pub fn delete_group(&mut self, name: &GroupName) -> Result<(), StoreError> {
        self.stage_delete(Table::Groups, name.as_str().as_bytes());
        Ok(())
    }

    pub fn put_integration(&mut self, i: &Integration) -> Result<(), StoreError> {
        self.put_record(Table::Integrations, i.name.as_str().as_bytes(), i);
        Ok(())
    }

    pub fn delete_integration(&mut self, name: &IntegrationName) -> Result<(), StoreError> {
        self.stage_delete(Table::Integrations, name.as_str().as_bytes());
        Ok(())
    }

    pub fn put_bundle(&mut self, b: &Bundle) -> Result<(), StoreError> {
        self.put_record(Table::Bundles, b.name.as_str().as_bytes(), b);
        Ok(())
    }

    pub fn delete_bundle(&mut self, name: &BundleName) -> Result<(), StoreError> {
        self.stage_delete(Table::Bundles, name.as_str().as_bytes());
        Ok(())
    }

    pub fn put_flow(&mut self, f: &Flow) -> Result<(), StoreError> {
        self.put_record(Table::Flows, f.name.as_str().as_bytes(), f);
        Ok(())
    }

    pub fn delete_flow(&mut self, name: &FlowName) -> Result<(), StoreError> {
        self.stage_delete(Table::Flows, name.as_str().as_bytes());
        Ok(())
    }

    /// Puts a request and its RequestsByRequester, RequestsPending and Deadlines entries.
    pub fn put_request(&mut self, r: &Request) -> Result<(), StoreError> {
        let key = keys::request(r.id);
        let old: Option<Request> = self.record(Table::Requests, &key)?;
        let old_entries = old.as_ref().map(index::request_entries).unwrap_or_default();
        self.reindex(old_entries, index::request_entries(r))?;
        self.put_record(Table::Requests, key, r);
        Ok(())
    }

    /// Puts a grant and its GrantsByUser, GrantsBySubject, Deadlines and Work entries.
    pub fn put_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        let key = keys::grant(g.id);
        let old: Option<Grant> = self.record(Table::Grants, &key)?;
        let old_entries = match &old {
            Some(o) => index::grant_entries(o)?,
            None => vec![],
        };
        self.reindex(old_entries, index::grant_entries(g)?)?;
        self.put_record(Table::Grants, key, g);
        // Credentials live exactly as long as the access they open.
        if old.is_some_and(|o| o.status == GrantStatus::Active) && g.status != GrantStatus::Active {
            self.stage_delete(Table::Credentials, key);
        }
        Ok(())
    }

    /// Stores the credentials a connector issued for an Active grant (replacing older ones).
    pub fn put_credentials(&mut self, id: GrantId, c: &Credentials) -> Result<(), StoreError> {
        self.put_record(Table::Credentials, keys::grant(id), c);
        Ok(())
    }

    /// 1, 2, ...
    pub fn next_user_id(&mut self) -> Result<UserId, StoreError> {
        self.next_id(meta::NEXT_USER_ID, FIRST_USER_ID).map(UserId)
    }

    /// `n` consecutive user ids at once (a sync that creates many people and links their
    /// managers before any of them is written).
    pub fn reserve_user_ids(&mut self, n: u64) -> Result<std::ops::Range<u64>, StoreError> {
        let key = meta::NEXT_USER_ID;
        let first = self
            .record::<u64>(Table::Meta, key)?
            .unwrap_or(FIRST_USER_ID);
        let end = first.checked_add(n).ok_or_else(|| {
            StoreError::corrupt(Table::Meta.name(), key, "the id counter is exhausted")
        })?;
        self.put_record(Table::Meta, key, &end);
        Ok(first..end)
    }

    /// Records a source's newest sync report.
    pub fn put_sync_run(&mut self, source: &SourceName, r: &SyncReport) -> Result<(), StoreError> {
        self.put_record(Table::SyncRuns, source.as_str().as_bytes(), r);
        Ok(())
    }

    /// 1001, 1002, ...
    pub fn next_request_id(&mut self) -> Result<RequestId, StoreError> {
        self.next_id(meta::NEXT_REQUEST_ID, FIRST_REQUEST_ID)
            .map(RequestId)
    }

    /// 1, 2, ...
    pub fn next_grant_id(&mut self) -> Result<GrantId, StoreError> {
        self.next_id(meta::NEXT_GRANT_ID, FIRST_GRANT_ID)
            .map(GrantId)
    }

    /// Appends a sealed audit event chained onto the head (staged head included); returns seq.
    pub fn audit(&mut self, at: Timestamp, entry: AuditEntry) -> Result<u64, StoreError> {
        let head: Option<AuditHead> = self.record(Table::Meta, meta::AUDIT_HEAD)?;
        let (prev_seq, prev_hash) = match head {
            Some(h) => (h.seq, h.hash),
            None => (0, hallpass_core::audit::GENESIS_HASH.to_string()),
        };
        let seq = prev_seq + 1;
        let event = AuditEvent::seal(seq, at, entry, &prev_hash);
        let head = AuditHead {
            seq,
            hash: event.hash.clone(),
        };
        self.put_record(Table::Audit, keys::seq(seq), &event);
        self.put_record(Table::Meta, meta::AUDIT_HEAD, &head);
        Ok(seq)
    }

    /// Appends an event; returns seq.
    pub fn event(
        &mut self,
        at: Timestamp,
        kind: EventKind,
        audience: BTreeSet<UserId>,
    ) -> Result<u64, StoreError> {
        let seq = self
            .record::<u64>(Table::Meta, meta::EVENT_HEAD)?
            .unwrap_or(0)
            + 1;
        let event = Event {
            seq,
            at,
            kind,
            audience,
        };
        self.put_record(Table::Events, keys::seq(seq), &event);
        self.put_record(Table::Meta, meta::EVENT_HEAD, &seq);
        self.last_event = Some(seq);
        Ok(seq)
    }

    // ---- access links, status passes, the outbox ----

    pub fn link(&self, id: LinkId) -> Result<Option<AccessLink>, StoreError> {
        self.record(Table::Links, &id.to_be_bytes())
    }

    /// The link whose token hashes to `hash`.
    pub fn link_by_token(&self, hash: &[u8; 32]) -> Result<Option<AccessLink>, StoreError> {
        match self.get(Table::LinksByToken, hash)? {
            None => Ok(None),
            Some(id) => self.record(Table::Links, &id)?.map(Some).ok_or_else(|| {
                StoreError::corrupt(Table::LinksByToken.name(), hash, "points to a missing link")
            }),
        }
    }

    /// Stores a link and its token index entry (a link's token never changes).
    pub fn put_link(&mut self, l: &AccessLink) -> Result<(), StoreError> {
        let id = l.id.to_be_bytes();
        self.put_record(Table::Links, id, l);
        self.stage_put(Table::LinksByToken, l.token_hash, id.to_vec());
        Ok(())
    }

    /// 1, 2, ...
    pub fn next_link_id(&mut self) -> Result<LinkId, StoreError> {
        self.next_id(meta::NEXT_LINK_ID, 1).map(LinkId)
    }

    pub fn token(&self, id: TokenId) -> Result<Option<ApiToken>, StoreError> {
        self.record(Table::Tokens, &id.to_be_bytes())
    }

    pub fn put_token(&mut self, t: &ApiToken) -> Result<(), StoreError> {
        self.put_record(Table::Tokens, t.id.to_be_bytes(), t);
        Ok(())
    }

    /// 1, 2, ...
    pub fn next_token_id(&mut self) -> Result<TokenId, StoreError> {
        self.next_id(meta::NEXT_TOKEN_ID, 1).map(TokenId)
    }

    pub fn status_pass(&self, hash: &[u8; 32]) -> Result<Option<StatusPass>, StoreError> {
        self.record(Table::StatusPasses, hash)
    }

    pub fn put_status_pass(&mut self, p: &StatusPass) -> Result<(), StoreError> {
        self.put_record(Table::StatusPasses, p.token_hash, p);
        Ok(())
    }

    pub fn link_submission(&self, hash: &[u8; 32]) -> Result<Option<LinkSubmission>, StoreError> {
        self.record(Table::LinkSubmissions, hash)
    }

    pub fn put_link_submission(&mut self, s: &LinkSubmission) -> Result<(), StoreError> {
        self.put_record(Table::LinkSubmissions, s.token_hash, s);
        Ok(())
    }

    pub fn delete_link_submission(&mut self, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.stage_delete(Table::LinkSubmissions, *hash);
        Ok(())
    }

    pub fn mail(&self, id: MailId) -> Result<Option<Mail>, StoreError> {
        self.record(Table::Outbox, &id.to_be_bytes())
    }

    /// Queues (or updates) a message in the outbox.
    pub fn put_mail(&mut self, m: &Mail) -> Result<(), StoreError> {
        self.put_record(Table::Outbox, m.id.to_be_bytes(), m);
        Ok(())
    }

    /// Removes a delivered message.
    pub fn delete_mail(&mut self, id: MailId) -> Result<(), StoreError> {
        self.stage_delete(Table::Outbox, id.to_be_bytes());
        Ok(())
    }

    /// 1, 2, ...
    pub fn next_mail_id(&mut self) -> Result<MailId, StoreError> {
        self.next_id(meta::NEXT_MAIL_ID, 1).map(MailId)
    }

    /// Moves the mailer's event cursor.
    pub fn set_mail_cursor(&mut self, seq: u64) -> Result<(), StoreError> {
        self.put_record(Table::Meta, meta::MAIL_CURSOR, &seq);
        Ok(())
    }

    // ---- SCIM ----

    pub fn scim_resource(
        &self,
        kind: ScimKind,
        id: &str,
    ) -> Result<Option<ScimRecord>, StoreError> {
        self.record(Table::ScimResources, &keys::scim(kind, id))
    }

    /// Stores (or replaces) a SCIM resource.
    pub fn put_scim_resource(&mut self, r: &ScimRecord) -> Result<(), StoreError> {
        self.put_record(Table::ScimResources, keys::scim(r.kind, &r.id), r);
        Ok(())
    }

    pub fn delete_scim_resource(&mut self, kind: ScimKind, id: &str) -> Result<(), StoreError> {
        self.stage_delete(Table::ScimResources, keys::scim(kind, id));
        Ok(())
    }

    /// Sets the SHA-256 (hex) of the SCIM bearer token.
    pub fn set_scim_token_hash(&mut self, hash_hex: &str) -> Result<(), StoreError> {
        self.put_record(Table::Meta, meta::SCIM_TOKEN, &hash_hex);
        Ok(())
    }

    /// Removes the SCIM bearer token: every SCIM request is refused until a new one is set.
    pub fn clear_scim_token(&mut self) -> Result<(), StoreError> {
        self.stage_delete(Table::Meta, meta::SCIM_TOKEN.to_vec());
        Ok(())
    }

    /// The access-link site's CSRF key, once the site first started.
    pub fn csrf_key(&self) -> Result<Option<String>, StoreError> {
        self.record(Table::Meta, meta::WEB_CSRF_KEY)
    }

    pub fn set_csrf_key(&mut self, key_hex: &str) -> Result<(), StoreError> {
        self.put_record(Table::Meta, meta::WEB_CSRF_KEY, &key_hex);
        Ok(())
    }

    pub fn scim_token_hash(&self) -> Result<Option<String>, StoreError> {
        self.record(Table::Meta, meta::SCIM_TOKEN)
    }
}
