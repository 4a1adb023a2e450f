//! `lifecycle`: N concurrent clients over the unix socket, each doing request → approve →
//! active → release against a real `hallpassd`, with the floors (tarpc echo round trip, sled
//! transaction + flush) measured in the same run. "Active" is observed the way a client learns
//! of it: one follower connection long-polls `events_since` and hands each `GrantActivated` to
//! the client waiting for that grant, so the step is the approve reply → activation seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hallpass_core::GrantId;
use hallpass_core::event::EventKind;
use hallpass_proto::HallpassClient;
use serde_json::json;
use tokio::sync::oneshot;

use crate::Env;
use crate::daemon::Daemon;
use crate::fixture::{self, ConnectorKind, MANUAL, ctx};
use crate::floor::{self, EchoServer};
use crate::load::Limit;
use crate::report::{Outcome, Table};
use crate::stats::{Latency, Samples, show_rate, show_ratio, show_us};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Concurrent clients, one connection each; one run per value.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 16])]
    pub clients: Vec<usize>,
    /// Seconds per run.
    #[arg(long, default_value_t = 8.0)]
    pub secs: f64,
    /// Connectors to run with; one daemon per value.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![ConnectorKind::Noop, ConnectorKind::True])]
    pub connector: Vec<ConnectorKind>,
}

enum Slot {
    Waiting(oneshot::Sender<Result<Instant, String>>),
    Seen(Result<Instant, String>),
}

/// Activation (or failure) of each grant as the event follower saw it.
#[derive(Default)]
pub struct Activations {
    slots: Mutex<HashMap<GrantId, Slot>>,
}

impl Activations {
    fn deliver(&self, id: GrantId, outcome: Result<Instant, String>) {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match slots.remove(&id) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(outcome);
            }
            _ => {
                slots.insert(id, Slot::Seen(outcome));
            }
        }
    }

    /// When grant `id` was seen active; waits up to `within`.
    pub async fn wait(&self, id: GrantId, within: Duration) -> anyhow::Result<Instant> {
        let rx = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match slots.remove(&id) {
                Some(Slot::Seen(outcome)) => {
                    return outcome.map_err(|e| anyhow::anyhow!("{id} failed: {e}"));
                }
                _ => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(id, Slot::Waiting(tx));
                    rx
                }
            }
        };
        let outcome = tokio::time::timeout(within, rx)
            .await
            .with_context(|| format!("{id} was not seen active within {within:?}"))??;
        outcome.map_err(|e| anyhow::anyhow!("{id} failed: {e}"))
    }

    /// Follows the event log on `c` until `stop` is set.
    pub fn follow(
        self: &Arc<Self>,
        c: HallpassClient,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let batch = c.events_since(ctx(), cursor, 1000, 200).await??;
                let seen = Instant::now();
                for e in batch.events {
                    match e.kind {
                        EventKind::GrantActivated { grant, .. } => me.deliver(grant, Ok(seen)),
                        EventKind::GrantFailed { grant, error, .. } => {
                            me.deliver(grant, Err(error))
                        }
                        _ => {}
                    }
                }
                cursor = batch.cursor;
            }
            Ok(())
        })
    }
}

/// One run's step latencies.
struct Steps {
    submit: Samples,
    approve: Samples,
    active: Samples,
    release: Samples,
    total: Samples,
}

async fn run_clients(
    d: &Daemon,
    clients: usize,
    secs: f64,
) -> anyhow::Result<(Steps, u64, Duration)> {
    let acts = Arc::new(Activations::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = acts.follow(d.connect().await?, stop.clone());
    let limit = Limit::for_secs(secs);
    let start = Instant::now();
    let deadline = start + limit.duration;
    let mut tasks = Vec::new();
    for ci in 0..clients {
        let c = d.connect().await?;
        let acts = acts.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Steps {
                submit: Samples::new(),
                approve: Samples::new(),
                active: Samples::new(),
                release: Samples::new(),
                total: Samples::new(),
            };
            let mut i = 0usize;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let req = c
                    .submit_request(ctx(), fixture::new_request(MANUAL, ci + i, None))
                    .await??;
                let t1 = Instant::now();
                let approved = c.approve(ctx(), req.id, None).await??;
                let t2 = Instant::now();
                let grant = approved
                    .grants
                    .first()
                    .with_context(|| format!("{} approved without a grant", req.id))?
                    .id;
                let t3 = acts.wait(grant, Duration::from_secs(30)).await?.max(t2);
                let t4 = Instant::now();
                c.release(ctx(), grant).await??;
                let t5 = Instant::now();
                s.submit.record(t1 - t0);
                s.approve.record(t2 - t1);
                s.active.record(t3 - t2);
                s.total.record(t3 - t0);
                s.release.record(t5 - t4);
                i += 1;
            }
            Ok::<_, anyhow::Error>(s)
        }));
    }
    let mut all = Steps {
        submit: Samples::new(),
        approve: Samples::new(),
        active: Samples::new(),
        release: Samples::new(),
        total: Samples::new(),
    };
    for t in tasks {
        let s = t.await??;
        all.submit.extend(s.submit);
        all.approve.extend(s.approve);
        all.active.extend(s.active);
        all.release.extend(s.release);
        all.total.extend(s.total);
    }
    let elapsed = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    follower.await??;
    let n = all.total.len() as u64;
    Ok((all, n, elapsed))
}

fn lat_row(what: &str, l: &Latency) -> Vec<String> {
    vec![
        what.to_string(),
        l.n.to_string(),
        show_us(l.p50_us),
        show_us(l.p99_us),
        show_us(l.p999_us),
        show_us(l.max_us),
    ]
}

