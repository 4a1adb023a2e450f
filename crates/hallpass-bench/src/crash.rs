//! `crash`: the kill -9 harness. Starts the real `hallpassd`, drives mixed concurrent load
//! over the socket (invites, manual requests, approvals, auto requests, releases, extensions;
//! grants last 1–5 s so expiries happen throughout, across restarts too), SIGKILLs the daemon
//! at random moments (now and then again during its start-up), restarts it, and after every
//! restart checks, with the load paused:
//! - the store opens (the daemon serves again within 30 s);
//! - the audit chain verifies;
//! - every acknowledged operation is present (an oracle of the replies received: everything
//!   acknowledged since the previous check, plus a random sample of older ones; all of them
//!   once more at the end);
//! - no grant reads Active past its deadline;
//! - no grant whose deadline passed before the daemon started is still stored Active once it
//!   serves (catch-up precedes serving), re-checked 1 s after start before calling it a failure;
//!   the catch-up time is spawn → the last such revocation started.
//!
//! Invariant: an operation counts as acknowledged only when its reply was received; a call cut
//! off by the kill is unknown and never counted either way.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::request::{RequestKind, RequestStatus};
use hallpass_core::user::Role;
use hallpass_core::{Clock, GrantId, RequestId, SystemClock, Timestamp, UserId};
use hallpass_proto::{
    ApiError, AuditQuery, ExtendArgs, GrantQuery, GrantScope, HallpassClient, InviteArgs,
    RequestView, UserRef,
};
use serde_json::json;
use tokio::sync::watch;

use crate::Env;
use crate::daemon::Daemon;
use crate::fixture::{self, AUTO, ConnectorKind, MANUAL, ctx};
use crate::report::{Outcome, Table};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// How many times to SIGKILL the daemon.
    #[arg(long, default_value_t = 100)]
    pub kills: usize,
    /// Concurrent client connections driving load.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Load runs for a random time in [min_run_ms, max_run_ms] between a restart and a kill.
    #[arg(long, default_value_t = 30)]
    pub min_run_ms: u64,
    #[arg(long, default_value_t = 400)]
    pub max_run_ms: u64,
    /// The daemon stays down for a random time up to this before restarting.
    #[arg(long, default_value_t = 300)]
    pub max_down_ms: u64,
    /// Seed for the random choices (random when absent; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = ConnectorKind::True)]
    pub connector: ConnectorKind,
}

/// xorshift64*: small, seedable, good enough to pick operations and moments.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
}

/// One acknowledged change and what must hold for it from then on.
#[derive(Clone, Debug)]
enum Ack {
    /// The invited user exists with this id.
    Invited { email: String, id: UserId },
    /// The request exists.
    Submitted { id: RequestId },
    /// The request is Approved; each grant exists, and an extended grant's deadline is at
    /// least the one the reply showed.
    Approved {
        id: RequestId,
        grants: Vec<(GrantId, Option<Timestamp>)>,
        extension: bool,
    },
    /// The grant was released: it ends with reason Released and never reads Active again.
    Released { grant: GrantId },
}

impl Ack {
    fn kind(&self) -> &'static str {
        match self {
            Ack::Invited { .. } => "invite",
            Ack::Submitted { .. } => "submit",
            Ack::Approved {
                extension: true, ..
            } => "extend+approve",
            Ack::Approved { .. } => "approve",
            Ack::Released { .. } => "release",
        }
    }
}

#[derive(Default)]
struct Shared {
    acks: Mutex<Vec<Ack>>,
    refused: AtomicU64,
    cut_off: AtomicU64,
}

impl Shared {
    fn ack(&self, a: Ack) {
        self.acks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(a);
    }
}

/// What a worker remembers to act on next.
#[derive(Default)]
struct Memory {
    pending: Vec<RequestId>,
    grants: Vec<GrantId>,
}

fn approved_ack(v: &RequestView) -> Option<Ack> {
    (v.status == RequestStatus::Approved).then(|| Ack::Approved {
        id: v.id,
        grants: v.grants.iter().map(|g| (g.id, g.expires_at)).collect(),
        extension: matches!(v.kind, RequestKind::Extend { .. }),
    })
}

