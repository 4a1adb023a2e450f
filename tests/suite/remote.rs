//! Remote access end to end: API tokens made with the real CLI, a real hallpassd listening on
//! TCP+TLS (certificates made by openssl, one CA for the server and the clients), and
//! `hallpass login --remote` / `hallpass --remote` in a private config directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hallpass_core::user::Role;
use hallpass_proto::{ApiError, ClientHello, NewToken, PROTOCOL_VERSION, Remote, TokenRef};
use serde_json::Value;

use crate::support::binaries::{Daemon, binary, free_port, wait_until as wait_until_sync};
use crate::support::harness::{TestDaemon, ctx, wait_until};

const WAIT: Duration = Duration::from_secs(20);

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=hallpass test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
            d,
        );
        for (name, cn, ext) in [
            (
                "server",
                "127.0.0.1",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
            ),
            (
                "client",
                "script@example.com",
                "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
            ),
        ] {
            std::fs::write(d.join(format!("{name}.ext")), ext).expect("write ext");
            openssl(
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-subj",
                    &format!("/CN={cn}"),
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                ],
                d,
            );
            openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{name}.ext"),
                    "-out",
                    &format!("{name}.crt"),
                ],
                d,
            );
        }
        Pki { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// A daemon with the remote listener on a free loopback port, and Ada (this OS user) its admin.
fn remote_daemon(pki: &Pki, extra: &str) -> (Daemon, String) {
    let port = free_port();
    let d = Daemon::start_with(
        "",
        &format!(
            "[remote]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{extra}",
            pki.s("server.crt"),
            pki.s("server.key"),
        ),
    );
    d.signup("ada@example.com", "Ada Admin");
    (d, format!("127.0.0.1:{port}"))
}

/// `hallpass` with its own config directory (where `login` stores tokens), and no socket.
struct RemoteCli {
    home: tempfile::TempDir,
    remote: String,
}

impl RemoteCli {
    fn new(remote: &str) -> RemoteCli {
        RemoteCli {
            home: tempfile::tempdir().expect("tempdir"),
            remote: remote.to_string(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(binary("hallpass"))
            .env("XDG_CONFIG_HOME", self.home.path())
            .env("HOME", self.home.path())
            .env_remove("HALLPASS_SOCKET")
            .env_remove("HALLPASS_REMOTE")
            // Nothing may fall back to a local daemon.
            .args(["--socket", "/nonexistent/hallpassd.sock"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run hallpass")
    }

    fn login(&self, token_file: &Path, ca: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "login",
            "--remote",
            &self.remote,
            "--token-file",
            token_file.to_str().expect("utf-8 path"),
            "--ca-file",
            ca.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `hallpass --remote R --json ARGS`, required to succeed.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.remote_cmd(&[&["--json"], args].concat());
        assert!(
            out.status.success(),
            "`hallpass --remote {} {}` failed ({}): {}",
            self.remote,
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    fn remote_cmd(&self, args: &[&str]) -> Output {
        self.run(&[&["--remote", &self.remote], args].concat())
    }

    fn stored_login(&self) -> PathBuf {
        self.home
            .path()
            .join("hallpass/remotes")
            .join(format!("{}.toml", self.remote.replace(':', "_")))
    }
}

fn write_token(dir: &Path, name: &str, token: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{token}\n")).expect("write token file");
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn audit_actions(d: &Daemon) -> Vec<Value> {
    let v = d.json(None, &["audit", "--limit", "1000"]);
    v.as_array().cloned().unwrap_or_default()
}

#[test]
fn a_token_works_over_tls_with_its_owners_identity_until_revoked() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");

    let made = d.json(
        None,
        &["tokens", "create", "--name", "ci", "--expires", "30d"],
    );
    let token = made["token"].as_str().expect("the token").to_string();
    assert!(token.starts_with("hallpass_tok_"), "{token}");
    let id = made["view"]["id"].as_u64().expect("token id");
    let listed = d.ok(&["--json", "tokens", "list"]);
    assert!(listed.contains("\"ci\""), "{listed}");
    assert!(!listed.contains(&token), "tokens list showed the token");

    let cli = RemoteCli::new(&addr);
    let file = write_token(cli.home.path(), "ci.token", &token);
    let out = cli.login(&file, &pki.path("ca.crt"), &[]);
    assert!(out.status.success(), "login: {}", stderr(&out));
    let stored = cli.stored_login();
    let mode = std::fs::metadata(&stored)
        .expect("login stored")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the stored token is owner-only");

    let me = cli.json(&["whoami"]);
    assert_eq!(me["user"]["email"], "ada@example.com", "{me}");
    assert_eq!(me["token"]["id"].as_u64(), Some(id), "{me}");
    assert!(me["uid"].is_null(), "no OS user over TCP: {me}");
    // An admin's token acts as an admin: list users, invite someone.
    let users = cli.json(&["users", "list"]);
    assert!(users.to_string().contains("ada@example.com"), "{users}");
    cli.json(&[
        "users",
        "invite",
        "--email",
        "bob@example.com",
        "--name",
        "Bob",
        "--role",
        "grantee",
    ]);

    // Attributed to the owner, and the connection itself is audited.
    let audit = audit_actions(&d);
    let by_ada = |action: &str| {
        audit
            .iter()
            .any(|e| e["action"] == action && e["actor"].to_string().contains("ada@example.com"))
    };
    assert!(by_ada("auth.token"), "no auth.token entry: {audit:?}");
    assert!(by_ada("user.invite"), "the invite is not Ada's: {audit:?}");
    let tokens_seen = d.json(None, &["tokens", "list"]);
    assert!(
        tokens_seen[0]["last_used_from"]
            .as_str()
            .is_some_and(|f| f.starts_with("127.0.0.1:")),
        "{tokens_seen}"
    );

    // Revoked by name on the socket: the remote side is refused from its next command.
    d.ok(&["tokens", "revoke", "ci"]);
    let out = cli.remote_cmd(&["whoami"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("revoked"), "{}", stderr(&out));

    let all = format!("{audit:?}{}", d.log());
    assert!(
        !all.contains(&token),
        "the token reached the audit log or the daemon log"
    );
}

#[test]
fn wrong_expired_and_scoped_tokens_are_refused_and_failures_are_rate_limited() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "failed_auth_per_minute = 3\n");
    let ca = pki.path("ca.crt");

    // A grantee-scoped token of an admin acts as a grantee, and cannot mint an admin token.
    let scoped = d.json(
        None,
        &["tokens", "create", "--name", "bot", "--role", "grantee"],
    );
    let cli = RemoteCli::new(&addr);
    let file = write_token(
        cli.home.path(),
        "bot.token",
        scoped["token"].as_str().expect("token"),
    );
    assert!(cli.login(&file, &ca, &[]).status.success());
    assert_eq!(cli.json(&["whoami"])["user"]["role"], "grantee");
    let out = cli.remote_cmd(&["users", "list"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a grantee token listed users: {}",
        stderr(&out)
    );
    let out = cli.remote_cmd(&["tokens", "create", "--name", "up", "--role", "admin"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("above yours"), "{}", stderr(&out));

    // An expiring token works, then is refused as expired.
    let short = d.json(
        None,
        &["tokens", "create", "--name", "short", "--expires", "2s"],
    );
    let other = RemoteCli::new(&addr);
    let short_file = write_token(
        other.home.path(),
        "short.token",
        short["token"].as_str().expect("token"),
    );
    assert!(
        other.login(&short_file, &ca, &[]).status.success(),
        "a fresh token logs in"
    );
    let mut last = String::new();
    wait_until_sync(WAIT, "the short token to expire", || {
        let out = other.remote_cmd(&["whoami"]);
        last = stderr(&out);
        out.status.code() == Some(4)
    });
    assert!(last.contains("expired"), "{last}");

    // Wrong tokens change nothing and are audited; past the budget even a good token waits.
    let fresh = RemoteCli::new(&addr);
    let bad = write_token(fresh.home.path(), "bad.token", "hallpass_tok_1_0000");
    // The expired attempt above counted if it was refused at `authenticate` (it may instead have
    // authenticated just before the deadline and been refused on its next call, uncounted).
    let counted = audit_actions(&d)
        .iter()
        .filter(|e| e["action"] == "auth.token_refuse")
        .count();
    for _ in counted..3 {
        let out = fresh.login(&bad, &ca, &[]);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(stderr(&out).contains("not valid"), "{}", stderr(&out));
    }
    assert!(
        !fresh.stored_login().exists(),
        "a refused login stored something"
    );
    let good = d.json(None, &["tokens", "create", "--name", "good"]);
    let good_file = write_token(
        fresh.home.path(),
        "good.token",
        good["token"].as_str().expect("token"),
    );
    let out = fresh.login(&good_file, &ca, &[]);
    assert_eq!(out.status.code(), Some(7), "rate limited: {}", stderr(&out));
    assert!(
        stderr(&out).contains("too many failed attempts"),
        "{}",
        stderr(&out)
    );
    let refusals = audit_actions(&d)
        .iter()
        .filter(|e| e["action"] == "auth.token_refuse")
        .count();
    assert_eq!(
        refusals, 3,
        "each refused attempt under the budget is audited"
    );
}

#[test]
fn an_invite_accepted_over_tcp_gives_the_account_a_token() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");
    let invite = d.invite("cy@example.com", "Cy Remote", "auditor");
    let code = invite["code"].as_str().expect("invite code");
    let cli = RemoteCli::new(&addr);
    let out = cli.run(&[
        "login",
        "--remote",
        &addr,
        "--invite",
        code,
        "--token-name",
        "laptop",
        "--ca-file",
        &pki.s("ca.crt"),
    ]);
    assert!(out.status.success(), "login --invite: {}", stderr(&out));
    let me = cli.json(&["whoami"]);
    assert_eq!(me["user"]["email"], "cy@example.com");
    assert_eq!(me["user"]["role"], "auditor");
    assert_eq!(me["user"]["status"], "active");
    assert_eq!(me["token"]["name"], "laptop");
    // The same code cannot be used twice.
    let again = RemoteCli::new(&addr);
    let out = again.run(&[
        "login",
        "--remote",
        &addr,
        "--invite",
        code,
        "--ca-file",
        &pki.s("ca.crt"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let refused = audit_actions(&d)
        .into_iter()
        .filter(|e| e["action"] == "auth.invite_refuse")
        .collect::<Vec<_>>();
    assert_eq!(
        refused.len(),
        1,
        "the used code's attempt is audited: {refused:?}"
    );
    assert_eq!(refused[0]["actor"]["kind"], "remote", "{refused:?}");
}

#[test]
fn a_daemon_with_a_client_ca_requires_a_client_certificate_as_well() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, &format!("client_ca = \"{}\"\n", pki.s("ca.crt")));
    let made = d.json(None, &["tokens", "create", "--name", "ci"]);
    let cli = RemoteCli::new(&addr);
    let file = write_token(
        cli.home.path(),
        "ci.token",
        made["token"].as_str().expect("token"),
    );
    let out = cli.login(&file, &pki.path("ca.crt"), &[]);
    assert!(
        !out.status.success(),
        "no client certificate, yet logged in"
    );
    assert!(!cli.stored_login().exists());
    let out = cli.login(
        &file,
        &pki.path("ca.crt"),
        &[
            "--client-cert",
            &pki.s("client.crt"),
            "--client-key",
            &pki.s("client.key"),
        ],
    );
    assert!(
        out.status.success(),
        "with a client certificate: {}",
        stderr(&out)
    );
    assert_eq!(cli.json(&["whoami"])["user"]["email"], "ada@example.com");
}

#[tokio::test]
async fn a_tcp_connection_without_a_token_gets_nothing_and_is_closed() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "auth_timeout = \"1s\"\n");
    let ca = pki.path("ca.crt");
    let client = hallpass_proto::open_tls(&addr, Some(&ca), None)
        .await
        .expect("TLS connection");
    let hello = client
        .hello(
            ctx(),
            ClientHello {
                protocol: PROTOCOL_VERSION,
                client: "probe".into(),
            },
        )
        .await
        .expect("an answer");
    assert!(
        matches!(hello, Err(ApiError::TokenRefused { .. })),
        "{hello:?}"
    );
    let who = client.whoami(ctx()).await.expect("an answer");
    assert!(matches!(who, Err(ApiError::TokenRefused { .. })), "{who:?}");
    let users = client
        .list_users(ctx(), Default::default())
        .await
        .expect("an answer");
    assert!(
        matches!(users, Err(ApiError::TokenRefused { .. })),
        "{users:?}"
    );
    // Not authenticated within auth_timeout: the daemon hangs up.
    wait_until("the daemon to close the unauthenticated connection", || {
        let c = client.clone();
        async move { c.whoami(ctx()).await.is_err() }
    })
    .await;
    // A token sent as a unix-socket `hello` would be nothing: prove a real one still works.
    let made = d.json(None, &["tokens", "create", "--name", "probe"]);
    let remote = Remote {
        addr: addr.clone(),
        token: made["token"].as_str().expect("token").into(),
        ca_file: Some(ca),
        client_cert: None,
    };
    let (c, auth) = hallpass_proto::connect_tcp(&remote, "probe")
        .await
        .expect("authenticated");
    assert_eq!(auth.token.name, "probe");
    let who = c.whoami(ctx()).await.expect("answer").expect("whoami");
    assert_eq!(who.user.expect("the owner").email, "ada@example.com");
}

/// `create_token` as `c`: the daemon's answer.
async fn make_token(
    c: &hallpass_proto::HallpassClient,
    name: &str,
    role: Option<Role>,
    expires_in_secs: Option<u64>,
) -> Result<hallpass_proto::TokenCreated, ApiError> {
    let args = NewToken {
        name: name.into(),
        role,
        expires_in_secs,
    };
    c.create_token(ctx(), args).await.expect("an answer")
}

#[tokio::test]
async fn a_token_is_never_above_its_makers_role() {
    let d = TestDaemon::start().await;
    d.add_user(3001, "gina@example.com", Role::Grantee).await;
    let gina = d.client(3001);
    for above in [Role::Admin, Role::Auditor] {
        let refused = make_token(&gina, "up", Some(above), None).await;
        assert!(
            matches!(refused, Err(ApiError::Forbidden { .. })),
            "{above}: {refused:?}"
        );
    }
    let own = make_token(&gina, "mine", None, Some(60))
        .await
        .expect("a grantee may make a grantee token");
    assert_eq!(own.view.role, Role::Grantee);
    // Names are unique among one's live tokens; bad names and lifetimes are refused.
    for (name, secs) in [("mine", Some(60)), ("has space", Some(60)), ("ok", Some(0))] {
        let r = make_token(&gina, name, None, secs).await;
        assert!(r.is_err(), "{name} {secs:?} was accepted");
    }
    // Revoking twice is a clear state error; others' tokens are not even confirmed to exist.
    gina.revoke_token(ctx(), TokenRef::Name("mine".into()))
        .await
        .expect("answer")
        .expect("revoke by name");
    let twice = gina
        .revoke_token(ctx(), TokenRef::Id(own.view.id))
        .await
        .expect("answer");
    assert!(
        matches!(twice, Err(ApiError::InvalidTransition { .. })),
        "{twice:?}"
    );
    let admins = make_token(&d.admin(), "adm", None, None)
        .await
        .expect("admin token");
    let theirs = gina
        .revoke_token(ctx(), TokenRef::Id(admins.view.id))
        .await
        .expect("answer");
    assert!(
        matches!(theirs, Err(ApiError::NotFound { .. })),
        "{theirs:?}"
    );
    let listed = gina
        .list_tokens(ctx(), false)
        .await
        .expect("answer")
        .expect("list");
    assert_eq!(listed.len(), 1, "only her own: {listed:?}");
}

#[test]
fn the_example_scripts_speak_tcp_tls_with_a_token_too() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");
    let invite = d.invite("dev@example.com", "Dev", "grantee");
    let made = d.json(None, &["tokens", "create", "--name", "scripts"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_token(
        dir.path(),
        "scripts.token",
        made["token"].as_str().expect("token"),
    );
    let out = Command::new(crate::support::binaries::example("follow_events"))
        .env_remove("HALLPASS_SOCKET")
        .args(["--remote", &addr, "--token-file"])
        .arg(&file)
        .arg("--ca-file")
        .arg(pki.path("ca.crt"))
        .args(["--from", "0", "--limit", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("run follow_events");
    assert!(
        out.status.success(),
        "follow_events --remote: {}",
        stderr(&out)
    );
    let first: Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().expect("a line"))
            .expect("a JSON event");
    let cli = d.ok(&["--json", "events", "--since", "0"]);
    let cli_first: Value =
        serde_json::from_str(cli.lines().next().expect("an event")).expect("JSON");
    assert_eq!(
        first, cli_first,
        "the same first event over TCP as on the socket"
    );
    assert!(cli.contains(&invite["user"]["id"].to_string()), "{cli}");
}

/// `python3 -I tests/python/wire_client.py --remote …`: the documented TCP handshake, from
/// Python's standard library (socket, ssl, struct, json).
fn python_over_tls(addr: &str, token_file: &Path, ca: &Path) -> Output {
    Command::new("/usr/bin/python3")
        .arg("-I")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/wire_client.py"))
        .args(["--remote", addr, "--token-file"])
        .arg(token_file)
        .arg("--ca-file")
        .arg(ca)
        .stdin(Stdio::null())
        .output()
        .expect("run python3")
}

#[test]
fn a_python_script_speaks_the_documented_tcp_handshake() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");
    let made = d.json(None, &["tokens", "create", "--name", "py"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_token(
        dir.path(),
        "py.token",
        made["token"].as_str().expect("token"),
    );
    let out = python_over_tls(&addr, &file, &pki.path("ca.crt"));
    assert!(out.status.success(), "python over TLS: {}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["call"], "hello");
    assert_eq!(lines[0]["result"]["organisation"], "E2E Corp");
    assert_eq!(lines[1]["call"], "whoami");
    assert_eq!(lines[1]["result"]["user"]["email"], "ada@example.com");
    assert_eq!(lines[1]["result"]["token"]["name"], "py");
    assert!(lines[1]["result"]["uid"].is_null());

    let bad = write_token(dir.path(), "bad.token", "hallpass_tok_99_00");
    let out = python_over_tls(&addr, &bad, &pki.path("ca.crt"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let refusal: Value = serde_json::from_str(stderr(&out).trim()).expect("the refusal as JSON");
    assert_eq!(refusal["call"], "authenticate");
    assert_eq!(refusal["error"]["kind"], "token_refused");
}

fn remote_for(addr: &str, token: &Value, pki: &Pki) -> Remote {
    Remote {
        addr: addr.to_string(),
        token: token["token"].as_str().expect("token").into(),
        ca_file: Some(pki.path("ca.crt")),
        client_cert: None,
    }
}

#[tokio::test]
async fn an_open_connection_loses_its_token_at_once_even_in_a_long_poll() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");
    let made = d.json(None, &["tokens", "create", "--name", "live"]);
    let (c, _) = hallpass_proto::connect_tcp(&remote_for(&addr, &made, &pki), "test")
        .await
        .expect("authenticated");
    let head = c
        .events_since(ctx(), hallpass_proto::FROM_NOW, 10, 0)
        .await
        .expect("answer")
        .expect("the head")
        .cursor;
    // A long poll in flight when the token is revoked sees nothing that happens after.
    let poller = c.clone();
    let poll = tokio::spawn(async move {
        poller
            .events_since(crate::support::harness::ctx(), head, 10, 30_000)
            .await
    });
    let id = made["view"]["id"].as_u64().expect("id").to_string();
    d.ok(&["tokens", "revoke", &format!("T-{id}")]);
    d.invite("late@example.com", "Late", "grantee");
    let polled = tokio::time::timeout(WAIT, poll)
        .await
        .expect("the poll returns")
        .expect("the poll task")
        .expect("an answer");
    assert!(
        matches!(polled, Err(ApiError::TokenRefused { .. })),
        "the revoked token still got events: {polled:?}"
    );
    let who = c.whoami(ctx()).await.expect("answer");
    assert!(matches!(who, Err(ApiError::TokenRefused { .. })), "{who:?}");
}

#[test]
fn a_token_follows_its_owners_role_and_a_scoped_admin_token_cannot_approve() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");
    let dir = tempfile::tempdir().expect("tempdir");
    let (grant, revoke, _) = crate::support::binaries::recording_scripts(dir.path());
    crate::support::binaries::sandbox_db_read(&d, &grant, &revoke, true);
    let hp = format!(
        "HP-{}",
        d.request("db-read", "sandbox/db/read", "10m", "remote test")
    );

    // Ada's grantee-scoped token may not approve as an admin; her admin token may.
    let scoped = d.json(
        None,
        &["tokens", "create", "--name", "bot", "--role", "grantee"],
    );
    let bot = RemoteCli::new(&addr);
    let file = write_token(
        bot.home.path(),
        "bot.token",
        scoped["token"].as_str().expect("token"),
    );
    assert!(bot.login(&file, &pki.path("ca.crt"), &[]).status.success());
    let out = bot.remote_cmd(&["approve", &hp]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a grantee token approved: {}",
        stderr(&out)
    );
    assert_eq!(
        d.json(None, &["requests", "show", &hp])["status"],
        "pending"
    );
    let full = d.json(None, &["tokens", "create", "--name", "approver"]);
    let approver = RemoteCli::new(&addr);
    let file = write_token(
        approver.home.path(),
        "a.token",
        full["token"].as_str().expect("token"),
    );
    assert!(
        approver
            .login(&file, &pki.path("ca.crt"), &[])
            .status
            .success()
    );
    approver.json(&["approve", &hp]);
    let audit = audit_actions(&d);
    let approval = audit
        .iter()
        .find(|e| e["action"] == "request.self_approve")
        .expect("the (self-)approval is audited");
    assert_eq!(
        approval["actor"]["via"], full["view"]["id"],
        "the audit names the token: {approval}"
    );
    // Ada still is an admin: nothing a scoped token did changed her account.
    assert_eq!(d.json(None, &["whoami"])["user"]["role"], "admin");

    // Bob, an admin who joined over TCP, is demoted: his token now acts as a grantee.
    let invite = d.invite("bob@example.com", "Bob", "admin");
    let bob = RemoteCli::new(&addr);
    let out = bob.run(&[
        "login",
        "--remote",
        &addr,
        "--invite",
        invite["code"].as_str().expect("code"),
        "--ca-file",
        &pki.s("ca.crt"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    bob.json(&["users", "list"]);
    d.ok(&["users", "set-role", "bob@example.com", "grantee"]);
    let out = bob.remote_cmd(&["users", "list"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a demoted admin's token: {}",
        stderr(&out)
    );
    assert_eq!(bob.json(&["whoami"])["user"]["role"], "grantee");
}

#[tokio::test]
async fn tokens_made_through_a_token_die_with_it() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");
    let parent = d.json(
        None,
        &["tokens", "create", "--name", "parent", "--expires", "1h"],
    );
    let (c, _) = hallpass_proto::connect_tcp(&remote_for(&addr, &parent, &pki), "test")
        .await
        .expect("authenticated");
    let child = c
        .create_token(
            ctx(),
            NewToken {
                name: "child".into(),
                role: None,
                expires_in_secs: None,
            },
        )
        .await
        .expect("answer")
        .expect("a token made through a token");
    assert!(
        child.view.expires_at.is_some()
            && child.view.expires_at <= {
                let v: Option<hallpass_core::Timestamp> =
                    serde_json::from_value(parent["view"]["expires_at"].clone()).expect("expiry");
                v
            },
        "the child outlives its parent: {:?}",
        child.view
    );
    let child_remote = Remote {
        token: child.token.clone(),
        ..remote_for(&addr, &parent, &pki)
    };
    hallpass_proto::connect_tcp(&child_remote, "test")
        .await
        .expect("the child works while its parent does");
    d.ok(&["tokens", "revoke", "parent"]);
    let err = hallpass_proto::connect_tcp(&child_remote, "test")
        .await
        .expect_err("the child must die with its parent");
    assert!(err.to_string().contains("made through token"), "{err}");
}

#[tokio::test]
async fn unauthenticated_connections_are_capped_per_address() {
    let pki = Pki::new();
    let (d, addr) = remote_daemon(&pki, "");
    let ca = pki.path("ca.crt");
    // Eight idle connections from one address fill its share; the ninth is dropped.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(
            hallpass_proto::open_tls(&addr, Some(&ca), None)
                .await
                .expect("TLS connection"),
        );
    }
    // The handshake of a dropped connection fails; wait for the listener to see them all.
    wait_until("a ninth unauthenticated connection to be dropped", || {
        let ca = ca.clone();
        let addr = addr.clone();
        async move {
            hallpass_proto::open_tls(&addr, Some(&ca), None)
                .await
                .is_err()
        }
    })
    .await;
    // Authenticating frees a place.
    let made = d.json(None, &["tokens", "create", "--name", "frees"]);
    drop(idle.pop());
    let remote = remote_for(&addr, &made, &pki);
    wait_until("a place to be freed", || {
        let r = remote.clone();
        async move { hallpass_proto::connect_tcp(&r, "test").await.is_ok() }
    })
    .await;
}
