//! The daemon's unix socket. Invariants: a live socket is never taken over (a second daemon
//! refuses to start); a stale one is removed only after a connect attempt proves it dead (refused,
//! or accepted by a listener whose process has exited); the permission bits are set before the
//! socket listens.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixListener;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "another hallpassd is already serving on {0}; stop it first (or choose another socket path)"
    )]
    InUse(String),
    #[error("{0} exists and is not a socket; refusing to remove it")]
    NotASocket(String),
    #[error("cannot create the socket at {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Default permission bits: everyone may connect; the kernel tells us who they are.
pub const DEFAULT_MODE: u32 = 0o666;

/// Whether the process that listened on the socket `probe` is connected to still runs. A
/// connect alone does not prove it: a daemon killed while it was starting a connector's process
/// leaves that child holding the listening socket until its `exec` closes it, and the kernel
/// completes connects on a listening socket nobody accepts from. The kernel's peer credentials
/// on the probe name the process that called `listen`. When they cannot be read, or name a
/// process outside this pid namespace (pid 0), the socket counts as live.
fn listener_alive(probe: &std::os::unix::net::UnixStream) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let Ok(cred) = getsockopt(probe, PeerCredentials) else {
        return true;
    };
    if cred.pid() <= 0 {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{}/stat", cred.pid())) {
        // The state follows the command name's closing parenthesis; a zombie or a dying
        // process serves nobody.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

/// Binds the daemon socket at `path` with `mode`, after probing any existing file.
pub fn bind(path: &Path, mode: u32) -> Result<UnixListener, SocketError> {
    let shown = path.display().to_string();
    let io_err = |source| SocketError::Io {
        path: shown.clone(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(io_err)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io_err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => return Err(SocketError::NotASocket(shown)),
        Ok(_) => {
            let stale = match std::os::unix::net::UnixStream::connect(path) {
                Ok(probe) if listener_alive(&probe) => return Err(SocketError::InUse(shown)),
                Ok(_) => "its daemon has exited (a process it was starting still held it)",
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        || e.kind() == io::ErrorKind::NotFound =>
                {
                    "left by a previous daemon"
                }
                Err(e) => return Err(io_err(e)),
            };
            tracing::info!(socket = %shown, "removing a stale socket: {stale}");
            std::fs::remove_file(path).map_err(io_err)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None).map_err(io_err)?;
    socket
        .bind(&SockAddr::unix(path).map_err(io_err)?)
        .map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
    socket.listen(1024).map_err(io_err)?;
    socket.set_nonblocking(true).map_err(io_err)?;
    let std_listener: std::os::unix::net::UnixListener = socket.into();
    UnixListener::from_std(std_listener).map_err(io_err)
}