/// One operation; Err only when the connection broke (the daemon is gone).
async fn one_op(
    c: &HallpassClient,
    rng: &mut Rng,
    mem: &mut Memory,
    sh: &Shared,
    worker: usize,
    n: u64,
) -> Result<(), tarpc::client::RpcError> {
    let refused = |_: ApiError| {
        sh.refused.fetch_add(1, Ordering::Relaxed);
    };
    match rng.below(100) {
        0..10 => {
            let email = format!("w{worker}-{n}-{}@crash.example", rng.next() % 1_000_000);
            let args = InviteArgs {
                email: email.clone(),
                name: format!("Crash {worker} {n}"),
                role: Role::Grantee,
                phone: None,
                expires_in_secs: None,
            };
            match c.invite_user(ctx(), args).await? {
                Ok(created) => sh.ack(Ack::Invited {
                    email,
                    id: created.user.id,
                }),
                Err(e) => refused(e),
            }
        }
        10..40 => {
            let secs = rng.between(1, 5);
            match c
                .submit_request(
                    ctx(),
                    fixture::new_request(MANUAL, rng.below(64) as usize, Some(secs)),
                )
                .await?
            {
                Ok(v) => {
                    sh.ack(Ack::Submitted { id: v.id });
                    mem.pending.push(v.id);
                }
                Err(e) => refused(e),
            }
        }
        40..65 if !mem.pending.is_empty() => {
            let id = mem
                .pending
                .swap_remove(rng.below(mem.pending.len() as u64) as usize);
            match c.approve(ctx(), id, None).await? {
                Ok(v) => {
                    if let Some(a) = approved_ack(&v) {
                        sh.ack(a);
                    }
                    if !matches!(v.kind, RequestKind::Extend { .. }) {
                        mem.grants.extend(v.grants.iter().map(|g| g.id));
                    }
                }
                Err(e) => refused(e),
            }
        }
        // Auto requests; also taken instead of an approval when nothing is pending.
        40..80 => {
            let secs = rng.between(1, 4);
            match c
                .submit_request(
                    ctx(),
                    fixture::new_request(AUTO, rng.below(64) as usize, Some(secs)),
                )
                .await?
            {
                Ok(v) => {
                    sh.ack(Ack::Submitted { id: v.id });
                    if let Some(a) = approved_ack(&v) {
                        sh.ack(a);
                    }
                    mem.grants.extend(v.grants.iter().map(|g| g.id));
                }
                Err(e) => refused(e),
            }
        }
        80..90 if !mem.grants.is_empty() => {
            let g = mem
                .grants
                .swap_remove(rng.below(mem.grants.len() as u64) as usize);
            match c.release(ctx(), g).await? {
                Ok(_) => sh.ack(Ack::Released { grant: g }),
                Err(e) => refused(e),
            }
        }
        _ if !mem.grants.is_empty() => {
            let g = mem.grants[rng.below(mem.grants.len() as u64) as usize];
            let args = ExtendArgs {
                duration_secs: rng.between(1, 3),
                reason: Some("crash harness".into()),
                source: hallpass_core::audit::Source::Api,
            };
            match c.extend(ctx(), g, args).await? {
                Ok(v) => {
                    sh.ack(Ack::Submitted { id: v.id });
                    if let Some(a) = approved_ack(&v) {
                        sh.ack(a);
                    } else {
                        mem.pending.push(v.id);
                    }
                }
                Err(e) => refused(e),
            }
        }
        _ => {}
    }
    // Forget grants that are surely over, so releases and extensions mostly hit live ones.
    if mem.grants.len() > 64 {
        mem.grants.drain(..32);
    }
    if mem.pending.len() > 64 {
        mem.pending.drain(..32);
    }
    Ok(())
}

