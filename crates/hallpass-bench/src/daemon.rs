//! Running the real `hallpassd` binary for a benchmark: a config in a directory, start, wait
//! until it serves (`hello` answers), SIGKILL or SIGTERM it, read its memory from /proc.
//! Invariant: a daemon started here is killed when its handle is dropped, and every wait has
//! a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
pub use hallpass_alloc::memory_kib;
use hallpass_core::{Clock, SystemClock, Timestamp};
use hallpass_proto::HallpassClient;

/// `hallpassd` next to this executable (`target/<profile>/`), or next to its parent directory
/// when run from `target/<profile>/deps/`.
pub fn find_hallpassd(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        anyhow::ensure!(p.exists(), "{} does not exist", p.display());
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let candidate = d.join("hallpassd");
        if candidate.is_file() {
            return Ok(candidate);
        }
        if d.file_name().is_some_and(|n| n != "deps") {
            break;
        }
        dir = d.parent();
    }
    anyhow::bail!(
        "hallpassd is not next to {}: build it with `cargo build --release -p hallpass-daemon` (or pass --hallpassd PATH)",
        exe.display()
    )
}

/// A hallpassd process with its own state directory and socket.
pub struct Daemon {
    binary: PathBuf,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    /// When the current process was spawned.
    pub spawned_at: Instant,
    pub spawned_wall: Timestamp,
}

impl Daemon {
    /// Writes `dir/hallpassd.toml` (state in `dir/state`, socket `dir/hallpassd.sock`, logs to
    /// `dir/hallpassd.log`) with `extra` TOML appended (whole sections only).
    pub fn new(binary: &Path, dir: &Path, cache_mb: u64, extra: &str) -> anyhow::Result<Daemon> {
        std::fs::create_dir_all(dir)?;
        let socket = dir.join("hallpassd.sock");
        let config = dir.join("hallpassd.toml");
        std::fs::write(
            &config,
            format!(
                "organisation = \"hallpass bench\"\n[paths]\nstate_dir = \"{}\"\nsocket = \"{}\"\n[store]\ncache_mb = {cache_mb}\n[log]\ntarget = \"stderr\"\nfilter = \"warn\"\n{extra}",
                dir.join("state").display(),
                socket.display()
            ),
        )?;
        Ok(Daemon {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            socket,
            config,
            log: dir.join("hallpassd.log"),
            child: None,
            spawned_at: Instant::now(),
            spawned_wall: SystemClock.now(),
        })
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn spawn(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "hallpassd is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        self.spawned_wall = SystemClock.now();
        self.spawned_at = Instant::now();
        let child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits until `hello` answers; returns the connected client and the time since spawn.
    pub async fn wait_ready(
        &mut self,
        within: Duration,
    ) -> anyhow::Result<(HallpassClient, Duration)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                anyhow::bail!(
                    "hallpassd exited with {status} before serving; log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(Ok((client, _))) = tokio::time::timeout(
                Duration::from_secs(2),
                hallpass_proto::connect_unix(&self.socket, "hallpass-bench"),
            )
            .await
            {
                return Ok((client, self.spawned_at.elapsed()));
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "hallpassd did not serve within {within:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// A new connection (after `wait_ready`).
    pub async fn connect(&self) -> anyhow::Result<HallpassClient> {
        let (c, _) = hallpass_proto::connect_unix(&self.socket, "hallpass-bench").await?;
        Ok(c)
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
            let status = child.wait()?;
            anyhow::ensure!(
                status.success(),
                "hallpassd exited with {status}; log:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// `(VmRSS, VmHWM)` in KiB from /proc/PID/status.
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let pid = self.pid().context("hallpassd is not running")?;
        Ok(memory_kib(&pid.to_string())?)
    }

    /// The last 40 lines of the daemon's log, without backtraces (an error's backtrace would
    /// otherwise push its message out of the tail).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines = without_backtraces(&text);
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// `text`'s lines with every backtrace section (a `Stack backtrace:` or `stack backtrace:`
/// line and the indented frames after it) left out.
fn without_backtraces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_backtrace = false;
    for line in text.lines() {
        if line.trim().eq_ignore_ascii_case("stack backtrace:") {
            in_backtrace = true;
            continue;
        }
        if in_backtrace && line.starts_with(char::is_whitespace) {
            continue;
        }
        in_backtrace = false;
        out.push(line);
    }
    out
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_backtraces;

    #[test]
    fn backtraces_are_left_out_of_the_tail_and_the_error_stays() {
        let log = "starting\nError: catching up failed: no space\n\nCaused by:\n    0: no space\n\nStack backtrace:\n   0: std::backtrace::capture\n             at /rustc/x/backtrace.rs:1:1\n  11: hallpassd::main\nnext line\n";
        assert_eq!(
            without_backtraces(log),
            [
                "starting",
                "Error: catching up failed: no space",
                "",
                "Caused by:",
                "    0: no space",
                "",
                "next line"
            ]
        );
    }
}
