//! The presenter: takes [`Update`]s from the follower and the buttons, waits `burst_window` for
//! more so a burst becomes one summary, holds everything during quiet hours, shows the rest
//! through [`Desktop`], closes approval notices once the request is decided, and routes button
//! presses to [`act::perform`]. Invariants: a missing notification service is reported once per
//! outage and what could not be shown is kept (bounded) and retried with backoff; a notice is
//! shown at most once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use hallpass_core::{Clock, RequestId, SystemClock};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::act::{self, Press};
use super::config::WatchConfig;
use super::desktop::{Desktop, Signal};
use super::notice::{Act, Notice, Update, coalesce};

/// A burst is shown at the latest this long (or twice the window) after its first notice,
/// however busy it stays.
const BURST_MAX: Duration = Duration::from_secs(1);
/// Notices kept while the service is missing (the oldest are dropped beyond this).
const KEEP: usize = 200;
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub struct Presenter {
    cfg: WatchConfig,
    socket: PathBuf,
    /// For button outcomes, which come back as notices.
    updates: mpsc::UnboundedSender<Update>,
    signals_tx: mpsc::UnboundedSender<Signal>,
    desktop: Option<Desktop>,
    /// Notices waiting for the burst window to close.
    burst: Vec<Notice>,
    burst_due: Option<(Instant, Instant)>,
    /// Held during quiet hours.
    held: Vec<Notice>,
    /// Not shown because the service was missing.
    pending: Vec<Notice>,
    dropped: usize,
    retry_at: Option<Instant>,
    retry_delay: Duration,
    reported: bool,
    /// Server id → the buttons' subject, for presses.
    acts: HashMap<u32, Act>,
    /// Open approval notices, to close once decided.
    approvals: HashMap<RequestId, u32>,
}

impl Presenter {
    pub fn new(
        cfg: WatchConfig,
        socket: PathBuf,
        updates: mpsc::UnboundedSender<Update>,
        signals_tx: mpsc::UnboundedSender<Signal>,
    ) -> Presenter {
        Presenter {
            cfg,
            socket,
            updates,
            signals_tx,
            desktop: None,
            burst: vec![],
            burst_due: None,
            held: vec![],
            pending: vec![],
            dropped: 0,
            retry_at: None,
            retry_delay: RETRY_FIRST,
            reported: false,
            acts: HashMap::new(),
            approvals: HashMap::new(),
        }
    }

    /// Runs until the update channel closes.
    pub async fn run(
        mut self,
        mut updates: mpsc::UnboundedReceiver<Update>,
        mut signals: mpsc::UnboundedReceiver<Signal>,
    ) {
        // Connect up front, so a missing service is reported at start and buttons work from
        // the first notice.
        self.ensure_desktop().await;
        loop {
            let burst_at = self.burst_due.map(|(soft, hard)| soft.min(hard));
            let quiet_end = (!self.held.is_empty()).then(|| Instant::now() + self.quiet_left());
            tokio::select! {
                u = updates.recv() => match u {
                    Some(u) => self.on_update(u).await,
                    None => return,
                },
                Some(s) = signals.recv() => self.on_signal(s),
                () = sleep_until(burst_at) => self.flush_burst().await,
                () = sleep_until(quiet_end) => {
                    if self.quiet_left().is_zero() {
                        let held = std::mem::take(&mut self.held);
                        let summary = summarise_quiet(held);
                        self.deliver(summary).await;
                    }
                }
                () = sleep_until(self.retry_at) => {
                    self.retry_at = None;
                    let pending = std::mem::take(&mut self.pending);
                    let max = self.cfg.burst_max;
                    self.deliver(coalesce(pending, max)).await;
                }
            }
        }
    }

    async fn on_update(&mut self, u: Update) {
        match u {
            Update::Show(n) => {
                let now = Instant::now();
                let soft = now + self.cfg.burst_window;
                let longest = BURST_MAX.max(self.cfg.burst_window * 2);
                self.burst_due = Some(match self.burst_due {
                    Some((_, hard)) => (soft, hard),
                    None => (soft, now + longest),
                });
                self.burst.push(n);
            }
            Update::Decided(r) => {
                // Stale before it was shown: drop it; shown: close it.
                self.burst.retain(|n| n.act != Some(Act::Decide(r)));
                self.pending.retain(|n| n.act != Some(Act::Decide(r)));
                self.held.retain(|n| n.act != Some(Act::Decide(r)));
                if let Some(id) = self.approvals.remove(&r) {
                    self.acts.remove(&id);
                    if let Some(d) = &self.desktop {
                        d.close(id).await;
                    }
                }
            }
        }
    }

