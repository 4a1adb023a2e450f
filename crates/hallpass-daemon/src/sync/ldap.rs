//! The LDAP identity source (pulled): reads people and groups from a directory (OpenLDAP,
//! 389-ds, Active Directory, …) into a [`Snapshot`].
//!
//! A read is one connection, one bind and two RFC 2696 paged searches: people, then groups
//! (a third, attribute-less paged search lists disabled people when `disabled_filter` is set).
//! Paging means neither the directory's size nor a server `sizelimit` truncates the result; a
//! search that ends with any result code but success is an error, never a short snapshot.
//!
//! Invariants: the bind password is read from its file at each read and appears in no error,
//! log line or `Debug` output; DNs are compared case-insensitively with insignificant spaces
//! removed ([`normalize_dn`]); group members are people, flattened through nested groups,
//! and a cycle of groups terminates ([`flatten_groups`]); an entry missing a required
//! attribute is skipped and reported in [`LdapRead::skipped`], never fatal, and its external id
//! (when it has one) is still listed in `Snapshot::unreadable`, in its groups' members and as
//! its reports' manager, so its person is neither gone nor out of their groups.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hallpass_core::identity::{GroupRecord, PersonRecord, RecordError, Snapshot, group_name_from};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use serde::{Deserialize, Deserializer};

/// One `[[sync.source]]` of `kind = "ldap"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSourceConfig {
    /// The directory: `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the roots that may sign the server's certificate (ldaps or StartTLS);
    /// the system roots when unset.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The DN to bind as; an anonymous bind when unset.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// A file holding the bind password (one trailing newline is ignored). Read at every
    /// sync, never logged. Required when `bind_dn` is set.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Where people live, searched with subtree scope: `ou=people,dc=example,dc=com`.
    pub people_base: String,
    /// Which entries under `people_base` are people.
    #[serde(default = "default_people_filter")]
    pub people_filter: String,
    /// Where groups live, searched with subtree scope; no groups are read when unset.
    #[serde(default)]
    pub groups_base: Option<String>,
    /// Which entries under `groups_base` are groups.
    #[serde(default = "default_groups_filter")]
    pub groups_filter: String,
    /// Which directory attribute holds each field.
    #[serde(default)]
    pub attributes: LdapAttributes,
    /// People matching this filter (as well as `people_filter`) come back inactive, e.g.
    /// Active Directory's `(userAccountControl:1.2.840.113556.1.4.803:=2)`.
    #[serde(default)]
    pub disabled_filter: Option<String>,
    /// Entries per page of the paged searches (RFC 2696).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How long connecting and each operation may take, like `30s` or `2m`.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

/// The `[attributes]` table: which attribute holds each field. Names are matched
/// case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapAttributes {
    /// The stable key of a person or group: `dn` (the entry's DN, normalised), or an
    /// attribute such as `entryUUID` or `objectGUID`.
    pub external_id: String,
    /// The login matched against OS user names: `uid`, AD's `sAMAccountName`.
    pub login: String,
    /// The e-mail address; entries without one are skipped.
    pub email: String,
    /// The display name; falls back to `displayName`, then `givenName` + `sn`.
    pub name: String,
    pub phone: String,
    /// Holds the manager's DN.
    pub manager: String,
    pub group_name: String,
    pub group_description: String,
    /// How membership is recorded: `member` or `uniqueMember` (DNs on the group),
    /// `memberUid` (logins on the group, as in posixGroup) or `memberOf` (group DNs on the
    /// person, as in Active Directory).
    pub membership: Membership,
}

impl Default for LdapAttributes {
    fn default() -> Self {
        LdapAttributes {
            external_id: "dn".into(),
            login: "uid".into(),
            email: "mail".into(),
            name: "cn".into(),
            phone: "telephoneNumber".into(),
            manager: "manager".into(),
            group_name: "cn".into(),
            group_description: "description".into(),
            membership: Membership::Member,
        }
    }
}

/// Where group membership is written in the directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Membership {
    /// The group's `member` attribute holds member DNs (groupOfNames).
    #[default]
    #[serde(rename = "member")]
    Member,
    /// The group's `uniqueMember` attribute holds member DNs (groupOfUniqueNames).
    #[serde(rename = "uniqueMember")]
    UniqueMember,
    /// The group's `memberUid` attribute holds member logins (posixGroup).
    #[serde(rename = "memberUid")]
    MemberUid,
    /// Each person's (and nested group's) `memberOf` attribute holds the DNs of its groups.
    #[serde(rename = "memberOf")]
    MemberOf,
}

impl Membership {
    fn attribute(self) -> &'static str {
        match self {
            Membership::Member => "member",
            Membership::UniqueMember => "uniqueMember",
            Membership::MemberUid => "memberUid",
            Membership::MemberOf => "memberOf",
        }
    }
}

fn default_people_filter() -> String {
    "(objectClass=inetOrgPerson)".into()
}

