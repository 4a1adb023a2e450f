//! The `postgres` connector: one dedicated LOGIN role per grant, named `<prefix>g<grant>`,
//! with a random password and `VALID UNTIL` the grant's end, made a member of the roles its
//! permission maps to (and given table privileges in the resource's schema).
//!
//! Invariants: the password leaves hallpassd only as a SCRAM-SHA-256 verifier (never in SQL
//! text, so never in the server's statement log) and in the grantee's credentials; every step
//! is idempotent (grant re-run after a crash alters the existing role); a revocation first
//! stops new logins, ends open sessions, removes what the role owns and its privileges, drops
//! it, and then checks the catalog that the role and its sessions are gone. Every identifier
//! written into SQL was validated as a plain name when the integration was saved.

use std::sync::Arc;
use std::time::Duration;

use hallpass_core::credential::Credentials;
use hallpass_core::integration::{PgTls, PostgresConfig, ResourceDef, pg_resource};
use hallpass_core::{Clock, GrantId, SystemClock};
use tokio_postgres::Client;

use super::{Check, ConnectorError, GrantSpec, Holding, resolve_secret};

/// How long a revocation waits for terminated sessions to disappear.
const SESSIONS_GONE_WITHIN: Duration = Duration::from_secs(5);

/// The login role hallpass creates for a grant.
pub fn role_name(cfg: &PostgresConfig, grant: GrantId) -> String {
    format!("{}g{}", cfg.role_prefix, grant.0)
}

/// The grant a role name of hallpass's belongs to, if it is one.
fn grant_of(cfg: &PostgresConfig, role: &str) -> Option<GrantId> {
    let n = role.strip_prefix(&cfg.role_prefix)?.strip_prefix('g')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
        return None;
    }
    n.parse().ok().map(GrantId)
}

/// A double-quoted identifier. Names are validated at save time; quoting is belt and braces.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// 192 random bits as 48 hex digits: strong, and safe in any connection string.
fn random_password() -> Result<String, ConnectorError> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b)
        .map_err(|e| ConnectorError::Target(format!("no randomness for a password: {e}")))?;
    Ok(hex::encode(b))
}

fn pg_err(cfg: &PostgresConfig, db: &str, what: &str, e: &tokio_postgres::Error) -> ConnectorError {
    let detail = match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s = format!("{s}: {inner}");
                src = inner.source();
            }
            s
        }
    };
    ConnectorError::Target(format!(
        "postgres {}:{}/{db}: {what}: {detail}",
        cfg.host, cfg.port
    ))
}

fn tls_config(cfg: &PostgresConfig) -> Result<rustls::ClientConfig, ConnectorError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ConnectorError::Unusable(format!("ca_file {path}: {e}")))?;
            if certs.is_empty() {
                return Err(ConnectorError::Unusable(format!(
                    "ca_file {path} holds no certificate"
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| ConnectorError::Unusable(format!("ca_file {path}: {e}")))?;
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
        .map_err(|e| ConnectorError::Unusable(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An admin connection to `db`, its driver task running until the client is dropped.
async fn connect(cfg: &PostgresConfig, db: &str) -> Result<Client, ConnectorError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&cfg.host)
        .port(cfg.port)
        .user(&cfg.admin_user)
        .dbname(db)
        .application_name("hallpassd")
        .connect_timeout(cfg.timeout);
    if let Some(pw) = &cfg.password {
        pg.password(resolve_secret("password", pw)?);
    }
    let attempt = async {
        match cfg.tls {
            PgTls::Disable => {
                let (client, conn) = pg.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "postgres admin connection ended");
                    }
                });
                Ok(client)
            }
            PgTls::VerifyFull => {
                pg.ssl_mode(tokio_postgres::config::SslMode::Require);
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
                    tls_config(cfg).map_err(Attempt::Setup)?,
                );
                let (client, conn) = pg.connect(tls).await?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "postgres admin connection ended");
                    }
                });
                Ok(client)
            }
        }
    };
    match tokio::time::timeout(cfg.timeout, attempt).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(Attempt::Pg(e))) => Err(pg_err(cfg, db, "cannot connect", &e)),
        Ok(Err(Attempt::Setup(e))) => Err(e),
        Err(_) => Err(ConnectorError::Target(format!(
            "postgres {}:{}/{db}: no connection within {}s",
            cfg.host,
            cfg.port,
            cfg.timeout.as_secs()
        ))),
    }
}

