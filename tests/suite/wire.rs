//! The wire format as `crates/hallpass-proto/WIRE.md` documents it, spoken to the real daemon
//! by a client written from that page alone (`tests/python/wire_client.py`, Python's standard
//! library only): its answers are what `hallpass --json` reports, a wrong protocol version is
//! refused with `version_mismatch`, an OS user without an account with `unauthenticated`, and
//! every kind of malformed frame closes its connection without an answer.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::binaries::{Daemon, recording_scripts, sandbox_db_read};

/// How long a raw connection waits for the daemon to answer or close.
const READ_DEADLINE: Duration = Duration::from_secs(20);

fn wire_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/wire_client.py")
}

/// Runs `/usr/bin/python3 -I tests/python/wire_client.py SOCKET ARGS`.
fn run_client(d: &Daemon, args: &[&str]) -> Output {
    Command::new("/usr/bin/python3")
        .arg("-I")
        .arg(wire_client())
        .arg(&d.socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/python3")
}

/// The client's stdout: one `{"call", "result"}` object per line.
fn answers(out: &Output) -> Vec<(String, Value)> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("wire_client.py printed a non-JSON line ({e}): {line}"));
            let call = v["call"].as_str().expect("each line names its call");
            (call.to_string(), v["result"].clone())
        })
        .collect()
}

fn must_succeed(out: &Output) {
    assert!(
        out.status.success(),
        "wire_client.py failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The error the client printed on stderr for a refused call.
fn refusal(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    serde_json::from_str(stderr.trim())
        .unwrap_or_else(|e| panic!("wire_client.py printed no refusal ({e}): {stderr}"))
}

fn signed_up() -> Daemon {
    let d = Daemon::start();
    d.signup("admin@example.com", "Ada Admin");
    d
}

fn submit(d: &Daemon, duration: &str) -> u64 {
    d.request("db-read", "sandbox/db/read", duration, "wire test")
}

#[test]
fn a_client_written_from_wire_md_reads_what_the_cli_reports() {
    let d = signed_up();
    d.json(
        None,
        &[
            "users",
            "invite",
            "--email",
            "dev@example.com",
            "--role",
            "grantee",
            "--name",
            "Dev Eloper",
        ],
    );
    let (grant, revoke, _log) = recording_scripts(d.dir.path());
    sandbox_db_read(&d, &grant, &revoke, true);
    let first = submit(&d, "10m");
    let second = submit(&d, "20m");
    let third = submit(&d, "30m");
    d.ok(&["cancel", &format!("HP-{second}")]);

    // Pages of two: three requests take two pages, so the client must follow `next`.
    let out = run_client(&d, &["--page-size", "2"]);
    must_succeed(&out);
    let answers = answers(&out);
    let calls: Vec<&str> = answers.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        calls,
        ["hello", "whoami", "list_requests", "list_requests"],
        "{answers:?}"
    );

    let hello = &answers[0].1;
    let status = d.json(None, &["status"]);
    assert_eq!(hello["protocol"], hallpass_proto::PROTOCOL_VERSION);
    assert_eq!(hello["organisation"], "E2E Corp");
    assert_eq!(hello["daemon_version"], status["daemon_version"]);

    let whoami = &answers[1].1;
    let cli_whoami = d.json(None, &["whoami"]);
    assert_eq!(whoami["user"]["email"], "admin@example.com");
    assert_eq!(
        whoami, &cli_whoami,
        "whoami over the wire is what `hallpass --json whoami` shows"
    );

    let (page1, page2) = (&answers[2].1, &answers[3].1);
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2), "{page1}");
    assert!(page1["next"].is_string(), "a first page names the next");
    assert!(
        page2["next"].is_null(),
        "the last page ends paging: {page2}"
    );
    let items: Vec<Value> = [page1, page2]
        .iter()
        .flat_map(|p| p["items"].as_array().cloned().unwrap_or_default())
        .collect();
    let ids: Vec<u64> = items.iter().filter_map(|r| r["id"].as_u64()).collect();
    assert_eq!(ids, [third, second, first], "newest first, across pages");
    let cli_requests = d.json(None, &["requests"]);
    assert_eq!(
        Value::Array(items),
        cli_requests,
        "the requests over the wire are what `hallpass --json requests` shows"
    );
}

#[test]
fn a_wrong_protocol_version_is_refused_with_version_mismatch() {
    let d = signed_up();
    let out = run_client(&d, &["--protocol", "2"]);
    assert_eq!(out.status.code(), Some(3), "a refusal: {out:?}");
    assert!(out.stdout.is_empty(), "no call answered Ok: {out:?}");
    let daemon_version = d.json(None, &["status"])["daemon_version"].clone();
    assert_eq!(
        refusal(&out),
        json!({
            "call": "hello",
            "error": {
                "kind": "version_mismatch",
                "client": 2,
                "server": hallpass_proto::PROTOCOL_VERSION,
                "daemon": daemon_version,
            }
        })
    );
}

