//! Where the daemon's socket lives, agreed by daemon and clients.
//! Invariant: systemd's `RUNTIME_DIRECTORY` wins for the daemon; a client prefers an explicit
//! path, then the caller's own per-user daemon, then the system daemon.

use std::path::{Path, PathBuf};

/// The socket's file name inside its runtime directory.
pub const SOCKET_NAME: &str = "hallpassd.sock";
/// The system daemon's runtime directory (systemd `RuntimeDirectory=hallpass`).
pub const SYSTEM_RUNTIME_DIR: &str = "/run/hallpass";
/// Environment variable a client reads for the socket path.
pub const SOCKET_ENV: &str = "HALLPASS_SOCKET";

/// The per-user runtime directory: `$XDG_RUNTIME_DIR/hallpass`, or a private fallback under the
/// user's cache directory when there is no runtime dir (e.g. an ssh session without logind).
pub fn user_runtime_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "hallpass")?;
    Some(match dirs.runtime_dir() {
        Some(r) => r.to_path_buf(),
        None => dirs.cache_dir().join("run"),
    })
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The runtime directory the daemon should use, given `RUNTIME_DIRECTORY` (from systemd).
pub fn daemon_runtime_dir(runtime_directory_env: Option<&str>) -> Option<PathBuf> {
    if let Some(r) = runtime_directory_env.filter(|s| !s.is_empty()) {
        // systemd may pass several colon-separated directories; the first is ours.
        return r.split(':').next().map(PathBuf::from);
    }
    if is_root() {
        Some(PathBuf::from(SYSTEM_RUNTIME_DIR))
    } else {
        user_runtime_dir()
    }
}

/// The socket a client should connect to, given an explicit path (flag or env) if any.
pub fn client_socket(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if !is_root()
        && let Some(user) = user_runtime_dir().map(|d| d.join(SOCKET_NAME))
        && user.exists()
    {
        return user;
    }
    Path::new(SYSTEM_RUNTIME_DIR).join(SOCKET_NAME)
}
