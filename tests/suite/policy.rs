//! Policy as code through the real binaries: apply a file (plan, then apply), export it back
//! (export → apply is an empty plan), a bad file changes nothing and names its line, `--prune`
//! deletes what the file does not name, and a plan made stale by another change is refused.

use crate::support::binaries::Daemon;

fn policy(
    dir: &std::path::Path,
    name: &str,
    max_hours: u32,
    with_extra: bool,
) -> std::path::PathBuf {
    let extra = if with_extra {
        "\n[[bundle]]\nname = \"extra\"\ntargets = [{ integration = \"files\", resource = \"logs\", permission = \"read\" }]\n"
    } else {
        ""
    };
    let text = format!(
        r#"[[integration]]
name = "files"
description = "a noop target"
resources = [
    {{ name = "db", permissions = ["read", "write"] }},
    {{ name = "logs", permissions = ["read"] }},
]
[integration.connector]
type = "noop"

[[bundle]]
name = "oncall"
targets = [
    {{ integration = "files", resource = "db", permission = "read" }},
    {{ integration = "files", resource = "logs", permission = "read" }},
]
{extra}
[[flow]]
name = "db-read"
enabled = true
trigger = "self-serve"
max_duration = {max}
default_duration = 3600
pending_ttl = 86400
justification_required = true
approver_reason_required = false
allow_self_approval = true
[flow.requestors]
everyone = true
[flow.targets]
bundles = ["oncall"]
resources = [{{ integration = "files", resource = "db", permission = "read" }}]
[flow.approval]
rule = {{ rule = "any-of" }}
approvers = ["admins"]
"#,
        max = max_hours * 3600
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the policy");
    path
}

#[test]
fn apply_export_round_trip_prune_and_refusals() {
    let d = Daemon::start();
    d.signup("admin@example.com", "Ada Admin");
    let dir = d.dir.path();
    let first = policy(dir, "policy.toml", 8, true);
    let f = first.display().to_string();

    let plan = d.ok(&["apply", "-f", &f, "--dry-run"]);
    assert!(plan.contains("+ integration files"), "{plan}");
    assert!(plan.contains("+ flow db-read"), "{plan}");
    assert!(
        plan.contains("4 to create, 0 to update, 0 to delete"),
        "{plan}"
    );
    assert_eq!(
        d.json(None, &["integrations", "list"]),
        serde_json::json!([]),
        "dry run wrote"
    );
    // Not interactive and no --yes: nothing is applied.
    let unasked = d.cli(&["apply", "-f", &f]);
    assert_eq!(unasked.status.code(), Some(5), "{unasked:?}");
    assert_eq!(
        d.json(None, &["integrations", "list"]),
        serde_json::json!([])
    );
    d.ok(&["apply", "-f", &f, "--yes"]);
    assert_eq!(
        d.json(None, &["flows", "list"]).as_array().map(Vec::len),
        Some(1)
    );

    // export → apply is an empty plan.
    let exported = dir.join("exported.toml");
    d.ok(&["export", "-o", &exported.display().to_string()]);
    let again = d.ok(&["apply", "-f", &exported.display().to_string(), "--dry-run"]);
    assert!(again.contains("no changes"), "{again}");

    // A field-level update.
    let longer = policy(dir, "longer.toml", 12, true);
    let plan = d.ok(&["apply", "-f", &longer.display().to_string(), "--dry-run"]);
    assert!(plan.contains("~ flow db-read"), "{plan}");
    assert!(plan.contains("max_duration: 28800 → 43200"), "{plan}");

    // A bad file changes nothing and names the line of the object at fault.
    let bad = policy(dir, "bad.toml", 24 * 365, true);
    let refused = d.cli(&["apply", "-f", &bad.display().to_string(), "--yes"]);
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("bad.toml:") && err.contains("flow db-read: max_duration"),
        "{err}"
    );
    let syntax = dir.join("syntax.toml");
    std::fs::write(&syntax, "[[flow]]\nname = \n").expect("write");
    let refused = d.cli(&["apply", "-f", &syntax.display().to_string(), "--yes"]);
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("line 2"),
        "{refused:?}"
    );
    let now = d.ok(&["export"]);
    assert_eq!(
        now,
        std::fs::read_to_string(&exported).expect("read"),
        "refusals changed nothing"
    );

    // --prune deletes the bundle the file no longer names; without it, it stays.
    let fewer = policy(dir, "fewer.toml", 8, false);
    let kept = d.ok(&["apply", "-f", &fewer.display().to_string(), "--dry-run"]);
    assert!(kept.contains("no changes"), "{kept}");
    let pruned = d.ok(&[
        "apply",
        "-f",
        &fewer.display().to_string(),
        "--prune",
        "--yes",
    ]);
    assert!(pruned.contains("applied 1 change"), "{pruned}");
    let bundles = d.json(None, &["bundles", "list"]);
    assert_eq!(bundles.as_array().map(Vec::len), Some(1), "{bundles}");
    let audit = d.json(None, &["audit", "--action", "bundle.delete"]);
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
}

/// What is applied is exactly the plan that was shown: a change in between makes the daemon
/// refuse the stale plan, and nothing is written.
#[tokio::test]
async fn a_plan_made_stale_by_another_change_is_refused() {
    use crate::support::harness::*;

    let d = TestDaemon::start().await;
    let mut doc = d.admin().export_policy(ctx()).await.done("export");
    doc.flows.push(auto_flow("new-flow"));
    let plan = d
        .admin()
        .apply_policy(ctx(), doc.clone(), false, true, None)
        .await
        .done("plan");
    assert_eq!(plan.changes.len(), 1);
    assert!(!plan.applied);
    // Someone else changes the policy meanwhile.
    d.put_flow(auto_flow("someone-elses")).await;
    let stale = d
        .admin()
        .apply_policy(
            ctx(),
            doc.clone(),
            false,
            false,
            Some(plan.fingerprint.clone()),
        )
        .await
        .refused("a stale plan");
    assert_eq!(stale.kind(), "conflict");
    let flows = d.admin().list_flows(ctx()).await.done("flows");
    assert!(
        flows.iter().all(|f| f.flow.name.as_str() != "new-flow"),
        "nothing written"
    );
    // Planned again, it applies.
    let fresh = d
        .admin()
        .apply_policy(ctx(), doc.clone(), false, true, None)
        .await
        .done("plan again");
    let applied = d
        .admin()
        .apply_policy(ctx(), doc, false, false, Some(fresh.fingerprint))
        .await
        .done("apply");
    assert!(applied.applied);
    assert_eq!(
        d.audit("flow.create").await.len(),
        2,
        "someone-elses and new-flow, one audit event each"
    );
}
