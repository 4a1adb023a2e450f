//! An in-process daemon for tests: a sled store in a tempdir, a [`ManualClock`], the expiry
//! scheduler, and an `exec` integration whose commands are small `/bin/sh` scripts that log
//! every call and keep a per-(user, target) state file so `verify` can answer present/absent.
//! Invariants: nothing here sleeps to synchronise (waits poll a condition up to a deadline and
//! fail with what they waited for); nothing reads or changes the process environment or HOME.

use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hallpass_core::audit::{AuditEvent, Source};
use hallpass_core::event::Event;
use hallpass_core::flow::{
    Approval, ApprovalRule, Approver, Flow, FlowTargets, Requestors, Trigger,
};
use hallpass_core::grant::GrantStatus;
use hallpass_core::integration::{Connector, ExecConfig, Integration, ResourceDef, Target};
use hallpass_core::user::Role;
use hallpass_core::{
    Clock, FlowName, GrantId, GroupName, IntegrationName, ManualClock, Timestamp, UserId,
};
use hallpass_daemon::{Broker, Config};
use hallpass_proto::{
    ApiError, AuditQuery, GrantView, HallpassClient, InviteArgs, NewRequest, PutMode, RequestView,
    SignupArgs, UserRef, UserView,
};
use hallpass_store::{Store, StoreOptions};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where every test clock starts (2027-01-15T08:00:00Z).
pub const T0: Timestamp = Timestamp(1_800_000_000_000);
/// The OS user that signs up as the first admin.
pub const ADMIN_UID: u32 = 1000;
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// The exec integration every daemon gets from [`TestDaemon::start`].
pub const INTEGRATION: &str = "files";
/// How long a wait may take before the test fails. Generous: it only matters when broken.
pub const WAIT: Duration = Duration::from_secs(20);

pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);

/// A fresh RPC context (tarpc's default 10 s deadline).
pub fn ctx() -> tarpc::context::Context {
    tarpc::context::current()
}

/// Unwrapping RPC answers with a message that says what was being done.
pub trait Answer<T> {
    /// The value; fails the test on a transport or API error.
    fn done(self, what: &str) -> T;
    /// The API error; fails the test when the call succeeded or the transport failed.
    fn refused(self, what: &str) -> ApiError;
}

impl<T: std::fmt::Debug> Answer<T> for Result<Result<T, ApiError>, tarpc::client::RpcError> {
    fn done(self, what: &str) -> T {
        match self {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{what}: refused with {e:?} ({e})"),
            Err(e) => panic!("{what}: transport error {e}"),
        }
    }

    fn refused(self, what: &str) -> ApiError {
        match self {
            Ok(Err(e)) => e,
            Ok(Ok(v)) => panic!("{what}: expected a refusal, got {v:?}"),
            Err(e) => panic!("{what}: transport error {e}"),
        }
    }
}

/// How often [`wait_for`] checks its condition. The conditions are reads over RPC or of the
/// store with nothing to subscribe to, so they are polled on this cadence; how long a wait lasts
/// is decided by the condition and its deadline, never by this.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Polls `check` until it yields a value, failing the test at the deadline with `what`.
pub async fn wait_for<T, F, Fut>(what: impl Display, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut poll = tokio::time::interval(POLL_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {WAIT:?} waiting for: {what}");
        }
    }
}

/// Polls `cond` until it holds, failing the test at the deadline with `what`.
pub async fn wait_until<F, Fut>(what: impl Display, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, || {
        let f = cond();
        async move { f.await.then_some(()) }
    })
    .await;
}

pub fn target(resource: &str, permission: &str) -> Target {
    Target {
        integration: IntegrationName::new(INTEGRATION).expect("invariant: a slug"),
        resource: resource.into(),
        permission: permission.into(),
    }
}

pub fn group_name(name: &str) -> GroupName {
    GroupName::new(name).expect("test group names are slugs")
}

pub fn email_ref(email: &str) -> UserRef {
    UserRef::Email(email.into())
}

