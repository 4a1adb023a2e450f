//! Snapshots of every screen and overlay on a `TestBackend` at 80×24 and 120×40, with a fixed
//! clock and fixed data. A stale snapshot fails the suite (insta never passes a mismatch; set
//! `INSTA_UPDATE=no` in CI so nothing is written, review changes with `cargo insta review`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hallpass_core::audit::Source;
use hallpass_core::credential::Credentials;
use hallpass_proto::{InviteCreated, ServerHello, WhoAmI};
use hallpass_tui::app::{Connection, Tone};
use hallpass_tui::fixture::{self, NOW};
use hallpass_tui::message::{CallError, Reply};
use hallpass_tui::{App, Msg, ScreenId, Theme, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];
const THEME: Theme = Theme { color: true };

fn draw(app: &App) -> TestBackend {
    let mut t = Terminal::new(TestBackend::new(app.width, app.height)).expect("test terminal");
    t.draw(|f| f.render_widget(app, f.area())).expect("draw");
    t.backend().clone()
}

fn keys(app: &mut App, ks: &[KeyCode]) {
    for k in ks {
        update(app, Msg::Key(KeyEvent::new(*k, KeyModifiers::NONE)));
    }
}

fn text(app: &mut App, s: &str) {
    for c in s.chars() {
        keys(app, &[KeyCode::Char(c)]);
    }
}

/// The first fixture flow opened in the editor and saved with `from` replaced by `to`.
fn edited_flow(app: &mut App, from: &str, to: &str) -> String {
    let draft = hallpass_tui::edit::flow_draft(&fixture::flows()[0].flow).expect("draft");
    let text = draft.text.replace(from, to);
    assert_ne!(text, draft.text, "{from} is in the draft");
    update(
        app,
        Msg::Edited {
            draft,
            outcome: Ok(text.clone()),
        },
    );
    text
}

fn goto(app: &mut App, s: ScreenId) {
    keys(app, &[KeyCode::Char(char::from(b'1' + s.index() as u8))]);
}

/// Every case: a name and how to get there from a fresh fixture app of the given size.
/// Builds the app for one case at a size.
type Make = fn(u16, u16) -> App;

