//! The access-link web site: externals open a link, ask for access, and follow their request on
//! a private status page. Invariants: the site reaches the broker only through the same
//! transactions the RPC handlers use; link and status tokens are looked up by their SHA-256 and
//! never logged; every page is escaped by its template, framed by nobody, and sent with a
//! strict CSP and no referrer; every form carries a CSRF token; every client address and every
//! link is rate-limited.

mod apply;
mod confirm;
mod guard;
mod pages;
pub mod probe;
mod status;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::broker::Broker;
use crate::config::WebConfig;

const STYLE: &str = include_str!("style.css");
const COUNTDOWN: &str = include_str!("countdown.js");

/// The client's address, set per connection (not from any header).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientAddr(IpAddr);

/// The client address of a request (0.0.0.0 when served without a connection, in tests).
pub(crate) fn client_ip<B>(req: &axum::http::Request<B>) -> IpAddr {
    req.extensions()
        .get::<ClientAddr>()
        .map(|a| a.0)
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

pub(crate) use guard::AddressLimit;

/// What every handler shares.
pub(crate) struct Site {
    broker: Arc<Broker>,
    csrf: guard::Csrf,
    limits: guard::Limits,
    /// e.g. `https://access.example.com`
    base_url: String,
    /// The `Origin` browsers send for our own forms.
    origin: String,
    tls: bool,
}

impl Site {
    fn org(&self) -> &str {
        &self.broker.config().organisation
    }

    fn page(&self, code: StatusCode, title: &str, text: &str) -> Response {
        (
            code,
            Html(pages::message(self.org(), title, text).into_string()),
        )
            .into_response()
    }

    fn not_found(&self) -> Response {
        self.page(
            StatusCode::NOT_FOUND,
            "Nothing here",
            "This address is not valid. Check that you copied the whole link you were sent, or ask the person who sent it for a new one.",
        )
    }

    fn internal(&self, e: crate::broker::Fail) -> Response {
        let e = e.into_api();
        self.page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            &format!("Nothing was lost; please try again in a minute. ({e})"),
        )
    }

    fn status_url(&self, token: &str) -> String {
        format!("{}/s/{token}", self.base_url)
    }
}

/// The origin (scheme://host[:port]) of a base URL.
fn origin_of(base: &str) -> String {
    match base.find("://") {
        Some(i) => match base[i + 3..].find('/') {
            Some(j) => base[..i + 3 + j].to_string(),
            None => base.to_string(),
        },
        None => base.to_string(),
    }
}

/// The site's CSRF key: the stored one, or a new one stored now (the first start).
async fn csrf_key(broker: &Broker) -> Result<[u8; 32], crate::broker::Fail> {
    let decode = |hex_key: &str| -> Option<[u8; 32]> { hex::decode(hex_key).ok()?.try_into().ok() };
    if let Some(k) = broker.store().csrf_key()?.as_deref().and_then(decode) {
        return Ok(k);
    }
    let fresh = crate::broker::random_hex(32);
    let stored = broker
        .commit(|tx| {
            if let Some(k) = tx.csrf_key()?.filter(|k| decode(k).is_some()) {
                return Ok(k);
            }
            tx.set_csrf_key(&fresh)?;
            Ok(fresh.clone())
        })
        .await?;
    Ok(decode(&stored).expect("invariant: the stored key is 32 bytes of hex"))
}

/// The site's routes and guards, on `broker`, signing forms with `csrf_key`.
pub fn router(broker: Arc<Broker>, csrf_key: [u8; 32]) -> Router {
    let cfg = broker.config().web.clone();
    let base_url = cfg.base_url().unwrap_or_else(|| "http://localhost".into());
    let site = Arc::new(Site {
        csrf: guard::Csrf::with_key(csrf_key),
        limits: guard::Limits::new(cfg.requests_per_minute, cfg.submissions_per_hour),
        origin: origin_of(&base_url),
        base_url,
        tls: cfg.tls_cert.is_some(),
        broker,
    });
    let scim = broker_scim(&site);
    let mut app = Router::new()
        .route("/", get(home))
        .route("/static/style.css", get(style))
        .route("/static/countdown.js", get(countdown))
        .route("/l/{token}", get(apply::show).post(apply::submit))
        .route("/c/{token}", get(confirm::show).post(confirm::send))
        .route("/s/{token}", get(status::show))
        .route("/s/{token}/release", post(status::release));
    if let Some(scim) = scim {
        app = app.nest("/scim/v2", scim);
    }
    app.fallback(fallback)
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(site.clone(), guard_request))
        .layer(middleware::from_fn_with_state(
            site.clone(),
            security_headers,
        ))
        .with_state(site)
}