fn default_groups_filter() -> String {
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))".into()
}

fn default_page_size() -> u32 {
    500
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("`{s}` is not a duration like 30s or 2m: {e}"))
    })
}

/// How far a read has got, reported as pages arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub people: u32,
    pub groups: u32,
}

/// What one read found: the snapshot, and the entries it had to leave out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LdapRead {
    pub snapshot: Snapshot,
    /// Entries skipped for a missing or unusable attribute (`entry "<dn>"`, the attribute, why).
    pub skipped: Vec<RecordError>,
}

/// Why a read failed. Messages name what failed (the URL, the bind DN, the search base and
/// filter, the file), never the password.
#[derive(Debug, thiserror::Error)]
pub enum LdapSourceError {
    #[error("LDAP source: {0}")]
    Config(String),
    #[error("cannot read the LDAP password file {path}: {why}")]
    PasswordFile { path: PathBuf, why: String },
    #[error("cannot read the LDAP CA file {path}: {why}")]
    CaFile { path: PathBuf, why: String },
    #[error("cannot connect to {url}: {why}")]
    Connect { url: String, why: String },
    #[error("TLS with {url} failed: {why}")]
    Tls { url: String, why: String },
    #[error("bind to {url} as \"{dn}\" failed: {why}")]
    Bind {
        url: String,
        dn: String,
        why: String,
    },
    #[error("search of \"{base}\" with filter {filter} failed: {why}")]
    Search {
        base: String,
        filter: String,
        why: String,
    },
    #[error(
        "\"{dn}\" returned memberOf in ranges ({option}), as Active Directory does past 1500 values; a person's memberOf is not read in ranges, so nothing was applied rather than a list read short: use membership = \"member\" for this directory"
    )]
    Ranged { dn: String, option: String },
    #[error(
        "reading the {attribute} of \"{dn}\" in ranges went wrong at {option}: {why}; nothing was applied"
    )]
    Range {
        dn: String,
        attribute: String,
        option: String,
        why: String,
    },
    #[error("search of \"{base}\" with filter {filter} ended with result code {code}: {text}")]
    ResultCode {
        base: String,
        filter: String,
        code: u32,
        text: String,
    },
}

/// The password, kept out of every `Debug` and `Display`.
struct Secret(String);