fn cases() -> Vec<(&'static str, Make)> {
    fn admin(w: u16, h: u16) -> App {
        let mut a = fixture::app(fixture::ada(), w, h, THEME);
        a.toasts.clear();
        a
    }
    fn grace(w: u16, h: u16) -> App {
        let mut a = fixture::app(fixture::grace(), w, h, THEME);
        a.toasts.clear();
        a
    }
    fn credentials(a: &mut App, grant: u64, answer: Result<Credentials, CallError>) {
        update(
            a,
            Msg::Reply(Reply::Credentials {
                grant: hallpass_core::GrantId(grant),
                answer,
            }),
        );
    }
    /// Grace's database grant (G-16) with its credentials open, secrets masked or shown.
    fn db_credentials(w: u16, h: u16, reveal: bool) -> App {
        let mut a = grace(w, h);
        fixture::add_db_grant(&mut a);
        while a
            .my
            .grants
            .get(a.my.grant_scroll.selected)
            .is_some_and(|g| g.id != hallpass_core::GrantId(16))
        {
            keys(&mut a, &[KeyCode::Down]);
        }
        keys(&mut a, &[KeyCode::Char('c')]);
        credentials(&mut a, 16, Ok(fixture::db_credentials()));
        if reveal {
            keys(&mut a, &[KeyCode::Char('v')]);
        }
        a
    }
    fn at(screen: ScreenId, w: u16, h: u16) -> App {
        let mut a = admin(w, h);
        goto(&mut a, screen);
        a
    }
    vec![
        ("dashboard", |w, h| admin(w, h)),
        ("approvals", |w, h| {
            let mut a = at(ScreenId::Approvals, w, h);
            keys(&mut a, &[KeyCode::End]);
            a
        }),
        ("my_access", |w, h| grace(w, h)),
        ("my_access_requests", |w, h| {
            let mut a = grace(w, h);
            keys(&mut a, &[KeyCode::Right, KeyCode::Down, KeyCode::Down]);
            a
        }),
        ("my_access_admin_empty", |w, h| {
            let mut a = at(ScreenId::MyAccess, w, h);
            update(
                &mut a,
                Msg::Reply(hallpass_tui::message::Reply::Grants {
                    purpose: hallpass_tui::effect::GrantsFor::Mine,
                    query: Default::default(),
                    page: hallpass_proto::Page {
                        items: vec![],
                        next: None,
                    },
                }),
            );
            update(
                &mut a,
                Msg::Reply(hallpass_tui::message::Reply::Requests {
                    purpose: hallpass_tui::effect::RequestsFor::Mine,
                    query: Default::default(),
                    page: hallpass_proto::Page {
                        items: vec![],
                        next: None,
                    },
                }),
            );
            a
        }),
        ("active", |w, h| at(ScreenId::Active, w, h)),
        ("active_filtered", |w, h| {
            let mut a = at(ScreenId::Active, w, h);
            keys(&mut a, &[KeyCode::Char('/')]);
            text(&mut a, "grace");
            a
        }),
        ("identities", |w, h| {
            let mut a = at(ScreenId::Identities, w, h);
            keys(&mut a, &[KeyCode::Down, KeyCode::Down]);
            a
        }),
        ("users", |w, h| at(ScreenId::Users, w, h)),
        ("flows", |w, h| at(ScreenId::Catalog, w, h)),
        ("bundles", |w, h| {
            let mut a = at(ScreenId::Catalog, w, h);
            keys(&mut a, &[KeyCode::Right]);
            a
        }),
        ("integrations", |w, h| {
            let mut a = at(ScreenId::Catalog, w, h);
            keys(&mut a, &[KeyCode::Left]);
            a
        }),
        ("edit_plan", |w, h| {
            let mut a = at(ScreenId::Catalog, w, h);
            let text = edited_flow(&mut a, "max_duration = 14400", "max_duration = 7200");
            let doc = hallpass_core::policy_doc::PolicyDoc::from_toml(&text).expect("valid");
            let plan = fixture::policy().plan_to(&doc, false);
            update(
                &mut a,
                Msg::Reply(Reply::Policy {
                    applied: false,
                    answer: Ok(plan),
                }),
            );
            a
        }),
        ("edit_error", |w, h| {
            let mut a = at(ScreenId::Catalog, w, h);
            edited_flow(&mut a, "enabled = true", "enabled = yes");
            a
        }),
        ("integration_checks", |w, h| {
            let mut a = at(ScreenId::Catalog, w, h);
            keys(&mut a, &[KeyCode::Left, KeyCode::Char('t')]);
            update(
                &mut a,
                Msg::Reply(Reply::Checks {
                    integration: fixture::integrations()[0].name.clone(),
                    answer: Ok(vec![
                        hallpass_proto::CheckView {
                            what: "grant command".into(),
                            ok: true,
                            detail: "/usr/local/bin/pg-grant is executable".into(),
                        },
                        hallpass_proto::CheckView {
                            what: "secret PGPASSWORD".into(),
                            ok: false,
                            detail: "environment variable PG_ADMIN_PASSWORD is not set".into(),
                        },
                    ]),
                }),
            );
            a
        }),
        ("audit", |w, h| at(ScreenId::Audit, w, h)),
        ("audit_export", |w, h| {
            let mut a = at(ScreenId::Audit, w, h);
            keys(&mut a, &[KeyCode::Char('x')]);
            a
        }),
        ("graph_by_person", |w, h| {
            let mut a = at(ScreenId::Graph, w, h);
            keys(&mut a, &[KeyCode::Down]);
            a
        }),
        ("graph_by_resource", |w, h| {
            let mut a = at(ScreenId::Graph, w, h);
            keys(&mut a, &[KeyCode::Char('m'), KeyCode::Down]);
            a
        }),
        ("grantee_on_admin_screen", |w, h| {
            let mut a = grace(w, h);
            goto(&mut a, ScreenId::Dashboard);
            a
        }),
        ("help", |w, h| {
            let mut a = at(ScreenId::Approvals, w, h);
            keys(&mut a, &[KeyCode::Char('?')]);
            a
        }),
        ("reject_prompt", |w, h| {
            let mut a = at(ScreenId::Approvals, w, h);
            keys(&mut a, &[KeyCode::Char('r')]);
            text(&mut a, "use the replica");
            a
        }),
        ("revoke_confirm", |w, h| {
            let mut a = at(ScreenId::Active, w, h);
            keys(&mut a, &[KeyCode::Char('x')]);
            a
        }),
        ("release_confirm", |w, h| {
            let mut a = grace(w, h);
            keys(&mut a, &[KeyCode::Char('x')]);
            a
        }),
        ("extend_prompt", |w, h| {
            let mut a = grace(w, h);
            keys(&mut a, &[KeyCode::Char('e')]);
            a
        }),
        ("request_form", |w, h| {
            let mut a = grace(w, h);
            keys(&mut a, &[KeyCode::Char('n'), KeyCode::Tab, KeyCode::Tab]);
            update(
                &mut a,
                Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
            );
            text(&mut a, "9h");
            a
        }),
        ("invite_form", |w, h| {
            let mut a = at(ScreenId::Users, w, h);
            keys(&mut a, &[KeyCode::Char('i')]);
            text(&mut a, "not-an-email");
            a
        }),
        ("invite_code", |w, h| {
            let mut a = at(ScreenId::Users, w, h);
            let mut user = fixture::people()[5].clone();
            user.created_at = NOW;
            update(
                &mut a,
                Msg::Reply(hallpass_tui::message::Reply::Done(
                    hallpass_tui::message::Done::Invited(InviteCreated {
                        user,
                        code: "HPI-7Q2M-XK4D-99TZ".into(),
                        expires_at: NOW.plus(std::time::Duration::from_secs(7 * 86_400)),
                        emailed: false,
                    }),
                )),
            );
            a
        }),
        ("credentials_masked", |w, h| db_credentials(w, h, false)),
        ("credentials_revealed", |w, h| db_credentials(w, h, true)),
        ("credentials_ssh", |w, h| {
            let mut a = grace(w, h);
            keys(&mut a, &[KeyCode::Char('c')]);
            credentials(&mut a, 11, Ok(fixture::ssh_credentials()));
            a
        }),
        ("credentials_none", |w, h| {
            let mut a = grace(w, h);
            keys(&mut a, &[KeyCode::Char('c')]);
            credentials(
                &mut a,
                11,
                Err(CallError::Api(hallpass_proto::ApiError::not_found(
                    "credentials for G-11 (the exec integration issues none; use your own login)",
                ))),
            );
            a
        }),
        ("help_my_access", |w, h| {
            let mut a = grace(w, h);
            keys(&mut a, &[KeyCode::Char('?')]);
            a
        }),
        ("role_picker", |w, h| {
            let mut a = at(ScreenId::Users, w, h);
            keys(&mut a, &[KeyCode::Down, KeyCode::Char('o')]);
            a
        }),
        ("audit_filter", |w, h| {
            let mut a = at(ScreenId::Audit, w, h);
            keys(&mut a, &[KeyCode::Char('/')]);
            text(&mut a, "grace@example.com");
            a
        }),
        ("connection_lost", |w, h| {
            let mut a = at(ScreenId::Approvals, w, h);
            update(
                &mut a,
                Msg::Disconnected("the connection to the server was already shutdown".into()),
            );
            update(&mut a, Msg::ConnectFailed("cannot reach hallpassd".into()));
            a
        }),
        ("connecting", |w, h| App::new(NOW, 0, THEME, w, h)),
        ("no_account", |w, h| {
            let mut a = App::new(NOW, 0, THEME, w, h);
            update(
                &mut a,
                Msg::Connected {
                    server: ServerHello {
                        protocol: 1,
                        daemon_version: "0.1.0".into(),
                        organisation: "Example Org".into(),
                    },
                    whoami: WhoAmI {
                        uid: Some(1234),
                        user: None,
                        token: None,
                        signup_open: false,
                    },
                },
            );
            a
        }),
        ("toasts_and_status", |w, h| {
            let mut a = at(ScreenId::Approvals, w, h);
            a.toast(
                Tone::Info,
                "HP-1004 from alan@example.com waits for you: pg-prod/orders/read. Approvals (2).",
            );
            a.toast(Tone::Good, "Approved HP-1001 for grace@example.com.");
            a.set_status(
                Tone::Bad,
                "approving HP-1002: request HP-1002 is approved; cannot approve",
            );
            a
        }),
        ("expiring_soon_toast", |w, h| {
            // The daemon's warning about Grace's ssh grant (4 minutes left), as an event.
            let mut a = grace(w, h);
            let grants = fixture::my_grants();
            let g = &grants[0];
            let expires_at = g.expires_at.expect("the fixture grant is active");
            update(
                &mut a,
                Msg::Events(vec![hallpass_core::event::Event {
                    seq: 40,
                    at: NOW,
                    kind: hallpass_core::event::EventKind::GrantExpiringSoon {
                        grant: g.id,
                        user: fixture::grace().id,
                        target: g.target.clone(),
                        expires_at,
                    },
                    audience: [fixture::grace().id].into(),
                }]),
            );
            a
        }),
        ("local_time_plus_one", |w, h| {
            let mut a = grace(w, h);
            update(
                &mut a,
                Msg::Tick {
                    now: NOW,
                    utc_offset_secs: 3600,
                },
            );
            a
        }),
    ]
}

