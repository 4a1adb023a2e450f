//! Running the real `hallpassd` and `hallpass` binaries: locating them next to the test binary,
//! starting a daemon in a temporary directory, running CLI commands (optionally as another OS
//! user), and waiting on conditions with deadlines.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/NAME`, next to `target/<profile>/deps/suite-…`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --bins`; tests/run does)",
        path.display()
    );
    path
}

/// `target/<profile>/examples/NAME`: an example program of a crate (e.g. hallpass-proto's).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo build --examples`; tests/run does)",
        path.display()
    );
    path
}

/// A loopback port nothing listens on right now (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls `cond` until it holds or `within` passes; panics with `what` at the deadline.
pub fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// A daemon in a temporary directory, killed on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Writes a config under a world-traversable temp dir and starts `hallpassd` on it.
    pub fn start() -> Daemon {
        Self::start_with("", "")
    }

    /// Like [`Daemon::start`], with `expiry` (TOML lines) added to the `[expiry]` section.
    pub fn start_with_expiry(expiry: &str) -> Daemon {
        Self::start_with(expiry, "")
    }

    /// Like [`Daemon::start`], with `expiry` lines added to `[expiry]` and `extra` TOML (whole
    /// sections such as `[web]`) added after it.
    pub fn start_with(expiry: &str, extra: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod tempdir");
        let socket = dir.path().join("run/hallpassd.sock");
        let config = dir.path().join("hallpassd.toml");
        std::fs::write(
            &config,
            format!(
                "organisation = \"E2E Corp\"\n[paths]\nstate_dir = \"{}\"\nsocket = \"{}\"\n[log]\ntarget = \"stderr\"\nfilter = \"info\"\n[expiry]\nretry_initial = \"1s\"\nretry_max = \"2s\"\n{expiry}\n",
                dir.path().join("state").display(),
                socket.display()
            ) + extra,
        )
        .expect("write config");
        let mut d = Daemon {
            dir,
            socket,
            config,
            child: None,
        };
        d.restart();
        d
    }

    /// Starts the daemon (again) and waits until its socket answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("hallpassd.log"))
            .expect("daemon log");
        let child = Command::new(binary("hallpassd"))
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hallpassd");
        self.child = Some(child);
        let socket = self.socket.clone();
        wait_until(Duration::from_secs(20), "hallpassd to listen", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
    }

    /// Stops the daemon with SIGTERM and waits for it to exit cleanly.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
            let status = child.wait().expect("wait for hallpassd");
            assert!(
                status.success(),
                "hallpassd exited with {status}; log:\n{}",
                self.log()
            );
        }
    }

    /// Kills the daemon with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL hallpassd");
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hallpassd.log")).unwrap_or_default()
    }

    /// Runs `hallpass --socket S ARGS` as the current user.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_as(None, args)
    }

    /// Runs the CLI, as OS user `uid` when given (needs root).
    pub fn cli_as(&self, uid: Option<(u32, u32)>, args: &[&str]) -> Output {
        let mut cmd = Command::new(binary("hallpass"));
        cmd.arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null());
        if let Some((uid, gid)) = uid {
            cmd.uid(uid).gid(gid);
        }
        cmd.output().expect("run hallpass")
    }

    /// Runs the CLI and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_as(None, args)
    }

    pub fn ok_as(&self, uid: Option<(u32, u32)>, args: &[&str]) -> String {
        let out = self.cli_as(uid, args);
        assert!(
            out.status.success(),
            "`hallpass {}` failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `hallpass signup` as the current OS user: the first admin.
    pub fn signup(&self, email: &str, name: &str) {
        self.ok(&["signup", "--email", email, "--name", name]);
    }

    /// `hallpass --json users invite …` as the admin (the current OS user): the invite, with
    /// its code.
    pub fn invite(&self, email: &str, name: &str, role: &str) -> serde_json::Value {
        self.json(
            None,
            &[
                "users", "invite", "--email", email, "--name", name, "--role", role,
            ],
        )
    }

    /// `hallpass --json request …` as the current OS user: the request's id.
    pub fn request(&self, flow: &str, resource: &str, duration: &str, reason: &str) -> u64 {
        let r = self.json(
            None,
            &[
                "request",
                "--flow",
                flow,
                "--resource",
                resource,
                "--duration",
                duration,
                "--reason",
                reason,
            ],
        );
        r["id"].as_u64().expect("a request id")
    }

    /// The id of the first grant request `request` made (an auto flow makes it at once).
    pub fn first_grant(&self, request: u64) -> u64 {
        let shown = self.json(None, &["requests", "show", &request.to_string()]);
        shown["grants"][0]["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("request {request} made no grant: {shown}"))
    }

    /// Runs the CLI with `--json` and parses stdout.
    pub fn json(&self, uid: Option<(u32, u32)>, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok_as(uid, &all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("`hallpass {}` printed no JSON ({e}): {out}", all.join(" ")))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An OS user for tests (created when running as root). None when not root.
pub fn os_user(name: &str) -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    if nix::unistd::User::from_name(name).ok().flatten().is_none() {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ])
            .status()
            .expect("run useradd");
        assert!(
            status.success() || nix::unistd::User::from_name(name).ok().flatten().is_some(),
            "useradd {name} failed"
        );
    }
    let u = nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .expect("test user exists");
    Some((u.uid.as_raw(), u.gid.as_raw()))
}

/// An exec connector whose scripts append `grant ID` / `revoke ID` lines to `log`.
pub fn recording_scripts(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let log = dir.join("connector.log");
    let grant = dir.join("grant.sh");
    let revoke = dir.join("revoke.sh");
    for (path, verb) in [(&grant, "grant"), (&revoke, "revoke")] {
        std::fs::write(
            path,
            format!(
                "#!/bin/sh\n# reads the grant document on stdin and records the action\ndoc=$(cat)\nid=$(printf '%s' \"$doc\" | sed -n 's/.*\"grant_id\":\\([0-9]*\\).*/\\1/p')\necho \"{verb} $id\" >> '{}'\n",
                log.display()
            ),
        )
        .expect("write script");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
    }
    (grant, revoke, log)
}

/// Integration `sandbox`: the recording scripts, offering `resource` (e.g. `db:read,write`).
pub fn sandbox_integration(d: &Daemon, grant: &Path, revoke: &Path, resource: &str) {
    let grant_cmd = format!("/bin/sh {}", grant.display());
    let revoke_cmd = format!("/bin/sh {}", revoke.display());
    d.ok(&[
        "integrations",
        "create",
        "sandbox",
        "--grant",
        &grant_cmd,
        "--revoke",
        &revoke_cmd,
        "--resource",
        resource,
    ]);
}

/// The policy both end-to-end tests use: integration `sandbox` (the recording scripts) offering
/// db read and write, and flow `db-read` that any admin approves. Self-approval is allowed when
/// the admin must also be the requester (no second OS user to request).
pub fn sandbox_db_read(d: &Daemon, grant: &Path, revoke: &Path, self_approval: bool) {
    sandbox_integration(d, grant, revoke, "db:read,write");
    let mut flow = vec![
        "flows",
        "create",
        "db-read",
        "--everyone",
        "--target",
        "sandbox/db/read",
        "--approval",
        "any-of",
    ];
    flow.extend(["--approver", "admins", "--max", "1h", "--default", "10m"]);
    if self_approval {
        flow.push("--allow-self-approval");
    }
    d.ok(&flow);
}