fn read_password(cfg: &LdapSourceConfig) -> Result<Option<Secret>, LdapSourceError> {
    let Some(path) = &cfg.password_file else {
        if cfg.bind_dn.is_some() {
            return Err(LdapSourceError::Config(
                "bind_dn is set but password_file is not".into(),
            ));
        }
        return Ok(None);
    };
    let mut s = std::fs::read_to_string(path).map_err(|e| LdapSourceError::PasswordFile {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    if s.is_empty() {
        return Err(LdapSourceError::PasswordFile {
            path: path.clone(),
            why: "the file is empty".into(),
        });
    }
    Ok(Some(Secret(s)))
}

fn tls_config(cfg: &LdapSourceConfig) -> Result<rustls::ClientConfig, LdapSourceError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let bad = |why: String| LdapSourceError::CaFile {
                path: path.clone(),
                why,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("it holds no certificate".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| bad(e.to_string()))?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapSourceError::Tls {
            url: cfg.url.clone(),
            why: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Whether an error from connecting came from TLS (a certificate, a handshake).
fn is_tls_error(e: &LdapError) -> bool {
    match e {
        LdapError::Rustls { .. } => true,
        LdapError::Io { source } => source
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}

/// A connected, bound handle; the connection's driver runs until the handle is dropped.
struct Session {
    ldap: Ldap,
    /// `as "<dn>"` or `anonymously`.
    bound: String,
}

async fn open(cfg: &LdapSourceConfig) -> Result<Session, LdapSourceError> {
    let url = cfg.url.clone();
    let tls = if cfg.url.starts_with("ldaps://") {
        if cfg.starttls {
            return Err(LdapSourceError::Config(
                "starttls is for ldap:// URLs; ldaps:// is TLS already".into(),
            ));
        }
        true
    } else if cfg.url.starts_with("ldap://") {
        cfg.starttls
    } else {
        return Err(LdapSourceError::Config(format!(
            "url `{}` must start with ldap:// or ldaps://",
            cfg.url
        )));
    };
    if cfg.page_size == 0 {
        return Err(LdapSourceError::Config("page_size must be above 0".into()));
    }
    let password = read_password(cfg)?;
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(cfg.timeout)
        .set_starttls(cfg.starttls);
    if tls {
        settings = settings.set_config(Arc::new(tls_config(cfg)?));
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &cfg.url)
        .await
        .map_err(|e| {
            if tls && is_tls_error(&e) {
                LdapSourceError::Tls {
                    url: url.clone(),
                    why: e.to_string(),
                }
            } else {
                LdapSourceError::Connect {
                    url: url.clone(),
                    why: e.to_string(),
                }
            }
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(error = %e, "LDAP connection ended");
        }
    });
    ldap.with_timeout(cfg.timeout);
    let bound = match (&cfg.bind_dn, &password) {
        (Some(dn), Some(pw)) => {
            let bind_err = |why: String| LdapSourceError::Bind {
                url: url.clone(),
                dn: dn.clone(),
                why,
            };
            let res = ldap
                .simple_bind(dn, &pw.0)
                .await
                .map_err(|e| bind_err(e.to_string()))?;
            if res.rc != 0 {
                return Err(bind_err(result_text(res.rc, &res.text)));
            }
            format!("as \"{dn}\"")
        }
        _ => "anonymously".to_string(),
    };
    Ok(Session { ldap, bound })
}

/// `49 (invalidCredentials): <server text>`, naming the code.
fn result_text(rc: u32, text: &str) -> String {
    let name = match rc {
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => "see RFC 4511",
    };
    if text.is_empty() {
        format!("{rc} ({name})")
    } else {
        format!("{rc} ({name}): {text}")
    }
}

/// Runs one paged subtree search, handing each entry to `each` (which says whether it kept
/// it) and reporting how many were kept after every page. Fails on any result code but
/// success.
async fn paged_search(
    ldap: &mut Ldap,
    cfg: &LdapSourceConfig,
    base: &str,
    filter: &str,
    attrs: Vec<String>,
    mut each: impl FnMut(SearchEntry) -> bool,
    mut page: impl FnMut(u32),
) -> Result<u32, LdapSourceError> {
    let search_err = |why: String| LdapSourceError::Search {
        base: base.to_string(),
        filter: filter.to_string(),
        why,
    };
    let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(
            i32::try_from(cfg.page_size).unwrap_or(i32::MAX),
        )),
    ];
    let mut stream = ldap
        .with_timeout(cfg.timeout)
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await
        .map_err(|e| search_err(e.to_string()))?;
    let (mut seen, mut kept) = (0u32, 0u32);
    loop {
        match stream.next().await {
            Ok(Some(entry)) => {
                if each(SearchEntry::construct(entry)) {
                    kept += 1;
                }
                seen += 1;
                if seen % cfg.page_size == 0 {
                    page(kept);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = stream.finish().await;
                return Err(search_err(e.to_string()));
            }
        }
    }
    let res = stream.finish().await;
    if res.rc != 0 {
        return Err(LdapSourceError::ResultCode {
            base: base.to_string(),
            filter: filter.to_string(),
            code: res.rc,
            text: result_text(res.rc, &res.text),
        });
    }
    page(kept);
    Ok(kept)
}

/// Connects, binds and looks for one person: says what it found.
pub async fn test_connection(cfg: &LdapSourceConfig) -> Result<String, LdapSourceError> {
    let mut s = open(cfg).await?;
    let search_err = |why: String| LdapSourceError::Search {
        base: cfg.people_base.clone(),
        filter: cfg.people_filter.clone(),
        why,
    };
    let mut stream = s
        .ldap
        .with_timeout(cfg.timeout)
        .with_search_options(ldap3::SearchOptions::new().sizelimit(1))
        .streaming_search_with(
            EntriesOnly::new(),
            &cfg.people_base,
            Scope::Subtree,
            &cfg.people_filter,
            vec!["1.1"],
        )
        .await
        .map_err(|e| search_err(e.to_string()))?;
    let mut found = false;
    while let Some(_e) = stream.next().await.map_err(|e| search_err(e.to_string()))? {
        found = true;
    }
    let res = stream.finish().await;
    // 4 (sizeLimitExceeded) is what a one-entry limit on a bigger base answers.
    if res.rc != 0 && res.rc != 4 {
        return Err(LdapSourceError::ResultCode {
            base: cfg.people_base.clone(),
            filter: cfg.people_filter.clone(),
            code: res.rc,
            text: result_text(res.rc, &res.text),
        });
    }
    let _ = s.ldap.unbind().await;
    Ok(format!(
        "bound {} to {}; people base {}",
        s.bound,
        cfg.url,
        if found {
            "has entries"
        } else {
            "has no entries matching people_filter"
        }
    ))
}

/// Normalises a DN for comparison: attribute types and values lowercased, spaces around
/// `,` `+` `=` removed, runs of spaces inside values made one; escapes are kept.
pub fn normalize_dn(dn: &str) -> String {
    // Most DNs a server sends are already normal: lowercase ASCII with no spaces, escapes or
    // multi-valued RDNs. Normalising those would change nothing, so copy them.
    if dn
        .bytes()
        .all(|b| b > b' ' && b < 0x7f && !b.is_ascii_uppercase() && !b"\\+;".contains(&b))
    {
        return dn.to_string();
    }
    let mut out = String::with_capacity(dn.len());
    let mut rdn_parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = dn.chars().peekable();
    let flush = |cur: &mut String, out: &mut String, parts: &mut Vec<String>, sep: char| {
        parts.push(normalize_ava(cur));
        cur.clear();
        if sep == ',' {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&parts.join("+"));
            parts.clear();
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' | ';' => flush(&mut cur, &mut out, &mut rdn_parts, ','),
            '+' => flush(&mut cur, &mut out, &mut rdn_parts, '+'),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !rdn_parts.is_empty() {
        flush(&mut cur, &mut out, &mut rdn_parts, ',');
    }
    out
}

/// `  CN = Ada  Lovelace ` → `cn=ada lovelace`.
fn normalize_ava(ava: &str) -> String {
    let (ty, val) = match split_unescaped(ava, '=') {
        Some((t, v)) => (t, v),
        None => ("", ava),
    };
    let mut v = String::with_capacity(val.len());
    let mut last_space = false;
    let val = val.trim_start();
    let mut chars = val.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            v.push(c);
            if let Some(n) = chars.next() {
                v.extend(n.to_lowercase());
            }
            last_space = false;
        } else if c.is_whitespace() {
            if !last_space {
                v.push(' ');
            }
            last_space = true;
        } else {
            v.extend(c.to_lowercase());
            last_space = false;
        }
    }
    // A trailing escaped space (`\ `) is significant; an unescaped one is not.
    while v.ends_with(' ') && !v.ends_with("\\ ") {
        v.pop();
    }
    let ty = ty.trim().to_ascii_lowercase();
    if ty.is_empty() {
        v
    } else {
        format!("{ty}={v}")
    }
}

fn split_unescaped(s: &str, sep: char) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            return Some((&s[..i], &s[i + c.len_utf8()..]));
        }
    }
    None
}

