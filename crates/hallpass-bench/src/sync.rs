//! `sync`: reading a big directory. Generates `--people` people and `--groups` groups as LDIF,
//! loads them into a throwaway `slapd` (its own small launcher: slapadd, then slapd on a free
//! loopback port, killed on drop), then measures, in the same run:
//!
//! - the floor: raw paged searches with ldap3 (people, then groups; the same attributes,
//!   entries decoded, nothing mapped);
//! - `read_snapshot` end to end (paged searches, mapping, manager and membership resolution,
//!   nested-group flattening).
//!
//! Each is the median wall time of `--runs` runs. Applying the snapshot to the store is not
//! measured here yet.

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hallpass_daemon::sync::ldap::{LdapSourceConfig, read_snapshot};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, Scope, SearchEntry};
use serde_json::json;

use crate::Env;
use crate::report::{Outcome, Table};
use crate::stats::{rate, show_rate, show_ratio};

const SUFFIX: &str = "dc=example,dc=com";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PW: &str = "bench-root-secret";
const PEOPLE_BASE: &str = "ou=people,dc=example,dc=com";
const GROUPS_BASE: &str = "ou=groups,dc=example,dc=com";
const PEOPLE_FILTER: &str = "(objectClass=inetOrgPerson)";
const GROUPS_FILTER: &str = "(objectClass=groupOfNames)";

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// People in the directory.
    #[arg(long, default_value_t = 100_000)]
    pub people: usize,
    /// Groups in the directory (each person is in two; every 100th group nests the next).
    #[arg(long, default_value_t = 10_000)]
    pub groups: usize,
    /// Entries per page of the paged searches.
    #[arg(long, default_value_t = 500)]
    pub page_size: u32,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

fn person_dn(i: usize) -> String {
    format!("uid=user{i:06},{PEOPLE_BASE}")
}

fn group_dn(j: usize) -> String {
    format!("cn=group{j:05},{GROUPS_BASE}")
}

