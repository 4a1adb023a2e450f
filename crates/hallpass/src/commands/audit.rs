//! The audit log: `audit` (filtered listing), `audit export` (every matching event as CSV or
//! JSON) and `audit verify` (the hash chain). Invariant: an export pages through to the end and
//! writes each field exactly as recorded, quoted per RFC 4180 where needed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use hallpass_core::Timestamp;
use hallpass_core::audit::AuditEvent;
use hallpass_proto::AuditQuery;

use crate::commands::{collect_pages, note_truncated};
use crate::connection::{Session, ctx, ctx_for};
use crate::failure::{Failure, answer};
use crate::flag_values::{integration_name, time_or_ago, user_ref};
use crate::output::{Output, clip, print_json, relative, table};

/// `audit verify` walks the whole chain; give it time.
const VERIFY_DEADLINE: Duration = Duration::from_secs(600);
/// Events asked for per page when exporting.
const EXPORT_PAGE: u32 = 500;
/// Exit code when the chain is broken (same as a conflict).
const EXIT_BROKEN: i32 = 6;

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Examples:
  hallpass audit --since 2h
  hallpass audit --person ada@example.com --action request. --limit 20
  hallpass audit export --format csv --since 2026-11-01T00:00:00Z --output november.csv
  hallpass audit verify"
)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub filters: AuditFilters,
    /// Show at most N events
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write every matching event as CSV or JSON
    Export(ExportArgs),
    /// Check the hash chain; exits 6 and names the first broken event if it was tampered with
    Verify,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file format
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub filters: AuditFilters,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// seq,at,actor,source,action,target,summary,status,integration,prev_hash,hash
    Csv,
    /// A JSON array of events
    Json,
}

