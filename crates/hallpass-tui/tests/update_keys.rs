//! `update` unit tests: every screen's keys yield the right effects for the selected row, with
//! fixed data and a fixed clock (no terminal, no daemon).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use hallpass_core::audit::Source;
use hallpass_core::credential::Credentials;
use hallpass_core::event::{Event, EventKind};
use hallpass_core::user::Role;
use hallpass_core::{GrantId, RequestId, UserId};
use hallpass_proto::{ApiError, ExtendArgs};
use hallpass_tui::app::{Access, Connection};
use hallpass_tui::effect::{Action, Cmd, Query, UsersFor};
use hallpass_tui::fixture::{self, NOW};
use hallpass_tui::message::{CallError, Reply};
use hallpass_tui::overlay::{CredentialsState, CredentialsView, MASK, Overlay};
use hallpass_tui::screens::dashboard::DAYS;
use hallpass_tui::{App, Msg, ScreenId, Theme, update};

const THEME: Theme = Theme { color: true };

fn admin() -> App {
    fixture::app(fixture::ada(), 120, 40, THEME)
}

fn grace() -> App {
    fixture::app(fixture::grace(), 120, 40, THEME)
}

fn key(app: &mut App, code: KeyCode) -> Vec<Cmd> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(app: &mut App, c: char) -> Vec<Cmd> {
    key(app, KeyCode::Char(c))
}

