//! The connection to `hallpassd`: which socket (or remote), the handshake, and request deadlines.
//! Invariant: a command that needs the daemon gets a [`Session`] only after the `hello`
//! handshake succeeded, so protocol mismatches surface before any other call.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hallpass_proto::{Endpoint, HallpassClient, ServerHello};

use crate::failure::Failure;

/// How long an ordinary call may take before the CLI gives up on it.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// The client's name in the handshake (for the daemon's logs).
pub fn client_name() -> String {
    format!("hallpass-cli {}", env!("CARGO_PKG_VERSION"))
}

/// The socket to use: the `--socket` flag (or `HALLPASS_SOCKET`, which clap folds into it),
/// else the caller's own daemon, else the system daemon.
pub fn socket_path(explicit: Option<&Path>) -> PathBuf {
    hallpass_proto::paths::client_socket(explicit)
}

/// A connected, handshaken client.
pub struct Session {
    pub client: HallpassClient,
    pub server: ServerHello,
}

impl Session {
    pub async fn connect(socket: &Path) -> Result<Session, Failure> {
        Self::connect_to(&Endpoint::Unix(socket.to_path_buf())).await
    }

    /// The unix socket, or a remote daemon with its stored API token.
    pub async fn connect_to(endpoint: &Endpoint) -> Result<Session, Failure> {
        let (client, server) = hallpass_proto::connect(endpoint, &client_name()).await?;
        Ok(Session { client, server })
    }
}

/// A context for an ordinary call.
pub fn ctx() -> tarpc::context::Context {
    ctx_for(CALL_DEADLINE)
}

/// A context whose deadline is `d` from now (long polls, long audits).
pub fn ctx_for(d: Duration) -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + d;
    ctx
}
