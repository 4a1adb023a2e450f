//! Synced identities from the terminal: `sync run | status` for the configured sources and
//! `identities import FILE` for a CSV or JSON file. Invariants: an import prints its diff
//! before anything is applied and applies only after `--yes` or a typed "y"; a file with bad
//! rows is refused whole, each problem naming its row and column, and nothing is sent.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use hallpass_core::SourceName;
use hallpass_core::identity::{Snapshot, SyncReport};
use hallpass_core::identity_file::{self, FileFormat};
use hallpass_proto::{ApiError, ImportChunk, SourceStatus};

use crate::connection::{Session, ctx, ctx_for};
use crate::failure::{Failure, answer};
use crate::output::{Output, table, when};

/// People per import frame: well under the 1 MiB frame limit.
const CHUNK: usize = 2000;
/// A sync of a large directory takes a while; the RPC waits this long.
const SYNC_DEADLINE: Duration = Duration::from_secs(3600);

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Read the configured identity sources now and apply what changed
    #[command(
        after_help = "Examples:\n  hallpass sync run\n  hallpass sync run --source corp-ldap --dry-run"
    )]
    Run(RunArgs),
    /// Each source's last run: when, counts added/updated/deactivated, errors
    Status,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only this source (a `[[sync.source]]` name in hallpassd.toml)
    #[arg(long)]
    pub source: Option<String>,
    /// Show what would change, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply even if it deactivates more people than the source's max_deactivate_percent
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// Import people and groups from a CSV or JSON file: shows the diff, then applies it
    #[command(
        after_help = "CSV: a header row with email and name, and any of login, phone, manager (an\n\
e-mail or login), groups (separated by ';'), active (true/false).\n\
JSON: {\"people\": [{\"login\", \"email\", \"name\", \"phone\", \"manager\"}],\n\
       \"groups\": [{\"name\", \"description\", \"members\": [e-mail or login]}]}\n\
The file is the whole source: people imported before under the same --source and\n\
missing now are deactivated.\n\n\
Examples:\n  hallpass identities import people.csv --dry-run\n  hallpass identities import people.json --source hr --yes"
    )]
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV or JSON file
    pub file: PathBuf,
    /// The source these people belong to (a later import under the same name replaces it)
    #[arg(long, default_value = "file")]
    pub source: String,
    /// Show the diff, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking
    #[arg(long, short = 'y', conflicts_with = "dry_run")]
    pub yes: bool,
    /// `csv` or `json` (default: from the file name, else its first character)
    #[arg(long, value_parser = ["csv", "json"])]
    pub format: Option<String>,
    /// Apply even if it deactivates more than 20% of the people of this source
    #[arg(long)]
    pub force: bool,
}

pub async fn sync(s: &Session, out: Output, c: SyncCommand) -> Result<(), Failure> {
    match c {
        SyncCommand::Run(a) => {
            let source = a
                .source
                .as_deref()
                .map(|n| source_name("--source", n))
                .transpose()?;
            let progress = show_progress(s, out, source.clone());
            let result = s
                .client
                .sync_run(ctx_for(SYNC_DEADLINE), source, a.dry_run, a.force)
                .await;
            progress.abort();
            clear_progress(out);
            let reports = answer(result)?;
            if out.json(&reports)? {
                return failed_exit(&reports);
            }
            for r in &reports {
                print_report(r, out);
            }
            failed_exit(&reports)
        }
        SyncCommand::Status => {
            let sources = answer(s.client.sync_status(ctx()).await)?;
            if out.json(&sources)? {
                return Ok(());
            }
            print_status(&sources, out);
            Ok(())
        }
    }
}

