//! SSH access end to end, as a person gets it, with the real binaries and a real sshd: signup,
//! an `ssh` integration from a TOML file and its test, an auto flow; a request before any key
//! is registered fails telling the person to run `hallpass keys add`; keys add (not the private
//! key) and list; a request whose certificate logs in; revoke, after which the same certificate
//! is refused (sshd reads the KRL) and no credentials are shown; the audit trail, which never
//! holds the certificate; an extension that issues a new certificate which logs in too.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::binaries::{Daemon, wait_until};
use crate::support::sshd::{LOGIN, Sshd, ensure_login_user, keygen, require_tools, run};

const INTEGRATION: &str = "ssh-prod";
const FLOW: &str = "ssh-self";

fn target() -> String {
    format!("{INTEGRATION}/{LOGIN}/login")
}

fn grant(d: &Daemon, id: u64) -> Value {
    d.json(None, &["grants", "show", &id.to_string()])
}

fn status(d: &Daemon, id: u64) -> String {
    grant(d, id)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Requests the login through the flow; returns the grant (auto approval makes it at once).
fn request(d: &Daemon, reason: &str) -> u64 {
    let req = d.json(
        None,
        &[
            "request",
            "--flow",
            FLOW,
            "--resource",
            &target(),
            "--reason",
            reason,
        ],
    );
    let id = req["id"].as_u64().unwrap_or_else(|| panic!("no id: {req}"));
    d.first_grant(id)
}

fn wait_status(d: &Daemon, id: u64, want: &str) {
    wait_until(
        Duration::from_secs(20),
        &format!("G-{id} to be {want}"),
        || status(d, id) == want,
    );
}

/// The certificate the connector issued for the active grant, as the CLI prints it.
fn certificate(d: &Daemon, id: u64) -> String {
    let field = |name: &str| {
        d.ok(&[
            "grants",
            "show",
            &id.to_string(),
            "--credentials",
            "--field",
            name,
        ])
        .trim()
        .to_string()
    };
    let cert = field("certificate");
    assert!(
        cert.starts_with("ssh-ed25519-cert-v01@openssh.com "),
        "not an ed25519 certificate: {cert}"
    );
    assert_eq!(field("principals"), LOGIN);
    cert
}

/// Saves the certificate where ssh looks for it by default: `<key>-cert.pub`.
fn save_certificate(key: &Path, cert: &str) -> std::path::PathBuf {
    let path = key.with_file_name(format!(
        "{}-cert.pub",
        key.file_name().expect("a key file name").to_string_lossy()
    ));
    std::fs::write(&path, format!("{cert}\n")).expect("write the certificate");
    path
}

/// The certificate's serial, as OpenSSH reads it.
fn serial(cert: &Path) -> String {
    let text = run(Command::new("ssh-keygen").arg("-L").arg("-f").arg(cert));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Serial: "))
        .unwrap_or_else(|| panic!("ssh-keygen -L shows no serial:\n{text}"))
        .to_string()
}

fn assert_logs_in(sshd: &Sshd, key: &Path, cert: &Path, what: &str) {
    let (ok, out) = sshd.login(key, cert);
    assert!(ok, "{what}: ssh failed: {out}\nsshd:\n{}", sshd.log());
}

/// Asserts ssh is refused, and that sshd refused it because the KRL revokes the certificate.
fn assert_revoked(sshd: &Sshd, krl: &Path, key: &Path, cert: &Path, what: &str) {
    let before = sshd.log_count("revoked by file");
    let (ok, out) = sshd.login(key, cert);
    assert!(!ok, "{what}: a revoked certificate still logs in: {out}");
    sshd.wait_for_log("revoked by file", before);
    let q = Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(krl)
        .arg(cert)
        .output()
        .expect("run ssh-keygen -Q");
    assert!(
        String::from_utf8_lossy(&q.stdout).contains("REVOKED"),
        "{what}: ssh-keygen -Q does not find the certificate in the KRL: {}{}",
        String::from_utf8_lossy(&q.stdout),
        String::from_utf8_lossy(&q.stderr)
    );
}

/// A daemon with an admin, the SSH integration (a fresh CA and KRL) and an auto flow, and a
/// real sshd trusting that CA; no key registered yet.
struct World {
    d: Daemon,
    sshd: Sshd,
    dir: std::path::PathBuf,
    ca: std::path::PathBuf,
    key: std::path::PathBuf,
    krl: std::path::PathBuf,
}

fn world() -> World {
    require_tools();
    ensure_login_user();
    let d = Daemon::start();
    let dir = d.dir.path().join("ssh");
    std::fs::create_dir(&dir).expect("mkdir ssh");
    let ca = dir.join("ca");
    let key = dir.join("user_key");
    let krl = dir.join("revoked.krl");
    keygen(&ca);
    keygen(&key);
    let sshd = Sshd::start(&dir, &ca.with_extension("pub"), &krl);

    // The admin signs up and adds the SSH integration from a TOML file.
    d.signup("admin@example.com", "Ada Admin");
    let toml = dir.join("ssh.toml");
    std::fs::write(
        &toml,
        format!(
            "description = \"production hosts\"\n\
             [connector]\n\
             type = \"ssh\"\n\
             ca_key = \"file:{ca}\"\n\
             krl = \"{krl}\"\n\
             [connector.permissions.login]\n\
             principals = []\n\
             [[resources]]\n\
             name = \"{LOGIN}\"\n\
             permissions = [\"login\"]\n",
            ca = ca.display(),
            krl = krl.display(),
        ),
    )
    .expect("write ssh.toml");
    d.ok(&[
        "integrations",
        "create",
        INTEGRATION,
        "--file",
        &toml.display().to_string(),
    ]);
    let tested = d.ok(&["integrations", "test", INTEGRATION]);
    assert!(tested.contains("ok"), "integrations test: {tested}");
    d.ok(&[
        "flows",
        "create",
        FLOW,
        "--everyone",
        "--target",
        &target(),
        "--approval",
        "auto",
        "--max",
        "1h",
        "--default",
        "10m",
    ]);

    World {
        d,
        sshd,
        dir,
        ca,
        key,
        krl,
    }
}

#[test]
fn ssh_certificate_from_the_cli_logs_in_until_revoked_and_extension_reissues() {
    let World {
        d,
        sshd,
        dir,
        ca,
        key,
        krl,
    } = world();

    // Without a registered key there is nothing to certify: the grant fails and says why.
    let keyless = request(&d, "before any key");
    wait_status(&d, keyless, "failed");
    let g = grant(&d, keyless);
    assert!(
        g["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no SSH key registered") && e.contains("hallpass keys add")),
        "{g}"
    );

    // Register the public key; the private one is refused.
    let pub_file = key.with_extension("pub");
    d.ok(&["keys", "add", &pub_file.display().to_string()]);
    let listed = d.json(None, &["keys", "list"]);
    let fingerprint = run(Command::new("ssh-keygen").arg("-lf").arg(&pub_file))
        .split_whitespace()
        .nth(1)
        .expect("ssh-keygen -lf prints a fingerprint")
        .to_string();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["fingerprint"], fingerprint.as_str(), "{listed}");
    assert_eq!(listed[0]["algorithm"], "ssh-ed25519", "{listed}");
    let private = d.cli(&["keys", "add", &key.display().to_string()]);
    let stderr = String::from_utf8_lossy(&private.stderr);
    // Invalid input: exit 5 (see `hallpass --help`, "Exit codes").
    assert_eq!(private.status.code(), Some(5), "{private:?}");
    assert!(stderr.contains("private key"), "{stderr}");
    // Two keys pasted as one: ssh-key would read the second line as the first one's comment.
    let line = std::fs::read_to_string(&pub_file).expect("the public key file");
    let two_lines = key.with_extension("two");
    std::fs::write(&two_lines, format!("{}\n{}", line.trim(), line.trim())).expect("written");
    let two = d.cli(&["keys", "add", &two_lines.display().to_string()]);
    let stderr = String::from_utf8_lossy(&two.stderr);
    assert_eq!(two.status.code(), Some(5), "{two:?}");
    assert!(stderr.contains("one key, on one line"), "{stderr}");
    assert_eq!(
        d.json(None, &["keys", "list"]).as_array().map(Vec::len),
        Some(1),
        "the private key or the two-line key was stored"
    );

    // Request, receive a certificate, log in with it.
    let g1 = request(&d, "deploy");
    wait_status(&d, g1, "active");
    let cert1 = certificate(&d, g1);
    let cert1_file = save_certificate(&key, &cert1);
    assert_logs_in(&sshd, &key, &cert1_file, "G-1's certificate");

    // Revoke: the same certificate no longer logs in and the credentials are gone.
    d.ok(&["revoke", &format!("G-{g1}"), "--reason", "done"]);
    wait_status(&d, g1, "revoked");
    assert_revoked(&sshd, &krl, &key, &cert1_file, "after revoke");
    let gone = d.cli(&["grants", "show", &g1.to_string(), "--credentials"]);
    assert!(
        !gone.status.success(),
        "a revoked grant still shows credentials: {}",
        String::from_utf8_lossy(&gone.stdout)
    );

    // Extension: a new certificate (another serial) that logs in too.
    let g2 = request(&d, "deploy again");
    wait_status(&d, g2, "active");
    let first = certificate(&d, g2);
    let first_file = dir.join("g2-first-cert.pub");
    std::fs::write(&first_file, format!("{first}\n")).expect("write the certificate");
    let expires_before = grant(&d, g2)["expires_at"].as_i64().expect("expires_at");
    d.json(
        None,
        &[
            "extend",
            &format!("G-{g2}"),
            "--duration",
            "30m",
            "--reason",
            "x",
        ],
    );
    let mut extended = String::new();
    wait_until(
        Duration::from_secs(20),
        "the extension's new certificate",
        || {
            extended = certificate(&d, g2);
            extended != first
        },
    );
    let g = grant(&d, g2);
    assert!(
        g["expires_at"]
            .as_i64()
            .is_some_and(|e| e >= expires_before + 30 * 60 * 1000),
        "the extension did not move the end ({expires_before}): {g}"
    );
    let extended_file = save_certificate(&key, &extended);
    assert_ne!(serial(&first_file), serial(&extended_file));
    assert_logs_in(&sshd, &key, &extended_file, "the extended certificate");
    // Revoking the grant refuses every certificate it ever had.
    d.ok(&["revoke", &format!("G-{g2}"), "--reason", "done"]);
    wait_status(&d, g2, "revoked");
    assert_revoked(&sshd, &krl, &key, &extended_file, "extended, after revoke");
    assert_revoked(
        &sshd,
        &krl,
        &key,
        &first_file,
        "pre-extension, after revoke",
    );

    // The audit trail has the activations and revocations, never a certificate.
    let audit = d.json(None, &["audit", "--limit", "1000"]);
    let entries = audit.as_array().expect("audit list");
    for (id, action) in [
        (keyless, "grant.failed"),
        (g1, "grant.activate"),
        (g1, "grant.revoked"),
        (g2, "grant.extend_applied"),
        (g2, "grant.revoked"),
    ] {
        let t = format!("G-{id}");
        assert!(
            entries
                .iter()
                .any(|e| e["action"] == action && e["target"] == t.as_str()),
            "audit lacks {action} for {t}: {audit:#}"
        );
    }
    let audit_text = audit.to_string();
    for cert in [&cert1, &first, &extended] {
        let blob = cert.split_whitespace().nth(1).expect("a certificate blob");
        assert!(
            !audit_text.contains(blob),
            "a certificate is in the audit log"
        );
        assert!(
            !d.log().contains(blob),
            "a certificate is in the daemon's log"
        );
    }
    let ca_private = std::fs::read_to_string(&ca).expect("read the CA key");
    let ca_body = ca_private.lines().nth(1).expect("a CA key body");
    assert!(
        !audit_text.contains(ca_body) && !d.log().contains(ca_body),
        "the CA's private key leaked"
    );
    let verify = d.cli(&["audit", "verify"]);
    assert!(verify.status.success(), "audit verify: {verify:?}");
}

