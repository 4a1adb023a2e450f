//! `update`: the one place the model changes. Pure: no await, no IO, no clock (time arrives in
//! `Msg::Tick`). Invariants: overlays see keys before screens, and a screen's text input before
//! global keys; every change the runtime must make is returned as a `Cmd`.

use std::time::Duration;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use hallpass_core::event::{Event, EventKind};
use hallpass_core::grant::GrantStatus;
use hallpass_core::user::Role;
use hallpass_proto::ApiError;

use crate::app::{Access, App, Connection, ScreenId, Tone};
use crate::display::{countdown, local_short, short_duration};
use crate::effect::{Cmd, GrantsFor, Query, RequestsFor, UsersFor};
use crate::layout;
use crate::message::{CallError, Done, Failure, Msg, PagedOwner, Reply};
use crate::overlay::{CredentialsState, Overlay};
use crate::screens::{
    self, approvals, audit, catalog, dashboard, identities, my_access, people, users,
};
use crate::scroll::Nav;

/// Expiry warnings, in minutes before the end.
pub const WARN_AT: [u64; 2] = [15, 5];

pub fn update(app: &mut App, msg: Msg) -> Vec<Cmd> {
    match msg {
        Msg::Key(k) => {
            if k.kind == KeyEventKind::Release {
                return vec![];
            }
            app.dirty = true;
            on_key(app, k)
        }
        Msg::Mouse(m) => on_mouse(app, m),
        Msg::Resize { width, height } => {
            app.width = width;
            app.height = height;
            app.dirty = true;
            on_resize(app)
        }
        Msg::Tick {
            now,
            utc_offset_secs,
        } => on_tick(app, now, utc_offset_secs),
        Msg::Connected { server, whoami } => {
            let first = app.server.is_none();
            let was_lost = matches!(app.conn, Connection::Lost { .. });
            app.conn = Connection::Connected;
            app.server = Some(server);
            app.me = whoami.user;
            app.signup_open = whoami.signup_open;
            app.dirty = true;
            if first {
                app.screen = app.home();
            } else if was_lost {
                app.toast(Tone::Good, "Reconnected to hallpassd.");
            }
            let mut cmds = vec![];
            if app.me.is_some() && !app.is_reader() {
                cmds.push(Cmd::Load(Query::Admins));
            }
            let screen = app.screen;
            cmds.extend(screens::load(app, screen));
            cmds
        }
        Msg::ConnectFailed(why) => {
            let attempts = match &app.conn {
                Connection::Lost { attempts, .. } => attempts + 1,
                _ => 1,
            };
            app.conn = Connection::Lost { why, attempts };
            app.dirty = true;
            vec![]
        }
        Msg::Disconnected(why) => {
            app.dirty = true;
            if matches!(app.conn, Connection::Lost { .. }) {
                return vec![];
            }
            app.conn = Connection::Lost { why, attempts: 0 };
            vec![Cmd::Reconnect]
        }
        Msg::Reply(r) => {
            app.dirty = true;
            on_reply(app, r)
        }
        Msg::Failed(f) => {
            app.dirty = true;
            on_failed(app, f);
            vec![]
        }
        Msg::Events(events) => on_events(app, events),
        Msg::Edited { draft, outcome } => crate::edit::edited(app, draft, outcome),
    }
}

fn switch(app: &mut App, screen: ScreenId) -> Vec<Cmd> {
    if app.screen == screen {
        return vec![];
    }
    app.screen = screen;
    // Big paged lists keep their place; the rest are re-read when shown.
    let loaded_before = match screen {
        ScreenId::Identities => app.identities.people.list.generation() != 0,
        ScreenId::Users => app.users.people.list.generation() != 0,
        ScreenId::Graph => app.graph.people.list.generation() != 0,
        ScreenId::Audit => app.audit.list.generation() != 0,
        _ => false,
    };
    if loaded_before {
        vec![]
    } else {
        screens::load(app, screen)
    }
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        app.quit = true;
        return vec![];
    }
    if app.overlay.is_some() {
        return crate::overlay::key(app, key);
    }
    if screens::typing(app) {
        return screens::key(app, key);
    }
    let n = ScreenId::ALL.len();
    match key.code {
        KeyCode::Char('q') => {
            app.quit = true;
            vec![]
        }
        KeyCode::Char('?') => {
            app.overlay = Some(Overlay::Help);
            vec![]
        }
        KeyCode::Tab => switch(app, ScreenId::ALL[(app.screen.index() + 1) % n]),
        KeyCode::BackTab => switch(app, ScreenId::ALL[(app.screen.index() + n - 1) % n]),
        KeyCode::Char(c @ '1'..='9') => {
            let i = (c as usize) - ('1' as usize);
            match ScreenId::ALL.get(i) {
                Some(s) => switch(app, *s),
                None => vec![],
            }
        }
        KeyCode::F(5) => refresh(app),
        KeyCode::Char('r') if ctrl => refresh(app),
        KeyCode::Esc => {
            app.status = None;
            vec![]
        }
        _ => screens::key(app, key),
    }
}