#[test]
fn every_screen_and_overlay_at_two_sizes() {
    for (name, make) in cases() {
        for (w, h) in SIZES {
            let app = make(w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(&app));
        }
    }
}

#[test]
fn too_small_asks_for_a_larger_window() {
    let app = fixture::app(fixture::ada(), 50, 12, THEME);
    insta::assert_snapshot!("too_small_50x12", draw(&app));
}

#[test]
fn no_color_draws_the_same_text_without_colours() {
    let plain = Theme::from_no_color(Some(std::ffi::OsStr::new("1")));
    let mut app = fixture::app(fixture::ada(), 80, 24, plain);
    app.toasts.clear();
    let buf = draw(&app);
    for cell in buf.buffer().content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
    let mut coloured = fixture::app(fixture::ada(), 80, 24, THEME);
    coloured.toasts.clear();
    assert_eq!(
        format!("{}", draw(&coloured)),
        format!("{buf}"),
        "colour changes no text"
    );
}

#[test]
fn the_source_of_tui_actions_is_tui() {
    // Everything the TUI sends names itself as the source, for the audit log.
    let mut app = fixture::app(fixture::grace(), 120, 40, THEME);
    keys(&mut app, &[KeyCode::Right, KeyCode::End]);
    let cmds = update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('R'), KeyModifiers::NONE)),
    );
    assert!(
        matches!(cmds.as_slice(), [hallpass_tui::Cmd::Act(hallpass_tui::effect::Action::Again { args, .. })] if args.source == Source::Tui)
    );
    let _ = Connection::Connected;
}
