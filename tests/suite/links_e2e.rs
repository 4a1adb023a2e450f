//! Access links end to end with the real binaries: a real headless Chromium driven over
//! WebDriver opens a link, submits the form with one error and then fixed, waits while the
//! admin approves with the CLI, sees the certificate, releases access and sees it end (a
//! screenshot of each page is saved); and real e-mail through a Python SMTP sink on loopback,
//! including an outage that delays the invite and the status mail but loses neither.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::binaries::{Daemon, free_port, sandbox_integration, wait_until};
use crate::support::sshd::keygen;

const WAIT: Duration = Duration::from_secs(30);

/// A child process killed on drop (by its own pid only).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A WebDriver session on a headless Chromium.
struct Browser {
    http: ureq::Agent,
    base: String,
    session: String,
    shots: PathBuf,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(shots: PathBuf) -> Browser {
        for tool in ["chromium", "chromedriver"] {
            assert!(
                on_path(tool),
                "`{tool}` is not on PATH: install chromium and chromium-driver (tests/run installs them)"
            );
        }
        let port = free_port();
        let driver = Proc(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let base = format!("http://127.0.0.1:{port}");
        let http = agent();
        wait_until(WAIT, "chromedriver to be ready", || {
            http.get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true))
        });
        let profile = tempfile::tempdir().expect("a profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=420,1100",
                format!("--user-data-dir={}", profile.path().display()),
            ]}
        }}});
        let mut b = Browser {
            http,
            base,
            session: String::new(),
            shots,
            _driver: driver,
            _profile: profile,
        };
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("DELETE", _) => self.http.delete(&url).call(),
            (_, b) => self.http.post(&url).send_json(b.unwrap_or(json!({}))),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = resp.status().as_u16();
        let v: Value = resp.body_mut().read_json().expect("WebDriver answers JSON");
        assert!(status < 400, "WebDriver {method} {path}: {status} {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn go(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    fn refresh(&self) {
        self.call("POST", &self.s("/refresh"), None);
    }

    fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn source(&self) -> String {
        self.call("GET", &self.s("/source"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &self.s(&format!("/element/{e}/clear")), None);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(json!({ "text": text })),
        );
    }

    fn value(&self, css: &str) -> String {
        let e = self.find(css);
        self.call(
            "GET",
            &self.s(&format!("/element/{e}/property/value")),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &self.s(&format!("/element/{e}/click")), None);
    }

    fn screenshot(&self, name: &str) {
        let v = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("decodes");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        println!("screenshot: {}", path.display());
    }

    /// Waits (without reloading) until the page's source satisfies `cond`; on timeout the
    /// failure shows the page.
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let src = self.source();
            if cond(&src) {
                return;
            }
            if std::time::Instant::now() > deadline {
                self.screenshot("timeout");
                panic!(
                    "timed out waiting for {what}; the page at {}:\n{src}",
                    self.url()
                );
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }

    /// Reloads until the page contains `text`.
    fn wait_for_text(&self, text: &str) {
        wait_until(WAIT, &format!("the page to show {text:?}"), || {
            if self.source().contains(text) {
                return true;
            }
            self.refresh();
            false
        });
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
    }
}

/// Where this test's screenshots go (kept after the run).
fn output_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the output dir");
    println!("output directory: {}", dir.display());
    dir
}

/// The admin, an SSH integration (fresh CA) and an access-link flow approved by admins.
fn ssh_link_policy(d: &Daemon) -> String {
    d.signup("admin@example.com", "Ada Admin");
    let dir = d.dir.path();
    let ca = dir.join("ca");
    keygen(&ca);
    let toml = dir.join("hosts.toml");
    std::fs::write(
        &toml,
        format!(
            "description = \"bastions\"\n[connector]\ntype = \"ssh\"\nca_key = \"file:{}\"\nkrl = \"{}\"\n\
             [connector.permissions.login]\nprincipals = []\n[[resources]]\nname = \"deploy\"\npermissions = [\"login\"]\n",
            ca.display(),
            dir.join("hosts.krl").display()
        ),
    )
    .expect("write the integration");
    d.ok(&[
        "integrations",
        "create",
        "hosts",
        "--file",
        &toml.display().to_string(),
    ]);
    d.ok(&[
        "flows",
        "create",
        "vendor-ssh",
        "--trigger",
        "access-link",
        "--target",
        "hosts/deploy/login",
        "--approval",
        "any-of",
        "--approver",
        "admins",
        "--max",
        "1h",
        "--default",
        "30m",
        "--description",
        "SSH to the deploy bastion",
    ]);
    let url = d.ok(&[
        "links",
        "create",
        "--flow",
        "vendor-ssh",
        "--expires",
        "7d",
        "--max-uses",
        "5",
    ]);
    url.trim().to_string()
}

