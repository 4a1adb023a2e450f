//! `events_since`: the resumable event cursor with long-polling. Invariant: the returned cursor
//! only moves forward, past events the caller may not see too, so a follower never re-reads;
//! who may see an event is decided with the caller as they are when it is read.

use std::time::Duration;

use hallpass_proto::EventBatch;

use super::Session;
use crate::broker::{Caller, Fail};

/// Longest a single call waits for a new event.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub async fn since(
    s: &Session,
    c: &Caller,
    cursor: u64,
    limit: u32,
    wait_ms: u32,
) -> Result<EventBatch, Fail> {
    if cursor == hallpass_proto::FROM_NOW {
        // Start following from now: no history, just the head to continue from.
        return Ok(EventBatch {
            events: vec![],
            cursor: s.broker.store().durable_event_head(),
        });
    }
    let limit = super::page_limit(limit);
    let wait = Duration::from_millis(u64::from(wait_ms)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let mut heads = s.broker.subscribe_events();
    let mut cursor = cursor;
    let mut c = c.clone();
    loop {
        // Only events on disk: one shown before a crash could come back with other contents.
        let batch = s.broker.store().durable_events_after(cursor, limit)?;
        let scanned_to = batch.last().map(|e| e.seq);
        let visible: Vec<_> = batch
            .into_iter()
            .filter(|e| c.sees_everything() || e.audience.contains(&c.id()))
            .collect();
        if let Some(last) = scanned_to {
            cursor = last;
        }
        if !visible.is_empty() {
            return Ok(EventBatch {
                events: visible,
                cursor,
            });
        }
        if scanned_to.is_some() {
            continue; // only invisible events so far; keep reading
        }
        // Nothing new: wait for the head to move, or give up at the deadline.
        heads.borrow_and_update();
        if *heads.borrow() > cursor {
            continue;
        }
        match tokio::time::timeout_at(deadline, heads.changed()).await {
            Ok(Ok(())) => {
                // A long wait: the caller may have been revoked, demoted or deactivated since.
                c = s.caller().await?;
                continue;
            }
            _ => {
                return Ok(EventBatch {
                    events: vec![],
                    cursor,
                });
            }
        }
    }
}