/// Flattens nested groups. `direct[g]` holds group `g`'s direct members (people), and
/// `subgroups[g]` the groups nested in `g`; returns each group's members, directly or through
/// any depth of nesting, sorted and without duplicates. Cycles terminate.
pub fn flatten_groups(direct: &[Vec<String>], subgroups: &[Vec<usize>]) -> Vec<Vec<String>> {
    let n = direct.len();
    let mut out = Vec::with_capacity(n);
    let mut seen = vec![usize::MAX; n];
    let mut stack = Vec::new();
    for g in 0..n {
        let mut members: Vec<String> = Vec::new();
        stack.clear();
        stack.push(g);
        seen[g] = g;
        while let Some(h) = stack.pop() {
            members.extend(direct[h].iter().cloned());
            for &s in subgroups.get(h).map(Vec::as_slice).unwrap_or(&[]) {
                if s < n && seen[s] != g {
                    seen[s] = g;
                    stack.push(s);
                }
            }
        }
        members.sort_unstable();
        members.dedup();
        out.push(members);
    }
    out
}

/// The first value of `name` (case-insensitive), as text; binary values become hex, and
/// `objectGUID` its usual `xxxxxxxx-xxxx-…` form.
fn first(e: &SearchEntry, name: &str) -> Option<String> {
    if name.eq_ignore_ascii_case("dn") {
        return Some(normalize_dn(&e.dn));
    }
    if let Some(v) = e
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.iter().find(|s| !s.trim().is_empty()))
    {
        return Some(v.trim().to_string());
    }
    let (_, b) = e
        .bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))?;
    let b = b.first()?;
    if name.eq_ignore_ascii_case("objectGUID") && b.len() == 16 {
        return Some(format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}-{}",
            b[3],
            b[2],
            b[1],
            b[0],
            b[5],
            b[4],
            b[7],
            b[6],
            hex::encode(&b[8..10]),
            hex::encode(&b[10..16])
        ));
    }
    Some(hex::encode(b))
}

/// The `attr;range=…` option of `name` when the server sent it in ranges (Active Directory does
/// for a multi-valued attribute past its MaxValRange, 1500 by default, leaving the plain
/// attribute empty), with its values.
fn ranged<'e>(e: &'e SearchEntry, name: &str) -> Option<(&'e str, &'e [String])> {
    e.attrs.iter().find_map(|(k, v)| {
        let (attr, option) = k.split_once(';')?;
        (attr.eq_ignore_ascii_case(name) && option.to_ascii_lowercase().starts_with("range="))
            .then_some((option, v.as_slice()))
    })
}

/// `range=1500-2999` → (1500, Some(2999)); `range=3000-*` (the last part) → (3000, None).
fn range_bounds(option: &str) -> Option<(u64, Option<u64>)> {
    let (low, high) = option.get("range=".len()..)?.split_once('-')?;
    let low = low.parse().ok()?;
    let high = match high {
        "*" => None,
        h => Some(h.parse().ok().filter(|&h: &u64| h >= low)?),
    };
    Some((low, high))
}

