//! `hallpass watch` end to end: the real `hallpassd` and `hallpass watch` binaries, a private
//! `dbus-daemon` session bus per watcher and a recording notification server on it. A new
//! request reaches the approver with Approve / Deny buttons; pressing Approve approves it in the
//! daemon as the approver; the requester hears approval, activation, both "expiring soon"
//! warnings and expiry; a burst becomes one summary; a daemon killed with SIGKILL and restarted
//! loses and repeats nothing; a missing notification service is reported once and caught up.
//! As root the requester is a second OS user with their own bus and watcher; otherwise the admin
//! requests through a flow that allows self-approval and one watcher hears both sides.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::binaries::{
    Daemon, binary, os_user, recording_scripts, sandbox_db_read, sandbox_integration, wait_until,
};
use crate::support::notify_bus::{Bus, NotifyServer};

const WAIT: Duration = Duration::from_secs(20);
const DEV_EMAIL: &str = "dev@example.com";
const ADMIN_EMAIL: &str = "admin@example.com";

/// A running `hallpass watch`, killed on drop.
struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    /// Starts `hallpass watch` on `bus` (as OS user `uid` when given) with `config` as its
    /// settings, and waits until it follows the daemon's events.
    fn start(d: &Daemon, bus: &Bus, uid: Option<(u32, u32)>, config: &str) -> Watch {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        let cfg = bus.dir.path().join("watch.toml");
        std::fs::write(&cfg, config).expect("write watch.toml");
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644))
            .expect("chmod watch.toml");
        let log = bus.dir.path().join("watch.log");
        let err = std::fs::File::create(&log).expect("watch log");
        let mut cmd = Command::new(binary("hallpass"));
        cmd.arg("--socket")
            .arg(&d.socket)
            .arg("watch")
            .arg("--config")
            .arg(&cfg)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        if let Some((uid, gid)) = uid {
            cmd.uid(uid).gid(gid);
        }
        let w = Watch {
            child: cmd.spawn().expect("start hallpass watch"),
            log,
        };
        w.wait_log("following events", 1);
        w
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `line` appears at least `n` times in the watcher's log.
    fn wait_log(&self, line: &str, n: usize) {
        wait_until(WAIT, &format!("watch to log {line:?}"), || {
            self.log().matches(line).count() >= n
        });
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Settings for the tests: quick bursts, the test daemon's warning offsets, a reason prompt
/// that answers at once.
fn watch_config(burst_window: &str) -> String {
    format!(
        "expiring = [\"4s\", \"2s\"]\nburst_window = \"{burst_window}\"\n\
         reason_command = [\"/bin/sh\", \"-c\", \"echo reason from the prompt\"]\n"
    )
}

fn signup(d: &Daemon) {
    d.signup(ADMIN_EMAIL, "Ada Admin");
}

/// Invites dev and accepts as OS user `uid`.
fn add_dev(d: &Daemon, uid: (u32, u32)) {
    let invite = d.json(
        None,
        &[
            "users", "invite", "--email", DEV_EMAIL, "--role", "grantee", "--name", "Dev",
        ],
    );
    let code = invite["code"].as_str().expect("invite code").to_string();
    d.ok_as(Some(uid), &["accept", &code]);
}

fn request(d: &Daemon, uid: Option<(u32, u32)>, duration: &str, reason: &str) -> String {
    let r = d.json(
        uid,
        &[
            "request",
            "--flow",
            "db-read",
            "--resource",
            "sandbox/db/read",
            "--duration",
            duration,
            "--reason",
            reason,
        ],
    );
    format!("HP-{}", r["id"].as_u64().expect("request id"))
}

fn request_status(d: &Daemon, hp: &str) -> String {
    let r = d.json(None, &["requests", "show", hp]);
    r["status"].as_str().unwrap_or_default().to_string()
}

/// Every event the admin may see, from `hallpass events --json` (one object per line).
fn events(d: &Daemon) -> Vec<serde_json::Value> {
    d.ok(&["--json", "events"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("an event per line"))
        .collect()
}

#[test]
fn watch_notifies_approver_and_requester_and_approve_acts_through_the_daemon() {
    let d = Daemon::start_with_expiry("warn_before = [\"4s\", \"2s\"]");
    let (grant, revoke, _) = recording_scripts(d.dir.path());
    signup(&d);
    let dev = os_user("hallpass-e2e-dev");
    if let Some(uid) = dev {
        add_dev(&d, uid);
    } else {
        println!("not running as root: the admin requests and approves (self-approval)");
    }
    sandbox_db_read(&d, &grant, &revoke, dev.is_none());

    let admin_bus = Bus::start();
    let admin_server = NotifyServer::start(&admin_bus);
    let _admin_watch = Watch::start(&d, &admin_bus, None, &watch_config("150ms"));
    let dev_side = dev.map(|uid| {
        let bus = Bus::start();
        let server = NotifyServer::start(&bus);
        let watch = Watch::start(&d, &bus, Some(uid), &watch_config("150ms"));
        (bus, server, watch)
    });
    let requester_server = dev_side.as_ref().map_or(&admin_server, |(_, s, _)| s);
    let requester_email = if dev.is_some() {
        DEV_EMAIL
    } else {
        ADMIN_EMAIL
    };

    // The approver: who, what, how long, why, with the buttons.
    let hp = request(&d, dev, "8s", "debug orders");
    let ask = admin_server.wait_for(&format!("{hp} waits for your approval"));
    assert_eq!(
        ask.body,
        format!("{requester_email} asks for sandbox/db/read for 8s\nWhy: debug orders")
    );
    assert_eq!(ask.actions, ["approve", "Approve", "deny", "Deny"]);
    assert_eq!(ask.app, "hallpass");

    // Pressing Approve approves it in the daemon, as the approver.
    admin_server.invoke(ask.id, "approve");
    wait_until(WAIT, "the request to be approved", || {
        request_status(&d, &hp) == "approved"
    });
    let shown = d.json(None, &["requests", "show", &hp]);
    let admin_id = d.json(None, &["whoami"])["user"]["id"].clone();
    assert_eq!(
        shown["approvals"][0]["by"], admin_id,
        "approved by the admin: {shown}"
    );
    admin_server.wait_for(&format!("You approved {hp}"));
    wait_until(WAIT, "the decided request's notice to be closed", || {
        admin_server.closed().contains(&ask.id)
    });

    // The requester: approved, active (how to connect), ends in 4s, in 2s, expired.
    let approved = requester_server.wait_for(&format!("{hp} approved"));
    assert_eq!(
        approved.body,
        format!("Approved by {ADMIN_EMAIL}; your access is being set up.")
    );
    let active = requester_server.wait_for("Access active: sandbox/db/read");
    assert!(
        active
            .body
            .contains("How to connect: `hallpass grants show G-"),
        "{}",
        active.body
    );
    let soon = requester_server.wait_for("sandbox/db/read ends in 4s");
    assert_eq!(soon.actions, ["extend", "Extend"]);
    assert!(
        soon.body.starts_with("Your access ends at "),
        "{}",
        soon.body
    );
    let sooner = requester_server.wait_for("sandbox/db/read ends in 2s");
    let expired = requester_server.wait_for("Access expired: sandbox/db/read");
    let order = [approved.id, active.id, soon.id, sooner.id, expired.id];
    assert!(order.is_sorted(), "in the order it happened: {order:?}");
    for n in [&approved, &active, &soon, &sooner, &expired] {
        assert_eq!(requester_server.count(&n.summary), 1, "once: {}", n.summary);
    }
    assert_eq!(admin_server.count(&ask.summary), 1);

    // From the grant becoming active to the notification (reported, not asserted: timings
    // belong to benchmarks).
    let activated = events(&d)
        .into_iter()
        .find(|e| e["type"] == "grant_activated")
        .expect("a grant_activated event");
    let at = activated["at"].as_i64().expect("event time in ms");
    println!(
        "latency: grant active → desktop notification {} ms; expiring soon (4s) → {} ms",
        active.at.0 - at,
        {
            let warned = events(&d)
                .into_iter()
                .find(|e| e["type"] == "grant_expiring_soon")
                .expect("a warning event");
            soon.at.0 - warned["at"].as_i64().expect("event time")
        }
    );
}

#[test]
fn deny_asks_for_a_reason_when_the_flow_needs_one() {
    let d = Daemon::start();
    let (grant, revoke, _) = recording_scripts(d.dir.path());
    signup(&d);
    sandbox_integration(&d, &grant, &revoke, "db:read,write");
    d.ok(&[
        "flows",
        "create",
        "db-read",
        "--everyone",
        "--target",
        "sandbox/db/read",
        "--approval",
        "any-of",
        "--approver",
        "admins",
        "--approver-reason",
        "--allow-self-approval",
        "--max",
        "1h",
        "--default",
        "10m",
    ]);
    let bus = Bus::start();
    let server = NotifyServer::start(&bus);
    let _w = Watch::start(&d, &bus, None, &watch_config("150ms"));
    let hp = request(&d, None, "5m", "look at logs");
    let ask = server.wait_for(&format!("{hp} waits for your approval"));
    server.invoke(ask.id, "deny");
    wait_until(WAIT, "the request to be rejected", || {
        request_status(&d, &hp) == "rejected"
    });
    let r = d.json(None, &["requests", "show", &hp]);
    assert_eq!(r["rejection"]["reason"], "reason from the prompt", "{r}");
    server.wait_for(&format!("You rejected {hp}"));
    let told = server.wait_for(&format!("{hp} rejected"));
    assert!(
        told.body.contains("reason from the prompt"),
        "{}",
        told.body
    );
}

#[test]
fn a_burst_of_requests_becomes_one_summary() {
    let d = Daemon::start();
    let (grant, revoke, _) = recording_scripts(d.dir.path());
    signup(&d);
    sandbox_db_read(&d, &grant, &revoke, true);
    let bus = Bus::start();
    let server = NotifyServer::start(&bus);
    // A generous window: the burst must not be split by a slow machine.
    let _w = Watch::start(&d, &bus, None, &watch_config("1s"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, _) = hallpass_proto::connect_unix(&d.socket, "suite")
            .await
            .expect("connect");
        for i in 0..10 {
            client
                .submit_request(
                    tarpc::context::current(),
                    hallpass_proto::NewRequest {
                        flow: hallpass_core::FlowName::new("db-read").expect("slug"),
                        bundle: None,
                        targets: vec!["sandbox/db/read".parse().expect("target")],
                        duration_secs: Some(300),
                        reason: Some(format!("burst {i}")),
                        source: hallpass_core::audit::Source::Api,
                    },
                )
                .await
                .expect("transport")
                .expect("submitted");
        }
    });
    let summary = server.wait_for("10 requests wait for your approval");
    assert!(summary.body.contains("… and 4 more"), "{}", summary.body);
    assert!(summary.actions.is_empty());
    let singles = server
        .notified()
        .iter()
        .filter(|n| n.summary.ends_with("waits for your approval"))
        .count();
    assert_eq!(singles, 0, "{:#?}", server.notified());
}

#[test]
fn a_daemon_killed_and_restarted_loses_and_repeats_no_notification() {
    let mut d = Daemon::start();
    let (grant, revoke, _) = recording_scripts(d.dir.path());
    signup(&d);
    sandbox_db_read(&d, &grant, &revoke, true);
    let bus = Bus::start();
    let server = NotifyServer::start(&bus);
    let w = Watch::start(&d, &bus, None, &watch_config("50ms"));

    let first = request(&d, None, "5m", "before the crash");
    server.wait_for(&format!("{first} waits"));
    // Acknowledged, then the daemon dies at once: the watcher may or may not have read it.
    let acked = request(&d, None, "5m", "just before the crash");
    d.kill();
    w.wait_log("lost hallpassd", 1);
    d.restart();
    let after = request(&d, None, "5m", "after the restart");
    server.wait_for(&format!("{after} waits"));
    w.wait_log("reconnected to hallpassd", 1);
    let log = w.log();
    assert_eq!(
        log.matches("lost hallpassd").count(),
        1,
        "the outage is reported once:\n{log}"
    );
    // Events arrive in cursor order, so everything before `after` has been handled.
    for hp in [&first, &acked, &after] {
        assert_eq!(
            server.count(&format!("{hp} waits for your approval")),
            1,
            "{hp} exactly once: {:#?}\nwatch log:\n{}",
            server.notified(),
            w.log()
        );
    }
}

#[test]
fn a_missing_notification_service_is_reported_once_and_caught_up() {
    let d = Daemon::start();
    let (grant, revoke, _) = recording_scripts(d.dir.path());
    signup(&d);
    sandbox_db_read(&d, &grant, &revoke, true);
    let bus = Bus::start();
    let w = Watch::start(&d, &bus, None, &watch_config("50ms"));
    w.wait_log("cannot show desktop notifications", 1);

    let one = request(&d, None, "5m", "nobody shows this yet");
    let two = request(&d, None, "5m", "nor this");
    w.wait_log(
        "keeping notifications until the notification service is back",
        1,
    );

    let server = NotifyServer::start(&bus);
    server.wait_for(&format!("{one} waits"));
    server.wait_for(&format!("{two} waits"));
    w.wait_log("the notification service is back", 1);
    let log = w.log();
    assert_eq!(
        log.matches("cannot show desktop notifications").count(),
        1,
        "reported once:\n{log}"
    );
    assert!(
        !log.contains("lost hallpassd"),
        "watch kept following:\n{log}"
    );
}

#[test]
fn extend_on_the_warning_asks_for_more_time_and_failures_are_told() {
    let d = Daemon::start_with_expiry("warn_before = [\"4s\", \"2s\"]");
    let (grant, revoke, _) = recording_scripts(d.dir.path());
    signup(&d);
    sandbox_integration(&d, &grant, &revoke, "db:read,write");
    d.ok(&[
        "integrations",
        "create",
        "broken",
        "--grant",
        "/bin/false",
        "--revoke",
        "/bin/true",
        "--resource",
        "db:read",
    ]);
    for (name, target) in [
        ("auto-db", "sandbox/db/read"),
        ("auto-broken", "broken/db/read"),
    ] {
        d.ok(&[
            "flows",
            "create",
            name,
            "--everyone",
            "--target",
            target,
            "--approval",
            "auto",
            "--max",
            "1h",
            "--default",
            "10m",
        ]);
    }
    let bus = Bus::start();
    let server = NotifyServer::start(&bus);
    let config = format!("{}extend_by = \"1m\"\n", watch_config("50ms"));
    let _w = Watch::start(&d, &bus, None, &config);

    let r = d.json(
        None,
        &[
            "request",
            "--flow",
            "auto-db",
            "--resource",
            "sandbox/db/read",
            "--duration",
            "6s",
            "--reason",
            "quick look",
        ],
    );
    let g = r["grants"][0]["id"].as_u64().expect("a grant");
    let soon = server.wait_for("sandbox/db/read ends in 4s");
    let before = d.json(None, &["grants", "show", &g.to_string()])["expires_at"]
        .as_i64()
        .expect("expires_at");
    server.invoke(soon.id, "extend");
    server.wait_for(&format!("Extension asked for G-{g}"));
    server.wait_for(&format!("Access extended: G-{g}"));
    let after = d.json(None, &["grants", "show", &g.to_string()])["expires_at"]
        .as_i64()
        .expect("expires_at");
    assert_eq!(after - before, 60_000, "one more minute");

    // A grant the connector cannot make.
    d.ok(&[
        "request",
        "--flow",
        "auto-broken",
        "--resource",
        "broken/db/read",
        "--reason",
        "try",
    ]);
    let failed = server.wait_for("Access could not be granted: broken/db/read");
    assert!(failed.body.starts_with("G-"), "{}", failed.body);
}
