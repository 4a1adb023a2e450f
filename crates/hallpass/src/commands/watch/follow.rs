//! The follower: connects to the daemon (again and again, with backoff), long-polls the event
//! cursor for the calling user, resolves what a notice needs (requesters, e-mails) and hands
//! [`Update`]s to the presenter. Invariants: the cursor only moves past a batch after every one
//! of its updates was handed over, and a batch is handed over whole or not at all, so a daemon
//! restart (or a dropped connection) neither loses nor repeats a notice; an outage is reported
//! once.

use std::path::PathBuf;
use std::time::Duration;

use hallpass_core::event::Event;
use hallpass_core::{Clock, SystemClock};
use hallpass_proto::{ApiError, UserRef};
use tarpc::client::RpcError;
use tokio::sync::mpsc;

use super::config::WatchConfig;
use super::notice::{Classifier, Me, Update};
use crate::connection::{Session, ctx, ctx_for};
use crate::failure::Failure;

/// Events asked for per call.
const BATCH: u32 = 200;
/// How long the daemon may hold a call open waiting for the next event.
const WAIT_MS: u32 = 25_000;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Why following stopped for now.
enum Broken {
    /// The connection failed: reconnect.
    Connection(String),
    /// The daemon refused: wait longer, then try again.
    Refused(ApiError),
}

impl From<RpcError> for Broken {
    fn from(e: RpcError) -> Self {
        Broken::Connection(e.to_string())
    }
}

pub struct Follower {
    socket: PathBuf,
    cfg: WatchConfig,
    /// The next call asks for events after this; None until the first connection (from now).
    cursor: Option<u64>,
    classifier: Option<Classifier>,
    out: mpsc::UnboundedSender<Update>,
}

impl Follower {
    pub fn new(
        socket: PathBuf,
        cfg: WatchConfig,
        since: Option<u64>,
        out: mpsc::UnboundedSender<Update>,
    ) -> Follower {
        Follower {
            socket,
            cfg,
            cursor: since,
            classifier: None,
            out,
        }
    }

    /// Follows until the presenter is gone.
    pub async fn run(mut self) {
        let mut delay = BACKOFF_FIRST;
        let mut outage: Option<String> = None;
        loop {
            if self.out.is_closed() {
                return;
            }
            let broken = match Session::connect(&self.socket).await {
                Ok(s) => {
                    if outage.take().is_some() {
                        eprintln!("hallpass watch: reconnected to hallpassd");
                    }
                    delay = BACKOFF_FIRST;
                    self.follow(&s).await
                }
                Err(Failure::Api(e)) => Broken::Refused(e),
                Err(e) => Broken::Connection(failure_text(&e)),
            };
            let (why, wait) = match broken {
                Broken::Connection(why) => (
                    format!("lost hallpassd at {}: {why}", self.socket.display()),
                    delay,
                ),
                // Refusals (no account yet, version mismatch) do not go away in milliseconds.
                Broken::Refused(e) => (
                    format!("hallpassd at {} refused: {e}", self.socket.display()),
                    BACKOFF_MAX.max(delay),
                ),
            };
            if outage.is_none() {
                eprintln!("hallpass watch: {why}; trying again");
                outage = Some(why);
            }
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(BACKOFF_MAX);
        }
    }

    async fn follow(&mut self, s: &Session) -> Broken {
        let who = match s.client.whoami(ctx()).await {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => return Broken::Refused(e),
            Err(e) => return e.into(),
        };
        let Some(user) = who.user else {
            return Broken::Refused(ApiError::Forbidden {
                why: format!(
                    "OS user {} has no hallpass account",
                    who.uid.map_or_else(|| "?".into(), |u| u.to_string())
                ),
                admins: vec![],
                hint: Some("accept your invite with `hallpass accept CODE`".into()),
            });
        };
        let me = Me {
            id: user.id,
            role: user.role,
        };
        match &mut self.classifier {
            Some(c) => c.me = me,
            None => self.classifier = Some(Classifier::new(me, &self.cfg)),
        }
        if self.cursor.is_none() {
            match s
                .client
                .events_since(ctx(), hallpass_proto::FROM_NOW, 0, 0)
                .await
            {
                Ok(Ok(b)) => self.cursor = Some(b.cursor),
                Ok(Err(e)) => return Broken::Refused(e),
                Err(e) => return e.into(),
            }
        }
        eprintln!(
            "hallpass watch: following events for {} after #{}",
            user.email,
            self.cursor.unwrap_or_default()
        );
        let deadline = Duration::from_millis(u64::from(WAIT_MS)) + Duration::from_secs(10);
        loop {
            let cursor = self.cursor.unwrap_or_default();
            let batch = match s
                .client
                .events_since(ctx_for(deadline), cursor, BATCH, WAIT_MS)
                .await
            {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return Broken::Refused(e),
                Err(e) => return e.into(),
            };
            if let Err(b) = self.resolve(s, &batch.events).await {
                return b;
            }
            let Some(c) = self.classifier.as_mut() else {
                return Broken::Connection("invariant: classifier set above".into());
            };
            let offset = hallpass_tui::runtime::utc_offset(SystemClock.now());
            for e in &batch.events {
                for u in c.classify(e, offset) {
                    if self.out.send(u).is_err() {
                        return Broken::Connection("the presenter stopped".into());
                    }
                }
            }
            self.cursor = Some(cursor.max(batch.cursor));
        }
    }

    /// Looks up the requesters and e-mails the batch's notices need. Only a broken connection
    /// fails (the batch is then read again); a refused lookup just leaves the id shown as is.
    async fn resolve(&mut self, s: &Session, events: &[Event]) -> Result<(), Broken> {
        let Some(c) = self.classifier.as_mut() else {
            return Ok(());
        };
        for e in events {
            // Learn requesters from submissions earlier in the same batch first.
            if let hallpass_core::event::EventKind::RequestSubmitted {
                request,
                requester,
                requester_email,
                approvers,
                ..
            } = &e.kind
            {
                c.requesters.insert(*request, *requester);
                c.names.insert(*requester, requester_email.clone());
                // My own request: learn who may approve it while it is pending (a requester may
                // not read users, but sees their request's approvers), to name who decided.
                if *requester == c.me.id
                    && approvers.iter().any(|a| !c.names.contains_key(a))
                    && let Ok(v) = s.client.get_request(ctx(), *request).await?
                {
                    for a in v.approvers {
                        c.names.insert(a.id, a.email);
                    }
                }
            }
            if let Some(r) = c.needs_requester(e)
                && let Ok(v) = s.client.get_request(ctx(), r).await?
            {
                c.requesters.insert(r, v.requester.id);
                c.names.insert(v.requester.id, v.requester.email);
            }
            for u in c.needs_names(e) {
                // Refused (not everyone may read users): remember the id, do not ask again.
                let name = match s.client.get_user(ctx(), UserRef::Id(u)).await? {
                    Ok(v) => v.email,
                    Err(_) => u.to_string(),
                };
                c.names.insert(u, name);
            }
        }
        Ok(())
    }
}

pub(super) fn failure_text(f: &Failure) -> String {
    match f {
        Failure::Api(e) => e.to_string(),
        Failure::Unreachable(w) | Failure::Local(w) => w.lines().next().unwrap_or(w).to_string(),
        Failure::Reported(code) => format!("exit {code}"),
    }
}
