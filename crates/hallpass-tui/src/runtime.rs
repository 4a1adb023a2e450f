//! The runtime: owns the terminal, the daemon connection and every task that does IO. It
//! selects over terminal events, daemon replies, daemon events and a 1 Hz tick, feeds each to
//! `update`, runs the returned `Cmd`s, and draws only when the model says something changed.
//! Invariants: the terminal is restored on every exit, a panic included; logs go to a file,
//! never to the terminal; there is at most one connection attempt and one event follower.

use std::io::{self, Stdout, stdout};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt;
use hallpass_core::Timestamp;
use hallpass_core::time::{Clock, SystemClock};
use hallpass_proto::{ApiError, AuditQuery, Endpoint, FROM_NOW, HallpassClient, UserQuery};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tarpc::client::RpcError;
use tarpc::context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::effect::{Action, Cmd, Query, UsersFor};
use crate::message::{CallError, Done, Failure, Msg, PagedOwner, Reply};
use crate::theme::Theme;
use crate::update::update;

/// How long an ordinary call may take.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// How long one event long-poll waits on the daemon.
const EVENT_WAIT_MS: u32 = 25_000;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the terminal failed: {0}")]
    Terminal(#[from] io::Error),
}

/// The client's name in the handshake (the daemon audits our actions with source `tui`).
pub fn client_name() -> String {
    format!("hallpass-tui {}", env!("CARGO_PKG_VERSION"))
}

/// The local UTC offset at `now`, in seconds (daylight saving follows the instant).
pub fn utc_offset(now: Timestamp) -> i32 {
    chrono::Local
        .timestamp_millis_opt(now.as_millis())
        .single()
        .map_or(0, |d| d.offset().local_minus_utc())
}

enum Inbox {
    Msg(Msg),
    Connected(HallpassClient, Msg),
}

type Tx = mpsc::UnboundedSender<Inbox>;

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_terminal();
                previous(info);
            }));
        });
        let terminal = take_terminal().inspect_err(|_| restore_terminal())?;
        Ok(TerminalGuard { terminal })
    }

    /// Takes the terminal back after another program (the editor) had it.
    fn resume(&mut self) -> io::Result<()> {
        self.terminal = take_terminal()?;
        Ok(())
    }
}

/// Raw mode, the alternate screen (cleared) and mouse capture, drawn through a fresh `Terminal`
/// (empty buffers, so the first frame draws everything). The screen is cleared with a command
/// rather than `Terminal::clear`, which would ask the terminal for the cursor: after the editor,
/// that answer can be lost to the wake-up a dropped `EventStream` leaves.
fn take_terminal() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    execute!(
        stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    )?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.hide_cursor()?;
    Ok(terminal)
}

/// The editor: `$VISUAL`, else `$EDITOR`, else `vi`. The shell runs it, so it may carry
/// arguments (`code --wait`), as git does.
fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

/// Runs the editor on `text` in a private temporary file (mode 0600, removed afterwards) and
/// returns what it saved. An editor that exits with an error saves nothing.
fn run_editor(text: &str) -> Result<String, String> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("hallpass-")
        .suffix(".toml")
        .tempfile()
        .map_err(|e| format!("cannot make a temporary file: {e}"))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write {}: {e}", file.path().display()))?;
    let editor = editor_command();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file.path())
        .status()
        .map_err(|e| format!("cannot run {editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}; nothing was saved"));
    }
    // Read by path: editors often save by writing a new file over the old one.
    std::fs::read_to_string(file.path())
        .map_err(|e| format!("cannot read {}: {e}", file.path().display()))
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Where the TUI logs: `$HALLPASS_TUI_LOG`, else `$XDG_STATE_HOME/hallpass/tui.log`, else
/// `~/.local/state/hallpass/tui.log`, else the temporary directory.
fn log_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HALLPASS_TUI_LOG") {
        return PathBuf::from(p);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
    match state {
        Some(s) => s.join("hallpass/tui.log"),
        None => std::env::temp_dir().join("hallpass-tui.log"),
    }
}