#[derive(Debug, Args)]
pub struct AuditFilters {
    /// Events by or about this person (U-3 or e-mail)
    #[arg(long, value_name = "USER")]
    pub person: Option<String>,
    /// Events about this integration
    #[arg(long, value_name = "INTEGRATION")]
    pub integration: Option<String>,
    /// Events whose resulting status is this, e.g. approved, active, revoke_failed
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Events whose action contains this, e.g. `request.` or `grant.revoke`
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// From this time: RFC 3339, or a duration meaning that long ago (2h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Up to this time: RFC 3339, or a duration meaning that long ago
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

impl AuditFilters {
    pub fn query(&self, now: Timestamp) -> Result<AuditQuery, Failure> {
        let text = |s: &Option<String>| {
            s.as_ref()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        Ok(AuditQuery {
            person: self
                .person
                .as_deref()
                .map(|p| user_ref("--person", p))
                .transpose()?,
            integration: self
                .integration
                .as_deref()
                .map(|i| integration_name("--integration", i))
                .transpose()?,
            status: text(&self.status),
            action: text(&self.action),
            since: self
                .since
                .as_deref()
                .map(|t| time_or_ago("--since", t, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| time_or_ago("--until", t, now))
                .transpose()?,
            after: None,
            limit: 0,
        })
    }
}

pub async fn run(s: &Session, out: Output, a: AuditArgs) -> Result<(), Failure> {
    match a.command {
        Some(AuditCommand::Export(e)) => export(s, out, e).await,
        Some(AuditCommand::Verify) => verify(s, out).await,
        None => list(s, out, &a.filters, a.limit).await,
    }
}

async fn list(s: &Session, out: Output, f: &AuditFilters, limit: u32) -> Result<(), Failure> {
    let base = f.query(out.now())?;
    let client = &s.client;
    let (items, more) = collect_pages(limit, |after, limit| {
        let q = AuditQuery {
            after,
            limit,
            ..base.clone()
        };
        async move { answer(client.list_audit(ctx(), q).await) }
    })
    .await?;
    if out.json(&items)? {
        note_truncated(items.len(), more);
        return Ok(());
    }
    if items.is_empty() {
        println!("no audit events match");
        return Ok(());
    }
    let now = out.now();
    println!(
        "{}",
        table(
            [
                "seq", "when", "actor", "action", "target", "status", "summary"
            ],
            items
                .iter()
                .map(|e| {
                    [
                        e.seq.to_string(),
                        format!("{} ({})", e.at, relative(e.at, now)),
                        e.entry.actor.to_string(),
                        e.entry.action.clone(),
                        e.entry.target.clone(),
                        e.entry.status.clone().unwrap_or_else(|| "-".into()),
                        clip(&e.entry.summary, 60),
                    ]
                })
                .collect(),
        )
    );
    note_truncated(items.len(), more);
    Ok(())
}

/// The CSV header line.
pub const CSV_HEADER: &str =
    "seq,at,actor,source,action,target,summary,status,integration,prev_hash,hash";

/// One CSV field: quoted when it holds a comma, quote, CR or LF (quotes doubled), else as is.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One event as a CSV record (without the line ending).
pub fn csv_record(e: &AuditEvent) -> String {
    [
        e.seq.to_string(),
        e.at.to_rfc3339(),
        e.entry.actor.to_string(),
        e.entry.source.to_string(),
        e.entry.action.clone(),
        e.entry.target.clone(),
        e.entry.summary.clone(),
        e.entry.status.clone().unwrap_or_default(),
        e.entry
            .integration
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

/// Writes events as they arrive, so an export of any size needs only one page in memory.
struct ExportWriter<W: Write> {
    format: ExportFormat,
    sink: W,
    written: u64,
}

impl<W: Write> ExportWriter<W> {
    fn start(format: ExportFormat, sink: W) -> std::io::Result<Self> {
        let mut w = ExportWriter {
            format,
            sink,
            written: 0,
        };
        match format {
            ExportFormat::Csv => writeln!(w.sink, "{CSV_HEADER}")?,
            ExportFormat::Json => write!(w.sink, "[")?,
        }
        Ok(w)
    }

    fn event(&mut self, e: &AuditEvent) -> std::io::Result<()> {
        match self.format {
            ExportFormat::Csv => writeln!(self.sink, "{}", csv_record(e))?,
            ExportFormat::Json => {
                let sep = if self.written == 0 { "\n" } else { ",\n" };
                write!(self.sink, "{sep}")?;
                serde_json::to_writer_pretty(&mut self.sink, e)?;
            }
        }
        self.written += 1;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<u64> {
        if self.format == ExportFormat::Json {
            writeln!(self.sink, "{}]", if self.written == 0 { "" } else { "\n" })?;
        }
        self.sink.flush()?;
        Ok(self.written)
    }
}

async fn export(s: &Session, out: Output, a: ExportArgs) -> Result<(), Failure> {
    let mut query = a.filters.query(out.now())?;
    let shown = a
        .output
        .as_ref()
        .map_or_else(|| "stdout".to_string(), |p| p.display().to_string());
    let io_failure = |e: std::io::Error| Failure::Local(format!("cannot write {shown}: {e}"));
    let sink: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(&io_failure)?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut w = ExportWriter::start(a.format, sink).map_err(&io_failure)?;
    loop {
        query.limit = EXPORT_PAGE;
        let page = answer(s.client.list_audit(ctx(), query.clone()).await)?;
        for e in &page.items {
            w.event(e).map_err(&io_failure)?;
        }
        match page.next {
            Some(next) if !page.items.is_empty() && query.after.as_deref() != Some(&next) => {
                query.after = Some(next);
            }
            _ => break,
        }
    }
    let written = w.finish().map_err(&io_failure)?;
    if let Some(path) = &a.output {
        if out.json {
            print_json(&serde_json::json!({ "exported": written, "output": path }))?;
        } else {
            eprintln!("exported {written} event(s) to {}", path.display());
        }
    }
    Ok(())
}

async fn verify(s: &Session, out: Output) -> Result<(), Failure> {
    let v = answer(s.client.verify_audit(ctx_for(VERIFY_DEADLINE)).await)?;
    out.json(&v)?;
    match v.broken_at {
        None => {
            if !out.json {
                println!(
                    "audit log intact: {} event(s) checked; head seq {} hash {}",
                    v.checked, v.head_seq, v.head_hash
                );
            }
            Ok(())
        }
        Some(seq) => {
            eprintln!(
                "error: the audit log is broken at seq {seq}: {} ({} event(s) before it check out)",
                v.why.as_deref().unwrap_or("its hash chain does not match"),
                v.checked
            );
            Err(Failure::Reported(EXIT_BROKEN))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_core::audit::{Actor, AuditEntry, GENESIS_HASH, Source};
    use hallpass_core::{IntegrationName, UserId};

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");
    }

    #[test]
    fn csv_records_have_every_column_in_order() {
        let e = AuditEvent::seal(
            3,
            Timestamp(1_795_000_000_000),
            AuditEntry {
                actor: Actor::User {
                    id: UserId(1),
                    email: "ada@example.com".into(),
                    via: None,
                },
                source: Source::Cli,
                action: "request.reject".into(),
                target: "HP-1001".into(),
                summary: "pending → rejected: \"not now\", sorry".into(),
                subject: Some(UserId(2)),
                integration: Some(IntegrationName::new("pg-prod").expect("valid")),
                status: Some("rejected".into()),
            },
            GENESIS_HASH,
        );
        assert_eq!(CSV_HEADER.split(',').count(), 11);
        let line = csv_record(&e);
        assert_eq!(
            line,
            format!(
                "3,2026-11-18T11:06:40Z,ada@example.com,cli,request.reject,HP-1001,\"pending → rejected: \"\"not now\"\", sorry\",rejected,pg-prod,{GENESIS_HASH},{}",
                e.hash
            )
        );
    }

    #[test]
    fn json_export_is_one_array() {
        let e = AuditEvent::seal(
            1,
            Timestamp(0),
            AuditEntry {
                actor: Actor::System,
                source: Source::System,
                action: "daemon.start".into(),
                target: "-".into(),
                summary: "started".into(),
                subject: None,
                integration: None,
                status: None,
            },
            GENESIS_HASH,
        );
        let mut buf: Vec<u8> = Vec::new();
        {
            let mut w = ExportWriter::start(ExportFormat::Json, &mut buf).expect("start");
            w.event(&e).expect("event");
            w.event(&e).expect("event");
            assert_eq!(w.finish().expect("finish"), 2);
        }
        let back: Vec<AuditEvent> = serde_json::from_slice(&buf).expect("valid JSON array");
        assert_eq!(back, vec![e.clone(), e]);

        let mut empty: Vec<u8> = Vec::new();
        {
            let w = ExportWriter::start(ExportFormat::Json, &mut empty).expect("start");
            w.finish().expect("finish");
        }
        let back: Vec<AuditEvent> = serde_json::from_slice(&empty).expect("valid");
        assert!(back.is_empty());
    }

    #[test]
    fn filters_parse_times_and_name_bad_flags() {
        let f = AuditFilters {
            person: Some("ada@example.com".into()),
            integration: None,
            status: Some("  ".into()),
            action: Some("grant.".into()),
            since: Some("2h".into()),
            until: Some("2026-11-26T18:00:00Z".into()),
        };
        let now = Timestamp(1_795_000_000_000);
        let q = f.query(now).expect("valid");
        assert_eq!(q.since, Some(Timestamp(now.0 - 7_200_000)));
        assert_eq!(q.status, None);
        assert_eq!(q.action.as_deref(), Some("grant."));
        let bad = AuditFilters {
            since: Some("last tuesday".into()),
            ..f
        };
        match bad.query(now) {
            Err(Failure::Api(hallpass_proto::ApiError::InvalidInput { field, .. })) => {
                assert_eq!(field, "--since");
            }
            other => panic!("expected invalid --since, got {other:?}"),
        }
    }
}
