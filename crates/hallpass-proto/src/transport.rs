//! Framing and connecting. Invariants: frames larger than [`MAX_FRAME`] are refused by both
//! sides before any JSON is parsed; a request whose deadline is more than [`MAX_DEADLINE`] away
//! is refused like malformed JSON (tarpc would panic on it).

use std::io;
use std::marker::PhantomData;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tarpc::serde_transport::Transport;
use tarpc::tokio_serde;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::LengthDelimitedCodec;

use crate::{
    ApiError, Authenticate, Authenticated, ClientHello, HallpassClient, PROTOCOL_VERSION,
    RemoteAccept, RemoteAccepted, ServerHello,
};

/// The largest frame either side accepts: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;

/// The furthest request deadline accepted from a peer: 1 year. tarpc turns the relative
/// deadline on the wire into `Instant::now() + d`, which panics on overflow, and its server's
/// timer wheel panics on deadlines beyond about 2 years; such frames are refused instead.
pub const MAX_DEADLINE: Duration = Duration::from_secs(365 * 86_400);

/// Wraps a byte stream in length-prefixed JSON frames capped at [`MAX_FRAME`].
pub fn framed_json<S, Item, SinkItem>(
    io: S,
) -> Transport<S, Item, SinkItem, JsonCodec<Item, SinkItem>>
where
    S: AsyncRead + AsyncWrite,
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_framed(io);
    tarpc::serde_transport::new(framed, JsonCodec(PhantomData))
}

/// The JSON codec of [`framed_json`]: `tokio_serde`'s `Json`, plus the [`MAX_DEADLINE`] check
/// before a frame is decoded.
#[derive(Debug)]
pub struct JsonCodec<Item, SinkItem>(PhantomData<fn() -> (Item, SinkItem)>);

impl<Item, SinkItem> tokio_serde::Deserializer<Item> for JsonCodec<Item, SinkItem>
where
    Item: for<'de> serde::Deserialize<'de>,
{
    type Error = io::Error;

    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> Result<Item, io::Error> {
        if deadline_too_far(src) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request deadline is more than a year away",
            ));
        }
        serde_json::from_slice(src).map_err(io::Error::from)
    }
}

impl<Item, SinkItem> tokio_serde::Serializer<SinkItem> for JsonCodec<Item, SinkItem>
where
    SinkItem: serde::Serialize,
{
    type Error = io::Error;

    fn serialize(self: Pin<&mut Self>, item: &SinkItem) -> Result<Bytes, io::Error> {
        Ok(serde_json::to_vec(item)?.into())
    }
}

/// Marks the probe's refusal among its other (ignored) errors.
const TOO_FAR: &str = "hallpass: deadline too far";

/// Whether the frame is a tarpc `ClientMessage::Request` (`{"Request":{"context":{"deadline":
/// …`) whose deadline is beyond [`MAX_DEADLINE`]. Mirrors tarpc's shapes, accepting at least
/// what they accept up to the deadline, and stops there: tarpc acts on the deadline as soon as
/// it is parsed, whatever follows.
fn deadline_too_far(frame: &[u8]) -> bool {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Request {
        context: Context,
        id: IgnoredAny,
        message: IgnoredAny,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Context {
        #[serde(default, deserialize_with = "deadline")]
        deadline: (),
        trace_context: IgnoredAny,
    }
    fn deadline<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        if Duration::deserialize(d)? > MAX_DEADLINE {
            return Err(de::Error::custom(TOO_FAR));
        }
        Ok(())
    }
    struct Probe;
    impl<'de> Visitor<'de> for Probe {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a tarpc message")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            if map.next_key::<String>()?.as_deref() == Some("Request") {
                map.next_value::<Request>()?;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(frame);
    match de.deserialize_map(Probe) {
        Err(e) => e.to_string().starts_with(TOO_FAR),
        Ok(()) => false,
    }
}

/// Why a client could not get a working connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach hallpassd at {addr}: {source}")]
    Tcp { addr: String, source: io::Error },
    #[error("TLS with hallpassd at {addr} failed: {why}")]
    Tls { addr: String, why: String },
    #[error("{what}: {why}")]
    Setup { what: String, why: String },
    #[error(
        "cannot reach hallpassd at {path}: {source}\nis the daemon running? start it with `hallpassd` or `systemctl start hallpassd`"
    )]
    Socket { path: String, source: io::Error },
    #[error("hallpassd at {path} did not answer the handshake: {source}")]
    Handshake {
        path: String,
        source: tarpc::client::RpcError,
    },
    #[error(transparent)]
    Refused(#[from] ApiError),
}

/// Connects to the daemon's unix socket and performs the `hello` handshake.
pub async fn connect_unix(
    path: &Path,
    client_name: &str,
) -> Result<(HallpassClient, ServerHello), ConnectError> {
    let shown = path.display().to_string();
    let stream = UnixStream::connect(path)
        .await
        .map_err(|source| ConnectError::Socket {
            path: shown.clone(),
            source,
        })?;
    let client = HallpassClient::new(tarpc::client::Config::default(), framed_json(stream)).spawn();
    let hello = ClientHello {
        protocol: PROTOCOL_VERSION,
        client: client_name.to_string(),
    };
    let server = client
        .hello(tarpc::context::current(), hello)
        .await
        .map_err(|source| ConnectError::Handshake {
            path: shown,
            source,
        })??;
    Ok((client, server))
}

