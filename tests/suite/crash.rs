//! The kill -9 crash harness, short: `hallpass-bench crash` SIGKILLs the real `hallpassd` 10
//! times under mixed load and checks, after every restart, that no acknowledged change was lost
//! (R1), the audit chain verifies, and overdue grants were caught up (R2). The full run
//! (`--kills 100`) is a benchmark; see BENCHMARKS.md.

use std::process::Command;

use crate::support::binaries::binary;

#[test]
fn ten_kills_under_mixed_load_lose_no_acknowledged_change() {
    let out = Command::new(binary("hallpass-bench"))
        .args(["crash", "--kills", "10", "--json", "--max-down-ms", "200"])
        .arg("--hallpassd")
        .arg(binary("hallpassd"))
        .output()
        .expect("run hallpass-bench crash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("hallpass-bench crash printed no JSON ({e}):\nstdout: {stdout}\nstderr: {stderr}")
    });
    let r = &doc["results"];
    assert_eq!(
        r["lost"], 0,
        "acknowledged changes were lost: {:#}",
        r["lost_details"]
    );
    assert_eq!(
        r["failures"],
        serde_json::json!([]),
        "the harness reported failures: {:#}",
        r["failures"]
    );
    assert_eq!(r["kills"], 10, "{r:#}");
    let acknowledged = r["acknowledged"].as_u64().unwrap_or(0);
    assert!(
        acknowledged >= 50,
        "too little load to mean anything: {acknowledged} acknowledged operations\n{r:#}"
    );
    assert!(
        out.status.success(),
        "hallpass-bench crash exited with {}\nstderr: {stderr}",
        out.status
    );
}
