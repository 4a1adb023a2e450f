//! Floors measured in the same run as the figures they bound: a do-nothing tarpc service over
//! a unix socket (framed exactly like hallpass, with `hallpass_proto::framed_json`), the same
//! service committing one write through a `hallpass_store::Store` (the wire and the store with
//! no broker between them), and raw sled writes and flushes (the one place outside
//! hallpass-store that imports sled: a floor must be sled without hallpass). Invariant: a floor
//! does the same kind of work as the figure it is compared with, minus everything hallpass
//! adds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::grant::Grant;
use hallpass_core::{Clock, RequestId, SystemClock, UserId};
use hallpass_proto::{GrantView, Page, framed_json};
use hallpass_store::{Store, StoreError, StoreOptions};
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

use crate::load::{Limit, Run, closed_loop};
use crate::stats::{Latency, Samples};

/// The echo floor's service: handlers that do nothing but answer.
#[tarpc::service]
pub trait Echo {
    async fn echo(payload: u64) -> u64;
    /// A page of grant views held in memory: the wire's cost of a `list_grants` answer
    /// (encoding, framing, the client's decoding) without the store or the views behind it.
    async fn page() -> Page<GrantView>;
    /// One write committed through the store behind the service, answered after its flush
    /// (see [`commit_grant`]); answers `i`.
    async fn commit(i: u64) -> Result<u64, String>;
}

#[derive(Clone)]
struct EchoService {
    page: Arc<Page<GrantView>>,
    store: Option<Arc<Store>>,
}

impl EchoService {
    fn new(page: Page<GrantView>, store: Option<Arc<Store>>) -> EchoService {
        EchoService {
            page: Arc::new(page),
            store,
        }
    }

    fn empty(store: Option<Arc<Store>>) -> EchoService {
        let page = Page {
            items: Vec::new(),
            next: None,
        };
        EchoService::new(page, store)
    }
}

impl Echo for EchoService {
    async fn echo(self, _: Context, payload: u64) -> u64 {
        payload
    }

    async fn page(self, _: Context) -> Page<GrantView> {
        Page::clone(&self.page)
    }

    async fn commit(self, _: Context, i: u64) -> Result<u64, String> {
        let store = self.store.ok_or("this echo server has no store")?;
        commit_grant(&store, i).await.map_err(|e| e.to_string())?;
        Ok(i)
    }
}

/// One durable write the size of a small hallpass state change: a new grant with its indexes
/// and deadline and an audit event (8 keys in 7 tables, one transaction), acknowledged after
/// the group commit's flush covers it.
pub async fn commit_grant(store: &Store, i: u64) -> Result<(), StoreError> {
    let now = SystemClock.now();
    store
        .commit(|tx| {
            let id = tx.next_grant_id()?;
            let g = Grant::new(
                id,
                RequestId(1),
                UserId(1 + i % 256),
                crate::fixture::target(i as usize),
                Duration::from_secs(3600),
                now,
            );
            tx.put_grant(&g)?;
            tx.audit(
                now,
                AuditEntry::new(
                    Actor::System,
                    Source::System,
                    "bench.write",
                    id,
                    "benchmark write",
                ),
            )?;
            Ok::<_, StoreError>(())
        })
        .await
}