/// Each grant has its own certificate: ending one grant revokes its certificate even while
/// another grant covers the same principal, and the other grant's certificate keeps working.
#[test]
fn overlapping_grants_each_lose_their_own_certificate() {
    let World {
        d, sshd, key, krl, ..
    } = world();
    d.ok(&[
        "keys",
        "add",
        &key.with_extension("pub").display().to_string(),
    ]);
    let g1 = request(&d, "first");
    wait_status(&d, g1, "active");
    let c1 = save_certificate(&key, &certificate(&d, g1));
    let g2 = request(&d, "second");
    wait_status(&d, g2, "active");
    let c2_dir = key.with_file_name("second");
    std::fs::create_dir(&c2_dir).expect("mkdir");
    let key2 = c2_dir.join("user_key");
    std::fs::copy(&key, &key2).expect("copy key");
    let c2 = save_certificate(&key2, &certificate(&d, g2));

    d.ok(&["revoke", &format!("G-{g1}"), "--reason", "done"]);
    wait_status(&d, g1, "revoked");
    assert_revoked(&sshd, &krl, &key, &c1, "G1 revoked while G2 is active");
    assert_logs_in(&sshd, &key2, &c2, "G2 is untouched");
    d.ok(&["revoke", &format!("G-{g2}"), "--reason", "done"]);
    wait_status(&d, g2, "revoked");
    assert_revoked(&sshd, &krl, &key2, &c2, "G2 revoked");
    assert_revoked(&sshd, &krl, &key, &c1, "G1 still revoked");
}