/// A worker: connects for each epoch (daemon incarnation), runs operations until the
/// connection breaks, then waits for the next epoch. Ends when `stop` is set.
async fn worker(
    socket: std::path::PathBuf,
    mut epoch: watch::Receiver<u64>,
    stop: Arc<AtomicBool>,
    sh: Arc<Shared>,
    worker: usize,
    mut rng: Rng,
) {
    let mut mem = Memory::default();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        epoch.borrow_and_update();
        if let Ok(Ok((c, _))) = tokio::time::timeout(
            Duration::from_secs(5),
            hallpass_proto::connect_unix(&socket, "hallpass-bench-crash"),
        )
        .await
        {
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                match tokio::time::timeout(
                    Duration::from_secs(20),
                    one_op(&c, &mut rng, &mut mem, &sh, worker, n),
                )
                .await
                {
                    Ok(Ok(())) => {}
                    _ => {
                        sh.cut_off.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        // Wait for the next incarnation (bounded, so a stopped harness never hangs here).
        let _ = tokio::time::timeout(Duration::from_secs(60), epoch.changed()).await;
    }
}

/// Checks one acknowledged change against the daemon; Some(why) when it is lost or wrong.
async fn check(c: &HallpassClient, a: &Ack) -> anyhow::Result<Option<String>> {
    Ok(match a {
        Ack::Invited { email, id } => match c.get_user(ctx(), UserRef::Email(email.clone())).await?
        {
            Ok(u) if u.id == *id => None,
            Ok(u) => Some(format!("invited {email} as {id} but it is now {}", u.id)),
            Err(e) => Some(format!("invited {email} ({id}) is gone: {e}")),
        },
        Ack::Submitted { id } => match c.get_request(ctx(), *id).await? {
            Ok(_) => None,
            Err(e) => Some(format!("submitted {id} is gone: {e}")),
        },
        Ack::Approved { id, grants, .. } => match c.get_request(ctx(), *id).await? {
            Ok(v) if v.status != RequestStatus::Approved => {
                Some(format!("{id} was approved but reads {}", v.status))
            }
            Err(e) => Some(format!("approved {id} is gone: {e}")),
            Ok(_) => {
                let mut why = None;
                for (g, expires) in grants {
                    match c.get_grant(ctx(), *g).await? {
                        Ok(v)
                            if expires.is_some_and(|e| v.expires_at.is_none_or(|now| now < e)) =>
                        {
                            why = Some(format!(
                                "{g} was extended to {expires:?} by {id} but ends {:?}",
                                v.expires_at
                            ));
                        }
                        Ok(_) => {}
                        Err(e) => why = Some(format!("{g} of approved {id} is gone: {e}")),
                    }
                }
                why
            }
        },
        Ack::Released { grant } => match c.get_grant(ctx(), *grant).await? {
            Ok(v) if v.end_reason != Some(EndReason::Released) => Some(format!(
                "{grant} was released but reads {} (end reason {:?})",
                v.status, v.end_reason
            )),
            Ok(v) if matches!(v.status, GrantStatus::Active | GrantStatus::Granting) => {
                Some(format!("{grant} was released but reads {}", v.status))
            }
            Ok(_) => None,
            Err(e) => Some(format!("released {grant} is gone: {e}")),
        },
    })
}

/// Checks `acks` 16 at a time on one connection; returns the failures.
async fn check_all(c: &HallpassClient, acks: Vec<Ack>) -> anyhow::Result<Vec<String>> {
    let results: Vec<anyhow::Result<Option<String>>> = futures::stream::iter(acks)
        .map(|a| async move { check(c, &a).await })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut lost = Vec::new();
    for r in results {
        if let Some(why) = r? {
            lost.push(why);
        }
    }
    Ok(lost)
}

/// Every grant whose status (as read now) is one of `statuses`.
async fn grants_with(
    c: &HallpassClient,
    statuses: Vec<GrantStatus>,
) -> anyhow::Result<Vec<hallpass_proto::GrantView>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = c
            .list_grants(
                ctx(),
                GrantQuery {
                    scope: GrantScope::All,
                    statuses: statuses.clone(),
                    after,
                    limit: 500,
                    ..GrantQuery::default()
                },
            )
            .await??;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// Grants stored Active although their deadline passed before `started` (a read shows them
/// as Revoking with no end reason: the scheduler has not begun their revocation).
async fn overdue_still_active(
    c: &HallpassClient,
    started: Timestamp,
) -> anyhow::Result<Vec<GrantId>> {
    Ok(grants_with(c, vec![GrantStatus::Revoking])
        .await?
        .into_iter()
        .filter(|g| g.end_reason.is_none() && g.expires_at.is_some_and(|e| e < started))
        .map(|g| g.id)
        .collect())
}

/// The latest `grant.expire` audit time in [from, upto], if any.
async fn last_expiry_between(
    c: &HallpassClient,
    from: Timestamp,
    upto: Timestamp,
) -> anyhow::Result<Option<Timestamp>> {
    let mut last = None;
    let mut after = None;
    loop {
        let page = c
            .list_audit(
                ctx(),
                AuditQuery {
                    action: Some("grant.expire".into()),
                    since: Some(from),
                    until: Some(upto),
                    after,
                    limit: 1000,
                    ..AuditQuery::default()
                },
            )
            .await??;
        for e in page
            .items
            .iter()
            .filter(|e| e.entry.action == "grant.expire")
        {
            last = last.max(Some(e.at));
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(last),
        }
    }
}

#[derive(Default)]
struct Tally {
    kills: usize,
    kills_during_startup: usize,
    lost: Vec<String>,
    failures: Vec<String>,
    worst_ready: Duration,
    worst_catch_up: Duration,
    checked: usize,
}

/// Restarts after a kill and runs the checks; the load is paused (no worker is connected).
async fn restart_and_check(
    d: &mut Daemon,
    rng: &mut Rng,
    kills: usize,
    max_down_ms: u64,
    sh: &Shared,
    checked_upto: &mut usize,
    t: &mut Tally,
) -> anyhow::Result<()> {
    let max_down = t_max_down(rng, max_down_ms);
    tokio::time::sleep(Duration::from_millis(rng.below(max_down))).await;
    d.spawn()?;
    // Now and then kill it again while it starts (catch-up, recovery), then start once more.
    if rng.below(10) == 0 && t.kills < kills {
        tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
        d.kill9()?;
        t.kills += 1;
        t.kills_during_startup += 1;
        d.spawn()?;
    }
    let spawned = d.spawned_wall;
    let c = match d.wait_ready(Duration::from_secs(30)).await {
        Ok((c, ready)) => {
            t.worst_ready = t.worst_ready.max(ready);
            c
        }
        Err(e) => {
            t.failures
                .push(format!("did not serve again after a kill: {e}"));
            return Err(e);
        }
    };
    let ready_wall = SystemClock.now();
    // Catch-up: nothing overdue at start may still be stored Active (re-check at +1 s).
    let mut stuck = overdue_still_active(&c, spawned).await?;
    if !stuck.is_empty() {
        let wait = Duration::from_secs(1).saturating_sub(d.spawned_at.elapsed());
        tokio::time::sleep(wait).await;
        stuck = overdue_still_active(&c, spawned).await?;
        if !stuck.is_empty() {
            t.failures.push(format!(
                "{} grant(s) overdue at start still not revoking 1 s later: {:?}",
                stuck.len(),
                &stuck[..stuck.len().min(5)]
            ));
        }
    }
    if let Some(last) = last_expiry_between(&c, spawned, ready_wall).await? {
        t.worst_catch_up = t.worst_catch_up.max(spawned.until(last));
    }
    // No grant reads Active past its deadline.
    let now = SystemClock.now();
    for g in grants_with(&c, vec![GrantStatus::Active]).await? {
        if g.expires_at
            .is_none_or(|e| e.plus(Duration::from_millis(50)) < now)
        {
            t.failures.push(format!(
                "{} reads active past its deadline {:?}",
                g.id, g.expires_at
            ));
        }
    }
    // The audit chain verifies.
    let v = c.verify_audit(ctx()).await??;
    if let Some(at) = v.broken_at {
        t.failures.push(format!(
            "audit chain broken at {at}: {}",
            v.why.unwrap_or_default()
        ));
    }
    // Acknowledged changes: the new ones and a sample of older ones.
    let (fresh, sample) = {
        let acks = sh
            .acks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh: Vec<Ack> = acks[*checked_upto..].to_vec();
        let sample: Vec<Ack> = (0..(*checked_upto).min(100))
            .map(|_| acks[rng.below(*checked_upto as u64) as usize].clone())
            .collect();
        *checked_upto = acks.len();
        (fresh, sample)
    };
    t.checked += fresh.len() + sample.len();
    let mut lost = check_all(&c, fresh).await?;
    lost.extend(check_all(&c, sample).await?);
    t.lost.extend(lost);
    Ok(())
}

/// Mostly short outages; one in four long enough (5×) for grants to expire while down.
fn t_max_down(rng: &mut Rng, max_down_ms: u64) -> u64 {
    if rng.below(4) == 0 {
        max_down_ms * 5
    } else {
        max_down_ms
    }
}

pub async fn run(env: &Env, args: &Args) -> anyhow::Result<(Outcome, bool)> {
    let seed = match args.seed {
        Some(s) => s,
        None => {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            u64::from_le_bytes(b)
        }
    };
    let mut rng = Rng::new(seed);
    let dir = env.workdir()?;
    let mut d = Daemon::new(
        &env.hallpassd,
        &dir.path().join("daemon"),
        64,
        "[expiry]\nretry_initial = \"1s\"\nretry_max = \"2s\"\n",
    )?;
    d.spawn()?;
    let (admin, _) = d.wait_ready(Duration::from_secs(30)).await?;
    fixture::prepare(&admin, args.connector).await?;
    drop(admin);

    let sh = Arc::new(Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (epoch_tx, epoch_rx) = watch::channel(0u64);
    let mut workers = Vec::new();
    for w in 0..args.workers {
        workers.push(tokio::spawn(worker(
            d.socket.clone(),
            epoch_rx.clone(),
            stop.clone(),
            sh.clone(),
            w,
            Rng::new(rng.next()),
        )));
    }
    let started = Instant::now();
    let mut t = Tally::default();
    let mut checked_upto = 0usize;
    let mut result = Ok(());
    while t.kills < args.kills {
        tokio::time::sleep(Duration::from_millis(
            rng.between(args.min_run_ms, args.max_run_ms),
        ))
        .await;
        d.kill9()?;
        t.kills += 1;
        if let Err(e) = restart_and_check(
            &mut d,
            &mut rng,
            args.kills,
            args.max_down_ms,
            &sh,
            &mut checked_upto,
            &mut t,
        )
        .await
        {
            result = Err(e);
            break;
        }
        epoch_tx.send_modify(|e| *e += 1);
    }
    stop.store(true, Ordering::SeqCst);
    epoch_tx.send_modify(|e| *e += 1);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    // Everything acknowledged, once more, on the last incarnation.
    let all: Vec<Ack> = sh
        .acks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if result.is_ok() {
        match d.connect().await {
            Ok(c) => match check_all(&c, all.clone()).await {
                Ok(lost) => t.lost.extend(lost),
                Err(e) => t.failures.push(format!("final check failed: {e}")),
            },
            Err(e) => t
                .failures
                .push(format!("cannot connect for the final check: {e}")),
        }
        if let Err(e) = d.stop() {
            t.failures.push(format!("clean shutdown failed: {e}"));
        }
    } else if let Err(e) = &result {
        t.failures.push(format!("harness stopped early: {e}"));
    }
    t.lost.sort();
    t.lost.dedup();
    let elapsed = started.elapsed();

    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for a in &all {
        *by_kind.entry(a.kind()).or_default() += 1;
    }
    let ok = t.lost.is_empty() && t.failures.is_empty();
    let mut table = Table::new(
        format!(
            "kill -9 crash harness ({} connector, {} workers, seed {seed})",
            args.connector.label(),
            args.workers
        ),
        &["measure", "value"],
    );
    table.row(vec![
        "kills (of which during start-up)".into(),
        format!("{} ({})", t.kills, t.kills_during_startup),
    ]);
    table.row(vec![
        "operations acknowledged".into(),
        format!(
            "{} ({})",
            all.len(),
            by_kind
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ]);
    table.row(vec![
        "refused by the daemon (expected: races with expiry)".into(),
        sh.refused.load(Ordering::Relaxed).to_string(),
    ]);
    table.row(vec![
        "calls cut off by a kill (outcome unknown)".into(),
        sh.cut_off.load(Ordering::Relaxed).to_string(),
    ]);
    table.row(vec![
        "acknowledgements checked".into(),
        (t.checked + all.len()).to_string(),
    ]);
    table.row(vec!["LOST".into(), t.lost.len().to_string()]);
    table.row(vec!["other failures".into(), t.failures.len().to_string()]);
    table.row(vec![
        "worst time from spawn to serving".into(),
        format!("{} ms", t.worst_ready.as_millis()),
    ]);
    table.row(vec![
        "worst catch-up (spawn → last overdue revocation started)".into(),
        format!("{} ms", t.worst_catch_up.as_millis()),
    ]);
    // What starts found and mended (see hallpass-store's sled backend): a snapshot sled had
    // not finished writing when it was killed, a group of writes cut short (completed from
    // the group journal), a journal record torn while it was written (nothing to complete).
    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
    let seen = |line: &str| log.matches(line).count();
    let unfinished_snapshots = seen(hallpass_store::sled_backend::UNFINISHED_SNAPSHOT_REMOVED);
    let groups_completed = seen(hallpass_store::sled_backend::JOURNAL_GROUP_REPLAYED);
    let records_torn = seen(hallpass_store::sled_backend::JOURNAL_RECORD_TORN);
    table.row(vec![
        "unfinished sled snapshots removed at start".into(),
        unfinished_snapshots.to_string(),
    ]);
    table.row(vec![
        "groups of writes completed from the journal at start (torn records)".into(),
        format!("{groups_completed} ({records_torn})"),
    ]);
    table.row(vec![
        "duration".into(),
        format!("{:.1} s", elapsed.as_secs_f64()),
    ]);
    for why in t.lost.iter().take(20) {
        table.note(format!("LOST: {why}"));
    }
    for why in t.failures.iter().take(20) {
        table.note(format!("FAILED: {why}"));
    }
    if ok {
        table.note("No acknowledged change was lost; the store reopened, the audit chain verified and catch-up held after every restart.");
    } else {
        // The evidence: the store as the failing start found it, and the daemon's whole log.
        let kept = dir.keep().join("daemon");
        table.note(format!(
            "The daemon's state and log are kept for a look: {}",
            kept.display()
        ));
    }
    let mut short = Vec::new();
    if t.worst_catch_up > Duration::from_secs(1) {
        short.push(format!(
            "catch-up took {} ms > 1 s",
            t.worst_catch_up.as_millis()
        ));
    }
    if !ok {
        short.push(format!(
            "{} lost, {} failures (R1/R2)",
            t.lost.len(),
            t.failures.len()
        ));
    }
    let outcome = Outcome {
        name: "crash",
        tables: vec![table],
        json: json!({
            "seed": seed,
            "connector": args.connector,
            "workers": args.workers,
            "kills": t.kills,
            "kills_during_startup": t.kills_during_startup,
            "acknowledged": all.len(),
            "acknowledged_by_kind": by_kind,
            "refused": sh.refused.load(Ordering::Relaxed),
            "cut_off": sh.cut_off.load(Ordering::Relaxed),
            "checked": t.checked + all.len(),
            "lost": t.lost.len(),
            "lost_details": t.lost,
            "failures": t.failures,
            "worst_ready_ms": t.worst_ready.as_millis() as u64,
            "worst_catch_up_ms": t.worst_catch_up.as_millis() as u64,
            "unfinished_snapshots_removed": unfinished_snapshots,
            "journal_groups_completed": groups_completed,
            "journal_records_torn": records_torn,
            "secs": elapsed.as_secs_f64(),
        }),
        short_of_targets: short,
    };
    Ok((outcome, ok))
}
