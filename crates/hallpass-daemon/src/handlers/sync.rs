//! Identity sync: run configured sources, report their state, and take file imports in
//! chunks. Invariants: admins only change anything (auditors may read the status); a dry run
//! writes nothing; an import is applied only when its last chunk arrives.

use hallpass_core::SourceName;
use hallpass_core::identity::SyncReport;
use hallpass_proto::{ApiError, ImportAck, ImportChunk, SourceStatus};

use super::Session;
use crate::broker::{Caller, Fail};
use crate::sync::{self, SyncOptions};

pub async fn run(
    s: &Session,
    c: &Caller,
    source: Option<SourceName>,
    dry_run: bool,
    force: bool,
) -> Result<Vec<SyncReport>, Fail> {
    s.broker.require_admin(c, "Running identity sync")?;
    let all = &s.broker.config().sync.source;
    let chosen: Vec<_> = match &source {
        Some(name) => match all.iter().find(|s| &s.name == name) {
            Some(cfg) => vec![cfg.clone()],
            None => {
                let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                return Err(Fail::Api(ApiError::NotFound {
                    what: format!(
                        "identity source {name} (configured: {})",
                        if known.is_empty() {
                            "none; add [[sync.source]] to hallpassd.toml".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                }));
            }
        },
        None if all.is_empty() => {
            return Err(Fail::Api(ApiError::conflict(
                "no identity sources are configured: add [[sync.source]] to hallpassd.toml, or use `hallpass identities import FILE`",
            )));
        }
        None => all.clone(),
    };
    let mut reports = Vec::with_capacity(chosen.len());
    for cfg in &chosen {
        let opts = SyncOptions {
            dry_run,
            force,
            ..sync::options_for(cfg, sync::source_of(cfg), c.actor())
        };
        reports.push(sync::run_source(&s.broker, cfg, &opts).await?);
    }
    Ok(reports)
}

pub async fn status(s: &Session, c: &Caller) -> Result<Vec<SourceStatus>, Fail> {
    s.broker.require_reader(c, "Identity sync status")?;
    let store = s.broker.store();
    let mut out: Vec<SourceStatus> = Vec::new();
    for cfg in &s.broker.config().sync.source {
        out.push(SourceStatus {
            name: cfg.name.clone(),
            kind: cfg.kind().to_string(),
            interval_secs: cfg.interval.as_secs(),
            people: store.source_links(&cfg.name)?.len() as u64,
            last: store.sync_run(&cfg.name)?,
            running: s.broker.sync.progress_of(&cfg.name),
        });
    }
    // Sources that ran without being configured: file imports, SCIM, removed sources.
    for last in store.sync_runs()? {
        let Some(name) = last.source.clone() else {
            continue;
        };
        if out.iter().any(|o| o.name == name) {
            continue;
        }
        out.push(SourceStatus {
            people: store.source_links(&name)?.len() as u64,
            kind: if name.as_str() == "scim" {
                "scim"
            } else {
                "import"
            }
            .to_string(),
            interval_secs: 0,
            running: s.broker.sync.progress_of(&name),
            last: Some(last),
            name,
        });
    }
    Ok(out)
}

pub async fn import(s: &Session, c: &Caller, chunk: ImportChunk) -> Result<ImportAck, Fail> {
    s.broker.require_admin(c, "Importing identities")?;
    if s.broker
        .config()
        .sync
        .source
        .iter()
        .any(|cfg| cfg.name == chunk.source)
    {
        return Err(Fail::Api(ApiError::invalid(
            "source",
            format!(
                "{} is a configured source that the daemon reads itself; import under another name, or run `hallpass sync run --source {}`",
                chunk.source, chunk.source
            ),
        )));
    }
    if chunk.source.as_str() == "scim" {
        return Err(Fail::Api(ApiError::invalid(
            "source",
            "scim is the SCIM server's source; import under another name",
        )));
    }
    let (upload, received) =
        s.broker
            .sync
            .stage(chunk.upload, &chunk.source, chunk.people, chunk.groups)?;
    let received = u32::try_from(received).unwrap_or(u32::MAX);
    if !chunk.done {
        return Ok(ImportAck {
            upload,
            received,
            report: None,
        });
    }
    let snap = s.broker.sync.take(upload).ok_or_else(|| {
        Fail::Api(ApiError::invalid(
            "upload",
            format!("upload {upload} expired"),
        ))
    })?;
    let opts = SyncOptions {
        dry_run: chunk.dry_run,
        force: chunk.force,
        strict: true,
        ..SyncOptions::new(c.source, c.actor())
    };
    let report = sync::run_import(&s.broker, &chunk.source, snap, &opts).await?;
    Ok(ImportAck {
        upload,
        received,
        report: Some(report),
    })
}
