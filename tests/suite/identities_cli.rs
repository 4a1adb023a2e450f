//! `hallpass identities import` and `hallpass sync` through the real binaries: a file with bad
//! rows is refused whole with each row and column named; a dry run prints the diff and changes
//! nothing; without `--yes` on a non-interactive input nothing is applied; `--yes` applies; a
//! second import that drops someone deactivates them; `sync status` shows the last run.

use crate::support::binaries::Daemon;

fn users(d: &Daemon) -> Vec<serde_json::Value> {
    let v = d.json(None, &["users", "list"]);
    v.get("items")
        .and_then(|i| i.as_array())
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_else(|| panic!("users list JSON: {v}"))
}

fn status_of<'a>(users: &'a [serde_json::Value], email: &str) -> &'a str {
    users
        .iter()
        .find(|u| u["email"] == email)
        .and_then(|u| u["status"].as_str())
        .unwrap_or("absent")
}

#[test]
fn import_refuses_bad_rows_shows_the_diff_and_applies_on_yes() {
    let d = Daemon::start();
    d.signup("admin@example.com", "Ada Admin");
    let dir = d.dir.path();

    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "login,email,name,manager,groups\n\
         grace,grace@example.com,Grace Hopper,,sre\n\
         linus,not-an-address,Linus,,dev\n\
         ken,ken@example.com,Ken,nobody@example.com,dev\n",
    )
    .expect("write bad.csv");
    let before = users(&d).len();
    let out = d.cli(&["identities", "import", &bad.display().to_string(), "--yes"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 3: email:"), "{err}");
    assert!(err.contains("row 4: manager:"), "{err}");
    assert_eq!(users(&d).len(), before, "nothing imported");

    let good = dir.join("people.csv");
    std::fs::write(
        &good,
        "login,email,name,manager,groups\n\
         grace,grace@example.com,Grace Hopper,,sre\n\
         linus,linus@example.com,Linus,grace,sre;dev\n\
         ken,ken@example.com,Ken,grace,dev\n",
    )
    .expect("write people.csv");
    let g = good.display().to_string();
    let plan = d.ok(&["identities", "import", &g, "--dry-run"]);
    assert!(plan.contains("+ grace@example.com"), "{plan}");
    assert!(plan.contains("+ sre"), "{plan}");
    assert!(plan.contains("would change: 3 added"), "{plan}");
    assert_eq!(users(&d).len(), before, "a dry run imports nothing");

    let unasked = d.cli(&["identities", "import", &g]);
    assert_eq!(unasked.status.code(), Some(5), "{unasked:?}");
    assert_eq!(users(&d).len(), before);

    let applied = d.ok(&["identities", "import", &g, "--yes"]);
    assert!(applied.contains("applied: 3 added"), "{applied}");
    let all = users(&d);
    assert_eq!(status_of(&all, "linus@example.com"), "active");
    let linus = d.json(None, &["users", "show", "linus@example.com"]);
    assert_eq!(linus["manager_email"], "grace@example.com", "{linus}");
    assert_eq!(linus["sources"], serde_json::json!(["file"]), "{linus}");

    // Ken leaves: one of three is past the 20% threshold, so it takes --force.
    std::fs::write(
        &good,
        "login,email,name,manager,groups\n\
         grace,grace@example.com,Grace Hopper,,sre\n\
         linus,linus@example.com,Linus,grace,sre;dev\n",
    )
    .expect("rewrite people.csv");
    let refused = d.cli(&["identities", "import", &g, "--yes"]);
    assert_eq!(refused.status.code(), Some(6), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("max_deactivate_percent"),
        "{refused:?}"
    );
    assert_eq!(status_of(&users(&d), "ken@example.com"), "active");
    d.ok(&["identities", "import", &g, "--yes", "--force"]);
    assert_eq!(status_of(&users(&d), "ken@example.com"), "deactivated");

    let status = d.ok(&["sync", "status"]);
    assert!(
        status.contains("file") && status.contains("import"),
        "{status}"
    );
    let json = d.json(None, &["sync", "status"]);
    assert_eq!(json[0]["people"], 3, "{json}");
    assert_eq!(json[0]["last"]["deactivated"], 1, "{json}");
    let audit = d.ok(&["audit", "verify"]);
    assert!(
        audit.to_lowercase().contains("intact") || audit.contains("ok"),
        "{audit}"
    );
}
