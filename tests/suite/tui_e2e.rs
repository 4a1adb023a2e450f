//! The TUI end to end, in a real terminal: the real `hallpass` binary under tmux against a real
//! `hallpassd`. An admin navigates to Approvals and approves a request with keys; the
//! requester's own TUI, open on My access, shows the access become active through the daemon's
//! event stream (no key pressed on that side). Both quit with `q` and exit cleanly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::binaries::{Daemon, binary, os_user, recording_scripts, sandbox_db_read};

/// A private tmux server (its own socket), killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        let which = Command::new("tmux").arg("-V").output();
        assert!(
            which.as_ref().is_ok_and(|o| o.status.success()),
            "tmux is needed for the TUI end-to-end test (tests/run installs it): {which:?}"
        );
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "tmux {args:?} failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached 120×40 session running `command` (exec'd directly, no shell).
    /// Where the exit status of pane `name`'s program is written.
    fn exit_file(&self, name: &str) -> PathBuf {
        self.socket.with_file_name(format!("{name}.exit"))
    }

    fn start(&self, name: &str, env: &[(&str, String)], command: &[String]) {
        let mut args: Vec<String> = ["new-session", "-d", "-s", name, "-x", "120", "-y", "40"]
            .map(String::from)
            .to_vec();
        // The program's working directory is the test's own (files it writes land there).
        let cwd = self.socket.parent().expect("the socket's directory");
        args.extend(["-c".into(), cwd.display().to_string()]);
        for (k, v) in env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        // tmux 3.3 may mark a pane dead without recording its exit status, so a small shell
        // runs the program and writes the status to a file the test waits for.
        let exit_file = self.exit_file(name).display().to_string();
        args.extend([
            "sh".into(),
            "-c".into(),
            "\"$@\"; echo $? > \"$0\"".into(),
            exit_file,
        ]);
        args.extend(command.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&refs);
        self.ok(&["set-option", "-t", name, "remain-on-exit", "on"]);
    }

    fn screen(&self, name: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", name])
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Waits until the screen satisfies `cond`; at the deadline, fails showing the screen.
    fn wait_for(
        &self,
        name: &str,
        within: Duration,
        what: &str,
        cond: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let s = self.screen(name);
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}; the {name} screen:\n{s}"
            );
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }

    /// Waits for the pane's program to exit; returns its exit status.
    /// Waits for pane `name`'s program to exit and returns its exit status.
    fn wait_exit(&self, name: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let file = self.exit_file(name);
        loop {
            if let Ok(status) = std::fs::read_to_string(&file)
                && status.ends_with('\n')
            {
                return status.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not exit after q; screen:\n{}",
                self.screen(name)
            );
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The line of `screen` that mentions `needle`.
fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

#[test]
fn approve_in_the_tui_and_watch_it_become_active_for_the_requester() {
    let d = Daemon::start();
    let (grant, revoke, _log) = recording_scripts(d.dir.path());
    d.signup("admin@example.com", "Ada Admin");

    // The requester is a second OS user when we can create one (root); otherwise the admin
    // requests through a flow that allows self-approval and watches their own My access.
    let dev = os_user("hallpass-e2e-tui");
    if let Some(uid) = dev {
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
        d.ok_as(Some(uid), &["accept", &code]);
    } else {
        println!("not running as root: the admin is also the requester");
    }
    sandbox_db_read(&d, &grant, &revoke, dev.is_none());
    let req = d.json(
        dev,
        &[
            "request",
            "--flow",
            "db-read",
            "--resource",
            "sandbox/db/read",
            "--duration",
            "30m",
            "--reason",
            "tui e2e",
        ],
    );
    let id = format!("HP-{}", req["id"].as_u64().expect("request id"));

    let tmux = Tmux::new(d.dir.path());
    let logs = d.dir.path().join("tui-logs");
    std::fs::create_dir_all(&logs).expect("log dir");
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).expect("chmod log dir");
    let hallpass = binary("hallpass").display().to_string();
    let socket = d.socket.display().to_string();
    let tui = |who: &str| -> (Vec<(&str, String)>, Vec<String>) {
        let env = vec![(
            "HALLPASS_TUI_LOG",
            logs.join(format!("{who}.log")).display().to_string(),
        )];
        (
            env,
            vec![hallpass.clone(), "--socket".into(), socket.clone()],
        )
    };

    // The requester's TUI opens on My access and shows the pending request.
    let requester_pane = if dev.is_some() {
        let (env, cmd) = tui("dev");
        let mut as_dev = vec![
            "runuser".to_string(),
            "-u".into(),
            "hallpass-e2e-tui".into(),
            "--".into(),
        ];
        as_dev.extend(cmd);
        tmux.start("dev", &env, &as_dev);
        tmux.wait_for(
            "dev",
            Duration::from_secs(20),
            "the requester's pending request",
            |s| {
                s.contains("My requests")
                    && line_with(s, &id).is_some_and(|l| l.contains("pending"))
            },
        );
        "dev"
    } else {
        "admin"
    };

    // The admin's TUI opens on the dashboard; 2 goes to Approvals; `a` approves the selection.
    let (env, cmd) = tui("admin");
    tmux.start("admin", &env, &cmd);
    tmux.wait_for(
        "admin",
        Duration::from_secs(20),
        "the admin dashboard",
        |s| s.contains("Pending") && s.contains("Needs attention"),
    );
    tmux.keys("admin", &["2"]);
    tmux.wait_for(
        "admin",
        Duration::from_secs(20),
        "the request on Approvals",
        |s| s.contains("Waiting for you (1)") && line_with(s, &id).is_some(),
    );
    tmux.keys("admin", &["a"]);
    tmux.wait_for(
        "admin",
        Duration::from_secs(20),
        "the approval to be confirmed",
        |s| s.contains(&format!("Approved {id}")) || s.contains("Nothing waits for you"),
    );

    if dev.is_none() {
        tmux.keys("admin", &["3"]);
    }
    // The grant's own row says active (toasts sit at the bottom, clear of the first rows).
    tmux.wait_for(
        requester_pane,
        Duration::from_secs(30),
        "the grant to show as active",
        |s| {
            s.contains("My grants (1 active)")
                && s.lines().any(|l| {
                    let cells: Vec<&str> = l.trim_matches('│').split_whitespace().collect();
                    cells.len() >= 3
                        && cells[0].starts_with("G-")
                        && cells[1] == "sandbox/db/read"
                        && cells[2] == "active"
                })
        },
    );
    // The daemon agrees.
    let grants = d.json(dev, &["grants"]);
    assert!(
        grants
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["status"] == "active")),
        "{grants}"
    );

    // q quits and restores the terminal; the program exits 0.
    for pane in ["admin", "dev"] {
        if pane == "dev" && dev.is_none() {
            continue;
        }
        tmux.keys(pane, &["q"]);
        assert_eq!(
            tmux.wait_exit(pane, Duration::from_secs(10)),
            "0",
            "{pane} exit status"
        );
    }
}

