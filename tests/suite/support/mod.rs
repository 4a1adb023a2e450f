//! Shared harness for the suite.

pub mod harness;
// Not every module uses every helper (e.g. `Daemon::stop` is for restart tests).
#[allow(dead_code)]
pub mod binaries;
pub mod fake_ad;
pub mod notify_bus;
pub mod postgres;
pub mod slapd;
pub mod sshd;
pub mod web;
