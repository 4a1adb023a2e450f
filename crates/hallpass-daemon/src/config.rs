//! Daemon configuration from TOML. Invariant: an unknown key or a bad value is an error that
//! names the key and the file; nothing starts on a config that did not parse.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The whole daemon configuration. Every key is optional; see `config/hallpassd.example.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Shown to people (CLI hello, access-link pages, e-mail).
    pub organisation: String,
    pub paths: PathsConfig,
    pub store: StoreConfig,
    pub invites: InvitesConfig,
    pub expiry: ExpiryConfig,
    pub connectors: ConnectorsConfig,
    pub drift: DriftConfig,
    pub log: LogConfig,
    pub web: WebConfig,
    pub smtp: SmtpConfig,
    pub sync: SyncConfig,
    pub scim: ScimConfig,
    pub remote: RemoteConfig,
}

/// Identity sync: the sources the daemon reads people and groups from, and how people who
/// come from them first connect.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Bind an OS user with no account to the synced identity whose login equals the OS user
    /// name, on their first connection. Off: synced people still need an invite.
    pub first_contact: bool,
    /// `[[sync.source]]` tables, each with exactly one of `[sync.source.file]` or
    /// `[sync.source.ldap]`.
    pub source: Vec<SourceConfig>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            first_contact: true,
            source: vec![],
        }
    }
}

/// One identity source that the daemon pulls from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// How the source is named in `hallpass sync` and the audit log (lowercase, `-`, `_`).
    pub name: hallpass_core::SourceName,
    /// How often it is read; `0s` means only on demand (`hallpass sync run`).
    #[serde(default = "default_sync_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// Refuse a run that would deactivate more than this share of the people active from
    /// this source (a directory answering with a truncated or wrong result).
    #[serde(default = "default_max_deactivate")]
    pub max_deactivate_percent: u8,
    /// Refuse a run that returns fewer people than this, once the source has people.
    #[serde(default = "default_min_people")]
    pub min_people: u32,
    pub file: Option<FileSourceConfig>,
    pub ldap: Option<crate::sync::ldap::LdapSourceConfig>,
}

fn default_sync_interval() -> Duration {
    Duration::from_secs(3600)
}

fn default_max_deactivate() -> u8 {
    20
}

fn default_min_people() -> u32 {
    1
}

/// A CSV or JSON file of people and groups (the format `hallpass identities import` reads).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    pub path: PathBuf,
}