fn refresh(app: &mut App) -> Vec<Cmd> {
    let screen = app.screen;
    app.set_status(Tone::Info, "Refreshing…");
    screens::load(app, screen)
}

fn on_mouse(app: &mut App, m: MouseEvent) -> Vec<Cmd> {
    if app.overlay.is_some() || layout::too_small(app.width, app.height) {
        return vec![];
    }
    match m.kind {
        MouseEventKind::ScrollDown => {
            app.dirty = true;
            screens::nav(app, Nav::By(3))
        }
        MouseEventKind::ScrollUp => {
            app.dirty = true;
            screens::nav(app, Nav::By(-3))
        }
        MouseEventKind::Down(MouseButton::Left) => {
            if m.row == 0 {
                let hit = layout::tabs(app.width)
                    .into_iter()
                    .find(|(_, _, start, end)| (*start..*end).contains(&m.column));
                if let Some((s, ..)) = hit {
                    app.dirty = true;
                    return switch(app, s);
                }
                return vec![];
            }
            if app.access(app.screen) != Access::Allowed {
                return vec![];
            }
            let body = layout::body(app);
            // My access: a click selects the pane it lands in.
            if app.screen == ScreenId::MyAccess {
                let (grants, _) = my_access::rects(body);
                app.my.focus = if m.row < grants.y + grants.height {
                    my_access::Pane::Grants
                } else {
                    my_access::Pane::Requests
                };
            }
            let Some((rect, offset)) = screens::focused_list(app, body) else {
                return vec![];
            };
            let first = layout::table_first_row_y(rect);
            let inside = m.column >= rect.x && m.column < rect.x + rect.width;
            if inside && m.row >= first && m.row < rect.y + rect.height.saturating_sub(1) {
                app.dirty = true;
                let row = offset + usize::from(m.row - first);
                return screens::nav(app, Nav::To(row));
            }
            vec![]
        }
        // Motion and other buttons change nothing: no redraw.
        _ => vec![],
    }
}

fn on_resize(app: &mut App) -> Vec<Cmd> {
    // Keep selections visible in the new viewport; paged lists may need more rows.
    let mut cmds = vec![];
    let h = identities::height(app);
    cmds.extend(
        app.identities
            .people
            .list
            .resize(h)
            .into_iter()
            .map(|page| {
                Cmd::Load(Query::Users {
                    purpose: UsersFor::Identities,
                    text: app.identities.people.applied.clone(),
                    page,
                })
            }),
    );
    let h = users::height(app);
    cmds.extend(app.users.people.list.resize(h).into_iter().map(|page| {
        Cmd::Load(Query::Users {
            purpose: UsersFor::Users,
            text: app.users.people.applied.clone(),
            page,
        })
    }));
    approvals::nav(app, Nav::By(0));
    my_access::nav(app, Nav::By(0));
    catalog::clamp(app);
    cmds.extend(audit::nav(app, Nav::By(0)));
    cmds
}

