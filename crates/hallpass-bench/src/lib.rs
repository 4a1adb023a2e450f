//! hallpass-bench: the benchmark suite and the kill -9 crash harness.
//!
//! Every subcommand prints readable tables (Markdown, ready for BENCHMARKS.md) or, with
//! `--json`, one JSON document; figures are reported next to a floor measured in the same run,
//! because the machines are small and noisy (see `/work/shared/design/QUALITY.md`).
//!
//! | subcommand | what it measures |
//! |---|---|
//! | `lifecycle` | request → approve → active → release over the socket, per step; floors: tarpc echo, sled txn + flush |
//! | `reads` | `get_grant` and a `list_grants` page at 1, 16, 64 clients; floor: tarpc echo |
//! | `writes` | durable state changes per second (group commit); floor: raw sled batched writes + flush |
//! | `expiry` | revocation lag at many active grants, and a burst expiring at once (in-process broker) |
//! | `startup` | process start → serving and → first overdue revocation with a big store; RSS |
//! | `sync` | reading a generated directory from a throwaway slapd: `read_snapshot` against raw paged ldap3 searches |
//! | `tui` | the Identities screen over 100k people: first paint, key → frame, memory; floor: a bare table of the visible rows |
//! | `crash` | SIGKILL `hallpassd` at random moments under mixed load; an oracle of acknowledged replies |
//! | `all` | everything at default sizes, as one Markdown document |
//!
//! The notification target (grant active → desktop notification ≤ 500 ms) is measured by the
//! `watch` suite test against a recording D-Bus notification server (see BENCHMARKS.md).
//!
//! Architecture invariants: the bench drives the real `hallpassd` binary (found next to its
//! own executable) for everything a client sees, and uses the daemon library in-process only
//! where the figure is internal (expiry lag); it imports sled only for the raw floors (product
//! crates still reach sled only through hallpass-store); every loop is bounded in time and count.

pub mod crash;
pub mod daemon;
pub mod expiry;
pub mod fixture;
pub mod floor;
pub mod lifecycle;
pub mod load;
pub mod machine;
pub mod reads;
pub mod report;
pub mod seed;
pub mod startup;
pub mod stats;
pub mod sync;
pub mod tui;
pub mod writes;

use std::path::PathBuf;

/// Where the bench finds `hallpassd` and keeps its temporary state.
#[derive(Clone, Debug)]
pub struct Env {
    pub hallpassd: PathBuf,
    /// Parent of each run's temporary directory (the system temp dir when None). Put it on the
    /// disk you want to measure: fsync on tmpfs costs nothing.
    pub work_dir: Option<PathBuf>,
}

impl Env {
    pub fn workdir(&self) -> anyhow::Result<tempfile::TempDir> {
        let b = tempfile::Builder::new()
            .prefix("hallpass-bench-")
            .tempdir_in(self.work_dir.clone().unwrap_or_else(std::env::temp_dir))?;
        Ok(b)
    }
}
