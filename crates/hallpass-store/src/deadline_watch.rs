//! What tells a sleeping scheduler that a write moved its next deadline earlier, so that it is
//! woken for those commits only (waking it for every commit cost a twentieth of the daemon at
//! 64 writers, re-reading the deadline indexes to find nothing new).
//!
//! [`Store::write`](crate::Store::write) marks the earliest deadline each write puts in
//! Deadlines or Work, after the write is readable and before it returns (only the store sees a
//! write's ops). The scheduler calls [`DeadlineWatch::looks`] before it reads the deadline
//! indexes and [`DeadlineWatch::sleeps`] with the next deadline it found; whoever finishes a
//! commit asks [`DeadlineWatch::should_wake`].
//!
//! Invariant: a deadline written at any moment is handled in time. Written before `looks`, the
//! look reads it. Written after `looks` and marked before `sleeps`, `sleeps` returns false and
//! the scheduler looks again. Marked after `sleeps` set the scheduler's next deadline, it is
//! earlier than that deadline (or changes nothing), and `should_wake` is true for the commit
//! that wrote it.

use std::sync::atomic::{AtomicI64, Ordering};

use hallpass_core::Timestamp;

/// No deadline (the marks are in ms).
const NONE: i64 = i64::MAX;

#[derive(Debug)]
pub struct DeadlineWatch {
    /// The earliest deadline written since the scheduler last looked.
    earliest_written: AtomicI64,
    /// When the scheduler means to look next; `NONE` while it is looking or has no deadline.
    next_look: AtomicI64,
}

impl Default for DeadlineWatch {
    fn default() -> Self {
        DeadlineWatch {
            earliest_written: AtomicI64::new(NONE),
            next_look: AtomicI64::new(NONE),
        }
    }
}

impl DeadlineWatch {
    /// A write that is now readable put a deadline at `at`.
    pub(crate) fn written(&self, at: Timestamp) {
        self.earliest_written.fetch_min(at.0, Ordering::SeqCst);
    }

    /// The scheduler is about to read the deadline indexes: until [`DeadlineWatch::sleeps`],
    /// every deadline written asks for it to be woken.
    pub fn looks(&self) {
        self.next_look.store(NONE, Ordering::SeqCst);
        self.earliest_written.store(NONE, Ordering::SeqCst);
    }

    /// The scheduler found `next` as its next deadline (none: `None`). Returns false when a
    /// deadline before it was written since [`DeadlineWatch::looks`]: the scheduler must look
    /// again instead of sleeping.
    pub fn sleeps(&self, next: Option<Timestamp>) -> bool {
        let next = next.map_or(NONE, |t| t.0);
        self.next_look.store(next, Ordering::SeqCst);
        self.earliest_written.load(Ordering::SeqCst) >= next
    }

    /// Whether a deadline written since the scheduler last looked is before the one it sleeps
    /// until (always, while it is looking).
    pub fn should_wake(&self) -> bool {
        let written = self.earliest_written.load(Ordering::SeqCst);
        written != NONE && written < self.next_look.load(Ordering::SeqCst)
    }

    /// The earliest deadline written since the scheduler last looked, if any.
    pub fn earliest_written(&self) -> Option<Timestamp> {
        let at = self.earliest_written.load(Ordering::SeqCst);
        (at != NONE).then_some(Timestamp(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_scheduler_is_woken_only_for_an_earlier_deadline() {
        let w = DeadlineWatch::default();
        w.looks();
        assert!(w.sleeps(Some(Timestamp(100))));
        assert!(!w.should_wake());
        w.written(Timestamp(200));
        assert!(!w.should_wake());
        w.written(Timestamp(50));
        assert!(w.should_wake());
        assert_eq!(w.earliest_written(), Some(Timestamp(50)));
    }

    #[test]
    fn a_deadline_written_while_it_looks_keeps_it_awake_until_the_next_look() {
        let w = DeadlineWatch::default();
        w.looks();
        w.written(Timestamp(50));
        assert!(w.should_wake());
        assert!(!w.sleeps(Some(Timestamp(100))));
        w.looks();
        assert_eq!(w.earliest_written(), None);
        assert!(w.sleeps(Some(Timestamp(100))));
    }

    #[test]
    fn with_no_deadline_ahead_any_written_deadline_wakes_it() {
        let w = DeadlineWatch::default();
        w.looks();
        assert!(w.sleeps(None));
        assert!(!w.should_wake());
        w.written(Timestamp(i64::MAX - 1));
        assert!(w.should_wake());
    }
}
