//! Group commit: concurrent writers all become durable, overlapping writers share flushes, and a
//! failed flush reaches its waiters instead of hanging them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hallpass_core::UserId;

use super::user;
use crate::backend::{Backend, Op, ScanIter, Table};
use crate::error::StoreError;
use crate::mem_backend::MemBackend;
use crate::store::{CommitTicket, Store};

/// A failure deadline for waits that should end at once; never a synchronisation device.
const DEADLINE: Duration = Duration::from_secs(30);

/// A backend whose flush, while armed, reports that it started and then either waits for a
/// release or fails.
struct Faulty {
    inner: MemBackend,
    gate: AtomicBool,
    fail: AtomicBool,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Faulty {
    fn new() -> (Arc<Faulty>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let b = Arc::new(Faulty {
            inner: MemBackend::new(),
            gate: AtomicBool::new(false),
            fail: AtomicBool::new(false),
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        });
        (b, entered_rx, release_tx)
    }
}

impl Backend for Faulty {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key)
    }
    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, reverse: bool) -> ScanIter<'_> {
        self.inner.scan(table, from, to, reverse)
    }
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.inner.apply(ops)
    }
    fn flush(&self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk on fire".into()));
        }
        if self.gate.load(Ordering::SeqCst) {
            self.entered.lock().unwrap().send(()).unwrap();
            self.release
                .lock()
                .unwrap()
                .recv_timeout(DEADLINE)
                .expect("the test releases the flush");
        }
        self.inner.flush()
    }
}

fn put(s: &Store, id: u64) -> CommitTicket {
    s.write(|t| t.put_user(&user(id, &format!("u{id}@example.com"))))
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_all_become_durable_with_no_more_flushes_than_writes() {
    let s = Store::open_temporary().unwrap();
    let writers = 64u64;
    let tasks: Vec<_> = (1..=writers)
        .map(|id| {
            let s = s.clone();
            tokio::spawn(async move {
                s.commit(|t| t.put_user(&user(id, &format!("u{id}@example.com"))))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.user_count().unwrap(), writers);
    let flushes = s.flush_count();
    assert!(
        flushes >= 1 && flushes <= writers,
        "{flushes} flushes for {writers} writes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_waiting_during_a_flush_share_the_next_one() {
    let (b, entered, release) = Faulty::new();
    let s = Store::with_backend(b.clone()).unwrap();
    b.gate.store(true, Ordering::SeqCst);

    // The first write starts a flush that holds until released.
    let first = put(&s, 1);
    entered
        .recv_timeout(DEADLINE)
        .expect("the flusher starts flushing");
    // Ten more writes land while it is flushing; all wait for durability.
    let tickets: Vec<CommitTicket> = std::iter::once(first)
        .chain((2..=11).map(|id| put(&s, id)))
        .collect();
    let waiters: Vec<_> = tickets
        .iter()
        .map(|&t| {
            let s = s.clone();
            tokio::spawn(async move { s.durable(t).await })
        })
        .collect();
    b.gate.store(false, Ordering::SeqCst);
    release.send(()).unwrap();
    for w in waiters {
        w.await.unwrap().unwrap();
    }
    // One flush for the first write, one shared by the other ten.
    assert_eq!(s.flush_count(), 2);
    assert_eq!(s.user(UserId(11)).unwrap().map(|u| u.id), Some(UserId(11)));
}

#[tokio::test]
async fn a_failed_flush_is_reported_to_its_waiters_and_later_writes_recover() {
    let (b, _entered, _release) = Faulty::new();
    let s = Store::with_backend(b.clone()).unwrap();
    b.fail.store(true, Ordering::SeqCst);
    let err = s
        .commit(|t| t.put_user(&user(1, "a@example.com")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Flush(why) if why.contains("disk on fire")),
        "{err}"
    );
    assert!(s.flush().is_err());

    b.fail.store(false, Ordering::SeqCst);
    s.commit(|t| t.put_user(&user(2, "b@example.com")))
        .await
        .unwrap();
    // A later successful flush covers the earlier write too.
    s.durable(CommitTicket(1)).await.unwrap();
}

#[tokio::test]
async fn a_ticket_already_flushed_returns_at_once() {
    let s = Store::with_backend(Arc::new(MemBackend::new())).unwrap();
    s.durable(CommitTicket(0)).await.unwrap();
    let t = put(&s, 1);
    s.flush().unwrap();
    s.durable(t).await.unwrap();
}

#[test]
fn dropping_the_last_clone_stops_the_flusher_after_a_last_flush() {
    let (b, _entered, _release) = Faulty::new();
    let s = Store::with_backend(b.clone()).unwrap();
    let s2 = s.clone();
    put(&s, 1);
    drop(s);
    put(&s2, 2);
    drop(s2);
    // The flusher thread held the only other reference to the backend; joining it released it.
    assert_eq!(Arc::strong_count(&b), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_cursor_only_once_on_disk() {
    let (b, entered, release) = Faulty::new();
    let s = Store::with_backend(b.clone()).unwrap();
    let event = |s: &Store| {
        s.write(|t| {
            t.event(
                hallpass_core::Timestamp(1),
                hallpass_core::event::EventKind::PolicyChanged { what: "x".into() },
                Default::default(),
            )
        })
        .unwrap()
    };
    let (first, t1) = event(&s);
    s.durable(t1).await.unwrap();
    assert_eq!(s.durable_event_head(), first);

    // The next event is written but its flush is held: readers of the cursor do not see it.
    b.gate.store(true, Ordering::SeqCst);
    let (second, t2) = event(&s);
    entered
        .recv_timeout(DEADLINE)
        .expect("the flusher starts flushing");
    assert_eq!(s.event_head().unwrap(), second);
    assert_eq!(s.durable_event_head(), first);
    let seen: Vec<u64> = s
        .durable_events_after(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seen, vec![first]);

    b.gate.store(false, Ordering::SeqCst);
    release.send(()).unwrap();
    s.durable(t2).await.unwrap();
    assert_eq!(s.durable_event_head(), second);
    assert_eq!(s.durable_events_after(first, 10).unwrap().len(), 1);
}

#[test]
fn applied_covers_every_write_a_read_could_have_seen() {
    let s = Store::with_backend(Arc::new(MemBackend::new())).unwrap();
    let before = s.applied();
    let t = put(&s, 1);
    assert!(t.0 > before.0);
    assert_eq!(s.applied(), t);
    // A write that staged nothing adds no ticket.
    s.write(|_| Ok::<_, StoreError>(())).unwrap();
    assert_eq!(s.applied(), t);
}

#[tokio::test]
async fn a_failed_flush_is_retried_without_another_write() {
    let (b, _entered, _release) = Faulty::new();
    let s = Store::with_backend(b.clone()).unwrap();
    b.fail.store(true, Ordering::SeqCst);
    let t = put(&s, 1);
    assert!(
        s.durable(t).await.is_err(),
        "the failure reaches its waiter"
    );
    b.fail.store(false, Ordering::SeqCst);
    // Nothing else is written: the flusher's own retry makes the write durable.
    let deadline = std::time::Instant::now() + DEADLINE;
    while s.durable(t).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed flush was never retried"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(s.user(UserId(1)).unwrap().map(|u| u.id), Some(UserId(1)));
}