fn pending_id(d: &Daemon) -> String {
    let mut id = String::new();
    wait_until(WAIT, "a request to approve", || {
        let v = d.json(None, &["requests", "--to-approve"]);
        match v.as_array().and_then(|a| a.first()) {
            Some(r) => {
                id = r["id"]
                    .as_u64()
                    .map(|n| format!("HP-{n}"))
                    .unwrap_or_default();
                true
            }
            None => false,
        }
    });
    id
}

#[test]
fn an_external_uses_a_link_in_a_real_browser() {
    let shots = output_dir("links-browser");
    let port = free_port();
    let d = Daemon::start_with("", &format!("[web]\nlisten = \"127.0.0.1:{port}\"\n"));
    let url = ssh_link_policy(&d);
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/l/")),
        "{url}"
    );
    let key = d.dir.path().join("vera");
    keygen(&key);
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("the public key");

    let b = Browser::start(shots);
    b.go(&url);
    let page = b.source();
    assert!(
        page.contains("E2E Corp") && page.contains("hosts/deploy/login"),
        "{page}"
    );
    b.screenshot("1-link");

    // One mistake: the SSH key field gets a private-key-looking value.
    b.fill("#name", "Vera Vendor");
    b.fill("#email", "vera@vendor.example");
    b.fill("#company", "Vendor Ltd");
    b.fill("#justification", "SUP-42: deploy the hotfix");
    b.fill("#duration", "20m");
    b.fill("#ssh_key", "-----BEGIN OPENSSH PRIVATE KEY----- oops");
    b.click("form.card button[type=submit]");
    b.wait("the form to come back with an error", |src| {
        src.contains("id=\"ssh_key-error\"")
    });
    assert!(b.source().contains("private key"));
    assert_eq!(b.value("#name"), "Vera Vendor", "what was typed is kept");
    assert_eq!(b.value("#duration"), "20m");
    b.screenshot("2-form-error");

    b.fill("#ssh_key", public.trim());
    b.click("form.card button[type=submit]");
    b.wait("the status page", |src| {
        src.contains("Waiting for a decision")
    });
    assert!(b.url().contains("/s/"), "{}", b.url());
    assert!(b.source().contains("Waiting for a decision"));
    b.screenshot("3-pending");

    let id = pending_id(&d);
    d.ok(&["approve", &id]);
    b.wait_for_text("Your access is active");
    assert!(b.source().contains("ssh-ed25519-cert-v01@openssh.com"));
    b.screenshot("4-active");

    b.click("button.danger");
    // Without reloading: a reload racing the form's POST can cancel it, and then the access
    // is never released. The POST answers with a redirect to the page showing the release.
    b.wait("the page to show the release", |src| {
        src.contains("You released this access")
    });
    assert!(!b.source().contains("ssh-ed25519-cert-v01@openssh.com"));
    b.screenshot("5-released");
    let log = d.log();
    assert!(
        !log.contains("ssh-ed25519-cert-v01"),
        "the certificate reached the log"
    );
    assert!(
        !log.contains(url.rsplit('/').next().expect("token")),
        "the link token reached the log"
    );
}

/// A Python SMTP sink printing every message to a file.
struct Sink {
    out: PathBuf,
    _proc: Proc,
}