fn ctrl(app: &mut App, c: char) -> Vec<Cmd> {
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

fn typed(app: &mut App, s: &str) -> Vec<Cmd> {
    s.chars().flat_map(|c| ch(app, c)).collect()
}

fn acts(cmds: &[Cmd]) -> Vec<Action> {
    cmds.iter()
        .filter_map(|c| match c {
            Cmd::Act(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn goto(app: &mut App, s: ScreenId) -> Vec<Cmd> {
    ch(app, char::from(b'1' + s.index() as u8))
}

#[test]
fn admins_land_on_the_dashboard_and_grantees_on_my_access() {
    assert_eq!(admin().screen, ScreenId::Dashboard);
    assert_eq!(grace().screen, ScreenId::MyAccess);
}

#[test]
fn a_approves_the_selected_pending_request() {
    let mut app = admin();
    goto(&mut app, ScreenId::Approvals);
    let cmds = ch(&mut app, 'a');
    assert_eq!(
        acts(&cmds),
        [Action::Approve {
            id: RequestId(1001),
            reason: None
        }]
    );
    // The next row down.
    ch(&mut app, 'j');
    let cmds = ch(&mut app, 'a');
    assert_eq!(
        acts(&cmds),
        [Action::Approve {
            id: RequestId(1002),
            reason: None
        }]
    );
}

#[test]
fn r_then_reason_then_enter_rejects() {
    let mut app = admin();
    goto(&mut app, ScreenId::Approvals);
    key(&mut app, KeyCode::End);
    assert!(acts(&ch(&mut app, 'r')).is_empty());
    assert!(matches!(app.overlay, Some(Overlay::Prompt(_))));
    // Keys go to the prompt, not to the screen or the global keys.
    assert!(acts(&typed(&mut app, "use the replica q")).is_empty());
    assert!(!app.quit);
    let cmds = key(&mut app, KeyCode::Enter);
    assert_eq!(
        acts(&cmds),
        [Action::Reject {
            id: RequestId(1003),
            reason: Some("use the replica q".into())
        }]
    );
    assert!(app.overlay.is_none());
    // Two keystrokes when no reason is needed.
    ch(&mut app, 'r');
    let cmds = key(&mut app, KeyCode::Enter);
    assert_eq!(
        acts(&cmds),
        [Action::Reject {
            id: RequestId(1003),
            reason: None
        }]
    );
}

#[test]
fn capital_a_asks_for_a_reason_and_esc_cancels() {
    let mut app = admin();
    goto(&mut app, ScreenId::Approvals);
    ch(&mut app, 'A');
    assert!(matches!(app.overlay, Some(Overlay::Prompt(_))));
    let cmds = key(&mut app, KeyCode::Esc);
    assert!(cmds.is_empty());
    assert!(app.overlay.is_none());
}

#[test]
fn a_request_i_cannot_decide_on_is_not_sent() {
    let mut app = admin();
    goto(&mut app, ScreenId::Approvals);
    app.approvals.rows[0].can_decide = false;
    assert!(acts(&ch(&mut app, 'a')).is_empty());
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.text.contains("HP-1001"))
    );
}

#[test]
fn my_access_extend_release_cancel_again() {
    let mut app = grace();
    // First grant is the active one (soonest deadline first).
    ch(&mut app, 'e');
    let Some(Overlay::Prompt(_)) = &app.overlay else {
        panic!("extend prompt")
    };
    let cmds = key(&mut app, KeyCode::Enter);
    assert_eq!(
        acts(&cmds),
        [Action::Extend {
            id: GrantId(11),
            args: ExtendArgs {
                duration_secs: 3600,
                reason: None,
                source: Source::Tui
            }
        }]
    );
    ch(&mut app, 'x');
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
    assert_eq!(acts(&ch(&mut app, 'y')), [Action::Release(GrantId(11))]);
    // Requests pane: newest first (HP-1001 pending, HP-1000 approved, HP-995 rejected).
    key(&mut app, KeyCode::Right);
    ch(&mut app, 'c');
    assert_eq!(
        acts(&key(&mut app, KeyCode::Enter)),
        [Action::Cancel(RequestId(1001))]
    );
    key(&mut app, KeyCode::End);
    let cmds = ch(&mut app, 'R');
    assert!(matches!(
        acts(&cmds).as_slice(),
        [Action::Again {
            id: RequestId(995),
            ..
        }]
    ));
    // A pending request cannot be requested again; an ended grant cannot be released.
    key(&mut app, KeyCode::Home);
    assert!(acts(&ch(&mut app, 'R')).is_empty());
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::End);
    assert!(acts(&ch(&mut app, 'x')).is_empty());
    assert!(app.overlay.is_none());
}

#[test]
fn new_request_form_validates_inline_and_submits() {
    let mut app = grace();
    ch(&mut app, 'n');
    let Some(Overlay::RequestForm(f)) = &app.overlay else {
        panic!("request form")
    };
    assert_eq!(f.flows.len(), 2, "only flows Grace may request through");
    // flow db-read → what: first resource → duration too long → error shown, nothing sent.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Right); // pg-prod/billing/read
    key(&mut app, KeyCode::Tab);
    ctrl(&mut app, 'u');
    typed(&mut app, "9h");
    let Some(Overlay::RequestForm(f)) = &app.overlay else {
        panic!("request form")
    };
    assert!(
        f.errors().iter().any(|(_, e)| e.contains("at most 4h")),
        "{:?}",
        f.errors()
    );
    assert!(acts(&ctrl(&mut app, 's')).is_empty());
    ctrl(&mut app, 'u');
    typed(&mut app, "2h");
    key(&mut app, KeyCode::Tab);
    // The reason is required by this flow.
    assert!(acts(&key(&mut app, KeyCode::Enter)).is_empty());
    typed(&mut app, "OPS-91");
    let cmds = key(&mut app, KeyCode::Enter);
    let r = match acts(&cmds).as_slice() {
        [Action::Submit(r)] => r.clone(),
        other => panic!("expected one submit: {other:?}"),
    };
    assert_eq!(r.flow.as_str(), "db-read");
    assert_eq!(r.targets, vec![fixture::target("pg-prod/billing/read")]);
    assert_eq!(r.duration_secs, Some(7200));
    assert_eq!(r.reason.as_deref(), Some("OPS-91"));
    assert_eq!(r.source, Source::Tui);
}

#[test]
fn active_access_filters_and_revokes_the_highlighted_grant() {
    let mut app = admin();
    goto(&mut app, ScreenId::Active);
    ch(&mut app, '/');
    typed(&mut app, "linus");
    assert!(!app.quit);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.active.shown().len(), 1);
    ch(&mut app, 'x');
    let cmds = key(&mut app, KeyCode::Enter);
    assert_eq!(
        acts(&cmds),
        [Action::Revoke {
            id: GrantId(13),
            reason: None
        }]
    );
}

#[test]
fn identities_filter_queries_the_daemon_as_you_type() {
    let mut app = admin();
    goto(&mut app, ScreenId::Identities);
    ch(&mut app, '/');
    let cmds = ch(&mut app, 'g');
    let gen_g = match cmds.as_slice() {
        [
            Cmd::Load(Query::Users {
                purpose: UsersFor::Identities,
                page,
                text,
            }),
        ] => {
            assert_eq!(text.as_deref(), Some("g"));
            assert_eq!(page.index, 0);
            page.generation
        }
        other => panic!("expected one users query, got {other:?}"),
    };
    let cmds = ch(&mut app, 'r');
    let Cmd::Load(Query::Users { page, text, .. }) = &cmds[0] else {
        panic!("{cmds:?}")
    };
    assert_eq!(text.as_deref(), Some("gr"));
    assert!(
        page.generation > gen_g,
        "a new filter starts a new generation"
    );
    // A late page for "g" is ignored.
    update(
        &mut app,
        fixture::synthetic_reply(
            100,
            UsersFor::Identities,
            hallpass_tui::paged::PageRequest {
                generation: gen_g,
                index: 0,
                after: None,
                limit: 500,
            },
            None,
        ),
    );
    assert!(app.identities.people.list.is_loading());
}

#[test]
fn identities_page_through_the_daemon_on_end() {
    let mut app = admin();
    goto(&mut app, ScreenId::Identities);
    // Reload against 2,000 synthetic people.
    let mut cmds = ch(&mut app, '/');
    cmds.extend(ch(&mut app, 'x'));
    cmds.extend(key(&mut app, KeyCode::Backspace));
    key(&mut app, KeyCode::Enter);
    let mut served = 0;
    let mut queue: Vec<Cmd> = cmds;
    let mut end_pressed = false;
    loop {
        while let Some(c) = queue.pop() {
            if let Cmd::Load(Query::Users {
                purpose,
                page,
                text,
            }) = c
            {
                served += 1;
                queue.extend(update(
                    &mut app,
                    fixture::synthetic_reply(2_000, purpose, page, text.as_deref()),
                ));
            }
        }
        if end_pressed {
            break;
        }
        end_pressed = true;
        queue = key(&mut app, KeyCode::End);
    }
    let list = &app.identities.people.list;
    assert!(list.is_complete());
    assert_eq!(list.len(), 2_000);
    assert_eq!(list.selected().map(|u| u.id), Some(UserId(2_000)));
    assert!(served >= 4, "{served} pages");
}

#[test]
fn users_invite_role_and_delete() {
    let mut app = admin();
    goto(&mut app, ScreenId::Users);
    ch(&mut app, 'i');
    typed(&mut app, "new@example.com");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Right); // grantee → auditor
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "New Person");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "call me");
    assert!(
        acts(&key(&mut app, KeyCode::Enter)).is_empty(),
        "a bad phone is refused inline"
    );
    ctrl(&mut app, 'u');
    let cmds = key(&mut app, KeyCode::Enter);
    let args = match acts(&cmds).as_slice() {
        [Action::Invite(a)] => a.clone(),
        other => panic!("expected one invite: {other:?}"),
    };
    assert_eq!(
        (
            args.email.as_str(),
            args.role,
            args.name.as_str(),
            args.phone.clone()
        ),
        ("new@example.com", Role::Auditor, "New Person", None)
    );

    // Second row: Grace.
    ch(&mut app, 'j');
    ch(&mut app, 'o');
    ch(&mut app, 'k'); // grantee → admin
    assert_eq!(
        acts(&key(&mut app, KeyCode::Enter)),
        [Action::SetRole {
            user: UserId(2),
            role: Role::Admin
        }]
    );
    ch(&mut app, 'D');
    assert_eq!(acts(&ch(&mut app, 'y')), [Action::DeleteUser(UserId(2))]);
}