/// Where the rest of a ranged attribute starts, if there is a rest.
fn next_range(dn: &str, attribute: &str, option: &str) -> Result<Option<u64>, LdapSourceError> {
    match range_bounds(option) {
        Some((_, None)) => Ok(None),
        Some((_, Some(high))) => Ok(Some(high + 1)),
        None => Err(LdapSourceError::Range {
            dn: dn.to_string(),
            attribute: attribute.to_string(),
            option: option.to_string(),
            why: "the range does not parse".into(),
        }),
    }
}

/// Reads the rest of `dn`'s ranged `attribute` from `start` on, one base search per range (the
/// server decides how many values each holds), appending the values to `into`.
async fn read_ranges(
    ldap: &mut Ldap,
    cfg: &LdapSourceConfig,
    dn: &str,
    attribute: &str,
    mut start: u64,
    into: &mut Vec<String>,
) -> Result<(), LdapSourceError> {
    let fail = |option: String, why: String| LdapSourceError::Range {
        dn: dn.to_string(),
        attribute: attribute.to_string(),
        option,
        why,
    };
    loop {
        let asked = format!("range={start}-*");
        let (entries, _done) = ldap
            .with_timeout(cfg.timeout)
            .search(
                dn,
                Scope::Base,
                "(objectClass=*)",
                vec![format!("{attribute};{asked}")],
            )
            .await
            .map_err(|e| fail(asked.clone(), e.to_string()))?
            .success()
            .map_err(|e| fail(asked.clone(), e.to_string()))?;
        let Some(entry) = entries.into_iter().next().map(SearchEntry::construct) else {
            return Err(fail(asked, "the entry is gone".into()));
        };
        let Some((option, values)) = ranged(&entry, attribute) else {
            // A server that answers the whole attribute at once: what is left of it.
            into.extend(
                all(&entry, attribute)
                    .skip(usize::try_from(start).unwrap_or(usize::MAX))
                    .cloned(),
            );
            return Ok(());
        };
        let got = range_bounds(option).map(|(low, _)| low);
        if got != Some(start) {
            return Err(fail(option.to_string(), format!("asked for {asked}")));
        }
        into.extend(values.iter().filter(|v| !v.trim().is_empty()).cloned());
        match next_range(dn, attribute, option)? {
            Some(next) => start = next,
            None => return Ok(()),
        }
    }
}

fn all<'e>(e: &'e SearchEntry, name: &str) -> impl Iterator<Item = &'e String> + 'e {
    let name = name.to_string();
    e.attrs
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(&name))
        .flat_map(|(_, v)| v.iter())
        .filter(|s| !s.trim().is_empty())
}

/// A `uniqueMember` value may carry an optional `#'0101'B` UID suffix.
fn member_dn(v: &str) -> String {
    let v = match v.rfind("#'") {
        Some(i) if v.ends_with("'B") => &v[..i],
        _ => v,
    };
    normalize_dn(v)
}

fn skip(dn: &str, field: &str, why: impl Into<String>) -> RecordError {
    RecordError {
        record: format!("entry \"{dn}\""),
        field: field.to_string(),
        why: why.into(),
    }
}

/// A person as read, before managers and memberships are resolved.
struct RawPerson {
    /// The entry's DN, normalised.
    key: String,
    record: PersonRecord,
    manager_dn: Option<String>,
    /// Group DNs (memberOf mode only).
    member_of: Vec<String>,
}

/// A person entry skipped for an unusable attribute: what its memberships need.
struct Unreadable {
    /// The entry's DN, normalised.
    key: String,
    external_id: String,
    login: Option<String>,
    /// Group DNs (memberOf mode only).
    member_of: Vec<String>,
}

fn dedup_attrs(mut v: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    v.retain(|a| a != "dn" && seen.insert(a.to_ascii_lowercase()));
    if v.is_empty() {
        v.push("1.1".into());
    }
    v
}