enum Attempt {
    Pg(tokio_postgres::Error),
    Setup(ConnectorError),
}

impl From<tokio_postgres::Error> for Attempt {
    fn from(e: tokio_postgres::Error) -> Self {
        Attempt::Pg(e)
    }
}

/// A connection to one database with statement helpers that name it in errors.
struct Db<'a> {
    cfg: &'a PostgresConfig,
    name: String,
    client: Client,
}

impl<'a> Db<'a> {
    async fn open(cfg: &'a PostgresConfig, name: &str) -> Result<Db<'a>, ConnectorError> {
        Ok(Db {
            cfg,
            name: name.to_string(),
            client: connect(cfg, name).await?,
        })
    }

    async fn exec(&self, what: &str, sql: &str) -> Result<(), ConnectorError> {
        match tokio::time::timeout(self.cfg.timeout, self.client.batch_execute(sql)).await {
            Ok(r) => r.map_err(|e| pg_err(self.cfg, &self.name, what, &e)),
            Err(_) => Err(self.timed_out(what)),
        }
    }

    async fn rows(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, ConnectorError> {
        match tokio::time::timeout(self.cfg.timeout, self.client.query(sql, params)).await {
            Ok(r) => r.map_err(|e| pg_err(self.cfg, &self.name, what, &e)),
            Err(_) => Err(self.timed_out(what)),
        }
    }

    fn timed_out(&self, what: &str) -> ConnectorError {
        ConnectorError::Target(format!(
            "postgres {}:{}/{}: {what}: no answer within {}s",
            self.cfg.host,
            self.cfg.port,
            self.name,
            self.cfg.timeout.as_secs()
        ))
    }

    async fn role_exists(&self, role: &str) -> Result<bool, ConnectorError> {
        Ok(!self
            .rows(
                "looking up the role",
                "SELECT 1 FROM pg_roles WHERE rolname = $1",
                &[&role],
            )
            .await?
            .is_empty())
    }

    async fn database_exists(&self, db: &str) -> Result<bool, ConnectorError> {
        Ok(!self
            .rows(
                "looking up the database",
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[&db],
            )
            .await?
            .is_empty())
    }

    async fn sessions(&self, role: &str) -> Result<i64, ConnectorError> {
        let rows = self
            .rows(
                "counting sessions",
                "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
                &[&role],
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)))
    }
}

fn expiry_literal(spec: &GrantSpec) -> Result<String, ConnectorError> {
    spec.expires.map(|t| t.to_rfc3339()).ok_or_else(|| {
        ConnectorError::Unusable("the grant has no end to set as VALID UNTIL".into())
    })
}