fn on_tick(app: &mut App, now: hallpass_core::Timestamp, utc_offset_secs: i32) -> Vec<Cmd> {
    let second_changed = now.as_millis() / 1000 != app.now.as_millis() / 1000;
    app.now = now;
    if app.utc_offset_secs != utc_offset_secs {
        app.utc_offset_secs = utc_offset_secs;
        app.dirty = true;
    }
    let before = app.toasts.len();
    app.toasts.retain(|t| t.until > now);
    if app.toasts.len() != before {
        app.dirty = true;
    }
    warn_expiring(app);
    if dashboard::roll_day(app) && app.screen == ScreenId::Dashboard {
        app.dirty = true;
    }
    // Credentials of access that just ran out are no use: stop showing them.
    if let Some(Overlay::Credentials(v)) = &app.overlay
        && app
            .my
            .grants
            .iter()
            .any(|g| g.id == v.grant && my_access::seen_status(g, now) != GrantStatus::Active)
    {
        app.overlay = None;
        app.dirty = true;
    }
    let ticking = matches!(
        app.screen,
        ScreenId::Dashboard
            | ScreenId::Approvals
            | ScreenId::MyAccess
            | ScreenId::Active
            | ScreenId::Graph
    ) || matches!(app.overlay, Some(Overlay::InviteCode(_)));
    if second_changed && ticking {
        app.dirty = true;
    }
    vec![]
}

/// Toasts when one of my grants nears its end (15 and 5 minutes before).
fn warn_expiring(app: &mut App) {
    let now = app.now;
    let mut due = vec![];
    for g in &app.my.grants {
        if my_access::seen_status(g, now) != GrantStatus::Active {
            continue;
        }
        let Some(e) = g.expires_at else { continue };
        let left = now.until(e);
        // The tightest threshold crossed; earlier ones are implied.
        if let Some(&m) = WARN_AT
            .iter()
            .rev()
            .find(|&&m| left <= Duration::from_secs(m * 60))
            && !app.warned.contains(&(g.id, m))
        {
            due.push((g.id, m, g.target.to_string(), countdown(e, now)));
        }
    }
    for (id, m, target, left) in due {
        for &x in WARN_AT.iter().filter(|&&x| x >= m) {
            app.warned.insert((id, x));
        }
        app.toast(
            Tone::Warn,
            format!("Your access to {target} ends in {left}: press e on My access (3) to extend."),
        );
    }
}

fn on_reply(app: &mut App, r: Reply) -> Vec<Cmd> {
    match r {
        Reply::Status(s) => app.dashboard.status = Some(s),
        Reply::Admins(a) => app.admins = a,
        Reply::Requests {
            purpose,
            query,
            page,
        } => {
            return match purpose {
                RequestsFor::ToApprove => approvals::accept(app, query, page),
                RequestsFor::Mine => my_access::accept_requests(app, query, page),
                RequestsFor::AllPending => dashboard::accept_pending(app, query, page),
                RequestsFor::Stats => dashboard::accept_stats(app, &query, page),
            };
        }
        Reply::Grants {
            purpose,
            query,
            page,
        } => {
            return match purpose {
                GrantsFor::Mine => {
                    let cmds = my_access::accept_grants(app, query, page);
                    warn_expiring(app);
                    cmds
                }
                GrantsFor::Live => screens::active::accept(app, query, page),
                GrantsFor::Failures => dashboard::accept_failures(app, query, page),
            };
        }
        Reply::Users {
            purpose,
            page,
            items,
        } => {
            let h = match purpose {
                UsersFor::Identities => identities::height(app),
                UsersFor::Users => users::height(app),
                UsersFor::Graph => screens::graph::height(app),
            };
            return people::accept(app, purpose, page, items, h);
        }
        Reply::Audit { page, items } => return audit::accept(app, page, items),
        Reply::RecentActivity { after, page } => return dashboard::accept_recent(app, after, page),
        Reply::Flows(mut flows) => {
            flows.sort_by(|a, b| a.flow.name.cmp(&b.flow.name));
            app.flows = flows;
            catalog::clamp(app);
        }
        Reply::Bundles(b) => {
            app.catalog.bundles = b;
            catalog::clamp(app);
        }
        Reply::Integrations(i) => {
            app.catalog.integrations = i;
            catalog::clamp(app);
        }
        Reply::Groups(g) => app.graph.groups = g,
        Reply::Links(l) => app.catalog.links = l,
        Reply::Verification(v) => {
            app.audit.verification = Some(v);
            app.audit.verifying = false;
        }
        Reply::Credentials { grant, answer } => on_credentials(app, grant, answer),
        Reply::Policy { applied, answer } => return crate::edit::answered(app, applied, answer),
        Reply::Checks {
            integration,
            answer,
        } => catalog::accept_checks(app, integration, answer),
        Reply::Exported(Ok((path, n))) => {
            app.status = None;
            app.toast(
                Tone::Good,
                format!("Exported {n} audit event(s) to {path}."),
            );
        }
        Reply::Exported(Err(why)) => {
            app.set_status(Tone::Bad, format!("Exporting the audit log failed: {why}"))
        }
        Reply::Done(d) => return on_done(app, d),
    }
    vec![]
}

