//! The broker: the daemon's shared state (store, clock, config) and the commit path every
//! change goes through. Invariants: a change is acknowledged only after `Store::commit` made it
//! durable; after every commit the event cursor is woken, and the scheduler too when the commit
//! wrote a deadline before the one it sleeps until; store failures
//! reach clients only as an incident id that is also in the log.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use hallpass_core::audit::{Actor, Source};
use hallpass_core::policy::Directory;
use hallpass_core::user::{Role, User};
use hallpass_core::{Clock, DomainError, GrantId, GroupName, Timestamp, UserId};
use hallpass_proto::ApiError;
use hallpass_store::{CommitTicket, Store, StoreError, Txn};
use tokio::sync::{Notify, Semaphore, watch};

use crate::config::Config;

/// Why a handler stopped: a designed API error, or a store failure to be logged.
#[derive(Debug)]
pub enum Fail {
    Api(ApiError),
    Store(StoreError),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail::Api(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<DomainError> for Fail {
    fn from(e: DomainError) -> Self {
        Fail::Api(e.into())
    }
}

impl Fail {
    /// The wire error. Store failures are logged with a fresh incident id.
    pub fn into_api(self) -> ApiError {
        match self {
            Fail::Api(e) => e,
            Fail::Store(e) => {
                let incident = random_hex(4);
                tracing::error!(%incident, error = %e, "store failure");
                ApiError::Internal { incident }
            }
        }
    }
}

/// Random lowercase hex of `bytes` random bytes from the OS.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("invariant: the OS random source is available");
    hex::encode(buf)
}

/// The authenticated caller of one RPC.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub source: Source,
    /// The API token a remote caller authenticated with; recorded in every audit entry.
    pub via: Option<hallpass_core::TokenId>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.user.id,
            email: self.user.email.clone(),
            via: self.via,
        }
    }

    pub fn id(&self) -> UserId {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }

    pub fn sees_everything(&self) -> bool {
        self.user.is_active() && self.user.role.sees_everything()
    }
}

pub struct Broker {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Config,
    /// Wakes the scheduler: a deadline may have moved or connector work is owed.
    wake: Notify,
    /// Mail queued without an event to announce it (the mailer also follows events).
    mail: Notify,
    /// The newest event sequence number, for long-polling readers.
    events: watch::Sender<u64>,
    /// Grants with a connector call running now.
    pub(crate) inflight: Mutex<HashSet<GrantId>>,
    pub(crate) connector_slots: Arc<Semaphore>,
    /// Identity-sync runs in progress and staged file imports.
    pub(crate) sync: crate::sync::SyncState,
    /// Failed API-token authentications per client address (remote listener).
    pub(crate) auth_failures: crate::web::AddressLimit,
    started_at: Timestamp,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

impl Broker {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Result<Arc<Broker>, StoreError> {
        let head = store.event_head()?;
        let started_at = clock.now();
        let slots = config.connectors.max_concurrent;
        let auth_failures = crate::web::AddressLimit::new(config.remote.failed_auth_per_minute);
        Ok(Arc::new(Broker {
            store,
            clock,
            config,
            wake: Notify::new(),
            mail: Notify::new(),
            events: watch::channel(head).0,
            inflight: Mutex::new(HashSet::new()),
            connector_slots: Arc::new(Semaphore::new(slots)),
            sync: crate::sync::SyncState::default(),
            auth_failures,
            started_at,
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// Tells the scheduler to look at the deadline index again.
    pub fn wake_scheduler(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn scheduler_woken(&self) {
        self.wake.notified().await;
    }

    /// Tells the mailer to look at the outbox now.
    pub fn wake_mailer(&self) {
        self.mail.notify_one();
    }

    pub(crate) async fn mailer_woken(&self) {
        self.mail.notified().await;
    }

    pub fn subscribe_events(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    /// Runs `f` as one durable store transaction, then wakes event readers (and the scheduler,
    /// if `f` wrote a deadline before its next one).
    pub async fn commit<T>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let out = self.store.commit(f).await?;
        self.after_commit();
        Ok(out)
    }

    /// [`Broker::commit`] in two halves for work that need not hold anything while the flush
    /// runs (recording a connector's outcome): `f` is applied now, and [`Broker::durable`]
    /// with the ticket waits for the disk and then wakes event readers.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, Fail>,
    ) -> Result<CommitTicket, Fail> {
        Ok(self.store.write(f)?.1)
    }

    /// Waits until `ticket` is on disk, then wakes event readers (and the scheduler, if a
    /// deadline before its next one was written).
    pub async fn durable(&self, ticket: CommitTicket) -> Result<(), Fail> {
        self.store.durable(ticket).await?;
        self.after_commit();
        Ok(())
    }

    /// [`Broker::commit`] for callers with their own error type (the web site's refusals).
    pub async fn commit_with<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let out = self.store.commit(f).await?;
        self.after_commit();
        Ok(out)
    }

    fn after_commit(&self) {
        let head = self.store.durable_event_head();
        self.events.send_if_modified(|h| {
            let changed = head > *h;
            *h = (*h).max(head);
            changed
        });
        // Only a deadline earlier than the scheduler's next one changes what it would do (it
        // is woken directly when connector work ends): see `hallpass_store::DeadlineWatch`.
        if self.store.deadline_watch().should_wake() {
            self.wake.notify_one();
        }
    }

    /// The e-mails of the active admins, for friendly refusals.
    pub fn admin_emails(&self) -> Vec<String> {
        self.store
            .users_with_role(Role::Admin)
            .map(|v| v.into_iter().map(|u| u.email).collect())
            .unwrap_or_default()
    }

    /// A refusal for a non-admin calling an admin operation.
    pub fn admins_only(&self, what: &str) -> Fail {
        Fail::Api(ApiError::Forbidden {
            why: format!("{what} is for admins."),
            admins: self.admin_emails(),
            hint: Some(
                "To get access to something, see what you can request with `hallpass flows list` and ask with \
                 `hallpass request --flow FLOW --resource …`; an admin can change your role."
                    .into(),
            ),
        })
    }

    /// Admins only.
    pub fn require_admin(&self, caller: &Caller, what: &str) -> Result<(), Fail> {
        if caller.is_admin() {
            Ok(())
        } else {
            Err(self.admins_only(what))
        }
    }

    /// Admins and auditors.
    pub fn require_reader(&self, caller: &Caller, what: &str) -> Result<(), Fail> {
        if caller.sees_everything() {
            Ok(())
        } else {
            Err(Fail::Api(ApiError::Forbidden {
                why: format!("{what} is for admins and auditors."),
                admins: self.admin_emails(),
                hint: Some(
                    "`hallpass requests` and `hallpass grants` show your own requests and access."
                        .into(),
                ),
            }))
        }
    }

    pub fn directory(&self) -> StoreDirectory<'_> {
        StoreDirectory(&self.store)
    }
}

/// Policy's view of people, read from the committed store.
pub struct StoreDirectory<'a>(&'a Store);

impl Directory for StoreDirectory<'_> {
    fn user(&self, id: UserId) -> Option<User> {
        self.0.user(id).ok().flatten()
    }