/// A self-serve flow for everyone, offering every target of the exec integration: 1 h by
/// default, at most 8 h, pending for 24 h, justification required, no self-approval.
pub fn flow(name: &str, rule: ApprovalRule, approvers: Vec<Approver>) -> Flow {
    Flow {
        name: FlowName::new(name).expect("test flow names are slugs"),
        enabled: true,
        trigger: Trigger::SelfServe,
        requestors: Requestors {
            everyone: true,
            users: vec![],
            groups: vec![],
        },
        targets: FlowTargets {
            bundles: vec![],
            resources: all_targets(),
        },
        approval: Approval { rule, approvers },
        max_duration: 8 * HOUR,
        default_duration: HOUR,
        pending_ttl: 24 * HOUR,
        justification_required: true,
        approver_reason_required: false,
        allow_self_approval: false,
        description: String::new(),
        updated_at: T0,
        on_eligibility_lost: Default::default(),
    }
}

pub fn auto_flow(name: &str) -> Flow {
    flow(name, ApprovalRule::Auto, vec![])
}

/// Every target the exec integration declares.
pub fn all_targets() -> Vec<Target> {
    vec![
        target("db", "read"),
        target("db", "write"),
        target("ssh", "login"),
        target("logs", "read"),
    ]
}

const KEY: &str = r#"key=$(printf '%s' "$doc" | sed -n 's/.*"user":{"id":\([0-9]*\),.*"integration":"\([^"]*\)","resource":"\([^"]*\)","permission":"\([^"]*\)".*/u\1-\2-\3-\4/p'); [ -n "$key" ] || { echo "no grant key in $doc" >&2; exit 2; }"#;

/// `sh -c SCRIPT hallpass-exec LOG STATE_DIR FAIL_FLAG` with the grant document on stdin.
fn exec_argv(body: &str, log: &Path, state: &Path, flag: &Path) -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("doc=$(cat); {KEY}; {body}"),
        "hallpass-exec".into(),
        log.display().to_string(),
        state.display().to_string(),
        flag.display().to_string(),
    ]
}

/// One call of the exec integration's grant or revoke command, as logged.
#[derive(Clone, Debug)]
pub struct ExecCall {
    /// `grant`, `revoke`, or `revoke_refused` (the fail flag was set).
    pub action: String,
    pub doc: Value,
}

impl ExecCall {
    pub fn grant_id(&self) -> Option<u64> {
        self.doc["grant_id"].as_u64()
    }
}

/// The expiry task and how to stop it. Dropping it tells the task to stop.
struct Scheduler {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Paths and settings that outlive one broker (for restarts).
struct Layout {
    dir: TempDir,
    clock: ManualClock,
    config: Config,
    grants_log: PathBuf,
    exec_state: PathBuf,
    revoke_fail_flag: PathBuf,
}

/// The daemon in-process: broker, clock and tempdir, with the scheduler running unless said
/// otherwise.
pub struct TestDaemon {
    pub broker: Arc<Broker>,
    pub clock: ManualClock,
    /// Holds the store (`store/`), the exec log and state. Removed on drop.
    pub dir: TempDir,
    /// One line per exec grant/revoke call: `grant <json>`, `revoke <json>`, `revoke_refused <json>`.
    pub grants_log: PathBuf,
    /// One file per (user, target) that currently has access on the "target system".
    pub exec_state: PathBuf,
    /// While this file exists, the revoke command fails.
    pub revoke_fail_flag: PathBuf,
    config: Config,
    scheduler: Option<Scheduler>,
}

/// A daemon that was shut down; its store, clock and exec log are kept for a restart.
pub struct Parked {
    layout: Layout,
}

/// The daemon config tests use: short revocation retries so backoff stays readable.
pub fn test_config() -> Config {
    let mut c = Config {
        organisation: "hallpass tests".into(),
        ..Config::default()
    };
    c.expiry.retry_initial = Duration::from_secs(10);
    c.expiry.retry_max = Duration::from_secs(60);
    // Links can be created (the site itself is started only by tests that serve it).
    c.web.public_url = Some("http://127.0.0.1:9".into());
    // So is a SCIM token.
    c.scim.enabled = true;
    c
}

impl TestDaemon {
    /// A fresh daemon with no users and no policy, scheduler running.
    pub async fn bare() -> TestDaemon {
        let mut d = Self::open(Self::layout(test_config()));
        d.start_scheduler().await;
        d
    }

