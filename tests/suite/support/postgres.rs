//! A throwaway PostgreSQL 15 cluster on a free loopback port (see shared/design/TEST-SERVERS.md):
//! initdb as the `postgres` OS user with password (SCRAM) authentication over TCP and trust on
//! its private unix socket, which the tests use as the superuser to set up and inspect.
//! Stopped (immediate mode) on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::binaries::wait_until;

/// The role hallpass's integration connects as: CREATEROLE and pg_signal_backend, not superuser.
pub const ADMIN_ROLE: &str = "hallpass_admin";

pub struct PgServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// A file holding the admin role's password (the integration references it).
    pub admin_password_file: PathBuf,
    running: bool,
}

fn bin(name: &str) -> PathBuf {
    let candidates = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin").join(name))
                .filter(|p| p.exists())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates.into_iter().max().unwrap_or_else(|| {
        panic!("PostgreSQL's {name} is missing: install the postgresql package (tests/run does)")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn as_postgres(program: &Path, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

impl PgServer {
    pub fn start() -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("hallpass-pg-")
            .tempdir()
            .expect("tempdir");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("superuser.pw");
        std::fs::write(&pwfile, "superuser-secret\n").expect("write pwfile");
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success(), "chown the PostgreSQL dir to postgres");
        let out = as_postgres(
            &bin("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                &pwfile.display().to_string(),
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {out:?}");
        let port = free_port();
        let mut pg = PgServer {
            admin_password_file: dir.path().join("admin.pw"),
            dir,
            port,
            running: false,
        };
        pg.start_again();
        let admin_pw = "admin-secret-for-tests";
        std::fs::write(&pg.admin_password_file, format!("{admin_pw}\n")).expect("write admin pw");
        pg.sql(&format!(
            "CREATE ROLE {ADMIN_ROLE} LOGIN CREATEROLE PASSWORD '{admin_pw}'; \
             GRANT pg_signal_backend TO {ADMIN_ROLE}; \
             GRANT pg_read_all_data, pg_write_all_data TO {ADMIN_ROLE} WITH ADMIN OPTION;"
        ));
        pg.sql("CREATE DATABASE orders");
        pg.sql(&format!(
            "GRANT CREATE, CONNECT ON DATABASE orders TO {ADMIN_ROLE} WITH GRANT OPTION"
        ));
        pg.sql_in(
            "orders",
            &format!(
                "CREATE TABLE items (id int primary key, name text); \
                 INSERT INTO items VALUES (1, 'widget'), (2, 'gadget'); \
                 GRANT USAGE ON SCHEMA public TO {ADMIN_ROLE} WITH GRANT OPTION; \
                 GRANT ALL ON ALL TABLES IN SCHEMA public TO {ADMIN_ROLE} WITH GRANT OPTION;"
            ),
        );
        pg
    }

    /// Turns TLS on with a server certificate for 127.0.0.1 signed by a fresh CA; returns the
    /// CA's PEM file (what `ca_file` names). Made with the openssl command-line tool.
    pub fn enable_tls(&self) -> PathBuf {
        let dir = self.dir.path();
        let ca = dir.join("ca.pem");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("run openssl (tests/run installs it)");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut req = vec!["req", "-x509"];
        req.extend(ec);
        req.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=hallpass test CA",
        ]);
        openssl(&req);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&csr);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("write san.ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        let status = Command::new("chown")
            .args(["postgres:postgres", "server.key", "server.crt"])
            .current_dir(dir)
            .status()
            .expect("chown");
        assert!(status.success());
        std::fs::set_permissions(
            dir.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod the key");
        self.sql(&format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}'",
            dir.join("server.crt").display()
        ));
        self.sql(&format!(
            "ALTER SYSTEM SET ssl_key_file = '{}'",
            dir.join("server.key").display()
        ));
        self.sql("ALTER SYSTEM SET ssl = on");
        self.sql("SELECT pg_reload_conf()");
        wait_until(Duration::from_secs(20), "TLS to be on", || {
            self.sql("SHOW ssl") == "on"
        });
        ca
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn start_again(&mut self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = as_postgres(
            &bin("pg_ctl"),
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("log").display().to_string(),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {out:?}\n{}",
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
        self.running = true;
    }

    /// Stops the server (fast: sessions are disconnected).
    pub fn stop(&mut self) {
        let out = as_postgres(
            &bin("pg_ctl"),
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {out:?}");
        self.running = false;
    }

    fn psql_super(&self, db: &str, sql: &str) -> Output {
        Command::new(bin("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", &self.dir.path().display().to_string()])
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-c", sql])
            .output()
            .expect("run psql")
    }

    /// Runs SQL as the superuser in `postgres`; returns the unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        self.sql_in("postgres", sql)
    }

    pub fn sql_in(&self, db: &str, sql: &str) -> String {
        let out = self.psql_super(db, sql);
        assert!(
            out.status.success(),
            "psql as superuser failed on `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn role_exists(&self, role: &str) -> bool {
        self.sql(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"
        )) == "1"
    }

    pub fn sessions_of(&self, role: &str) -> u32 {
        self.sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"
        ))
        .parse()
        .expect("a count")
    }

    /// Waits until `role` has no session left.
    pub fn wait_no_sessions(&self, role: &str) {
        wait_until(
            Duration::from_secs(20),
            &format!("{role}'s sessions to end"),
            || self.sessions_of(role) == 0,
        );
    }
}

/// `psql URL -c SQL` as a grantee would run it; the whole output.
pub fn psql_url(url: &str, sql: &str) -> Output {
    Command::new(bin("psql"))
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg(url)
        .args(["-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("run psql")
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let _ = as_postgres(
                &bin("pg_ctl"),
                &[
                    "-D",
                    &self.data().display().to_string(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}
