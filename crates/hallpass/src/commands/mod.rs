//! Runs one parsed command: connects when the command needs the daemon, then hands over to the
//! module that owns it. Also owns paging through the daemon's lists.
//! Invariant: `completions` never touches the socket; `None` (no subcommand) opens the TUI.

pub mod account;
pub mod audit;
pub mod bundles;
pub mod completions;
pub mod demo;
pub mod drift;
pub mod events;
pub mod flows;
pub mod grants;
pub mod groups;
pub mod identities;
pub mod integrations;
pub mod keys;
pub mod links;
pub mod policy;
pub mod remote;
pub mod requests;
pub mod scim;
pub mod tokens;
pub mod users;
pub mod watch;

use std::future::Future;
use std::path::PathBuf;

use clap::CommandFactory;
use hallpass_proto::{Endpoint, Page};

use crate::cli::{Cli, Command};
use crate::connection::{Session, socket_path};
use crate::failure::Failure;
use crate::output::Output;

/// What every command may need besides its own arguments.
#[derive(Debug)]
pub struct Invocation {
    pub socket: PathBuf,
    /// `--remote HOST:PORT`: use the stored login for that daemon instead of the socket.
    pub remote: Option<String>,
    pub out: Output,
}

impl Invocation {
    pub fn endpoint(&self) -> Result<Endpoint, Failure> {
        match &self.remote {
            Some(r) => Ok(Endpoint::Remote(remote::load(r)?)),
            None => Ok(Endpoint::Unix(self.socket.clone())),
        }
    }

    pub async fn connect(&self) -> Result<Session, Failure> {
        Session::connect_to(&self.endpoint()?).await
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let inv = Invocation {
        socket: socket_path(cli.socket.as_deref()),
        remote: cli.remote.clone(),
        out: Output { json: cli.json },
    };
    let out = inv.out;
    let Some(command) = cli.command else {
        // No subcommand: the TUI, when there is a terminal to draw on.
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            return print_short_help();
        }
        return hallpass_tui::run(inv.endpoint()?)
            .await
            .map_err(|e| Failure::Local(format!("tui: {e}")));
    };
    match command {
        Command::Completions(a) => completions::run(a),
        Command::Demo(a) => demo::run(a).await,
        Command::Signup(a) => account::signup(&inv.connect().await?, out, a).await,
        Command::Accept(a) => account::accept(&inv.connect().await?, out, a).await,
        Command::Whoami => account::whoami(&inv.connect().await?, out).await,
        Command::Status => account::status(&inv.connect().await?, out).await,
        Command::Users(c) => users::run(&inv.connect().await?, out, c).await,
        Command::Groups(c) => groups::run(&inv.connect().await?, out, c).await,
        Command::Identities(c) => identities::identities(&inv.connect().await?, out, c).await,
        Command::Sync(c) => identities::sync(&inv.connect().await?, out, c).await,
        Command::Scim(c) => scim::run(&inv.connect().await?, out, c).await,
        Command::Integrations(c) => integrations::run(&inv.connect().await?, out, c).await,
        Command::Bundles(c) => bundles::run(&inv.connect().await?, out, c).await,
        Command::Flows(c) => flows::run(&inv.connect().await?, out, c).await,
        Command::Request(a) => requests::request(&inv.connect().await?, out, a).await,
        Command::Requests(a) => requests::list_or_show(&inv.connect().await?, out, a).await,
        Command::Approve(a) => requests::approve(&inv.connect().await?, out, a).await,
        Command::Reject(a) => requests::reject(&inv.connect().await?, out, a).await,
        Command::Cancel(a) => requests::cancel(&inv.connect().await?, out, a).await,
        Command::Grants(a) => grants::list_or_show(&inv.connect().await?, out, a).await,
        Command::Release(a) => grants::release(&inv.connect().await?, out, a).await,
        Command::Revoke(a) => grants::revoke(&inv.connect().await?, out, a).await,
        Command::Extend(a) => grants::extend(&inv.connect().await?, out, a).await,
        Command::Export(a) => policy::export(&inv.connect().await?, out, a).await,
        Command::Apply(a) => policy::apply(&inv.connect().await?, out, a).await,
        Command::Drift(a) => drift::run(&inv.connect().await?, out, a).await,
        Command::Links(c) => links::run(&inv.connect().await?, out, c).await,
        Command::Outbox => links::outbox(&inv.connect().await?, out).await,
        Command::Keys(c) => keys::run(&inv.connect().await?, out, c).await,
        Command::Audit(a) => audit::run(&inv.connect().await?, out, a).await,
        Command::Events(a) => events::run(&inv.connect().await?, out, a).await,
        Command::Tokens(c) => tokens::run(&inv.connect().await?, out, c).await,
        Command::Login(a) => remote::login(out, a).await,
        Command::Logout(a) => remote::logout(out, a),
        Command::Watch(a) => {
            if inv.remote.is_some() {
                return Err(Failure::invalid(
                    "--remote",
                    "`watch` shows desktop notifications from the daemon on this machine; run it without --remote",
                ));
            }
            watch::run(inv.socket, a).await
        }
    }
}