pub async fn identities(s: &Session, out: Output, c: IdentitiesCommand) -> Result<(), Failure> {
    let IdentitiesCommand::Import(a) = c;
    let source = source_name("--source", &a.source)?;
    let snap = read_file(&a)?;
    let plan = upload(s, &source, &snap, true, a.force).await?;
    if a.dry_run {
        if !out.json(&plan)? {
            print_report(&plan, out);
        }
        return refused_exit(&plan);
    }
    if !out.json {
        print_report(&plan, out);
    }
    if plan.refused.is_some() {
        if out.json {
            out.json(&plan)?;
        }
        return refused_exit(&plan);
    }
    if changes(&plan) == 0 {
        if out.json {
            out.json(&plan)?;
        } else {
            println!("nothing to change");
        }
        return Ok(());
    }
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::invalid(
                "--yes",
                "not asking on a non-interactive input: review with --dry-run, then import with --yes",
            ));
        }
        print!(
            "Apply these changes to {} people and groups? [y/N] ",
            changes(&plan)
        );
        std::io::stdout().flush().ok();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Local(format!("cannot read the answer: {e}")))?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            println!("nothing applied");
            return Ok(());
        }
    }
    let applied = upload(s, &source, &snap, false, a.force).await?;
    if !out.json(&applied)? {
        println!(
            "applied: {} added, {} updated, {} deactivated, {} reactivated; groups {} added, {} updated, {} removed",
            applied.added,
            applied.updated,
            applied.deactivated,
            applied.reactivated,
            applied.groups_added,
            applied.groups_updated,
            applied.groups_removed
        );
        if applied.requests_cancelled + applied.grants_revoked > 0 {
            println!(
                "eligibility lost: {} pending request(s) cancelled, {} grant(s) revoked",
                applied.requests_cancelled, applied.grants_revoked
            );
        }
    }
    refused_exit(&applied)
}

fn source_name(flag: &str, s: &str) -> Result<SourceName, Failure> {
    SourceName::new(s.trim()).map_err(|e| Failure::invalid(flag, e.to_string()))
}

/// Reads and parses the file; every bad row is printed and nothing is sent.
fn read_file(a: &ImportArgs) -> Result<Snapshot, Failure> {
    let shown = a.file.display().to_string();
    let meta = std::fs::metadata(&a.file)
        .map_err(|e| Failure::invalid("FILE", format!("{shown}: {e}")))?;
    if meta.len() > identity_file::MAX_FILE_BYTES as u64 {
        return Err(Failure::invalid(
            "FILE",
            format!("{shown} is larger than 256 MiB"),
        ));
    }
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| Failure::invalid("FILE", format!("{shown}: {e}")))?;
    let format = match a.format.as_deref() {
        Some("json") => FileFormat::Json,
        Some(_) => FileFormat::Csv,
        None => FileFormat::guess(&shown, &text),
    };
    identity_file::parse(format, &text).map_err(|errors| {
        for e in &errors {
            eprintln!("{shown}: {e}");
        }
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        Failure::Api(ApiError::invalid(
            "FILE",
            format!(
                "{shown} has {}, nothing was imported; the first: {first}",
                identity_file::problem_count(&errors)
            ),
        ))
    })
}

/// Sends the snapshot in chunks; the last one applies (or plans) it.
async fn upload(
    s: &Session,
    source: &SourceName,
    snap: &Snapshot,
    dry_run: bool,
    force: bool,
) -> Result<SyncReport, Failure> {
    let chunks: Vec<&[hallpass_core::identity::PersonRecord]> = if snap.people.is_empty() {
        vec![&[]]
    } else {
        snap.people.chunks(CHUNK).collect()
    };
    let mut upload = None;
    // People first, then groups; the last group chunk applies.
    for people in chunks {
        let chunk = ImportChunk {
            upload,
            source: source.clone(),
            people: people.to_vec(),
            groups: vec![],
            done: false,
            dry_run,
            force,
        };
        let ack = answer(s.client.import_identities(ctx(), chunk).await)?;
        upload = Some(ack.upload);
    }
    let group_chunks: Vec<&[hallpass_core::identity::GroupRecord]> = if snap.groups.is_empty() {
        vec![&[]]
    } else {
        snap.groups.chunks(200).collect()
    };
    let last = group_chunks.len() - 1;
    for (i, groups) in group_chunks.into_iter().enumerate() {
        let chunk = ImportChunk {
            upload,
            source: source.clone(),
            people: vec![],
            groups: groups.to_vec(),
            done: i == last,
            dry_run,
            force,
        };
        let deadline = if i == last {
            SYNC_DEADLINE
        } else {
            Duration::from_secs(30)
        };
        let ack = answer(s.client.import_identities(ctx_for(deadline), chunk).await)?;
        upload = Some(ack.upload);
        if let Some(report) = ack.report {
            return Ok(report);
        }
    }
    Err(Failure::Local(
        "the daemon finished the import without a report".into(),
    ))
}

fn changes(r: &SyncReport) -> u32 {
    r.added
        + r.updated
        + r.deactivated
        + r.reactivated
        + r.groups_added
        + r.groups_updated
        + r.groups_removed
}

/// Exit 6 (conflict) when a run was refused, so scripts notice.
fn refused_exit(r: &SyncReport) -> Result<(), Failure> {
    match &r.refused {
        Some(_) => Err(Failure::Reported(6)),
        None => Ok(()),
    }
}

