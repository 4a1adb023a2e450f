//! The `ssh` connector: hallpass is an SSH certificate authority. A grant is a short-lived
//! user certificate for the grantee's registered key; revocation adds the grant's serial range
//! to the KRL sshd's `RevokedKeys` names.
//!
//! Invariants:
//! - every certificate of grant `G` has a serial in `G << 16 ..= G << 16 | 0xffff` (the low 16
//!   bits are the revision), so revoking the range revokes every certificate the grant ever
//!   had, including one issued concurrently with the revocation;
//! - a grant whose range is in the KRL gets no new certificate;
//! - the KRL is rewritten atomically under a per-path lock and re-read to verify;
//! - the CA's private key never appears in an error or a log line.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, PoisonError};
use std::time::Duration;

use hallpass_core::credential::Credentials;
use hallpass_core::integration::{SecretRef, SshConfig, SshPermission};
use hallpass_core::{Clock, GrantId, SystemClock, Timestamp};
use ssh_key::certificate::{Builder, CertType};
use ssh_key::{Algorithm, Certificate, HashAlg, PrivateKey, PublicKey};

use super::krl::{self, Krl};
use super::{Check, ConnectorError, GrantSpec, resolve_secret};

/// Certificates start this long before they are issued, for clock skew between hosts.
const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Extensions a certificate carries when the permission names none.
const DEFAULT_EXTENSIONS: &[&str] = &["permit-pty"];
/// The comment hallpass puts in a KRL it creates.
const KRL_COMMENT: &str = "managed by hallpass: certificate serial ranges of revoked grants";

/// The serials of all certificates of `grant`: `(first, last)`.
pub fn serial_range(grant: GrantId) -> Result<(u64, u64), ConnectorError> {
    if grant.0 == 0 || grant.0 >> 48 != 0 {
        return Err(ConnectorError::Unusable(format!(
            "grant {grant} cannot be numbered in SSH certificate serials (1..2^48 allowed)"
        )));
    }
    let first = grant.0 << 16;
    Ok((first, first | 0xffff))
}

/// The serial of revision `revision` of `grant`'s certificate.
pub fn serial(grant: GrantId, revision: u32) -> Result<u64, ConnectorError> {
    Ok(serial_range(grant)?.0 | u64::from(revision & 0xffff))
}

/// The CA, loaded from its file.
struct Ca {
    key: PrivateKey,
    /// The public key blob, as KRL sections name it.
    blob: Vec<u8>,
    fingerprint: String,
}

fn load_ca(cfg: &SshConfig) -> Result<Ca, ConnectorError> {
    let pem = resolve_secret("the SSH CA key (ca_key)", &cfg.ca_key)?;
    // The parse error names the format problem, never the key's content.
    let key = PrivateKey::from_openssh(pem.as_bytes()).map_err(|e| {
        ConnectorError::Unusable(format!(
            "the SSH CA key {} is not an OpenSSH private key: {e}",
            cfg.ca_key
        ))
    })?;
    drop(pem);
    if key.is_encrypted() {
        return Err(ConnectorError::Unusable(format!(
            "the SSH CA key {} is passphrase-protected; hallpassd needs it unencrypted (protect it by file permissions)",
            cfg.ca_key
        )));
    }
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(ConnectorError::Unusable(format!(
            "the SSH CA key {} is {}, not ed25519; create one with `ssh-keygen -t ed25519 -N '' -f <file>`",
            cfg.ca_key,
            key.algorithm()
        )));
    }
    let blob = key.public_key().to_bytes().map_err(|e| {
        ConnectorError::Unusable(format!("cannot encode the SSH CA's public key: {e}"))
    })?;
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    Ok(Ca {
        key,
        blob,
        fingerprint,
    })
}

fn krl_path(cfg: &SshConfig) -> Result<PathBuf, ConnectorError> {
    let p = PathBuf::from(&cfg.krl);
    if p.is_absolute() && p.file_name().is_some() {
        Ok(p)
    } else {
        Err(ConnectorError::Unusable(format!(
            "the KRL path `{}` must be an absolute file path",
            cfg.krl
        )))
    }
}

