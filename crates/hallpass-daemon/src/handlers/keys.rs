//! SSH public keys people register for the SSH connector to certify. Invariant: a stored key
//! parsed as an OpenSSH public key; keys are the caller's own (identity from the connection).

use hallpass_core::audit::AuditEntry;
use hallpass_proto::{ApiError, SshKeyView};
use ssh_key::{HashAlg, PublicKey};

use super::Session;
use crate::broker::{Caller, Fail};

/// Keys one person may register.
const MAX_KEYS: usize = 16;

/// Why pasted text is not a public key to register.
#[derive(Debug)]
pub(crate) enum BadKey {
    /// A private key: say so, and never echo it.
    Private,
    /// Not an OpenSSH public key (the parser's reason).
    Unreadable(String),
    /// More than one line, or a comment with control characters or bidirectional controls.
    /// ssh-key takes the comment to the end of the text, newlines and escape sequences
    /// included, and comments are shown in terminals (`hallpass keys list`, the TUI).
    NotOneLine,
}

/// Reads one pasted OpenSSH public key, as both the RPC and the access-link form take it:
/// the key and the line to store (its canonical form, printable, on one line).
pub(crate) fn read_public_key(text: &str) -> Result<(PublicKey, String), BadKey> {
    if text.contains("PRIVATE KEY") {
        return Err(BadKey::Private);
    }
    let text = text.trim();
    if text.contains(['\n', '\r']) {
        return Err(BadKey::NotOneLine);
    }
    let key = PublicKey::from_openssh(text).map_err(|e| BadKey::Unreadable(e.to_string()))?;
    if key.comment().chars().any(hallpass_core::text::unshowable) {
        return Err(BadKey::NotOneLine);
    }
    let line = key
        .to_openssh()
        .map_err(|e| BadKey::Unreadable(e.to_string()))?;
    Ok((key, line))
}

fn view(key: &PublicKey) -> SshKeyView {
    SshKeyView {
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        algorithm: key.algorithm().as_str().to_string(),
        // A key stored before `read_public_key` refused them shows no control characters.
        comment: key
            .comment()
            .chars()
            .map(|c| {
                if hallpass_core::text::unshowable(c) {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect(),
    }
}

fn views(keys: &[String]) -> Vec<SshKeyView> {
    keys.iter()
        .filter_map(|k| PublicKey::from_openssh(k).ok())
        .map(|k| view(&k))
        .collect()
}

pub async fn add(s: &Session, c: &Caller, key: String) -> Result<Vec<SshKeyView>, Fail> {
    let (parsed, line) = read_public_key(&key).map_err(|bad| {
        Fail::Api(ApiError::invalid(
            "key",
            match bad {
                BadKey::Private => "that is a private key; register the public one (the .pub file) and keep the private key to yourself".to_string(),
                BadKey::Unreadable(e) => format!(
                    "not an OpenSSH public key ({e}); give the one line of e.g. ~/.ssh/id_ed25519.pub"
                ),
                BadKey::NotOneLine => "give one key, on one line: its comment may not hold line breaks, tabs, other control characters or bidirectional controls".to_string(),
            },
        ))
    })?;
    let added = view(&parsed);
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

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJrivMkpbuM2ajEqBYjbc0u25AqK7hDnHema98KPWekM";

    #[test]
    fn a_key_is_read_as_one_printable_line() {
        let (key, line) = read_public_key(&format!("  {KEY} ada@laptop\n")).unwrap();
        assert_eq!(line, format!("{KEY} ada@laptop"));
        assert_eq!(key.comment(), "ada@laptop");
        assert!(read_public_key(KEY).is_ok());
        // Found by the `web_form` fuzz target: ssh-key reads the comment to the end of the
        // text, so a second line, or an escape sequence for the terminal showing it, rode along.
        for tail in [
            format!(" ada\n{KEY} second"),
            format!("\n{KEY}"),
            " ada\r\nmore".to_string(),
            " a\u{1b}[2Jb".to_string(),
            " a\tb".to_string(),
            // A right-to-left override: the comment shows as `ada@example.com`.
            " ad\u{202E}moc.elpmaxe@a".to_string(),
        ] {
            let text = format!("{KEY}{tail}");
            assert!(
                matches!(read_public_key(&text), Err(BadKey::NotOneLine)),
                "{text:?}"
            );
        }
        assert!(matches!(
            read_public_key("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"),
            Err(BadKey::Private)
        ));
        assert!(matches!(
            read_public_key("ssh-ed25519 AAAA"),
            Err(BadKey::Unreadable(_))
        ));
    }

    #[test]
    fn a_stored_comment_is_shown_without_control_characters() {
        let key = PublicKey::from_openssh(&format!("{KEY} a\u{1b}[2Jb")).unwrap();
        assert_eq!(view(&key).comment, "a\u{fffd}[2Jb");
        let key = PublicKey::from_openssh(&format!("{KEY} ad\u{202E}moc")).unwrap();
        assert_eq!(view(&key).comment, "ad\u{fffd}moc");
    }
}
