//! hallpass-proto's example programs (`crates/hallpass-proto/examples`), built binaries run
//! against a real daemon with real state: `pending_approvals` lists what waits for the caller,
//! `auto_approver` approves only what its rules allow (once, and following events), and
//! `follow_events` prints the events of actions as they happen, as `hallpass events` does.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::binaries::{
    Daemon, example, recording_scripts, sandbox_integration, wait_until,
};

const WAIT: Duration = Duration::from_secs(20);

/// A daemon with admin `admin@example.com` (the current OS user), integration `sandbox`, and
/// flows `db-read` and `db-write` that admins approve, self-approval allowed (the tests have
/// one OS user). Groups: `oncall` (the admin) and `empty`.
fn daemon() -> Daemon {
    let d = Daemon::start();
    d.signup("admin@example.com", "Ada Admin");
    let (grant, revoke, _log) = recording_scripts(d.dir.path());
    sandbox_integration(&d, &grant, &revoke, "db:read,write");
    for (flow, target) in [
        ("db-read", "sandbox/db/read"),
        ("db-write", "sandbox/db/write"),
    ] {
        d.ok(&[
            "flows",
            "create",
            flow,
            "--everyone",
            "--target",
            target,
            "--approval",
            "any-of",
            "--approver",
            "admins",
            "--max",
            "4h",
            "--default",
            "10m",
            "--allow-self-approval",
        ]);
    }
    d.ok(&["groups", "create", "oncall"]);
    d.ok(&["groups", "add", "oncall", "admin@example.com"]);
    d.ok(&["groups", "create", "empty"]);
    d
}

fn submit(d: &Daemon, flow: &str, duration: &str) -> u64 {
    let target = format!("sandbox/db/{}", flow.trim_start_matches("db-"));
    d.request(flow, &target, duration, "examples test")
}