/// Where a daemon is: its unix socket (identity from the kernel) or a TCP+TLS address (identity
/// from an API token).
#[derive(Clone, Debug)]
pub enum Endpoint {
    Unix(std::path::PathBuf),
    Remote(Remote),
}

/// A remote daemon and how to trust and authenticate to it.
#[derive(Clone)]
pub struct Remote {
    /// `host:port`; the host is also the name the server's certificate must carry.
    pub addr: String,
    /// The API token (`hallpass_tok_…`).
    pub token: String,
    /// A PEM CA bundle to trust instead of the system's roots (a private CA, a self-signed
    /// daemon certificate).
    pub ca_file: Option<std::path::PathBuf>,
    /// A PEM client certificate chain and its key, for daemons that require one.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("addr", &self.addr)
            .field("token", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Remote(r) => f.write_str(&r.addr),
        }
    }
}

/// Connects to `endpoint` and completes its handshake: `hello` on a unix socket,
/// `authenticate` with the token over TCP+TLS.
pub async fn connect(
    endpoint: &Endpoint,
    client_name: &str,
) -> Result<(HallpassClient, ServerHello), ConnectError> {
    match endpoint {
        Endpoint::Unix(path) => connect_unix(path, client_name).await,
        Endpoint::Remote(r) => connect_tcp(r, client_name)
            .await
            .map(|(c, a)| (c, a.server)),
    }
}

fn setup(what: impl Into<String>) -> impl FnOnce(String) -> ConnectError {
    let what = what.into();
    move |why| ConnectError::Setup { what, why }
}

/// A TLS client config trusting `ca_file` (or the system's roots), optionally presenting a
/// client certificate.
pub fn tls_client_config(
    ca_file: Option<&Path>,
    client_cert: Option<(&Path, &Path)>,
) -> Result<std::sync::Arc<rustls::ClientConfig>, ConnectError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(ca) => {
            let shown = format!("CA file {}", ca.display());
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| setup(&shown)(e.to_string()))?;
            if certs.is_empty() {
                return Err(setup(&shown)("holds no certificate".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| setup(&shown)(e.to_string()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(setup("the system's CA certificates")(
                    "none found; pass --ca-file".into(),
                ));
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup("TLS")(e.to_string()))?
        .with_root_certificates(roots);
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let shown = format!("client certificate {}", cert.display());
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| setup(&shown)(e.to_string()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| setup(format!("client key {}", key.display()))(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| setup(&shown)(e.to_string()))?
        }
    };
    Ok(std::sync::Arc::new(config))
}

/// The host part of `host:port` (`[::1]:7443` gives `::1`).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Opens a TCP+TLS connection to `addr` and wraps it in a client, making no call: the daemon
/// serves nothing on it until `authenticate` (or `accept_invite_remote`) succeeds.
/// [`connect_tcp`] is what most callers want.
pub async fn open_tls(
    addr: &str,
    ca_file: Option<&Path>,
    client_cert: Option<(&Path, &Path)>,
) -> Result<HallpassClient, ConnectError> {
    let config = tls_client_config(ca_file, client_cert)?;
    let name = rustls_pki_types::ServerName::try_from(host_of(addr).to_string()).map_err(|e| {
        ConnectError::Tls {
            addr: addr.into(),
            why: format!("`{}` is not a host name: {e}", host_of(addr)),
        }
    })?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|source| ConnectError::Tcp {
            addr: addr.into(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| ConnectError::Tls {
            addr: addr.into(),
            why: e.to_string(),
        })?;
    Ok(HallpassClient::new(tarpc::client::Config::default(), framed_json(tls)).spawn())
}

fn client_cert(r: &Remote) -> Option<(&Path, &Path)> {
    r.client_cert
        .as_ref()
        .map(|(c, k)| (c.as_path(), k.as_path()))
}

/// Connects over TCP+TLS and authenticates with the remote's API token.
pub async fn connect_tcp(
    remote: &Remote,
    client_name: &str,
) -> Result<(HallpassClient, Authenticated), ConnectError> {
    let client = open_tls(&remote.addr, remote.ca_file.as_deref(), client_cert(remote)).await?;
    let args = Authenticate {
        token: remote.token.clone(),
        hello: ClientHello {
            protocol: PROTOCOL_VERSION,
            client: client_name.to_string(),
        },
    };
    let auth = client
        .authenticate(tarpc::context::current(), args)
        .await
        .map_err(|source| ConnectError::Handshake {
            path: remote.addr.clone(),
            source,
        })??;
    Ok((client, auth))
}

/// Accepts an invite over TCP+TLS (the invite code is the credential); the answer carries the
/// new account's API token. `remote.token` is not used.
pub async fn accept_invite_tcp(
    remote: &Remote,
    code: &str,
    token_name: &str,
    client_name: &str,
) -> Result<(HallpassClient, RemoteAccepted), ConnectError> {
    let client = open_tls(&remote.addr, remote.ca_file.as_deref(), client_cert(remote)).await?;
    let args = RemoteAccept {
        code: code.to_string(),
        token_name: token_name.to_string(),
        hello: ClientHello {
            protocol: PROTOCOL_VERSION,
            client: client_name.to_string(),
        },
    };
    let accepted = client
        .accept_invite_remote(tarpc::context::current(), args)
        .await
        .map_err(|source| ConnectError::Handshake {
            path: remote.addr.clone(),
            source,
        })??;
    Ok((client, accepted))
}
