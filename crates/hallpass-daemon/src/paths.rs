//! Where the daemon keeps its state and socket. Invariant: systemd's directories win, then the
//! system paths when running as root, then per-user paths; an explicit setting beats them all.

use std::path::PathBuf;

use hallpass_proto::paths::{SOCKET_NAME, daemon_runtime_dir};

use crate::config::Config;

/// The resolved locations.
#[derive(Clone, Debug)]
pub struct Paths {
    pub state_dir: PathBuf,
    pub socket: PathBuf,
}

/// The system state directory (systemd `StateDirectory=hallpass`).
pub const SYSTEM_STATE_DIR: &str = "/var/lib/hallpass";
/// The system config file.
pub const SYSTEM_CONFIG: &str = "/etc/hallpass/hallpassd.toml";

/// Environment the daemon reads, passed in (tests never mutate the process environment).
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub state_directory: Option<String>,
    pub runtime_directory: Option<String>,
    pub configuration_directory: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            state_directory: std::env::var("STATE_DIRECTORY").ok(),
            runtime_directory: std::env::var("RUNTIME_DIRECTORY").ok(),
            configuration_directory: std::env::var("CONFIGURATION_DIRECTORY").ok(),
        }
    }
}

fn first(dirs: &Option<String>) -> Option<PathBuf> {
    dirs.as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.split(':').next())
        .map(PathBuf::from)
}

/// The config file to read when none is given: systemd's, the system one as root, else the
/// user's. `None` when none exists (the defaults apply).
pub fn default_config_file(env: &Env) -> Option<PathBuf> {
    let candidates = [
        first(&env.configuration_directory).map(|d| d.join("hallpassd.toml")),
        nix::unistd::geteuid()
            .is_root()
            .then(|| PathBuf::from(SYSTEM_CONFIG)),
        directories::ProjectDirs::from("", "", "hallpass")
            .map(|d| d.config_dir().join("hallpassd.toml")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

pub fn resolve(config: &Config, env: &Env) -> anyhow::Result<Paths> {
    let state_dir = match (&config.paths.state_dir, first(&env.state_directory)) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p,
        (None, None) if nix::unistd::geteuid().is_root() => PathBuf::from(SYSTEM_STATE_DIR),
        (None, None) => directories::ProjectDirs::from("", "", "hallpass")
            .map(|d| d.data_local_dir().to_path_buf())
            .ok_or_else(|| {
                anyhow::anyhow!("no home directory to keep state in; set paths.state_dir")
            })?,
    };
    let socket = match &config.paths.socket {
        Some(p) => p.clone(),
        None => daemon_runtime_dir(env.runtime_directory.as_deref())
            .map(|d| d.join(SOCKET_NAME))
            .ok_or_else(|| {
                anyhow::anyhow!("no runtime directory for the socket; set paths.socket")
            })?,
    };
    Ok(Paths { state_dir, socket })
}