/// Creates (or, re-run after a crash, resets) the grant's login role.
pub async fn grant(cfg: &PostgresConfig, spec: &GrantSpec) -> Result<Credentials, ConnectorError> {
    let perm = cfg.permissions.get(&spec.permission).ok_or_else(|| {
        ConnectorError::Unusable(format!(
            "permission `{}` is not defined by the integration",
            spec.permission
        ))
    })?;
    let (db, schema) = pg_resource(&spec.resource);
    let role = role_name(cfg, spec.grant_id);
    let until = expiry_literal(spec)?;
    let password = random_password()?;
    // A verifier, not the password: the password never travels to the server or its logs.
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());

    let admin = Db::open(cfg, &cfg.admin_database).await?;
    if !admin.database_exists(db).await? {
        return Err(ConnectorError::Unusable(format!(
            "database `{db}` does not exist on {}:{}",
            cfg.host, cfg.port
        )));
    }
    let r = ident(&role);
    let login = format!("LOGIN PASSWORD '{verifier}' VALID UNTIL '{until}'");
    if admin.role_exists(&role).await? {
        // Re-run after a crash: the same role, a new password (the old one is never delivered).
        admin
            .exec(
                "resetting the login role",
                &format!("ALTER ROLE {r} WITH {login}"),
            )
            .await?;
    } else {
        admin
            .exec(
                "creating the login role",
                &format!(
                    "CREATE ROLE {r} WITH INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE \
                     NOREPLICATION NOBYPASSRLS {login}"
                ),
            )
            .await?;
    }
    let mut sql = format!("GRANT CONNECT ON DATABASE {} TO {r};", ident(db));
    for member_of in &perm.roles {
        sql.push_str(&format!("GRANT {} TO {r};", ident(member_of)));
    }
    admin.exec("granting roles", &sql).await?;
    if !perm.table_privileges.is_empty() {
        let schema = ident(schema.unwrap_or("public"));
        let privs = perm.table_privileges.join(", ");
        let target = Db::open(cfg, db).await?;
        target
            .exec(
                "granting table privileges",
                &format!(
                    "GRANT USAGE ON SCHEMA {schema} TO {r}; \
                     GRANT {privs} ON ALL TABLES IN SCHEMA {schema} TO {r};"
                ),
            )
            .await?;
    }
    // Verify from the catalog: the role can log in, and is a member of what it should be.
    let rows = admin
        .rows(
            "verifying the role",
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await?;
    if !rows.first().is_some_and(|row| row.get::<_, bool>(0)) {
        return Err(ConnectorError::Verify(format!(
            "role {role} is not a login role after granting"
        )));
    }
    for member_of in &perm.roles {
        let rows = admin
            .rows(
                "verifying membership",
                "SELECT pg_has_role($1, $2, 'MEMBER')",
                &[&role, member_of],
            )
            .await?;
        if !rows.first().is_some_and(|row| row.get::<_, bool>(0)) {
            return Err(ConnectorError::Verify(format!(
                "role {role} is not a member of {member_of} after granting"
            )));
        }
    }
    let host = cfg.client_host.as_deref().unwrap_or(&cfg.host);
    let sslmode = match cfg.tls {
        PgTls::Disable => "",
        PgTls::VerifyFull => "?sslmode=verify-full",
    };
    let url = format!(
        "postgresql://{role}:{password}@{host}:{}/{db}{sslmode}",
        cfg.port
    );
    Ok(Credentials::default()
        .field("host", host)
        .field("port", cfg.port.to_string())
        .field("database", db)
        .field("user", &role)
        .secret("password", password)
        .secret("url", url)
        .field("valid_until", &until)
        .hint("psql \"<url>\"  (the role stops working at valid_until)"))
}

/// Moves the role's VALID UNTIL to the grant's new end.
pub async fn extend(cfg: &PostgresConfig, spec: &GrantSpec) -> Result<(), ConnectorError> {
    let role = role_name(cfg, spec.grant_id);
    let until = expiry_literal(spec)?;
    let admin = Db::open(cfg, &cfg.admin_database).await?;
    if !admin.role_exists(&role).await? {
        return Err(ConnectorError::Verify(format!(
            "role {role} is missing; cannot extend it"
        )));
    }
    admin
        .exec(
            "extending the role",
            &format!("ALTER ROLE {} VALID UNTIL '{until}'", ident(&role)),
        )
        .await?;
    let rows = admin
        .rows(
            "verifying the extension",
            "SELECT rolvaliduntil >= $2::text::timestamptz FROM pg_roles WHERE rolname = $1",
            &[&role, &until],
        )
        .await?;
    if rows
        .first()
        .is_some_and(|r| r.get::<_, Option<bool>>(0) == Some(true))
    {
        Ok(())
    } else {
        Err(ConnectorError::Verify(format!(
            "role {role} does not show VALID UNTIL {until} after extending"
        )))
    }
}

/// Takes the grant's access away, verified.
pub async fn revoke(cfg: &PostgresConfig, spec: &GrantSpec) -> Result<(), ConnectorError> {
    let (db, _) = pg_resource(&spec.resource);
    remove_role(cfg, &role_name(cfg, spec.grant_id), Some(db)).await
}

