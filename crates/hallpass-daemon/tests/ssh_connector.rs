//! The SSH connector against a real sshd: a certificate hallpass issues logs in; after revoke
//! (the KRL sshd's RevokedKeys names) and after its validity window it does not; a revoked
//! grant gets no new certificate. Needs root (sshd, an OS user) and openssh-server/-client,
//! which tests/run installs.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hallpass_core::integration::{SecretRef, SshConfig, SshPermission};
use hallpass_core::{Clock, GrantId, RequestId, SystemClock, Timestamp, UserId};
use hallpass_daemon::connectors::{Action, ConnectorError, GrantSpec, SpecUser, ssh};

const SSHD: &str = "/usr/sbin/sshd";
/// The OS user certificates log in as (created if missing).
const LOGIN: &str = "hpssh";

fn run(cmd: &mut Command) -> String {
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

fn require_tools() {
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
fn ensure_login_user() {
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
        // 9: the user was created meanwhile by another run.
        assert!(
            out.status.success() || out.status.code() == Some(9),
            "useradd {LOGIN} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    run(Command::new("usermod").args(["-p", "*", LOGIN]));
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "hallpass-test", "-f"])
        .arg(path));
}

/// A running sshd, killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (with a deadline) until the log holds `needle`: sshd writes it as it refuses.
    fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "sshd's log never said `{needle}`:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free loopback port")
        .port()
}