#[test]
fn catalog_switches_tabs_and_toggles_flows() {
    let mut app = admin();
    goto(&mut app, ScreenId::Catalog);
    let cmds = ch(&mut app, 'e');
    assert_eq!(
        acts(&cmds),
        [Action::SetFlowEnabled {
            name: "db-read".parse().expect("name"),
            enabled: false
        }]
    );
    ch(&mut app, 'l');
    assert_eq!(
        app.catalog.tab,
        hallpass_tui::screens::catalog::Tab::Bundles
    );
    assert!(
        acts(&ch(&mut app, 'e')).is_empty(),
        "bundles have no enable switch"
    );
}

#[test]
fn audit_time_window_filter_and_verify() {
    let mut app = admin();
    goto(&mut app, ScreenId::Audit);
    let cmds = ch(&mut app, 't');
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Load(Query::Audit { filter, .. }) if filter.since.is_none())),
        "{cmds:?}"
    );
    assert!(cmds.contains(&Cmd::Load(Query::VerifyAudit)));
    ch(&mut app, '/');
    typed(&mut app, "grace@example.com");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "request.");
    let cmds = key(&mut app, KeyCode::Enter);
    let filter = cmds
        .iter()
        .find_map(|c| match c {
            Cmd::Load(Query::Audit { filter, .. }) => Some(filter.clone()),
            _ => None,
        })
        .expect("an audit query");
    assert_eq!(
        filter.person,
        Some(hallpass_proto::UserRef::Email("grace@example.com".into()))
    );
    assert_eq!(filter.action.as_deref(), Some("request."));
    assert_eq!(ch(&mut app, 'v'), [Cmd::Load(Query::VerifyAudit)]);

    // x asks first, then exports exactly the filter in force, from the start.
    assert!(ch(&mut app, 'x').is_empty());
    assert!(screen_text(&app).contains("person: grace@example.com"));
    let cmds = key(&mut app, KeyCode::Enter);
    let sent = acts(&cmds);
    let [Action::ExportAudit { query, file }] = sent.as_slice() else {
        panic!("expected an export: {cmds:?}");
    };
    assert_eq!(query.person, filter.person);
    assert_eq!((query.after.as_deref(), query.since), (None, filter.since));
    assert!(
        file.starts_with("hallpass-audit-") && file.ends_with(".csv"),
        "{file}"
    );
    update(
        &mut app,
        Msg::Reply(Reply::Exported(Ok(("/tmp/x.csv".into(), 12)))),
    );
    assert!(app.toasts.iter().any(|t| t.text.contains("Exported 12")));
    update(
        &mut app,
        Msg::Reply(Reply::Exported(Err(
            "cannot create /tmp/x.csv: exists".into()
        ))),
    );
    assert!(app.status.as_ref().expect("status").text.contains("exists"));
}

#[test]
fn graph_by_person_and_by_resource() {
    let mut app = admin();
    goto(&mut app, ScreenId::Graph);
    let nodes = hallpass_tui::screens::graph::by_person(&app, &fixture::grace());
    let text: Vec<String> = nodes.iter().map(|n| n.text.clone()).collect();
    assert!(text.contains(&"group eng".to_string()), "{text:?}");
    assert!(
        text.contains(&"flow db-read (any-of)".to_string()),
        "{text:?}"
    );
    assert!(
        !text.iter().any(|t| t.contains("prod-write")),
        "Grace is not in oncall: {text:?}"
    );
    let active: Vec<&str> = nodes
        .iter()
        .filter(|n| n.active.is_some())
        .map(|n| n.text.as_str())
        .collect();
    assert_eq!(active, ["ssh-staging/web/login"]);
    ch(&mut app, 'm');
    assert_eq!(
        app.graph.mode,
        hallpass_tui::screens::graph::Mode::ByResource
    );
    let nodes =
        hallpass_tui::screens::graph::by_resource(&app, &fixture::target("pg-prod/orders/read"));
    let text: Vec<String> = nodes.iter().map(|n| n.text.clone()).collect();
    assert!(text.contains(&"alan@example.com".to_string()), "{text:?}");
    assert!(
        text.iter()
            .any(|t| t.starts_with("active now: alan@example.com")),
        "{text:?}"
    );
}

