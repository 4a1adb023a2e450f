//! The command-line grammar: global flags and the top-level [`Command`] enum. Each command's
//! own arguments live next to the code that runs it, in `commands/`. Invariant: free-form values
//! (durations, names, targets, ids) are taken as text here and validated by the command, so a bad
//! value exits 5 naming its flag; only closed sets (roles, statuses, shells) are checked by clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{
    account, audit, bundles, completions, demo, drift, events, flows, grants, groups, identities,
    integrations, keys, links, policy, remote, requests, scim, tokens, users, watch,
};
use crate::failure::EXIT_CODES_HELP;

const EXAMPLES: &str = "\
Examples:
  hallpass whoami
  hallpass request --flow db-read --resource pg-prod/orders/read --duration 2h --reason 'INC-123'
  hallpass requests --to-approve
  hallpass approve HP-1042
  hallpass grants";

#[derive(Debug, Parser)]
#[command(
    name = "hallpass",
    version,
    about = "Just-in-time access: request, approve, grant and audit temporary access",
    long_about = "Just-in-time access: request, approve, grant and audit temporary access.\n\n\
        hallpass talks to the hallpassd daemon over its unix socket; the daemon knows who you are \
        from your OS user, owns all state, and takes access away when its time is up.",
    after_help = EXAMPLES,
    after_long_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
    propagate_version = true
)]
pub struct Cli {
    /// The daemon's unix socket [default: your own daemon's socket if it exists, else
    /// /run/hallpass/hallpassd.sock]
    #[arg(long, global = true, env = hallpass_proto::paths::SOCKET_ENV, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Use a remote daemon over TCP+TLS with the API token stored by `hallpass login --remote`
    #[arg(long, global = true, env = "HALLPASS_REMOTE", value_name = "HOST:PORT")]
    pub remote: Option<String>,

    /// Print the result as JSON (pretty-printed; lists as an array) instead of tables and text;
    /// errors as {"error": {...}}
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every top-level command. Add a variant here and an arm in `commands::run`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the first admin account, bound to your OS user (only on a fresh daemon)
    Signup(account::SignupArgs),
    /// Accept an invitation: bind your OS user to the invited account
    Accept(account::AcceptArgs),
    /// Show who the daemon thinks you are
    Whoami,
    /// Store an API token for a remote daemon (or accept an invite over the network)
    Login(remote::LoginArgs),
    /// Forget the stored login for a remote daemon
    Logout(remote::LogoutArgs),
    /// API tokens for scripts and remote use: create, list, revoke
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Show the daemon's health and counts
    Status,

    /// Invite, list and manage people (admins)
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage groups of people (admins)
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// Import synced identities from a CSV or JSON file (admins)
    #[command(subcommand)]
    Identities(identities::IdentitiesCommand),
    /// Identity sync from LDAP and files: run it now, see each source's last run
    #[command(subcommand)]
    Sync(identities::SyncCommand),
    /// The SCIM server identity providers push people and groups to: its token (admins)
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// Manage integrations: the systems hallpass grants access on (admins)
    #[command(subcommand)]
    Integrations(integrations::IntegrationsCommand),
    /// Manage bundles: named sets of targets requested together (admins)
    #[command(subcommand)]
    Bundles(bundles::BundlesCommand),
    /// Manage access flows: who may request what, who approves, for how long (admins)
    #[command(subcommand)]
    Flows(flows::FlowsCommand),

    /// Request access through a flow (or `request again ID`)
    Request(requests::RequestArgs),
    /// List requests: yours, those awaiting your approval, or all (or `requests show ID`)
    Requests(requests::RequestsArgs),
    /// Approve a request routed to you
    Approve(requests::DecideArgs),
    /// Reject a request routed to you
    Reject(requests::DecideArgs),
    /// Cancel your pending request
    Cancel(requests::RequestIdArg),

