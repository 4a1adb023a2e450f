//! Group commit: one background thread flushes the backend once for every write that is waiting
//! at that moment. Invariant: a ticket is reported durable only after a flush that started after
//! its write was applied succeeded, and a failed flush is reported to the waiters it covered
//! (they never hang) and then retried with a backoff until one succeeds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::backend::Backend;
use crate::error::StoreError;

/// After a failed flush the flusher tries again after this, doubling up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What the flusher has published.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flushed {
    /// Every ticket up to this one is on disk.
    pub ok_upto: u64,
    /// The last failed flush covered tickets up to this one...
    pub failed_upto: u64,
    /// ...and failed with this.
    pub error: Option<String>,
    /// Every event up to this seq is on disk (events are written in seq order).
    pub events_upto: u64,
}

#[derive(Debug, Default)]
struct Counter {
    /// Tickets handed out so far (the newest applied write).
    written: u64,
    /// The newest event seq among the applied writes.
    event_head: u64,
    stop: bool,
}

pub(crate) struct Durability {
    counter: Mutex<Counter>,
    wake: Condvar,
    flushed: watch::Sender<Flushed>,
    flush_count: AtomicU64,
}

impl Durability {
    pub fn new() -> Arc<Durability> {
        Arc::new(Durability {
            counter: Mutex::new(Counter::default()),
            wake: Condvar::new(),
            flushed: watch::Sender::new(Flushed::default()),
            flush_count: AtomicU64::new(0),
        })
    }

    /// Records one more applied write (and the event seq it wrote, if any) and wakes the
    /// flusher; returns its ticket. Called under the store's writer lock, so tickets and event
    /// seqs follow apply order.
    pub fn written(&self, event: Option<u64>) -> u64 {
        let mut c = self.counter.lock().unwrap_or_else(PoisonError::into_inner);
        c.written += 1;
        if let Some(seq) = event {
            c.event_head = c.event_head.max(seq);
        }
        self.wake.notify_one();
        c.written
    }

    /// At open: every event already in the store is on disk.
    pub fn opened_with_events(&self, head: u64) {
        self.counter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .event_head = head;
        self.flushed
            .send_modify(|f| f.events_upto = f.events_upto.max(head));
    }

    /// Every event up to this seq is on disk.
    pub fn events_upto(&self) -> u64 {
        self.flushed.borrow().events_upto
    }

    /// The newest ticket handed out.
    pub fn current(&self) -> u64 {
        self.counter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .written
    }

    pub fn flush_count(&self) -> u64 {
        self.flush_count.load(Ordering::SeqCst)
    }

    /// Flushes now on the caller's thread and publishes the result (used for shutdown).
    pub fn flush_now(&self, backend: &dyn Backend) -> Result<(), StoreError> {
        let (upto, events) = self.snapshot();
        let res = backend.flush();
        self.publish(upto, events, &res);
        res
    }

    fn snapshot(&self) -> (u64, u64) {
        let c = self.counter.lock().unwrap_or_else(PoisonError::into_inner);
        (c.written, c.event_head)
    }

    fn publish(&self, upto: u64, events: u64, res: &Result<(), StoreError>) {
        self.flush_count.fetch_add(1, Ordering::SeqCst);
        self.flushed.send_modify(|f| match res {
            Ok(()) => {
                f.ok_upto = f.ok_upto.max(upto);
                f.events_upto = f.events_upto.max(events);
            }
            Err(e) => {
                f.failed_upto = f.failed_upto.max(upto);
                f.error = Some(e.to_string());
            }
        });
    }

    /// Waits until `ticket` is flushed (Ok) or a flush covering it failed (Err).
    pub async fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let mut rx = self.flushed.subscribe();
        let f = rx
            .wait_for(|f| f.ok_upto >= ticket || f.failed_upto >= ticket)
            .await
            .map_err(|_| StoreError::Closed)?;
        if f.ok_upto >= ticket {
            Ok(())
        } else {
            Err(StoreError::Flush(
                f.error.clone().unwrap_or_else(|| "unknown error".into()),
            ))
        }
    }

    /// Starts the flusher thread. It holds no reference to the store, only to this and the
    /// backend; [`Durability::stop`] ends it after a last flush.
    pub fn spawn(
        self: &Arc<Self>,
        backend: Arc<dyn Backend>,
    ) -> Result<JoinHandle<()>, StoreError> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("hallpass-store-flush".into())
            .spawn(move || me.run(&*backend))
            .map_err(|e| StoreError::Backend(format!("cannot start the flusher thread: {e}")))
    }

    fn run(&self, backend: &dyn Backend) {
        // Everything up to here is on disk.
        let mut flushed = 0u64;
        // After a failed flush: when to try again (a new write tries at once).
        let mut retry: Option<Duration> = None;
        loop {
            let (upto, events, stop) = {
                let mut c = self.counter.lock().unwrap_or_else(PoisonError::into_inner);
                match retry {
                    None => {
                        while c.written <= flushed && !c.stop {
                            c = self.wake.wait(c).unwrap_or_else(PoisonError::into_inner);
                        }
                    }
                    Some(after) if !c.stop => {
                        c = self
                            .wake
                            .wait_timeout(c, after)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    Some(_) => {}
                }
                (c.written, c.event_head, c.stop)
            };
            if upto > flushed {
                // Everything applied before `upto` was handed out is covered by this flush.
                let res = backend.flush();
                self.publish(upto, events, &res);
                if res.is_ok() {
                    flushed = upto;
                    retry = None;
                } else {
                    // Its waiters have the error; the writes stay owed, so keep trying: a
                    // quiet daemon must not wait for an unrelated write to become durable.
                    retry = Some(retry.map_or(RETRY_FIRST, |d| (d * 2).min(RETRY_MAX)));
                }
            }
            if stop {
                return;
            }
        }
    }

    /// Asks the flusher to finish (after flushing anything outstanding).
    pub fn stop(&self) {
        let mut c = self.counter.lock().unwrap_or_else(PoisonError::into_inner);
        c.stop = true;
        self.wake.notify_one();
    }
}