/// Reads the whole source: people, then groups, with members flattened through nested groups.
pub async fn read_snapshot(
    cfg: &LdapSourceConfig,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<LdapRead, LdapSourceError> {
    let a = &cfg.attributes;
    let by_dn = a.external_id.eq_ignore_ascii_case("dn");
    let mut s = open(cfg).await?;
    let mut skipped = Vec::new();
    // People skipped for an unusable attribute who have an external id: still listed (see
    // `Snapshot::unreadable`), and still members of the groups that name them.
    let mut unreadable: Vec<Unreadable> = Vec::new();

    // People.
    let mut people_attrs = vec![
        a.external_id.clone(),
        a.login.clone(),
        a.email.clone(),
        a.name.clone(),
        "displayName".into(),
        "givenName".into(),
        "sn".into(),
        a.phone.clone(),
        a.manager.clone(),
    ];
    if a.membership == Membership::MemberOf {
        people_attrs.push("memberOf".into());
    }
    let people_attrs = dedup_attrs(people_attrs);
    let mut raw: Vec<RawPerson> = Vec::new();
    // A person's memberOf that came in ranges: the read is refused.
    let mut short: Option<LdapSourceError> = None;
    paged_search(
        &mut s.ldap,
        cfg,
        &cfg.people_base,
        &cfg.people_filter,
        people_attrs,
        |e| {
            if a.membership == Membership::MemberOf
                && short.is_none()
                && let Some((option, _)) = ranged(&e, "memberOf")
            {
                short = Some(LdapSourceError::Ranged {
                    dn: e.dn.clone(),
                    option: option.to_string(),
                });
            }
            match person_from(&e, a) {
                Ok(p) => {
                    raw.push(p);
                    true
                }
                Err(r) => {
                    if let Some(external_id) = first(&e, &a.external_id) {
                        unreadable.push(Unreadable {
                            key: normalize_dn(&e.dn),
                            external_id,
                            login: first(&e, &a.login),
                            member_of: if a.membership == Membership::MemberOf {
                                all(&e, "memberOf").cloned().collect()
                            } else {
                                Vec::new()
                            },
                        });
                    }
                    skipped.push(r);
                    false
                }
            }
        },
        |n| {
            progress(Progress {
                people: n,
                groups: 0,
            })
        },
    )
    .await?;
    let people_total = u32::try_from(raw.len()).unwrap_or(u32::MAX);

    // Disabled people: DNs only.
    if let Some(disabled) = &cfg.disabled_filter {
        let filter = format!("(&{}{})", paren(&cfg.people_filter), paren(disabled));
        let mut off = HashSet::new();
        paged_search(
            &mut s.ldap,
            cfg,
            &cfg.people_base,
            &filter,
            vec!["1.1".into()],
            |e| off.insert(normalize_dn(&e.dn)),
            |_| {},
        )
        .await?;
        for p in &mut raw {
            if off.contains(&p.key) {
                p.record.active = false;
            }
        }
    }

    // Indexes over the people, read or skipped: a DN or a login to the external id. A skipped
    // person is still a member of their groups and still their reports' manager.
    let mut ext_by_dn: HashMap<&str, &str> = HashMap::with_capacity(raw.len());
    let mut ext_by_login: HashMap<String, &str> = HashMap::new();
    let known = raw
        .iter()
        .map(|p| (&p.key, &p.record.external_id, &p.record.login))
        .chain(
            unreadable
                .iter()
                .map(|u| (&u.key, &u.external_id, &u.login)),
        );
    for (dn, ext, login) in known {
        ext_by_dn.insert(dn, ext);
        if let Some(l) = login {
            ext_by_login.insert(l.to_lowercase(), ext);
        }
    }

    // Groups.
    struct RawGroup {
        dn: String,
        record: GroupRecord,
        /// member / uniqueMember / memberUid values, or (memberOf) the groups this one is in.
        links: Vec<String>,
    }
    let mut groups: Vec<RawGroup> = Vec::new();
    if let Some(base) = &cfg.groups_base {
        let attrs = dedup_attrs(vec![
            a.external_id.clone(),
            a.group_name.clone(),
            a.group_description.clone(),
            a.membership.attribute().to_string(),
        ]);
        let membership = a.membership.attribute();
        // Groups whose member list goes on past the first range, and where it goes on.
        let mut rest: Vec<(usize, u64)> = Vec::new();
        paged_search(
            &mut s.ldap,
            cfg,
            base,
            &cfg.groups_filter,
            attrs,
            |e| {
                let Some(external_id) = first(&e, &a.external_id) else {
                    skipped.push(skip(&e.dn, &a.external_id, "missing"));
                    return false;
                };
                let Some(cn) = first(&e, &a.group_name) else {
                    skipped.push(skip(&e.dn, &a.group_name, "missing"));
                    return false;
                };
                let name = match group_name_from(&cn) {
                    Ok(n) => n,
                    Err(err) => {
                        skipped.push(skip(&e.dn, &a.group_name, err.to_string()));
                        return false;
                    }
                };
                let mut links: Vec<String> = all(&e, membership).cloned().collect();
                // Past the server's limit (AD: 1500) the values come in ranges; the first is
                // here, the rest are read once the search is done.
                if let Some((option, values)) = ranged(&e, membership) {
                    links.extend(values.iter().filter(|v| !v.trim().is_empty()).cloned());
                    match next_range(&e.dn, membership, option) {
                        Ok(Some(next)) => rest.push((groups.len(), next)),
                        Ok(None) => {}
                        Err(err) => {
                            short.get_or_insert(err);
                        }
                    }
                }
                groups.push(RawGroup {
                    record: GroupRecord {
                        external_id,
                        name,
                        description: first(&e, &a.group_description).unwrap_or_default(),
                        members: Vec::new(),
                    },
                    links,
                    dn: e.dn,
                });
                true
            },
            |n| {
                progress(Progress {
                    people: people_total,
                    groups: n,
                })
            },
        )
        .await?;
        if short.is_none() {
            for (gi, start) in rest {
                let g = &mut groups[gi];
                read_ranges(&mut s.ldap, cfg, &g.dn, membership, start, &mut g.links).await?;
            }
        }
    }
    let _ = s.ldap.unbind().await;
    if let Some(e) = short {
        return Err(e);
    }

    // Resolve memberships into direct people and nested groups, then flatten.
    let group_by_dn: HashMap<String, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (normalize_dn(&g.dn), i))
        .collect();
    let mut direct: Vec<Vec<String>> = vec![Vec::new(); groups.len()];
    let mut subgroups: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    match a.membership {
        Membership::Member | Membership::UniqueMember => {
            for (gi, g) in groups.iter().enumerate() {
                for v in &g.links {
                    let dn = member_dn(v);
                    if let Some(&ext) = ext_by_dn.get(dn.as_str()) {
                        direct[gi].push(ext.to_string());
                    } else if let Some(&sub) = group_by_dn.get(&dn) {
                        subgroups[gi].push(sub);
                    }
                }
            }
        }
        Membership::MemberUid => {
            for (gi, g) in groups.iter().enumerate() {
                for v in &g.links {
                    if let Some(&ext) = ext_by_login.get(&v.trim().to_lowercase()) {
                        direct[gi].push(ext.to_string());
                    }
                }
            }
        }
        Membership::MemberOf => {
            let member_ofs = raw
                .iter()
                .map(|p| (&p.record.external_id, &p.member_of))
                .chain(unreadable.iter().map(|u| (&u.external_id, &u.member_of)));
            for (external_id, member_of) in member_ofs {
                for gdn in member_of {
                    if let Some(&gi) = group_by_dn.get(&normalize_dn(gdn)) {
                        direct[gi].push(external_id.clone());
                    }
                }
            }
            // A group's own memberOf: it is nested in those groups.
            for (child, g) in groups.iter().enumerate() {
                for v in &g.links {
                    if let Some(&parent) = group_by_dn.get(&normalize_dn(v)) {
                        subgroups[parent].push(child);
                    }
                }
            }
        }
    }
    let flat = flatten_groups(&direct, &subgroups);

    // Managers: by DN to the manager's external id.
    let manager_ids: Vec<Option<String>> = raw
        .iter()
        .map(|p| {
            let m = normalize_dn(p.manager_dn.as_deref()?);
            match ext_by_dn.get(m.as_str()) {
                Some(&ext) => Some(ext.to_string()),
                None if by_dn => Some(m),
                None => None,
            }
        })
        .collect();
    let people = raw
        .into_iter()
        .zip(manager_ids)
        .map(|(p, m)| PersonRecord {
            manager: m,
            ..p.record
        })
        .collect();
    let groups = groups
        .into_iter()
        .zip(flat)
        .map(|(g, members)| GroupRecord {
            members,
            ..g.record
        })
        .collect();
    Ok(LdapRead {
        snapshot: Snapshot {
            people,
            groups,
            unreadable: unreadable.into_iter().map(|u| u.external_id).collect(),
        },
        skipped,
    })
}