fn failed_exit(rs: &[SyncReport]) -> Result<(), Failure> {
    rs.iter().try_for_each(refused_exit)
}

fn print_report(r: &SyncReport, out: Output) {
    let name = r
        .source
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let verb = if r.dry_run { "would change" } else { "changed" };
    println!(
        "{name}: {} people and {} groups read",
        r.people_seen, r.groups_seen
    );
    for c in &r.changes {
        if c.fields.is_empty() {
            println!("  {} {}", c.kind.sign(), c.what);
        } else {
            println!("  {} {}  ({})", c.kind.sign(), c.what, c.fields);
        }
    }
    if r.changes_truncated {
        println!("  … (the first {} changes are shown)", r.changes.len());
    }
    for e in &r.errors {
        println!("  ! {e}");
    }
    match &r.refused {
        Some(why) => eprintln!("{name}: refused, nothing changed: {why}"),
        None => println!(
            "{name} {verb}: {} added, {} updated, {} unchanged, {} deactivated, {} reactivated; groups {} added, {} updated, {} removed{}{}",
            r.added,
            r.updated,
            r.unchanged,
            r.deactivated,
            r.reactivated,
            r.groups_added,
            r.groups_updated,
            r.groups_removed,
            if r.errors.is_empty() {
                String::new()
            } else {
                format!("; {} record(s) skipped", r.errors.len())
            },
            if r.dry_run {
                String::new()
            } else {
                format!(" (finished {})", when(r.finished_at, out.now()))
            }
        ),
    }
}

fn print_status(sources: &[SourceStatus], out: Output) {
    if sources.is_empty() {
        println!(
            "no identity sources: add [[sync.source]] to hallpassd.toml, or import a file with `hallpass identities import FILE`"
        );
        return;
    }
    let now = out.now();
    let rows = sources
        .iter()
        .map(|s| {
            let (last, counts, errors) = match &s.last {
                None => ("never".to_string(), String::new(), String::new()),
                Some(r) => (
                    when(r.finished_at, now),
                    format!(
                        "+{} ~{} -{}",
                        r.added,
                        r.updated + r.reactivated,
                        r.deactivated
                    ),
                    match &r.refused {
                        Some(why) => format!("refused: {why}"),
                        None if r.errors.is_empty() => String::new(),
                        None => format!("{} skipped", r.errors.len()),
                    },
                ),
            };
            let state = match &s.running {
                Some(p) if p.total > 0 => format!("{} {}/{}", p.phase, p.done, p.total),
                Some(p) => p.phase.clone(),
                None if s.interval_secs == 0 => "on demand".into(),
                None => format!(
                    "every {}",
                    humantime::format_duration(Duration::from_secs(s.interval_secs))
                ),
            };
            [
                s.name.to_string(),
                s.kind.clone(),
                s.people.to_string(),
                state,
                last,
                counts,
                errors,
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            [
                "source",
                "kind",
                "people",
                "runs",
                "last run",
                "last changes",
                "errors"
            ],
            rows
        )
    );
}

/// While a sync runs, a progress line on stderr (only on a terminal, never with --json).
fn show_progress(
    s: &Session,
    out: Output,
    source: Option<SourceName>,
) -> tokio::task::JoinHandle<()> {
    let client = s.client.clone();
    tokio::spawn(async move {
        if out.json || !std::io::stderr().is_terminal() {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let Ok(Ok(sources)) = client.sync_status(ctx()).await else {
                continue;
            };
            let line: Vec<String> = sources
                .iter()
                .filter(|st| source.as_ref().is_none_or(|n| &st.name == n))
                .filter_map(|st| {
                    st.running.as_ref().map(|p| {
                        if p.total > 0 {
                            let pct = u64::from(p.done) * 100 / u64::from(p.total);
                            let filled = (pct / 5) as usize;
                            format!(
                                "{} {} [{}{}] {}/{}",
                                st.name,
                                p.phase,
                                "#".repeat(filled),
                                " ".repeat(20 - filled.min(20)),
                                p.done,
                                p.total
                            )
                        } else {
                            format!("{} {}…", st.name, p.phase)
                        }
                    })
                })
                .collect();
            if !line.is_empty() {
                eprint!("\r\x1b[2K{}", line.join("  "));
            }
        }
    })
}

fn clear_progress(out: Output) {
    if !out.json && std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}