#[test]
fn global_keys_switch_help_and_quit() {
    let mut app = admin();
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, ScreenId::Approvals);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.screen, ScreenId::Dashboard);
    ch(&mut app, '?');
    assert!(matches!(app.overlay, Some(Overlay::Help)));
    ch(&mut app, '5');
    assert_eq!(
        app.screen,
        ScreenId::Dashboard,
        "the overlay takes the keys"
    );
    key(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none());
    ch(&mut app, 'q');
    assert!(app.quit);
    let mut app = admin();
    ctrl(&mut app, 'c');
    assert!(app.quit);
}

#[test]
fn grantees_get_a_friendly_refusal_and_no_admin_calls() {
    let mut app = grace();
    let cmds = goto(&mut app, ScreenId::Dashboard);
    assert!(cmds.is_empty(), "{cmds:?}");
    assert_eq!(app.access(ScreenId::Dashboard), Access::ReadersOnly);
    assert!(goto(&mut app, ScreenId::Users).is_empty());
    assert!(ch(&mut app, 'i').is_empty());
    assert!(app.overlay.is_none());
    // Approvals work for grantees (managers approve).
    assert!(!goto(&mut app, ScreenId::Approvals).is_empty());
}

#[test]
fn events_toast_and_reload_the_screen() {
    let mut app = admin();
    goto(&mut app, ScreenId::Approvals);
    let ev = Event {
        seq: 99,
        at: NOW,
        kind: EventKind::RequestSubmitted {
            request: RequestId(1004),
            requester: UserId(3),
            requester_email: "alan@example.com".into(),
            flow: "db-read".parse().expect("flow"),
            targets: vec![fixture::target("pg-prod/orders/read")],
            duration: Duration::from_secs(3600),
            reason: "x".into(),
            approvers: vec![UserId(1)],
        },
        audience: Default::default(),
    };
    let stats = &app.dashboard.stats;
    assert!(stats.done, "the fixture's statistics pass has finished");
    let (today, orders) = (
        stats.per_day[DAYS - 1],
        stats
            .by_target
            .get("pg-prod/orders/read")
            .copied()
            .unwrap_or(0),
    );
    let cmds = update(&mut app, Msg::Events(vec![ev]));
    // The dashboard's counts follow without a reload.
    let stats = &app.dashboard.stats;
    assert_eq!(stats.per_day[DAYS - 1], today + 1);
    assert_eq!(stats.by_target["pg-prod/orders/read"], orders + 1);
    let before = stats.per_day;
    assert!(
        app.toasts.iter().any(|t| t.text.contains("HP-1004")),
        "{:?}",
        app.toasts
    );
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Load(Query::Requests { .. }))),
        "{cmds:?}"
    );
    // Toasts go away with time.
    update(
        &mut app,
        Msg::Tick {
            now: NOW.plus(Duration::from_secs(10)),
            utc_offset_secs: 0,
        },
    );
    assert!(app.toasts.is_empty());
    // At local midnight the sparkline moves on a day.
    update(
        &mut app,
        Msg::Tick {
            now: NOW.plus(Duration::from_secs(86_400)),
            utc_offset_secs: 0,
        },
    );
    let after = app.dashboard.stats.per_day;
    assert_eq!(after[..DAYS - 1], before[1..], "{before:?} → {after:?}");
    assert_eq!(after[DAYS - 1], 0);
}

#[test]
fn a_lost_connection_shows_and_reconnects_once() {
    let mut app = admin();
    let cmds = update(&mut app, Msg::Disconnected("socket closed".into()));
    assert_eq!(cmds, [Cmd::Reconnect]);
    assert!(matches!(app.conn, Connection::Lost { .. }));
    assert!(update(&mut app, Msg::Disconnected("again".into())).is_empty());
    update(&mut app, Msg::ConnectFailed("refused".into()));
    assert!(matches!(app.conn, Connection::Lost { attempts: 1, .. }));
    fixture::connect(&mut app, fixture::ada());
    assert_eq!(app.conn, Connection::Connected);
    assert!(app.toasts.iter().any(|t| t.text.contains("Reconnected")));
}

#[test]
fn expiring_access_warns_once_per_threshold() {
    let mut app = grace();
    // G-11 has 4 minutes left at NOW: the 5-minute warning (and not the 15 one after it).
    let warned = app
        .toasts
        .iter()
        .filter(|t| t.text.contains("ssh-staging/web/login"))
        .count();
    assert_eq!(warned, 1, "{:?}", app.toasts);
    update(
        &mut app,
        Msg::Tick {
            now: NOW.plus(Duration::from_secs(1)),
            utc_offset_secs: 0,
        },
    );
    let warned = app
        .toasts
        .iter()
        .filter(|t| t.text.contains("ssh-staging/web/login"))
        .count();
    assert_eq!(warned, 1);
}

#[test]
fn ticks_redraw_only_where_time_shows() {
    let mut app = admin();
    goto(&mut app, ScreenId::Identities);
    app.dirty = false;
    app.toasts.clear();
    update(
        &mut app,
        Msg::Tick {
            now: NOW.plus(Duration::from_secs(20)),
            utc_offset_secs: 0,
        },
    );
    assert!(!app.dirty, "nothing on Identities depends on the clock");
    goto(&mut app, ScreenId::MyAccess);
    app.dirty = false;
    update(
        &mut app,
        Msg::Tick {
            now: NOW.plus(Duration::from_secs(21)),
            utc_offset_secs: 0,
        },
    );
    assert!(app.dirty, "countdowns tick");
    // Mouse motion changes nothing.
    app.dirty = false;
    let moved = MouseEvent {
        kind: MouseEventKind::Moved,
        column: 3,
        row: 3,
        modifiers: KeyModifiers::NONE,
    };
    assert!(update(&mut app, Msg::Mouse(moved)).is_empty());
    assert!(!app.dirty);
}

