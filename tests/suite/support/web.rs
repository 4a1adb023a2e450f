//! The access-link site under test: served in-process on a loopback port next to a
//! [`TestDaemon`], and a small HTTP client (no redirects followed, every status returned) that
//! reads pages as a browser would receive them.

use std::time::Duration;

use hallpass_core::flow::{ApprovalRule, Approver, Flow, Trigger};
use hallpass_core::integration::Target;
use hallpass_daemon::Config;
use hallpass_proto::{LinkCreated, NewLink};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::harness::{Answer, TestDaemon, ctx, flow, target};

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The CSRF token of the (first) form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field on the page:\n{}", self.body))
            + marker.len();
        let end = self.body[at..].find('"').expect("the value ends");
        self.body[at..at + end].to_string()
    }

    /// Fails the test with the page when the status is not `status`.
    pub fn expect(self, status: u16, what: &str) -> Resp {
        assert_eq!(
            self.status, status,
            "{what}: expected HTTP {status}, got {} with:\n{}",
            self.status, self.body
        );
        self
    }
}

/// A client for the site.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_string(),
        }
    }

    fn read(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Resp {
        let mut resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
        Resp {
            status,
            headers,
            body,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        let (agent, url) = (self.agent.clone(), self.url(path));
        tokio::task::spawn_blocking(move || {
            let what = format!("GET {url}");
            Client::read(agent.get(&url).call(), &what)
        })
        .await
        .expect("the request thread")
    }

    /// Posts a form, with extra headers.
    pub async fn post(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        let (agent, url) = (self.agent.clone(), self.url(path));
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let what = format!("POST {url}");
            let mut req = agent.post(&url);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            Client::read(req.send_form(form), &what)
        })
        .await
        .expect("the request thread")
    }

    /// Any method, with headers and an optional body, as an API client sends it.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let (agent, url) = (self.agent.clone(), self.url(path));
        let method = ureq::http::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let what = format!("{method} {url}");
            let mut req = ureq::http::Request::builder().method(method).uri(&url);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let sent = match body {
                Some(b) => agent.run(req.body(b).expect("a well-formed request")),
                None => agent.run(req.body(()).expect("a well-formed request")),
            };
            Client::read(sent, &what)
        })
        .await
        .expect("the request thread")
    }

    /// Posts raw bytes as a form body.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Resp {
        let (agent, url) = (self.agent.clone(), self.url(path));
        tokio::task::spawn_blocking(move || {
            let what = format!("POST {url}");
            Client::read(
                agent
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .send(&body[..]),
                &what,
            )
        })
        .await
        .expect("the request thread")
    }
}

/// A daemon with its access-link site on a loopback port.
pub struct Site {
    pub d: TestDaemon,
    pub http: Client,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

pub const ORG: &str = "Acme Test Org";

impl Site {
    /// The test daemon with `change` applied to its config, serving the site.
    pub async fn start(change: impl FnOnce(&mut Config)) -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the site");
        let base = format!(
            "http://{}",
            listener.local_addr().expect("the bound address")
        );
        let d = TestDaemon::start_configured(|c| {
            c.organisation = ORG.into();
            c.web.public_url = Some(base.clone());
            change(c);
        })
        .await;
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(hallpass_daemon::web::serve(
            d.broker.clone(),
            listener,
            None,
            rx,
        ));
        Site {
            d,
            http: Client::new(&base),
            stop,
            task: Some(task),
        }
    }

    /// Creates an access-link flow `name` offering `targets`, approved by any admin.
    pub async fn link_flow(&self, name: &str, targets: Vec<Target>) -> Flow {
        let mut f = flow(name, ApprovalRule::AnyOf, vec![Approver::Admins]);
        f.trigger = Trigger::AccessLink;
        f.requestors = Default::default();
        f.targets.resources = targets;
        f.description = format!("Vendor access: {name}");
        self.d.put_flow(f).await
    }

    pub async fn link(
        &self,
        flow: &str,
        expires: Option<Duration>,
        max_uses: Option<u32>,
    ) -> LinkCreated {
        self.d
            .admin()
            .create_link(
                ctx(),
                NewLink {
                    flow: hallpass_core::FlowName::new(flow).expect("a slug"),
                    expires_in_secs: expires.map(|d| d.as_secs()),
                    max_uses,
                    note: "for the test".into(),
                },
            )
            .await
            .done("create a link")
    }

    /// The path part of a URL the daemon made.
    pub fn path(&self, url: &str) -> String {
        url.strip_prefix(&self.http.base)
            .unwrap_or_else(|| panic!("{url} is not on {}", self.http.base))
            .to_string()
    }

    /// A default flow + link on the exec integration's db/read.
    pub async fn db_link(&self) -> String {
        self.link_flow("vendor-db", vec![target("db", "read")])
            .await;
        let l = self.link("vendor-db", None, None).await;
        self.path(&l.url)
    }

    pub async fn stop(mut self) -> TestDaemon {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            t.await.expect("the site stops cleanly");
        }
        self.d
    }
}

/// A filled-in form for the link page `page`.
pub fn good_form(csrf: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_string()),
        ("name", "Vera Vendor".into()),
        ("email", "vera@vendor.example".into()),
        ("company", "Vendor Ltd".into()),
        ("justification", "Ticket SUP-42: migrate the schema".into()),
        ("duration", "2h".into()),
    ]
}

/// Borrowed view of a form for [`Client::post`].
pub fn as_pairs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