fn paren(f: &str) -> String {
    let f = f.trim();
    if f.starts_with('(') {
        f.to_string()
    } else {
        format!("({f})")
    }
}

fn person_from(e: &SearchEntry, a: &LdapAttributes) -> Result<RawPerson, RecordError> {
    let external_id =
        first(e, &a.external_id).ok_or_else(|| skip(&e.dn, &a.external_id, "missing"))?;
    let email = first(e, &a.email).ok_or_else(|| skip(&e.dn, &a.email, "missing"))?;
    let name = first(e, &a.name)
        .or_else(|| first(e, "displayName"))
        .or_else(|| {
            let g = first(e, "givenName");
            let s = first(e, "sn");
            match (g, s) {
                (Some(g), Some(s)) => Some(format!("{g} {s}")),
                (g, s) => g.or(s),
            }
        })
        .ok_or_else(|| {
            skip(
                &e.dn,
                &a.name,
                "missing (and no displayName, givenName or sn)",
            )
        })?;
    let record = PersonRecord {
        external_id,
        login: first(e, &a.login),
        email,
        name,
        phone: first(e, &a.phone),
        manager: None,
        active: true,
    };
    if let Err(err) = record.validate() {
        let (field, why) = match &err {
            hallpass_core::DomainError::InvalidInput { field, why } => {
                let attr = match field.as_str() {
                    "email" => a.email.as_str(),
                    "name" => a.name.as_str(),
                    "phone" => a.phone.as_str(),
                    "login" => a.login.as_str(),
                    "external_id" => a.external_id.as_str(),
                    other => other,
                };
                (attr.to_string(), why.clone())
            }
            other => (a.email.clone(), other.to_string()),
        };
        return Err(skip(&e.dn, &field, why));
    }
    Ok(RawPerson {
        key: normalize_dn(&e.dn),
        manager_dn: first(e, &a.manager),
        member_of: if a.membership == Membership::MemberOf {
            all(e, "memberOf").cloned().collect()
        } else {
            Vec::new()
        },
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_compare_case_and_space_insensitively() {
        assert_eq!(
            normalize_dn("UID=Ada , OU=People,  dc=Example,DC=com"),
            "uid=ada,ou=people,dc=example,dc=com"
        );
        assert_eq!(
            normalize_dn("cn=Platform   Team,ou=groups"),
            "cn=platform team,ou=groups"
        );
        assert_eq!(
            normalize_dn("cn=Smith\\, John ,ou=x"),
            "cn=smith\\, john,ou=x"
        );
        assert_eq!(normalize_dn("cn=a + sn=B,dc=x"), "cn=a+sn=b,dc=x");
        assert_eq!(normalize_dn(""), "");
        assert_eq!(normalize_dn("uid=a,dc=x"), "uid=a,dc=x", "already normal");
        assert_eq!(
            normalize_dn("uid=a,\tdc=x"),
            "uid=a,dc=x",
            "a tab is a space"
        );
        assert_eq!(member_dn("uid=a,dc=x#'0101'B"), "uid=a,dc=x");
    }

    fn entry(attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: "CN=Big Group,OU=Groups,DC=corp".into(),
            attrs: attrs.iter().map(|(k, v)| (k.to_string(), s(v))).collect(),
            bin_attrs: HashMap::new(),
        }
    }

    // Active Directory sends `member;range=0-1499` (and an empty `member`) past 1500 values.
    #[test]
    fn ranged_attributes_are_found_and_their_bounds_read() {
        let big = entry(&[
            ("cn", &["Big Group"]),
            ("member;range=0-1499", &["CN=a", "CN=b"]),
        ]);
        let (option, values) = ranged(&big, "Member").expect("any case");
        assert_eq!(
            (option, values),
            ("range=0-1499", &s(&["CN=a", "CN=b"])[..])
        );
        assert_eq!(
            ranged(&big, "uniqueMember"),
            None,
            "another attribute's ranges"
        );
        let whole = entry(&[("member", &["CN=a"]), ("cn;lang-en", &["Big"])]);
        assert_eq!(ranged(&whole, "member"), None);

        assert_eq!(range_bounds("range=0-1499"), Some((0, Some(1499))));
        assert_eq!(range_bounds("Range=1500-*"), Some((1500, None)));
        for bad in ["range=", "range=5", "range=9-3", "range=a-b", "lang-en"] {
            assert_eq!(range_bounds(bad), None, "{bad}");
        }
        assert_eq!(
            next_range("cn=g", "member", "range=0-1499").ok(),
            Some(Some(1500))
        );
        assert_eq!(
            next_range("cn=g", "member", "range=1500-*").ok(),
            Some(None)
        );
        let why = next_range("CN=Big Group", "member", "range=x")
            .expect_err("refused")
            .to_string();
        assert!(
            why.contains("CN=Big Group") && why.contains("range=x"),
            "{why}"
        );
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn nested_groups_flatten_and_cycles_terminate() {
        // 0 ⊃ 1 ⊃ 2, and 3 ⇄ 4 (a cycle), 4 ⊃ 0.
        let direct = vec![s(&["a"]), s(&["b", "a"]), s(&["c"]), s(&["d"]), s(&["e"])];
        let subgroups = vec![vec![1], vec![2], vec![], vec![4], vec![3, 0]];
        let flat = flatten_groups(&direct, &subgroups);
        assert_eq!(flat[0], s(&["a", "b", "c"]));
        assert_eq!(flat[1], s(&["a", "b", "c"]));
        assert_eq!(flat[2], s(&["c"]));
        assert_eq!(flat[3], s(&["a", "b", "c", "d", "e"]));
        assert_eq!(flat[4], s(&["a", "b", "c", "d", "e"]));
        // A group nested in itself.
        assert_eq!(flatten_groups(&[s(&["x"])], &[vec![0]]), vec![s(&["x"])]);
    }

    #[test]
    fn config_defaults_and_unknown_keys() {
        let c: LdapSourceConfig = toml::from_str(
            r#"
            url = "ldap://127.0.0.1:389"
            people_base = "ou=people,dc=example,dc=com"
            [attributes]
            login = "sAMAccountName"
            membership = "memberOf"
            "#,
        )
        .unwrap();
        assert_eq!(c.page_size, 500);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.attributes.email, "mail");
        assert_eq!(c.attributes.login, "sAMAccountName");
        assert_eq!(c.attributes.membership, Membership::MemberOf);
        assert_eq!(c.people_filter, "(objectClass=inetOrgPerson)");
        let bad = toml::from_str::<LdapSourceConfig>(
            "url = \"ldap://x\"\npeople_base = \"dc=x\"\npassword = \"hunter2\"\n",
        );
        assert!(bad.unwrap_err().to_string().contains("password"));
    }
}