fn init_logging() {
    let path = log_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return; // no log file: stay silent rather than write to the terminal
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HALLPASS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// Opens the TUI against the daemon at `endpoint` (its unix socket, or a remote one with an
/// API token) and runs until the person quits.
pub async fn run(endpoint: Endpoint) -> Result<(), RunError> {
    init_logging();
    tracing::info!(daemon = %endpoint, "tui starting");
    let theme = Theme::from_no_color(std::env::var_os("NO_COLOR").as_deref());
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    let now = SystemClock.now();
    let mut app = App::new(now, utc_offset(now), theme, size.width, size.height);
    let (tx, mut rx) = mpsc::unbounded_channel::<Inbox>();
    let mut rt = Runtime {
        endpoint,
        tx,
        client: None,
        connecting: None,
        follower: None,
        cursor: Arc::new(AtomicU64::new(0)),
        caught_up: Arc::new(AtomicBool::new(false)),
    };
    rt.reconnect();
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = 'run: loop {
        if app.dirty {
            let started = Instant::now();
            if let Err(e) = guard.terminal.draw(|f| f.render_widget(&app, f.area())) {
                break Err(e.into());
            }
            app.dirty = false;
            tracing::trace!(elapsed_us = started.elapsed().as_micros() as u64, "frame");
        }
        if app.quit {
            break Ok(());
        }
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => match translate(ev) {
                    Some(m) => m,
                    None => continue,
                },
                // Dropping a stream (around the editor) wakes the shared reader once.
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(()),
            },
            Some(inbox) = rx.recv() => match inbox {
                Inbox::Msg(m) => m,
                Inbox::Connected(client, m) => {
                    rt.connected(client);
                    m
                }
            },
            _ = tick.tick() => {
                let now = SystemClock.now();
                Msg::Tick { now, utc_offset_secs: utc_offset(now) }
            }
        };
        let mut cmds: std::collections::VecDeque<Cmd> = update(&mut app, msg).into();
        while let Some(cmd) = cmds.pop_front() {
            let Cmd::Edit(draft) = cmd else {
                rt.exec(cmd);
                continue;
            };
            // Crossterm's reader must stop, or it would take the editor's keys.
            drop(events);
            restore_terminal();
            let text = draft.text.clone();
            let outcome = tokio::task::spawn_blocking(move || run_editor(&text))
                .await
                .unwrap_or_else(|e| Err(format!("the editor task failed: {e}")));
            if let Err(e) = guard.resume() {
                break 'run Err(e.into());
            }
            events = EventStream::new();
            app.dirty = true;
            cmds.extend(update(&mut app, Msg::Edited { draft, outcome }));
        }
    };
    rt.stop();
    drop(guard);
    tracing::info!("tui stopped");
    result
}

fn translate(ev: TermEvent) -> Option<Msg> {
    match ev {
        TermEvent::Key(k) => Some(Msg::Key(k)),
        TermEvent::Mouse(m) => Some(Msg::Mouse(m)),
        TermEvent::Resize(width, height) => Some(Msg::Resize { width, height }),
        _ => None,
    }
}

struct Runtime {
    endpoint: Endpoint,
    tx: Tx,
    client: Option<HallpassClient>,
    connecting: Option<JoinHandle<()>>,
    follower: Option<JoinHandle<()>>,
    /// The event cursor survives reconnects, so no event is missed or repeated.
    cursor: Arc<AtomicU64>,
    caught_up: Arc<AtomicBool>,
}

