//! The SSH connector on its own against a real sshd: every revision of a grant's certificate
//! logs in; revoking a grant (the KRL sshd's RevokedKeys names) refuses all of them and no
//! other grant's; a revoked grant gets no new certificate; a certificate stops at the end of
//! its validity window with no revocation at all. (`ssh.rs` drives the same through the CLI.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hallpass_core::integration::{SecretRef, SshConfig, SshPermission};
use hallpass_core::{Clock, GrantId, RequestId, SystemClock, Timestamp, UserId};
use hallpass_daemon::connectors::{Action, ConnectorError, GrantSpec, SpecUser, ssh};

use crate::support::harness::wait_until;
use crate::support::sshd::{LOGIN, Sshd, ensure_login_user, keygen, require_tools};

/// Writes the certificate beside the key under `name` and tries to log in with it.
fn login(sshd: &Sshd, key: &Path, cert_line: &str, name: &str) -> (bool, String) {
    let cert = key.with_file_name(format!("{name}-cert.pub"));
    std::fs::write(&cert, format!("{cert_line}\n")).expect("write the certificate");
    // Nothing else runs on this test's runtime meanwhile, so a blocking ssh is fine here.
    sshd.login(key, &cert)
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
async fn connector_certificates_log_in_until_revoked_or_expired() {
    require_tools();
    ensure_login_user();
    let dir = tempfile::tempdir().expect("ok");
    let d = dir.path();
    let ca = d.join("ca");
    let user = d.join("user");
    keygen(&ca);
    keygen(&user);
    let user_pub = std::fs::read_to_string(user.with_extension("pub")).expect("ok");
    let krl = d.join("hallpass.krl");
    let cfg = SshConfig {
        ca_key: SecretRef::File(ca.to_string_lossy().into_owned()),
        krl: krl.to_string_lossy().into_owned(),
        permissions: BTreeMap::from([("login".to_string(), SshPermission::default())]),
    };
    let checks = ssh::test(&cfg).await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");

    let sshd = Sshd::start(d, &ca.with_extension("pub"), &krl);
    let in_an_hour = SystemClock.now().plus(Duration::from_secs(3600));

    // A certificate hallpass issues logs in (issue also creates the KRL sshd needs).
    let g1 = spec(1001, 0, &user_pub, in_an_hour);
    let creds = ssh::issue(&cfg, &g1).await.expect("ok");
    assert_eq!(creds.get("principals"), Some(LOGIN));
    let cert_r0 = creds.get("certificate").expect("ok").to_string();
    let (ok, out) = login(&sshd, &user, &cert_r0, "g1r0");
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
        .expect("ok")
        .get("certificate")
        .expect("ok")
        .to_string();
    let (ok, out) = login(&sshd, &user, &cert_r1, "g1r1");
    assert!(
        ok,
        "login with the extended certificate failed: {out}\nsshd:\n{}",
        sshd.log()
    );

    // An unrelated grant, to show revocation is per grant.
    let g2 = spec(1002, 0, &user_pub, in_an_hour);
    let cert_g2 = ssh::issue(&cfg, &g2)
        .await
        .expect("ok")
        .get("certificate")
        .expect("ok")
        .to_string();

    // Revoke: every revision of the grant is refused, the other grant still works.
    ssh::revoke(&cfg, &g1r1).await.expect("ok");
    ssh::revoke(&cfg, &g1r1).await.expect("ok"); // idempotent
    let before = sshd.log_count("revoked by file");
    for (cert, name) in [(&cert_r0, "g1r0"), (&cert_r1, "g1r1")] {
        let (ok, out) = login(&sshd, &user, cert, name);
        assert!(!ok, "a revoked certificate ({name}) still logs in: {out}");
    }
    sshd.wait_for_log("revoked by file", before);
    let (ok, out) = login(&sshd, &user, &cert_g2, "g2");
    assert!(
        ok,
        "revoking G-1001 broke G-1002: {out}\nsshd:\n{}",
        sshd.log()
    );

    // A revoked grant gets no new certificate.
    let e = ssh::issue(&cfg, &spec(1001, 2, &user_pub, in_an_hour))
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, ConnectorError::Unusable(m) if m.contains("was revoked")),
        "{e}"
    );

    // A certificate stops working when its validity window ends, without any revocation.
    let soon = SystemClock.now().plus(Duration::from_secs(5));
    let g3 = spec(1003, 0, &user_pub, soon);
    let cert_g3 = ssh::issue(&cfg, &g3)
        .await
        .expect("ok")
        .get("certificate")
        .expect("ok")
        .to_string();
    let (ok, out) = login(&sshd, &user, &cert_g3, "g3");
    assert!(
        ok,
        "login with a short certificate failed: {out}\nsshd:\n{}",
        sshd.log()
    );
    // valid_before is whole seconds, at or before `soon`: wait until it has surely passed (sshd
    // reads the real clock, so real time must go by).
    let ended = soon.plus(Duration::from_millis(1100));
    wait_until("the clock passes the certificate's end", || async {
        SystemClock.now() >= ended
    })
    .await;
    let before = sshd.log_count("Certificate invalid: expired");
    let (ok, out) = login(&sshd, &user, &cert_g3, "g3");
    assert!(!ok, "an expired certificate still logs in: {out}");
    sshd.wait_for_log("Certificate invalid: expired", before);

    // The KRL stays readable by OpenSSH itself.
    let cert_file = d.join("g1r0-cert.pub");
    let out = Command::new("ssh-keygen")
        .args(["-Q", "-f"])
        .arg(&krl)
        .arg(&cert_file)
        .output()
        .expect("ok");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("REVOKED"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