impl Sink {
    fn start(port: u16, dir: &Path) -> Sink {
        let out = dir.join(format!("smtp-{port}.log"));
        let file = std::fs::File::create(&out).expect("sink output");
        let proc = Proc(
            Command::new("python3")
                .args([
                    "-u",
                    "-W",
                    "ignore",
                    "-m",
                    "smtpd",
                    "-n",
                    "-c",
                    "DebuggingServer",
                ])
                .arg(format!("127.0.0.1:{port}"))
                .stdout(file)
                .stderr(Stdio::null())
                .spawn()
                .expect("start the python3 SMTP sink"),
        );
        wait_until(WAIT, "the SMTP sink to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Sink { out, _proc: proc }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(&self.out).and_then(|mut f| f.read_to_string(&mut s));
        s
    }
}

/// An exec integration, an access-link flow `vendor-db` on it, and a link: the link's URL.
fn vendor_link(d: &Daemon) -> String {
    let grant = d.dir.path().join("grant.sh");
    std::fs::write(&grant, "#!/bin/sh\ncat >/dev/null\n").expect("script");
    sandbox_integration(d, &grant, &grant, "db:read");
    d.ok(&[
        "flows",
        "create",
        "vendor-db",
        "--trigger",
        "access-link",
        "--target",
        "sandbox/db/read",
        "--approval",
        "any-of",
        "--approver",
        "admins",
        "--max",
        "2h",
    ]);
    d.ok(&["links", "create", "--flow", "vendor-db"])
        .trim()
        .to_string()
}

/// The CSRF token of the form on the page at `url`.
fn csrf_of(http: &ureq::Agent, url: &str) -> String {
    let mut page = http.get(url).call().expect("the page");
    let body = page.body_mut().read_to_string().expect("body");
    let marker = "name=\"csrf\" value=\"";
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field on {url}:\n{body}"))
        + marker.len();
    body[at..at + body[at..].find('"').expect("end")].to_string()
}

fn outbox(d: &Daemon) -> Vec<Value> {
    d.json(None, &["outbox"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn mail_survives_an_smtp_outage_and_arrives_with_the_right_content() {
    let smtp = free_port();
    let web = free_port();
    let mut d = Daemon::start_with(
        "",
        &format!(
            "[web]\nlisten = \"127.0.0.1:{web}\"\n\
         confirm_email = false\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"none\"\n\
         from = \"E2E Corp access <access@e2e.example>\"\nretry_initial = \"1s\"\nretry_max = \"1s\"\ntimeout = \"5s\"\n"
        ),
    );
    d.signup("admin@example.com", "Ada Admin");

    // The server is down: the invite is queued, retried, and visible to admins.
    let invite = d.json(
        None,
        &[
            "users",
            "invite",
            "--email",
            "grace@example.com",
            "--role",
            "grantee",
            "--name",
            "Grace Hopper",
        ],
    );
    assert_eq!(invite["emailed"], json!(true), "{invite}");
    let code = invite["code"].as_str().expect("a code").to_string();
    wait_until(WAIT, "a failed delivery in the outbox", || {
        outbox(&d)
            .first()
            .is_some_and(|m| m["attempts"].as_u64() >= Some(1) && m["last_error"].is_string())
    });
    wait_until(WAIT, "the trouble to be audited", || {
        d.json(None, &["audit", "--action", "mail.failing"])
            .to_string()
            .contains("grace@example.com")
    });
    let waiting = serde_json::to_string(&outbox(&d)).expect("json");
    assert!(!waiting.contains(&code), "the outbox listing shows no body");

    // A link request while the server is still down.
    let url = vendor_link(&d);
    let http = agent();
    let csrf = csrf_of(&http, &url);
    let resp = http
        .post(&url)
        .send_form([
            ("csrf", csrf.as_str()),
            ("name", "Vera Vendor"),
            ("email", "vera@vendor.example"),
            ("company", "Vendor Ltd"),
            ("justification", "SUP-42"),
            ("duration", "1h"),
        ])
        .expect("submit");
    assert_eq!(resp.status().as_u16(), 303);
    let status = format!(
        "http://127.0.0.1:{web}{}",
        resp.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("a status page")
    );

    // Another person opens the form before a restart...
    let csrf_before = csrf_of(&http, &url);

    // A restart during the outage loses nothing: the outbox is in the store.
    d.stop();
    d.restart();
    assert_eq!(outbox(&d).len(), 2, "both messages still wait");

    // ...and submits it after: the form's CSRF key is the store's, not the old process's.
    let resp = http
        .post(&url)
        .send_form([
            ("csrf", csrf_before.as_str()),
            ("name", "Walt Vendor"),
            ("email", "walt@vendor.example"),
            ("company", "Vendor Ltd"),
            ("justification", "SUP-43"),
            ("duration", "1h"),
        ])
        .expect("submit after the restart");
    assert_eq!(
        resp.status().as_u16(),
        303,
        "a form from before the restart was refused"
    );

    // The server comes up: both arrive, the outbox empties.
    let sink = Sink::start(smtp, d.dir.path());
    wait_until(WAIT, "the invite and the status link to arrive", || {
        let t = sink.text();
        t.contains(&code) && t.contains(&status)
    });
    wait_until(WAIT, "the outbox to empty", || outbox(&d).is_empty());
    let mail = sink.text();
    for want in [
        "To: grace@example.com",
        "To: vera@vendor.example",
        "access@e2e.example>",
        "hallpass accept",
        "text/html",
        "text/plain",
    ] {
        assert!(mail.contains(want), "the mail lacks {want:?}:\n{mail}");
    }

    // A status change: approval makes the access active, and the external hears of it.
    let v = d.json(None, &["requests", "--to-approve"]);
    let id = format!("HP-{}", v[0]["id"].as_u64().expect("an id"));
    d.ok(&["approve", &id]);
    wait_until(WAIT, "the activation mail", || {
        sink.text().contains("is active for")
    });
    let log = d.log();
    assert!(!log.contains(&code), "the invite code reached the log");
    assert!(
        !log.contains(status.rsplit('/').next().expect("token")),
        "the status token reached the log"
    );
}

/// The TLS SMTP sink (`tests/python/smtp_tls_sink.py`) in `mode`, as user `mailer`.
fn tls_sink(port: u16, mode: &str, pki: &crate::remote::Pki, out: &Path) -> Proc {
    let proc = Proc(
        Command::new("python3")
            .arg("-u")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/smtp_tls_sink.py"))
            .arg(port.to_string())
            .arg(mode)
            .arg(pki.path("server.crt"))
            .arg(pki.path("server.key"))
            .arg(out)
            .args(["mailer", "s3cret"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the TLS SMTP sink"),
    );
    wait_until(WAIT, "the TLS SMTP sink to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    proc
}

#[test]
fn invites_are_mailed_over_tls_and_starttls_with_credentials_and_a_private_ca() {
    let pki = crate::remote::Pki::new();
    for mode in ["tls", "starttls"] {
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("mail.log");
        let creds = dir.path().join("smtp.creds");
        std::fs::write(&creds, "mailer\ns3cret\n").expect("credentials");
        let _sink = tls_sink(port, mode, &pki, &out);
        let d = Daemon::start_with(
            "",
            &format!(
                "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{mode}\"\nca_file = \"{}\"\n\
                 credentials_file = \"{}\"\nfrom = \"E2E Corp access <access@e2e.example>\"\n\
                 retry_initial = \"1s\"\nretry_max = \"1s\"\ntimeout = \"5s\"\n",
                pki.path("ca.crt").display(),
                creds.display()
            ),
        );
        d.signup("ada@example.com", "Ada Admin");
        let invite = d.invite("grace@example.com", "Grace Hopper", "grantee");
        let code = invite["code"].as_str().expect("invite code").to_string();
        wait_until(WAIT, &format!("the invite over {mode}"), || {
            let t = std::fs::read_to_string(&out).unwrap_or_default();
            t.contains("To: grace@example.com") && t.contains(&code)
        });
        let mail = std::fs::read_to_string(&out).expect("mail log");
        assert!(mail.contains("authenticated as mailer"), "{mode}: {mail}");
        wait_until(WAIT, "the outbox to empty", || outbox(&d).is_empty());
    }
}

#[test]
fn the_site_speaks_https_when_given_a_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("web.crt"), dir.path().join("web.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let d = Daemon::start_with(
        "",
        &format!(
            "[web]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    d.signup("admin@example.com", "Ada Admin");
    let url = format!("https://127.0.0.1:{port}/");
    let mut headers = String::new();
    wait_until(WAIT, "the HTTPS site to answer", || {
        let out = Command::new("curl")
            .args(["-sS", "-D", "-", "-o", "/dev/null", "--cacert"])
            .arg(&cert)
            .arg(&url)
            .output()
            .expect("curl is installed");
        headers = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success()
    });
    assert!(headers.starts_with("HTTP/1.1 200"), "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "{headers}"
    );
    // Plain HTTP on the TLS port gets nowhere.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("curl");
    assert_ne!(String::from_utf8_lossy(&plain.stdout).trim(), "200");
    // A link made on a TLS site is an https:// URL.
    let link = vendor_link(&d);
    assert!(
        link.starts_with(&format!("https://127.0.0.1:{port}/l/")),
        "{link}"
    );
}

#[test]
fn with_confirm_email_the_address_is_proven_and_members_are_not_told() {
    let smtp = free_port();
    let web = free_port();
    let mail_dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(smtp, mail_dir.path());
    let d = Daemon::start_with(
        "",
        &format!(
            "[web]\nlisten = \"127.0.0.1:{web}\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"none\"\n\
             from = \"E2E Corp access <access@e2e.example>\"\nretry_initial = \"1s\"\nretry_max = \"1s\"\n"
        ),
    );
    d.signup("admin@example.com", "Ada Admin");
    let url = vendor_link(&d);
    let http = agent();
    let send = |email: &str| {
        let csrf = csrf_of(&http, &url);
        let mut resp = http
            .post(&url)
            .send_form([
                ("csrf", csrf.as_str()),
                ("name", "Vera Vendor"),
                ("email", email),
                ("company", "Vendor Ltd"),
                ("justification", "SUP-42"),
                ("duration", "1h"),
            ])
            .expect("submit");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("body");
        (status, body.replace(email, "ADDRESS"))
    };

    // An external's address and a member's get the same answer; neither reaches the reviewers.
    let external = send("vera@vendor.example");
    let member = send("admin@example.com");
    assert_eq!(external.0, 200, "{}", external.1);
    assert!(external.1.contains("Check your e-mail"), "{}", external.1);
    assert_eq!(member, external, "a member's address is told apart");
    let pending = || d.json(None, &["requests", "--to-approve"]);
    assert_eq!(pending(), json!([]), "nothing is sent before confirming");
    assert_eq!(
        d.json(None, &["links", "list"])[0]["uses"],
        0,
        "the link is not used yet"
    );
    // Only the external gets mail; the member's attempt is audited for admins.
    wait_until(WAIT, "the confirmation mail", || {
        sink.text().contains("To: vera@vendor.example")
    });
    wait_until(WAIT, "the outbox to empty", || outbox(&d).is_empty());
    assert!(!sink.text().contains("To: admin@example.com"));
    let audit = d.json(None, &["audit", "--action", "link.member_address"]);
    assert!(audit.to_string().contains("admin@example.com"), "{audit}");

    // The mailed link shows what will be sent and changes nothing; its button sends it.
    let mail = sink.text();
    let at = mail.find("/c/").expect("a confirmation link in the mail");
    let token: String = mail[at + 3..].chars().take(32).collect();
    let confirm = format!("http://127.0.0.1:{web}/c/{token}");
    let mut page = http.get(&confirm).call().expect("the confirmation page");
    assert_eq!(page.status().as_u16(), 200);
    let body = page.body_mut().read_to_string().expect("body");
    assert!(
        body.contains("Send my request") && body.contains("SUP-42"),
        "{body}"
    );
    assert_eq!(pending(), json!([]), "opening the link sends nothing");
    let csrf = csrf_of(&http, &confirm);
    let resp = http
        .post(&confirm)
        .send_form([("csrf", csrf.as_str())])
        .expect("confirm");
    assert_eq!(resp.status().as_u16(), 303);
    let status = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("to the status page")
        .to_string();
    assert!(status.starts_with("/s/"), "{status}");
    let v = pending();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["requester"]["email"], "vera@vendor.example", "{v}");
    assert_eq!(d.json(None, &["links", "list"])[0]["uses"], 1);
    wait_until(WAIT, "the status link by mail", || {
        sink.text().contains(&status)
    });

    // Used once: the link answers Gone and opens nothing more.
    let mut again = http.get(&confirm).call().expect("again");
    assert_eq!(again.status().as_u16(), 410);
    assert!(
        again
            .body_mut()
            .read_to_string()
            .expect("body")
            .contains("no longer works")
    );
    let resp = http
        .post(&confirm)
        .send_form([("csrf", csrf.as_str())])
        .expect("post again");
    assert_eq!(resp.status().as_u16(), 410);
    assert_eq!(pending().as_array().map(Vec::len), Some(1));
    // Neither token reached the log.
    let log = d.log();
    assert!(
        !log.contains(&token),
        "the confirmation token reached the log"
    );
}
