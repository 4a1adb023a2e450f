//! The integration suite: one binary, one module per area.

mod support;

mod authz_matrix;
mod crash;
mod daemon_lifecycle;
mod drift;
mod e2e;
mod examples;
mod failed_grants;
mod identities_cli;
mod identity_sync;
mod ldap_source;
mod links;
mod links_e2e;
mod policy;
mod postgres;
mod remote;
mod restart;
mod scim;
mod socket;
mod ssh;
mod ssh_connector;
mod tui_e2e;
mod warnings;
mod watch;
mod wire;
