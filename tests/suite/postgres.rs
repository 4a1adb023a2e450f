//! The PostgreSQL connector against a real PostgreSQL 15 on loopback: a grantee logs in with
//! the delivered credentials and can read but not write with `read`; extension moves VALID
//! UNTIL; at expiry the open session is terminated and new logins fail; PostgreSQL stopped
//! during a revocation means retries, RevokeFailed, and a verified revocation once it is back,
//! with the audit trail complete; drift finds a leftover role and a missing one, and cleanup
//! removes the leftover.

use std::process::{Command, Stdio};
use std::time::Duration;

use hallpass_core::credential::Credentials;
use hallpass_core::grant::GrantStatus;
use hallpass_core::integration::{
    Connector, Integration, PgPermission, PgTls, PostgresConfig, ResourceDef, SecretRef, Target,
};
use hallpass_core::{Clock, GrantId, IntegrationName, SystemClock};
use hallpass_proto::{ExtendArgs, PutMode};

use crate::support::binaries::wait_until;
use crate::support::harness::{ADMIN_UID, Answer, HOUR, MINUTE, TestDaemon, auto_flow, ctx};
use crate::support::postgres::{ADMIN_ROLE, PgServer, psql_url};

const PG: &str = "pg";

fn pg_target(permission: &str) -> Target {
    Target {
        integration: IntegrationName::new(PG).expect("a slug"),
        resource: "orders".into(),
        permission: permission.into(),
    }
}

fn integration(pg: &PgServer) -> Integration {
    let permissions = [
        (
            "read".to_string(),
            PgPermission {
                roles: vec!["pg_read_all_data".into()],
                table_privileges: vec![],
            },
        ),
        (
            "write".to_string(),
            PgPermission {
                roles: vec![],
                table_privileges: vec!["SELECT".into(), "INSERT".into(), "UPDATE".into()],
            },
        ),
    ]
    .into();
    Integration {
        name: IntegrationName::new(PG).expect("a slug"),
        connector: Connector::Postgres(PostgresConfig {
            host: "127.0.0.1".into(),
            port: pg.port,
            admin_database: "postgres".into(),
            admin_user: ADMIN_ROLE.into(),
            password: Some(SecretRef::File(
                pg.admin_password_file.display().to_string(),
            )),
            tls: PgTls::Disable,
            ca_file: None,
            client_host: None,
            role_prefix: "hp_".into(),
            permissions,
            timeout: Duration::from_secs(5),
        }),
        resources: vec![ResourceDef {
            name: "orders".into(),
            permissions: vec!["read".into(), "write".into()],
            description: String::new(),
        }],
        description: "orders cluster".into(),
        updated_at: SystemClock.now(),
    }
}

/// A daemon on the real clock's time (PostgreSQL judges VALID UNTIL by its own clock), with
/// the admin, the pg integration and an auto flow over both permissions.
async fn setup(pg: &PgServer) -> TestDaemon {
    let d = TestDaemon::bare_at(SystemClock.now()).await;
    d.signup_admin().await;
    d.admin()
        .put_integration(ctx(), integration(pg), PutMode::Create)
        .await
        .done("create the pg integration");
    let mut f = auto_flow("pg-self");
    f.targets.resources = vec![pg_target("read"), pg_target("write")];
    d.put_flow(f).await;
    d
}

async fn credentials(d: &TestDaemon, id: GrantId) -> Credentials {
    d.admin()
        .grant_credentials(ctx(), id)
        .await
        .done(&format!("credentials of {id}"))
}

fn url(c: &Credentials) -> String {
    c.get("url").expect("a url field").to_string()
}

