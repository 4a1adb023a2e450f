//! Serving: the daemon's `run`, the unix-socket accept loop, and in-memory connections for
//! tests, and the TCP+TLS listener for remote callers. Invariants: overdue deadlines are handled
//! (and their revocations started) before the first connection is served; a unix connection's
//! identity is its kernel peer credentials, a TCP connection's the API token it authenticated
//! with, and a TCP connection that has not authenticated within `remote.auth_timeout` is closed.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hallpass_core::Clock;
use hallpass_proto::{Hallpass, HallpassClient, framed_json};
use hallpass_store::{Store, StoreError, StoreOptions};
use tarpc::server::{BaseChannel, Channel};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::broker::Broker;
use crate::config::Config;
use crate::handlers::{Connection, Session};
use crate::{drift, expiry, mailer, sync, web};

/// Requests served at once on one connection.
const PER_CONNECTION: usize = 64;

/// Opens the store under `state_dir` and serves `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    state_dir: &Path,
    listener: UnixListener,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(state_dir).map_err(|e| {
        anyhow::anyhow!("cannot create state directory {}: {e}", state_dir.display())
    })?;
    let store_path = store_path(state_dir);
    let store = Store::open(&store_path, store_options(&config)).map_err(|e| match e {
        // Already names the path.
        StoreError::Open { .. } => anyhow::anyhow!(e),
        other => anyhow::anyhow!("cannot open the store at {}: {other}", store_path.display()),
    })?;
    let broker = Broker::new(store, clock, config)?;
    serve(broker, listener, shutdown).await
}

/// Where the daemon keeps its store under `state_dir`.
pub fn store_path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("store")
}

/// The store settings `config` asks for.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        cache_bytes: config.store.cache_mb * 1024 * 1024,
    }
}

/// After a clean stop, once every task (and with them every handle on the store) is gone:
/// opens and closes the store once more so sled writes a snapshot covering everything this run
/// wrote, and the next start does not replay it ([`Store::refresh_snapshot`]). `options` are
/// the ones the run used ([`store_options`]). Returns how long it took.
pub fn refresh_store_snapshot(options: StoreOptions, state_dir: &Path) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    Store::refresh_snapshot(&store_path(state_dir), options)
        .map_err(|e| anyhow::anyhow!("cannot refresh the store's snapshot: {e}"))?;
    Ok(started.elapsed())
}

/// Catches up on overdue deadlines, then serves until `shutdown`.
pub async fn serve(
    broker: Arc<Broker>,
    listener: UnixListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    expiry::step(&broker).await.map_err(|e| {
        anyhow::anyhow!("catching up on overdue deadlines failed: {}", e.into_api())
    })?;
    // Every listener is set up before any task starts, so a bad certificate stops start-up
    // with nothing left running.
    let remote = match broker.config().remote.listen {
        Some(addr) => {
            let cfg = &broker.config().remote;
            let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
                anyhow::bail!("remote.listen needs remote.tls_cert and remote.tls_key");
            };
            let tls = crate::tls::server_config("remote", cert, key, cfg.client_ca.as_deref())?;
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen on remote.listen {addr} for remote access: {e}")
            })?;
            Some((listener, tokio_rustls::TlsAcceptor::from(tls)))
        }
        None => None,
    };
    let web_tls = match broker.config().web.listen {
        Some(_) => web::tls_acceptor(&broker.config().web)?,
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let remote = remote.map(|(listener, tls)| {
        tokio::spawn(serve_remote(broker.clone(), listener, tls, stop_rx.clone()))
    });
    let web = match broker.config().web.listen {
        Some(addr) => {
            let tls = web_tls;
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen on web.listen {addr} for the access-link site: {e}")
            })?;
            Some(tokio::spawn(web::serve(
                broker.clone(),
                listener,
                tls,
                stop_rx.clone(),
            )))
        }
        None => None,
    };
    let mailer = broker
        .config()
        .smtp
        .enabled()
        .then(|| tokio::spawn(mailer::run(broker.clone(), stop_rx.clone())));
    let scheduler = tokio::spawn(expiry::run(broker.clone(), stop_rx.clone()));
    let sync = tokio::spawn(sync::run_periodic(broker.clone(), stop_rx.clone()));
    let drift = tokio::spawn(drift::run(broker.clone(), stop_rx));
    tracing::info!(
        catch_up_ms = started.elapsed().as_millis() as u64,
        "serving"
    );
    let _ = sd_notify::notify(
        false,
        &[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("serving"),
        ],
    );
    let watchdog = spawn_watchdog();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let broker = broker.clone();
                    tokio::spawn(async move { serve_stream(broker, stream).await });
                }
                Err(e) => {
                    // e.g. out of file descriptors: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    tracing::info!("shutting down");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    drift.abort();
    if let Some(r) = remote {
        // It stops at the signal and drops its connections.
        let _ = r.await;
    }
    // A sync cut short here is whole batches; the next run finishes it.
    sync.abort();
    for task in [web, mailer].into_iter().flatten() {
        // Both stop at the signal; a delivery in flight is retried after the restart.
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    broker
        .store()
        .flush()
        .map_err(|e| anyhow::anyhow!("final flush failed: {e}"))?;
    Ok(())
}

async fn serve_stream(broker: Arc<Broker>, stream: UnixStream) {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no peer credentials; dropping connection");
            return;
        }
    };
    let conn = Connection::new(cred.uid(), cred.pid());
    serve_transport(Session::new(broker, conn), framed_json(stream)).await;
}

