//! A throwaway OpenSSH server on a free loopback port that trusts one user CA and reads a KRL
//! (`RevokedKeys`), for end-to-end tests of the SSH connector: no authorized_keys, so only a
//! certificate signed by the CA (and not in the KRL) logs in. Killed on drop. Needs root (sshd,
//! the `hpssh` OS user) and openssh-server/-client, which tests/run installs.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::binaries::wait_until;

const SSHD: &str = "/usr/sbin/sshd";
/// The OS user certificates log in as (created if missing); the SSH resource is named after it.
pub const LOGIN: &str = "hpssh";

/// Runs `cmd`, requiring success; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics with what to do when the test cannot run sshd here.
pub fn require_tools() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the SSH end-to-end test runs sshd and creates an OS user: run it as root (tests/run does)"
    );
    assert!(
        Path::new(SSHD).is_file(),
        "{SSHD} is missing: install openssh-server (tests/run installs it)"
    );
    for tool in ["ssh", "ssh-keygen"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        assert!(
            found,
            "`{tool}` is not on PATH: install openssh-client (tests/run installs it)"
        );
    }
}

/// Makes sure `LOGIN` exists and is not locked (sshd without PAM refuses locked accounts).
pub fn ensure_login_user() {
    let exists = Command::new("id")
        .arg("-u")
        .arg(LOGIN)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        let out = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", LOGIN])
            .output()
            .expect("cannot run useradd");
        // 9: the user was created meanwhile by another test.
        assert!(
            out.status.success() || out.status.code() == Some(9),
            "useradd {LOGIN} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    run(Command::new("usermod").args(["-p", "*", LOGIN]));
}

/// A fresh unencrypted ed25519 key pair at `path` and `path.pub`.
pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "hallpass-e2e", "-f"])
        .arg(path));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free loopback port")
        .port()
}

/// A running sshd, killed when dropped.
pub struct Sshd {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// Starts sshd with its files in `dir`, trusting the CA public key `ca_pub` and refusing
    /// what the KRL at `krl` revokes (sshd refuses every key while that file is missing).
    pub fn start(dir: &Path, ca_pub: &Path, krl: &Path) -> Sshd {
        std::fs::create_dir_all("/run/sshd")
            .expect("cannot create sshd's privilege separation dir");
        let host_key = dir.join("host_key");
        keygen(&host_key);
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 Port {port}\n\
                 HostKey {host}\n\
                 PidFile {pid}\n\
                 TrustedUserCAKeys {ca}\n\
                 RevokedKeys {krl}\n\
                 AuthorizedKeysFile none\n\
                 AuthorizedPrincipalsFile none\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PermitRootLogin no\n\
                 LogLevel VERBOSE\n",
                host = host_key.display(),
                pid = dir.join("sshd.pid").display(),
                ca = ca_pub.display(),
                krl = krl.display(),
            ),
        )
        .expect("cannot write sshd_config");
        run(Command::new(SSHD).arg("-t").arg("-f").arg(&config));
        // OpenSSH ≥ 9.8 penalises sources whose logins fail; these tests fail logins on purpose.
        let penalties_off = Command::new(SSHD)
            .args(["-t", "-o", "PerSourcePenalties=no", "-f"])
            .arg(&config)
            .output()
            .is_ok_and(|o| o.status.success());
        let log = dir.join("sshd.log");
        let mut cmd = Command::new(SSHD);
        cmd.args(["-D", "-e", "-f"]).arg(&config);
        if penalties_off {
            cmd.args(["-o", "PerSourcePenalties=no"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("cannot create the sshd log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
        let mut sshd = Sshd { child, port, log };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until(Duration::from_secs(15), "sshd to listen", || {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited with {status}:\n{}", sshd.log());
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        sshd
    }

    /// What sshd has logged so far (every connection's child logs here too).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many times the log says `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until the log says `needle` more than `before` times: sshd logs as it refuses.
    pub fn wait_for_log(&self, needle: &str, before: usize) {
        wait_until(
            Duration::from_secs(10),
            &format!("sshd to log `{needle}`"),
            || self.log_count(needle) > before,
        );
    }

    /// Runs `ssh LOGIN@127.0.0.1 true` with private key `key` and certificate file `cert`;
    /// returns whether it logged in, and ssh's output.
    pub fn login(&self, key: &Path, cert: &Path) -> (bool, String) {
        let out = Command::new("ssh")
            .env_remove("SSH_AUTH_SOCK")
            .args(["-F", "/dev/null"])
            .args(["-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "IdentitiesOnly=yes"])
            .args(["-o", "ConnectTimeout=10"])
            .args(["-o", "LogLevel=ERROR"])
            .arg("-i")
            .arg(key)
            .arg("-o")
            .arg(format!("CertificateFile={}", cert.display()))
            .args(["-p", &self.port.to_string()])
            .arg(format!("{LOGIN}@127.0.0.1"))
            .arg("true")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run ssh");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}
