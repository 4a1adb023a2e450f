//! `tui`: the Identities screen over many people (QUALITY.md, "TUI on 100k identities").
//!
//! First paint (a fresh app → the first frame with rows), key → frame latencies over a
//! script of moves, pages, Home/End (End walks the cursor chain to the last row) and filter
//! typing, reply → frame for each page arriving, and this process's memory after walking the
//! whole list. The "daemon" answers pages in-process from synthetic data through the same
//! `update` path the runtime uses; frames are drawn by ratatui's crossterm backend into a sink,
//! so diffing and escape encoding are included and only the terminal write is not. Floor:
//! drawing a bare table of just the visible rows, in the same run.

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
use serde_json::json;

use crate::report::{Outcome, Table as Report};
use crate::stats::{Samples, show_ratio, show_us};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// People in the directory.
    #[arg(long, default_value_t = 100_000)]
    pub people: u64,
    /// Keys pressed.
    #[arg(long, default_value_t = 3_000)]
    pub keys: usize,
    /// Terminal size, COLSxROWS.
    #[arg(long, default_value = "120x40")]
    pub size: String,
}

type Term = Terminal<CrosstermBackend<Sink>>;

fn terminal(w: u16, h: u16) -> anyhow::Result<Term> {
    Ok(Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )?)
}

fn draw(t: &mut Term, app: &mut App) -> anyhow::Result<()> {
    t.draw(|f| f.render_widget(&*app, f.area()))?;
    app.dirty = false;
    Ok(())
}

