//! Writing audit events to a file: CSV (RFC 4180 quoting) or a JSON array, one event at a
//! time, so an export of any size holds one page in memory. Invariant: every field is written
//! exactly as recorded (hashes included, so an export can be checked against the chain).

use std::io::Write;

use crate::audit::AuditEvent;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

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

/// Writes events as they arrive.
pub struct ExportWriter<W: Write> {
    format: ExportFormat,
    sink: W,
    written: u64,
}

impl<W: Write> ExportWriter<W> {
    pub fn start(format: ExportFormat, sink: W) -> std::io::Result<Self> {
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

    pub fn event(&mut self, e: &AuditEvent) -> std::io::Result<()> {
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

    /// Ends the document and flushes; the number of events written.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if self.format == ExportFormat::Json {
            writeln!(self.sink, "{}]", if self.written == 0 { "" } else { "\n" })?;
        }
        self.sink.flush()?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditEntry, GENESIS_HASH, Source};
    use crate::time::Timestamp;
    use crate::{IntegrationName, UserId};

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
}