#[test]
fn mouse_clicks_tabs_and_rows_and_scrolls() {
    let mut app = admin();
    let tabs = hallpass_tui::layout::tabs(app.width);
    let (_, _, start, _) = tabs
        .iter()
        .find(|(s, ..)| *s == ScreenId::Approvals)
        .expect("tab")
        .clone();
    let click = |column, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    update(&mut app, Msg::Mouse(click(start + 1, 0)));
    assert_eq!(app.screen, ScreenId::Approvals);
    // Third data row of the approvals table (tabs row, border, header, rows…).
    update(&mut app, Msg::Mouse(click(5, 1 + 2 + 2)));
    assert_eq!(app.approvals.scroll.selected, 2);
    let scroll = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: 5,
        row: 5,
        modifiers: KeyModifiers::NONE,
    };
    update(&mut app, Msg::Mouse(scroll));
    assert_eq!(app.approvals.scroll.selected, 0);
}

#[test]
fn daemon_errors_land_in_the_status_line() {
    let mut app = admin();
    update(
        &mut app,
        Msg::Failed(hallpass_tui::message::Failure {
            what: "approving HP-1001".into(),
            error: hallpass_tui::message::CallError::Api(hallpass_proto::ApiError::Forbidden {
                why: "Only approvers may decide.".into(),
                admins: vec!["ada@example.com".into()],
                hint: None,
            }),
            page: None,
        }),
    );
    let s = app.status.expect("status");
    assert!(
        s.text
            .starts_with("approving HP-1001: Only approvers may decide."),
        "{}",
        s.text
    );
    assert!(!s.text.contains('\n'));
}

fn screen_text(app: &App) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(app.width, app.height))
        .expect("test terminal");
    t.draw(|f| f.render_widget(app, f.area())).expect("draw");
    format!("{}", t.backend())
}

fn credentials_view(app: &App) -> &CredentialsView {
    match &app.overlay {
        Some(Overlay::Credentials(v)) => v,
        _ => panic!("expected the credentials overlay"),
    }
}

fn answer_credentials(app: &mut App, grant: u64, answer: Result<Credentials, CallError>) {
    update(
        app,
        Msg::Reply(Reply::Credentials {
            grant: GrantId(grant),
            answer,
        }),
    );
}

/// Grace on My access with her database grant (G-16) selected.
fn grace_on_db_grant() -> App {
    let mut app = grace();
    fixture::add_db_grant(&mut app);
    let at = app
        .my
        .grants
        .iter()
        .position(|g| g.id == GrantId(16))
        .expect("G-16");
    for _ in 0..at {
        ch(&mut app, 'j');
    }
    app
}

#[test]
fn c_loads_credentials_masks_secrets_until_v_and_esc_forgets_them() {
    let mut app = grace_on_db_grant();
    let cmds = ch(&mut app, 'c');
    assert_eq!(cmds, [Cmd::Load(Query::Credentials(GrantId(16)))]);
    let v = credentials_view(&app);
    assert!(matches!(v.state, CredentialsState::Loading));
    assert!(screen_text(&app).contains("Asking hallpassd"));

    answer_credentials(&mut app, 16, Ok(fixture::db_credentials()));
    let v = credentials_view(&app);
    let creds = v.credentials().expect("shown");
    assert_eq!(creds.get("user"), Some("hp_g16"));
    assert!(!v.revealed);
    let shown = screen_text(&app);
    assert!(shown.contains("hp_g16"), "{shown}");
    assert!(shown.contains(MASK), "{shown}");
    assert!(
        !shown.contains("fixture-pw-7Hq2"),
        "secrets are masked: {shown}"
    );
    assert!(shown.contains("psql"), "the hint shows: {shown}");

    // v reveals, v again hides; neither asks the daemon for anything.
    assert!(ch(&mut app, 'v').is_empty());
    assert!(credentials_view(&app).revealed);
    assert!(screen_text(&app).contains("fixture-pw-7Hq2"));
    ch(&mut app, 'v');
    assert!(!screen_text(&app).contains("fixture-pw-7Hq2"));

    // Other keys stay in the overlay (q does not quit the TUI while it is open).
    ch(&mut app, 'x');
    assert!(app.overlay.is_some());
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.overlay.is_none(), "closing drops the credentials");
    assert!(!app.quit);
    // A late duplicate answer is not kept anywhere.
    answer_credentials(&mut app, 16, Ok(fixture::db_credentials()));
    assert!(app.overlay.is_none());
    assert!(!screen_text(&app).contains("hp_g16"));
}

#[test]
fn credentials_arriving_after_the_overlay_closed_are_dropped() {
    let mut app = grace_on_db_grant();
    ch(&mut app, 'c');
    key(&mut app, KeyCode::Esc);
    answer_credentials(&mut app, 16, Ok(fixture::db_credentials()));
    assert!(app.overlay.is_none());
    // An answer for another grant does not land in an open overlay either.
    ch(&mut app, 'c');
    answer_credentials(&mut app, 11, Ok(fixture::ssh_credentials()));
    assert!(matches!(
        credentials_view(&app).state,
        CredentialsState::Loading
    ));
    // q closes it too.
    ch(&mut app, 'q');
    assert!(app.overlay.is_none());
    assert!(!app.quit);
}

