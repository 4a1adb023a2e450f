//! Applying a whole-source [`Snapshot`] (LDAP, a file): plan the change against the store
//! without writing, refuse it when the source looks wrong, then write it in batches. Invariants:
//! a refused or dry run writes nothing but its report; each batch is one transaction that
//! re-reads every record it changes, so a concurrent admin edit (a role, an SSH key) is never
//! overwritten; a person is written once per run with their final groups; eligibility is
//! re-checked in the transaction that takes a group or the account away. People and groups the
//! plan found already as the source has them are not visited again (a no-change re-sync writes
//! only its report); a change committed after the preload (which starts with the source's read)
//! to a record the plan found unchanged stands until the next run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::event::EventKind;
use hallpass_core::identity::{
    Change, ChangeKind, FieldChanges, GroupRecord, Person, RecordError, Snapshot, SyncReport,
    group_from_record, merge_person, person_changes,
};
use hallpass_core::user::{Group, Role, User, UserStatus};
use hallpass_core::{GroupName, SourceName, Timestamp, UserId};
use hallpass_store::{Store, Txn};

use crate::broker::{Broker, Fail};
use crate::eligibility::{self, Withdrawn};

/// People written per transaction.
const BATCH: usize = 1000;
/// Diff lines kept in a report.
const MAX_CHANGES: usize = 2000;

/// How a run treats its source.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Plan and report only.
    pub dry_run: bool,
    /// Any bad record refuses the whole run (file imports); otherwise bad records are skipped
    /// and reported (directories).
    pub strict: bool,
    /// Apply even past the deactivation threshold.
    pub force: bool,
    /// Refuse a run that would deactivate more than this share of the source's active people.
    pub max_deactivate_percent: u8,
    /// Refuse a run that returns fewer people than this while the source already has some.
    pub min_people: u32,
    /// Recorded in the audit log as the change's source.
    pub via: Source,
    /// Who asked (an admin's `sync run`), or the system for a periodic run.
    pub actor: Actor,
}

impl SyncOptions {
    pub fn new(via: Source, actor: Actor) -> Self {
        SyncOptions {
            dry_run: false,
            strict: false,
            force: false,
            max_deactivate_percent: 20,
            min_people: 1,
            via,
            actor,
        }
    }
}

/// A person's place before ids are assigned: an existing user, or the n-th new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Slot {
    Existing(UserId),
    New(usize),
}

struct Planned {
    slot: Slot,
    person: Person,
    manager: Option<Slot>,
    groups: BTreeSet<GroupName>,
    /// Whether the plan found anything to write (false: the stored record already matches).
    changed: bool,
}

struct PlannedGroup {
    record: GroupRecord,
    members: Vec<Slot>,
    changed: bool,
}

/// Everything a run will do, computed from committed state.
struct Plan {
    people: Vec<Planned>,
    new_count: usize,
    /// Linked people the source no longer lists (or lists inactive): deactivated, or only
    /// unlinked when another source still lists them.
    gone: Vec<UserId>,
    groups: Vec<PlannedGroup>,
    groups_removed: Vec<GroupName>,
    /// Every group whose membership this source decides (owned before, or named now).
    owned: BTreeSet<GroupName>,
    report: SyncReport,
}

/// What a run plans against that does not depend on the snapshot: the source's links, every
/// user they point at (each decoded once) and every group. Loaded while the source is still
/// being read; the writes re-read each record they change, so a change committed after this
/// was loaded is merged, not lost.
pub struct Linked {
    links: HashMap<String, UserId>,
    known: HashMap<UserId, User>,
    groups: Vec<Group>,
}

/// Loads [`Linked`] for `source` (blocking: run it off the async threads).
pub fn preload(store: &Store, source: &SourceName) -> Result<Linked, Fail> {
    let links: HashMap<String, UserId> = store.source_links(source)?.into_iter().collect();
    let mut known: HashMap<UserId, User> = HashMap::with_capacity(links.len());
    for id in links.values() {
        if let Some(u) = store.user(*id)? {
            known.insert(u.id, u);
        }
    }
    Ok(Linked {
        links,
        known,
        groups: store.groups()?,
    })
}

