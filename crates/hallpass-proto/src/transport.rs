//! Framing and connecting. Invariant: frames larger than [`MAX_FRAME`] are refused by both
//! sides before any JSON is parsed.

use std::io;
use std::path::Path;

use tarpc::serde_transport::Transport;
use tarpc::tokio_serde::formats::Json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio_util::codec::LengthDelimitedCodec;

use crate::{ApiError, ClientHello, HallpassClient, PROTOCOL_VERSION, ServerHello};

/// The largest frame either side accepts: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;

/// Wraps a byte stream in length-prefixed JSON frames capped at [`MAX_FRAME`].
pub fn framed_json<S, Item, SinkItem>(io: S) -> Transport<S, Item, SinkItem, Json<Item, SinkItem>>
where
    S: AsyncRead + AsyncWrite,
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_framed(io);
    tarpc::serde_transport::new(framed, Json::default())
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