#[test]
fn a_grant_without_credentials_shows_the_daemons_message() {
    let mut app = grace();
    assert_eq!(
        ch(&mut app, 'c'),
        [Cmd::Load(Query::Credentials(GrantId(11)))]
    );
    answer_credentials(
        &mut app,
        11,
        Err(CallError::Api(ApiError::not_found(
            "credentials for G-11 (the exec integration issues none; use your own login)",
        ))),
    );
    let v = credentials_view(&app);
    assert!(matches!(v.state, CredentialsState::Unavailable(_)));
    ch(&mut app, 'v');
    assert!(!credentials_view(&app).revealed, "nothing to reveal");
    let shown = screen_text(&app);
    assert!(shown.contains("use your own login"), "{shown}");
    assert!(shown.contains("exec integration issues none"), "{shown}");
    assert!(
        app.status.is_none(),
        "the overlay shows it, not the status line"
    );
}

#[test]
fn credentials_only_for_active_grants_and_c_still_cancels_requests() {
    let mut app = grace();
    ch(&mut app, 'j'); // G-14, granting
    assert!(ch(&mut app, 'c').is_empty());
    assert!(app.overlay.is_none());
    let s = app.status.clone().expect("status");
    assert!(s.text.contains("G-14 is granting"), "{}", s.text);
    key(&mut app, KeyCode::End); // G-9, expired
    assert!(ch(&mut app, 'c').is_empty());
    assert!(app.overlay.is_none());
    // On the requests pane c is still cancel.
    key(&mut app, KeyCode::Right);
    ch(&mut app, 'c');
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
}

#[test]
fn credentials_close_when_the_access_ends() {
    let mut app = grace_on_db_grant();
    ch(&mut app, 'c');
    answer_credentials(&mut app, 16, Ok(fixture::db_credentials()));
    let ended = |grant: u64, target: &str| Event {
        seq: 100,
        at: NOW,
        kind: EventKind::GrantEnded {
            grant: GrantId(grant),
            user: UserId(2),
            target: fixture::target(target),
            reason: hallpass_core::grant::EndReason::Released,
        },
        audience: Default::default(),
    };
    // Another grant ending leaves it open.
    update(
        &mut app,
        Msg::Events(vec![ended(11, "ssh-staging/web/login")]),
    );
    assert!(app.overlay.is_some());
    update(
        &mut app,
        Msg::Events(vec![ended(16, "pg-prod/billing/read")]),
    );
    assert!(app.overlay.is_none());

    // And when its deadline passes on the clock (G-11 has 4 minutes).
    let mut app = grace();
    ch(&mut app, 'c');
    answer_credentials(&mut app, 11, Ok(fixture::ssh_credentials()));
    update(
        &mut app,
        Msg::Tick {
            now: NOW.plus(Duration::from_secs(60)),
            utc_offset_secs: 0,
        },
    );
    assert!(app.overlay.is_some());
    update(
        &mut app,
        Msg::Tick {
            now: NOW.plus(Duration::from_secs(4 * 60)),
            utc_offset_secs: 0,
        },
    );
    assert!(app.overlay.is_none());
}

#[test]
fn credentials_never_reach_debug_output() {
    let mut app = grace_on_db_grant();
    ch(&mut app, 'c');
    let msg = Msg::Reply(Reply::Credentials {
        grant: GrantId(16),
        answer: Ok(fixture::db_credentials()),
    });
    let logged = format!("{msg:?}");
    assert!(!logged.contains("fixture-pw-7Hq2"), "{logged}");
    update(&mut app, msg);
    let overlay = format!("{:?}", app.overlay);
    assert!(overlay.contains("hp_g16"), "{overlay}");
    assert!(!overlay.contains("fixture-pw-7Hq2"), "{overlay}");
}