impl SourceConfig {
    /// What kind of source this is, for messages.
    pub fn kind(&self) -> &'static str {
        match (&self.file, &self.ldap) {
            (Some(_), None) => "file",
            (None, Some(_)) => "ldap",
            (Some(_), Some(_)) => "both",
            (None, None) => "unset",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Where the store lives. Default: `$STATE_DIRECTORY`, `/var/lib/hallpass` as root, else the
    /// per-user data directory.
    pub state_dir: Option<PathBuf>,
    /// The unix socket. Default: `$RUNTIME_DIRECTORY/hallpassd.sock`, `/run/hallpass/…` as
    /// root, else `$XDG_RUNTIME_DIR/hallpass/hallpassd.sock`.
    pub socket: Option<PathBuf>,
    /// Socket permission bits, as an octal string. Anyone who can connect is still identified by
    /// the kernel and refused unless they have an account.
    #[serde(deserialize_with = "octal_mode")]
    pub socket_mode: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// sled's page cache, in MiB (sled's own default of 1 GiB is far too much for a daemon).
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { cache_mb: 64 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvitesConfig {
    /// How long an invite code stays valid.
    #[serde(deserialize_with = "duration")]
    pub ttl: Duration,
}

impl Default for InvitesConfig {
    fn default() -> Self {
        InvitesConfig {
            ttl: Duration::from_secs(7 * 86_400),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiryConfig {
    /// First retry delay after a failed revocation; doubles each attempt (with jitter).
    #[serde(deserialize_with = "duration")]
    pub retry_initial: Duration,
    /// Longest delay between revocation retries. Retries never stop.
    #[serde(deserialize_with = "duration")]
    pub retry_max: Duration,
    /// How long before an Active grant's end the daemon emits `grant_expiring_soon`, one event
    /// per offset (offsets longer than the grant's remaining time are skipped).
    #[serde(deserialize_with = "durations")]
    pub warn_before: Vec<Duration>,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig {
            retry_initial: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            warn_before: vec![Duration::from_secs(15 * 60), Duration::from_secs(5 * 60)],
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    /// Connector calls (grant, revoke) running at once, across all integrations.
    pub max_concurrent: usize,
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        ConnectorsConfig { max_concurrent: 32 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    /// How often every integration's real state is compared with the grants; `0s` turns the
    /// periodic check off (`hallpass drift` still runs it on demand).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Remove leftovers (access without a grant) found by the periodic check. Off by default:
    /// they are reported, alerted and audited, and an admin decides.
    pub cleanup: bool,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            interval: Duration::from_secs(15 * 60),
            cleanup: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `RUST_LOG`-style filter; the `RUST_LOG` environment variable overrides it.
    pub filter: String,
    /// `auto` (journald when present, else stderr), `journald` or `stderr`.
    pub target: LogTarget,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
            target: LogTarget::Auto,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    #[default]
    Auto,
    Journald,
    Stderr,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            organisation: "hallpass".into(),
            paths: PathsConfig::default(),
            store: StoreConfig::default(),
            invites: InvitesConfig::default(),
            expiry: ExpiryConfig::default(),
            connectors: ConnectorsConfig::default(),
            drift: DriftConfig::default(),
            log: LogConfig::default(),
            web: WebConfig::default(),
            smtp: SmtpConfig::default(),
            sync: SyncConfig::default(),
            scim: ScimConfig::default(),
            remote: RemoteConfig::default(),
        }
    }
}

/// The access-link web site. Off unless `listen` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// The address the site listens on, e.g. `0.0.0.0:8443`.
    pub listen: Option<std::net::SocketAddr>,
    /// The URL externals open (scheme and host, optional port, no path). Default: derived from
    /// `listen` (`https://` with TLS, else `http://`).
    pub public_url: Option<String>,
    /// A PEM certificate chain and its PEM private key: the site speaks HTTPS when both are set.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Requests one client address may make in a minute.
    pub requests_per_minute: u32,
    /// Forms one link may submit in an hour.
    pub submissions_per_hour: u32,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Whether a link form is sent only once its sender opens a confirmation link e-mailed to
    /// the address typed (which proves the address, and answers every address alike). Default:
    /// on when `[smtp]` is configured; it needs `[smtp]`.
    pub confirm_email: Option<bool>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: None,
            public_url: None,
            tls_cert: None,
            tls_key: None,
            requests_per_minute: 60,
            submissions_per_hour: 20,
            max_body_bytes: 16 * 1024,
            confirm_email: None,
        }
    }
}

impl WebConfig {
    /// Whether link forms wait for an e-mailed confirmation (`confirm_email`, by default on
    /// whenever mail can be sent).
    pub fn confirms_email(&self, smtp: &SmtpConfig) -> bool {
        self.confirm_email.unwrap_or_else(|| smtp.enabled())
    }

    /// The base URL links and status pages are built on, without a trailing slash.
    pub fn base_url(&self) -> Option<String> {
        if let Some(u) = &self.public_url {
            return Some(u.trim_end_matches('/').to_string());
        }
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        self.listen.map(|a| format!("{scheme}://{a}"))
    }
}

/// The SCIM 2.0 server identity providers (Okta, Entra ID) push people and groups to, served
/// under `/scim/v2` on the web site. Off unless `enabled`; needs `[web] listen` to be reachable.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimConfig {
    pub enabled: bool,
    /// The most resources one list answer holds (`count` is capped at this; it is also the
    /// default page size).
    pub max_results: u32,
    /// Requests one client address may make to `/scim/v2` in a minute (its own budget, apart
    /// from `web.requests_per_minute`: an identity provider provisions in bursts).
    pub requests_per_minute: u32,
    /// The largest SCIM request body accepted, in bytes (a group PUT lists every member).
    pub max_body_bytes: usize,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            enabled: false,
            max_results: 100,
            requests_per_minute: 600,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Remote access: the tarpc protocol over TCP with TLS, for callers with an API token. Off
/// unless `listen` is set; there is no plaintext TCP.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// e.g. `0.0.0.0:7443`.
    pub listen: Option<std::net::SocketAddr>,
    /// A PEM certificate chain and its PEM private key (both required with `listen`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A PEM CA bundle: when set, clients must present a certificate it signed, as well as
    /// an API token.
    pub client_ca: Option<PathBuf>,
    /// Failed authentications one client address may make in a minute; past it, attempts are
    /// refused without looking at the token.
    pub failed_auth_per_minute: u32,
    /// A connection that has not authenticated this long after connecting is closed.
    #[serde(deserialize_with = "duration")]
    pub auth_timeout: Duration,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            listen: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            failed_auth_per_minute: 10,
            auth_timeout: Duration::from_secs(10),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the same host.
    None,
}

/// Outgoing e-mail. Off unless `host` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    pub port: Option<u16>,
    pub tls: SmtpTls,
    /// A file with the user name on its first line and the password on its second.
    pub credentials_file: Option<PathBuf>,
    /// A PEM CA certificate to trust for the server besides the public roots (an internal
    /// relay with a private CA).
    pub ca_file: Option<PathBuf>,
    /// The sender, e.g. `Example Corp access <access@example.com>`.
    pub from: String,
    /// First delay before retrying a message the server did not take; doubles up to retry_max.
    #[serde(deserialize_with = "duration")]
    pub retry_initial: Duration,
    #[serde(deserialize_with = "duration")]
    pub retry_max: Duration,
    /// How long one delivery attempt may take.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: None,
            tls: SmtpTls::Starttls,
            credentials_file: None,
            ca_file: None,
            from: "hallpass <hallpass@localhost>".into(),
            retry_initial: Duration::from_secs(10),
            retry_max: Duration::from_secs(600),
            timeout: Duration::from_secs(30),
        }
    }
}

