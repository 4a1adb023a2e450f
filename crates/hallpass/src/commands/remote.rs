//! Remote daemons: `login --remote` stores an API token (and how to trust the daemon) in your
//! config directory; `--remote HOST:PORT` on any command then uses it; `logout` forgets it.
//! Invariants: a login is stored only after the daemon accepted its token; the file holding a
//! token is created owner-only (0600, in a 0700 directory) and replaced atomically.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Args;
use hallpass_proto::Remote;
use serde::{Deserialize, Serialize};

use crate::connection::{client_name, ctx};
use crate::failure::{Failure, answer};
use crate::output::{Details, Output, when_opt};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hallpass login --remote access.example.com:7443 --token-file ~/ci.token\n  \
    hallpass login --remote 10.0.0.5:7443 --ca-file corp-ca.pem --invite 7Q2M-XK4P-9D3F\n  \
    hallpass --remote access.example.com:7443 requests --to-approve")]
pub struct LoginArgs {
    /// The daemon's remote listener, HOST:PORT (its certificate must name HOST)
    #[arg(long, value_name = "HOST:PORT")]
    pub remote: String,
    /// A file holding an API token (`-` reads standard input)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "invite",
        required_unless_present = "invite"
    )]
    pub token_file: Option<PathBuf>,
    /// Accept an invite over the network instead: your account gets an API token (90 days);
    /// `-` reads the code from standard input
    #[arg(long, value_name = "CODE")]
    pub invite: Option<String>,
    /// With --invite: the new token's name
    #[arg(long, default_value = "cli", requires = "invite")]
    pub token_name: String,
    /// A PEM CA bundle to trust for this daemon instead of the system's roots
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate, for daemons that require one (with --client-key)
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's PEM private key
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The remote to forget, HOST:PORT
    #[arg(long, value_name = "HOST:PORT")]
    pub remote: String,
}

/// One stored login, `~/.config/hallpass/remotes/HOST_PORT.toml`.
#[derive(Serialize, Deserialize)]
struct StoredLogin {
    remote: String,
    token: String,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    client_cert: Option<PathBuf>,
    #[serde(default)]
    client_key: Option<PathBuf>,
}

fn remotes_dir() -> Result<PathBuf, Failure> {
    directories::ProjectDirs::from("", "", "hallpass")
        .map(|d| d.config_dir().join("remotes"))
        .ok_or_else(|| Failure::Local("cannot find your config directory (is HOME set?)".into()))
}

fn login_path(remote: &str) -> Result<PathBuf, Failure> {
    let safe: String = remote
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(remotes_dir()?.join(format!("{safe}.toml")))
}

fn check_remote(remote: &str) -> Result<String, Failure> {
    let r = remote.trim();
    match r.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(r.to_string())
        }
        _ => Err(Failure::invalid(
            "--remote",
            format!("`{remote}` is not HOST:PORT, like access.example.com:7443"),
        )),
    }
}

/// The stored login for `remote`, as a connectable endpoint.
pub fn load(remote: &str) -> Result<Remote, Failure> {
    let remote = check_remote(remote)?;
    let path = login_path(&remote)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::Local(format!(
                "not logged in to {remote}: run `hallpass login --remote {remote} --token-file FILE` first"
            )));
        }
        Err(e) => {
            return Err(Failure::Local(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let stored: StoredLogin = toml::from_str(&text).map_err(|e| {
        Failure::Local(format!("{} is damaged ({e}); log in again", path.display()))
    })?;
    if stored.remote != remote {
        return Err(Failure::Local(format!(
            "{} holds the login for {}, not {remote}; run `hallpass login --remote {remote} …`",
            path.display(),
            stored.remote
        )));
    }
    Ok(Remote {
        addr: stored.remote,
        token: stored.token,
        ca_file: stored.ca_file,
        client_cert: stored.client_cert.zip(stored.client_key),
    })
}

fn absolute(p: Option<PathBuf>, flag: &str) -> Result<Option<PathBuf>, Failure> {
    p.map(|p| {
        std::path::absolute(&p)
            .ok()
            .filter(|a| a.exists())
            .ok_or_else(|| Failure::invalid(flag, format!("{} does not exist", p.display())))
    })
    .transpose()
}

fn read_token(path: &Path) -> Result<String, Failure> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| Failure::invalid("--token-file", format!("{}: {e}", path.display())))?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(Failure::invalid(
            "--token-file",
            format!("{} is empty", path.display()),
        ));
    }
    Ok(token)
}