fn ok_sql(url: &str, sql: &str) -> String {
    let out = psql_url(url, sql);
    assert!(
        out.status.success(),
        "`{sql}` as the grantee failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn refused_sql(url: &str, sql: &str) -> String {
    let out = psql_url(url, sql);
    assert!(!out.status.success(), "`{sql}` as the grantee should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_access_extend_and_expiry_on_a_real_postgres() {
    let pg = PgServer::start();
    let d = setup(&pg).await;

    let checks = d
        .admin()
        .test_integration(ctx(), IntegrationName::new(PG).expect("slug"))
        .await
        .done("test the integration");
    assert!(checks.iter().all(|c| c.ok), "integration test: {checks:#?}");
    let found = d
        .admin()
        .discover_integration(ctx(), IntegrationName::new(PG).expect("slug"))
        .await
        .done("discover");
    assert!(found.iter().any(|r| r.name == "orders"), "{found:?}");

    let g = d
        .active_grant(ADMIN_UID, "pg-self", &pg_target("read"), Some(MINUTE * 30))
        .await;
    let role = format!("hp_g{}", g.id.0);
    assert!(pg.role_exists(&role), "the grant's role exists");
    let c = credentials(&d, g.id).await;
    assert_eq!(c.get("user"), Some(role.as_str()));
    let url = url(&c);

    // read: reads, cannot write.
    assert_eq!(ok_sql(&url, "SELECT count(*) FROM items"), "2");
    let denied = refused_sql(&url, "INSERT INTO items VALUES (3, 'gizmo')");
    assert!(denied.contains("permission denied"), "{denied}");

    // The credentials are the grantee's alone, and never in the audit log.
    let audit = serde_json::to_string(&d.audit_log().await).expect("json");
    assert!(
        !audit.contains(c.get("password").expect("password")),
        "password in the audit log"
    );
    assert!(!d.audit("grant.credentials_read").await.is_empty());

    // Extend: VALID UNTIL moves to the new end, and the login keeps working.
    let ext = d
        .admin()
        .extend(
            ctx(),
            g.id,
            ExtendArgs {
                duration_secs: 3600,
                reason: Some("migration still running".into()),
                source: hallpass_core::audit::Source::Cli,
            },
        )
        .await
        .done("extend");
    assert!(!ext.grants.is_empty(), "{ext:?}");
    let new_end = d.grant(g.id).await.expires_at.expect("an end");
    let want = new_end.to_rfc3339();
    wait_until(Duration::from_secs(20), "VALID UNTIL to move", || {
        pg.sql(&format!(
            "SELECT rolvaliduntil = '{want}'::timestamptz FROM pg_roles WHERE rolname = '{role}'"
        )) == "t"
    });
    d.advance(MINUTE * 31); // past the original end
    assert_eq!(d.grant(g.id).await.status, GrantStatus::Active);
    assert_eq!(ok_sql(&url, "SELECT count(*) FROM items"), "2");

    // An open session, then expiry: the session is terminated and a new login fails.
    let mut session = Command::new("psql")
        .args(["-X", "-q", "-c", "SELECT pg_sleep(600)"])
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a long query");
    wait_until(
        Duration::from_secs(20),
        "the grantee's session to be open",
        || pg.sessions_of(&role) > 0,
    );
    d.advance(HOUR * 2);
    let ended = d.wait_grant(g.id, GrantStatus::Expired).await;
    assert!(ended.ended_at.is_some());
    let status = session.wait().expect("the long query ends");
    assert!(!status.success(), "the open session was terminated");
    assert!(!pg.role_exists(&role), "the role is dropped");
    pg.wait_no_sessions(&role);
    let refused = refused_sql(&url, "SELECT 1");
    assert!(
        refused.contains("authentication failed") || refused.contains("does not exist"),
        "{refused}"
    );
    // Credentials went with the access.
    let gone = d
        .admin()
        .grant_credentials(ctx(), g.id)
        .await
        .refused("credentials after expiry");
    assert!(gone.to_string().contains("expired"), "{gone}");
    d.assert_audit_intact().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_permission_grants_table_privileges() {
    let pg = PgServer::start();
    let d = setup(&pg).await;
    let g = d
        .active_grant(ADMIN_UID, "pg-self", &pg_target("write"), Some(MINUTE * 30))
        .await;
    let url = url(&credentials(&d, g.id).await);
    ok_sql(&url, "INSERT INTO items VALUES (3, 'gizmo')");
    assert_eq!(ok_sql(&url, "SELECT count(*) FROM items"), "3");
    let denied = refused_sql(&url, "DELETE FROM items");
    assert!(denied.contains("permission denied"), "{denied}");
    d.admin()
        .revoke(ctx(), g.id, Some("done".into()))
        .await
        .done("revoke");
    d.wait_grant(g.id, GrantStatus::Revoked).await;
    assert!(!pg.role_exists(&format!("hp_g{}", g.id.0)));
    // The table privileges went with the role: nothing of it is left in the catalog.
    assert_eq!(
        pg.sql_in(
            "orders",
            &format!(
                "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = 'hp_g{}'",
                g.id.0
            )
        ),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_during_revoke_retries_until_it_is_back() {
    let mut pg = PgServer::start();
    let d = setup(&pg).await;
    let g = d
        .active_grant(ADMIN_UID, "pg-self", &pg_target("read"), Some(MINUTE * 30))
        .await;
    let role = format!("hp_g{}", g.id.0);
    pg.stop();
    d.admin()
        .revoke(ctx(), g.id, Some("incident over".into()))
        .await
        .done("revoke");
    // Each failed attempt schedules the next with backoff; the clock moves them along.
    let mut seen = 0;
    let failed = loop {
        let now =
            crate::support::harness::wait_for(format!("attempt {} to fail", seen + 1), || {
                let d = &d;
                async move {
                    let g = d.grant(g.id).await;
                    (g.attempts > seen).then_some(g)
                }
            })
            .await;
        if now.status == GrantStatus::RevokeFailed {
            break now;
        }
        seen = now.attempts;
        d.advance_to(now.next_attempt_at.expect("a next attempt is scheduled"));
    };
    assert!(failed.attempts >= 3, "{failed:?}");
    let err = failed.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("127.0.0.1"),
        "the error names the server: {err}"
    );
    pg.start_again();
    assert!(
        pg.role_exists(&role),
        "nothing was revoked while PostgreSQL was down"
    );
    // Back up: the operator retries now instead of waiting for the backoff.
    d.admin().retry_grant(ctx(), g.id).await.done("retry");
    d.wait_grant(g.id, GrantStatus::Revoked).await;
    assert!(!pg.role_exists(&role));
    let attempts = d.audit("grant.revoke_attempt_failed").await;
    assert!(attempts.len() >= 3, "every failed attempt is audited");
    assert_eq!(d.audit("grant.retry").await.len(), 1);
    assert_eq!(d.audit("grant.revoked").await.len(), 1);
    d.assert_audit_intact().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_finds_a_leftover_role_and_missing_access() {
    let pg = PgServer::start();
    let d = setup(&pg).await;
    let g = d
        .active_grant(ADMIN_UID, "pg-self", &pg_target("read"), Some(MINUTE * 30))
        .await;
    let clean = d.admin().drift(ctx(), false).await.done("drift");
    assert_eq!(clean.findings(), 0, "{clean:#?}");

    // A leftover: a role with hallpass's naming and no grant (e.g. from a crashed script),
    // and a grant whose role someone removed by hand.
    pg.sql("CREATE ROLE hp_g999999 LOGIN");
    d.advance(MINUTE);
    // (Renamed away: as far as hallpass can tell, the grant's role is gone.)
    pg.sql(&format!(
        "ALTER ROLE hp_g{} RENAME TO someone_took_it",
        g.id.0
    ));
    let report = d.admin().drift(ctx(), false).await.done("drift");
    let pgd = report
        .integrations
        .iter()
        .find(|i| i.integration.as_str() == PG)
        .expect("the pg integration is in the report");
    assert!(pgd.checked, "{pgd:?}");
    assert_eq!(pgd.leftovers.len(), 1, "{pgd:#?}");
    assert_eq!(pgd.leftovers[0].name, "hp_g999999");
    assert_eq!(pgd.missing.len(), 1, "{pgd:#?}");
    assert_eq!(pgd.missing[0].grant, Some(g.id));
    assert!(!d.audit("drift.found").await.is_empty(), "drift is audited");
    assert!(
        d.events_for(ADMIN_UID).await.iter().any(|e| matches!(
            e.kind,
            hallpass_core::event::EventKind::DriftDetected {
                leftovers: 1,
                missing: 1,
                ..
            }
        )),
        "drift is announced"
    );
    // Nothing was changed without asking.
    assert!(pg.role_exists("hp_g999999"));

    let cleaned = d.admin().drift(ctx(), true).await.done("drift --cleanup");
    let pgd = &cleaned.integrations[0];
    assert!(pgd.leftovers.iter().all(|l| l.cleaned), "{pgd:#?}");
    assert!(!pg.role_exists("hp_g999999"));
    assert_eq!(d.audit("drift.cleanup").await.len(), 1);
    // A role that is not hallpass's is never touched.
    pg.sql("CREATE ROLE app_owner LOGIN");
    d.admin().drift(ctx(), true).await.done("drift --cleanup");
    assert!(pg.role_exists("app_owner"));
}

/// Writes the integration definition an admin would keep in a file.
fn pg_toml(pg: &PgServer, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("pg.toml");
    std::fs::write(
        &path,
        format!(
            r#"description = "orders cluster"

[connector]
type = "postgres"
host = "127.0.0.1"
port = {port}
admin_user = "{ADMIN_ROLE}"
password = "file:{pw}"
tls = "disable"

[connector.permissions.read]
roles = ["pg_read_all_data"]

[[resources]]
name = "orders"
permissions = ["read"]
"#,
            port = pg.port,
            pw = pg.admin_password_file.display()
        ),
    )
    .expect("write pg.toml");
    path
}

#[test]
fn an_admin_sets_up_postgres_and_a_grantee_connects_with_the_cli() {
    use crate::support::binaries::Daemon;

    let pg = PgServer::start();
    let d = Daemon::start();
    d.signup("admin@example.com", "Ada Admin");

    // A bad definition names the file and the problem, and creates nothing.
    let bad = d.dir.path().join("bad.toml");
    std::fs::write(&bad, "[connector]\ntype = \"postgres\"\nhost = \"h\"\n").expect("write");
    let refused = d.cli(&[
        "integrations",
        "create",
        "pg",
        "--file",
        &bad.display().to_string(),
    ]);
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("admin_user"),
        "{err}"
    );
    assert_eq!(
        d.json(None, &["integrations", "list"]),
        serde_json::json!([])
    );

    let file = pg_toml(&pg, d.dir.path());
    d.ok(&[
        "integrations",
        "create",
        "pg",
        "--file",
        &file.display().to_string(),
    ]);
    let shown = d.ok(&["integrations", "show", "pg"]);
    assert!(
        shown.contains(&format!("file:{}", pg.admin_password_file.display())),
        "{shown}"
    );
    assert!(
        !shown.contains("admin-secret"),
        "the secret itself is never shown: {shown}"
    );
    let tested = d.ok(&["integrations", "test", "pg"]);
    assert!(tested.contains("is ready"), "{tested}");
    let found = d.json(None, &["integrations", "discover", "pg"]);
    assert!(
        found
            .as_array()
            .expect("a list")
            .iter()
            .any(|r| r["name"] == "orders"),
        "{found}"
    );

    d.ok(&[
        "flows",
        "create",
        "pg-read",
        "--everyone",
        "--target",
        "pg/orders/read",
        "--approval",
        "auto",
        "--max",
        "1h",
        "--default",
        "10m",
        "--allow-self-approval",
    ]);
    let req = d.json(
        None,
        &[
            "request",
            "--flow",
            "pg-read",
            "--resource",
            "pg/orders/read",
            "--reason",
            "report",
        ],
    );
    let id = req["id"].as_u64().expect("request id");
    let grant = d.first_grant(id);
    let g = format!("G-{grant}");
    wait_until(
        Duration::from_secs(20),
        "the grant to become active",
        || d.json(None, &["grants", "show", &g])["status"] == "active",
    );

    // The grantee's connection string works as is.
    let url = d.ok(&["grants", "show", &g, "--credentials", "--field", "url"]);
    assert_eq!(
        ok_sql(url.trim(), "SELECT name FROM items WHERE id = 1"),
        "widget"
    );
    // Plain `grants show` and list outputs never carry the password.
    let password = d.ok(&["grants", "show", &g, "--credentials", "--field", "password"]);
    for listing in [
        d.ok(&["grants", "show", &g]),
        d.ok(&["--json", "grants", "--all"]),
        d.ok(&["--json", "audit"]),
        d.ok(&["--json", "events", "--since", "0"]),
    ] {
        assert!(
            !listing.contains(password.trim()),
            "password leaked: {listing}"
        );
    }
    assert!(
        !d.log().contains(password.trim()),
        "password in the daemon log"
    );

    // Drift: none, then a leftover role (exit 7 until cleaned up).
    d.ok(&["drift"]);
    pg.sql("CREATE ROLE hp_g4242");
    let drift = d.cli(&["drift"]);
    assert_eq!(drift.status.code(), Some(7), "{drift:?}");
    assert!(
        String::from_utf8_lossy(&drift.stdout).contains("hp_g4242"),
        "{drift:?}"
    );
    d.ok(&["drift", "--cleanup"]);
    assert!(!pg.role_exists("hp_g4242"));
    d.ok(&["drift"]);

    d.ok(&["release", &g]);
    wait_until(Duration::from_secs(20), "the grant to be revoked", || {
        d.json(None, &["grants", "show", &g])["status"] == "revoked"
    });
    assert!(!pg.role_exists(&format!("hp_g{grant}")));
    let after = d.cli(&["grants", "show", &g, "--credentials"]);
    assert_eq!(after.status.code(), Some(6), "{after:?}");
}

/// A crash between the connector's grant and its recorded outcome repeats the grant at
/// start-up: the repeat resets the same role (no second role), and only the newest
/// credentials log in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_grant_after_a_crash_resets_the_same_role() {
    use hallpass_daemon::connectors::{Action, GrantSpec, SpecUser, postgres};

    let pg = PgServer::start();
    let Connector::Postgres(cfg) = integration(&pg).connector else {
        unreachable!("integration() builds a postgres connector")
    };
    let now = SystemClock.now();
    let grant = hallpass_core::grant::Grant::new(
        GrantId(77),
        hallpass_core::RequestId(1001),
        hallpass_core::UserId(1),
        pg_target("read"),
        MINUTE * 10,
        now,
    );
    let user = SpecUser {
        id: hallpass_core::UserId(1),
        email: "a@example.com".into(),
        os_user: None,
        ssh_keys: vec![],
    };
    let spec = GrantSpec::new(Action::Grant, &grant, user, Some(now.plus(MINUTE * 10)));
    let first = postgres::grant(&cfg, &spec).await.expect("first grant");
    let second = postgres::grant(&cfg, &spec).await.expect("repeated grant");
    assert_eq!(
        pg.sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'hp\\_g77%'"),
        "1"
    );
    assert_eq!(ok_sql(&url(&second), "SELECT count(*) FROM items"), "2");
    let stale = refused_sql(&url(&first), "SELECT 1");
    assert!(stale.contains("authentication failed"), "{stale}");
    postgres::revoke(&cfg, &spec.with_action(Action::Revoke))
        .await
        .expect("revoke");
    // Revocation is idempotent too.
    postgres::revoke(&cfg, &spec.with_action(Action::Revoke))
        .await
        .expect("revoke again");
    assert!(!pg.role_exists("hp_g77"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_tls_checks_the_servers_certificate() {
    let pg = PgServer::start();
    let ca = pg.enable_tls();
    let d = setup(&pg).await;
    let with_ca = |ca: &std::path::Path| {
        let mut i = integration(&pg);
        if let Connector::Postgres(cfg) = &mut i.connector {
            cfg.tls = PgTls::VerifyFull;
            cfg.ca_file = Some(ca.display().to_string());
        }
        i
    };
    d.admin()
        .put_integration(ctx(), with_ca(&ca), PutMode::Replace)
        .await
        .done("switch to verify-full");
    let checks = d
        .admin()
        .test_integration(ctx(), IntegrationName::new(PG).expect("slug"))
        .await
        .done("test");
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
    // The server's TLS sessions include ours.
    let g = d
        .active_grant(ADMIN_UID, "pg-self", &pg_target("read"), Some(MINUTE * 30))
        .await;
    let url = url(&credentials(&d, g.id).await);
    assert!(url.ends_with("?sslmode=verify-full"), "{url}");
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .arg(&url)
        .env("PGSSLROOTCERT", &ca)
        .output()
        .expect("psql");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t");

    // A CA that did not sign the server's certificate: refused, and the check says why.
    let other = pg.dir.path().join("other-ca.pem");
    let wrong = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-keyout",
            "/dev/null",
            "-days",
            "1",
            "-subj",
            "/CN=someone else",
        ])
        .arg("-out")
        .arg(&other)
        .output()
        .expect("openssl");
    assert!(wrong.status.success(), "{wrong:?}");
    d.admin()
        .put_integration(ctx(), with_ca(&other), PutMode::Replace)
        .await
        .done("point at the wrong CA");
    let checks = d
        .admin()
        .test_integration(ctx(), IntegrationName::new(PG).expect("slug"))
        .await
        .done("test");
    let conn = checks
        .iter()
        .find(|c| c.what == "connection")
        .expect("a connection check");
    assert!(!conn.ok, "{checks:#?}");
    assert!(
        conn.detail.to_lowercase().contains("certificate"),
        "{}",
        conn.detail
    );
}

/// Each grant has its own role: ending one grant drops its role even while another grant
/// covers the same database and permission, whose login keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_grants_each_lose_their_own_role() {
    let pg = PgServer::start();
    let d = setup(&pg).await;
    let first = d
        .active_grant(ADMIN_UID, "pg-self", &pg_target("read"), Some(MINUTE * 30))
        .await;
    let second = d
        .active_grant(ADMIN_UID, "pg-self", &pg_target("read"), Some(MINUTE * 30))
        .await;
    let (url1, url2) = (
        url(&credentials(&d, first.id).await),
        url(&credentials(&d, second.id).await),
    );
    d.admin()
        .revoke(ctx(), first.id, Some("done".into()))
        .await
        .done("revoke the first");
    d.wait_grant(first.id, GrantStatus::Revoked).await;
    assert!(!pg.role_exists(&format!("hp_g{}", first.id.0)));
    refused_sql(&url1, "SELECT 1");
    assert_eq!(ok_sql(&url2, "SELECT count(*) FROM items"), "2");
}