impl Runtime {
    fn reconnect(&mut self) {
        self.client = None;
        if let Some(f) = self.follower.take() {
            f.abort();
        }
        if self.connecting.as_ref().is_some_and(|c| !c.is_finished()) {
            return;
        }
        let (endpoint, tx) = (self.endpoint.clone(), self.tx.clone());
        self.connecting = Some(tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match connect(&endpoint).await {
                    Ok((client, msg)) => {
                        let _ = tx.send(Inbox::Connected(client, msg));
                        return;
                    }
                    Err((why, refused)) => {
                        tracing::warn!(%why, "connecting to hallpassd failed");
                        if tx.send(Inbox::Msg(Msg::ConnectFailed(why))).is_err() {
                            return;
                        }
                        tokio::time::sleep(delay).await;
                        // A refused API token stays refused until someone acts: retrying
                        // often would only fill the audit log and the address's budget.
                        let most = if refused {
                            Duration::from_secs(60)
                        } else {
                            Duration::from_secs(3)
                        };
                        delay = (delay * 2).min(most);
                    }
                }
            }
        }));
    }

    fn connected(&mut self, client: HallpassClient) {
        self.connecting = None;
        if let Some(f) = self.follower.take() {
            f.abort();
        }
        self.follower = Some(tokio::spawn(follow(
            client.clone(),
            self.tx.clone(),
            self.cursor.clone(),
            self.caught_up.clone(),
        )));
        self.client = Some(client);
    }

    fn stop(&mut self) {
        for h in [self.follower.take(), self.connecting.take()]
            .into_iter()
            .flatten()
        {
            h.abort();
        }
    }

    fn exec(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Reconnect => self.reconnect(),
            Cmd::Load(q) => {
                let tx = self.tx.clone();
                match self.client.clone() {
                    Some(c) => {
                        tokio::spawn(async move { load(c, q, tx).await });
                    }
                    None => match q {
                        // The credentials overlay waits for its own answer.
                        Query::Credentials(grant) => {
                            let _ = tx.send(Inbox::Msg(Msg::Reply(Reply::Credentials {
                                grant,
                                answer: Err(CallError::Transport(
                                    "not connected (reconnecting)".into(),
                                )),
                            })));
                        }
                        _ => not_connected(&tx, describe_query(&q), page_of(&q)),
                    },
                }
            }
            // The run loop owns the terminal, so it runs the editor itself.
            Cmd::Edit(_) => tracing::error!("an edit reached the runtime's executor"),
            Cmd::Act(a) => {
                let tx = self.tx.clone();
                match self.client.clone() {
                    Some(c) => {
                        tokio::spawn(async move { act(c, a, tx).await });
                    }
                    None => not_connected(&tx, describe_action(&a), None),
                }
            }
        }
    }
}

fn not_connected(tx: &Tx, what: String, page: Option<(PagedOwner, crate::paged::PageRequest)>) {
    let _ = tx.send(Inbox::Msg(Msg::Failed(Failure {
        what,
        error: CallError::Transport("not connected (reconnecting)".into()),
        page,
    })));
}

/// A connected client, or why not and whether the daemon refused the credentials.
async fn connect(endpoint: &Endpoint) -> Result<(HallpassClient, Msg), (String, bool)> {
    let (client, server) = hallpass_proto::connect(endpoint, &client_name())
        .await
        .map_err(|e| {
            let refused = matches!(
                e,
                hallpass_proto::ConnectError::Refused(
                    ApiError::TokenRefused { .. } | ApiError::RateLimited { .. }
                )
            );
            (e.to_string(), refused)
        })?;
    let whoami = client
        .whoami(ctx())
        .await
        .map_err(|e| (e.to_string(), false))?
        .map_err(|e| {
            let refused = matches!(e, ApiError::TokenRefused { .. });
            (e.to_string(), refused)
        })?;
    Ok((client, Msg::Connected { server, whoami }))
}

fn ctx() -> context::Context {
    ctx_for(CALL_DEADLINE)
}

fn ctx_for(d: Duration) -> context::Context {
    let mut c = context::current();
    c.deadline = Instant::now() + d;
    c
}

fn is_lost(e: &RpcError) -> bool {
    matches!(
        e,
        RpcError::Shutdown | RpcError::Send(_) | RpcError::Channel(_)
    )
}

/// Follows the daemon's events: first asks for the head (no history, so no toasts for the
/// past), then long-polls and forwards every batch. Reports a broken connection once and stops.
async fn follow(
    client: HallpassClient,
    tx: Tx,
    cursor: Arc<AtomicU64>,
    caught_up: Arc<AtomicBool>,
) {
    loop {
        let up = caught_up.load(Ordering::SeqCst);
        let wait = if up { EVENT_WAIT_MS } else { 0 };
        let deadline = Duration::from_millis(u64::from(wait)) + Duration::from_secs(15);
        match client
            .events_since(
                ctx_for(deadline),
                if up {
                    cursor.load(Ordering::SeqCst)
                } else {
                    FROM_NOW
                },
                500,
                wait,
            )
            .await
        {
            Ok(Ok(batch)) => {
                cursor.store(batch.cursor, Ordering::SeqCst);
                if !up {
                    caught_up.store(true, Ordering::SeqCst);
                    continue;
                }
                if !batch.events.is_empty()
                    && tx.send(Inbox::Msg(Msg::Events(batch.events))).is_err()
                {
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "events_since refused");
                let _ = tx.send(Inbox::Msg(Msg::Failed(Failure {
                    what: "following the daemon's events".into(),
                    error: CallError::Api(e),
                    page: None,
                })));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) if is_lost(&e) => {
                tracing::warn!(error = %e, "event stream lost");
                let _ = tx.send(Inbox::Msg(Msg::Disconnected(e.to_string())));
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "event poll ended without an answer; polling again")
            }
        }
    }
}