impl SmtpConfig {
    pub fn enabled(&self) -> bool {
        self.host.is_some()
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

/// Largest `store.cache_mb`: 1 TiB.
pub const MAX_CACHE_MB: u64 = 1 << 20;
/// Largest `connectors.max_concurrent`.
pub const MAX_CONCURRENT: usize = 1 << 16;
/// Longest `expiry.retry_max`.
pub const MAX_RETRY: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        cfg.validate().map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn validate(&self) -> Result<(), String> {
        // Upper bounds keep what the daemon computes from these in range (cache bytes, the
        // connector semaphore, jittered retry delays): found by the `config` fuzz target.
        if !(1..=MAX_CACHE_MB).contains(&self.store.cache_mb) {
            return Err(format!(
                "store.cache_mb must be between 1 and {MAX_CACHE_MB}"
            ));
        }
        if !(1..=MAX_CONCURRENT).contains(&self.connectors.max_concurrent) {
            return Err(format!(
                "connectors.max_concurrent must be between 1 and {MAX_CONCURRENT}"
            ));
        }
        if self.expiry.retry_initial.is_zero() || self.expiry.retry_initial > self.expiry.retry_max
        {
            return Err(
                "expiry.retry_initial must be above zero and at most expiry.retry_max".into(),
            );
        }
        if self.expiry.retry_max > MAX_RETRY {
            return Err("expiry.retry_max must be at most 7d".into());
        }
        if self.expiry.warn_before.iter().any(Duration::is_zero) {
            return Err("expiry.warn_before offsets must be above zero".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for src in &self.sync.source {
            if !names.insert(src.name.as_str()) {
                return Err(format!("sync.source `{}` is defined twice", src.name));
            }
            if src.name.as_str() == "scim" {
                return Err("sync.source `scim` is reserved for the SCIM server".into());
            }
            if src.max_deactivate_percent > 100 {
                return Err(format!(
                    "sync.source `{}`: max_deactivate_percent must be at most 100",
                    src.name
                ));
            }
            if matches!(src.kind(), "unset" | "both") {
                return Err(format!(
                    "sync.source `{}` needs exactly one of a [sync.source.file] or [sync.source.ldap] table",
                    src.name
                ));
            }
        }
        if self.invites.ttl < Duration::from_secs(60) {
            return Err("invites.ttl must be at least 1m".into());
        }
        if self.organisation.trim().is_empty() {
            return Err("organisation must not be empty".into());
        }
        if let Some(u) = &self.web.public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(format!(
                "web.public_url `{u}` must start with https:// (or http://)"
            ));
        }
        if self.web.tls_cert.is_some() != self.web.tls_key.is_some() {
            return Err("web.tls_cert and web.tls_key go together: set both or neither".into());
        }
        if self.web.requests_per_minute == 0 || self.web.submissions_per_hour == 0 {
            return Err(
                "web.requests_per_minute and web.submissions_per_hour must be at least 1".into(),
            );
        }
        if self.web.confirm_email == Some(true) && !self.smtp.enabled() {
            return Err(
                "web.confirm_email needs [smtp]: the confirmation link is sent by e-mail".into(),
            );
        }
        if self.web.max_body_bytes < 1024 {
            return Err("web.max_body_bytes must be at least 1024".into());
        }
        if self.remote.listen.is_some()
            && (self.remote.tls_cert.is_none() || self.remote.tls_key.is_none())
        {
            return Err(
                "remote.listen needs remote.tls_cert and remote.tls_key: remote access is TLS only"
                    .into(),
            );
        }
        if self.remote.failed_auth_per_minute == 0 {
            return Err("remote.failed_auth_per_minute must be at least 1".into());
        }
        if self.remote.auth_timeout.is_zero() || self.remote.auth_timeout > Duration::from_secs(300)
        {
            return Err("remote.auth_timeout must be between 1s and 5m".into());
        }
        if !(1..=1000).contains(&self.scim.max_results) {
            return Err("scim.max_results must be between 1 and 1000".into());
        }
        if self.scim.requests_per_minute == 0 {
            return Err("scim.requests_per_minute must be at least 1".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.scim.max_body_bytes) {
            return Err("scim.max_body_bytes must be between 1024 and 16777216".into());
        }
        if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(format!(
                "smtp.from `{}` is not a sender like `Example Corp <access@example.com>`",
                self.smtp.from
            ));
        }
        if self.smtp.ca_file.is_some() && self.smtp.tls == SmtpTls::None {
            return Err(
                "smtp.ca_file is for TLS: set smtp.tls to \"starttls\" or \"tls\", or remove it"
                    .into(),
            );
        }
        if self.smtp.retry_initial.is_zero() || self.smtp.retry_initial > self.smtp.retry_max {
            return Err("smtp.retry_initial must be above zero and at most smtp.retry_max".into());
        }
        Ok(())
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("`{s}` is not a duration like 30s, 5m or 7d: {e}"))
    })
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            humantime::parse_duration(s).map_err(|e| {
                serde::de::Error::custom(format!("`{s}` is not a duration like 30s, 5m or 7d: {e}"))
            })
        })
        .collect()
}

