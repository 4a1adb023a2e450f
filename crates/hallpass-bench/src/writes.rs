//! `writes`: durable state changes per second through the daemon (each `submit_request` is one
//! transaction — record, indexes, deadline, audit, event — acknowledged only after the group
//! commit's flush covers it), against raw sled batched writes + flush in the same run.

use std::sync::Arc;
use std::time::Duration;

use hallpass_proto::HallpassClient;
use serde_json::json;

use crate::Env;
use crate::daemon::Daemon;
use crate::fixture::{self, ConnectorKind, MANUAL, ctx};
use crate::floor;
use crate::load::{Limit, closed_loop};
use crate::report::{Outcome, Table};
use crate::stats::{show_rate, show_ratio, show_us};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Concurrent writers, one connection each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 16, 64, 256])]
    pub clients: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 4.0)]
    pub secs: f64,
}

pub async fn run(env: &Env, args: &Args) -> anyhow::Result<Outcome> {
    let dir = env.workdir()?;
    let mut floors = Vec::new();
    for &c in &args.clients {
        let raw = floor::sled_batched(dir.path(), c as u64, args.secs.min(3.0))?;
        let txn = floor::sled_batched_txn(dir.path(), c as u64, args.secs.min(3.0))?;
        let store = floor::store_commits(dir.path(), c, args.secs.min(3.0)).await?;
        let rpc = floor::rpc_store_commits(dir.path(), c, args.secs.min(3.0)).await?;
        floors.push((raw, txn, store, rpc));
    }
    let mut d = Daemon::new(&env.hallpassd, &dir.path().join("daemon"), 64, "")?;
    d.spawn()?;
    let (admin, _) = d.wait_ready(Duration::from_secs(20)).await?;
    fixture::prepare(&admin, ConnectorKind::Noop).await?;
    let mut t = Table::new(
        "durable writes (submit_request: one transaction, acknowledged after its flush)",
        &[
            "writers",
            "writes/s",
            "p50",
            "p99",
            "p99.9",
            "sled inserts, flush per batch",
            "ratio",
            "sled 2-tree txns, flush per batch",
            "in-process Store::commit",
            "tarpc + Store::commit",
            "of that",
        ],
    );
    let mut short = Vec::new();
    let mut results = Vec::new();
    for (&c, &(floor_rate, txn_rate, store_run, rpc_run)) in args.clients.iter().zip(&floors) {
        let mut cs = Vec::new();
        for _ in 0..c {
            cs.push(d.connect().await?);
        }
        let r = closed_loop(
            cs,
            Limit::for_secs(args.secs),
            |cl: Arc<HallpassClient>, ci, i| async move {
                cl.submit_request(ctx(), fixture::new_request(MANUAL, ci + i as usize, None))
                    .await??;
                Ok(())
            },
        )
        .await?;
        let l = r.samples.summary();
        let ratio = r.per_sec() / floor_rate;
        t.row(vec![
            c.to_string(),
            show_rate(r.per_sec()),
            show_us(l.p50_us),
            show_us(l.p99_us),
            show_us(l.p999_us),
            show_rate(floor_rate),
            show_ratio(ratio),
            show_rate(txn_rate),
            format!(
                "{} (p50 {})",
                show_rate(store_run.0),
                show_us(store_run.1.p50_us)
            ),
            format!(
                "{} (p50 {})",
                show_rate(rpc_run.0),
                show_us(rpc_run.1.p50_us)
            ),
            show_ratio(r.per_sec() / rpc_run.0),
        ]);
        results.push(json!({
            "writers": c,
            "per_sec": r.per_sec(),
            "latency": l,
            "sled_floor_per_sec": floor_rate,
            "ratio": ratio,
            "sled_txn_floor_per_sec": txn_rate,
            "store_commit_per_sec": store_run.0,
            "store_commit_latency": store_run.1,
            "rpc_store_commit_per_sec": rpc_run.0,
            "rpc_store_commit_latency": rpc_run.1,
            "ratio_to_rpc_store_commit": r.per_sec() / rpc_run.0,
        }));
    }
    let best = results
        .iter()
        .filter_map(|r| r["per_sec"].as_f64())
        .fold(0.0, f64::max);
    if best < 20_000.0 {
        short.push(format!(
            "durable writes peak at {} < 20k/s",
            show_rate(best)
        ));
    }
    t.note(
        "Floors: as many ~600-byte records per flush as there are writers, as plain sled inserts (what group commit could reach if hallpass added nothing) and as one two-tree sled transaction each. `in-process Store::commit` is the store alone, no RPC: that many tasks each committing a grant with its indexes, deadline and an audit event (8 keys in 7 trees, one sled transaction) and waiting for the group flush. `tarpc + Store::commit` is the same commit made by a tarpc service (framed like hallpassd, over a unix socket) for that many connections: the wire and the store with no broker between them; `of that` is the daemon's rate as a share of it. A submit writes about 9 keys in 7 trees (request, 2 indexes, deadline, audit event and head, event and head, id counter).",
    );
    d.stop()?;
    Ok(Outcome {
        name: "writes",
        tables: vec![t],
        json: json!({"runs": results}),
        short_of_targets: short,
    })
}