    /// [`TestDaemon::start`] with the test config changed by `change` first.
    pub async fn start_configured(change: impl FnOnce(&mut Config)) -> TestDaemon {
        let mut config = test_config();
        change(&mut config);
        let mut d = Self::open(Self::layout(config));
        d.start_scheduler().await;
        d.signup_admin().await;
        d.put_exec_integration().await;
        d
    }

    /// A fresh daemon whose manual clock starts at `start` (e.g. the real time, for targets
    /// such as PostgreSQL that judge `VALID UNTIL` by their own clock), scheduler running.
    pub async fn bare_at(start: Timestamp) -> TestDaemon {
        let mut layout = Self::layout(test_config());
        layout.clock = ManualClock::new(start);
        let mut d = Self::open(layout);
        d.start_scheduler().await;
        d
    }

    /// A fresh daemon without a scheduler (tests that serve it themselves start one via `serve`).
    pub fn bare_unscheduled() -> TestDaemon {
        Self::open(Self::layout(test_config()))
    }

    /// A daemon with the admin signed up (uid [`ADMIN_UID`]) and the exec integration in place.
    pub async fn start() -> TestDaemon {
        let d = Self::bare().await;
        d.signup_admin().await;
        d.put_exec_integration().await;
        d
    }

    fn layout(config: Config) -> Layout {
        let dir = tempfile::Builder::new()
            .prefix("hallpass-test-")
            .tempdir()
            .expect("create a tempdir");
        let exec_state = dir.path().join("exec-state");
        std::fs::create_dir(&exec_state).expect("create the exec state dir");
        Layout {
            grants_log: dir.path().join("grants.log"),
            revoke_fail_flag: dir.path().join("revoke-fails"),
            exec_state,
            clock: ManualClock::new(T0),
            config,
            dir,
        }
    }

    fn open(l: Layout) -> TestDaemon {
        let store = Store::open(
            &l.dir.path().join("store"),
            StoreOptions {
                cache_bytes: 8 << 20,
            },
        )
        .expect("open the store");
        let broker = Broker::new(store, Arc::new(l.clock.clone()), l.config.clone())
            .expect("start the broker");
        TestDaemon {
            broker,
            clock: l.clock,
            dir: l.dir,
            grants_log: l.grants_log,
            exec_state: l.exec_state,
            revoke_fail_flag: l.revoke_fail_flag,
            config: l.config,
            scheduler: None,
        }
    }

    /// What `serve` does before it accepts connections: handle everything overdue, then run the
    /// scheduler task.
    pub async fn start_scheduler(&mut self) {
        assert!(self.scheduler.is_none(), "the scheduler is already running");
        hallpass_daemon::expiry::step(&self.broker)
            .await
            .unwrap_or_else(|e| panic!("catch-up step failed: {}", e.into_api()));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(hallpass_daemon::expiry::run(self.broker.clone(), stop_rx));
        self.scheduler = Some(Scheduler { stop, task });
    }

    /// Stops the scheduler task and waits for it to end (connector work already started goes on).
    pub async fn stop_scheduler(&mut self) {
        if let Some(mut s) = self.scheduler.take() {
            let _ = s.stop.send(true);
            tokio::time::timeout(WAIT, &mut s.task)
                .await
                .expect("the scheduler stops")
                .expect("the scheduler did not panic");
        }
    }