fn print_short_help() -> Result<(), Failure> {
    let help = Cli::command().render_help();
    println!("{help}");
    println!(
        "Run `hallpass --help` for more, including exit codes; `hallpass COMMAND --help` for a command."
    );
    Ok(())
}

/// The most items one page request asks for.
const PAGE_SIZE: u32 = 200;

/// Pages through a list until `limit` items or the end. Returns the items and whether more
/// were left (so the caller can say so).
pub async fn collect_pages<T, F, Fut>(limit: u32, mut fetch: F) -> Result<(Vec<T>, bool), Failure>
where
    F: FnMut(Option<String>, u32) -> Fut,
    Fut: Future<Output = Result<Page<T>, Failure>>,
{
    let mut items: Vec<T> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let room = limit.saturating_sub(u32::try_from(items.len()).unwrap_or(u32::MAX));
        if room == 0 {
            return Ok((items, after.is_some()));
        }
        let page = fetch(after.clone(), room.min(PAGE_SIZE)).await?;
        let got = page.items.len();
        let cut = got > room as usize;
        items.extend(page.items.into_iter().take(room as usize));
        match page.next {
            // A cursor that does not move would loop forever: treat it as the end.
            Some(next) if got > 0 && after.as_deref() != Some(next.as_str()) => {
                after = Some(next);
            }
            _ => return Ok((items, cut)),
        }
    }
}

/// Tells people (on stderr) that a list was cut at `--limit`.
pub fn note_truncated(shown: usize, more: bool) {
    if more {
        eprintln!("(showing the first {shown}; raise --limit to see more)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(n: usize, per: usize) -> Vec<Page<usize>> {
        (0..n.div_ceil(per))
            .map(|p| Page {
                items: (p * per..((p + 1) * per).min(n)).collect(),
                next: ((p + 1) * per < n).then(|| format!("{}", (p + 1) * per)),
            })
            .collect()
    }

    async fn run_pager(all: Vec<Page<usize>>, limit: u32) -> (Vec<usize>, bool, usize) {
        let mut calls = 0;
        let (items, more) = collect_pages(limit, |after, _| {
            let idx = after.map_or(0, |a| a.parse::<usize>().expect("cursor") / 3);
            calls += 1;
            let page = all[idx].clone();
            async move { Ok(page) }
        })
        .await
        .expect("pages");
        (items, more, calls)
    }

    #[tokio::test]
    async fn pages_until_the_end_or_the_limit() {
        let (items, more, calls) = run_pager(pages(7, 3), 100).await;
        assert_eq!(items, (0..7).collect::<Vec<_>>());
        assert!(!more);
        assert_eq!(calls, 3);

        let (items, more, _) = run_pager(pages(7, 3), 4).await;
        assert_eq!(items, [0, 1, 2, 3]);
        assert!(more);
    }

    #[tokio::test]
    async fn a_stuck_cursor_ends_the_listing() {
        let (items, more) = collect_pages(100, |_, _| async {
            Ok(Page {
                items: Vec::<u8>::new(),
                next: Some("same".to_string()),
            })
        })
        .await
        .expect("ends");
        assert!(items.is_empty());
        assert!(!more);
    }
}