/// An echo server on its own runtime (as many workers as cores, like hallpassd's), serving
/// like hallpassd does: one channel per connection, up to 64 requests at once.
pub struct EchoServer {
    pub socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoServer {
    pub fn start(dir: &Path) -> anyhow::Result<EchoServer> {
        Self::serve(dir, EchoService::empty(None))
    }

    /// An echo server whose `page` answers `page`.
    pub fn with_page(dir: &Path, page: Page<GrantView>) -> anyhow::Result<EchoServer> {
        Self::serve(dir, EchoService::new(page, None))
    }

    /// An echo server whose `commit` writes through `store`.
    pub fn with_store(dir: &Path, store: Arc<Store>) -> anyhow::Result<EchoServer> {
        Self::serve(dir, EchoService::empty(Some(store)))
    }

    fn serve(dir: &Path, service: EchoService) -> anyhow::Result<EchoServer> {
        let socket = dir.join("echo.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket)?;
        listener.set_nonblocking(true)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("echo-floor")
            .build()?;
        let thread = std::thread::Builder::new()
            .name("echo-floor".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = UnixListener::from_std(listener) else {
                        return;
                    };
                    tokio::pin!(stopped);
                    loop {
                        tokio::select! {
                            _ = &mut stopped => return,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(
                                        BaseChannel::with_defaults(framed_json(stream))
                                            .execute(service.clone().serve())
                                            .for_each_concurrent(Some(64), |r| r),
                                    );
                                }
                            }
                        }
                    }
                });
            })?;
        Ok(EchoServer {
            socket,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub async fn client(&self) -> anyhow::Result<EchoClient> {
        let stream = UnixStream::connect(&self.socket).await?;
        Ok(EchoClient::new(tarpc::client::Config::default(), framed_json(stream)).spawn())
    }

    async fn clients(&self, n: usize) -> anyhow::Result<Vec<EchoClient>> {
        let mut cs = Vec::with_capacity(n);
        for _ in 0..n {
            cs.push(self.client().await?);
        }
        Ok(cs)
    }

    /// `clients` connections, each calling echo back to back within `limit`.
    pub async fn measure(&self, clients: usize, limit: Limit) -> anyhow::Result<Run> {
        closed_loop(
            self.clients(clients).await?,
            limit,
            |c: Arc<EchoClient>, _, i| async move {
                let got = c.echo(tarpc::context::current(), i).await?;
                anyhow::ensure!(got == i, "echo answered {got} to {i}");
                Ok(())
            },
        )
        .await
    }

    /// `clients` connections, each committing writes back to back within `limit`.
    pub async fn measure_commit(&self, clients: usize, limit: Limit) -> anyhow::Result<Run> {
        closed_loop(
            self.clients(clients).await?,
            limit,
            move |c: Arc<EchoClient>, ci, i| async move {
                let i = i * clients as u64 + ci as u64;
                let got = c
                    .commit(tarpc::context::current(), i)
                    .await?
                    .map_err(anyhow::Error::msg)?;
                anyhow::ensure!(got == i, "commit answered {got} to {i}");
                Ok(())
            },
        )
        .await
    }

    /// `clients` connections, each asking for the held page back to back within `limit`.
    pub async fn measure_page(&self, clients: usize, limit: Limit) -> anyhow::Result<Run> {
        closed_loop(
            self.clients(clients).await?,
            limit,
            |c: Arc<EchoClient>, _, _| async move {
                let page = c.page(tarpc::context::current()).await?;
                anyhow::ensure!(!page.items.is_empty(), "the page floor answered no items");
                Ok(())
            },
        )
        .await
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A value the size of a stored grant or request record (about 600 bytes of JSON).
fn record_value(i: u64) -> Vec<u8> {
    let mut v = format!("\u{1}{{\"id\":{i},\"pad\":\"").into_bytes();
    v.resize(600, b'x');
    v.extend_from_slice(b"\"}");
    v
}

/// A fresh sled database under `dir` with the cache hallpassd uses by default and the mode
/// `SledBackend` sets.
fn sled_at(dir: &Path, name: &str) -> anyhow::Result<sled::Db> {
    Ok(sled::Config::new()
        .path(dir.join(name))
        .cache_capacity(64 << 20)
        .mode(sled::Mode::HighThroughput)
        .open()?)
}

/// One durable two-tree sled transaction (a record and its deadline index entry), then a
/// flush, `n` times in a row: the cost of one durable state change with nothing shared.
pub fn sled_txn_flush(dir: &Path, n: u64) -> anyhow::Result<Latency> {
    use sled::Transactional;
    let db = sled_at(dir, "floor-txn")?;
    let (records, index) = (db.open_tree("records")?, db.open_tree("deadlines")?);
    let mut s = Samples::new();
    for i in 0..n {
        let t = Instant::now();
        (&records, &index)
            .transaction(|(r, x)| {
                r.insert(&i.to_be_bytes(), record_value(i))?;
                x.insert(deadline_key(i), &[])?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("sled transaction: {e:?}"))?;
        db.flush()?;
        s.record(t.elapsed());
    }
    Ok(s.summary())
}

fn deadline_key(i: u64) -> Vec<u8> {
    let mut k = (i as i64 ^ i64::MIN).to_be_bytes().to_vec();
    k.push(1);
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// Raw sled batched writes: `batch` plain inserts of a ~600-byte record, then one flush;
/// repeated for `secs`. Returns durable writes per second.
pub fn sled_batched(dir: &Path, batch: u64, secs: f64) -> anyhow::Result<f64> {
    let db = sled_at(dir, &format!("floor-batch-{batch}"))?;
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while start.elapsed() < limit {
        for _ in 0..batch {
            db.insert(n.to_be_bytes(), record_value(n))?;
            n += 1;
        }
        db.flush()?;
    }
    Ok(crate::stats::rate(n, start.elapsed()))
}

/// The same `batch` writes, but each as the two-tree transaction a hallpass write is at the
/// least, then one flush: what group commit could reach with one sled transaction per write.
pub fn sled_batched_txn(dir: &Path, batch: u64, secs: f64) -> anyhow::Result<f64> {
    use sled::Transactional;
    let db = sled_at(dir, &format!("floor-batch-txn-{batch}"))?;
    let (records, index) = (db.open_tree("records")?, db.open_tree("deadlines")?);
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while start.elapsed() < limit {
        for _ in 0..batch {
            (&records, &index)
                .transaction(|(r, x)| {
                    r.insert(&n.to_be_bytes(), record_value(n))?;
                    x.insert(deadline_key(n), &[])?;
                    Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                })
                .map_err(|e| anyhow::anyhow!("sled transaction: {e:?}"))?;
            n += 1;
        }
        db.flush()?;
    }
    Ok(crate::stats::rate(n, start.elapsed()))
}

/// `tasks` tasks committing through one in-process [`Store`] for `secs`: (commits/s, latency).
pub async fn store_commits(dir: &Path, tasks: usize, secs: f64) -> anyhow::Result<(f64, Latency)> {
    let store = open_store(dir, &format!("store-commit-{tasks}"))?;
    let r = closed_loop(
        vec![store; tasks],
        Limit::for_secs(secs),
        move |s: Arc<Store>, ci, i| async move {
            commit_grant(&s, i * tasks as u64 + ci as u64).await?;
            Ok(())
        },
    )
    .await?;
    Ok((r.per_sec(), r.samples.summary()))
}

/// The same commits from `clients` connections through a tarpc service over a unix socket
/// (the wire and the store, with no broker between them): (commits/s, latency).
pub async fn rpc_store_commits(
    dir: &Path,
    clients: usize,
    secs: f64,
) -> anyhow::Result<(f64, Latency)> {
    let store = open_store(dir, &format!("rpc-store-commit-{clients}"))?;
    let server = EchoServer::with_store(dir, Arc::new(store))?;
    let r = server
        .measure_commit(clients, Limit::for_secs(secs))
        .await?;
    Ok((r.per_sec(), r.samples.summary()))
}

fn open_store(dir: &Path, name: &str) -> Result<Store, StoreError> {
    Store::open(
        &dir.join(name),
        StoreOptions {
            cache_bytes: 64 << 20,
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;
    use hallpass_core::GrantId;
    use hallpass_store::StoreOptions;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_commit_floor_acknowledges_each_write_after_it_is_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("store"),
            StoreOptions {
                cache_bytes: 1 << 20,
            },
        )
        .unwrap();
        let server = EchoServer::with_store(dir.path(), Arc::new(store.clone())).unwrap();
        let limit = Limit {
            duration: Duration::from_secs(60),
            ops_per_client: 3,
        };
        let run = server.measure_commit(2, limit).await.unwrap();
        assert_eq!(run.ops, 6);
        for id in 1..=6 {
            let g = store.grant(GrantId(id)).unwrap();
            assert!(g.is_some_and(|g| store.grant_unflushed(g.id).is_none()));
        }
        assert!(store.grant(GrantId(7)).unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_echo_server_without_a_store_refuses_commits() {
        let dir = tempfile::tempdir().unwrap();
        let server = EchoServer::start(dir.path()).unwrap();
        let client = server.client().await.unwrap();
        let answer = client.commit(tarpc::context::current(), 1).await.unwrap();
        assert_eq!(answer.unwrap_err(), "this echo server has no store");
    }
}