/// An editor for the test: the first time, it breaks the flow's text; opened again (the text
/// now carries the TUI's `# !` error notes), it reads a new maximum from the terminal, as a
/// person would type it, and fixes the text.
fn scripted_editor(dir: &Path) -> PathBuf {
    let path = dir.join("editor.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         if grep -q '^# ! ' \"$1\"; then\n\
         \x20 printf 'new max_duration? '\n\
         \x20 read -r v\n\
         \x20 sed -i -e 's/^enabled = maybe/enabled = true/' -e \"s/^max_duration = .*/max_duration = $v/\" \"$1\"\n\
         else\n\
         \x20 sed -i 's/^enabled = true/enabled = maybe/' \"$1\"\n\
         fi\n",
    )
    .expect("write the editor");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn edit_a_flow_in_the_editor_from_the_tui_fix_an_error_and_apply_the_plan() {
    let d = Daemon::start();
    let (grant, revoke, _log) = recording_scripts(d.dir.path());
    d.signup("admin@example.com", "Ada Admin");
    sandbox_db_read(&d, &grant, &revoke, false);
    let before = d.json(None, &["flows", "show", "db-read"]);
    assert_eq!(before["flow"]["max_duration"], 3600, "{before}");

    let tmux = admin_tui(
        &d,
        vec![
            (
                "EDITOR",
                scripted_editor(d.dir.path()).display().to_string(),
            ),
            ("VISUAL", String::new()),
        ],
    );
    tmux.keys("admin", &["7"]);
    tmux.wait_for("admin", Duration::from_secs(20), "the flows list", |s| {
        s.lines()
            .any(|l| l.contains("│db-read") && l.contains("any-of"))
    });

    // E opens the editor, which breaks the text: the TUI explains, and nothing is sent.
    tmux.keys("admin", &["E"]);
    tmux.wait_for("admin", Duration::from_secs(20), "the parse error", |s| {
        s.contains("cannot save this text") && s.contains("enabled = maybe")
    });
    // e reopens it; the editor asks on the terminal, and what is typed reaches it.
    tmux.keys("admin", &["e"]);
    tmux.wait_for(
        "admin",
        Duration::from_secs(20),
        "the editor's prompt",
        |s| s.contains("new max_duration?"),
    );
    tmux.keys("admin", &["1800", "Enter"]);
    let plan = tmux.wait_for("admin", Duration::from_secs(20), "the plan", |s| {
        s.contains("Save flow db-read?")
    });
    assert!(
        plan.contains("~ update flow db-read") && plan.contains("max_duration: 3600 → 1800"),
        "{plan}"
    );
    assert_eq!(
        d.json(None, &["flows", "show", "db-read"])["flow"]["max_duration"],
        3600,
        "nothing changes before the plan is confirmed"
    );

    tmux.keys("admin", &["y"]);
    tmux.wait_for(
        "admin",
        Duration::from_secs(20),
        "the change applied",
        |s| s.contains("Applied 1 change"),
    );
    let after = d.json(None, &["flows", "show", "db-read"]);
    assert_eq!(after["flow"]["max_duration"], 1800, "{after}");
    assert_eq!(after["flow"]["enabled"], true, "{after}");
    // The list shows the new maximum, and the audit log has the change by the TUI.
    tmux.wait_for("admin", Duration::from_secs(20), "the new maximum", |s| {
        s.lines()
            .any(|l| l.contains("│db-read") && l.contains("30m"))
    });
    let audit = d.json(None, &["audit", "--action", "flow.update"]);
    assert!(
        audit.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["source"] == "tui" && e["target"] == "flow db-read")),
        "{audit}"
    );

    tmux.keys("admin", &["q"]);
    assert_eq!(tmux.wait_exit("admin", Duration::from_secs(10)), "0");
}

