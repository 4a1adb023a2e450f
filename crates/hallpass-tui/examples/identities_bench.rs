//! Benchmark: the Identities screen over 100,000 people (QUALITY.md, "TUI on 100k identities").
//!
//! Measures, and prints: first paint (start → the first frame with rows), key → frame
//! latencies (p50/p99/max over a few thousand keys: moves, pages, Home/End, filter typing),
//! reply → frame for pages arriving, and the process's RSS (current and peak) after walking the
//! whole list. The "daemon" answers pages in-process from synthetic data through the same
//! `update` path the runtime uses; frames are drawn by ratatui's crossterm backend into a sink,
//! so diffing and escape encoding are included and only the terminal write is not. The floor is
//! drawing a bare table of just the visible rows, measured in the same run.
//!
//! Run: `cargo run --release -p hallpass-tui --example identities_bench [-- PEOPLE [KEYS]]`

use std::io::Sink;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hallpass_tui::effect::{Cmd, Query};
use hallpass_tui::fixture::{self, NOW};
use hallpass_tui::{App, Msg, ScreenId, Theme, update};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Row, Table};
use ratatui::{Terminal, TerminalOptions, Viewport};

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

type Term = Terminal<CrosstermBackend<Sink>>;

fn terminal() -> Term {
    Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, WIDTH, HEIGHT)),
        },
    )
    .expect("terminal")
}

fn draw(t: &mut Term, app: &mut App) -> Duration {
    let start = Instant::now();
    t.draw(|f| f.render_widget(&*app, f.area())).expect("draw");
    app.dirty = false;
    start.elapsed()
}

/// Answers every page request as the daemon would; returns reply → frame times.
fn serve(t: &mut Term, app: &mut App, people: u64, mut cmds: Vec<Cmd>, frames: &mut Vec<Duration>) {
    while let Some(cmd) = cmds.pop() {
        if let Cmd::Load(Query::Users {
            purpose,
            page,
            text,
        }) = cmd
        {
            let reply = fixture::synthetic_reply(people, purpose, page, text.as_deref());
            let start = Instant::now();
            cmds.extend(update(app, reply));
            if app.dirty {
                t.draw(|f| f.render_widget(&*app, f.area())).expect("draw");
                app.dirty = false;
            }
            frames.push(start.elapsed());
        }
    }
}

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let people: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let keys: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3_000);

    // First paint: a fresh app, connected, on Identities, with its first page.
    let started = Instant::now();
    let mut t = terminal();
    let mut app = App::new(NOW, 0, Theme { color: true }, WIDTH, HEIGHT);
    fixture::connect(&mut app, fixture::ada());
    let mut cmds = update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('5'), KeyModifiers::NONE)),
    );
    cmds.retain(|c| matches!(c, Cmd::Load(Query::Users { .. })));
    assert_eq!(app.screen, ScreenId::Identities);
    let mut replies = vec![];
    serve(&mut t, &mut app, people, cmds, &mut replies);
    let first_paint = started.elapsed();
    assert!(
        !app.identities.people.list.is_empty(),
        "rows on the first paint"
    );

    // Keys: moves, pages, End (walks the cursor chain to the last row), Home, and filtering.
    let script: Vec<KeyCode> = {
        let mut s = vec![];
        for i in 0..keys {
            s.push(match i % 40 {
                0..=14 => KeyCode::Down,
                15..=19 => KeyCode::Up,
                20..=27 => KeyCode::PageDown,
                28..=30 => KeyCode::PageUp,
                31 => KeyCode::End,
                32 => KeyCode::Home,
                33 => KeyCode::Char('/'),
                34 => KeyCode::Char('a'),
                35 => KeyCode::Char('d'),
                36 => KeyCode::Char('a'),
                37 => KeyCode::Backspace,
                38 => KeyCode::Backspace,
                _ => KeyCode::Backspace,
            });
            if i % 40 == 39 {
                s.push(KeyCode::Enter);
            }
        }
        s
    };
    let mut key_frames = Vec::with_capacity(script.len());
    let mut peak_pages = 0;
    for code in script {
        let start = Instant::now();
        let cmds = update(&mut app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        t.draw(|f| f.render_widget(&app, f.area())).expect("draw");
        app.dirty = false;
        key_frames.push(start.elapsed());
        serve(&mut t, &mut app, people, cmds, &mut replies);
        peak_pages = peak_pages.max(app.identities.people.list.loaded_pages());
    }
    // Make sure the whole list was walked at least once.
    let cmds = update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)),
    );
    serve(&mut t, &mut app, people, cmds, &mut replies);
    let walked = app.identities.people.list.len();
    let (rss, hwm) = rss_kib();

    // Floor: a bare table of only the visible rows, in the same terminal.
    let rows: Vec<[String; 4]> = (0..HEIGHT as u64)
        .map(|i| {
            [
                format!("Person {i}"),
                format!("person{i}@example.com"),
                "manager@example.com".into(),
                "eng".into(),
            ]
        })
        .collect();
    let mut floor = vec![];
    for i in 0..500 {
        let start = Instant::now();
        t.draw(|f| {
            let table = Table::new(
                rows.iter().skip(i % 3).map(|r| Row::new(r.clone())),
                [
                    Constraint::Fill(2),
                    Constraint::Fill(3),
                    Constraint::Fill(2),
                    Constraint::Fill(2),
                ],
            )
            .block(Block::bordered());
            f.render_widget(table, f.area());
        })
        .expect("draw");
        floor.push(start.elapsed());
    }
    let _ = draw(&mut t, &mut app);

    key_frames.sort();
    replies.sort();
    floor.sort();
    let floor_p50 = pct(&floor, 0.5);
    println!(
        "hallpass-tui identities benchmark: {people} people, {WIDTH}x{HEIGHT}, {} keys",
        key_frames.len()
    );
    println!(
        "  first paint                 {}   (target <= 200 ms)",
        ms(first_paint)
    );
    println!(
        "  key -> frame   p50 {}  p99 {}  max {}   (target p99 <= 16 ms)",
        ms(pct(&key_frames, 0.5)),
        ms(pct(&key_frames, 0.99)),
        ms(pct(&key_frames, 1.0))
    );
    println!(
        "  reply -> frame p50 {}  p99 {}  ({} pages served)",
        ms(pct(&replies, 0.5)),
        ms(pct(&replies, 0.99)),
        replies.len()
    );
    println!(
        "  floor (bare table of visible rows) p50 {}; key -> frame p50 is {:.1}x the floor",
        ms(floor_p50),
        pct(&key_frames, 0.5).as_secs_f64() / floor_p50.as_secs_f64().max(1e-9)
    );
    println!("  rows walked {walked}; most pages held at once {peak_pages}");
    println!(
        "  RSS {:.1} MB, peak {:.1} MB   (target <= 60 MB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
