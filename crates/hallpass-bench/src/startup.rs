//! `startup`: a store holding many Active grants, some of them overdue (their deadline passed
//! while the daemon was down). Measures, for the real `hallpassd` process: spawn → serving
//! (the socket accepts and `hello` answers), spawn → first overdue revocation started and →
//! all started (from their `grant.expire` audit events), → all finished, and the daemon's
//! memory (VmRSS, VmHWM). Floor: opening the same store in-process.

use std::path::Path;
use std::time::{Duration, Instant};

use hallpass_core::{Clock, SystemClock, Timestamp};
use hallpass_proto::{AuditQuery, HallpassClient};
use hallpass_store::{Store, StoreOptions};
use serde_json::json;

use crate::Env;
use crate::daemon::Daemon;
use crate::fixture::{self, ConnectorKind, ctx};
use crate::report::{Outcome, Table};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Grants in the store (the target is stated at 1,000,000).
    #[arg(long, default_value_t = 200_000)]
    pub grants: usize,
    /// How many of them are overdue at start.
    #[arg(long, default_value_t = 10_000)]
    pub overdue: usize,
    /// The daemon's `store.cache_mb`.
    #[arg(long, default_value_t = 64)]
    pub cache_mb: u64,
    #[arg(long, value_enum, default_value_t = ConnectorKind::Noop)]
    pub connector: ConnectorKind,
}