fn octal_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let s = String::deserialize(d)?;
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(|_| {
        serde::de::Error::custom(format!("`{s}` is not an octal mode like \"0660\""))
    })?;
    if m > 0o777 {
        return Err(serde::de::Error::custom(format!(
            "`{s}` has bits beyond 0777"
        )));
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_the_key_and_file() {
        let err = Config::parse(
            "[store]\ncache_mbs = 3\n",
            Path::new("/etc/hallpass/x.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cache_mbs") && err.contains("/etc/hallpass/x.toml"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let err = Config::parse("[invites]\nttl = \"soon\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("soon"), "{err}");
        let err = Config::parse("[paths]\nsocket_mode = \"999\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("999"), "{err}");
        let err = Config::parse("[store]\ncache_mb = 0\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cache_mb"), "{err}");
        let err = Config::parse(
            "[smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nca_file = \"ca.pem\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("smtp.ca_file is for TLS"), "{err}");
    }

    #[test]
    fn email_confirmation_follows_smtp_unless_set_and_needs_it() {
        let smtp = "[smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\n";
        let on = |text: &str| {
            let c = Config::parse(text, Path::new("c.toml")).unwrap();
            c.web.confirms_email(&c.smtp)
        };
        assert!(!on(""));
        assert!(on(smtp));
        assert!(!on(&format!("[web]\nconfirm_email = false\n{smtp}")));
        let err = Config::parse("[web]\nconfirm_email = true\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("web.confirm_email needs [smtp]"), "{err}");
    }

    #[test]
    fn the_example_config_parses_and_sets_every_section() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/hallpassd.example.toml");
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.paths.socket_mode, Some(0o666));
        assert_eq!(cfg.invites.ttl, Duration::from_secs(7 * 86_400));
        assert_ne!(cfg.organisation, Config::default().organisation);
        assert!(cfg.web.listen.is_some() && cfg.web.public_url.is_some());
        assert!(cfg.smtp.enabled());
        assert!(cfg.scim.enabled);
        assert_eq!(cfg.scim.max_results, 200);
        assert!(cfg.remote.listen.is_some() && cfg.remote.tls_key.is_some());
        assert_eq!(
            cfg.expiry.warn_before,
            [Duration::from_secs(900), Duration::from_secs(300)]
        );
    }

    #[test]
    fn remote_access_is_tls_only_and_its_bounds_are_checked() {
        let cfg = Config::parse("", Path::new("c.toml")).unwrap();
        assert!(cfg.remote.listen.is_none());
        for (bad, names) in [
            ("[remote]\nlisten = \"127.0.0.1:7443\"\n", "tls_cert"),
            (
                "[remote]\nlisten = \"127.0.0.1:7443\"\ntls_cert = \"c\"\n",
                "tls_key",
            ),
            (
                "[remote]\nfailed_auth_per_minute = 0\n",
                "failed_auth_per_minute",
            ),
            ("[remote]\nauth_timeout = \"1h\"\n", "auth_timeout"),
            ("[remote]\nlisten = \"nowhere\"\n", "listen"),
        ] {
            let err = Config::parse(bad, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }

    #[test]
    fn scim_is_off_by_default_and_its_bounds_are_checked() {
        let cfg = Config::parse("", Path::new("c.toml")).unwrap();
        assert!(!cfg.scim.enabled);
        assert_eq!(cfg.scim.max_results, 100);
        for bad in [
            "max_results = 0",
            "max_results = 5000",
            "requests_per_minute = 0",
            "max_body_bytes = 10",
            "nope = 1",
        ] {
            let err = Config::parse(&format!("[scim]\n{bad}\n"), Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("scim") || err.contains("nope"), "{bad}: {err}");
        }
    }

    #[test]
    fn warning_offsets_parse_and_may_be_empty() {
        let cfg = Config::parse("[expiry]\nwarn_before = []\n", Path::new("c.toml")).unwrap();
        assert!(cfg.expiry.warn_before.is_empty());
        let cfg = Config::parse(
            "[expiry]\nwarn_before = [\"1h\", \"90s\"]\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(
            cfg.expiry.warn_before,
            [Duration::from_secs(3600), Duration::from_secs(90)]
        );
        for bad in ["[\"soon\"]", "[\"0s\"]"] {
            let err = Config::parse(
                &format!("[expiry]\nwarn_before = {bad}\n"),
                Path::new("c.toml"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("warn_before") || err.contains("soon"), "{err}");
        }
    }
}
