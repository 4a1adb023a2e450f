//! `startup`: a store holding many Active grants, some of them overdue (their deadline passed
//! while the daemon was down). Measures, for the real `hallpassd` process: spawn → serving
//! (the socket accepts and `hello` answers), spawn → first overdue revocation started and →
//! all started (from their `grant.expire` audit events), → all finished, and the daemon's
//! memory (VmRSS, VmHWM); twice: on the store as a clean stop leaves it, and on a copy as a
//! crash leaves it (sled then replays its whole log). Floor: opening the same store in a fresh
//! process.

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
    let daemon =
        |name: &str| Daemon::new(&env.hallpassd, &dir.path().join(name), args.cache_mb, "");
    let mut d = daemon("daemon")?;
    d.spawn()?;
    let (admin, _) = d.wait_ready(Duration::from_secs(20)).await?;
    fixture::prepare(&admin, args.connector).await?;
    drop(admin);
    d.stop()?;

    // Bulk-load: overdue grants ended in the last minute; the rest end in the next day.
    let store_path = hallpass_daemon::server::store_path(&d.state_dir());
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
    let store_bytes = dir_size(&store_path);
    // sled writes its page-table snapshot only when it opens a store, so the first open after
    // the load replays its whole log, as the first start after a crash of a daemon that wrote
    // the grants itself would. A copy keeps that state for the second daemon.
    let mut crashed = daemon("daemon-crashed")?;
    {
        // sled lets go of its lock from a background thread once the last handle is dropped;
        // holding it here makes sure the copy is of a closed store.
        let _closed = hallpass_store::sled_backend::lock_closed(&store_path)?;
        copy_dir(&d.state_dir(), &crashed.state_dir())?;
    }
    // The floor, and what a clean stop does (`Store::refresh_snapshot`): an open that replays
    // the load's log and writes a fresh snapshot; then the same open with that snapshot.
    let (open_time, open_rss) = open_in_fresh_process(&store_path, args.cache_mb)?;
    let (reopen_time, _) = open_in_fresh_process(&store_path, args.cache_mb)?;
    let clean = start_and_catch_up(&mut d, overdue).await?;
    let crash = start_and_catch_up(&mut crashed, overdue).await?;

    let ms = |d: Option<Duration>| {
        d.map_or_else(|| "never".to_string(), |d| format!("{} ms", d.as_millis()))
    };
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let mut t = Table::new(
        format!(
            "start-up with {} grants ({} overdue), store.cache_mb = {}",
            args.grants, overdue, args.cache_mb
        ),
        &[
            "measure",
            "after a clean stop",
            "after a crash (replays the log)",
        ],
    );
    let both = |f: &dyn Fn(&Started) -> String| vec![f(&clean), f(&crash)];
    let mut row = |name: String, f: &dyn Fn(&Started) -> String| {
        t.row([vec![name], both(f)].concat());
    };
    row("spawn → serving (hello answers)".into(), &|r| {
        ms(Some(r.ready))
    });
    row("spawn → first overdue revocation started".into(), &|r| {
        ms(r.first)
    });
    row(
        format!("spawn → all {overdue} overdue revocations started"),
        &|r| format!("{} ({} started)", ms(r.last), r.started),
    );
    row(
        format!("spawn → all {overdue} revocations finished (seen)"),
        &|r| format!("{} ms ({} finished)", r.finished.as_millis(), r.done),
    );
    row("RSS when serving".into(), &|r| mib(r.rss_ready));
    row("RSS after catching up / peak (VmHWM)".into(), &|r| {
        format!("{} / {}", mib(r.rss_after), mib(r.hwm))
    });
    row(
        "SIGTERM → exit (a clean stop refreshes the snapshot)".into(),
        &|r| format!("{} ms", r.stop.as_millis()),
    );
    t.note("Times are from the bench's spawn of the process (wall clock, ms). \"After a clean stop\": the store as a clean stop leaves it (the daemon opens and closes it once more when it stops, so sled writes a snapshot covering the run; here the floor's first open did that). \"After a crash\": a copy of the store taken right after the load, whose first open replays the whole log, as after a crash of a daemon that wrote the grants itself. Audit timestamps are the daemon's clock when the scheduler moved each grant to Revoking; the catch-up runs before the daemon serves, so revocations start before `hello` answers. \"Finished\" is when the bench saw the last `grant.expired` (polling the audit every 20 ms).");
    let mut f = Table::new("start-up floors (same store)", &["measure", "value"]);
    f.row(vec![
        "Store::open alone, fresh process, first open after the load".into(),
        format!("{} ms", open_time.as_millis()),
    ]);
    f.row(vec![
        "that process's RSS right after the open".into(),
        mib(open_rss),
    ]);
    f.row(vec![
        "the same open again (sled's snapshot fresh)".into(),
        format!("{} ms", reopen_time.as_millis()),
    ]);
    f.row(vec![
        "store on disk".into(),
        format!("{:.0} MiB", store_bytes as f64 / (1024.0 * 1024.0)),
    ]);
    f.row(vec![
        "bulk load".into(),
        format!("{:.1} s", load_time.as_secs_f64()),
    ]);
    let mut short = Vec::new();
    for (r, after) in [(&clean, "a clean stop"), (&crash, "a crash")] {
        if r.ready > Duration::from_secs(1) {
            short.push(format!(
                "after {after}: start-up to serving {} ms > 1 s at {} grants",
                r.ready.as_millis(),
                args.grants
            ));
        }
        if r.last.is_none_or(|l| l > Duration::from_secs(1)) {
            short.push(format!(
                "after {after}: overdue revocations all started after {} > 1 s",
                ms(r.last)
            ));
        }
        if r.started < overdue {
            short.push(format!(
                "after {after}: only {} of {overdue} overdue revocations started",
                r.started
            ));
        }
        if r.hwm > 150 * 1024 {
            short.push(format!(
                "after {after}: daemon peak RSS {:.0} MiB > 150 MB",
                r.hwm as f64 / 1024.0
            ));
        }
    }
    Ok(Outcome {
        name: "startup",
        tables: vec![t, f],
        json: json!({
            "grants": args.grants,
            "overdue": overdue,
            "cache_mb": args.cache_mb,
            "after_clean_stop": clean.json(),
            "after_crash": crash.json(),
            "store_open_ms": open_time.as_millis() as u64,
            "store_open_rss_kib": open_rss,
            "store_reopen_ms": reopen_time.as_millis() as u64,
            "store_bytes": store_bytes,
            "bulk_load_secs": load_time.as_secs_f64(),
        }),
        short_of_targets: short,
    })
}