    /// Stops the daemon like a shutdown: the scheduler ends, every task holding the broker
    /// finishes (drop your clients first), and the store is closed.
    pub async fn shut_down(mut self) -> Parked {
        self.stop_scheduler().await;
        let broker = self.broker.clone();
        wait_until(
            "every task holding the broker to finish (are clients still alive?)",
            || {
                let n = Arc::strong_count(&broker);
                async move { n == 2 }
            },
        )
        .await;
        drop(broker);
        let TestDaemon {
            broker,
            clock,
            dir,
            grants_log,
            exec_state,
            revoke_fail_flag,
            config,
            scheduler: _,
        } = self;
        broker.store().flush().expect("final flush");
        assert_eq!(Arc::strong_count(&broker), 1, "the broker is still shared");
        drop(broker);
        Parked {
            layout: Layout {
                dir,
                clock,
                config,
                grants_log,
                exec_state,
                revoke_fail_flag,
            },
        }
    }

    /// A connection acting as OS user `uid`.
    pub fn client(&self, uid: u32) -> HallpassClient {
        hallpass_daemon::connect_in_memory(&self.broker, uid)
    }

    pub fn admin(&self) -> HallpassClient {
        self.client(ADMIN_UID)
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock and wakes the scheduler.
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
        self.broker.wake_scheduler();
    }

    /// Moves the clock to `t` (never backwards) and wakes the scheduler.
    pub fn advance_to(&self, t: Timestamp) {
        assert!(t >= self.now(), "the clock only moves forward");
        self.clock.set(t);
        self.broker.wake_scheduler();
    }

    pub async fn signup_admin(&self) -> UserView {
        self.admin()
            .signup(
                ctx(),
                SignupArgs {
                    email: ADMIN_EMAIL.into(),
                    name: "Ada Admin".into(),
                    source: Source::Cli,
                },
            )
            .await
            .done("signup of the first admin")
    }