/// Plans and (unless dry or refused) applies `snap` as the whole of `source`, against
/// `linked` when it was loaded already (else it is loaded now).
pub async fn apply(
    broker: &Broker,
    source: &SourceName,
    snap: Snapshot,
    linked: Option<Linked>,
    mut skipped: Vec<RecordError>,
    opts: &SyncOptions,
    progress: &(dyn Fn(&str, u32, u32) + Sync),
) -> Result<SyncReport, Fail> {
    let started = broker.now();
    progress("planning", 0, 0);
    let linked = match linked {
        Some(l) => l,
        None => preload(broker.store(), source)?,
    };
    let mut plan = plan(broker.store(), source, snap, linked, opts)?;
    plan.report.started_at = started;
    plan.report.source = Some(source.clone());
    plan.report.dry_run = opts.dry_run;
    skipped.append(&mut plan.report.errors);
    plan.report.errors = skipped;
    if opts.strict && !plan.report.errors.is_empty() && plan.report.refused.is_none() {
        plan.report.refused = Some(format!(
            "{} record(s) are invalid; nothing was applied",
            plan.report.errors.len()
        ));
    }
    if plan.report.refused.is_some() || opts.dry_run {
        plan.report.finished_at = broker.now();
        if !opts.dry_run {
            record(broker, source, &plan.report, opts).await?;
        }
        return Ok(plan.report);
    }
    write(broker, source, plan, opts, progress).await
}

/// Records a run that changed nothing (refused, or the source could not be read).
pub async fn record_failure(
    broker: &Broker,
    source: &SourceName,
    why: String,
    opts: &SyncOptions,
) -> Result<SyncReport, Fail> {
    let now = broker.now();
    let report = SyncReport {
        source: Some(source.clone()),
        started_at: now,
        finished_at: now,
        refused: Some(why),
        ..SyncReport::default()
    };
    record(broker, source, &report, opts).await?;
    Ok(report)
}

async fn record(
    broker: &Broker,
    source: &SourceName,
    report: &SyncReport,
    opts: &SyncOptions,
) -> Result<(), Fail> {
    let now = broker.now();
    broker
        .commit(|tx| {
            finish(tx, source, report, opts, now)?;
            Ok(())
        })
        .await
}

/// The run's summary: the stored report, one audit entry and one event.
fn finish(
    tx: &mut Txn<'_>,
    source: &SourceName,
    r: &SyncReport,
    opts: &SyncOptions,
    now: Timestamp,
) -> Result<(), Fail> {
    tx.put_sync_run(source, r)?;
    let summary = match &r.refused {
        Some(why) => format!("changed nothing: {why}"),
        None => format!(
            "{} people seen: {} added, {} updated, {} deactivated, {} reactivated; groups {} added, {} updated, {} removed; {} requests cancelled, {} grants revoked; {} records skipped",
            r.people_seen,
            r.added,
            r.updated,
            r.deactivated,
            r.reactivated,
            r.groups_added,
            r.groups_updated,
            r.groups_removed,
            r.requests_cancelled,
            r.grants_revoked,
            r.errors.len()
        ),
    };
    tx.audit(
        now,
        AuditEntry::new(opts.actor.clone(), opts.via, "sync.run", source, summary)
            .with_status(if r.refused.is_some() { "refused" } else { "ok" }),
    )?;
    tx.event(
        now,
        EventKind::IdentitySynced {
            source: source.clone(),
            added: r.added,
            updated: r.updated + r.reactivated,
            deactivated: r.deactivated,
            error: r.refused.clone(),
        },
        BTreeSet::new(),
    )?;
    Ok(())
}