type Outcome<T> = Result<Result<T, ApiError>, RpcError>;

fn send_result<T>(
    tx: &Tx,
    r: Outcome<T>,
    what: String,
    page: Option<(PagedOwner, crate::paged::PageRequest)>,
    reply: impl FnOnce(T) -> Reply,
) {
    let msg = match r {
        Ok(Ok(v)) => Msg::Reply(reply(v)),
        Ok(Err(e)) => Msg::Failed(Failure {
            what,
            error: CallError::Api(e),
            page,
        }),
        Err(e) => {
            let lost = is_lost(&e);
            let _ = tx.send(Inbox::Msg(Msg::Failed(Failure {
                what,
                error: CallError::Transport(e.to_string()),
                page,
            })));
            if !lost {
                return;
            }
            Msg::Disconnected(e.to_string())
        }
    };
    let _ = tx.send(Inbox::Msg(msg));
}

/// Exports the audit log to a new file `name` in the working directory (never over an existing
/// one); a failed export leaves no partial file. A lost connection is reported after the reply,
/// as every other call's is.
async fn export_audit_to(tx: &Tx, c: &HallpassClient, query: AuditQuery, name: &str) {
    let mut lost = None;
    let r = write_audit_file(c, query, name, &mut lost).await;
    let _ = tx.send(Inbox::Msg(Msg::Reply(Reply::Exported(r))));
    if let Some(why) = lost {
        let _ = tx.send(Inbox::Msg(Msg::Disconnected(why)));
    }
}

async fn write_audit_file(
    c: &HallpassClient,
    query: AuditQuery,
    name: &str,
    lost: &mut Option<String>,
) -> Result<(String, u64), String> {
    let dir = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    let path = dir.join(name);
    let shown = path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot create {shown}: {e}"))?;
    let format = hallpass_core::audit_export::ExportFormat::Csv;
    let sink = std::io::BufWriter::new(file);
    match hallpass_proto::export_audit(c, ctx, query, format, sink).await {
        Ok(n) => Ok((shown, n)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            if let hallpass_proto::ExportError::Rpc(rpc) = &e
                && is_lost(rpc)
            {
                *lost = Some(rpc.to_string());
            }
            Err(e.to_string())
        }
    }
}

/// Sends every outcome of a call as the reply an overlay waits for (a refusal or a lost call
/// included), and reports a lost connection after it.
fn answer_with<T>(tx: &Tx, r: Outcome<T>, reply: impl FnOnce(Result<T, CallError>) -> Reply) {
    let lost = match &r {
        Err(e) if is_lost(e) => Some(e.to_string()),
        _ => None,
    };
    let answer = match r {
        Ok(a) => a.map_err(CallError::Api),
        Err(e) => Err(CallError::Transport(e.to_string())),
    };
    let _ = tx.send(Inbox::Msg(Msg::Reply(reply(answer))));
    if let Some(why) = lost {
        let _ = tx.send(Inbox::Msg(Msg::Disconnected(why)));
    }
}

fn page_of(q: &Query) -> Option<(PagedOwner, crate::paged::PageRequest)> {
    match q {
        Query::Users { purpose, page, .. } => Some((PagedOwner::Users(*purpose), page.clone())),
        Query::Audit { page, .. } => Some((PagedOwner::Audit, page.clone())),
        _ => None,
    }
}

pub fn describe_query(q: &Query) -> String {
    match q {
        Query::Status => "reading the daemon's status".into(),
        Query::Admins => "finding the admins".into(),
        Query::Requests { .. } => "listing requests".into(),
        Query::Grants { .. } => "listing grants".into(),
        Query::Users {
            purpose: UsersFor::Identities,
            ..
        } => "listing identities".into(),
        Query::Users { .. } => "listing users".into(),
        Query::Audit { .. } | Query::RecentActivity { .. } => "reading the audit log".into(),
        Query::Flows => "listing flows".into(),
        Query::Bundles => "listing bundles".into(),
        Query::Integrations => "listing integrations".into(),
        Query::Groups => "listing groups".into(),
        Query::VerifyAudit => "verifying the audit log".into(),
        Query::Credentials(id) => format!("reading the credentials of {id}"),
        Query::Links => "listing access links".into(),
    }
}