/// One lock per KRL path: revocations (and the KRL's creation) in this process never race.
fn krl_lock(path: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    LOCKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(path.to_path_buf())
        .or_default()
        .clone()
}

/// Runs blocking KRL file work under the path's lock.
async fn with_krl<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce(&Path) -> Result<T, ConnectorError> + Send + 'static,
) -> Result<T, ConnectorError> {
    let lock = krl_lock(path);
    let _guard = lock.lock().await;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || work(&path))
        .await
        .map_err(|e| ConnectorError::Target(format!("the KRL update task failed: {e}")))?
}

fn read_krl(path: &Path) -> Result<Option<Krl>, ConnectorError> {
    krl::read_file(path).map_err(|e| {
        ConnectorError::Target(format!(
            "{e}; hallpass refuses to rewrite a KRL it cannot fully parse (its entries could be lost)"
        ))
    })
}

fn write_krl(path: &Path, mut k: Krl) -> Result<(), ConnectorError> {
    k.krl_version = k.krl_version.saturating_add(1);
    k.generated_date = u64::try_from(SystemClock.now().0 / 1000).unwrap_or(0);
    krl::write_atomic(path, &k.encode()).map_err(|e| {
        ConnectorError::Target(format!("cannot write the KRL {}: {e}", path.display()))
    })
}