/// Drift cleanup: removes a leftover role of hallpass's (never any other role).
pub async fn drop_role(cfg: &PostgresConfig, role: &str) -> Result<(), ConnectorError> {
    if grant_of(cfg, role).is_none() {
        return Err(ConnectorError::Unusable(format!(
            "`{role}` is not a role hallpass made (prefix {}g<number>); not dropping it",
            cfg.role_prefix
        )));
    }
    remove_role(cfg, role, None).await
}

/// NOLOGIN, end sessions, drop what it owns and its privileges (in `db`, or in every database
/// when `None`), drop the role; then check the catalog.
async fn remove_role(
    cfg: &PostgresConfig,
    role: &str,
    db: Option<&str>,
) -> Result<(), ConnectorError> {
    let admin = Db::open(cfg, &cfg.admin_database).await?;
    let r = ident(role);
    if admin.role_exists(role).await? {
        admin
            .exec("stopping new logins", &format!("ALTER ROLE {r} NOLOGIN"))
            .await?;
        admin
            .rows(
                "ending sessions",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                &[&role],
            )
            .await?;
        let databases: Vec<String> = match db {
            Some(d) if admin.database_exists(d).await? => vec![d.to_string()],
            Some(_) => vec![],
            None => admin
                .rows(
                    "listing databases",
                    "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1",
                    &[],
                )
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect(),
        };
        // REASSIGN/DROP OWNED need the privileges of the role: the admin (CREATEROLE) makes
        // itself a member first; the membership goes with the role.
        admin
            .exec(
                "taking over the role",
                &format!("GRANT {r} TO {}", ident(&cfg.admin_user)),
            )
            .await?;
        let owned = format!(
            "REASSIGN OWNED BY {r} TO {}; DROP OWNED BY {r};",
            ident(&cfg.admin_user)
        );
        for d in &databases {
            if *d == cfg.admin_database {
                admin.exec("dropping what the role owns", &owned).await?;
            } else {
                Db::open(cfg, d)
                    .await?
                    .exec("dropping what the role owns", &owned)
                    .await?;
            }
        }
        if !databases.contains(&cfg.admin_database) {
            // Privileges on shared objects (databases) go with DROP OWNED in any database.
            admin
                .exec(
                    "dropping the role's privileges",
                    &format!("DROP OWNED BY {r}"),
                )
                .await?;
        }
        admin
            .exec("dropping the role", &format!("DROP ROLE IF EXISTS {r}"))
            .await?;
    }
    // Verify: the role is gone and its sessions have ended (termination is asynchronous).
    if admin.role_exists(role).await? {
        return Err(ConnectorError::Verify(format!(
            "role {role} still exists after revoking"
        )));
    }
    let clock = SystemClock;
    let deadline = clock.now().plus(SESSIONS_GONE_WITHIN);
    loop {
        let open = admin.sessions(role).await?;
        if open == 0 {
            return Ok(());
        }
        if clock.now() >= deadline {
            return Err(ConnectorError::Verify(format!(
                "{open} session(s) of {role} still open {}s after being terminated",
                SESSIONS_GONE_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `integrations test`: connection, the admin's rights, the roles and databases configured.
pub async fn test(cfg: &PostgresConfig, resources: &[ResourceDef]) -> Vec<Check> {
    let mut out = Vec::new();
    let admin = match Db::open(cfg, &cfg.admin_database).await {
        Ok(a) => a,
        Err(e) => {
            out.push(Check::fail("connection", e.to_string()));
            return out;
        }
    };
    let version = admin
        .rows("reading the version", "SHOW server_version", &[])
        .await
        .ok()
        .and_then(|r| r.first().map(|r| r.get::<_, String>(0)))
        .unwrap_or_default();
    out.push(Check::pass(
        "connection",
        format!(
            "connected to {}:{}/{} as {} (PostgreSQL {version})",
            cfg.host, cfg.port, cfg.admin_database, cfg.admin_user
        ),
    ));
    let rights = admin
        .rows(
            "reading the admin's rights",
            "SELECT rolsuper, rolcreaterole, \
             rolsuper OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') \
             FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await;
    match rights.as_deref().map(|r| r.first()) {
        Ok(Some(row)) => {
            let (sup, createrole, signal): (bool, bool, bool) =
                (row.get(0), row.get(1), row.get(2));
            if sup || createrole {
                out.push(Check::pass(
                    "create roles",
                    if sup { "superuser" } else { "CREATEROLE" },
                ));
            } else {
                out.push(Check::fail(
                    "create roles",
                    format!(
                        "{} lacks CREATEROLE: ALTER ROLE {} CREATEROLE",
                        cfg.admin_user, cfg.admin_user
                    ),
                ));
            }
            if signal {
                out.push(Check::pass(
                    "end sessions",
                    "may terminate the sessions of revoked roles",
                ));
            } else {
                out.push(Check::fail(
                    "end sessions",
                    format!(
                        "{} cannot end sessions: GRANT pg_signal_backend TO {}",
                        cfg.admin_user, cfg.admin_user
                    ),
                ));
            }
        }
        Ok(None) => out.push(Check::fail(
            "create roles",
            "the admin role is not in pg_roles",
        )),
        Err(e) => out.push(Check::fail("create roles", e.to_string())),
    }
    let mut wanted: Vec<&str> = cfg
        .permissions
        .values()
        .flat_map(|p| p.roles.iter().map(String::as_str))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    for role in wanted {
        match admin.role_exists(role).await {
            Ok(true) => out.push(Check::pass(format!("role {role}"), "exists")),
            Ok(false) => out.push(Check::fail(
                format!("role {role}"),
                "does not exist; a permission maps to it",
            )),
            Err(e) => out.push(Check::fail(format!("role {role}"), e.to_string())),
        }
    }
    let mut dbs: Vec<&str> = resources.iter().map(|r| pg_resource(&r.name).0).collect();
    dbs.sort_unstable();
    dbs.dedup();
    for db in dbs {
        match admin.database_exists(db).await {
            Ok(true) => out.push(Check::pass(format!("database {db}"), "exists")),
            Ok(false) => out.push(Check::fail(
                format!("database {db}"),
                "does not exist; a resource names it",
            )),
            Err(e) => out.push(Check::fail(format!("database {db}"), e.to_string())),
        }
    }
    out
}

/// Every database that accepts connections, offering every permission the integration defines.
pub async fn discover(cfg: &PostgresConfig) -> Result<Vec<ResourceDef>, ConnectorError> {
    let admin = Db::open(cfg, &cfg.admin_database).await?;
    let rows = admin
        .rows(
            "listing databases",
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1",
            &[],
        )
        .await?;
    let permissions: Vec<String> = cfg.permissions.keys().cloned().collect();
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .map(|name| ResourceDef {
            name,
            permissions: permissions.clone(),
            description: "database".into(),
        })
        .collect())
}

/// Every role with hallpass's prefix.
pub async fn inventory(cfg: &PostgresConfig) -> Result<Vec<Holding>, ConnectorError> {
    let admin = Db::open(cfg, &cfg.admin_database).await?;
    let rows = admin
        .rows(
            "listing roles",
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
            &[&cfg.role_prefix],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .map(|name| Holding {
            grant: grant_of(cfg, &name),
            name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PostgresConfig {
        PostgresConfig {
            host: "127.0.0.1".into(),
            port: 5432,
            admin_database: "postgres".into(),
            admin_user: "hallpass".into(),
            password: None,
            tls: PgTls::Disable,
            ca_file: None,
            client_host: None,
            role_prefix: "hp_".into(),
            permissions: Default::default(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn role_names_round_trip_and_foreign_names_are_not_ours() {
        let c = cfg();
        assert_eq!(role_name(&c, GrantId(42)), "hp_g42");
        assert_eq!(grant_of(&c, "hp_g42"), Some(GrantId(42)));
        for foreign in [
            "hp_g", "hp_g042", "hp_gx1", "hp_admin", "other_g1", "hp_g1 ",
        ] {
            assert_eq!(grant_of(&c, foreign), None, "{foreign}");
        }
    }

    #[test]
    fn passwords_are_long_random_and_url_safe() {
        let a = random_password().expect("password");
        let b = random_password().expect("password");
        assert_eq!(a.len(), 48);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