/// Unauthenticated remote connections held at once, and per client address: each may hold a
/// frame buffer of up to [`hallpass_proto::MAX_FRAME`] until it authenticates or times out.
const PRE_AUTH_CONNECTIONS: usize = 64;
const PRE_AUTH_PER_ADDRESS: usize = 8;

/// Counts unauthenticated connections per client address (IPv6 by /64).
#[derive(Default)]
struct PreAuth {
    per_address: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One unauthenticated connection's place; released on drop (authenticated or closed).
struct PreAuthSlot {
    table: Arc<PreAuth>,
    key: std::net::IpAddr,
    _global: tokio::sync::OwnedSemaphorePermit,
}

impl PreAuth {
    fn take(
        self: &Arc<Self>,
        ip: std::net::IpAddr,
        global: &Arc<tokio::sync::Semaphore>,
    ) -> Option<PreAuthSlot> {
        let permit = global.clone().try_acquire_owned().ok()?;
        let key = crate::handlers::failure_key(ip);
        let mut map = self
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(key).or_insert(0);
        if *n >= PRE_AUTH_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(PreAuthSlot {
            table: self.clone(),
            key,
            _global: permit,
        })
    }
}

impl Drop for PreAuthSlot {
    fn drop(&mut self) {
        let mut map = self
            .table
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// Accepts TCP+TLS connections until `stop`, then drops them all. Each must authenticate with
/// an API token within `remote.auth_timeout` or is closed; until then every call but
/// `authenticate` is refused, and at most [`PRE_AUTH_CONNECTIONS`] (and
/// [`PRE_AUTH_PER_ADDRESS`] per address) may be waiting at once.
async fn serve_remote(
    broker: Arc<Broker>,
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    mut stop: watch::Receiver<bool>,
) {
    if let Ok(a) = listener.local_addr() {
        tracing::info!(address = %a, client_certs = broker.config().remote.client_ca.is_some(), "remote access listening (TLS)");
    }
    let global = Arc::new(tokio::sync::Semaphore::new(PRE_AUTH_CONNECTIONS));
    let pre_auth = Arc::new(PreAuth::default());
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    let Some(slot) = pre_auth.take(addr.ip(), &global) else {
                        tracing::warn!(%addr, "too many unauthenticated remote connections; dropped one");
                        continue;
                    };
                    let (broker, tls) = (broker.clone(), tls.clone());
                    conns.spawn(serve_remote_stream(broker, tls, tcp, addr, slot));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "remote accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    conns.shutdown().await;
}

async fn serve_remote_stream(
    broker: Arc<Broker>,
    tls: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    addr: std::net::SocketAddr,
    slot: PreAuthSlot,
) {
    let timeout = broker.config().remote.auth_timeout;
    let _ = tcp.set_nodelay(true);
    let handshake = timeout.min(Duration::from_secs(5));
    let stream = match tokio::time::timeout(handshake, tls.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(%addr, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%addr, "TLS handshake timed out");
            return;
        }
    };
    let conn = Connection::remote(addr);
    let session = Session::new(broker, conn.clone());
    let deadline = async {
        tokio::select! {
            _ = conn.authenticated.notified() => {
                drop(slot);
                std::future::pending::<()>().await
            }
            _ = tokio::time::sleep(timeout) => {}
        }
    };
    tokio::select! {
        _ = serve_transport(session, framed_json(stream)) => {}
        _ = deadline => tracing::info!(%addr, "closed a remote connection that did not authenticate in time"),
    }
}

async fn serve_transport<T>(session: Session, transport: T)
where
    T: tarpc::Transport<
            tarpc::Response<hallpass_proto::HallpassResponse>,
            tarpc::ClientMessage<hallpass_proto::HallpassRequest>,
        > + Send
        + 'static,
{
    BaseChannel::with_defaults(transport)
        .execute(session.serve())
        .for_each_concurrent(Some(PER_CONNECTION), |response| response)
        .await;
}

/// A client connected to `broker` in memory, as OS user `uid` (tests and the demo).
pub fn connect_in_memory(broker: &Arc<Broker>, uid: u32) -> HallpassClient {
    let (client_side, server_side) = tarpc::transport::channel::unbounded();
    let session = Session::new(broker.clone(), Connection::new(uid, None));
    tokio::spawn(serve_transport(session, server_side));
    HallpassClient::new(tarpc::client::Config::default(), client_side).spawn()
}

/// Pings systemd's watchdog at half its interval, when the unit asks for one.
fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return None;
    }
    let every = Duration::from_micros(usec / 2);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }))
}
