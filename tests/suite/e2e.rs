//! End to end with the real binaries: signup, invite, accept as another OS user, flow,
//! request, approve, active, expiry, the revocation recorded by the exec connector, audit
//! verification, and expiry across a daemon restart.

use std::time::Duration;

use crate::support::binaries::{
    Daemon, os_user, recording_scripts, sandbox_db_read, sandbox_integration, wait_until,
};

fn grant_status(d: &Daemon, id: u64) -> String {
    let g = d.json(None, &["grants", "show", &id.to_string()]);
    g["status"].as_str().unwrap_or_default().to_string()
}

fn connector_log(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Flow `quick`: anyone, auto-approved, 2 s by default and up to 1 h, on `targets`.
fn quick_flow(d: &Daemon, targets: &[&str]) {
    let mut args = vec!["flows", "create", "quick", "--everyone"];
    for t in targets {
        args.extend(["--target", t]);
    }
    args.extend([
        "--approval",
        "auto",
        "--max",
        "1h",
        "--default",
        "2s",
        "--no-justification",
    ]);
    d.ok(&args);
}

#[test]
fn signup_invite_request_approve_expire_and_audit() {
    let d = Daemon::start();
    let (grant, revoke, log) = recording_scripts(d.dir.path());

    d.signup("admin@example.com", "Ada Admin");
    // Signup is closed once an admin exists.
    let again = d.cli(&["signup", "--email", "eve@example.com", "--name", "Eve"]);
    assert_eq!(
        again.status.code(),
        Some(6),
        "second signup must be a conflict: {again:?}"
    );

    let invite = d.json(
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
    let code = invite["code"].as_str().expect("invite code").to_string();

    // The invitee accepts as their own OS user when we can create one; otherwise the admin
    // requests (through a flow that allows self-approval) and the accept step is skipped.
    let dev = os_user("hallpass-e2e-dev");
    let requester = match dev {
        Some(uid) => {
            d.ok_as(Some(uid), &["accept", &code]);
            let me = d.json(Some(uid), &["whoami"]);
            assert_eq!(me["user"]["email"], "dev@example.com", "{me}");
            // A grantee gets a friendly refusal (exit 4) from an admin-only command.
            let denied = d.cli_as(Some(uid), &["users", "list"]);
            assert_eq!(denied.status.code(), Some(4), "{denied:?}");
            assert!(
                String::from_utf8_lossy(&denied.stderr).contains("admin@example.com"),
                "{denied:?}"
            );
            Some(uid)
        }
        None => {
            println!("not running as root: skipping `accept` as a second OS user");
            None
        }
    };

    sandbox_db_read(&d, &grant, &revoke, requester.is_none());

    let req = d.json(
        requester,
        &[
            "request",
            "--flow",
            "db-read",
            "--resource",
            "sandbox/db/read",
            "--duration",
            "3s",
            "--reason",
            "debug orders",
        ],
    );
    let id = req["id"].as_u64().expect("request id");
    assert_eq!(req["status"], "pending", "{req}");

    d.ok(&["approve", &format!("HP-{id}"), "--reason", "ok"]);
    let approved = d.json(None, &["requests", "show", &id.to_string()]);
    let grant_id = approved["grants"][0]["id"].as_u64().expect("a grant");

    wait_until(
        Duration::from_secs(20),
        "the grant to become active",
        || grant_status(&d, grant_id) == "active",
    );
    assert!(
        connector_log(&log).contains(&format!("grant {grant_id}")),
        "{}",
        connector_log(&log)
    );

    wait_until(Duration::from_secs(30), "the grant to expire", || {
        grant_status(&d, grant_id) == "expired"
    });
    assert!(
        connector_log(&log).contains(&format!("revoke {grant_id}")),
        "{}",
        connector_log(&log)
    );

    let verify = d.cli(&["audit", "verify"]);
    assert!(verify.status.success(), "audit verify: {verify:?}");
    let audit = d.json(None, &["audit", "--action", "grant."]);
    let actions: Vec<&str> = audit
        .as_array()
        .expect("audit list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "grant.create",
        "grant.activate",
        "grant.expire",
        "grant.expired",
    ] {
        assert!(actions.contains(&want), "audit lacks {want}: {actions:?}");
    }
}

#[test]
fn grants_that_expire_while_the_daemon_is_down_are_revoked_at_start() {
    let mut d = Daemon::start();
    let (grant, revoke, log) = recording_scripts(d.dir.path());
    d.signup("admin@example.com", "Ada Admin");
    sandbox_integration(&d, &grant, &revoke, "db:read");
    quick_flow(&d, &["sandbox/db/read"]);
    let req = d.json(
        None,
        &[
            "request",
            "--flow",
            "quick",
            "--resource",
            "sandbox/db/read",
        ],
    );
    let grant_id = d.first_grant(req["id"].as_u64().expect("request id"));
    wait_until(Duration::from_secs(20), "activation", || {
        grant_status(&d, grant_id) == "active"
    });
    let expires_at = d.json(None, &["grants", "show", &grant_id.to_string()])["expires_at"]
        .as_i64()
        .expect("expires_at");

    d.stop();
    // Let the deadline pass while the daemon is down.
    wait_until(Duration::from_secs(10), "the deadline to pass", || {
        hallpass_core::Clock::now(&hallpass_core::SystemClock).as_millis() > expires_at + 200
    });
    assert!(
        !connector_log(&log).contains(&format!("revoke {grant_id}")),
        "revoked while down?"
    );
    d.restart();
    // The first answer after start-up already shows the grant as ending, never active.
    let first = grant_status(&d, grant_id);
    assert!(
        first == "revoking" || first == "expired",
        "right after start the grant is {first}"
    );
    wait_until(
        Duration::from_secs(20),
        "the overdue grant to be revoked",
        || grant_status(&d, grant_id) == "expired",
    );
    assert_eq!(
        connector_log(&log)
            .matches(&format!("revoke {grant_id}"))
            .count(),
        1,
        "{}",
        connector_log(&log)
    );
}

/// sled's snapshot files in a daemon's store, oldest first.
fn snapshots(d: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.dir.path().join("state/store"))
        .expect("the store directory")
        .map(|e| {
            e.expect("a store entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with("snap.") && !n.ends_with(".generating"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_clean_stop_leaves_a_snapshot_that_covers_the_run() {
    let mut d = Daemon::start();
    d.signup("admin@example.com", "Ada Admin");
    d.stop();
    d.restart();
    // What sled holds while this run serves: the snapshot of the previous stop (or of this
    // start's open, which is what a crash leaves to the next start).
    let serving = snapshots(&d);
    d.invite("grace@example.com", "Grace", "grantee");
    d.stop();
    let stopped = snapshots(&d);
    assert!(
        stopped.last() > serving.last(),
        "the stop wrote no newer snapshot: {serving:?} then {stopped:?}"
    );
    assert!(d.log().contains("store snapshot refreshed"), "{}", d.log());
    d.restart();
    assert_eq!(
        d.json(None, &["users", "show", "grace@example.com"])["email"],
        "grace@example.com"
    );
}

/// The scheduler sleeps until its next deadline and is woken only by a commit that writes an
/// earlier one: a short grant made while it waits on a long one still ends in time. (The
/// filter itself is tested in `hallpass-daemon`'s `broker` unit tests.)
#[test]
fn a_short_grant_made_while_the_scheduler_waits_on_a_long_one_ends_on_time() {
    let d = Daemon::start();
    let (grant, revoke, log) = recording_scripts(d.dir.path());
    d.signup("admin@example.com", "Ada Admin");
    // Two resources: access to one grant's resource is kept while another grant covers it.
    sandbox_integration(&d, &grant, &revoke, "db:read,write");
    quick_flow(&d, &["sandbox/db/read", "sandbox/db/write"]);
    let request = |resource: &str, duration: &str| -> u64 {
        d.first_grant(d.request("quick", resource, duration, "test"))
    };
    let long = request("sandbox/db/write", "1h");
    wait_until(
        Duration::from_secs(20),
        "the long grant to be active",
        || grant_status(&d, long) == "active",
    );
    let short = request("sandbox/db/read", "2s");
    // The connector records both calls; a 2 s grant may already read as expired when polled.
    wait_until(Duration::from_secs(20), "the short grant's call", || {
        connector_log(&log).contains(&format!("grant {short}"))
    });
    // The scheduler slept until the long grant's first warning, far away: the commits that
    // owed the short grant's call and wrote its expiry each had to wake it.
    wait_until(
        Duration::from_secs(20),
        "the short grant's revocation",
        || connector_log(&log).contains(&format!("revoke {short}")),
    );
    assert_eq!(grant_status(&d, long), "active");
    assert!(!connector_log(&log).contains(&format!("revoke {long}")));
}