/// The directory as LDIF: people with uid, cn, sn, mail, phone and a manager (a tree, ten
/// reports each); groups of names, person `i` in groups `i % g` and `(7i + 3) % g`.
pub fn ldif(people: usize, groups: usize) -> String {
    let groups = groups.max(1);
    let mut s = String::with_capacity(people * 330 + groups * 64 + people * 2 * 48);
    let _ = write!(
        s,
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Bench\ndc: example\n\n\
         dn: {PEOPLE_BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: {GROUPS_BASE}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for i in 0..people {
        let _ = write!(
            s,
            "dn: {}\nobjectClass: inetOrgPerson\nuid: user{i:06}\ncn: Bench User {i}\n\
             sn: User {i}\ngivenName: Bench\nmail: user{i:06}@example.com\n\
             telephoneNumber: +1 555 {i:07}\n",
            person_dn(i)
        );
        if i > 0 {
            let _ = writeln!(s, "manager: {}", person_dn((i - 1) / 10));
        }
        s.push('\n');
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
    for i in 0..people {
        members[i % groups].push(i);
        let second = (7 * i + 3) % groups;
        if second != i % groups {
            members[second].push(i);
        }
    }
    for (j, m) in members.iter().enumerate() {
        let _ = write!(
            s,
            "dn: {}\nobjectClass: groupOfNames\ncn: group{j:05}\ndescription: Bench group {j}\n",
            group_dn(j)
        );
        for &i in m {
            let _ = writeln!(s, "member: {}", person_dn(i));
        }
        if j % 100 == 0 && j + 1 < groups {
            let _ = writeln!(s, "member: {}", group_dn(j + 1));
        }
        if m.is_empty() && !(j % 100 == 0 && j + 1 < groups) {
            // groupOfNames must have a member.
            let _ = writeln!(s, "member: {ROOT_DN}");
        }
        s.push('\n');
    }
    s
}

fn tool(name: &str) -> anyhow::Result<PathBuf> {
    ["/usr/sbin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .with_context(|| format!("{name} is missing: apt-get install slapd ldap-utils"))
}

/// A slapd on a free loopback port, killed on drop.
struct Slapd {
    child: Child,
    port: u16,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes slapd.conf and the LDIF into `dir`, slapadds it and starts slapd: (slapd, load time).
fn launch(dir: &Path, ldif_text: &str) -> anyhow::Result<(Slapd, Duration)> {
    std::fs::create_dir_all(dir.join("db"))?;
    let conf = format!(
        "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\ninclude /etc/ldap/schema/nis.schema\n\
         modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {d}/slapd.pid\n\
         sizelimit unlimited\nthreads 4\n\
         database mdb\nmaxsize 8589934592\nsuffix \"{SUFFIX}\"\nrootdn \"{ROOT_DN}\"\n\
         rootpw {ROOT_PW}\ndirectory {d}/db\nindex objectClass eq\n",
        d = dir.display()
    );
    std::fs::write(dir.join("slapd.conf"), conf)?;
    std::fs::write(dir.join("base.ldif"), ldif_text)?;
    let t = Instant::now();
    let out = Command::new(tool("slapadd")?)
        .arg("-q")
        .arg("-f")
        .arg(dir.join("slapd.conf"))
        .arg("-l")
        .arg(dir.join("base.ldif"))
        .output()
        .context("running slapadd")?;
    anyhow::ensure!(
        out.status.success(),
        "slapadd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let load = t.elapsed();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(dir.join("slapd.log"))?;
    let child = Command::new(tool("slapd")?)
        .arg("-f")
        .arg(dir.join("slapd.conf"))
        .args(["-h", &format!("ldap://127.0.0.1:{port}/"), "-d", "0"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting slapd")?;
    let mut slapd = Slapd { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = slapd.child.try_wait()? {
            anyhow::bail!(
                "slapd exited with {status}: {}",
                std::fs::read_to_string(dir.join("slapd.log")).unwrap_or_default()
            );
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "slapd did not listen within 30 s"
        );
        std::thread::park_timeout(Duration::from_millis(10));
    }
    Ok((slapd, load))
}

const PEOPLE_ATTRS: &[&str] = &[
    "uid",
    "mail",
    "cn",
    "displayName",
    "givenName",
    "sn",
    "telephoneNumber",
    "manager",
];
const GROUP_ATTRS: &[&str] = &["cn", "description", "member"];

/// The floor: both paged searches, entries decoded and counted, nothing mapped.
async fn raw_read(url: &str, page_size: u32) -> anyhow::Result<(u64, u64)> {
    let (conn, mut ldap) = LdapConnAsync::new(url).await?;
    ldap3::drive!(conn);
    ldap.simple_bind(ROOT_DN, ROOT_PW).await?.success()?;
    let mut counts = [0u64; 2];
    for (k, (base, filter, attrs)) in [
        (PEOPLE_BASE, PEOPLE_FILTER, PEOPLE_ATTRS),
        (GROUPS_BASE, GROUPS_FILTER, GROUP_ATTRS),
    ]
    .into_iter()
    .enumerate()
    {
        let attrs: Vec<String> = attrs.iter().map(|a| (*a).to_string()).collect();
        let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(i32::try_from(page_size)?)),
        ];
        let mut stream = ldap
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
            .await?;
        while let Some(e) = stream.next().await? {
            let e = SearchEntry::construct(e);
            std::hint::black_box(&e);
            counts[k] += 1;
        }
        stream.finish().await.success()?;
    }
    ldap.unbind().await?;
    Ok((counts[0], counts[1]))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub async fn run(env: &Env, args: &Args) -> anyhow::Result<Outcome> {
    let dir = env.workdir()?;
    let gen_start = Instant::now();
    let text = ldif(args.people, args.groups);
    let gen_time = gen_start.elapsed();
    let (slapd, load_time) = launch(dir.path(), &text)?;
    drop(text);
    let url = format!("ldap://127.0.0.1:{}", slapd.port);
    let pw = dir.path().join("bind.pw");
    std::fs::write(&pw, format!("{ROOT_PW}\n"))?;
    let cfg: LdapSourceConfig = toml::from_str(&format!(
        "url = {url:?}\nbind_dn = {ROOT_DN:?}\npassword_file = {:?}\npeople_base = {PEOPLE_BASE:?}\n\
         groups_base = {GROUPS_BASE:?}\ngroups_filter = {GROUPS_FILTER:?}\npage_size = {}\n\
         timeout = \"120s\"\n",
        pw.display().to_string(),
        args.page_size
    ))?;

    let runs = args.runs.max(1);
    let mut raw_times = Vec::new();
    let mut raw_counts = (0, 0);
    let mut snap_times = Vec::new();
    let mut snap_counts = (0, 0, 0);
    // One untimed pass of each warms slapd's cache.
    raw_read(&url, args.page_size).await?;
    for _ in 0..runs {
        let t = Instant::now();
        raw_counts = raw_read(&url, args.page_size).await?;
        raw_times.push(t.elapsed());
        let t = Instant::now();
        let r = read_snapshot(&cfg, &|_| {}).await?;
        snap_times.push(t.elapsed());
        let members: usize = r.snapshot.groups.iter().map(|g| g.members.len()).sum();
        snap_counts = (r.snapshot.people.len(), r.snapshot.groups.len(), members);
    }
    // The whole sync through the daemon library: read + plan + durable batched writes into a
    // fresh sled store, then a second run against the same directory (nothing changed).
    let store_dir = dir.path().join("store");
    let store = hallpass_store::Store::open(
        &store_dir,
        hallpass_store::StoreOptions {
            cache_bytes: 64 << 20,
        },
    )?;
    let source = hallpass_daemon::config::SourceConfig {
        name: hallpass_core::SourceName::new("bench-ldap")?,
        interval: Duration::ZERO,
        max_deactivate_percent: 20,
        min_people: 1,
        file: None,
        ldap: Some(cfg.clone()),
    };
    let mut config = hallpass_daemon::Config::default();
    config.sync.source.push(source.clone());
    let broker = hallpass_daemon::Broker::new(
        store,
        std::sync::Arc::new(hallpass_core::SystemClock),
        config,
    )?;
    let opts = hallpass_daemon::sync::options_for(
        &source,
        hallpass_core::audit::Source::Ldap,
        hallpass_core::audit::Actor::System,
    );
    let t = Instant::now();
    let first = hallpass_daemon::sync::run_source(&broker, &source, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("initial sync: {:?}", e.into_api()))?;
    let initial = t.elapsed();
    anyhow::ensure!(
        first.refused.is_none(),
        "initial sync refused: {:?}",
        first.refused
    );
    let t = Instant::now();
    let second = hallpass_daemon::sync::run_source(&broker, &source, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("re-sync: {:?}", e.into_api()))?;
    let resync = t.elapsed();
    anyhow::ensure!(
        second.added + second.updated + second.deactivated == 0,
        "the re-sync changed something: {second:?}"
    );
    drop(broker);
    drop(slapd);
    let raw = median(raw_times);
    let snap = median(snap_times);
    let raw_entries = raw_counts.0 + raw_counts.1;
    let snap_entries = (snap_counts.0 + snap_counts.1) as u64;
    let raw_rate = rate(raw_entries, raw);
    let snap_rate = rate(snap_entries, snap);

    let mut t = Table::new(
        format!(
            "LDAP read: {} people, {} groups, pages of {} (median of {runs})",
            args.people, args.groups, args.page_size
        ),
        &["step", "entries", "wall", "entries/s", "vs floor"],
    );
    t.row(vec![
        "floor: raw paged searches (ldap3, decoded, unmapped)".into(),
        raw_entries.to_string(),
        format!("{:.2} s", raw.as_secs_f64()),
        show_rate(raw_rate),
        "1.00×".into(),
    ]);
    t.row(vec![
        "read_snapshot (mapped, members resolved and flattened)".into(),
        snap_entries.to_string(),
        format!("{:.2} s", snap.as_secs_f64()),
        show_rate(snap_rate),
        show_ratio(snap.as_secs_f64() / raw.as_secs_f64().max(1e-9)),
    ]);
    let people_groups = (snap_counts.0 + snap_counts.1) as u64;
    t.row(vec![
        "sync: initial load (read + plan + batched durable writes)".into(),
        people_groups.to_string(),
        format!("{:.2} s", initial.as_secs_f64()),
        show_rate(rate(people_groups, initial)),
        show_ratio(initial.as_secs_f64() / raw.as_secs_f64().max(1e-9)),
    ]);
    t.row(vec![
        "sync: no-change re-sync (read + plan, nothing written)".into(),
        people_groups.to_string(),
        format!("{:.2} s", resync.as_secs_f64()),
        show_rate(rate(people_groups, resync)),
        show_ratio(resync.as_secs_f64() / raw.as_secs_f64().max(1e-9)),
    ]);
    let mut short = Vec::new();
    let full_size = args.people >= 100_000 && args.groups >= 10_000;
    if full_size && initial > Duration::from_secs(10) {
        short.push(format!(
            "identity sync initial load {:.1} s (target ≤ 10 s)",
            initial.as_secs_f64()
        ));
    }
    if full_size && resync > Duration::from_secs(3) {
        short.push(format!(
            "identity no-change re-sync {:.1} s (target ≤ 3 s)",
            resync.as_secs_f64()
        ));
    }
    t.note(format!(
        "Setup, not measured above: LDIF generated in {:.2} s, slapadd -q in {:.2} s. slapd (back_mdb, \
         sizelimit unlimited) on loopback, bound as the rootdn; one untimed warm-up pass. The \
         snapshot held {} group memberships after flattening. `vs floor` is wall time relative to the floor.",
        gen_time.as_secs_f64(),
        load_time.as_secs_f64(),
        snap_counts.2
    ));
    Ok(Outcome {
        name: "sync",
        tables: vec![t],
        json: json!({
            "people": args.people,
            "groups": args.groups,
            "page_size": args.page_size,
            "runs": runs,
            "ldif_generate_secs": gen_time.as_secs_f64(),
            "slapadd_secs": load_time.as_secs_f64(),
            "floor_raw_search": {
                "entries": raw_entries,
                "wall_secs": raw.as_secs_f64(),
                "entries_per_sec": raw_rate,
            },
            "sync_initial": {
                "wall_secs": initial.as_secs_f64(),
                "added": first.added,
                "groups_added": first.groups_added,
            },
            "sync_no_change": {
                "wall_secs": resync.as_secs_f64(),
                "unchanged": second.unchanged,
            },
            "read_snapshot": {
                "people": snap_counts.0,
                "groups": snap_counts.1,
                "memberships": snap_counts.2,
                "wall_secs": snap.as_secs_f64(),
                "entries_per_sec": snap_rate,
                "ratio_to_floor": snap.as_secs_f64() / raw.as_secs_f64().max(1e-9),
            },
        }),
        short_of_targets: short,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_ldif_has_every_entry() {
        let s = super::ldif(250, 20);
        assert_eq!(s.matches("objectClass: inetOrgPerson").count(), 250);
        assert_eq!(s.matches("objectClass: groupOfNames").count(), 20);
        assert!(s.contains("member: cn=group00001,ou=groups"));
    }
}
