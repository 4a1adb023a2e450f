//! `expiry`: the scheduler in-process (the daemon library, a real sled store, the real clock
//! shifted by an offset) with many active grants bulk-loaded. Measures the lag from each
//! deadline to the start of its revocation (the scheduler's clock reading in the transaction
//! that moved the grant to Revoking, as recorded by its `grant.expire` audit event; ms
//! resolution), while `rate` grants a second fall due, then a burst of grants expiring at the
//! same instant: how fast all their revocations start, and how fast all finish (connector
//! called, `grant.expired` recorded). Floor: scanning the whole deadline index.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use hallpass_core::{Clock, GrantId, SystemClock, Timestamp};
use hallpass_daemon::{Broker, Config};
use hallpass_store::{Store, StoreOptions};
use serde_json::json;
use tokio::sync::watch;

use crate::Env;
use crate::fixture::{self, ConnectorKind};
use crate::report::{Outcome, Table};
use crate::stats::{Samples, show_rate, show_us};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Active grants in the store when measuring (the target is stated at 1,000,000).
    #[arg(long, default_value_t = 200_000)]
    pub active: usize,
    /// Grants expiring at the same instant after the spread phase (the target: 100,000).
    #[arg(long, default_value_t = 50_000)]
    pub burst: usize,
    /// Deadlines a second during the spread phase.
    #[arg(long, default_value_t = 2000)]
    pub rate: usize,
    /// Seconds of spread deadlines to measure.
    #[arg(long, default_value_t = 15.0)]
    pub secs: f64,
    #[arg(long, value_enum, default_value_t = ConnectorKind::Noop)]
    pub connector: ConnectorKind,
    /// sled's cache for the store, in MiB.
    #[arg(long, default_value_t = 64)]
    pub cache_mb: u64,
}

/// The wall clock moved by an offset set once the store is loaded, so deadlines written before
/// loading fall due a moment after the scheduler starts.
#[derive(Clone, Debug, Default)]
struct ShiftedClock(Arc<AtomicI64>);

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp(SystemClock.now().0 + self.0.load(Ordering::SeqCst))
    }
}

