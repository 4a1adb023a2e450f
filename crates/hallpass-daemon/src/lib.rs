//! hallpassd as a library: configuration, the broker, its handlers, the expiry scheduler,
//! connectors, the unix-socket server, the access-link web site, the mailer and systemd
//! integration, and the SCIM server identity providers push people and groups to.
//!
//! Architecture invariants:
//! - identity is the connection's kernel-verified peer (`SO_PEERCRED`) on the unix socket, or
//!   the API token a TCP+TLS connection authenticated with first; never a request field;
//! - a handler authorizes, then changes state in one store transaction, and replies only after
//!   that change is durable; effects (events, waking the scheduler, connector calls) follow;
//! - connector calls never run inside a store transaction: their intent (Granting/Revoking) is
//!   recorded first, so a crash in between is resumed at start-up;
//! - expiry is deadline-driven: one task sleeps until the next deadline or until woken.

pub mod broker;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod drift;
pub mod eligibility;
pub mod expiry;
pub mod handlers;
pub mod lifecycle;
pub mod logging;
pub mod mailer;
pub mod memory;
pub mod paths;
pub mod scim;
pub mod server;
pub mod socket;
pub mod sync;
pub mod tls;
pub mod views;
pub mod web;

pub use broker::Broker;
pub use config::Config;
pub use server::{connect_in_memory, run, serve};