pub async fn run(env: &Env, args: &Args) -> anyhow::Result<Outcome> {
    let dir = env.workdir()?;
    // Floors first, on a quiet machine: echo at each concurrency, sled transaction + flush.
    let echo = EchoServer::start(dir.path())?;
    let mut echo_at = HashMap::new();
    for &c in &args.clients {
        let r = echo.measure(c, Limit::for_secs(args.secs.min(3.0))).await?;
        echo_at.insert(c, (r.samples.summary(), r.per_sec()));
    }
    drop(echo);
    let sled = floor::sled_txn_flush(dir.path(), 400)?;
    // What concurrency costs the durable steps without the broker: the same clients each
    // committing one write at a time through a tarpc service and a store.
    let mut commit_at = HashMap::new();
    for &c in &args.clients {
        let (_, l) = floor::rpc_store_commits(dir.path(), c, args.secs.min(3.0)).await?;
        commit_at.insert(c, l);
    }

    let mut floors = Table::new(
        "lifecycle floors (same run)",
        &["floor", "n", "p50", "p99", "p99.9", "max"],
    );
    for &c in &args.clients {
        let (l, _) = &echo_at[&c];
        floors.row(lat_row(&format!("tarpc echo round trip, {c} client(s)"), l));
    }
    floors.row(lat_row("sled 2-tree transaction + flush", &sled));
    for &c in &args.clients {
        floors.row(lat_row(
            &format!("tarpc + durable Store::commit, {c} client(s)"),
            &commit_at[&c],
        ));
    }

    let mut tables = vec![floors];
    let mut short = Vec::new();
    let mut results = Vec::new();
    for &kind in &args.connector {
        let mut d = Daemon::new(
            &env.hallpassd,
            &dir.path().join(format!("daemon-{kind:?}")),
            64,
            "",
        )?;
        d.spawn()?;
        let (admin, _) = d.wait_ready(Duration::from_secs(20)).await?;
        fixture::prepare(&admin, kind).await?;
        for &c in &args.clients {
            let (steps, n, elapsed) = run_clients(&d, c, args.secs).await?;
            let (echo_l, _) = echo_at[&c];
            let floor_p50 = 3.0 * echo_l.p50_us + 3.0 * sled.p50_us;
            let floor_p99 = 3.0 * echo_l.p99_us + 3.0 * sled.p99_us;
            let shared_p50 = 3.0 * commit_at[&c].p50_us;
            let total = steps.total.summary();
            let per_sec = crate::stats::rate(n, elapsed);
            let mut t = Table::new(
                format!(
                    "lifecycle, {} connector, {c} client(s): {} lifecycles",
                    kind.label(),
                    show_rate(per_sec)
                ),
                &["step", "n", "p50", "p99", "p99.9", "max"],
            );
            t.row(lat_row("submit_request", &steps.submit.summary()));
            t.row(lat_row("approve", &steps.approve.summary()));
            t.row(lat_row(
                "active (approve reply → GrantActivated seen)",
                &steps.active.summary(),
            ));
            t.row(lat_row("request → approve → active", &total));
            t.row(lat_row("release", &steps.release.summary()));
            t.note(format!(
                "Floor = 3 × echo + 3 × sled txn+flush = {} p50, {} p99; request → approve → active is {} of it at p50 and {} at p99. With {c} client(s) committing at once through tarpc and a store alone, 3 commits take {} p50, and request → approve → active is {} of that.",
                show_us(floor_p50),
                show_us(floor_p99),
                show_ratio(total.p50_us / floor_p50),
                show_ratio(total.p99_us / floor_p99),
                show_us(shared_p50),
                show_ratio(total.p50_us / shared_p50)
            ));
            if kind == ConnectorKind::Noop {
                if total.p50_us > 2000.0 {
                    short.push(format!(
                        "lifecycle p50 {} > 2 ms (noop, {c} clients)",
                        show_us(total.p50_us)
                    ));
                }
                if total.p99_us > 10_000.0 {
                    short.push(format!(
                        "lifecycle p99 {} > 10 ms (noop, {c} clients)",
                        show_us(total.p99_us)
                    ));
                }
                if total.p50_us > 3.0 * floor_p50 {
                    short.push(format!(
                        "lifecycle p50 is {} the floor (> 3×) (noop, {c} clients)",
                        show_ratio(total.p50_us / floor_p50)
                    ));
                }
            }
            results.push(json!({
                "connector": kind,
                "clients": c,
                "lifecycles_per_sec": per_sec,
                "submit": steps.submit.summary(),
                "approve": steps.approve.summary(),
                "active": steps.active.summary(),
                "request_approve_active": total,
                "release": steps.release.summary(),
                "floor_p50_us": floor_p50,
                "floor_p99_us": floor_p99,
                "ratio_p50": total.p50_us / floor_p50,
                "ratio_p99": total.p99_us / floor_p99,
                "floor_concurrent_commit_p50_us": shared_p50,
                "ratio_concurrent_commit_p50": total.p50_us / shared_p50,
            }));
            tables.push(t);
        }
        d.stop()?;
    }
    let echo_json: Vec<_> = args
        .clients
        .iter()
        .map(|c| json!({"clients": c, "latency": echo_at[c].0, "per_sec": echo_at[c].1}))
        .collect();
    let commit_json: Vec<_> = args
        .clients
        .iter()
        .map(|c| json!({"clients": c, "latency": commit_at[c]}))
        .collect();
    Ok(Outcome {
        name: "lifecycle",
        tables,
        json: json!({
            "floors": {"echo": echo_json, "sled_txn_flush": sled, "rpc_store_commit": commit_json},
            "runs": results,
        }),
        short_of_targets: short,
    })
}
