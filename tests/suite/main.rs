//! The integration suite: one binary, one module per area.

mod support;

mod authz_matrix;
mod crash;
mod daemon_lifecycle;
mod e2e;
mod failed_grants;
mod restart;
mod socket;
mod tui_e2e;
mod warnings;
mod watch;