/// The SCIM routes, when `[scim] enabled`.
fn broker_scim(site: &Arc<Site>) -> Option<Router<Arc<Site>>> {
    let broker = site.broker.clone();
    broker
        .config()
        .scim
        .enabled
        .then(|| crate::scim::http::router(broker.clone(), &site.base_url))
}

async fn home(State(site): State<Arc<Site>>) -> Response {
    site.page(
        StatusCode::OK,
        &format!("{} access", site.org()),
        "Open the access link you were sent to ask for access, or the private status link you received to follow a request.",
    )
}

async fn fallback(State(site): State<Arc<Site>>) -> Response {
    site.not_found()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn countdown() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        COUNTDOWN,
    )
        .into_response()
}

/// Per-address rate limit, and for state-changing requests a same-origin check (in addition to
/// the CSRF token every form carries).
async fn guard_request(State(site): State<Arc<Site>>, req: Request, next: Next) -> Response {
    // SCIM is a bearer-authenticated API with its own rate limit (see `scim::http`).
    if req.uri().path().starts_with("/scim/") {
        return next.run(req).await;
    }
    let now = site.broker.now();
    let ip = client_ip(&req);
    let is_static = req.uri().path().starts_with("/static/");
    if !is_static && let Err(wait) = site.limits.address(ip, now) {
        return too_many(&site, wait);
    }
    if req.method() == axum::http::Method::POST && !same_origin(&site, req.headers()) {
        return site.page(
            StatusCode::FORBIDDEN,
            "Form refused",
            "This form was sent from another site. Open the page again and submit it from there.",
        );
    }
    next.run(req).await
}

/// Fetch metadata first (browsers send it whatever the referrer policy); else the `Origin`,
/// where `null` is what `Referrer-Policy: no-referrer` makes browsers send for our own forms.
fn same_origin(site: &Site, h: &HeaderMap) -> bool {
    if let Some(v) = h.get("sec-fetch-site") {
        return matches!(v.as_bytes(), b"same-origin" | b"none");
    }
    match h.get(header::ORIGIN) {
        None => true,
        Some(o) => o.as_bytes() == site.origin.as_bytes() || o.as_bytes() == b"null",
    }
}

pub(crate) fn too_many(site: &Site, wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut r = site.page(
        StatusCode::TOO_MANY_REQUESTS,
        "Slow down",
        &format!("Too many requests came from here. Please wait {secs} seconds and try again."),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Strict headers on every response, errors included.
async fn security_headers(State(site): State<Arc<Site>>, req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    if site.tls {
        set(h, "strict-transport-security", "max-age=31536000");
    }
    r
}

/// The body of a one-button form (release, confirm): its CSRF token only.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ButtonForm {
    csrf: String,
}

/// The page for a form body that could not be read (too big, not a form, not UTF-8).
fn unreadable(site: &Site, r: &axum::extract::rejection::FormRejection) -> Response {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        site.page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much text",
            "The form was larger than this site accepts. Shorten what you typed and send it again.",
        )
    } else {
        site.page(
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            "Open the page again and send the form from there.",
        )
    }
}

/// A redirect after a successful POST (303, so a reload does not resubmit).
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Reads the certificate and key, when TLS is configured.
pub fn tls_acceptor(cfg: &WebConfig) -> anyhow::Result<Option<TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
        return Ok(None);
    };
    let config = crate::tls::server_config("web", cert, key, None)?;
    Ok(Some(TlsAcceptor::from(config)))
}

/// Serves the site on `listener` until `stop` turns true; open connections are then dropped.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let key = match csrf_key(&broker).await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e.into_api(), "cannot load the site's CSRF key; the site is not served");
            return;
        }
    };
    let app = router(broker, key);
    let mut conns = JoinSet::new();
    if let Ok(a) = listener.local_addr() {
        tracing::info!(address = %a, tls = tls.is_some(), "access-link site listening");
    }
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(connection(app.clone(), stream, peer, tls.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "web accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    conns.shutdown().await;
}

async fn connection(
    app: Router,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
) {
    let ip = peer.ip();
    let svc = TowerToHyperService::new(app.map_request(
        move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ClientAddr(ip));
            req
        },
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(64 * 1024);
    let result = match tls {
        None => http.serve_connection(TokioIo::new(stream), svc).await,
        Some(acceptor) => {
            match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(s)) => http.serve_connection(TokioIo::new(s), svc).await,
                _ => return,
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "web connection ended with an error");
    }
}