    fn group_members(&self, group: &GroupName) -> BTreeSet<UserId> {
        self.0
            .group(group)
            .ok()
            .flatten()
            .map(|g| g.members)
            .unwrap_or_default()
    }

    fn admins(&self) -> BTreeSet<UserId> {
        self.0
            .users_with_role(Role::Admin)
            .map(|v| v.into_iter().map(|u| u.id).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // in tests a panic is the failure report
mod tests {
    use std::time::Duration;

    use futures::FutureExt;
    use hallpass_core::audit::AuditEntry;
    use hallpass_core::grant::Grant;
    use hallpass_core::{GrantId, ManualClock, RequestId, Timestamp, UserId};

    use super::*;

    fn broker() -> Arc<Broker> {
        let store = Store::open_temporary().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        Broker::new(store, clock, Config::default()).unwrap()
    }

    /// A grant owing its connector call from `at` (a deadline in the Work index).
    async fn owe_work(b: &Broker, id: u64, at: i64) {
        let g = Grant::new(
            GrantId(id),
            RequestId(1001),
            UserId(1),
            "pg/orders/read".parse().expect("target"),
            Duration::from_secs(60),
            Timestamp(at),
        );
        b.commit(|t| Ok(t.put_grant(&g)?)).await.unwrap();
    }

    fn woken(b: &Broker) -> bool {
        b.scheduler_woken().now_or_never().is_some()
    }

    #[tokio::test]
    async fn a_commit_wakes_the_sleeping_scheduler_only_for_an_earlier_deadline() {
        let b = broker();
        let watch = b.store().deadline_watch();
        watch.looks();
        assert!(watch.sleeps(Some(Timestamp(10_000))));
        // No deadline, then a later one: it sleeps on.
        b.commit(|t| {
            let e = AuditEntry::new(Actor::System, Source::System, "test.note", "-", "");
            Ok(t.audit(Timestamp(0), e)?)
        })
        .await
        .unwrap();
        owe_work(&b, 1, 20_000).await;
        assert!(!woken(&b));
        // An earlier one wakes it.
        owe_work(&b, 2, 5_000).await;
        assert!(woken(&b));
    }

    #[tokio::test]
    async fn a_deadline_written_while_the_scheduler_looks_keeps_it_awake() {
        let b = broker();
        let watch = b.store().deadline_watch();
        watch.looks();
        // Written after the step read the indexes, before it chose to sleep until 10 s.
        owe_work(&b, 1, 5_000).await;
        assert!(!watch.sleeps(Some(Timestamp(10_000))));
        // The next look starts afresh.
        let _ = woken(&b);
        watch.looks();
        assert!(watch.sleeps(Some(Timestamp(10_000))));
        assert!(!woken(&b));
    }
}