    pub fn exec_integration(&self, name: &str) -> Integration {
        let (log, state, flag) = (&self.grants_log, &self.exec_state, &self.revoke_fail_flag);
        Integration {
            name: IntegrationName::new(name).expect("test integration names are slugs"),
            connector: Connector::Exec(ExecConfig {
                grant: exec_argv(
                    r#"printf 'grant %s\n' "$doc" >> "$1"; : > "$2/$key""#,
                    log,
                    state,
                    flag,
                ),
                revoke: exec_argv(
                    r#"if [ -e "$3" ]; then printf 'revoke_refused %s\n' "$doc" >> "$1"; echo "revoke refused: $3 exists" >&2; exit 1; fi; printf 'revoke %s\n' "$doc" >> "$1"; rm -f "$2/$key""#,
                    log,
                    state,
                    flag,
                ),
                verify: Some(exec_argv(r#"[ -e "$2/$key" ]"#, log, state, flag)),
                timeout: Duration::from_secs(30),
                secret_env: Default::default(),
            }),
            resources: vec![
                ResourceDef {
                    name: "db".into(),
                    permissions: vec!["read".into(), "write".into()],
                    description: String::new(),
                },
                ResourceDef {
                    name: "ssh".into(),
                    permissions: vec!["login".into()],
                    description: String::new(),
                },
                ResourceDef {
                    name: "logs".into(),
                    permissions: vec!["read".into()],
                    description: String::new(),
                },
            ],
            description: "test exec integration".into(),
            updated_at: T0,
        }
    }

    pub async fn put_exec_integration(&self) {
        self.admin()
            .put_integration(ctx(), self.exec_integration(INTEGRATION), PutMode::Create)
            .await
            .done("create the exec integration");
    }

    /// Invites `email` as `role` and accepts the invite as OS user `uid`.
    pub async fn add_user(&self, uid: u32, email: &str, role: Role) -> UserView {
        let invite = self
            .admin()
            .invite_user(
                ctx(),
                InviteArgs {
                    email: email.into(),
                    name: format!("User {uid}"),
                    role,
                    phone: None,
                    expires_in_secs: None,
                },
            )
            .await
            .done(&format!("invite {email}"));
        self.client(uid)
            .accept_invite(ctx(), invite.code)
            .await
            .done(&format!("accept the invite of {email} as uid {uid}"))
    }

    pub async fn add_group(&self, name: &str, members: &[&UserView]) -> GroupName {
        let admin = self.admin();
        let g = group_name(name);
        admin
            .create_group(ctx(), g.clone(), format!("group {name}"))
            .await
            .done(&format!("create group {name}"));
        for m in members {
            admin
                .add_member(ctx(), g.clone(), UserRef::Id(m.id))
                .await
                .done(&format!("add {} to {name}", m.email));
        }
        g
    }

    pub async fn put_flow(&self, f: Flow) -> Flow {
        let what = format!("create flow {}", f.name);
        self.admin()
            .put_flow(ctx(), f, PutMode::Create)
            .await
            .done(&what)
    }

    /// Submits a request as `uid` with a reason.
    pub async fn request(
        &self,
        uid: u32,
        flow: &str,
        t: &Target,
        duration: Option<Duration>,
    ) -> RequestView {
        self.client(uid)
            .submit_request(ctx(), new_request(flow, t, duration))
            .await
            .done(&format!("uid {uid} requests {t} through {flow}"))
    }

    /// The grant as an admin sees it now.
    pub async fn grant(&self, id: GrantId) -> GrantView {
        self.admin()
            .get_grant(ctx(), id)
            .await
            .done(&format!("get grant {id}"))
    }

    /// Waits until grant `id` reads as `status`.
    pub async fn wait_grant(&self, id: GrantId, status: GrantStatus) -> GrantView {
        let admin = self.admin();
        wait_for(format!("grant {id} to be {status}"), || {
            let admin = admin.clone();
            async move {
                let g = admin
                    .get_grant(ctx(), id)
                    .await
                    .done(&format!("get grant {id}"));
                (g.status == status).then_some(g)
            }
        })
        .await
    }

    /// Submits through an auto flow as `uid` and waits until the one grant is Active.
    pub async fn active_grant(
        &self,
        uid: u32,
        flow: &str,
        t: &Target,
        duration: Option<Duration>,
    ) -> GrantView {
        let req = self.request(uid, flow, t, duration).await;
        assert_eq!(
            req.grants.len(),
            1,
            "auto request {} has one grant: {req:?}",
            req.id
        );
        self.wait_grant(req.grants[0].id, GrantStatus::Active).await
    }

    /// Every exec call so far, in order.
    pub fn exec_log(&self) -> Vec<ExecCall> {
        let text = match std::fs::read_to_string(&self.grants_log) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("read {}: {e}", self.grants_log.display()),
        };
        text.lines()
            .map(|line| {
                let (action, json) = line
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("malformed exec log line {line:?}"));
                let doc = serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("exec log line {line:?}: {e}"));
                ExecCall {
                    action: action.into(),
                    doc,
                }
            })
            .collect()
    }

    /// How many times the exec integration ran `action` for grant `id`.
    pub fn exec_calls(&self, action: &str, id: GrantId) -> usize {
        self.exec_log()
            .iter()
            .filter(|c| c.action == action && c.grant_id() == Some(id.0))
            .count()
    }

    /// Whether the "target system" currently gives `user` access to `t`.
    pub fn target_has_access(&self, user: UserId, t: &Target) -> bool {
        self.exec_state
            .join(format!(
                "u{}-{}-{}-{}",
                user.0, t.integration, t.resource, t.permission
            ))
            .exists()
    }

    /// Makes the revoke command fail (true) or work (false).
    pub fn set_revoke_failing(&self, failing: bool) {
        if failing {
            std::fs::write(&self.revoke_fail_flag, b"").expect("create the revoke fail flag");
        } else {
            std::fs::remove_file(&self.revoke_fail_flag).expect("remove the revoke fail flag");
        }
    }

    /// Audit events whose action is exactly `action`, oldest first (read as the admin).
    pub async fn audit(&self, action: &str) -> Vec<AuditEvent> {
        self.audit_matching(action)
            .await
            .into_iter()
            .filter(|e| e.entry.action == action)
            .collect()
    }

    /// The whole audit log, oldest first (read as the admin).
    pub async fn audit_log(&self) -> Vec<AuditEvent> {
        self.audit_matching("").await
    }