/// The identity is the kernel's peer uid: the same client run as `nobody` (uid 65534, no
/// account) is told so by `whoami` and refused `list_requests` with `unauthenticated`.
#[test]
fn an_os_user_without_an_account_is_refused_with_unauthenticated() {
    let d = signed_up();
    // The script as source (`-c`): the checkout need not be readable by nobody. Like the
    // socket tests, this runs as root (tests/run does) to switch uid.
    let source = std::fs::read_to_string(wire_client()).expect("read wire_client.py");
    let out = Command::new("/usr/bin/python3")
        .arg("-I")
        .arg("-c")
        .arg(source)
        .arg(&d.socket)
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/python3 as nobody");
    assert_eq!(out.status.code(), Some(3), "a refusal: {out:?}");
    let answers = answers(&out);
    assert_eq!(answers.len(), 2, "hello and whoami answered: {answers:?}");
    assert_eq!(
        answers[1].1,
        json!({"uid": 65534, "user": null, "token": null, "signup_open": false})
    );
    let refused = refusal(&out);
    assert_eq!(refused["call"], "list_requests");
    assert_eq!(refused["error"]["kind"], "unauthenticated");
    assert_eq!(refused["error"]["uid"], 65534);
    assert!(
        refused["error"]["why"]
            .as_str()
            .is_some_and(|w| w.contains("admin@example.com")),
        "{refused}"
    );
}

/// Sends one frame (`len` as its length prefix, then `body`) on a new connection; returns the
/// daemon's answer frame, or None when it closed the connection without one.
fn exchange(socket: &Path, len: u32, body: &[u8]) -> Option<Vec<u8>> {
    let mut s = UnixStream::connect(socket).expect("connect to hallpassd");
    s.set_read_timeout(Some(READ_DEADLINE)).expect("timeout");
    s.write_all(&len.to_be_bytes()).expect("write the length");
    // The daemon may close before taking all of an oversized body.
    let _ = s.write_all(body);
    let mut prefix = [0u8; 4];
    match s.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ) =>
        {
            return None;
        }
        Err(e) => panic!("the daemon neither answered nor closed within {READ_DEADLINE:?}: {e}"),
    }
    let mut answer = vec![0u8; u32::from_be_bytes(prefix) as usize];
    s.read_exact(&mut answer).expect("the answer's body");
    Some(answer)
}

fn request(deadline: &str, message: &str) -> String {
    format!(
        r#"{{"Request":{{"context":{{{deadline}"trace_context":{{"trace_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"span_id":0,"sampling_decision":"Unsampled"}}}},"id":1,"message":{message}}}}}"#
    )
}

#[test]
fn malformed_frames_close_the_connection_without_an_answer() {
    let d = signed_up();
    let ok_deadline = r#""deadline":{"secs":30,"nanos":0},"#;
    let whoami = request(ok_deadline, r#"{"Whoami":{}}"#);

    // The control: the same helper gets an answer to a well-formed frame.
    let answer = exchange(&d.socket, whoami.len() as u32, whoami.as_bytes())
        .expect("a well-formed request is answered");
    let answer: Value = serde_json::from_slice(&answer).expect("JSON");
    assert_eq!(answer["request_id"], 1, "{answer}");
    assert_eq!(
        answer["message"]["Ok"]["Whoami"]["Ok"]["uid"], 0,
        "{answer}"
    );

    let far_deadline = r#""deadline":{"secs":40000000,"nanos":0},"#;
    let malformed: Vec<(&str, String)> = vec![
        ("not JSON", "hello?".into()),
        (
            "not a client message",
            r#"{"not":"a tarpc message"}"#.into(),
        ),
        (
            "an unknown method",
            request(ok_deadline, r#"{"NoSuchCall":{}}"#),
        ),
        (
            "a mistyped argument",
            request(ok_deadline, r#"{"GetRequest":{"id":"HP-1"}}"#),
        ),
        (
            "a method as null",
            request(ok_deadline, r#"{"Whoami":null}"#),
        ),
        (
            "no trace_context",
            r#"{"Request":{"context":{},"id":1,"message":{"Whoami":{}}}}"#.into(),
        ),
        (
            "a deadline over a year away",
            request(far_deadline, r#"{"Whoami":{}}"#),
        ),
    ];
    for (what, body) in &malformed {
        assert_eq!(
            exchange(&d.socket, body.len() as u32, body.as_bytes()),
            None,
            "{what} must close the connection unanswered"
        );
    }
    let over = hallpass_proto::MAX_FRAME as u32 + 1;
    assert_eq!(
        exchange(&d.socket, over, &[b' '; 64 * 1024]),
        None,
        "a length over 1 MiB must close the connection unanswered"
    );

    // The daemon serves everyone else as before.
    let out = run_client(&d, &[]);
    must_succeed(&out);
    assert_eq!(answers(&out).len(), 3, "hello, whoami, one page");
}