    /// List access grants: yours or all (or `grants show ID`)
    Grants(grants::GrantsArgs),
    /// End your own access early
    Release(grants::GrantIdArg),
    /// End someone's access now (admins)
    Revoke(grants::RevokeArgs),
    /// Ask for more time on an active grant (goes through the flow's approval)
    Extend(grants::ExtendArgs),

    /// Write integrations, bundles and flows as one TOML policy file (admins, auditors)
    Export(policy::ExportArgs),
    /// Make the policy match a TOML file: show the plan, ask, apply it atomically (admins)
    Apply(policy::ApplyArgs),
    /// Compare each integration's real state with the grants (leftover or missing access)
    Drift(drift::DriftArgs),
    /// Access links for externals (admins): create, list, revoke
    #[command(subcommand)]
    Links(links::LinksCommand),
    /// E-mail waiting for the SMTP server, with the last error (admins)
    Outbox,
    /// Register the SSH public keys SSH integrations certify for you
    #[command(subcommand)]
    Keys(keys::KeysCommand),

    /// Read, export and verify the tamper-evident audit log
    Audit(audit::AuditArgs),
    /// Print broker events after a cursor, optionally following new ones
    Events(events::EventsArgs),
    /// Desktop notifications for you: approvals, decisions, access, expiry, failures
    Watch(watch::WatchArgs),

    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
    /// Start a private daemon with demo data (stays up until Ctrl-C)
    Demo(demo::DemoArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("hallpass").chain(args.iter().copied()))
    }

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_is_allowed() {
        let cli = parse(&[]).expect("parses");
        assert!(cli.command.is_none());
    }

    #[test]
    fn request_and_request_again_both_parse() {
        let cli = parse(&["request", "--flow", "db", "--resource", "pg/orders/read"])
            .expect("new request");
        let Some(Command::Request(r)) = cli.command else {
            panic!("expected request");
        };
        assert!(r.again.is_none());
        assert_eq!(r.new.flow.as_deref(), Some("db"));

        let cli = parse(&["request", "again", "HP-1001", "--duration", "1h"]).expect("again");
        let Some(Command::Request(r)) = cli.command else {
            panic!("expected request");
        };
        assert!(r.again.is_some());

        // A new request needs a flow and either resources or a bundle, not both.
        for bad in [
            &["request", "--resource", "pg/orders/read"][..],
            &["request", "--flow", "db"],
            &[
                "request",
                "--flow",
                "db",
                "--bundle",
                "b",
                "--resource",
                "pg/o/r",
            ],
        ] {
            let e = parse(bad).expect_err("refused");
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn requests_scope_flags_conflict() {
        assert!(parse(&["requests", "--to-approve"]).is_ok());
        assert!(parse(&["requests", "show", "HP-1"]).is_ok());
        assert!(parse(&["requests", "--to-approve", "--all"]).is_err());
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = parse(&["grants", "--json", "--socket", "/tmp/x.sock"]).expect("parses");
        assert!(cli.json);
        assert_eq!(cli.socket, Some(PathBuf::from("/tmp/x.sock")));
    }

    #[test]
    fn set_manager_needs_a_manager_or_none() {
        assert!(parse(&["users", "set-manager", "bob@example.com", "ada@example.com"]).is_ok());
        assert!(parse(&["users", "set-manager", "bob@example.com", "--none"]).is_ok());
        assert!(parse(&["users", "set-manager", "bob@example.com"]).is_err());
        assert!(parse(&["users", "set-manager", "bob@x.com", "ada@x.com", "--none"]).is_err());
    }

    #[test]
    fn grant_statuses_are_a_comma_list() {
        let cli = parse(&["grants", "--status", "active,revoke-failed"]).expect("parses");
        let Some(Command::Grants(g)) = cli.command else {
            panic!("expected grants");
        };
        assert_eq!(g.list.status.len(), 2);
        assert!(parse(&["grants", "--status", "bogus"]).is_err());
    }

    #[test]
    fn long_help_documents_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(help.contains("9  protocol version mismatch"), "{help}");
    }
}