/// One start of the daemon on a store with overdue grants, until they are all revoked.
struct Started {
    ready: Duration,
    first: Option<Duration>,
    last: Option<Duration>,
    started: usize,
    finished: Duration,
    done: usize,
    rss_ready: u64,
    rss_after: u64,
    hwm: u64,
    stop: Duration,
}

impl Started {
    fn json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_millis() as u64;
        json!({
            "ready_ms": ms(self.ready),
            "first_revocation_ms": self.first.map(ms),
            "all_revocations_started_ms": self.last.map(ms),
            "revocations_started": self.started,
            "revocations_finished": self.done,
            "finished_seen_ms": ms(self.finished),
            "rss_ready_kib": self.rss_ready,
            "rss_after_kib": self.rss_after,
            "hwm_kib": self.hwm,
            "stop_ms": ms(self.stop),
        })
    }
}

/// Spawns `d`, waits until it serves and every overdue revocation has finished (bounded),
/// reads its memory, and stops it cleanly.
async fn start_and_catch_up(d: &mut Daemon, overdue: usize) -> anyhow::Result<Started> {
    d.spawn()?;
    let (c, ready) = d.wait_ready(Duration::from_secs(120)).await?;
    let (rss_ready, _) = d.memory_kib()?;
    let spawned = d.spawned_wall;
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
    drop(c);
    let stopping = Instant::now();
    d.stop()?;
    Ok(Started {
        ready,
        first: starts.iter().min().map(|t| spawned.until(*t)),
        last: starts.iter().max().map(|t| spawned.until(*t)),
        started: starts.len(),
        finished,
        done,
        rss_ready,
        rss_after,
        hwm,
        stop: stopping.elapsed(),
    })
}

fn dir_size(p: &Path) -> u64 {
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

/// Copies the directory tree at `from` to `to` (a closed sled store: files and folders only).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
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
