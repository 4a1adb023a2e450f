//! What every example takes to reach a daemon: its unix socket (you are your OS user), or a
//! remote daemon over TCP+TLS with an API token (`hallpass tokens create` makes one).

use std::path::PathBuf;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hallpass_proto::{Endpoint, HallpassClient, Remote, ServerHello};

#[derive(clap::Args)]
pub struct Connect {
    /// The daemon's socket [default: your own daemon's if it runs, else the system daemon's]
    #[arg(long, env = hallpass_proto::paths::SOCKET_ENV, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// A remote daemon's TCP+TLS listener instead, HOST:PORT (needs --token-file)
    #[arg(long, value_name = "HOST:PORT", requires = "token_file")]
    remote: Option<String>,
    /// A file holding the API token for --remote
    #[arg(long, value_name = "FILE", env = "HALLPASS_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// A PEM CA bundle to trust for --remote instead of the system's roots
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

impl Connect {
    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        let Some(addr) = &self.remote else {
            let socket = hallpass_proto::paths::client_socket(self.socket.as_deref());
            return Ok(Endpoint::Unix(socket));
        };
        let file = self
            .token_file
            .as_ref()
            .context("--remote needs --token-file")?;
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("reading the token file {}", file.display()))?;
        Ok(Endpoint::Remote(Remote {
            addr: addr.clone(),
            token: token.trim().to_string(),
            ca_file: self.ca_file.clone(),
            client_cert: None,
        }))
    }

    pub async fn connect(&self, name: &str) -> anyhow::Result<(HallpassClient, ServerHello)> {
        let endpoint = self.endpoint()?;
        hallpass_proto::connect(&endpoint, name)
            .await
            .with_context(|| format!("connecting to hallpassd at {endpoint}"))
    }
}

/// One long poll: the daemon answers as soon as there is an event, or empty after `wait_ms`.
#[allow(dead_code)] // each example compiles this module; not every one follows events
pub async fn events_since(
    client: &HallpassClient,
    cursor: u64,
    wait_ms: u32,
) -> anyhow::Result<hallpass_proto::EventBatch> {
    // The request's deadline must outlast the wait, or tarpc drops the call first.
    let mut ctx = tarpc::context::current();
    ctx.deadline =
        Instant::now() + Duration::from_millis(u64::from(wait_ms)) + Duration::from_secs(10);
    Ok(client
        .events_since(ctx, cursor, 100, wait_ms)
        .await
        .context("events_since")??)
}
