//! Identity sync: reading the configured sources (files, LDAP) on their intervals and on
//! demand, staging chunked file imports, and handing each whole snapshot to [`snapshot`].
//! Invariants: one run per source at a time; a source that cannot be read changes nothing and
//! its failure is recorded, announced and audited like a successful run.

pub mod ldap;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hallpass_core::SourceName;
use hallpass_core::audit::{Actor, Source};
use hallpass_core::identity::{GroupRecord, PersonRecord, RecordError, Snapshot, SyncReport};
use hallpass_core::identity_file::{self, FileFormat};
use hallpass_proto::{ApiError, SyncProgress};
use tokio::sync::watch;

use crate::broker::{Broker, Fail};
use crate::config::SourceConfig;
pub use snapshot::SyncOptions;

/// An import may hold at most this many people across its chunks.
const MAX_IMPORT_PEOPLE: usize = 2_000_000;
/// A staged import not finished within this is dropped.
const IMPORT_TTL: Duration = Duration::from_secs(600);

/// Runs in progress (with their progress) and staged imports.
#[derive(Default)]
pub struct SyncState {
    running: Mutex<BTreeMap<SourceName, SyncProgress>>,
    uploads: Mutex<BTreeMap<u64, Upload>>,
    next_upload: Mutex<u64>,
}

struct Upload {
    source: SourceName,
    people: Vec<PersonRecord>,
    groups: Vec<GroupRecord>,
    started: Instant,
}

/// Holds a source's "running" slot; dropping it frees the slot.
pub(crate) struct RunGuard<'a> {
    state: &'a SyncState,
    source: SourceName,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        lock(&self.state.running).remove(&self.source);
    }
}