fn save(remote: &Remote) -> Result<PathBuf, Failure> {
    let path = login_path(&remote.addr)?;
    let dir = path
        .parent()
        .expect("invariant: the login path has a directory");
    let local = |e: std::io::Error| Failure::Local(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(local)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(local)?;
    let stored = StoredLogin {
        remote: remote.addr.clone(),
        token: remote.token.clone(),
        ca_file: remote.ca_file.clone(),
        client_cert: remote.client_cert.as_ref().map(|(c, _)| c.clone()),
        client_key: remote.client_cert.as_ref().map(|(_, k)| k.clone()),
    };
    let text = toml::to_string(&stored).map_err(|e| Failure::Local(e.to_string()))?;
    let tmp = path.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(local)?;
    f.write_all(text.as_bytes()).map_err(local)?;
    f.sync_all().map_err(local)?;
    std::fs::rename(&tmp, &path).map_err(local)?;
    Ok(path)
}

pub async fn login(out: Output, a: LoginArgs) -> Result<(), Failure> {
    let addr = check_remote(&a.remote)?;
    let ca_file = absolute(a.ca_file, "--ca-file")?;
    let client_cert = match (
        absolute(a.client_cert, "--client-cert")?,
        absolute(a.client_key, "--client-key")?,
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => None,
    };
    let mut remote = Remote {
        addr,
        token: String::new(),
        ca_file,
        client_cert,
    };
    let (user, token) = match (&a.token_file, &a.invite) {
        (Some(file), _) => {
            remote.token = read_token(file)?;
            let (client, auth) = hallpass_proto::connect_tcp(&remote, &client_name()).await?;
            let me = answer(client.whoami(ctx()).await)?;
            let user = me.user.ok_or_else(|| {
                Failure::Local("the daemon accepted the token but names no account".into())
            })?;
            (user, auth.token)
        }
        (None, Some(code)) => {
            // `-` reads the code from standard input, out of the process list and shell history.
            let code = if code == "-" {
                read_token(Path::new("-"))?
            } else {
                code.clone()
            };
            let (_, accepted) =
                hallpass_proto::accept_invite_tcp(&remote, &code, &a.token_name, &client_name())
                    .await?;
            remote.token = accepted.token.token.clone();
            (accepted.user, accepted.token.view)
        }
        (None, None) => {
            return Err(Failure::invalid(
                "--token-file",
                "give --token-file or --invite",
            ));
        }
    };
    let path = save(&remote)?;
    if out.json(
        &serde_json::json!({ "remote": remote.addr, "user": user, "token": token, "stored": path }),
    )? {
        return Ok(());
    }
    let mut d = Details::new();
    d.row("remote", remote.addr.clone())
        .row("as", format!("{} ({})", user.email, user.role))
        .row(
            "token",
            format!("{} ({}), {}", token.id, token.name, token.role),
        )
        .row("expires", when_opt(token.expires_at, out.now()))
        .row("stored in", path.display().to_string());
    println!("{}", d.render());
    println!("Use it with `hallpass --remote {} COMMAND`.", remote.addr);
    Ok(())
}

pub fn logout(out: Output, a: LogoutArgs) -> Result<(), Failure> {
    let addr = check_remote(&a.remote)?;
    let path = login_path(&addr)?;
    let removed = match std::fs::remove_file(&path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(Failure::Local(format!(
                "cannot remove {}: {e}",
                path.display()
            )));
        }
    };
    if !out.json(&serde_json::json!({ "remote": addr, "removed": removed }))? {
        if removed {
            println!(
                "Forgot the login to {addr}. The token itself still works until revoked: `hallpass tokens revoke ID`."
            );
        } else {
            println!("No login to {addr} was stored.");
        }
    }
    Ok(())
}