    /// Audit events whose action contains `action` (the daemon's filter), oldest first.
    async fn audit_matching(&self, action: &str) -> Vec<AuditEvent> {
        let admin = self.admin();
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = admin
                .list_audit(
                    ctx(),
                    AuditQuery {
                        action: Some(action.into()),
                        after,
                        limit: 1000,
                        ..AuditQuery::default()
                    },
                )
                .await
                .done("list the audit log");
            out.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => return out,
            }
        }
    }

    /// The audit log's head sequence number, read from the store.
    pub fn audit_head(&self) -> u64 {
        self.broker
            .store()
            .audit_head()
            .expect("read the audit head")
            .0
    }

    /// The event log's head sequence number, read from the store.
    pub fn event_head(&self) -> u64 {
        self.broker
            .store()
            .event_head()
            .expect("read the event head")
    }

    /// Every event `uid` may see, oldest first.
    pub async fn events_for(&self, uid: u32) -> Vec<Event> {
        // The cursor serves only events on disk; a record read a moment ago (e.g. a grant that
        // just turned Active) may be ahead of the flush that makes its event durable.
        let store = self.broker.store();
        wait_until("every written event to be durable", || async {
            store
                .event_head()
                .is_ok_and(|h| store.durable_event_head() >= h)
        })
        .await;
        let c = self.client(uid);
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let batch = c
                .events_since(ctx(), cursor, 1000, 0)
                .await
                .done(&format!("events for uid {uid}"));
            if batch.events.is_empty() {
                return out;
            }
            cursor = batch.cursor;
            out.extend(batch.events);
        }
    }

    /// Verifies the audit hash chain as the admin and checks it is intact and non-empty.
    pub async fn assert_audit_intact(&self) {
        let v = self
            .admin()
            .verify_audit(ctx())
            .await
            .done("verify the audit log");
        assert!(v.broken_at.is_none(), "the audit chain is broken: {v:?}");
        assert!(
            v.checked > 0 && v.checked == v.head_seq,
            "verification covers the whole log: {v:?}"
        );
        assert_eq!(
            v.head_seq,
            self.audit_head(),
            "verification reaches the stored head"
        );
    }
}

impl Parked {
    pub fn clock(&self) -> &ManualClock {
        &self.layout.clock
    }

    /// Reopens the same store with a new broker. The scheduler is not running: call
    /// `hallpass_daemon::expiry::step` and then [`TestDaemon::start_scheduler`] as `serve` would.
    pub fn reopen(self) -> TestDaemon {
        TestDaemon::open(self.layout)
    }
}

pub fn new_request(flow: &str, t: &Target, duration: Option<Duration>) -> NewRequest {
    NewRequest {
        flow: FlowName::new(flow).expect("test flow names are slugs"),
        bundle: None,
        targets: vec![t.clone()],
        duration_secs: duration.map(|d| d.as_secs()),
        reason: Some("ticket OPS-1".into()),
        source: Source::Cli,
    }
}

/// The grant of a request that has exactly one.
pub fn only_grant(r: &RequestView) -> GrantId {
    assert_eq!(
        r.grants.len(),
        1,
        "request {} has exactly one grant: {r:?}",
        r.id
    );
    r.grants[0].id
}

/// Asserts an error is of the given kind, showing the error when it is not.
#[macro_export]
macro_rules! assert_api_err {
    ($err:expr, $pat:pat $(if $guard:expr)? $(,)?) => {{
        let e = $err;
        assert!(matches!(e, $pat $(if $guard)?), "expected {}, got {e:?}", stringify!($pat));
        e
    }};
}

pub fn approver_user(u: &UserView) -> Approver {
    Approver::User(u.id)
}

/// Users as e-mails, sorted, for comparing approver lists.
pub fn emails<'a>(it: impl IntoIterator<Item = &'a hallpass_proto::UserRefView>) -> Vec<String> {
    let mut v: Vec<String> = it.into_iter().map(|u| u.email.clone()).collect();
    v.sort();
    v
}