fn status(d: &Daemon, id: u64) -> String {
    d.json(None, &["requests", "show", &id.to_string()])["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Runs example `name` with `--socket` and `args`; requires success.
fn run_ok(d: &Daemon, name: &str, args: &[&str]) -> String {
    let out = Command::new(example(name))
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the example");
    must_succeed(name, args, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn must_succeed(name: &str, args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "example {name} {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// An example running in the background, killed on drop; its stderr lines arrive on `stderr`.
struct Running {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    fn start(name: &str, socket: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(example(name))
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let (tx, stderr) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, stderr }
    }

    /// Waits (up to [`WAIT`]) for a stderr line starting with `prefix`; returns it.
    fn stderr_line(&self, prefix: &str) -> String {
        loop {
            match self.stderr.recv_timeout(WAIT) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(e) => panic!("no stderr line starting with {prefix:?} ({e})"),
            }
        }
    }

    /// Waits (up to [`WAIT`]) for the process to exit successfully; returns its stdout.
    fn finish(mut self, what: &str) -> String {
        let mut status = None;
        wait_until(WAIT, what, || {
            status = self.child.try_wait().expect("poll the example");
            status.is_some()
        });
        let status = status.expect("exited");
        let mut stdout = String::new();
        std::io::Read::read_to_string(
            self.child.stdout.as_mut().expect("stdout is piped"),
            &mut stdout,
        )
        .expect("read stdout");
        assert!(status.success(), "{what}: exited with {status}\n{stdout}");
        stdout
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pending_approvals_lists_the_requests_waiting_for_me() {
    let d = daemon();
    let read = submit(&d, "db-read", "30m");
    let write = submit(&d, "db-write", "2h");
    let cancelled = submit(&d, "db-read", "10m");
    d.ok(&["cancel", &format!("HP-{cancelled}")]);

    let text = run_ok(&d, "pending_approvals", &[]);
    let mut ids: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    let mut expected = [format!("HP-{read}"), format!("HP-{write}")];
    expected.sort_unstable();
    assert_eq!(ids, expected, "pending ones only, one per line:\n{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("HP-{read}\t")))
        .expect("the db-read line");
    assert_eq!(
        line,
        format!("HP-{read}\tadmin@example.com\tdb-read\tsandbox/db/read\t30m\texamples test")
    );

    // --json: the very requests `hallpass --json requests --to-approve` shows. The socket
    // comes from HALLPASS_SOCKET this time.
    let out = Command::new(example("pending_approvals"))
        .arg("--json")
        .env(hallpass_proto::paths::SOCKET_ENV, &d.socket)
        .stdin(Stdio::null())
        .output()
        .expect("run pending_approvals");
    must_succeed("pending_approvals", &["--json"], &out);
    let json = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        Value::Array(json),
        d.json(None, &["requests", "--to-approve"]),
        "one JSON request per line, as the daemon sent it"
    );
}

#[test]
fn auto_approver_once_approves_only_what_the_rules_allow() {
    let d = daemon();
    let fits = submit(&d, "db-read", "30m");
    let too_long = submit(&d, "db-read", "2h");
    let other_flow = submit(&d, "db-write", "10m");
    let rules = ["--flow", "db-read", "--max-duration", "1h", "--once"];

    // Nobody in `empty` asked: nothing is approved, and both db-read requests say why.
    let mut args = rules.to_vec();
    args.extend(["--requester-group", "empty"]);
    let log = run_ok(&d, "auto_approver", &args);
    assert!(
        log.contains(&format!(
            "skipped HP-{fits}: admin@example.com is not in group empty"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "skipped HP-{too_long}: 2h is longer than --max-duration 1h"
        )),
        "{log}"
    );
    assert!(!log.contains("approved"), "{log}");
    for id in [fits, too_long, other_flow] {
        assert_eq!(status(&d, id), "pending", "HP-{id}");
    }

    let mut args = rules.to_vec();
    args.extend(["--requester-group", "oncall"]);
    let log = run_ok(&d, "auto_approver", &args);
    assert!(
        log.contains(&format!("approved HP-{fits} by admin@example.com for 30m")),
        "{log}"
    );
    assert!(log.contains(&format!("skipped HP-{too_long}")), "{log}");
    assert!(!log.contains(&format!("HP-{other_flow}")), "{log}");
    let approved = d.json(None, &["requests", "show", &fits.to_string()]);
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(
        approved["approvals"][0]["reason"],
        "auto-approved: flow db-read, at most 1h, requester in oncall"
    );
    assert_eq!(status(&d, too_long), "pending");
    assert_eq!(status(&d, other_flow), "pending");

    // A group it cannot read is a clear error, not a silent pass.
    let out = Command::new(example("auto_approver"))
        .args(["--socket"])
        .arg(&d.socket)
        .args([
            "--flow",
            "db-read",
            "--requester-group",
            "no-such",
            "--once",
        ])
        .output()
        .expect("run auto_approver");
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read group no-such") && stderr.contains("not found"),
        "{stderr}"
    );
}

#[test]
fn auto_approver_follows_events_and_approves_new_requests() {
    let d = daemon();
    let approver = Running::start(
        "auto_approver",
        &d.socket,
        &["--flow", "db-read", "--max-duration", "1h"],
    );
    approver.stderr_line("auto-approving as admin@example.com");
    let fits = submit(&d, "db-read", "20m");
    let too_long = submit(&d, "db-read", "3h");
    wait_until(WAIT, "the auto-approver to approve the new request", || {
        status(&d, fits) == "approved"
    });
    assert_eq!(status(&d, too_long), "pending");
}

#[test]
fn follow_events_prints_the_events_of_what_i_do() {
    let d = daemon();
    let follower = Running::start("follow_events", &d.socket, &["--limit", "3"]);
    let started = follower.stderr_line("following events after cursor ");
    let head: u64 = started
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("the cursor it follows from");

    let invite = d.invite("dev@example.com", "Dev Eloper", "grantee");
    let request = submit(&d, "db-read", "10m");
    d.ok(&["cancel", &format!("HP-{request}")]);

    let events = json_lines(&follower.finish("follow_events to print 3 events and exit"));
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        ["user_invited", "request_submitted", "request_cancelled"],
        "{events:?}"
    );
    assert_eq!(events[0]["user"], invite["user"]["id"]);
    assert_eq!(events[1]["request"], request);
    assert_eq!(events[2]["request"], request);
    assert!(events.iter().all(|e| e["seq"].as_u64() > Some(head)));
    let cli = json_lines(&d.ok(&["--json", "events", "--since", &head.to_string()]));
    assert_eq!(
        events, cli,
        "the same events `hallpass events --json` prints"
    );

    // --from 0: history from the first event.
    let first_two = json_lines(&run_ok(
        &d,
        "follow_events",
        &["--from", "0", "--limit", "2"],
    ));
    let all = json_lines(&d.ok(&["--json", "events"]));
    assert_eq!(first_two, all[..2], "the first two events");
}
