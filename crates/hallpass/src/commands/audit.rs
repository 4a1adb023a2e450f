//! The audit log: `audit` (filtered listing), `audit export` (every matching event as CSV or
//! JSON) and `audit verify` (the hash chain). Invariant: an export pages through to the end and
//! writes each field exactly as recorded, quoted per RFC 4180 where needed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use hallpass_core::Timestamp;
use hallpass_core::audit_export;
use hallpass_proto::{AuditQuery, ExportError};

use crate::commands::{collect_pages, note_truncated};
use crate::connection::{Session, ctx, ctx_for};
use crate::failure::{Failure, answer};
use crate::flag_values::{integration_name, time_or_ago, user_ref};
use crate::output::{Output, clip, print_json, relative, table};

/// `audit verify` walks the whole chain; give it time.
const VERIFY_DEADLINE: Duration = Duration::from_secs(600);
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

/// `audit export`: every event of the filters, CSV or JSON, to a file or standard output.
async fn export(s: &Session, out: Output, a: ExportArgs) -> Result<(), Failure> {
    let query = a.filters.query(out.now())?;
    let shown = a
        .output
        .as_ref()
        .map_or_else(|| "stdout".to_string(), |p| p.display().to_string());
    let sink: Box<dyn Write> = match &a.output {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).map_err(|e| {
                Failure::Local(format!("cannot write {shown}: {e}"))
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let format = match a.format {
        ExportFormat::Csv => audit_export::ExportFormat::Csv,
        ExportFormat::Json => audit_export::ExportFormat::Json,
    };
    let written = hallpass_proto::export_audit(&s.client, ctx, query, format, sink)
        .await
        .map_err(|e| match e {
            ExportError::Api(e) => Failure::Api(e),
            ExportError::Rpc(e) => Failure::from(e),
            ExportError::Io(e) => Failure::Local(format!("cannot write {shown}: {e}")),
        })?;
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