fn plan(
    store: &Store,
    source: &SourceName,
    snap: Snapshot,
    linked: Linked,
    opts: &SyncOptions,
) -> Result<Plan, Fail> {
    let mut report = SyncReport {
        people_seen: u32::try_from(snap.people.len()).unwrap_or(u32::MAX),
        groups_seen: u32::try_from(snap.groups.len()).unwrap_or(u32::MAX),
        ..SyncReport::default()
    };
    let mut changes: Vec<Change> = Vec::new();

    // 1. Validate, and find duplicates within the snapshot.
    // Every user this run may touch, each read and decoded once: those linked to the source,
    // and those matched by e-mail on the way.
    let Linked {
        links,
        mut known,
        groups: stored_groups,
    } = linked;
    let mut people: Vec<Planned> = Vec::with_capacity(snap.people.len());
    let mut by_ext: HashMap<String, Slot> = HashMap::with_capacity(snap.people.len());
    let mut by_login: HashMap<String, Slot> = HashMap::new();
    let mut emails: HashMap<String, String> = HashMap::with_capacity(snap.people.len());
    // External ids the source still names, valid or not: their people are not "gone".
    let mut named: HashSet<String> = HashSet::with_capacity(snap.people.len());
    let mut inactive: Vec<UserId> = Vec::new();
    let mut new_count = 0usize;
    let mut claimed: HashSet<UserId> = HashSet::new();
    let unreadable: HashSet<&str> = snap.unreadable.iter().map(|id| id.trim()).collect();
    named.extend(unreadable.iter().map(|id| id.to_string()));
    // A linked person whose entry could not be read is still their groups' member and their
    // reports' manager.
    let unreadable_linked = |ext: &str| {
        let ext = ext.trim();
        unreadable
            .contains(ext)
            .then(|| links.get(ext).map(|id| Slot::Existing(*id)))
            .flatten()
    };
    for rec in &snap.people {
        named.insert(rec.external_id.trim().to_string());
        let label = || format!("person {:?}", rec.external_id);
        let p = match rec.validate() {
            Ok(p) => p,
            Err(e) => {
                report.errors.push(record_error(&label(), e));
                continue;
            }
        };
        if by_ext.contains_key(&p.external_id) {
            report.errors.push(RecordError {
                record: label(),
                field: "external_id".into(),
                why: "listed twice".into(),
            });
            continue;
        }
        if let Some(other) = emails.get(&p.email) {
            report.errors.push(RecordError {
                record: label(),
                field: "email".into(),
                why: format!("{} is also the e-mail of {other:?}", p.email),
            });
            continue;
        }
        // Who is this in hallpass?
        let linked = links
            .get(&p.external_id)
            .filter(|id| known.contains_key(id))
            .copied();
        // Whoever else holds the e-mail (the linked person keeping theirs needs no lookup).
        let by_email = match linked.and_then(|id| known.get(&id)) {
            Some(l) if l.email == p.email => None,
            _ => store.user_by_email(&p.email)?,
        };
        let existing = match (linked, by_email) {
            (Some(l), Some(e)) if e.id != l && e.status != UserStatus::Deleted => {
                report.errors.push(RecordError {
                    record: label(),
                    field: "email".into(),
                    why: format!("{} already belongs to another person ({})", p.email, e.id),
                });
                continue;
            }
            (Some(l), _) => Some(l),
            (None, Some(e)) => match refuse_match(&e, source) {
                Some(why) => {
                    report.errors.push(RecordError {
                        record: label(),
                        field: "email".into(),
                        why,
                    });
                    continue;
                }
                None => {
                    let id = e.id;
                    known.entry(id).or_insert(e);
                    Some(id)
                }
            },
            (None, None) => None,
        };
        if let Some(id) = existing
            && !claimed.insert(id)
        {
            report.errors.push(RecordError {
                record: label(),
                field: "email".into(),
                why: format!("{} is claimed by another record of this source", p.email),
            });
            continue;
        }
        let slot = match existing {
            Some(id) => Slot::Existing(id),
            None if !p.active => continue, // never create someone already gone
            None => {
                new_count += 1;
                Slot::New(new_count - 1)
            }
        };
        if !p.active {
            if let Slot::Existing(id) = slot {
                inactive.push(id);
            }
            continue;
        }
        emails.insert(p.email.clone(), p.external_id.clone());
        by_ext.insert(p.external_id.clone(), slot);
        if let Some(l) = &p.login {
            by_login.insert(l.clone(), slot);
        }
        people.push(Planned {
            slot,
            person: p,
            manager: None,
            groups: BTreeSet::new(),
            changed: true,
        });
    }
    for p in &mut people {
        if let Some(m) = &p.person.manager {
            p.manager = by_ext.get(m).copied().or_else(|| unreadable_linked(m));
        }
    }

    // 2. Groups: what the source names now, and what it owned before.
    let all_groups: BTreeMap<GroupName, Group> = stored_groups
        .into_iter()
        .map(|g| (g.name.clone(), g))
        .collect();
    let owned_before: BTreeSet<GroupName> = all_groups
        .values()
        .filter(|g| g.source.as_ref().is_some_and(|s| &s.source == source))
        .map(|g| g.name.clone())
        .collect();
    let mut groups: Vec<PlannedGroup> = Vec::with_capacity(snap.groups.len());
    let mut named_groups: BTreeSet<GroupName> = BTreeSet::new();
    let slot_index: HashMap<Slot, usize> = people
        .iter()
        .enumerate()
        .map(|(i, p)| (p.slot, i))
        .collect();
    for rec in snap.groups {
        let label = || format!("group {:?}", rec.external_id);
        if named_groups.contains(&rec.name) {
            report.errors.push(RecordError {
                record: label(),
                field: "name".into(),
                why: format!("two groups of this source are both called {}", rec.name),
            });
            continue;
        }
        if let Some(g) = all_groups.get(&rec.name)
            && let Some(other) = g.source.as_ref().filter(|s| &s.source != source)
        {
            report.errors.push(RecordError {
                record: label(),
                field: "name".into(),
                why: format!("group {} belongs to source {}", rec.name, other.source),
            });
            continue;
        }
        // Only a group this source may own decides its members' groups (`owned`).
        named_groups.insert(rec.name.clone());
        let mut members: Vec<Slot> = Vec::with_capacity(rec.members.len());
        let mut seen = HashSet::new();
        for m in &rec.members {
            let slot = by_ext
                .get(m)
                .or_else(|| by_login.get(m))
                .copied()
                .or_else(|| unreadable_linked(m));
            if let Some(slot) = slot
                && seen.insert(slot)
            {
                members.push(slot);
                if let Some(&i) = slot_index.get(&slot) {
                    people[i].groups.insert(rec.name.clone());
                }
            }
        }
        groups.push(PlannedGroup {
            record: rec,
            members,
            changed: true,
        });
    }
    let groups_removed: Vec<GroupName> = owned_before
        .iter()
        .filter(|n| !named_groups.contains(*n))
        .cloned()
        .collect();
    let owned: BTreeSet<GroupName> = owned_before.union(&named_groups).cloned().collect();

    // 3. Who is gone: linked before, not named now (or named inactive).
    let mut gone: Vec<UserId> = links
        .iter()
        .filter(|(ext, _)| !named.contains(*ext))
        .map(|(_, id)| *id)
        .collect();
    gone.extend(inactive);
    gone.sort();
    gone.dedup();

    // 4. The diff.
    for p in &mut people {
        match p.slot {
            Slot::New(_) => {
                report.added += 1;
                push_change(
                    &mut changes,
                    Change {
                        kind: ChangeKind::Add,
                        what: p.person.email.clone(),
                        fields: FieldChanges::default(),
                    },
                );
            }
            Slot::Existing(id) => {
                let Some(before) = known.get(&id) else {
                    continue;
                };
                // A manager new in this run has no id yet: a stand-in, named in the diff below.
                let manager = match p.manager {
                    Some(Slot::Existing(id)) => Some(id),
                    Some(Slot::New(_)) => Some(UserId(0)),
                    None => None,
                };
                let mut fields = person_changes(before, source, &p.person, manager);
                if matches!(p.manager, Some(Slot::New(_))) {
                    // The manager is new in this run; their id is not known yet.
                    fields.0.insert(
                        "manager".into(),
                        (
                            before.manager.map(|m| m.to_string()).unwrap_or_default(),
                            "(new person)".into(),
                        ),
                    );
                }
                if !groups_unchanged(&before.groups, &owned, &p.groups) {
                    let groups = merged_groups(&before.groups, &owned, &p.groups);
                    note_groups(&mut fields, &before.groups, &groups);
                }
                let reactivating = before.status == UserStatus::Deactivated;
                let kind = if reactivating {
                    report.reactivated += 1;
                    Some(ChangeKind::Reactivate)
                } else if !fields.is_empty() || before.status == UserStatus::Invited {
                    report.updated += 1;
                    Some(ChangeKind::Update)
                } else {
                    report.unchanged += 1;
                    p.changed = false;
                    None
                };
                if let Some(kind) = kind {
                    push_change(
                        &mut changes,
                        Change {
                            kind,
                            what: p.person.email.clone(),
                            fields,
                        },
                    );
                }
            }
        }
    }
    let active_linked = links
        .values()
        .filter(|id| known.get(id).is_some_and(User::is_active))
        .count() as u32;
    let mut deactivating = 0u32;
    for id in &gone {
        let Some(u) = known.get(id) else { continue };
        if u.status == UserStatus::Deleted {
            continue;
        }
        let only_here = u.sources.keys().all(|s| s == source);
        if only_here && u.status == UserStatus::Deactivated {
            continue; // gone already, at an earlier run
        }
        let deactivate = only_here;
        if deactivate {
            deactivating += 1;
            report.deactivated += 1;
        } else if u.sources.contains_key(source) {
            report.updated += 1;
        }
        push_change(
            &mut changes,
            Change {
                kind: if deactivate {
                    ChangeKind::Deactivate
                } else {
                    ChangeKind::Update
                },
                what: u.email.clone(),
                fields: FieldChanges::default(),
            },
        );
    }
    for g in &mut groups {
        match all_groups.get(&g.record.name) {
            None => {
                report.groups_added += 1;
                push_change(
                    &mut changes,
                    Change {
                        kind: ChangeKind::AddGroup,
                        what: g.record.name.to_string(),
                        fields: FieldChanges::default(),
                    },
                );
            }
            Some(old) => {
                let same_members = old.members.len() == g.members.len()
                    && g.members.iter().all(|s| match s {
                        Slot::Existing(id) => old.members.contains(id),
                        Slot::New(_) => false,
                    });
                let same_source = old
                    .source
                    .as_ref()
                    .is_some_and(|s| &s.source == source && s.external_id == g.record.external_id);
                g.changed =
                    !same_members || !same_source || old.description != g.record.description;
                if g.changed {
                    report.groups_updated += 1;
                    let mut fields = FieldChanges::default();
                    fields.0.insert(
                        "members".into(),
                        (old.members.len().to_string(), g.members.len().to_string()),
                    );
                    push_change(
                        &mut changes,
                        Change {
                            kind: ChangeKind::UpdateGroup,
                            what: g.record.name.to_string(),
                            fields,
                        },
                    );
                }
            }
        }
    }
    for name in &groups_removed {
        report.groups_removed += 1;
        push_change(
            &mut changes,
            Change {
                kind: ChangeKind::RemoveGroup,
                what: name.to_string(),
                fields: FieldChanges::default(),
            },
        );
    }
    report.changes_truncated = changes.len() >= MAX_CHANGES;
    report.changes = changes;

    // 5. Does the source look right?
    if people.is_empty() && active_linked > 0 {
        report.refused = Some(format!(
            "the source returned no valid people while {active_linked} are active from it"
        ));
    } else if active_linked > 0 && (people.len() as u64) < u64::from(opts.min_people) {
        report.refused = Some(format!(
            "the source returned {} people, fewer than min_people = {}",
            people.len(),
            opts.min_people
        ));
    } else if !opts.force
        && active_linked > 0
        && u64::from(deactivating) * 100
            > u64::from(opts.max_deactivate_percent) * u64::from(active_linked)
    {
        report.refused = Some(format!(
            "it would deactivate {deactivating} of {active_linked} active people (more than max_deactivate_percent = {}%); check the source, or run again with --force",
            opts.max_deactivate_percent
        ));
    }
    Ok(Plan {
        people,
        new_count,
        gone,
        groups,
        groups_removed,
        owned,
        report,
    })
}

