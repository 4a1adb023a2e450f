//! SSH public keys people register for the SSH connector to certify. Invariant: a stored key
//! parsed as an OpenSSH public key; keys are the caller's own (identity from the connection).

use hallpass_core::audit::AuditEntry;
use hallpass_proto::{ApiError, SshKeyView};
use ssh_key::{HashAlg, PublicKey};

use super::Session;
use crate::broker::{Caller, Fail};

/// Keys one person may register.
const MAX_KEYS: usize = 16;

fn parse(key: &str) -> Result<PublicKey, Fail> {
    PublicKey::from_openssh(key.trim()).map_err(|e| {
        Fail::Api(ApiError::invalid(
            "key",
            format!(
                "not an OpenSSH public key ({e}); give the one line of e.g. ~/.ssh/id_ed25519.pub"
            ),
        ))
    })
}

fn view(key: &PublicKey) -> SshKeyView {
    SshKeyView {
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        algorithm: key.algorithm().as_str().to_string(),
        comment: key.comment().to_string(),
    }
}

fn views(keys: &[String]) -> Vec<SshKeyView> {
    keys.iter()
        .filter_map(|k| PublicKey::from_openssh(k).ok())
        .map(|k| view(&k))
        .collect()
}

pub async fn add(s: &Session, c: &Caller, key: String) -> Result<Vec<SshKeyView>, Fail> {
    if key.contains("PRIVATE KEY") {
        return Err(Fail::Api(ApiError::invalid(
            "key",
            "that is a private key; register the public one (the .pub file) and keep the private key to yourself",
        )));
    }
    let parsed = parse(&key)?;
    let added = view(&parsed);
    let line = parsed
        .to_openssh()
        .map_err(|e| Fail::Api(ApiError::invalid("key", e.to_string())))?;
    let now = s.broker.now();
    let user = s
        .broker
        .commit(|tx| {
            let mut u = tx
                .user(c.id())?
                .ok_or_else(|| Fail::Api(ApiError::not_found("your account")))?;
            if views(&u.ssh_keys)
                .iter()
                .any(|k| k.fingerprint == added.fingerprint)
            {
                return Ok(u);
            }
            if u.ssh_keys.len() >= MAX_KEYS {
                return Err(Fail::Api(ApiError::invalid(
                    "key",
                    format!("you already have {MAX_KEYS} keys; remove one first"),
                )));
            }
            u.ssh_keys.push(line);
            tx.put_user(&u)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "user.ssh_key_add",
                    format!("user {}", u.email),
                    format!("{} {}", added.algorithm, added.fingerprint),
                )
                .about(u.id),
            )?;
            Ok(u)
        })
        .await?;
    Ok(views(&user.ssh_keys))
}

pub async fn list(s: &Session, c: &Caller) -> Result<Vec<SshKeyView>, Fail> {
    let u = s
        .broker
        .store()
        .user(c.id())?
        .ok_or_else(|| Fail::Api(ApiError::not_found("your account")))?;
    Ok(views(&u.ssh_keys))
}

pub async fn remove(s: &Session, c: &Caller, fingerprint: String) -> Result<Vec<SshKeyView>, Fail> {
    let now = s.broker.now();
    let fp = fingerprint.trim().to_string();
    let user = s
        .broker
        .commit(|tx| {
            let mut u = tx
                .user(c.id())?
                .ok_or_else(|| Fail::Api(ApiError::not_found("your account")))?;
            let before = u.ssh_keys.len();
            u.ssh_keys.retain(|k| {
                PublicKey::from_openssh(k)
                    .map(|p| view(&p).fingerprint != fp)
                    .unwrap_or(true)
            });
            if u.ssh_keys.len() == before {
                return Err(Fail::Api(ApiError::not_found(format!(
                    "a key of yours with fingerprint {fp} (see `hallpass keys list`)"
                ))));
            }
            tx.put_user(&u)?;
            tx.audit(
                now,
                AuditEntry::new(
                    c.actor(),
                    c.source,
                    "user.ssh_key_remove",
                    format!("user {}", u.email),
                    fp.clone(),
                )
                .about(u.id),
            )?;
            Ok(u)
        })
        .await?;
    Ok(views(&user.ssh_keys))
}