/// A principal (login name or role) as it may appear in a certificate.
fn valid_principal(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 256
        && !p.starts_with('-')
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn valid_extension(e: &str) -> bool {
    !e.is_empty()
        && e.len() <= 256
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn permission<'a>(cfg: &'a SshConfig, name: &str) -> Result<&'a SshPermission, ConnectorError> {
    cfg.permissions.get(name).ok_or_else(|| {
        ConnectorError::Unusable(format!(
            "permission `{name}` is not defined for this SSH integration (defined: {})",
            cfg.permissions
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn principals(perm: &SshPermission, resource: &str) -> Result<Vec<String>, ConnectorError> {
    let principals = if perm.principals.is_empty() {
        vec![resource.to_string()]
    } else {
        perm.principals.clone()
    };
    if let Some(bad) = principals.iter().find(|p| !valid_principal(p)) {
        return Err(ConnectorError::Unusable(format!(
            "`{bad}` is not a valid SSH principal (letters, digits, `.`, `_`, `-`, `@`)"
        )));
    }
    Ok(principals)
}

fn extensions(perm: &SshPermission) -> Result<Vec<String>, ConnectorError> {
    let ext: Vec<String> = match &perm.extensions {
        Some(v) => v.clone(),
        None => DEFAULT_EXTENSIONS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = ext.iter().find(|e| !valid_extension(e)) {
        return Err(ConnectorError::Unusable(format!(
            "`{bad}` is not a valid SSH certificate extension name"
        )));
    }
    Ok(ext)
}

/// The grantee's key the certificate is for: the first one they registered.
fn user_key(spec: &GrantSpec) -> Result<PublicKey, ConnectorError> {
    let email = &spec.user.email;
    let line = spec.user.ssh_keys.first().ok_or_else(|| {
        ConnectorError::Unusable(format!(
            "no SSH key registered for {email}: run `hallpass keys add ~/.ssh/id_ed25519.pub`"
        ))
    })?;
    PublicKey::from_openssh(line.trim()).map_err(|e| {
        ConnectorError::Unusable(format!(
            "the SSH key registered for {email} is not an OpenSSH public key ({e}): run `hallpass keys add ~/.ssh/id_ed25519.pub` again"
        ))
    })
}

/// The conventional private-key file name for a key type, for the hint.
fn key_file_name(alg: &Algorithm) -> &'static str {
    match alg {
        Algorithm::Ed25519 => "id_ed25519",
        Algorithm::Rsa { .. } => "id_rsa",
        Algorithm::Ecdsa { .. } => "id_ecdsa",
        Algorithm::SkEd25519 => "id_ed25519_sk",
        Algorithm::SkEcdsaSha2NistP256 => "id_ecdsa_sk",
        _ => "<your key>",
    }
}

/// Issues a user certificate for the grant's current revision, valid until `spec.expires`.
/// Calling it again issues another valid certificate with the same serial.
pub async fn issue(cfg: &SshConfig, spec: &GrantSpec) -> Result<Credentials, ConnectorError> {
    let now = SystemClock.now();
    let expires = spec.expires.ok_or_else(|| {
        ConnectorError::Unusable(format!(
            "grant {} has no end time; an SSH certificate needs one",
            spec.grant_id
        ))
    })?;
    let now_secs = u64::try_from(now.0 / 1000).unwrap_or(0);
    let valid_before = u64::try_from(expires.0.div_euclid(1000)).unwrap_or(0);
    if valid_before <= now_secs {
        return Err(ConnectorError::Unusable(format!(
            "grant {} ended at {expires}; no certificate is issued for past access",
            spec.grant_id
        )));
    }
    let valid_after = u64::try_from(now.minus(CLOCK_SKEW).0.max(0) / 1000).unwrap_or(0);

    let perm = permission(cfg, &spec.permission)?;
    let principals = principals(perm, &spec.resource)?;
    let extensions = extensions(perm)?;
    let user_key = user_key(spec)?;
    let (first, last) = serial_range(spec.grant_id)?;
    let serial = serial(spec.grant_id, spec.revision)?;
    let ca = load_ca(cfg)?;
    let path = krl_path(cfg)?;

    // Refuse a revoked grant; create an empty KRL if there is none, since sshd refuses every
    // key while the file its RevokedKeys names is missing.
    let blob = ca.blob.clone();
    let grant = spec.grant_id;
    with_krl(&path, move |path| {
        let existing = read_krl(path)?;
        if existing
            .as_ref()
            .is_some_and(|k| k.overlaps(&blob, first, last))
        {
            return Err(ConnectorError::Unusable(format!(
                "grant {grant} was revoked (its certificates are in the KRL {}); no new certificate is issued",
                path.display()
            )));
        }
        if existing.is_none() {
            write_krl(path, Krl::new(KRL_COMMENT))?;
        }
        Ok(())
    })
    .await?;

    let key_id = format!(
        "hallpass:{}:r{}:{}",
        spec.grant_id, spec.revision, spec.user.email
    );
    let mut nonce = [0u8; Builder::RECOMMENDED_NONCE_SIZE];
    getrandom::fill(&mut nonce).map_err(|e| {
        ConnectorError::Target(format!("no randomness for the certificate nonce: {e}"))
    })?;
    let build = || -> Result<Certificate, ssh_key::Error> {
        let mut b = Builder::new(
            nonce.to_vec(),
            user_key.key_data().clone(),
            valid_after,
            valid_before,
        )?;
        b.serial(serial)?
            .cert_type(CertType::User)?
            .key_id(key_id.clone())?
            .comment(key_id.clone())?;
        for p in &principals {
            b.valid_principal(p.clone())?;
        }
        for e in &extensions {
            b.extension(e.clone(), "")?;
        }
        if let Some(cmd) = &perm.force_command {
            b.critical_option("force-command", cmd.clone())?;
        }
        b.sign(&ca.key)
    };
    let cert = build().map_err(|e| {
        ConnectorError::Target(format!(
            "cannot sign the certificate for grant {}: {e}",
            spec.grant_id
        ))
    })?;
    let ca_fp = ca.key.fingerprint(HashAlg::Sha256);
    cert.validate_at(now_secs, [&ca_fp]).map_err(|e| {
        ConnectorError::Verify(format!(
            "the certificate issued for grant {} does not validate against the CA {}: {e}",
            spec.grant_id, ca.fingerprint
        ))
    })?;
    let line = cert
        .to_openssh()
        .map_err(|e| ConnectorError::Target(format!("cannot encode the certificate: {e}")))?;

    let key_file = key_file_name(&user_key.algorithm());
    let until = Timestamp(
        i64::try_from(valid_before)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000),
    );
    Ok(Credentials::default()
        .field("certificate", line)
        .field("principals", principals.join(","))
        .field("valid_before", until.to_rfc3339())
        .field("serial", serial.to_string())
        .hint(format!(
            "save the certificate as ~/.ssh/{key_file}-cert.pub (beside the private key you registered); then ssh {}@<host>",
            principals[0]
        )))
}

/// Revokes every certificate of the grant by adding its serial range to the KRL (created if
/// missing), then re-reads the KRL to verify. Idempotent.
pub async fn revoke(cfg: &SshConfig, spec: &GrantSpec) -> Result<(), ConnectorError> {
    let (first, last) = serial_range(spec.grant_id)?;
    let ca = load_ca(cfg)?;
    let path = krl_path(cfg)?;
    let blob = ca.blob.clone();
    let grant = spec.grant_id;
    with_krl(&path, move |path| {
        let mut k = read_krl(path)?.unwrap_or_else(|| Krl::new(KRL_COMMENT));
        let changed = k.revoke_serial_range(&blob, first, last).map_err(|e| {
            ConnectorError::Target(format!("cannot revoke grant {grant} in the KRL: {e}"))
        })?;
        if changed {
            write_krl(path, k)?;
        }
        match krl::read_file(path) {
            Ok(Some(k)) if k.covers(&blob, first, last) => Ok(()),
            Ok(_) => Err(ConnectorError::Verify(format!(
                "the KRL {} does not revoke grant {grant}'s certificates after writing it",
                path.display()
            ))),
            Err(e) => Err(ConnectorError::Verify(format!(
                "re-reading the KRL after revoking grant {grant}: {e}"
            ))),
        }
    })
    .await
}

/// Checks the CA key, the KRL and the permissions. Changes nothing.
pub async fn test(cfg: &SshConfig) -> Vec<Check> {
    let mut checks = Vec::new();

    let ca = load_ca(cfg);
    match &ca {
        Ok(ca) => {
            let mut detail = format!("ed25519 CA {}", ca.fingerprint);
            if let SecretRef::File(p) = &cfg.ca_key
                && let Ok(meta) = std::fs::metadata(p)
                && meta.permissions().mode() & 0o004 != 0
            {
                checks.push(Check::fail(
                    "CA key",
                    format!("{p} is readable by every user: `chmod 600 {p}`"),
                ));
            } else {
                detail.push_str(" (trust it with sshd's TrustedUserCAKeys)");
                checks.push(Check::pass("CA key", detail));
            }
        }
        Err(e) => checks.push(Check::fail("CA key", e.to_string())),
    }

    checks.push(match krl_path(cfg) {
        Err(e) => Check::fail("KRL", e.to_string()),
        Ok(path) => check_krl(&path, ca.as_ref().ok()),
    });

    let mut bad = Vec::new();
    let mut summary = Vec::new();
    for (name, perm) in &cfg.permissions {
        for p in &perm.principals {
            if !valid_principal(p) {
                bad.push(format!("{name}: principal `{p}`"));
            }
        }
        for e in perm.extensions.iter().flatten() {
            if !valid_extension(e) {
                bad.push(format!("{name}: extension `{e}`"));
            }
        }
        if perm
            .force_command
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            bad.push(format!("{name}: empty force_command"));
        }
        summary.push(if perm.principals.is_empty() {
            format!("{name} → <resource name>")
        } else {
            format!("{name} → {}", perm.principals.join(","))
        });
    }
    checks.push(if bad.is_empty() {
        Check::pass("principals", summary.join("; "))
    } else {
        Check::fail("principals", format!("not well-formed: {}", bad.join("; ")))
    });
    checks
}

fn check_krl(path: &Path, ca: Option<&Ca>) -> Check {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Check::fail("KRL", format!("directory {} does not exist", dir.display()));
    }
    if let Err(e) = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK) {
        return Check::fail(
            "KRL",
            format!(
                "directory {} is not writable by hallpassd: {e}",
                dir.display()
            ),
        );
    }
    match krl::read_file(path) {
        Ok(None) => Check::pass(
            "KRL",
            format!(
                "{} does not exist yet; hallpass creates it with the first certificate (sshd refuses every key while its RevokedKeys file is missing)",
                path.display()
            ),
        ),
        Ok(Some(k)) => {
            let ours = ca.map(|ca| {
                k.sections
                    .iter()
                    .any(|s| matches!(s, krl::Section::Certificates(cs) if cs.ca_key == ca.blob))
            });
            Check::pass(
                "KRL",
                format!(
                    "{}: version {}, {} serial entries{}",
                    path.display(),
                    k.krl_version,
                    k.serial_entry_count(),
                    match ours {
                        Some(true) => ", some for this CA",
                        _ => "",
                    }
                ),
            )
        }
        Err(e) => Check::fail("KRL", e),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::process::Command;

    use hallpass_core::{RequestId, UserId};
    use ssh_key::LineEnding;
    use ssh_key::private::Ed25519Keypair;

    use super::*;
    use crate::connectors::{Action, SpecUser};

    struct Fixture {
        dir: tempfile::TempDir,
        cfg: SshConfig,
        user_pub: String,
    }

    fn keypair() -> PrivateKey {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        PrivateKey::from(Ed25519Keypair::from_seed(&seed))
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca");
        keypair()
            .write_openssh_file(&ca_path, LineEnding::LF)
            .unwrap();
        let user_pub = keypair().public_key().to_openssh().unwrap();
        let mut permissions = BTreeMap::new();
        permissions.insert("login".to_string(), SshPermission::default());
        permissions.insert(
            "deploy".to_string(),
            SshPermission {
                principals: vec!["deploy".into(), "web".into()],
                extensions: Some(vec!["permit-pty".into(), "permit-agent-forwarding".into()]),
                force_command: Some("/usr/bin/deploy".into()),
            },
        );
        let cfg = SshConfig {
            ca_key: SecretRef::File(ca_path.to_string_lossy().into_owned()),
            krl: dir.path().join("krl").to_string_lossy().into_owned(),
            permissions,
        };
        Fixture { dir, cfg, user_pub }
    }

    fn spec(grant: u64, revision: u32, permission: &str, keys: Vec<String>) -> GrantSpec {
        let expires = SystemClock.now().plus(Duration::from_secs(3600));
        GrantSpec {
            action: Action::Grant,
            grant_id: GrantId(grant),
            request_id: RequestId(1),
            user: SpecUser {
                id: UserId(1),
                email: "ada@example.com".into(),
                os_user: None,
                ssh_keys: keys,
            },
            integration: "ssh".into(),
            resource: "web01".into(),
            permission: permission.into(),
            expires_at: Some(expires.to_rfc3339()),
            expires: Some(expires),
            duration_secs: 3600,
            revision,
        }
    }

    #[test]
    fn serials_of_a_grant_form_one_range() {
        assert_eq!(serial(GrantId(1), 0).unwrap(), 0x1_0000);
        assert_eq!(serial(GrantId(1), 3).unwrap(), 0x1_0003);
        assert_eq!(serial(GrantId(2), 0x1_0001).unwrap(), 0x2_0001);
        assert_eq!(serial_range(GrantId(5)).unwrap(), (0x5_0000, 0x5_ffff));
        assert!(serial_range(GrantId(0)).is_err());
        assert!(serial_range(GrantId(1 << 48)).is_err());
    }

    #[tokio::test]
    async fn issue_signs_a_user_certificate_with_the_grant_fields() {
        let f = fixture();
        let s = spec(42, 2, "deploy", vec![f.user_pub.clone()]);
        let creds = issue(&f.cfg, &s).await.unwrap();
        let cert = Certificate::from_openssh(creds.get("certificate").unwrap()).unwrap();
        assert_eq!(cert.cert_type(), CertType::User);
        assert_eq!(cert.serial(), (42 << 16) | 2);
        assert_eq!(cert.key_id(), "hallpass:G-42:r2:ada@example.com");
        assert_eq!(cert.valid_principals(), ["deploy", "web"]);
        assert_eq!(
            cert.valid_before(),
            u64::try_from(s.expires.unwrap().0 / 1000).unwrap()
        );
        let now = u64::try_from(SystemClock.now().0 / 1000).unwrap();
        assert!(cert.valid_after() <= now - 59 && cert.valid_after() >= now - 62);
        assert_eq!(
            cert.critical_options()
                .get("force-command")
                .map(String::as_str),
            Some("/usr/bin/deploy")
        );
        let mut ext: Vec<_> = cert.extensions().keys().cloned().collect();
        ext.sort();
        assert_eq!(ext, ["permit-agent-forwarding", "permit-pty"]);
        assert_eq!(
            cert.public_key(),
            PublicKey::from_openssh(&f.user_pub).unwrap().key_data()
        );
        assert_eq!(creds.get("principals"), Some("deploy,web"));
        assert_eq!(creds.get("serial"), Some(&*((42u64 << 16) | 2).to_string()));
        assert!(creds.hint.contains("id_ed25519-cert.pub"), "{}", creds.hint);
        assert!(creds.fields.iter().all(|f| !f.secret));
        // The KRL now exists (empty), so sshd accepts certificates.
        assert_eq!(
            krl::read_file(Path::new(&f.cfg.krl))
                .unwrap()
                .unwrap()
                .serial_entry_count(),
            0
        );

        // Default permission: the resource name, permit-pty only; issuing again is fine.
        for _ in 0..2 {
            let creds = issue(&f.cfg, &spec(42, 2, "login", vec![f.user_pub.clone()]))
                .await
                .unwrap();
            let cert = Certificate::from_openssh(creds.get("certificate").unwrap()).unwrap();
            assert_eq!(cert.valid_principals(), ["web01"]);
            assert_eq!(cert.extensions().keys().collect::<Vec<_>>(), ["permit-pty"]);
            assert!(cert.critical_options().is_empty());
        }
    }

    #[tokio::test]
    async fn issue_refuses_unusable_requests_with_a_reason() {
        let f = fixture();
        let e = issue(&f.cfg, &spec(1, 0, "login", vec![]))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Unusable(m) if m.contains("no SSH key registered for ada@example.com") && m.contains("hallpass keys add")),
            "{e}"
        );
        let e = issue(&f.cfg, &spec(1, 0, "root", vec![f.user_pub.clone()]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("`root` is not defined"), "{e}");
        let mut s = spec(1, 0, "login", vec![f.user_pub.clone()]);
        s.expires = None;
        assert!(
            issue(&f.cfg, &s)
                .await
                .unwrap_err()
                .to_string()
                .contains("no end time")
        );
        s.expires = Some(SystemClock.now().minus(Duration::from_secs(5)));
        assert!(
            issue(&f.cfg, &s)
                .await
                .unwrap_err()
                .to_string()
                .contains("ended at")
        );
        let mut s = spec(1, 0, "login", vec![f.user_pub.clone()]);
        s.resource = "-oProxyCommand".into();
        assert!(
            issue(&f.cfg, &s)
                .await
                .unwrap_err()
                .to_string()
                .contains("not a valid SSH principal")
        );
        let e = issue(
            &f.cfg,
            &spec(1, 0, "login", vec!["ssh-ed25519 garbage".into()]),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("not an OpenSSH public key"), "{e}");
    }

    #[tokio::test]
    async fn ca_key_problems_are_named_without_the_key() {
        let f = fixture();
        let ca_path = f.dir.path().join("ca");
        let pem = std::fs::read_to_string(&ca_path).unwrap();
        // A corrupted key: the error names the file, not its content.
        let corrupted = format!(
            "{}\n-----END OPENSSH PRIVATE KEY-----\n",
            &pem[..pem.len() / 2]
        );
        std::fs::write(&ca_path, &corrupted).unwrap();
        let e = issue(&f.cfg, &spec(1, 0, "login", vec![f.user_pub.clone()]))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(&*ca_path.to_string_lossy()), "{e}");
        for line in corrupted.lines().filter(|l| l.len() > 20) {
            assert!(!e.contains(line), "{e}");
        }
        std::fs::remove_file(&ca_path).unwrap();
        let e = issue(&f.cfg, &spec(1, 0, "login", vec![f.user_pub.clone()]))
            .await
            .unwrap_err();
        assert!(matches!(e, ConnectorError::Secret { .. }), "{e}");
    }

    #[tokio::test]
    async fn revoke_is_idempotent_verified_and_blocks_reissue() {
        let f = fixture();
        let keys = vec![f.user_pub.clone()];
        issue(&f.cfg, &spec(7, 0, "login", keys.clone()))
            .await
            .unwrap();
        revoke(&f.cfg, &spec(7, 0, "login", keys.clone()))
            .await
            .unwrap();
        let path = Path::new(&f.cfg.krl);
        let first = krl::read_file(path).unwrap().unwrap();
        revoke(&f.cfg, &spec(7, 3, "login", keys.clone()))
            .await
            .unwrap();
        let second = krl::read_file(path).unwrap().unwrap();
        assert_eq!(
            first, second,
            "an already revoked grant does not rewrite the KRL"
        );
        let e = issue(&f.cfg, &spec(7, 1, "login", keys.clone()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("was revoked"), "{e}");
        // Other grants are unaffected; a second revocation bumps the version and keeps the first.
        issue(&f.cfg, &spec(8, 0, "login", keys.clone()))
            .await
            .unwrap();
        revoke(&f.cfg, &spec(9, 0, "login", keys.clone()))
            .await
            .unwrap();
        let third = krl::read_file(path).unwrap().unwrap();
        assert!(third.krl_version > second.krl_version);
        let ca = load_ca(&f.cfg).unwrap();
        assert!(third.covers(&ca.blob, 7 << 16, (7 << 16) | 0xffff));
        assert!(third.covers(&ca.blob, 9 << 16, (9 << 16) | 0xffff));
        assert!(!third.overlaps(&ca.blob, 8 << 16, (8 << 16) | 0xffff));
    }

    #[tokio::test]
    async fn concurrent_revocations_all_land() {
        let f = fixture();
        let cfg = Arc::new(f.cfg.clone());
        let mut tasks = Vec::new();
        for g in 1..=16u64 {
            let cfg = cfg.clone();
            let s = spec(g * 3, 0, "login", vec![]);
            tasks.push(tokio::spawn(async move { revoke(&cfg, &s).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let k = krl::read_file(Path::new(&f.cfg.krl)).unwrap().unwrap();
        let ca = load_ca(&f.cfg).unwrap();
        for g in 1..=16u64 {
            let g = g * 3;
            assert!(k.covers(&ca.blob, g << 16, (g << 16) | 0xffff), "G-{g}");
        }
    }

    #[tokio::test]
    async fn revoke_refuses_to_rewrite_a_krl_it_cannot_parse() {
        let f = fixture();
        std::fs::write(&f.cfg.krl, b"SSHKRL\n\0garbage").unwrap();
        let e = revoke(&f.cfg, &spec(1, 0, "login", vec![]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("refuses to rewrite"), "{e}");
        assert_eq!(std::fs::read(&f.cfg.krl).unwrap(), b"SSHKRL\n\0garbage");
    }

    #[tokio::test]
    async fn test_reports_without_changing_anything() {
        let f = fixture();
        let checks = test(&f.cfg).await;
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        assert!(checks[0].detail.contains("SHA256:"), "{checks:?}");
        assert!(!Path::new(&f.cfg.krl).exists());

        let mut bad = f.cfg.clone();
        bad.krl = "relative/krl".into();
        bad.permissions.insert(
            "x".into(),
            SshPermission {
                principals: vec!["a b".into()],
                ..Default::default()
            },
        );
        std::fs::write(f.dir.path().join("ca"), "not a key").unwrap();
        let checks = test(&bad).await;
        assert!(checks.iter().all(|c| !c.ok), "{checks:?}");
        assert!(!checks[0].detail.contains("not a key"), "{checks:?}");
    }

    /// A KRL an admin wrote with `ssh-keygen -k` (serial bitmap, range, key id) keeps all its
    /// entries when hallpass adds a grant's range, as OpenSSH itself reads it back.
    #[tokio::test]
    async fn a_krl_written_by_ssh_keygen_keeps_its_entries() {
        let f = fixture();
        let ca_pub = f.dir.path().join("ca.pub");
        load_ca(&f.cfg)
            .unwrap()
            .key
            .public_key()
            .write_openssh_file(&ca_pub)
            .unwrap();
        let spec_file = f.dir.path().join("revoke-spec");
        std::fs::write(
            &spec_file,
            "serial: 5\nserial: 7\nserial: 9\nserial: 11\nserial: 100-200\nid: someone\n",
        )
        .unwrap();
        let keygen = |args: &[&str]| {
            let out = Command::new("ssh-keygen")
                .args(args)
                .output()
                .expect("ssh-keygen must be installed (openssh-client)");
            assert!(out.status.success(), "ssh-keygen {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let krl_path = f.cfg.krl.clone();
        keygen(&[
            "-k",
            "-f",
            &krl_path,
            "-s",
            &ca_pub.to_string_lossy(),
            &spec_file.to_string_lossy(),
        ]);
        let before = keygen(&["-Q", "-l", "-f", &krl_path]);

        revoke(&f.cfg, &spec(3, 0, "login", vec![])).await.unwrap();
        let after = keygen(&["-Q", "-l", "-f", &krl_path]);
        for entry in [
            "serial: 5\n",
            "serial: 7\n",
            "serial: 9\n",
            "serial: 11\n",
            "serial: 100-200\n",
            "id: someone\n",
        ] {
            assert!(before.contains(entry), "{before}");
            assert!(after.contains(entry), "{after}");
        }
        assert!(after.contains("serial: 196608-262143\n"), "{after}");
        assert!(after.contains("KRL version 1"), "{after}");
    }

    /// `ssh-keygen -Q` is OpenSSH's own KRL reader: it proves the binary format.
    #[tokio::test]
    async fn ssh_keygen_reads_the_krl() {
        let f = fixture();
        let keys = vec![f.user_pub.clone()];
        let revoked = issue(&f.cfg, &spec(11, 4, "login", keys.clone()))
            .await
            .unwrap();
        let kept = issue(&f.cfg, &spec(12, 0, "login", keys.clone()))
            .await
            .unwrap();
        revoke(&f.cfg, &spec(11, 4, "login", keys.clone()))
            .await
            .unwrap();
        // A neighbour revoked too, so the KRL holds more than one entry.
        revoke(&f.cfg, &spec(13, 0, "login", keys.clone()))
            .await
            .unwrap();

        let query = |name: &str, creds: &Credentials| {
            let p = f.dir.path().join(name);
            std::fs::write(&p, format!("{}\n", creds.get("certificate").unwrap())).unwrap();
            let out = Command::new("ssh-keygen")
                .arg("-Q")
                .arg("-f")
                .arg(&f.cfg.krl)
                .arg(&p)
                .output()
                .expect("ssh-keygen must be installed (openssh-client)");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let (ok, out) = query("revoked-cert.pub", &revoked);
        assert!(!ok && out.contains("REVOKED"), "{out}");
        let (ok, out) = query("kept-cert.pub", &kept);
        assert!(ok && out.contains(": ok"), "{out}");
    }
}
