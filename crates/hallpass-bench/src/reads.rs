//! `reads`: `get_grant` and a `list_grants` page over the socket at 1, 16 and 64 concurrent
//! clients, each against a do-nothing tarpc echo at the same concurrency in the same run.

use std::sync::Arc;
use std::time::Duration;

use hallpass_core::GrantId;
use hallpass_proto::{GrantQuery, GrantScope, HallpassClient};
use serde_json::json;

use crate::Env;
use crate::daemon::Daemon;
use crate::fixture::{self, ConnectorKind, ctx};
use crate::floor::EchoServer;
use crate::load::{Limit, closed_loop};
use crate::report::{Outcome, Table};
use crate::stats::{show_rate, show_ratio, show_us};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Concurrent clients, one connection each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 16, 64])]
    pub clients: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    pub secs: f64,
    /// Grants in the store before reading (made through an auto flow).
    #[arg(long, default_value_t = 2000)]
    pub grants: usize,
    /// Items per `list_grants` page.
    #[arg(long, default_value_t = 50)]
    pub page: u32,
}

async fn clients(d: &Daemon, n: usize) -> anyhow::Result<Vec<HallpassClient>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(d.connect().await?);
    }
    Ok(out)
}

pub async fn run(env: &Env, args: &Args) -> anyhow::Result<Outcome> {
    let dir = env.workdir()?;
    let mut d = Daemon::new(&env.hallpassd, &dir.path().join("daemon"), 64, "")?;
    d.spawn()?;
    let (admin, _) = d.wait_ready(Duration::from_secs(20)).await?;
    fixture::prepare(&admin, ConnectorKind::Noop).await?;
    crate::seed::auto_grants(&d, args.grants, 16).await?;
    let query = GrantQuery {
        scope: GrantScope::All,
        limit: args.page,
        ..GrantQuery::default()
    };
    // The page floor answers with the very page the daemon serves.
    let held = admin.list_grants(ctx(), query.clone()).await??;
    anyhow::ensure!(
        held.items.len() == args.page as usize || held.next.is_none(),
        "the daemon's first page is short"
    );
    let echo = EchoServer::with_page(dir.path(), held)?;
    let n_grants = args.grants.max(1) as u64;
    let limit = Limit::for_secs(args.secs);
    let mut t = Table::new(
        "reads (ops/s, closed loop, one connection per client)",
        &[
            "clients",
            "echo floor",
            "get_grant",
            "get ratio",
            "get p50 / p99",
            &format!("list_grants ({} a page)", args.page),
            "list ratio",
            "list p50 / p99",
            "page floor",
            "list / page floor",
        ],
    );
    let mut short = Vec::new();
    let mut results = Vec::new();
    for &c in &args.clients {
        let e = echo.measure(c, limit).await?;
        let pf = echo.measure_page(c, limit).await?;
        let get = closed_loop(
            clients(&d, c).await?,
            limit,
            move |cl: Arc<HallpassClient>, ci, i| async move {
                let id = GrantId((ci as u64 * 7919 + i * 104_729) % n_grants + 1);
                cl.get_grant(ctx(), id).await??;
                Ok(())
            },
        )
        .await?;
        let query = query.clone();
        let list = closed_loop(
            clients(&d, c).await?,
            limit,
            move |cl: Arc<HallpassClient>, _, _| {
                let query = query.clone();
                async move {
                    let p = cl.list_grants(ctx(), query).await??;
                    anyhow::ensure!(!p.items.is_empty(), "an empty page");
                    Ok(())
                }
            },
        )
        .await?;
        let (gs, ls) = (get.samples.summary(), list.samples.summary());
        let (g_ratio, l_ratio) = (get.per_sec() / e.per_sec(), list.per_sec() / e.per_sec());
        t.row(vec![
            c.to_string(),
            show_rate(e.per_sec()),
            show_rate(get.per_sec()),
            show_ratio(g_ratio),
            format!("{} / {}", show_us(gs.p50_us), show_us(gs.p99_us)),
            show_rate(list.per_sec()),
            show_ratio(l_ratio),
            format!("{} / {}", show_us(ls.p50_us), show_us(ls.p99_us)),
            show_rate(pf.per_sec()),
            show_ratio(list.per_sec() / pf.per_sec()),
        ]);
        if c >= 64 {
            if get.per_sec() < 100_000.0 {
                short.push(format!(
                    "get_grant at {c} clients: {} < 100k/s",
                    show_rate(get.per_sec())
                ));
            }
            if list.per_sec() < 100_000.0 {
                short.push(format!(
                    "list_grants page at {c} clients: {} < 100k/s",
                    show_rate(list.per_sec())
                ));
            }
        }
        if g_ratio < 0.5 {
            short.push(format!(
                "get_grant at {c} clients: {} of the echo floor (< 0.5×)",
                show_ratio(g_ratio)
            ));
        }
        if l_ratio < 0.5 {
            short.push(format!(
                "list_grants page at {c} clients: {} of the echo floor (< 0.5×)",
                show_ratio(l_ratio)
            ));
        }
        results.push(json!({
            "clients": c,
            "echo_per_sec": e.per_sec(),
            "echo": e.samples.summary(),
            "get_grant_per_sec": get.per_sec(),
            "get_grant": gs,
            "list_grants_per_sec": list.per_sec(),
            "list_grants": ls,
            "get_ratio": g_ratio,
            "list_ratio": l_ratio,
            "page_floor_per_sec": pf.per_sec(),
            "list_to_page_floor": list.per_sec() / pf.per_sec(),
        }));
    }
    t.note(format!(
        "{} grants in the store; the echo floor is a do-nothing tarpc service framed like hallpass, measured just before each row; the page floor is the same service answering with the daemon's first page of {} held in memory (the wire's cost of a page: encoding, framing and the client's decoding, with no store behind it). The targets are judged against the echo floor. The daemon, the echo server and the clients share the machine's cores.",
        args.grants, args.page
    ));
    d.stop()?;
    Ok(Outcome {
        name: "reads",
        tables: vec![t],
        json: json!({"grants": args.grants, "page": args.page, "runs": results}),
        short_of_targets: short,
    })
}