/// Answers every page request as the daemon would, recording reply → frame times.
fn serve(
    t: &mut Term,
    app: &mut App,
    people: u64,
    mut cmds: Vec<Cmd>,
    frames: &mut Samples,
) -> anyhow::Result<()> {
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
                draw(t, app)?;
            }
            frames.record(start.elapsed());
        }
    }
    Ok(())
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Moves, pages, End and Home, and typing a filter and taking it back, in a fixed rhythm.
fn script(keys: usize) -> Vec<KeyCode> {
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
            34 | 36 => KeyCode::Char('a'),
            35 => KeyCode::Char('d'),
            _ => KeyCode::Backspace,
        });
        if i % 40 == 39 {
            s.push(KeyCode::Enter);
        }
    }
    s
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let (w, h) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)))
        .filter(|(w, h)| *w >= 80 && *h >= 24)
        .ok_or_else(|| {
            anyhow::anyhow!("--size {}: expected COLSxROWS, at least 80x24", args.size)
        })?;

    // First paint: a fresh app, connected, on Identities, with its first page.
    let started = Instant::now();
    let mut t = terminal(w, h)?;
    let mut app = App::new(NOW, 0, Theme { color: true }, w, h);
    fixture::connect(&mut app, fixture::ada());
    let mut cmds = update(&mut app, key(KeyCode::Char('5')));
    cmds.retain(|c| matches!(c, Cmd::Load(Query::Users { .. })));
    anyhow::ensure!(app.screen == ScreenId::Identities, "5 opens Identities");
    let mut replies = Samples::new();
    serve(&mut t, &mut app, args.people, cmds, &mut replies)?;
    let first_paint = started.elapsed();
    anyhow::ensure!(
        !app.identities.people.list.is_empty(),
        "no rows on the first paint"
    );

    let mut key_frames = Samples::new();
    let mut peak_pages = 0;
    for code in script(args.keys) {
        let start = Instant::now();
        let cmds = update(&mut app, key(code));
        draw(&mut t, &mut app)?;
        key_frames.record(start.elapsed());
        serve(&mut t, &mut app, args.people, cmds, &mut replies)?;
        peak_pages = peak_pages.max(app.identities.people.list.loaded_pages());
    }
    // The whole list walked at least once.
    let cmds = update(&mut app, key(KeyCode::End));
    serve(&mut t, &mut app, args.people, cmds, &mut replies)?;
    let walked = app.identities.people.list.len();
    let (rss, hwm) = crate::daemon::memory_kib("self")?;

    // Floor: a bare table of only the visible rows, in the same terminal.
    let rows: Vec<[String; 4]> = (0..u64::from(h))
        .map(|i| {
            [
                format!("Person {i}"),
                format!("person{i}@example.com"),
                "manager@example.com".into(),
                "eng".into(),
            ]
        })
        .collect();
    let mut floor = Samples::new();
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
        })?;
        floor.record(start.elapsed());
    }

    let (k, r, fl) = (key_frames.summary(), replies.summary(), floor.summary());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mb = |kib: u64| kib as f64 / 1024.0;
    let mut table = Report::new(
        format!(
            "tui: Identities over {} people, {w}x{h}, {} keys",
            args.people, k.n
        ),
        &["measure", "figure", "target"],
    );
    table
        .row(vec![
            "first paint".into(),
            show_us(ms(first_paint) * 1000.0),
            "≤ 200 ms".into(),
        ])
        .row(vec![
            "key → frame p50 / p99 / max".into(),
            format!(
                "{} / {} / {}",
                show_us(k.p50_us),
                show_us(k.p99_us),
                show_us(k.max_us)
            ),
            "p99 ≤ 16 ms".into(),
        ])
        .row(vec![
            format!("page reply → frame p50 / p99 ({} pages)", r.n),
            format!("{} / {}", show_us(r.p50_us), show_us(r.p99_us)),
            String::new(),
        ])
        .row(vec![
            "floor: bare table of the visible rows, p50".into(),
            format!(
                "{} (key → frame p50 is {})",
                show_us(fl.p50_us),
                show_ratio(k.p50_us / fl.p50_us.max(1e-9))
            ),
            String::new(),
        ])
        .row(vec![
            "memory after walking every row: RSS / peak".into(),
            format!("{:.1} MB / {:.1} MB", mb(rss), mb(hwm)),
            "≤ 60 MB".into(),
        ])
        .note(format!(
            "Rows walked: {walked}; most pages held at once: {peak_pages}. Memory is this \
             process's (the bench's own allocator and runtime included)."
        ));
    let mut short = vec![];
    if ms(first_paint) > 200.0 {
        short.push(format!("first paint {:.1} ms > 200 ms", ms(first_paint)));
    }
    if k.p99_us > 16_000.0 {
        short.push(format!(
            "key → frame p99 {:.1} ms > 16 ms",
            k.p99_us / 1000.0
        ));
    }
    if mb(hwm) > 60.0 {
        short.push(format!("peak memory {:.1} MB > 60 MB", mb(hwm)));
    }
    Ok(Outcome {
        name: "tui",
        tables: vec![table],
        json: json!({
            "people": args.people,
            "size": format!("{w}x{h}"),
            "first_paint_ms": ms(first_paint),
            "key_to_frame": k,
            "reply_to_frame": r,
            "floor_bare_table": fl,
            "rows_walked": walked,
            "peak_pages_held": peak_pages,
            "rss_mib": mb(rss),
            "peak_rss_mib": mb(hwm),
        }),
        short_of_targets: short,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_walks_every_row_and_reports_each_figure() {
        let o = run(&Args {
            people: 2_500,
            keys: 200,
            size: "80x24".into(),
        })
        .expect("runs");
        assert_eq!(o.json["rows_walked"], 2_500);
        assert!(o.json["key_to_frame"]["n"].as_u64() >= Some(200));
        assert!(o.json["first_paint_ms"].as_f64().is_some_and(|ms| ms > 0.0));
        assert!(o.markdown().contains("key → frame p50 / p99 / max"));
        assert!(
            run(&Args {
                size: "40x10".into(),
                ..Args {
                    people: 1,
                    keys: 1,
                    size: String::new()
                }
            })
            .is_err()
        );
    }
}
