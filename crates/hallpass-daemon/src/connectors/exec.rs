//! The `exec` connector: runs configured commands (no shell) with the grant as JSON on stdin.
//! Exit 0 is success; stderr (its last 2 KiB) is kept in the error; a timeout kills the command.
//! Invariant: the command's environment is only PATH, HALLPASS_ACTION and the configured
//! secret variables; the daemon's own environment does not leak into it.

use std::process::Stdio;

use hallpass_core::integration::{ExecConfig, SecretRef};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{ConnectorError, GrantSpec};

const STDERR_KEEP: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Present,
    Absent,
}

fn resolve(var: &str, r: &SecretRef) -> Result<String, ConnectorError> {
    let err = |why: String| ConnectorError::Secret {
        var: var.to_string(),
        why,
    };
    match r {
        SecretRef::Env(name) => std::env::var(name).map_err(|_| {
            err(format!(
                "environment variable {name} is not set for hallpassd"
            ))
        }),
        SecretRef::File(path) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| err(format!("cannot read {path}: {e}"))),
    }
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let start = s.len().saturating_sub(STDERR_KEEP);
    let start = (start..s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// Runs `argv` and returns its exit status and stderr tail.
async fn execute(
    cfg: &ExecConfig,
    argv: &[String],
    spec: &GrantSpec,
) -> Result<(std::process::ExitStatus, String), ConnectorError> {
    let command = argv.first().cloned().unwrap_or_default();
    let mut cmd = Command::new(&command);
    cmd.args(&argv[1..])
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        )
        .env("HALLPASS_ACTION", spec.action.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (var, r) in &cfg.secret_env {
        cmd.env(var, resolve(var, r)?);
    }
    let mut child = cmd.spawn().map_err(|source| ConnectorError::Spawn {
        command: command.clone(),
        source,
    })?;
    let doc = serde_json::to_vec(spec).expect("invariant: grant specs serialize");
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin is fine: ignore a broken pipe.
        let _ = stdin.write_all(&doc).await;
        drop(stdin);
    }
    match tokio::time::timeout(cfg.timeout, child.wait_with_output()).await {
        Err(_) => Err(ConnectorError::Timeout {
            command,
            secs: cfg.timeout.as_secs(),
        }),
        Ok(Err(source)) => Err(ConnectorError::Spawn { command, source }),
        Ok(Ok(out)) => Ok((out.status, tail(&out.stderr))),
    }
}

/// Runs a grant or revoke command: exit 0 is success.
pub async fn run(
    cfg: &ExecConfig,
    argv: &[String],
    spec: &GrantSpec,
) -> Result<(), ConnectorError> {
    let (status, stderr) = execute(cfg, argv, spec).await?;
    if status.success() {
        Ok(())
    } else {
        Err(ConnectorError::Failed {
            command: argv.first().cloned().unwrap_or_default(),
            status: status.to_string(),
            stderr,
        })
    }
}

/// Runs the verify command: exit 0 means the access is present, 1 absent, anything else fails.
pub async fn probe(
    cfg: &ExecConfig,
    argv: &[String],
    spec: &GrantSpec,
) -> Result<Presence, ConnectorError> {
    let (status, stderr) = execute(cfg, argv, spec).await?;
    match status.code() {
        Some(0) => Ok(Presence::Present),
        Some(1) => Ok(Presence::Absent),
        _ => Err(ConnectorError::Failed {
            command: argv.first().cloned().unwrap_or_default(),
            status: status.to_string(),
            stderr,
        }),
    }
}
