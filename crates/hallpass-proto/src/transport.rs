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

use crate::{ApiError, ClientHello, HallpassClient, PROTOCOL_VERSION, ServerHello};

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