/// Puts the credentials into the overlay that asked for them. When that overlay is gone
/// (closed while loading) or shows another grant, the answer is dropped: credentials are kept
/// nowhere else.
fn on_credentials(
    app: &mut App,
    grant: hallpass_core::GrantId,
    answer: Result<hallpass_core::credential::Credentials, CallError>,
) {
    let Some(Overlay::Credentials(view)) = &mut app.overlay else {
        return;
    };
    if view.grant != grant || !matches!(view.state, CredentialsState::Loading) {
        return;
    }
    view.state = match answer {
        Ok(c) => CredentialsState::Shown(c),
        Err(e) => CredentialsState::Unavailable(e),
    };
}

/// Reloads whichever of `screens` is showing.
fn reload_current(app: &mut App, which: &[ScreenId]) -> Vec<Cmd> {
    let s = app.screen;
    if !which.contains(&s) {
        return vec![];
    }
    match s {
        ScreenId::Dashboard => dashboard::refresh(app),
        ScreenId::Audit => audit::refresh_tail(app),
        _ => screens::load(app, s),
    }
}

const LIFECYCLE: [ScreenId; 5] = [
    ScreenId::Dashboard,
    ScreenId::Approvals,
    ScreenId::MyAccess,
    ScreenId::Active,
    ScreenId::Graph,
];

fn on_done(app: &mut App, d: Done) -> Vec<Cmd> {
    app.status = None;
    let people_screens = [ScreenId::Users, ScreenId::Identities];
    match d {
        Done::Approved(r) => {
            let text = if r.status == hallpass_core::request::RequestStatus::Approved {
                format!("Approved {} for {}.", r.id, r.requester.email)
            } else {
                format!(
                    "Approval recorded for {} ({} of {}).",
                    r.id,
                    r.approvals.len(),
                    approvals::needed(&r).max(1)
                )
            };
            app.toast(Tone::Good, text);
            // Off the list at once; the reload confirms.
            app.approvals.rows.retain(|x| x.id != r.id || r.can_decide);
            approvals::nav(app, Nav::By(0));
            reload_current(app, &LIFECYCLE)
        }
        Done::Rejected(r) => {
            app.toast(
                Tone::Good,
                format!("Rejected {} from {}.", r.id, r.requester.email),
            );
            app.approvals.rows.retain(|x| x.id != r.id);
            approvals::nav(app, Nav::By(0));
            reload_current(app, &LIFECYCLE)
        }
        Done::Cancelled(r) => {
            app.toast(Tone::Info, format!("Cancelled {}.", r.id));
            reload_current(app, &LIFECYCLE)
        }
        Done::Submitted(r) => {
            app.toast(Tone::Good, format!("Requested {}: {}.", r.id, r.status));
            app.my.focus = my_access::Pane::Requests;
            app.my.request_scroll = Default::default();
            reload_current(app, &LIFECYCLE)
        }
        Done::Released(g) => {
            app.toast(Tone::Info, format!("Released {} ({}).", g.id, g.target));
            reload_current(app, &LIFECYCLE)
        }
        Done::Revoked(g) => {
            app.toast(
                Tone::Info,
                format!("Revoking {}: {} on {}.", g.id, g.user.email, g.target),
            );
            reload_current(app, &LIFECYCLE)
        }
        Done::ExtendRequested(r) => {
            app.toast(Tone::Good, format!("Extension {}: {}.", r.id, r.status));
            reload_current(app, &LIFECYCLE)
        }
        Done::Invited(c) => {
            app.overlay = Some(Overlay::InviteCode(c));
            reload_current(app, &people_screens)
        }
        Done::RoleChanged(u) => {
            app.toast(Tone::Good, format!("{} is now {}.", u.email, u.role));
            reload_current(app, &people_screens)
        }
        Done::Deleted(u) => {
            app.toast(Tone::Info, format!("Deleted {}.", u.email));
            reload_current(app, &people_screens)
        }
        Done::LinkCreated(l) => {
            app.overlay = Some(Overlay::LinkUrl(l));
            vec![Cmd::Load(Query::Links)]
        }
        Done::LinkRevoked(l) => {
            app.toast(
                Tone::Info,
                format!(
                    "Revoked link {} of flow {} (used {}).",
                    l.id, l.flow, l.uses
                ),
            );
            vec![Cmd::Load(Query::Links)]
        }
        Done::FlowToggled(f) => {
            app.toast(
                Tone::Good,
                format!(
                    "Flow {} {}.",
                    f.name,
                    if f.enabled { "enabled" } else { "disabled" }
                ),
            );
            vec![Cmd::Load(Query::Flows)]
        }
    }
}