    fn on_signal(&mut self, s: Signal) {
        match s {
            Signal::Action(id, key) => {
                let press = match (self.acts.get(&id), key.as_str()) {
                    (Some(Act::Decide(r)), "approve") => Press::Approve(*r),
                    (Some(Act::Decide(r)), "deny") => Press::Deny(*r),
                    (Some(Act::Extend(g)), "extend") => Press::Extend(*g),
                    _ => return, // not ours, or a click on the body
                };
                eprintln!("hallpass watch: {press:?} pressed");
                tokio::spawn(act::perform(
                    self.socket.clone(),
                    self.cfg.clone(),
                    press,
                    self.updates.clone(),
                ));
            }
            Signal::Closed(id) => {
                if let Some(Act::Decide(r)) = self.acts.remove(&id) {
                    self.approvals.remove(&r);
                }
            }
            Signal::Lost => self.desktop = None,
        }
    }

    async fn flush_burst(&mut self) {
        self.burst_due = None;
        let burst = std::mem::take(&mut self.burst);
        if burst.is_empty() {
            return;
        }
        if !self.quiet_left().is_zero() {
            self.held.extend(burst);
            return;
        }
        let max = self.cfg.burst_max;
        self.deliver(coalesce(burst, max)).await;
    }

    /// Time left in quiet hours now (zero outside them).
    fn quiet_left(&self) -> Duration {
        self.cfg.quiet_hours.map_or(Duration::ZERO, |q| {
            let now = SystemClock.now();
            q.left_at(now, hallpass_tui::runtime::utc_offset(now))
        })
    }

    async fn ensure_desktop(&mut self) -> bool {
        if self.desktop.is_some() {
            return true;
        }
        match Desktop::connect(self.signals_tx.clone()).await {
            Ok(d) => {
                if self.reported {
                    eprintln!("hallpass watch: the notification service is back");
                    self.reported = false;
                }
                self.desktop = Some(d);
                self.retry_delay = RETRY_FIRST;
                true
            }
            Err(e) => {
                if !self.reported {
                    eprintln!(
                        "hallpass watch: cannot show desktop notifications: {e}; still following \
                         events and retrying"
                    );
                    self.reported = true;
                }
                false
            }
        }
    }

    /// Shows `notices`; what cannot be shown is kept for a retry.
    async fn deliver(&mut self, notices: Vec<Notice>) {
        let mut rest = notices.into_iter();
        while let Some(n) = rest.next() {
            let shown = if self.ensure_desktop().await {
                self.show(&n).await
            } else {
                Err(())
            };
            if shown.is_err() {
                if self.pending.is_empty() {
                    eprintln!(
                        "hallpass watch: keeping notifications until the notification service is back"
                    );
                }
                self.pending.push(n);
                self.pending.extend(rest);
                if self.pending.len() > KEEP {
                    let extra = self.pending.len() - KEEP;
                    self.pending.drain(..extra);
                    self.dropped += extra;
                }
                self.retry_at = Some(Instant::now() + self.retry_delay);
                self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
                return;
            }
        }
        if self.dropped > 0 {
            eprintln!(
                "hallpass watch: {} notices were dropped while the service was missing",
                self.dropped
            );
            self.dropped = 0;
        }
    }

    async fn show(&mut self, n: &Notice) -> Result<(), ()> {
        let Some(d) = &self.desktop else {
            return Err(());
        };
        let buttons: &[(&str, &str)] = match n.act {
            Some(Act::Decide(_)) => &[("approve", "Approve"), ("deny", "Deny")],
            Some(Act::Extend(_)) => &[("extend", "Extend")],
            None => &[],
        };
        match d.show(n, buttons).await {
            Ok(id) => {
                if let Some(act) = n.act {
                    self.acts.insert(id, act);
                    if let Act::Decide(r) = act {
                        self.approvals.insert(r, id);
                    }
                }
                Ok(())
            }
            Err(e) => {
                if !self.reported {
                    eprintln!("hallpass watch: {e}; retrying");
                    self.reported = true;
                }
                self.desktop = None;
                Err(())
            }
        }
    }
}

/// What arrived during quiet hours, as one notice (or the one notice itself).
fn summarise_quiet(held: Vec<Notice>) -> Vec<Notice> {
    let mut out = coalesce(held, 1);
    if let Some(n) = out.first_mut()
        && n.act.is_none()
    {
        n.summary = format!("While you were quiet: {}", n.summary);
    }
    out
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