pub fn describe_action(a: &Action) -> String {
    match a {
        Action::Approve { id, .. } => format!("approving {id}"),
        Action::Reject { id, .. } => format!("rejecting {id}"),
        Action::Cancel(id) => format!("cancelling {id}"),
        Action::Again { id, .. } => format!("requesting {id} again"),
        Action::Submit(_) => "submitting the request".into(),
        Action::Release(id) => format!("releasing {id}"),
        Action::Revoke { id, .. } => format!("revoking {id}"),
        Action::Extend { id, .. } => format!("extending {id}"),
        Action::Invite(args) => format!("inviting {}", args.email),
        Action::SetRole { user, role } => format!("making {user} {role}"),
        Action::DeleteUser(user) => format!("deleting {user}"),
        Action::SetFlowEnabled { name, enabled } => {
            format!(
                "{} flow {name}",
                if *enabled { "enabling" } else { "disabling" }
            )
        }
        Action::CreateLink(args) => format!("creating a link for flow {}", args.flow),
        Action::RevokeLink(id) => format!("revoking link {id}"),
        Action::PlanPolicy(_) => "planning the policy change".into(),
        Action::ApplyPolicy { .. } => "applying the policy change".into(),
        Action::TestIntegration(name) => format!("testing integration {name}"),
        Action::ExportAudit { file, .. } => format!("exporting the audit log to {file}"),
    }
}

async fn load(c: HallpassClient, q: Query, tx: Tx) {
    let what = describe_query(&q);
    let page = page_of(&q);
    match q {
        Query::Status => send_result(&tx, c.status(ctx()).await, what, page, Reply::Status),
        Query::Admins => {
            // A grantee is refused, and the refusal names the admins.
            let r = c
                .list_users(
                    ctx(),
                    UserQuery {
                        limit: 1,
                        ..UserQuery::default()
                    },
                )
                .await;
            let admins = match r {
                Ok(Err(ApiError::Forbidden { admins, .. })) => admins,
                _ => vec![],
            };
            let _ = tx.send(Inbox::Msg(Msg::Reply(Reply::Admins(admins))));
        }
        Query::Requests { purpose, query } => {
            let r = c.list_requests(ctx(), query.clone()).await;
            send_result(&tx, r, what, page, |p| Reply::Requests {
                purpose,
                query,
                page: p,
            });
        }
        Query::Grants { purpose, query } => {
            let r = c.list_grants(ctx(), query.clone()).await;
            send_result(&tx, r, what, page, |p| Reply::Grants {
                purpose,
                query,
                page: p,
            });
        }
        Query::Users {
            purpose,
            page: req,
            text,
        } => {
            let query = UserQuery {
                text,
                after: req.after.clone(),
                limit: req.limit,
                ..UserQuery::default()
            };
            let r = c.list_users(ctx(), query).await;
            send_result(&tx, r, what, page, |items| Reply::Users {
                purpose,
                page: req,
                items,
            });
        }
        Query::Audit { page: req, filter } => {
            let r = c.list_audit(ctx(), filter).await;
            send_result(&tx, r, what, page, |items| Reply::Audit {
                page: req,
                items,
            });
        }
        Query::RecentActivity { since, after } => {
            let query = AuditQuery {
                since: Some(since),
                after: after.clone(),
                limit: 500,
                ..AuditQuery::default()
            };
            let r = c.list_audit(ctx(), query).await;
            send_result(&tx, r, what, page, |p| Reply::RecentActivity {
                after,
                page: p,
            });
        }
        Query::Flows => send_result(&tx, c.list_flows(ctx()).await, what, page, Reply::Flows),
        Query::Bundles => send_result(&tx, c.list_bundles(ctx()).await, what, page, Reply::Bundles),
        Query::Integrations => send_result(
            &tx,
            c.list_integrations(ctx()).await,
            what,
            page,
            Reply::Integrations,
        ),
        Query::Groups => send_result(&tx, c.list_groups(ctx()).await, what, page, Reply::Groups),
        Query::Links => send_result(
            &tx,
            c.list_links(ctx(), None).await,
            what,
            page,
            Reply::Links,
        ),
        Query::VerifyAudit => {
            let r = c.verify_audit(ctx_for(Duration::from_secs(120))).await;
            send_result(&tx, r, what, page, Reply::Verification)
        }
        Query::Credentials(grant) => {
            let r = c.grant_credentials(ctx(), grant).await;
            // Never logged: the values go straight to the overlay that asked for them.
            answer_with(&tx, r, |answer| Reply::Credentials { grant, answer });
        }
    }
}

