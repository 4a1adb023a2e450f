//! `hallpass watch`: desktop notifications for the calling user, from the daemon's event cursor
//! (PRODUCT.md, "Notifications"). A [`follow::Follower`] turns events into notices and a
//! [`present::Presenter`] shows them through the freedesktop notification service, with
//! Approve / Deny / Extend buttons that act through the daemon as this user. Invariant: runs
//! until stopped; neither the daemon nor the notification service being away ends it.

mod act;
pub mod config;
mod desktop;
mod follow;
pub mod notice;
mod present;

use std::path::PathBuf;

use clap::Args;
use tokio::sync::mpsc;

use crate::failure::Failure;
use config::WatchConfig;

#[derive(Debug, Args)]
#[command(after_help = "\
Runs in your desktop session (DBUS_SESSION_BUS_ADDRESS must point at its bus); the systemd user
unit systemd/hallpass-watch.service starts it at login:
  systemctl --user enable --now hallpass-watch
Settings: ~/.config/hallpass/watch.toml (see config/watch.example.toml).")]
pub struct WatchArgs {
    /// The settings file [default: ~/.config/hallpass/watch.toml; defaults when missing]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Start after this event cursor instead of now (replays what came after it)
    #[arg(long, value_name = "N")]
    pub since: Option<u64>,
}

pub async fn run(socket: PathBuf, a: WatchArgs) -> Result<(), Failure> {
    let cfg = match a.config.or_else(WatchConfig::default_path) {
        Some(path) => {
            WatchConfig::load(&path).map_err(|e| Failure::invalid("--config", e.to_string()))?
        }
        None => WatchConfig::default(),
    };
    let (updates_tx, updates_rx) = mpsc::unbounded_channel();
    let (signals_tx, signals_rx) = mpsc::unbounded_channel();
    let presenter =
        present::Presenter::new(cfg.clone(), socket.clone(), updates_tx.clone(), signals_tx);
    let follower = follow::Follower::new(socket, cfg, a.since, updates_tx);
    let shown = tokio::spawn(presenter.run(updates_rx, signals_rx));
    follower.run().await;
    shown
        .await
        .map_err(|e| Failure::Local(format!("the notifier stopped: {e}")))
}