/// `(at of each grant.expire event since `since`, number of grant.expired events)`.
async fn expiry_audit(
    c: &HallpassClient,
    since: Timestamp,
) -> anyhow::Result<(Vec<Timestamp>, usize)> {
    let mut starts = Vec::new();
    let mut done = 0;
    let mut after = None;
    loop {
        let page = c
            .list_audit(
                ctx(),
                AuditQuery {
                    action: Some("grant.expire".into()),
                    since: Some(since),
                    after,
                    limit: 1000,
                    ..AuditQuery::default()
                },
            )
            .await??;
        for e in &page.items {
            match e.entry.action.as_str() {
                "grant.expire" => starts.push(e.at),
                "grant.expired" => done += 1,
                _ => {}
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok((starts, done)),
        }
    }
}

pub async fn run(env: &Env, args: &Args) -> anyhow::Result<Outcome> {
    let dir = env.workdir()?;
    let mut d = Daemon::new(
        &env.hallpassd,
        &dir.path().join("daemon"),
        args.cache_mb,
        "",
    )?;
    d.spawn()?;
    let (admin, _) = d.wait_ready(Duration::from_secs(20)).await?;
    fixture::prepare(&admin, args.connector).await?;
    drop(admin);
    d.stop()?;

    // Bulk-load: overdue grants ended in the last minute; the rest end in the next day.
    let store_path = d.state_dir().join("store");
    let opts = StoreOptions {
        cache_bytes: args.cache_mb << 20,
    };
    let overdue = args.overdue.min(args.grants);
    let now = SystemClock.now();
    let mut deadlines = Vec::with_capacity(args.grants);
    for k in 0..overdue {
        deadlines.push(now.minus(Duration::from_millis(
            60_000 - (k as u64 * 59_000) / overdue.max(1) as u64,
        )));
    }
    let future = args.grants - overdue;
    for k in 0..future {
        deadlines.push(
            now.plus(Duration::from_secs(3600))
                .plus(Duration::from_millis(
                    (k as u64 * 86_400_000) / future.max(1) as u64,
                )),
        );
    }
    let load_start = Instant::now();
    {
        let store = Store::open(&store_path, opts)?;
        crate::seed::active_grants(&store, &deadlines, 5000)?;
    }
    let load_time = load_start.elapsed();
    let (open_time, open_rss) = open_in_fresh_process(&store_path, args.cache_mb)?;
    let store_bytes = dir_size(&store_path);

    d.spawn()?;
    let (c, ready) = d.wait_ready(Duration::from_secs(120)).await?;
    let (rss_ready, _) = d.memory_kib()?;
    let spawned = d.spawned_wall;
    // Wait until every overdue revocation has finished (bounded).
    let limit = Instant::now() + Duration::from_secs(120);
    let (starts, done) = loop {
        let (starts, done) = expiry_audit(&c, spawned).await?;
        if done >= overdue || Instant::now() > limit {
            break (starts, done);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let finished = d.spawned_at.elapsed();
    let (rss_after, hwm) = d.memory_kib()?;
    d.stop()?;
    let first = starts.iter().min().map(|t| spawned.until(*t));
    let last = starts.iter().max().map(|t| spawned.until(*t));
    let ms = |d: Option<Duration>| {
        d.map_or_else(|| "never".to_string(), |d| format!("{} ms", d.as_millis()))
    };

    let mut t = Table::new(
        format!(
            "start-up with {} grants ({} overdue), store.cache_mb = {}",
            args.grants, overdue, args.cache_mb
        ),
        &["measure", "value"],
    );
    t.row(vec![
        "spawn → serving (hello answers)".into(),
        format!("{} ms", ready.as_millis()),
    ]);
    t.row(vec![
        "spawn → first overdue revocation started".into(),
        ms(first),
    ]);
    t.row(vec![
        format!("spawn → all {} overdue revocations started", starts.len()),
        ms(last),
    ]);
    t.row(vec![
        format!("spawn → {done} of {overdue} revocations finished (seen)"),
        format!("{} ms", finished.as_millis()),
    ]);
    t.row(vec![
        "RSS when serving".into(),
        format!("{:.1} MiB", rss_ready as f64 / 1024.0),
    ]);
    t.row(vec![
        "RSS after catching up / peak (VmHWM)".into(),
        format!(
            "{:.1} MiB / {:.1} MiB",
            rss_after as f64 / 1024.0,
            hwm as f64 / 1024.0
        ),
    ]);
    t.row(vec![
        "floor: Store::open alone, in a fresh process".into(),
        format!("{} ms", open_time.as_millis()),
    ]);
    t.row(vec![
        "floor: that process's RSS right after the open".into(),
        format!("{:.1} MiB", open_rss as f64 / 1024.0),
    ]);
    t.row(vec![
        "store on disk".into(),
        format!("{:.0} MiB", store_bytes as f64 / (1024.0 * 1024.0)),
    ]);
    t.row(vec![
        "bulk load".into(),
        format!("{:.1} s", load_time.as_secs_f64()),
    ]);
    t.note("Times are from the bench's spawn of the process (wall clock, ms). Audit timestamps are the daemon's clock when the scheduler moved each grant to Revoking; the catch-up runs before the daemon serves, so revocations start before `hello` answers. \"Finished\" is when the bench saw the last `grant.expired` (polling the audit every 20 ms).");
    let mut short = Vec::new();
    if ready > Duration::from_secs(1) {
        short.push(format!(
            "start-up to serving {} ms > 1 s at {} grants",
            ready.as_millis(),
            args.grants
        ));
    }
    if last.is_none_or(|l| l > Duration::from_secs(1)) {
        short.push(format!(
            "overdue revocations all started after {} > 1 s",
            ms(last)
        ));
    }
    if starts.len() < overdue {
        short.push(format!(
            "only {} of {overdue} overdue revocations started",
            starts.len()
        ));
    }
    if hwm > 150 * 1024 {
        short.push(format!(
            "daemon peak RSS {:.0} MiB > 150 MB",
            hwm as f64 / 1024.0
        ));
    }
    Ok(Outcome {
        name: "startup",
        tables: vec![t],
        json: json!({
            "grants": args.grants,
            "overdue": overdue,
            "cache_mb": args.cache_mb,
            "ready_ms": ready.as_millis() as u64,
            "first_revocation_ms": first.map(|d| d.as_millis() as u64),
            "all_revocations_started_ms": last.map(|d| d.as_millis() as u64),
            "revocations_started": starts.len(),
            "revocations_finished": done,
            "finished_seen_ms": finished.as_millis() as u64,
            "rss_ready_kib": rss_ready,
            "rss_after_kib": rss_after,
            "hwm_kib": hwm,
            "store_open_ms": open_time.as_millis() as u64,
            "store_open_rss_kib": open_rss,
            "store_bytes": store_bytes,
            "bulk_load_secs": load_time.as_secs_f64(),
        }),
        short_of_targets: short,
    })
}

fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `hallpass-bench open-store`: opens the store at `path` in this (fresh) process; returns the
/// JSON line the parent reads: the open's duration and the RSS right after it.
pub fn open_alone(path: &Path, cache_mb: u64) -> anyhow::Result<String> {
    let start = Instant::now();
    let store = Store::open(
        path,
        StoreOptions {
            cache_bytes: cache_mb << 20,
        },
    )?;
    let open_ms = start.elapsed().as_millis();
    let (rss_kib, _) = crate::daemon::memory_kib("self")?;
    drop(store);
    Ok(serde_json::json!({ "open_ms": open_ms, "rss_kib": rss_kib }).to_string())
}

/// Runs [`open_alone`] in a child process (this executable), as the daemon opens it: cold
/// process, warm page cache.
fn open_in_fresh_process(path: &Path, cache_mb: u64) -> anyhow::Result<(Duration, u64)> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("open-store")
        .arg("--path")
        .arg(path)
        .arg("--cache-mb")
        .arg(cache_mb.to_string())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "open-store failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let field = |name: &str| {
        v[name]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("open-store printed no {name}: {v}"))
    };
    Ok((Duration::from_millis(field("open_ms")?), field("rss_kib")?))
}
