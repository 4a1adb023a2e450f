//! Filling a store: grants made through the daemon (an auto flow, over the socket), and the
//! bulk-load path for the expiry and start-up benchmarks, which writes Active grant records
//! straight through `hallpass_store::Store::write` in large batches (records and indexes stay
//! consistent: `Txn::put_grant` writes both). Bulk-loaded grants point to no request record and
//! to users that need not exist; the scheduler and connectors handle both.

use std::sync::Arc;
use std::time::Duration;

use hallpass_core::grant::Grant;
use hallpass_core::{GrantId, RequestId, Timestamp, UserId};
use hallpass_proto::HallpassClient;
use hallpass_store::Store;

use crate::daemon::Daemon;
use crate::fixture::{self, AUTO, ctx};
use crate::load::{Limit, closed_loop};

/// `n` grants through the auto flow from `clients` connections.
pub async fn auto_grants(d: &Daemon, n: usize, clients: usize) -> anyhow::Result<()> {
    let clients = clients.clamp(1, n.max(1));
    let mut cs = Vec::new();
    for _ in 0..clients {
        cs.push(d.connect().await?);
    }
    let per = (n / clients) as u64;
    let extra = n % clients;
    // Spread the remainder over the first clients by giving them one more op each.
    let limit = Limit {
        duration: Duration::from_secs(600),
        ops_per_client: per + u64::from(extra > 0),
    };
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    closed_loop(cs, limit, move |c: Arc<HallpassClient>, ci, i| {
        let counter = counter.clone();
        async move {
            if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= n {
                return Ok(());
            }
            c.submit_request(ctx(), fixture::new_request(AUTO, ci + i as usize, None))
                .await??;
            Ok(())
        }
    })
    .await?;
    Ok(())
}

/// Distinct people the bulk-loaded grants belong to (so overlap checks stay short).
pub const BULK_USERS: u64 = 50_000;

/// Writes one Active grant per deadline, `batch` grants per store transaction, each lasting
/// an hour and ending at its deadline. Returns the ids in deadline-iterator order.
pub fn active_grants(
    store: &Store,
    deadlines: &[Timestamp],
    batch: usize,
) -> anyhow::Result<Vec<GrantId>> {
    let mut ids = Vec::with_capacity(deadlines.len());
    let hour = Duration::from_secs(3600);
    for chunk in deadlines.chunks(batch.max(1)) {
        let (chunk_ids, _) = store.write(|tx| {
            let mut out = Vec::with_capacity(chunk.len());
            for &at in chunk {
                let id = tx.next_grant_id()?;
                let i = id.0;
                let user = UserId(1 + i % BULK_USERS);
                let target = fixture::target((i / BULK_USERS) as usize);
                let start = at.minus(hour);
                let mut g = Grant::new(id, RequestId(1), user, target, hour, start);
                g.activate(start)
                    .map_err(|e| hallpass_store::StoreError::Backend(e.to_string()))?;
                tx.put_grant(&g)?;
                out.push(id);
            }
            Ok::<_, hallpass_store::StoreError>(out)
        })?;
        ids.extend(chunk_ids);
    }
    store.flush()?;
    Ok(ids)
}