pub async fn run(env: &Env, args: &Args) -> anyhow::Result<Outcome> {
    let dir = env.workdir()?;
    let store = Store::open(
        &dir.path().join("store"),
        StoreOptions {
            cache_bytes: args.cache_mb << 20,
        },
    )?;
    let clock = ShiftedClock::default();
    let mut config = Config::default();
    config.store.cache_mb = args.cache_mb;
    let broker = Broker::new(store.clone(), Arc::new(clock.clone()), config)?;
    let admin = hallpass_daemon::connect_in_memory(&broker, nix::unistd::getuid().as_raw());
    fixture::prepare(&admin, args.connector).await?;
    drop(admin);

    // Deadlines, relative to a base a day ahead of now (nothing falls due while loading).
    let base = SystemClock.now().plus(Duration::from_secs(86_400));
    let lead = Duration::from_secs(2);
    let spread = ((args.rate as f64 * args.secs) as usize).min(args.active);
    let rest = args.active - spread;
    let spread_end = base.plus(lead).plus(Duration::from_secs_f64(args.secs));
    let burst_at = spread_end.plus(Duration::from_secs(3));
    let mut deadlines = Vec::with_capacity(args.active + args.burst);
    for k in 0..spread {
        deadlines.push(
            base.plus(lead)
                .plus(Duration::from_secs_f64(k as f64 / args.rate as f64)),
        );
    }
    deadlines.extend(std::iter::repeat_n(burst_at, args.burst));
    let later = burst_at.plus(Duration::from_secs(3600));
    for k in 0..rest {
        deadlines.push(later.plus(Duration::from_millis(
            (k as u64 * 3_600_000) / rest.max(1) as u64,
        )));
    }
    let load_start = Instant::now();
    let ids = crate::seed::active_grants(&store, &deadlines, 5000)?;
    let load_time = load_start.elapsed();
    let watched: HashMap<GrantId, Timestamp> = ids
        .iter()
        .copied()
        .zip(deadlines.iter().copied())
        .take(spread + args.burst)
        .collect();
    let burst_ids: std::collections::HashSet<GrantId> =
        ids[spread..spread + args.burst].iter().copied().collect();

    // Floor: one pass over the whole deadline index.
    let scan_start = Instant::now();
    let indexed = store.due(Timestamp(i64::MAX - 1), usize::MAX)?.len();
    let scan_time = scan_start.elapsed();

    // Shift the clock so that `base` is now, then start the scheduler as `serve` does.
    clock
        .0
        .store(base.0 - SystemClock.now().0, Ordering::SeqCst);
    hallpass_daemon::expiry::step(&broker)
        .await
        .map_err(|e| anyhow::anyhow!("catch-up: {}", e.into_api()))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler = tokio::spawn(hallpass_daemon::expiry::run(broker.clone(), stop_rx));

    // Wait until the burst has drained: nothing due at all (the remaining grants end an hour
    // later). Bounded by a generous deadline.
    let limit = Instant::now()
        + Duration::from_secs_f64(2.0 + args.secs + 3.0)
        + Duration::from_secs(120 + (args.burst / 1000) as u64);
    let finished_all = loop {
        let now = clock.now();
        if now > burst_at {
            // Neither a deadline nor owed connector work left at `now`.
            if store.due(now, 1)?.is_empty() && store.work_due(now, 1)?.is_empty() {
                break Some(now);
            }
        }
        if Instant::now() > limit {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = stop_tx.send(true);
    let _ = scheduler.await;

    // Lags from the audit log.
    let mut spread_lag = Samples::new();
    let mut burst_lag = Samples::new();
    let mut burst_last_start = burst_at;
    let mut burst_last_done = burst_at;
    let mut burst_done = 0usize;
    let mut after = 0;
    loop {
        let (page, next) = store.audit_page(after, 10_000, &|e| {
            e.entry.action.starts_with("grant.expire")
        })?;
        for e in &page {
            let Ok(id) = e.entry.target.parse::<GrantId>() else {
                continue;
            };
            let Some(deadline) = watched.get(&id) else {
                continue;
            };
            let lag = Duration::from_millis(u64::try_from(e.at.0 - deadline.0).unwrap_or(0));
            match (e.entry.action.as_str(), burst_ids.contains(&id)) {
                ("grant.expire", false) => spread_lag.record(lag),
                ("grant.expire", true) => {
                    burst_lag.record(lag);
                    burst_last_start = burst_last_start.max(e.at);
                }
                ("grant.expired", true) => {
                    burst_done += 1;
                    burst_last_done = burst_last_done.max(e.at);
                }
                _ => {}
            }
        }
        match (next, page.last()) {
            (Some(_), Some(last)) => after = last.seq,
            _ => break,
        }
    }
    let sl = spread_lag.summary();
    let bl = burst_lag.summary();
    let start_secs = burst_at.until(burst_last_start).as_secs_f64();
    let done_secs = burst_at.until(burst_last_done).as_secs_f64();
    let start_rate = if start_secs > 0.0 {
        args.burst as f64 / start_secs
    } else {
        f64::INFINITY
    };
    let drain_rate = if done_secs > 0.0 {
        burst_done as f64 / done_secs
    } else {
        f64::INFINITY
    };

    let mut t = Table::new(
        format!(
            "expiry at {} active grants ({} connector): lag from deadline to revocation start",
            args.active,
            args.connector.label()
        ),
        &["phase", "grants", "p50", "p99", "max"],
    );
    t.row(vec![
        format!("spread ({} deadlines/s for {}s)", args.rate, args.secs),
        sl.n.to_string(),
        show_us(sl.p50_us),
        show_us(sl.p99_us),
        show_us(sl.max_us),
    ]);
    t.row(vec![
        format!("burst ({} at one instant)", args.burst),
        bl.n.to_string(),
        show_us(bl.p50_us),
        show_us(bl.p99_us),
        show_us(bl.max_us),
    ]);
    let mut b = Table::new("expiry burst drain", &["measure", "value"]);
    b.row(vec![
        "all revocations started after".into(),
        format!("{start_secs:.2} s ({})", show_rate(start_rate)),
    ]);
    b.row(vec![
        "all revocations finished after".into(),
        format!(
            "{done_secs:.2} s ({} of {} finished: {})",
            burst_done,
            args.burst,
            show_rate(drain_rate)
        ),
    ]);
    b.row(vec![
        "bulk load".into(),
        format!(
            "{} grants in {:.1} s ({})",
            deadlines.len(),
            load_time.as_secs_f64(),
            show_rate(crate::stats::rate(deadlines.len() as u64, load_time))
        ),
    ]);
    b.row(vec![
        "floor: full deadline index scan".into(),
        format!(
            "{indexed} keys in {} ({})",
            show_us(scan_time.as_secs_f64() * 1e6),
            show_rate(crate::stats::rate(indexed as u64, scan_time))
        ),
    ]);
    b.note(format!(
        "Lags come from each grant's `grant.expire` audit event (the scheduler's clock when it moved the grant to Revoking) minus its deadline, in whole milliseconds; the flush that makes that transaction durable comes after. {}",
        if finished_all.is_some() { "The burst drained within the time limit." } else { "The burst did NOT drain within the time limit." }
    ));
    let mut short = Vec::new();
    if sl.p99_us > 100_000.0 {
        short.push(format!(
            "expiry p99 lag {} > 100 ms at {} active grants",
            show_us(sl.p99_us),
            args.active
        ));
    }
    if drain_rate < 10_000.0 {
        short.push(format!(
            "burst of {} drained at {} < 10k/s ({} connector)",
            args.burst,
            show_rate(drain_rate),
            args.connector.label()
        ));
    }
    if finished_all.is_none() || burst_done < args.burst {
        short.push(format!(
            "burst not fully drained: {burst_done} of {} finished in the time limit",
            args.burst
        ));
    }
    Ok(Outcome {
        name: "expiry",
        tables: vec![t, b],
        json: json!({
            "active": args.active,
            "burst": args.burst,
            "rate": args.rate,
            "secs": args.secs,
            "connector": args.connector,
            "spread_lag": sl,
            "burst_start_lag": bl,
            "burst_all_started_secs": start_secs,
            "burst_start_rate": start_rate,
            "burst_all_finished_secs": done_secs,
            "burst_finished": burst_done,
            "burst_drain_rate": drain_rate,
            "bulk_load_secs": load_time.as_secs_f64(),
            "index_scan_keys": indexed,
            "index_scan_secs": scan_time.as_secs_f64(),
        }),
        short_of_targets: short,
    })
}