/// Why an existing hallpass user may not be taken over by a source's record, if it may not.
fn refuse_match(u: &User, source: &SourceName) -> Option<String> {
    if u.status == UserStatus::Deleted {
        return Some(format!(
            "{} was deleted in hallpass by an admin; it is not re-created by a sync",
            u.email
        ));
    }
    if u.role == Role::External {
        return Some(format!("{} is an external's address", u.email));
    }
    if let Some(ext) = u.sources.get(source) {
        return Some(format!(
            "{} already belongs to this source's {ext:?}",
            u.email
        ));
    }
    None
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn record_error(label: &str, e: hallpass_core::DomainError) -> RecordError {
    match e {
        hallpass_core::DomainError::InvalidInput { field, why } => RecordError {
            record: label.to_string(),
            field: field.to_string(),
            why,
        },
        other => RecordError {
            record: label.to_string(),
            field: String::new(),
            why: other.to_string(),
        },
    }
}

fn push_change(changes: &mut Vec<Change>, c: Change) {
    if changes.len() < MAX_CHANGES {
        changes.push(c);
    }
}

/// A person's groups after a run: local ones kept, this source's replaced.
fn merged_groups(
    current: &BTreeSet<GroupName>,
    owned: &BTreeSet<GroupName>,
    from_source: &BTreeSet<GroupName>,
) -> BTreeSet<GroupName> {
    current
        .iter()
        .filter(|g| !owned.contains(*g))
        .chain(from_source.iter())
        .cloned()
        .collect()
}

/// Whether [`merged_groups`] would give back `current` (the common case of a re-sync), without
/// building it: everything the source lists is held, and every held group the source decides is
/// listed.
fn groups_unchanged(
    current: &BTreeSet<GroupName>,
    owned: &BTreeSet<GroupName>,
    from_source: &BTreeSet<GroupName>,
) -> bool {
    from_source.is_subset(current)
        && current
            .iter()
            .all(|g| !owned.contains(g) || from_source.contains(g))
}

fn note_groups(
    fields: &mut FieldChanges,
    before: &BTreeSet<GroupName>,
    after: &BTreeSet<GroupName>,
) {
    if before != after {
        let show = |s: &BTreeSet<GroupName>| {
            s.iter()
                .map(GroupName::as_str)
                .collect::<Vec<_>>()
                .join(",")
        };
        fields
            .0
            .insert("groups".into(), (show(before), show(after)));
    }
}

fn what_left(before: &BTreeSet<GroupName>, after: &BTreeSet<GroupName>) -> String {
    let left: Vec<&str> = before.difference(after).map(GroupName::as_str).collect();
    format!("left group {}", left.join(", "))
}

async fn write(
    broker: &Broker,
    source: &SourceName,
    plan: Plan,
    opts: &SyncOptions,
    progress: &(dyn Fn(&str, u32, u32) + Sync),
) -> Result<SyncReport, Fail> {
    let Plan {
        people,
        new_count,
        gone,
        groups,
        groups_removed,
        owned,
        mut report,
    } = plan;
    // Ids for the new people, reserved before anyone is written so managers can point at
    // people later in the list.
    let new_ids: Vec<UserId> = if new_count > 0 {
        let range = broker
            .commit(|tx| Ok(tx.reserve_user_ids(new_count as u64)?))
            .await?;
        range.map(UserId).collect()
    } else {
        vec![]
    };
    let resolve = |s: Slot| match s {
        Slot::Existing(id) => id,
        Slot::New(i) => new_ids[i],
    };
    let mut withdrawn = Withdrawn::default();
    // Everyone written here already has their final groups.
    let mut settled: HashSet<UserId> = HashSet::with_capacity(people.len());
    // Everyone in the plan is settled, written or not: the plan found the unchanged ones'
    // stored records already as the source has them, groups included.
    settled.extend(people.iter().map(|p| resolve(p.slot)));
    let changed: Vec<&Planned> = people.iter().filter(|p| p.changed).collect();
    let mut written = 0usize;
    for batch in changed.chunks(BATCH) {
        let now = broker.now();
        let w = broker
            .commit(|tx| {
                let mut w = Withdrawn::default();
                for p in batch.iter().copied() {
                    let id = resolve(p.slot);
                    let manager = p.manager.map(resolve);
                    w += write_person(tx, source, p, id, manager, &owned, now, opts)?;
                }
                Ok(w)
            })
            .await?;
        withdrawn += w;
        written += batch.len();
        progress("writing people", count(written), count(changed.len()));
    }
    for chunk in gone.chunks(BATCH) {
        let now = broker.now();
        let w = broker
            .commit(|tx| {
                let mut w = Withdrawn::default();
                for id in chunk {
                    w += write_gone(tx, source, *id, &owned, now, opts)?;
                }
                Ok(w)
            })
            .await?;
        withdrawn += w;
        settled.extend(chunk.iter().copied());
    }
    let groups: Vec<&PlannedGroup> = groups.iter().filter(|g| g.changed).collect();
    let mut groups_done = 0usize;
    // Groups last: their members exist now, and every member written above already lists
    // them; only people outside this run (a local member of an adopted group) need touching.
    for chunk in groups.chunks(BATCH) {
        let now = broker.now();
        let w = broker
            .commit(|tx| {
                let mut w = Withdrawn::default();
                for g in chunk {
                    let members: BTreeSet<UserId> = g.members.iter().map(|s| resolve(*s)).collect();
                    w += write_group(tx, source, &g.record, members, &settled, now, opts)?;
                }
                Ok(w)
            })
            .await?;
        withdrawn += w;
        groups_done += chunk.len();
        progress("writing groups", count(groups_done), count(groups.len()));
    }
    let now = broker.now();
    report.requests_cancelled = withdrawn.requests_cancelled;
    report.grants_revoked = withdrawn.grants_revoked;
    let report = broker
        .commit(|tx| {
            let mut w = Withdrawn::default();
            for name in &groups_removed {
                w += remove_group(tx, name, &settled, now, opts)?;
            }
            report.requests_cancelled += w.requests_cancelled;
            report.grants_revoked += w.grants_revoked;
            report.finished_at = now;
            finish(tx, source, &report, opts, now)?;
            Ok(report)
        })
        .await?;
    broker.wake_scheduler();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn write_person(
    tx: &mut Txn<'_>,
    source: &SourceName,
    p: &Planned,
    id: UserId,
    manager: Option<UserId>,
    owned: &BTreeSet<GroupName>,
    now: Timestamp,
    opts: &SyncOptions,
) -> Result<Withdrawn, Fail> {
    let before = tx.user(id)?;
    let mut after = match &before {
        Some(u) => u.clone(),
        None => User::new(
            id,
            p.person.email.clone(),
            p.person.name.clone(),
            Role::Grantee,
            UserStatus::Active,
            now,
        ),
    };
    // The login may have moved to this person from someone else of the same source.
    let mut took_login = false;
    if let Some(login) = &p.person.login
        && let Some(holder) = tx.user_by_login(login)?
        && holder.id != id
    {
        let mut holder = holder;
        holder.login = None;
        tx.put_user(&holder)?;
        took_login = true;
    }
    let fields = merge_person(&mut after, source, &p.person, manager);
    after.groups = merged_groups(&after.groups, owned, &p.groups);
    if matches!(after.status, UserStatus::Deactivated | UserStatus::Invited) {
        after.status = UserStatus::Active;
    }
    let action = match &before {
        None => "identity.add",
        Some(b) if b.status == UserStatus::Deactivated => "identity.reactivate",
        // (Unless the login was just taken back: this record indexes it again.)
        Some(b) if *b == after && !took_login => return Ok(Withdrawn::default()),
        Some(_) => "identity.update",
    };
    let summary = match &before {
        None => format!("{} from {source}", after.label()),
        Some(_) if fields.is_empty() && took_login => format!("login taken back from {source}"),
        Some(_) if fields.is_empty() => format!("groups or status from {source}"),
        Some(_) => fields.to_string(),
    };
    tx.put_user(&after)?;
    tx.audit(
        now,
        AuditEntry::new(opts.actor.clone(), opts.via, action, &after.email, summary).about(id),
    )?;
    match &before {
        Some(b) if eligibility::may_have_lost(b, &after) => eligibility::recheck(
            tx,
            &after,
            &what_left(&b.groups, &after.groups),
            now,
            &opts.actor,
            opts.via,
        ),
        _ => Ok(Withdrawn::default()),
    }
}

/// A linked person the source no longer lists: deactivated when no other source lists them,
/// else only unlinked from this one and out of its groups.
fn write_gone(
    tx: &mut Txn<'_>,
    source: &SourceName,
    id: UserId,
    owned: &BTreeSet<GroupName>,
    now: Timestamp,
    opts: &SyncOptions,
) -> Result<Withdrawn, Fail> {
    let Some(before) = tx.user(id)? else {
        return Ok(Withdrawn::default());
    };
    if before.status == UserStatus::Deleted {
        return Ok(Withdrawn::default());
    }
    let mut after = before.clone();
    let only_here = before.sources.keys().all(|s| s == source);
    after.groups.retain(|g| !owned.contains(g));
    let why = if only_here {
        if before.status == UserStatus::Active && tx.store().is_last_admin(&before)? {
            tracing::warn!(
                email = %before.email,
                %source,
                "the source no longer lists the last admin; they are kept active"
            );
            return Ok(Withdrawn::default());
        }
        after.status = UserStatus::Deactivated;
        format!("deactivated at source {source}")
    } else {
        after.sources.remove(source);
        format!("no longer listed by source {source}")
    };
    if after == before {
        return Ok(Withdrawn::default());
    }
    tx.put_user(&after)?;
    tx.audit(
        now,
        AuditEntry::new(
            opts.actor.clone(),
            opts.via,
            if only_here {
                "identity.deactivate"
            } else {
                "identity.update"
            },
            &after.email,
            why.clone(),
        )
        .about(id),
    )?;
    if eligibility::may_have_lost(&before, &after) {
        let why = if after.is_active() {
            what_left(&before.groups, &after.groups)
        } else {
            why
        };
        return eligibility::recheck(tx, &after, &why, now, &opts.actor, opts.via);
    }
    Ok(Withdrawn::default())
}

/// Writes a source's group, bringing members outside this run (`settled` are already right)
/// in line with it.
fn write_group(
    tx: &mut Txn<'_>,
    source: &SourceName,
    rec: &GroupRecord,
    members: BTreeSet<UserId>,
    settled: &HashSet<UserId>,
    now: Timestamp,
    opts: &SyncOptions,
) -> Result<Withdrawn, Fail> {
    let before = tx.group(&rec.name)?;
    let g = group_from_record(source, rec, members, before.as_ref(), now);
    if before.as_ref() == Some(&g) {
        return Ok(Withdrawn::default());
    }
    let old_members = before
        .as_ref()
        .map(|b| b.members.clone())
        .unwrap_or_default();
    let mut w = Withdrawn::default();
    for id in old_members.symmetric_difference(&g.members) {
        if settled.contains(id) {
            continue;
        }
        w += set_membership(tx, *id, &g.name, g.members.contains(id), now, opts)?;
    }
    tx.put_group(&g)?;
    tx.audit(
        now,
        AuditEntry::new(
            opts.actor.clone(),
            opts.via,
            if before.is_some() {
                "group.sync"
            } else {
                "group.create"
            },
            &g.name,
            format!("{} members from {source}", g.members.len()),
        ),
    )?;
    Ok(w)
}

fn remove_group(
    tx: &mut Txn<'_>,
    name: &GroupName,
    settled: &HashSet<UserId>,
    now: Timestamp,
    opts: &SyncOptions,
) -> Result<Withdrawn, Fail> {
    let Some(g) = tx.group(name)? else {
        return Ok(Withdrawn::default());
    };
    let mut w = Withdrawn::default();
    for id in &g.members {
        if !settled.contains(id) {
            w += set_membership(tx, *id, name, false, now, opts)?;
        }
    }
    tx.delete_group(name)?;
    tx.audit(
        now,
        AuditEntry::new(
            opts.actor.clone(),
            opts.via,
            "group.delete",
            name,
            "no longer listed by its source",
        ),
    )?;
    Ok(w)
}

/// Adds or removes one group on one user record, re-checking eligibility on removal.
pub(crate) fn set_membership(
    tx: &mut Txn<'_>,
    id: UserId,
    group: &GroupName,
    member: bool,
    now: Timestamp,
    opts: &SyncOptions,
) -> Result<Withdrawn, Fail> {
    let Some(mut u) = tx.user(id)? else {
        return Ok(Withdrawn::default());
    };
    let changed = if member {
        u.groups.insert(group.clone())
    } else {
        u.groups.remove(group)
    };
    if !changed {
        return Ok(Withdrawn::default());
    }
    tx.put_user(&u)?;
    if member {
        return Ok(Withdrawn::default());
    }
    eligibility::recheck(
        tx,
        &u,
        &format!("left group {group}"),
        now,
        &opts.actor,
        opts.via,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(bits: u8) -> BTreeSet<GroupName> {
        (0..6)
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| GroupName::new(format!("g{i}")).unwrap())
            .collect()
    }

    proptest! {
        // The shortcut answers exactly what building the merged set and comparing would.
        #[test]
        fn groups_unchanged_agrees_with_merging(current in 0u8..64, owned in 0u8..64, listed in 0u8..64) {
            let (current, owned, listed) = (names(current), names(owned), names(listed));
            let merged = merged_groups(&current, &owned, &listed);
            prop_assert_eq!(groups_unchanged(&current, &owned, &listed), merged == current);
        }
    }
}