fn start_sshd(dir: &Path, ca_pub: &Path, krl: &Path) -> Sshd {
    std::fs::create_dir_all("/run/sshd").expect("cannot create sshd's privilege separation dir");
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
    // OpenSSH ≥ 9.8 penalises sources whose logins fail; this test fails logins on purpose.
    let mut extra = Vec::new();
    if Command::new(SSHD)
        .args(["-t", "-o", "PerSourcePenalties=no", "-f"])
        .arg(&config)
        .output()
        .is_ok_and(|o| o.status.success())
    {
        extra = vec!["-o", "PerSourcePenalties=no"];
    }
    let log = dir.join("sshd.log");
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("cannot create the sshd log"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
    let mut sshd = Sshd { child, port, log };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = sshd.child.try_wait() {
            panic!("sshd exited with {status}:\n{}", sshd.log());
        }
        assert!(
            Instant::now() < deadline,
            "sshd did not listen on {addr} within 15s:\n{}",
            sshd.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    sshd
}

/// Tries `ssh LOGIN@127.0.0.1 true` with the key and certificate; returns whether it worked
/// and ssh's output.
async fn login(sshd: &Sshd, key: &Path, cert_line: &str, name: &str) -> (bool, String) {
    let cert = key.with_file_name(format!("{name}-cert.pub"));
    std::fs::write(&cert, format!("{cert_line}\n")).expect("cannot write the certificate");
    let out = tokio::process::Command::new("ssh")
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
        .args(["-p", &sshd.port.to_string()])
        .arg(format!("{LOGIN}@127.0.0.1"))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .await
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

fn spec(grant: u64, revision: u32, user_pub: &str, expires: Timestamp) -> GrantSpec {
    GrantSpec {
        action: Action::Grant,
        grant_id: GrantId(grant),
        request_id: RequestId(grant),
        user: SpecUser {
            id: UserId(1),
            email: "ada@example.com".into(),
            os_user: Some(LOGIN.into()),
            ssh_keys: vec![user_pub.to_string()],
        },
        integration: "hosts".into(),
        resource: LOGIN.into(),
        permission: "login".into(),
        expires_at: Some(expires.to_rfc3339()),
        expires: Some(expires),
        duration_secs: 3600,
        revision,
    }
}

#[tokio::test]
async fn certificates_log_in_until_revoked_or_expired() {
    require_tools();
    ensure_login_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = d.join("ca");
    let user = d.join("user");
    keygen(&ca);
    keygen(&user);
    let user_pub = std::fs::read_to_string(user.with_extension("pub")).unwrap();
    let krl = d.join("hallpass.krl");
    let cfg = SshConfig {
        ca_key: SecretRef::File(ca.to_string_lossy().into_owned()),
        krl: krl.to_string_lossy().into_owned(),
        permissions: BTreeMap::from([("login".to_string(), SshPermission::default())]),
    };
    let checks = ssh::test(&cfg).await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");

    let sshd = start_sshd(d, &ca.with_extension("pub"), &krl);
    let in_an_hour = SystemClock.now().plus(Duration::from_secs(3600));

    // A certificate hallpass issues logs in (issue also creates the KRL sshd needs).
    let g1 = spec(1001, 0, &user_pub, in_an_hour);
    let creds = ssh::issue(&cfg, &g1).await.unwrap();
    assert_eq!(creds.get("principals"), Some(LOGIN));
    let cert_r0 = creds.get("certificate").unwrap().to_string();
    let (ok, out) = login(&sshd, &user, &cert_r0, "g1r0").await;
    assert!(
        ok,
        "login with a fresh certificate failed: {out}\nsshd:\n{}",
        sshd.log()
    );

    // An extension issues the next revision; it logs in too.
    let g1r1 = spec(
        1001,
        1,
        &user_pub,
        in_an_hour.plus(Duration::from_secs(600)),
    );
    let cert_r1 = ssh::issue(&cfg, &g1r1)
        .await
        .unwrap()
        .get("certificate")
        .unwrap()
        .to_string();
    let (ok, out) = login(&sshd, &user, &cert_r1, "g1r1").await;
    assert!(
        ok,
        "login with the extended certificate failed: {out}\nsshd:\n{}",
        sshd.log()
    );

    // An unrelated grant, to show revocation is per grant.
    let g2 = spec(1002, 0, &user_pub, in_an_hour);
    let cert_g2 = ssh::issue(&cfg, &g2)
        .await
        .unwrap()
        .get("certificate")
        .unwrap()
        .to_string();

    // Revoke: every revision of the grant is refused, the other grant still works.
    ssh::revoke(&cfg, &g1r1).await.unwrap();
    ssh::revoke(&cfg, &g1r1).await.unwrap(); // idempotent
    for (cert, name) in [(&cert_r0, "g1r0"), (&cert_r1, "g1r1")] {
        let (ok, out) = login(&sshd, &user, cert, name).await;
        assert!(!ok, "a revoked certificate ({name}) still logs in: {out}");
    }
    sshd.wait_for_log("revoked by file");
    let (ok, out) = login(&sshd, &user, &cert_g2, "g2").await;
    assert!(
        ok,
        "revoking G-1001 broke G-1002: {out}\nsshd:\n{}",
        sshd.log()
    );

    // A revoked grant gets no new certificate.
    let e = ssh::issue(&cfg, &spec(1001, 2, &user_pub, in_an_hour))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Unusable(m) if m.contains("was revoked")),
        "{e}"
    );

    // A certificate stops working when its validity window ends, without any revocation.
    let soon = SystemClock.now().plus(Duration::from_secs(5));
    let g3 = spec(1003, 0, &user_pub, soon);
    let cert_g3 = ssh::issue(&cfg, &g3)
        .await
        .unwrap()
        .get("certificate")
        .unwrap()
        .to_string();
    let (ok, out) = login(&sshd, &user, &cert_g3, "g3").await;
    assert!(
        ok,
        "login with a short certificate failed: {out}\nsshd:\n{}",
        sshd.log()
    );
    // valid_before is whole seconds, at or before `soon`: wait until it has surely passed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while SystemClock.now() < soon.plus(Duration::from_millis(1100)) {
        assert!(
            Instant::now() < deadline,
            "the clock did not reach the certificate's end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, out) = login(&sshd, &user, &cert_g3, "g3").await;
    assert!(!ok, "an expired certificate still logs in: {out}");
    sshd.wait_for_log("Certificate invalid: expired");

    // The KRL stays readable by OpenSSH itself.
    let cert_file = d.join("g1r0-cert.pub");
    let out = Command::new("ssh-keygen")
        .args(["-Q", "-f"])
        .arg(&krl)
        .arg(&cert_file)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("REVOKED"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
