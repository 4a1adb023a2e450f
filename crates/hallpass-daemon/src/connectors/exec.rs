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
    super::resolve_secret(var, r)
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
        // Its own process group, so a timeout kills what the command started too.
        .process_group(0)
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
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(nix::unistd::Pid::from_raw);
    match tokio::time::timeout(cfg.timeout, child.wait_with_output()).await {
        Err(_) => {
            if let Some(pgid) = pgid {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            }
            Err(ConnectorError::Timeout {
                command,
                secs: cfg.timeout.as_secs(),
            })
        }
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

/// `integrations test` for exec: every command can be found and run, every secret resolves.
/// Runs nothing.
pub fn test(cfg: &ExecConfig) -> Vec<super::Check> {
    use super::Check;
    let mut out = Vec::new();
    let commands = [
        ("grant", Some(&cfg.grant)),
        ("revoke", Some(&cfg.revoke)),
        ("verify", cfg.verify.as_ref()),
    ];
    for (what, argv) in commands {
        let Some(program) = argv.and_then(|a| a.first()) else {
            continue;
        };
        let what = format!("{what} command");
        match find_program(program) {
            Some(path) => out.push(Check::pass(
                what,
                format!("{} is executable", path.display()),
            )),
            None => out.push(Check::fail(
                what,
                format!("`{program}` is not an executable file (absolute, or on hallpassd's PATH)"),
            )),
        }
    }
    for (var, r) in &cfg.secret_env {
        match resolve(var, r) {
            Ok(_) => out.push(Check::pass(
                format!("secret {var}"),
                format!("{r} is readable"),
            )),
            Err(e) => out.push(Check::fail(format!("secret {var}"), e.to_string())),
        }
    }
    out
}

fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = std::path::PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use hallpass_core::grant::Grant;
    use hallpass_core::{GrantId, RequestId, Timestamp, UserId};

    use super::*;
    use crate::connectors::{Action, SpecUser};

    fn spec() -> GrantSpec {
        let g = Grant::new(
            GrantId(7),
            RequestId(1001),
            UserId(2),
            "pg/orders/read".parse().expect("target"),
            Duration::from_secs(60),
            Timestamp(0),
        );
        GrantSpec::new(
            Action::Grant,
            &g,
            SpecUser {
                id: UserId(2),
                email: "g@example.com".into(),
                os_user: Some("grace".into()),
                ssh_keys: vec![],
            },
            Some(Timestamp(60_000)),
        )
    }

    fn cfg(secret_env: BTreeMap<String, SecretRef>, timeout: Duration) -> ExecConfig {
        ExecConfig {
            grant: vec![],
            revoke: vec![],
            verify: None,
            timeout,
            secret_env,
        }
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn the_command_reads_the_grant_as_json_and_exit_zero_is_success() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("doc.json");
        let argv = sh(&format!("cat > '{}'", out.display()));
        run(
            &cfg(BTreeMap::new(), Duration::from_secs(10)),
            &argv,
            &spec(),
        )
        .await
        .expect("runs");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).expect("doc")).expect("json");
        assert_eq!(doc["action"], "grant");
        assert_eq!(doc["grant_id"], 7);
        assert_eq!(doc["user"]["os_user"], "grace");
        assert_eq!(doc["resource"], "orders");
        assert_eq!(doc["expires_at"], "1970-01-01T00:01:00Z");
    }

    #[tokio::test]
    async fn a_failure_keeps_the_tail_of_stderr_and_the_status() {
        let argv = sh("echo 'no such role' >&2; exit 4");
        let err = run(
            &cfg(BTreeMap::new(), Duration::from_secs(10)),
            &argv,
            &spec(),
        )
        .await
        .expect_err("fails");
        let text = err.to_string();
        assert!(
            text.contains("no such role") && text.contains('4'),
            "{text}"
        );
        let long = sh("head -c 10000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 1");
        let err = run(
            &cfg(BTreeMap::new(), Duration::from_secs(10)),
            &long,
            &spec(),
        )
        .await
        .expect_err("fails");
        let ConnectorError::Failed { stderr, .. } = err else {
            panic!("expected Failed")
        };
        assert!(
            stderr.len() <= STDERR_KEEP && stderr.trim_end().ends_with("END"),
            "{} bytes",
            stderr.len()
        );
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("child.pid");
        // The command starts a long-lived child and waits for it; the 1 s timeout must kill both.
        let argv = sh(&format!(
            "sleep 300 & echo $! > '{}'; wait",
            pidfile.display()
        ));
        let err = run(
            &cfg(BTreeMap::new(), Duration::from_secs(1)),
            &argv,
            &spec(),
        )
        .await
        .expect_err("times out");
        assert!(
            matches!(err, ConnectorError::Timeout { secs: 1, .. }),
            "{err}"
        );
        let pid = std::fs::read_to_string(&pidfile)
            .expect("the child wrote its pid")
            .trim()
            .to_string();
        let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // A killed orphan may linger as a zombie until init reaps it.
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !gone() {
            assert!(
                std::time::Instant::now() < deadline,
                "the command's child {pid} outlived the timeout"
            );
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn secrets_reach_the_command_only_through_their_variables_and_never_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret_file = dir.path().join("pw");
        std::fs::write(&secret_file, "hunter2\n").expect("secret");
        let seen = dir.path().join("seen");
        let secrets = BTreeMap::from([(
            "DB_PASSWORD".to_string(),
            SecretRef::File(secret_file.display().to_string()),
        )]);
        let argv = sh(&format!(
            "printf '%s|%s' \"$DB_PASSWORD\" \"${{HOME:-unset}}\" > '{}'",
            seen.display()
        ));
        run(&cfg(secrets, Duration::from_secs(10)), &argv, &spec())
            .await
            .expect("runs");
        // The secret arrives without its trailing newline; the daemon's own environment does not leak in.
        assert_eq!(
            std::fs::read_to_string(&seen).expect("seen"),
            "hunter2|unset"
        );

        let missing = BTreeMap::from([(
            "TOKEN".to_string(),
            SecretRef::File("/nonexistent/token".into()),
        )]);
        let err = run(&cfg(missing, Duration::from_secs(10)), &sh("true"), &spec())
            .await
            .expect_err("no secret");
        assert!(
            err.to_string().contains("TOKEN") && err.to_string().contains("/nonexistent/token"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn verify_reads_presence_from_the_exit_code() {
        let c = cfg(BTreeMap::new(), Duration::from_secs(10));
        assert_eq!(
            probe(&c, &sh("exit 0"), &spec()).await.expect("present"),
            Presence::Present
        );
        assert_eq!(
            probe(&c, &sh("exit 1"), &spec()).await.expect("absent"),
            Presence::Absent
        );
        assert!(
            probe(&c, &sh("exit 2"), &spec()).await.is_err(),
            "other codes are failures"
        );
    }
}