impl RunGuard<'_> {
    pub(crate) fn progress(&self, phase: &str, done: u32, total: u32) {
        if let Some(p) = lock(&self.state.running).get_mut(&self.source) {
            *p = SyncProgress {
                phase: phase.to_string(),
                done,
                total,
            };
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain data; a panicked holder left nothing half-written.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SyncState {
    /// Claims `source` for a run, or says it is already running.
    pub(crate) fn begin(&self, source: &SourceName) -> Result<RunGuard<'_>, Fail> {
        let mut running = lock(&self.running);
        if running.contains_key(source) {
            return Err(Fail::Api(ApiError::conflict(format!(
                "a sync of {source} is already running; see `hallpass sync status`"
            ))));
        }
        running.insert(
            source.clone(),
            SyncProgress {
                phase: "starting".into(),
                done: 0,
                total: 0,
            },
        );
        Ok(RunGuard {
            state: self,
            source: source.clone(),
        })
    }

    pub fn progress_of(&self, source: &SourceName) -> Option<SyncProgress> {
        lock(&self.running).get(source).cloned()
    }

    /// Adds a chunk to an upload (starting one when `upload` is `None`); returns the upload
    /// id and the people received so far.
    pub(crate) fn stage(
        &self,
        upload: Option<u64>,
        source: &SourceName,
        people: Vec<PersonRecord>,
        groups: Vec<GroupRecord>,
    ) -> Result<(u64, usize), Fail> {
        let mut uploads = lock(&self.uploads);
        uploads.retain(|_, u| u.started.elapsed() < IMPORT_TTL);
        let id = match upload {
            Some(id) => id,
            None => {
                let mut next = lock(&self.next_upload);
                *next += 1;
                uploads.insert(
                    *next,
                    Upload {
                        source: source.clone(),
                        people: vec![],
                        groups: vec![],
                        started: Instant::now(),
                    },
                );
                *next
            }
        };
        let Some(u) = uploads.get_mut(&id) else {
            return Err(Fail::Api(ApiError::invalid(
                "upload",
                format!(
                    "upload {id} is unknown or expired (imports must finish within 10 minutes); start again"
                ),
            )));
        };
        if &u.source != source {
            return Err(Fail::Api(ApiError::invalid(
                "source",
                format!("upload {id} is for source {}", u.source),
            )));
        }
        if u.people.len() + people.len() > MAX_IMPORT_PEOPLE {
            uploads.remove(&id);
            return Err(Fail::Api(ApiError::invalid(
                "people",
                format!("an import holds at most {MAX_IMPORT_PEOPLE} people"),
            )));
        }
        u.people.extend(people);
        u.groups.extend(groups);
        Ok((id, u.people.len()))
    }

    /// Takes a finished upload out of staging.
    pub(crate) fn take(&self, id: u64) -> Option<Snapshot> {
        lock(&self.uploads).remove(&id).map(|u| Snapshot {
            people: u.people,
            groups: u.groups,
            unreadable: Vec::new(),
        })
    }
}

/// The options a configured source runs with.
pub fn options_for(cfg: &SourceConfig, via: Source, actor: Actor) -> SyncOptions {
    SyncOptions {
        max_deactivate_percent: cfg.max_deactivate_percent,
        min_people: cfg.min_people,
        ..SyncOptions::new(via, actor)
    }
}

/// Reads one configured source and applies it. A source that cannot be read is recorded as
/// a refused run (nothing changes) and returned as such, not as an error.
pub async fn run_source(
    broker: &Broker,
    cfg: &SourceConfig,
    opts: &SyncOptions,
) -> Result<SyncReport, Fail> {
    let guard = broker.sync.begin(&cfg.name)?;
    guard.progress("reading", 0, 0);
    // What the plan compares against is loaded while the directory answers.
    let (store, name) = (broker.store().clone(), cfg.name.clone());
    let preload = tokio::task::spawn_blocking(move || snapshot::preload(&store, &name));
    let read = read_source(cfg, &guard).await;
    let linked = match preload.await {
        Ok(l) => Some(l?),
        // The preload task panicked: load it again inline, where an error surfaces.
        Err(_) => None,
    };
    let (snap, skipped) = match read {
        Ok(ok) => ok,
        Err(why) => {
            tracing::warn!(source = %cfg.name, %why, "identity source could not be read");
            if opts.dry_run {
                let now = broker.now();
                return Ok(SyncReport {
                    source: Some(cfg.name.clone()),
                    dry_run: true,
                    started_at: now,
                    finished_at: now,
                    refused: Some(why),
                    ..SyncReport::default()
                });
            }
            return snapshot::record_failure(broker, &cfg.name, why, opts).await;
        }
    };
    guard.progress(
        "applying",
        0,
        u32::try_from(snap.people.len()).unwrap_or(u32::MAX),
    );
    let report = snapshot::apply(
        broker,
        &cfg.name,
        snap,
        linked,
        skipped,
        opts,
        &|phase, done, total| guard.progress(phase, done, total),
    )
    .await?;
    log_report(&report);
    Ok(report)
}

/// Applies an uploaded snapshot (a file import) as the whole of `source`.
pub async fn run_import(
    broker: &Broker,
    source: &SourceName,
    snap: Snapshot,
    opts: &SyncOptions,
) -> Result<SyncReport, Fail> {
    let guard = broker.sync.begin(source)?;
    guard.progress(
        "applying",
        0,
        u32::try_from(snap.people.len()).unwrap_or(u32::MAX),
    );
    let report = snapshot::apply(
        broker,
        source,
        snap,
        None,
        vec![],
        opts,
        &|phase, done, total| guard.progress(phase, done, total),
    )
    .await?;
    log_report(&report);
    Ok(report)
}

fn log_report(r: &SyncReport) {
    let source = r
        .source
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    match &r.refused {
        Some(why) => {
            tracing::warn!(%source, dry_run = r.dry_run, %why, "identity sync changed nothing")
        }
        None => tracing::info!(
            %source,
            dry_run = r.dry_run,
            added = r.added,
            updated = r.updated,
            deactivated = r.deactivated,
            skipped = r.errors.len(),
            "identity sync"
        ),
    }
}

/// The snapshot a configured source holds now, with the records it had to skip.
async fn read_source(
    cfg: &SourceConfig,
    guard: &RunGuard<'_>,
) -> Result<(Snapshot, Vec<RecordError>), String> {
    if let Some(l) = &cfg.ldap {
        let read = ldap::read_snapshot(l, &|p: ldap::Progress| {
            guard.progress("reading", p.people + p.groups, 0)
        })
        .await
        .map_err(|e| e.to_string())?;
        return Ok((read.snapshot, read.skipped));
    }
    if let Some(file) = &cfg.file {
        let path = file.path.clone();
        let text = tokio::task::spawn_blocking(move || read_file(&path))
            .await
            .map_err(|e| format!("reading the file failed: {e}"))??;
        let format = FileFormat::guess(&file.path.to_string_lossy(), &text);
        return identity_file::parse(format, &text)
            .map(|s| (s, vec![]))
            .map_err(|errs| {
                let shown: Vec<String> = errs.iter().take(5).map(ToString::to_string).collect();
                format!(
                    "{} has {}: {}",
                    file.path.display(),
                    identity_file::problem_count(&errs),
                    shown.join("; ")
                )
            });
    }
    Err(format!("source {} has no kind configured", cfg.name))
}

fn read_file(path: &std::path::Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > identity_file::MAX_FILE_BYTES as u64 {
        return Err(format!("{} is larger than 256 MiB", path.display()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs every configured source on its interval until shutdown. The first run of each is one
/// interval after start, so a restart loop cannot hammer a directory.
pub async fn run_periodic(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let sources: Vec<SourceConfig> = broker
        .config()
        .sync
        .source
        .iter()
        .filter(|s| !s.interval.is_zero())
        .cloned()
        .collect();
    if sources.is_empty() {
        return;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for cfg in sources {
        let broker = broker.clone();
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut next = tokio::time::Instant::now() + cfg.interval;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = shutdown.changed() => return,
                }
                let opts = options_for(&cfg, source_of(&cfg), Actor::System);
                if let Err(e) = run_source(&broker, &cfg, &opts).await {
                    tracing::warn!(source = %cfg.name, error = ?e, "periodic identity sync failed");
                }
                next = tokio::time::Instant::now() + cfg.interval;
            }
        });
    }
    let _ = shutdown.changed().await;
    tasks.shutdown().await;
}

/// The audit source of a configured source's runs.
pub fn source_of(cfg: &SourceConfig) -> Source {
    match cfg.kind() {
        "ldap" => Source::Ldap,
        _ => Source::System,
    }
}