/// The admin's TUI (the current OS user) in a tmux pane named `admin`, open on the dashboard.
fn admin_tui(d: &Daemon, mut env: Vec<(&'static str, String)>) -> Tmux {
    let tmux = Tmux::new(d.dir.path());
    env.push((
        "HALLPASS_TUI_LOG",
        d.dir.path().join("tui.log").display().to_string(),
    ));
    let cmd = vec![
        binary("hallpass").display().to_string(),
        "--socket".into(),
        d.socket.display().to_string(),
    ];
    tmux.start("admin", &env, &cmd);
    tmux.wait_for("admin", Duration::from_secs(20), "the dashboard", |s| {
        s.contains("Needs attention")
    });
    tmux
}

#[test]
fn export_the_audit_log_from_the_tui_as_the_cli_would() {
    let d = Daemon::start();
    d.signup("admin@example.com", "Ada Admin");
    d.invite("dev@example.com", "Dev Eloper", "grantee");
    let tmux = admin_tui(&d, vec![]);
    tmux.keys("admin", &["8"]);
    tmux.wait_for("admin", Duration::from_secs(20), "the audit log", |s| {
        s.contains("user.invite")
    });
    tmux.keys("admin", &["x"]);
    tmux.wait_for(
        "admin",
        Duration::from_secs(20),
        "the export question",
        |s| s.contains("Export the audit log"),
    );
    tmux.keys("admin", &["Enter"]);
    let screen = tmux.wait_for("admin", Duration::from_secs(20), "the export", |s| {
        s.contains("Exported ")
    });
    let file = std::fs::read_dir(d.dir.path())
        .expect("the test directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hallpass-audit-"))
        })
        .unwrap_or_else(|| panic!("no export file in the working directory; screen:\n{screen}"));
    let exported = std::fs::read_to_string(&file).expect("read the export");
    // The same events the CLI exports with the TUI's filter (the last week).
    let cli = d.ok(&["audit", "export", "--format", "csv", "--since", "7d"]);
    assert_eq!(exported, cli);
    assert!(
        exported.starts_with("seq,at,actor,source,action"),
        "{exported}"
    );
    assert!(exported.contains("user.invite"), "{exported}");
    let rows = exported.lines().count() - 1;
    assert!(
        screen.contains(&format!("Exported {rows} audit event(s)")),
        "{screen}"
    );

    tmux.keys("admin", &["q"]);
    assert_eq!(tmux.wait_exit("admin", Duration::from_secs(10)), "0");
}