#[test]
fn catalog_creates_a_link_shows_its_url_once_and_revokes_it() {
    use hallpass_core::LinkId;
    use hallpass_core::flow::Trigger;
    use hallpass_core::link::LinkState;
    use hallpass_proto::{LinkCreated, LinkView};
    use hallpass_tui::message::Done;

    let mut app = admin();
    let cmds = goto(&mut app, ScreenId::Catalog);
    assert!(
        cmds.iter().any(|c| matches!(c, Cmd::Load(Query::Links))),
        "admins load the links"
    );
    // The first fixture flow is self-serve: no links for it.
    assert!(acts(&ch(&mut app, 'n')).is_empty());
    assert!(app.overlay.is_none());

    let mut flows = fixture::flows();
    flows[0].flow.trigger = Trigger::AccessLink;
    let flow = flows[0].flow.name.clone();
    update(&mut app, Msg::Reply(Reply::Flows(flows)));
    ch(&mut app, 'n');
    let Some(Overlay::Confirm(c)) = &app.overlay else {
        panic!("n asks for confirmation");
    };
    let Action::CreateLink(args) = &c.action else {
        panic!("expected a link to be created: {:?}", c.action);
    };
    assert_eq!(args.flow, flow);
    assert_eq!(acts(&key(&mut app, KeyCode::Enter)).len(), 1);

    let link = LinkView {
        id: LinkId(4),
        flow: flow.clone(),
        state: LinkState::Open,
        created_by: "ada@example.com".into(),
        created_at: NOW,
        expires_at: None,
        max_uses: Some(2),
        uses: 1,
        revoked_at: None,
        note: String::new(),
    };
    let url = "https://access.example.com/l/0123456789abcdef0123456789abcdef";
    let cmds = update(
        &mut app,
        Msg::Reply(Reply::Done(Done::LinkCreated(LinkCreated {
            link: link.clone(),
            url: url.into(),
        }))),
    );
    assert!(cmds.iter().any(|c| matches!(c, Cmd::Load(Query::Links))));
    assert!(
        screen_text(&app).contains("access.example.com/l/0123"),
        "the URL is shown"
    );
    key(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());
    update(&mut app, Msg::Reply(Reply::Links(vec![link])));
    let text = screen_text(&app);
    assert!(
        !text.contains("0123456789abcdef"),
        "the URL is gone once closed"
    );
    assert!(text.contains("L-4 open, 1/2 uses"), "{text}");

    ch(&mut app, 'x');
    let Some(Overlay::Confirm(c)) = &app.overlay else {
        panic!("x asks for confirmation");
    };
    assert_eq!(c.action, Action::RevokeLink(LinkId(4)));

    // Grantees may not.
    let mut g = grace();
    goto(&mut g, ScreenId::Catalog);
    update(&mut g, Msg::Reply(Reply::Flows(fixture::flows())));
    assert!(acts(&ch(&mut g, 'n')).is_empty() && g.overlay.is_none());
}