fn on_failed(app: &mut App, f: Failure) {
    match f.page {
        Some((PagedOwner::Users(w), p)) => {
            people::of_mut(app, w).list.failed(p.generation, p.index)
        }
        Some((PagedOwner::Audit, p)) => app.audit.list.failed(p.generation, p.index),
        None => {}
    }
    if f.what.contains("audit log") {
        app.audit.verifying = false;
    }
    if let CallError::Api(ApiError::Forbidden { admins, .. }) = &f.error
        && !admins.is_empty()
    {
        app.admins = admins.clone();
    }
    app.set_status(Tone::Bad, format!("{}: {}", f.what, f.error));
}

fn mine(app: &App, user: hallpass_core::UserId) -> bool {
    app.me.as_ref().is_some_and(|m| m.id == user)
}

fn my_request(app: &App, id: hallpass_core::RequestId) -> bool {
    app.my.requests.iter().any(|r| r.id == id)
}

fn on_events(app: &mut App, events: Vec<Event>) -> Vec<Cmd> {
    if events.is_empty() {
        return vec![];
    }
    app.dirty = true;
    let me = app.me.as_ref().map(|m| m.id);
    let (mut lifecycle, mut people_changed, mut policy) = (false, false, false);
    for e in &events {
        match &e.kind {
            EventKind::RequestSubmitted {
                request,
                requester,
                requester_email,
                approvers,
                targets,
                ..
            } => {
                lifecycle = true;
                dashboard::count_submitted(app, e.at, targets);
                if me.is_some_and(|m| approvers.contains(&m) && m != *requester) {
                    let what = targets.first().map(ToString::to_string).unwrap_or_default();
                    app.toast(
                        Tone::Info,
                        format!(
                            "{request} from {requester_email} waits for you: {what}. Approvals (2)."
                        ),
                    );
                }
            }
            EventKind::RequestApproved {
                request,
                by,
                complete,
            } => {
                lifecycle = true;
                if my_request(app, *request) && Some(*by) != me {
                    app.toast(
                        Tone::Good,
                        if *complete {
                            format!("{request} was approved.")
                        } else {
                            format!("{request} has a new approval.")
                        },
                    );
                }
            }
            EventKind::RequestRejected {
                request,
                by,
                reason,
            } => {
                lifecycle = true;
                if my_request(app, *request) && Some(*by) != me {
                    app.toast(
                        Tone::Bad,
                        match reason {
                            Some(r) => format!("{request} was rejected: {r}"),
                            None => format!("{request} was rejected."),
                        },
                    );
                }
            }
            EventKind::RequestCancelled { .. } => lifecycle = true,
            EventKind::RequestTimedOut { request } => {
                lifecycle = true;
                if my_request(app, *request) {
                    app.toast(
                        Tone::Warn,
                        format!("{request} timed out waiting for approval."),
                    );
                }
            }
            EventKind::GrantActivated {
                user,
                target,
                expires_at,
                ..
            } => {
                lifecycle = true;
                if mine(app, *user) {
                    let until = local_short(*expires_at, app.now, app.utc_offset_secs);
                    app.toast(
                        Tone::Good,
                        format!("Access active: {target} until {until}."),
                    );
                }
            }
            EventKind::GrantFailed {
                user,
                target,
                error,
                ..
            } => {
                lifecycle = true;
                if mine(app, *user) || app.is_reader() {
                    app.toast(Tone::Bad, format!("Granting {target} failed: {error}"));
                }
            }
            EventKind::GrantExtended {
                user, expires_at, ..
            } => {
                lifecycle = true;
                if mine(app, *user) {
                    let until = local_short(*expires_at, app.now, app.utc_offset_secs);
                    app.toast(Tone::Good, format!("Access extended until {until}."));
                }
            }
            EventKind::GrantExpiringSoon {
                grant,
                user,
                target,
                expires_at,
            } => {
                if mine(app, *user) {
                    let left = short_duration(e.at.until(*expires_at));
                    let until = local_short(*expires_at, app.now, app.utc_offset_secs);
                    app.toast(
                        Tone::Warn,
                        format!("{target} ends in {left} ({until}); extend: 3, then e on {grant}."),
                    );
                }
            }
            EventKind::GrantEnded {
                grant,
                user,
                target,
                reason,
            } => {
                lifecycle = true;
                // Ended access has no credentials: stop showing them.
                if matches!(&app.overlay, Some(Overlay::Credentials(v)) if v.grant == *grant) {
                    app.overlay = None;
                }
                if mine(app, *user) {
                    app.toast(Tone::Info, format!("Access to {target} ended: {reason}."));
                }
            }
            EventKind::GrantRevokeFailed {
                grant,
                target,
                attempts,
                ..
            } => {
                lifecycle = true;
                if app.is_reader() {
                    app.toast(
                        Tone::Bad,
                        format!("Revoking {grant} ({target}) keeps failing ({attempts} attempts); still retrying."),
                    );
                }
            }
            EventKind::UserInvited { .. }
            | EventKind::UserJoined { .. }
            | EventKind::UserDeleted { .. } => {
                people_changed = true;
            }
            EventKind::UserRoleChanged { user, role } => {
                people_changed = true;
                if mine(app, *user) {
                    app.toast(
                        Tone::Warn,
                        format!("Your role is now {role}; restart the TUI to see its screens."),
                    );
                }
            }
            EventKind::PolicyChanged { .. } => policy = true,
            EventKind::IdentitySynced {
                source,
                added,
                updated,
                deactivated,
                error,
            } => {
                people_changed = true;
                if app.me.as_ref().is_some_and(|m| m.role == Role::Admin) {
                    match error {
                        Some(why) => app.toast(
                            Tone::Bad,
                            format!("Identity sync `{source}` changed nothing: {why}"),
                        ),
                        None if added + updated + deactivated > 0 => app.toast(
                            Tone::Info,
                            format!(
                                "Identity sync `{source}`: {added} added, {updated} updated, {deactivated} deactivated."
                            ),
                        ),
                        None => {}
                    }
                }
            }
            EventKind::EligibilityLost {
                user,
                flow,
                why,
                kept,
            } => {
                lifecycle = true;
                if mine(app, *user) {
                    app.toast(
                        Tone::Warn,
                        if *kept {
                            format!("You no longer qualify for flow {flow} ({why}); your access stays for now.")
                        } else {
                            format!("You no longer qualify for flow {flow} ({why}); that access is being removed.")
                        },
                    );
                }
            }
            EventKind::DriftDetected {
                integration,
                leftovers,
                missing,
            } => {
                if app.me.as_ref().is_some_and(|m| m.role == Role::Admin) {
                    app.toast(
                        Tone::Bad,
                        format!(
                            "Drift on {integration}: {leftovers} leftover, {missing} missing. Run `hallpass drift`."
                        ),
                    );
                }
            }
        }
    }
    let mut cmds = vec![];
    if lifecycle {
        cmds.extend(reload_current(app, &LIFECYCLE));
    }
    if people_changed {
        cmds.extend(reload_current(app, &[ScreenId::Users]));
    }
    if policy {
        cmds.push(Cmd::Load(Query::Flows));
    }
    if app.screen == ScreenId::Audit && app.access(ScreenId::Audit) == Access::Allowed {
        cmds.extend(audit::refresh_tail(app));
    }
    cmds
}