async fn act(c: HallpassClient, a: Action, tx: Tx) {
    let what = describe_action(&a);
    let done = |d: Done| Reply::Done(d);
    match a {
        Action::Approve { id, reason } => {
            send_result(&tx, c.approve(ctx(), id, reason).await, what, None, |r| {
                done(Done::Approved(r))
            })
        }
        Action::Reject { id, reason } => {
            send_result(&tx, c.reject(ctx(), id, reason).await, what, None, |r| {
                done(Done::Rejected(r))
            })
        }
        Action::Cancel(id) => send_result(&tx, c.cancel(ctx(), id).await, what, None, |r| {
            done(Done::Cancelled(r))
        }),
        Action::Again { id, args } => send_result(
            &tx,
            c.request_again(ctx(), id, args).await,
            what,
            None,
            |r| done(Done::Submitted(r)),
        ),
        Action::Submit(args) => {
            send_result(&tx, c.submit_request(ctx(), args).await, what, None, |r| {
                done(Done::Submitted(r))
            })
        }
        Action::Release(id) => send_result(&tx, c.release(ctx(), id).await, what, None, |g| {
            done(Done::Released(g))
        }),
        Action::Revoke { id, reason } => {
            send_result(&tx, c.revoke(ctx(), id, reason).await, what, None, |g| {
                done(Done::Revoked(g))
            })
        }
        Action::Extend { id, args } => {
            send_result(&tx, c.extend(ctx(), id, args).await, what, None, |r| {
                done(Done::ExtendRequested(r))
            })
        }
        Action::Invite(args) => {
            send_result(&tx, c.invite_user(ctx(), args).await, what, None, |i| {
                done(Done::Invited(i))
            })
        }
        Action::SetRole { user, role } => send_result(
            &tx,
            c.set_role(ctx(), hallpass_proto::UserRef::Id(user), role)
                .await,
            what,
            None,
            |u| done(Done::RoleChanged(u)),
        ),
        Action::DeleteUser(user) => send_result(
            &tx,
            c.delete_user(ctx(), hallpass_proto::UserRef::Id(user))
                .await,
            what,
            None,
            |u| done(Done::Deleted(u)),
        ),
        Action::SetFlowEnabled { name, enabled } => send_result(
            &tx,
            c.set_flow_enabled(ctx(), name, enabled).await,
            what,
            None,
            |f| done(Done::FlowToggled(f)),
        ),
        Action::CreateLink(args) => {
            send_result(&tx, c.create_link(ctx(), args).await, what, None, |l| {
                done(Done::LinkCreated(l))
            })
        }
        Action::RevokeLink(id) => {
            send_result(&tx, c.revoke_link(ctx(), id).await, what, None, |l| {
                done(Done::LinkRevoked(l))
            })
        }
        Action::PlanPolicy(doc) => {
            let r = c.apply_policy(ctx(), doc, false, true, None).await;
            answer_with(&tx, r, |answer| Reply::Policy {
                applied: false,
                answer,
            });
        }
        Action::ApplyPolicy { doc, expect } => {
            let r = c.apply_policy(ctx(), doc, false, false, Some(expect)).await;
            answer_with(&tx, r, |answer| Reply::Policy {
                applied: true,
                answer,
            });
        }
        Action::ExportAudit { query, file } => {
            export_audit_to(&tx, &c, query, &file).await;
        }
        Action::TestIntegration(integration) => {
            let r = c
                .test_integration(ctx_for(Duration::from_secs(60)), integration.clone())
                .await;
            answer_with(&tx, r, |answer| Reply::Checks {
                integration,
                answer,
            });
        }
    }
}