/// The text of the draft an `E` or `c` opened.
fn edit_of(cmds: &[Cmd]) -> hallpass_tui::edit::Draft {
    cmds.iter()
        .find_map(|c| match c {
            Cmd::Edit(d) => Some(d.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("expected the editor to open: {cmds:?}"))
}

fn edit_view(app: &App) -> &hallpass_tui::edit::EditView {
    match &app.overlay {
        Some(Overlay::Edit(v)) => v,
        other => panic!("expected the edit overlay, got {other:?}"),
    }
}

#[test]
fn capital_e_edits_a_flow_as_toml_shows_the_plan_and_applies_exactly_it() {
    use hallpass_tui::edit::EditState;
    let mut app = admin();
    goto(&mut app, ScreenId::Catalog);
    let draft = edit_of(&ch(&mut app, 'E'));
    assert_eq!(draft.name.as_deref(), Some("db-read"));
    assert!(draft.text.contains("name = \"db-read\""), "{}", draft.text);
    assert!(!draft.text.contains("updated_at"), "no daemon stamps");

    // Saved unchanged: nothing to do.
    let cmds = update(
        &mut app,
        Msg::Edited {
            draft: draft.clone(),
            outcome: Ok(draft.text.clone()),
        },
    );
    assert!(cmds.is_empty() && app.overlay.is_none());
    assert!(
        app.status
            .as_ref()
            .expect("status")
            .text
            .contains("No change")
    );

    // A real change: planned by the daemon first, nothing applied.
    let edited = draft
        .text
        .replace("max_duration = 14400", "max_duration = 7200");
    assert_ne!(edited, draft.text, "the fixture flow has a 4h maximum");
    let cmds = update(
        &mut app,
        Msg::Edited {
            draft: draft.clone(),
            outcome: Ok(edited),
        },
    );
    let planned = acts(&cmds);
    let [Action::PlanPolicy(doc)] = planned.as_slice() else {
        panic!("expected a plan request: {cmds:?}");
    };
    assert_eq!(doc.flows[0].max_duration, Duration::from_secs(7200));
    let plan = fixture::policy().plan_to(doc, false);
    assert_eq!(plan.changes.len(), 1, "{plan:?}");
    update(
        &mut app,
        Msg::Reply(Reply::Policy {
            applied: false,
            answer: Ok(plan.clone()),
        }),
    );
    assert!(matches!(edit_view(&app).state, EditState::Plan { .. }));
    let text = screen_text(&app);
    assert!(text.contains("~ update flow db-read"), "{text}");
    assert!(text.contains("max_duration: 14400 → 7200"), "{text}");

    // y applies that plan and no other.
    let cmds = ch(&mut app, 'y');
    assert_eq!(
        acts(&cmds),
        [Action::ApplyPolicy {
            doc: doc.clone(),
            expect: plan.fingerprint.clone()
        }]
    );
    assert!(matches!(edit_view(&app).state, EditState::Applying));
    let cmds = update(
        &mut app,
        Msg::Reply(Reply::Policy {
            applied: true,
            answer: Ok(plan),
        }),
    );
    assert!(app.overlay.is_none());
    assert!(cmds.contains(&Cmd::Load(Query::Flows)));
    assert!(app.toasts.iter().any(|t| t.text.contains("flow db-read")));
}

#[test]
fn a_bad_edit_is_explained_and_reopened_with_the_text_kept() {
    use hallpass_tui::edit::EditState;
    let mut app = admin();
    goto(&mut app, ScreenId::Catalog);
    let draft = edit_of(&ch(&mut app, 'E'));

    // A syntax error: shown with its line, nothing sent.
    let broken = draft.text.replace("enabled = true", "enabled = yes please");
    let cmds = update(
        &mut app,
        Msg::Edited {
            draft: draft.clone(),
            outcome: Ok(broken.clone()),
        },
    );
    assert!(cmds.is_empty(), "nothing goes to the daemon: {cmds:?}");
    let EditState::Error(why) = &edit_view(&app).state else {
        panic!("expected an error");
    };
    assert!(why.contains("line"), "{why}");

    // e reopens the same text, the error written above it.
    let again = edit_of(&ch(&mut app, 'e'));
    assert!(app.overlay.is_none());
    assert!(again.text.starts_with("# ! "), "{}", again.text);
    assert!(again.text.contains("enabled = yes please"));
    assert_eq!(again.opened, draft.opened);

    // Fixed, but the daemon refuses a value: its line in the text is named.
    let fixed = again
        .text
        .replace("enabled = yes please", "enabled = true")
        .replace("max_duration = 14400", "max_duration = 99999999");
    let cmds = update(
        &mut app,
        Msg::Edited {
            draft: again,
            outcome: Ok(fixed),
        },
    );
    assert_eq!(acts(&cmds).len(), 1, "planned");
    update(
        &mut app,
        Msg::Reply(Reply::Policy {
            applied: false,
            answer: Err(CallError::Api(ApiError::invalid(
                "flow db-read: max_duration",
                "must be at most 90d",
            ))),
        }),
    );
    let v = edit_view(&app);
    let EditState::Error(why) = &v.state else {
        panic!("expected the refusal");
    };
    let line = v
        .body
        .lines()
        .position(|l| l == "name = \"db-read\"")
        .expect("the name line")
        + 1;
    assert!(
        why.starts_with(&format!("line {line}: flow db-read: max_duration")),
        "{why}"
    );
    assert!(!v.body.contains("# !"), "notes are dropped when read back");
    // n discards.
    ch(&mut app, 'n');
    assert!(app.overlay.is_none());
}

#[test]
fn c_opens_a_template_t_tests_an_integration_and_only_admins_may() {
    use hallpass_tui::edit::Kind;
    let mut app = admin();
    goto(&mut app, ScreenId::Catalog);
    ch(&mut app, 'l');
    let draft = edit_of(&ch(&mut app, 'c'));
    assert_eq!((draft.kind, draft.name.clone()), (Kind::Bundle, None));
    assert!(draft.text.contains("[[bundle]]"));

    ch(&mut app, 'l');
    let cmds = ch(&mut app, 't');
    let name = fixture::integrations()[0].name.clone();
    assert_eq!(acts(&cmds), [Action::TestIntegration(name.clone())]);
    update(
        &mut app,
        Msg::Reply(Reply::Checks {
            integration: name,
            answer: Ok(vec![hallpass_proto::CheckView {
                what: "connect".into(),
                ok: false,
                detail: "connection refused".into(),
            }]),
        }),
    );
    let text = screen_text(&app);
    assert!(
        text.contains("✗ connect") && text.contains("connection refused"),
        "{text}"
    );
    key(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());

    // Auditors read policy; they neither edit it nor test connections.
    let mut auditor = admin();
    auditor.me.as_mut().expect("me").role = Role::Auditor;
    goto(&mut auditor, ScreenId::Catalog);
    assert!(ch(&mut auditor, 'E').is_empty());
    assert!(ch(&mut auditor, 'c').is_empty());
    ch(&mut auditor, 'h');
    assert!(ch(&mut auditor, 't').is_empty() && auditor.overlay.is_none());
    assert!(
        auditor
            .status
            .as_ref()
            .expect("status")
            .text
            .contains("for admins")
    );
}

#[test]
fn lists_longer_than_a_page_read_on_through_the_daemons_cursor() {
    use hallpass_proto::{Page, RequestQuery, RequestScope};
    use hallpass_tui::effect::RequestsFor;
    let mut app = admin();
    goto(&mut app, ScreenId::Approvals);
    let mut rows = fixture::to_approve();
    let second = rows.split_off(1);
    let query = RequestQuery {
        scope: RequestScope::ToApprove,
        limit: 1000,
        ..RequestQuery::default()
    };
    let reply = |query: &RequestQuery, items, next: Option<&str>| {
        Msg::Reply(Reply::Requests {
            purpose: RequestsFor::ToApprove,
            query: query.clone(),
            page: Page {
                items,
                next: next.map(String::from),
            },
        })
    };
    let cmds = update(&mut app, reply(&query, rows.clone(), Some("c1")));
    let [
        Cmd::Load(Query::Requests {
            purpose,
            query: next,
        }),
    ] = cmds.as_slice()
    else {
        panic!("expected the next page: {cmds:?}");
    };
    assert_eq!(*purpose, RequestsFor::ToApprove);
    assert_eq!(next.after.as_deref(), Some("c1"));
    assert_eq!(next.scope, RequestScope::ToApprove);
    assert_eq!(app.approvals.rows.len(), 1);

    // A page left over from an older pass is dropped; the awaited one is appended.
    let stale = RequestQuery {
        after: Some("old".into()),
        ..query.clone()
    };
    assert!(update(&mut app, reply(&stale, second.clone(), None)).is_empty());
    assert_eq!(app.approvals.rows.len(), 1);
    assert!(update(&mut app, reply(next, second.clone(), None)).is_empty());
    assert_eq!(app.approvals.rows.len(), 1 + second.len());
    let text = screen_text(&app);
    assert!(
        text.contains(&format!("Waiting for you ({})", 1 + second.len())),
        "{text}"
    );
}
