//! Access links over real HTTP (the site served in-process on loopback, with a manual clock):
//! links are created, listed and revoked by admins and shown once; an external opens one, gets
//! field errors with what they typed kept, submits, lands on a private status page, is decided
//! on like anyone else, sees credentials only while active, and releases access. Every security
//! rule of the site has a test here: CSRF, same-origin, rate limits per address and per link,
//! the body limit, headers, escaping, no enumeration, closed links creating nothing, and a
//! status token seeing only its own request.

use std::collections::BTreeMap;
use std::time::Duration;

use hallpass_core::grant::GrantStatus;
use hallpass_core::integration::{
    Connector, Integration, ResourceDef, SecretRef, SshConfig, SshPermission,
};
use hallpass_core::link::LinkState;
use hallpass_core::user::{Role, UserStatus};
use hallpass_core::{FlowName, IntegrationName, RequestId};
use hallpass_proto::{PutMode, RequestQuery, RequestScope, UserQuery};

use crate::support::harness::*;
use crate::support::web::*;

const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPnoaekYdQgEtDf5keq8Urj/x7hzGRuFzROFc1ypoY40 vera@vendor";

fn request_id(page: &str) -> RequestId {
    let at = page.find("HP-").expect("the status page names the request");
    let digits: String = page[at + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    RequestId(digits.parse().expect("a request number"))
}

async fn user_count(d: &TestDaemon) -> usize {
    d.admin()
        .list_users(ctx(), UserQuery::default())
        .await
        .done("list users")
        .items
        .len()
}

async fn pending(d: &TestDaemon) -> Vec<hallpass_proto::RequestView> {
    d.admin()
        .list_requests(
            ctx(),
            RequestQuery {
                scope: RequestScope::ToApprove,
                ..RequestQuery::default()
            },
        )
        .await
        .done("requests to approve")
        .items
}

/// An SSH integration whose CA is a fresh key, so grants come with a certificate.
async fn ssh_integration(d: &TestDaemon) -> hallpass_core::integration::Target {
    let ca = d.dir.path().join("ca");
    crate::support::sshd::keygen(&ca);
    let integration = Integration {
        name: IntegrationName::new("hosts").expect("a slug"),
        connector: Connector::Ssh(SshConfig {
            ca_key: SecretRef::File(ca.display().to_string()),
            krl: d.dir.path().join("hosts.krl").display().to_string(),
            permissions: BTreeMap::from([("login".to_string(), SshPermission::default())]),
        }),
        resources: vec![ResourceDef {
            name: "deploy".into(),
            permissions: vec!["login".into()],
            description: String::new(),
        }],
        description: "bastions".into(),
        updated_at: T0,
    };
    d.admin()
        .put_integration(ctx(), integration, PutMode::Create)
        .await
        .done("create the SSH integration");
    hallpass_core::integration::Target {
        integration: IntegrationName::new("hosts").expect("a slug"),
        resource: "deploy".into(),
        permission: "login".into(),
    }
}

#[tokio::test]
async fn links_are_shown_once_listed_without_tokens_and_revocable() {
    let site = Site::start(|_| {}).await;
    site.link_flow("vendor-db", vec![target("db", "read")])
        .await;
    let created = site
        .link("vendor-db", Some(Duration::from_secs(30 * 86_400)), Some(3))
        .await;
    let token = created.url.rsplit('/').next().expect("a token").to_string();
    assert!(created.url.starts_with(&format!("{}/l/", site.http.base)));
    assert_eq!(token.len(), 32, "128 bits as hex: {token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created.link.state, LinkState::Open);

    // Self-serve flows get no links; unknown flows are named.
    let mut self_serve = flow("inside", hallpass_core::flow::ApprovalRule::Auto, vec![]);
    self_serve.targets.resources = vec![target("db", "read")];
    site.d.put_flow(self_serve).await;
    let e = site
        .d
        .admin()
        .create_link(
            ctx(),
            hallpass_proto::NewLink {
                flow: FlowName::new("inside").expect("a slug"),
                expires_in_secs: None,
                max_uses: None,
                note: String::new(),
            },
        )
        .await
        .refused("a link for a self-serve flow");
    assert!(e.to_string().contains("access-link"), "{e}");

    // The list, the audit log and the store never hold the token.
    let list = site
        .d
        .admin()
        .list_links(ctx(), None)
        .await
        .done("list links");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].max_uses, Some(3));
    let listed = serde_json::to_string(&list).expect("json");
    assert!(!listed.contains(&token));
    let audit = serde_json::to_string(&site.d.audit_log().await).expect("json");
    assert!(audit.contains("link.create") && !audit.contains(&token));
    let stored = site
        .d
        .broker
        .store()
        .link(created.link.id)
        .expect("read")
        .expect("stored");
    assert_eq!(stored.token_hash, hallpass_core::link::token_hash(&token));
    assert!(
        !serde_json::to_string(&stored)
            .expect("json")
            .contains(&token)
    );

    // Revoked: the page says so, the form creates nothing.
    let page = site
        .http
        .get(&site.path(&created.url))
        .await
        .expect(200, "open link");
    let csrf = page.csrf();
    let revoked = site
        .d
        .admin()
        .revoke_link(ctx(), created.link.id)
        .await
        .done("revoke");
    assert_eq!(revoked.state, LinkState::Revoked);
    let users = user_count(&site.d).await;
    let gone = site
        .http
        .get(&site.path(&created.url))
        .await
        .expect(410, "revoked link");
    assert!(gone.body.contains("withdrawn"), "{}", gone.body);
    let form = good_form(&csrf);
    site.http
        .post(&site.path(&created.url), &as_pairs(&form), &[])
        .await
        .expect(410, "submitting to a revoked link");
    assert_eq!(user_count(&site.d).await, users, "nothing created");
    assert!(pending(&site.d).await.is_empty());
    site.stop().await;
}

#[tokio::test]
async fn an_external_asks_is_approved_sees_credentials_and_releases() {
    let site = Site::start(|_| {}).await;
    let ssh = ssh_integration(&site.d).await;
    site.link_flow("vendor-ssh", vec![ssh.clone()]).await;
    let link = site.link("vendor-ssh", None, None).await;
    let path = site.path(&link.url);

    // The offer: organisation, what, how long, and a labelled form.
    let page = site.http.get(&path).await.expect(200, "link page");
    for want in [
        ORG,
        "hosts/deploy/login",
        "8h",
        "SSH public key",
        "for=\"ssh_key\"",
        "Ask for access",
    ] {
        assert!(
            page.body.contains(want),
            "link page lacks {want:?}:\n{}",
            page.body
        );
    }

    // One error, next to its field, with everything typed kept.
    let mut form = good_form(&page.csrf());
    form.push(("ssh_key", "not a key".into()));
    form.retain(|(k, _)| *k != "duration");
    form.push(("duration", "3d".into()));
    let bad = site
        .http
        .post(&path, &as_pairs(&form), &[])
        .await
        .expect(422, "an invalid form");
    assert!(bad.body.contains("id=\"duration-error\""), "{}", bad.body);
    assert!(bad.body.contains("at most 8h"), "{}", bad.body);
    assert!(bad.body.contains("id=\"ssh_key-error\""), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"Vera Vendor\""),
        "kept: {}",
        bad.body
    );
    assert!(bad.body.contains("Ticket SUP-42"), "kept: {}", bad.body);
    assert!(bad.body.contains("value=\"3d\""), "kept: {}", bad.body);
    assert!(pending(&site.d).await.is_empty(), "nothing was created");

    // Fixed: a Pending request and a private status page.
    let mut form = good_form(&bad.csrf());
    form.push(("ssh_key", SSH_KEY.into()));
    let done = site
        .http
        .post(&path, &as_pairs(&form), &[])
        .await
        .expect(303, "a good form");
    let status_path = done.header("location").expect("a redirect").to_string();
    assert!(
        status_path.starts_with("/s/") && status_path.len() == 3 + 32,
        "{status_path}"
    );
    let status = site.http.get(&status_path).await.expect(200, "status page");
    assert!(
        status.body.contains("Waiting for a decision"),
        "{}",
        status.body
    );
    assert!(
        status
            .body
            .contains(&format!("{}{status_path}", site.http.base)),
        "the URL is shown"
    );
    let id = request_id(&status.body);

    // Approvers see it like any request; the requester is an External.
    let waiting = pending(&site.d).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].id, id);
    assert_eq!(waiting[0].requester.email, "vera@vendor.example");
    let vera = site
        .d
        .admin()
        .get_user(ctx(), email_ref("vera@vendor.example"))
        .await
        .done("the external");
    assert_eq!(vera.role, Role::External);
    let approved = site
        .d
        .admin()
        .approve(ctx(), id, None)
        .await
        .done("approve");
    let grant = approved.grants[0].id;
    site.d.wait_grant(grant, GrantStatus::Active).await;

    // Active: the certificate, a countdown, a release button; the audit never has the secret.
    let active = site
        .http
        .get(&status_path)
        .await
        .expect(200, "active status");
    assert!(
        active.body.contains("Your access is active"),
        "{}",
        active.body
    );
    assert!(
        active.body.contains("ssh-ed25519-cert-v01@openssh.com"),
        "{}",
        active.body
    );
    assert!(active.body.contains("data-expires="), "{}", active.body);
    assert!(
        active.body.contains("Release access now"),
        "{}",
        active.body
    );
    let cert = site
        .d
        .broker
        .store()
        .credentials(grant)
        .expect("read")
        .expect("issued")
        .get("certificate")
        .expect("a certificate")
        .to_string();
    let audit = serde_json::to_string(&site.d.audit_log().await).expect("json");
    assert!(
        !audit.contains(&cert),
        "the certificate is in the audit log"
    );
    assert!(audit.contains("grant.credentials_read"));

    // Release: the grant ends and the credentials leave the page.
    let csrf = active.csrf();
    site.http
        .post(&format!("{status_path}/release"), &[("csrf", &csrf)], &[])
        .await
        .expect(303, "release");
    site.d.wait_grant(grant, GrantStatus::Revoked).await;
    let ended = site
        .http
        .get(&status_path)
        .await
        .expect(200, "ended status");
    assert!(
        ended.body.contains("You released this access"),
        "{}",
        ended.body
    );
    assert!(!ended.body.contains("ssh-ed25519-cert"), "{}", ended.body);
    assert!(!ended.body.contains("Release access now"));
    site.stop().await;
}

#[tokio::test]
async fn rejection_reasons_expiry_and_reuse_of_an_external() {
    let site = Site::start(|_| {}).await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let form = good_form(&page.csrf());
    let first = site
        .http
        .post(&path, &as_pairs(&form), &[])
        .await
        .expect(303, "submit");
    let first = first.header("location").expect("redirect").to_string();
    let id = request_id(&site.http.get(&first).await.body);
    site.d
        .admin()
        .reject(ctx(), id, Some("no ticket <b>found</b>".into()))
        .await
        .done("reject");
    let rejected = site.http.get(&first).await.expect(200, "rejected status");
    assert!(rejected.body.contains("declined"), "{}", rejected.body);
    assert!(
        rejected.body.contains("no ticket &lt;b&gt;found&lt;/b&gt;"),
        "escaped: {}",
        rejected.body
    );

    // Asking again with the same e-mail reuses the External; the new page shows only the new request.
    let users = user_count(&site.d).await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let form = good_form(&page.csrf());
    let second = site
        .http
        .post(&path, &as_pairs(&form), &[])
        .await
        .expect(303, "submit again");
    let second = second.header("location").expect("redirect").to_string();
    assert_eq!(user_count(&site.d).await, users, "the External is reused");
    let id2 = request_id(&site.http.get(&second).await.body);
    assert_ne!(id, id2);
    let again = site.http.get(&second).await;
    assert!(
        !again.body.contains(&id.to_string()),
        "a status token sees only its request"
    );

    // Approved and left to run out: the page says it expired.
    let approved = site
        .d
        .admin()
        .approve(ctx(), id2, None)
        .await
        .done("approve");
    site.d
        .wait_grant(approved.grants[0].id, GrantStatus::Active)
        .await;
    site.d.advance(3 * HOUR);
    site.d
        .wait_grant(approved.grants[0].id, GrantStatus::Expired)
        .await;
    let over = site.http.get(&second).await.expect(200, "expired status");
    assert!(
        over.body.contains("This access has expired"),
        "{}",
        over.body
    );
    site.stop().await;
}

#[tokio::test]
async fn closed_links_answer_clearly_and_create_nothing() {
    let site = Site::start(|_| {}).await;
    site.link_flow("vendor-db", vec![target("db", "read")])
        .await;
    let once = site.link("vendor-db", None, Some(1)).await;
    let brief = site
        .link("vendor-db", Some(Duration::from_secs(3600)), None)
        .await;

    // Used up after one request.
    let p = site.path(&once.url);
    let page = site.http.get(&p).await.expect(200, "link page");
    site.http
        .post(&p, &as_pairs(&good_form(&page.csrf())), &[])
        .await
        .expect(303, "the one use");
    let users = user_count(&site.d).await;
    let used = site.http.get(&p).await.expect(410, "a used-up link");
    assert!(used.body.contains("used up"), "{}", used.body);
    let mut other = good_form(&page.csrf());
    other[2].1 = "someone@else.example".into();
    site.http
        .post(&p, &as_pairs(&other), &[])
        .await
        .expect(410, "posting to a used-up link");

    // Expired.
    let p = site.path(&brief.url);
    let page = site.http.get(&p).await.expect(200, "fresh link");
    site.d.advance(2 * HOUR);
    let expired = site.http.get(&p).await.expect(410, "an expired link");
    assert!(expired.body.contains("expired"), "{}", expired.body);
    site.http
        .post(&p, &as_pairs(&good_form(&page.csrf())), &[])
        .await
        .expect(410, "posting to an expired link");
    assert_eq!(user_count(&site.d).await, users, "nothing created");
    assert_eq!(pending(&site.d).await.len(), 1);
    site.stop().await;
}

#[tokio::test]
async fn forms_need_a_csrf_token_from_the_same_page_and_origin() {
    let site = Site::start(|_| {}).await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let good = good_form(&page.csrf());
    let users = user_count(&site.d).await;

    let mut none = good.clone();
    none.retain(|(k, _)| *k != "csrf");
    let r = site
        .http
        .post(&path, &as_pairs(&none), &[])
        .await
        .expect(403, "no CSRF token");
    assert!(
        r.body.contains("value=\"Vera Vendor\""),
        "typed values kept: {}",
        r.body
    );
    let mut forged = good.clone();
    forged[0].1 = "18d3a1c2b00.00ff".into();
    site.http
        .post(&path, &as_pairs(&forged), &[])
        .await
        .expect(403, "a forged token");
    site.http
        .post(
            &path,
            &as_pairs(&good),
            &[("origin", "https://evil.example")],
        )
        .await
        .expect(403, "another origin");
    site.http
        .post(&path, &as_pairs(&good), &[("sec-fetch-site", "cross-site")])
        .await
        .expect(403, "a cross-site form");
    // A token outlives neither its age limit nor its page.
    site.d.advance(3 * HOUR);
    site.http
        .post(&path, &as_pairs(&good), &[])
        .await
        .expect(403, "a stale token");
    assert_eq!(user_count(&site.d).await, users, "nothing created");

    // The release button is protected the same way, and a token for the form is not one for it.
    let page = site.http.get(&path).await.expect(200, "link page");
    let ok = site
        .http
        .post(
            &path,
            &as_pairs(&good_form(&page.csrf())),
            &[("origin", site.http.base.as_str())],
        )
        .await
        .expect(303, "same origin");
    let status = ok.header("location").expect("redirect").to_string();
    site.http
        .post(&format!("{status}/release"), &[("csrf", &page.csrf())], &[])
        .await
        .expect(403, "the link form's token on the release button");
    site.stop().await;
}

#[tokio::test]
async fn rate_limits_per_address_and_per_link() {
    let site = Site::start(|c| {
        c.web.requests_per_minute = 8;
        c.web.submissions_per_hour = 2;
    })
    .await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");
    for n in 0..2 {
        let mut f = good_form(&page.csrf());
        f[2].1 = format!("p{n}@vendor.example");
        site.http
            .post(&path, &as_pairs(&f), &[])
            .await
            .expect(303, "within the link's limit");
    }
    let mut f = good_form(&page.csrf());
    f[2].1 = "p3@vendor.example".into();
    let r = site
        .http
        .post(&path, &as_pairs(&f), &[])
        .await
        .expect(429, "the link's limit");
    assert!(r.header("retry-after").is_some());
    assert_eq!(pending(&site.d).await.len(), 2, "the third was not created");

    // 4 requests so far; the address may make 8 a minute.
    for _ in 0..4 {
        site.http
            .get("/l/00000000000000000000000000000000")
            .await
            .expect(404, "within");
    }
    let r = site
        .http
        .get(&path)
        .await
        .expect(429, "the address's limit");
    assert!(r.body.contains("wait"), "{}", r.body);
    site.d.advance(MINUTE);
    site.http.get(&path).await.expect(200, "a minute later");
    site.stop().await;
}

#[tokio::test]
async fn bodies_are_limited_pages_escaped_and_headers_strict() {
    let site = Site::start(|c| c.web.max_body_bytes = 4096).await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");

    let big = format!("csrf={}&name={}", page.csrf(), "a".repeat(8192)).into_bytes();
    site.http
        .post_raw(&path, big)
        .await
        .expect(413, "an oversized body");

    let mut f = good_form(&page.csrf());
    f[1].1 = "<script>alert(1)</script>".into();
    f[2].1 = "not-an-email".into();
    let r = site
        .http
        .post(&path, &as_pairs(&f), &[])
        .await
        .expect(422, "a bad e-mail");
    assert!(!r.body.contains("<script>alert"), "{}", r.body);
    assert!(
        r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"email-error\""), "{}", r.body);

    for p in [
        path.as_str(),
        "/",
        "/s/0123456789abcdef0123456789abcdef",
        "/nope",
        "/static/style.css",
    ] {
        let r = site.http.get(p).await;
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {p}"));
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{p}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{p}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{p}");
    }
    // No inline script or style in any page.
    for body in [&page.body, &r.body] {
        assert!(
            !body.contains("<script>") && !body.contains("style="),
            "{body}"
        );
    }
    site.stop().await;
}

#[tokio::test]
async fn links_requests_and_emails_cannot_be_enumerated() {
    let site = Site::start(|_| {}).await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let done = site
        .http
        .post(&path, &as_pairs(&good_form(&page.csrf())), &[])
        .await
        .expect(303, "submit");
    let status = done.header("location").expect("redirect").to_string();

    // Unknown, malformed and near-miss tokens all get the same page.
    let mut flipped = status.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    let pages: Vec<String> = futures::future::join_all(
        [
            "/l/0123456789abcdef0123456789abcdef",
            "/l/short",
            "/s/0123456789abcdef0123456789abcdef",
            "/s/%3Cscript%3E",
            flipped.as_str(),
            "/s/",
        ]
        .map(|p| site.http.get(p)),
    )
    .await
    .into_iter()
    .map(|r| {
        assert_eq!(r.status, 404, "{}", r.body);
        r.body
    })
    .collect();
    assert!(
        pages.windows(2).all(|w| w[0] == w[1]),
        "every miss reads the same"
    );
    // Request ids are not addresses.
    let id = request_id(&site.http.get(&status).await.body);
    site.http
        .get(&format!("/s/{}", id.0))
        .await
        .expect(404, "a request id");
    site.http
        .get(&format!("/s/{id}"))
        .await
        .expect(404, "a request id");
    // The release of a made-up token acts on nothing.
    site.http
        .post(
            "/s/0123456789abcdef0123456789abcdef/release",
            &[("csrf", "x")],
            &[],
        )
        .await
        .expect(404, "an unknown status token");
    site.stop().await;
}

#[tokio::test]
async fn an_external_cannot_take_a_members_address() {
    let site = Site::start(|_| {}).await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let mut form = good_form(&page.csrf());
    form[2].1 = ADMIN_EMAIL.to_uppercase();
    let users = user_count(&site.d).await;
    let r = site
        .http
        .post(&path, &as_pairs(&form), &[])
        .await
        .expect(422, "a member's address");
    assert!(r.body.contains("id=\"email-error\""), "{}", r.body);
    assert_eq!(user_count(&site.d).await, users, "nothing created");
    assert!(pending(&site.d).await.is_empty());
    let admin = site
        .d
        .admin()
        .get_user(ctx(), email_ref(ADMIN_EMAIL))
        .await
        .done("the admin");
    assert_eq!(admin.role, Role::Admin, "the member is untouched");
    site.stop().await;
}

// An external's account that is no longer active (no API makes one today; a store written by
// another version could hold one) is refused too: never a second account on the same address.
#[tokio::test]
async fn an_inactive_externals_address_is_refused_not_taken_again() {
    let site = Site::start(|_| {}).await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let form = good_form(&page.csrf());
    site.http
        .post(&path, &as_pairs(&form), &[])
        .await
        .expect(303, "the first request");
    let store = site.d.broker.store();
    let mut vera = store
        .user_by_email("vera@vendor.example")
        .expect("read")
        .expect("the external");
    vera.status = UserStatus::Deactivated;
    store
        .commit(|tx| tx.put_user(&vera))
        .await
        .expect("deactivate the external");
    let users = user_count(&site.d).await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let r = site
        .http
        .post(&path, &as_pairs(&good_form(&page.csrf())), &[])
        .await
        .expect(422, "a deactivated external's address");
    assert!(r.body.contains("id=\"email-error\""), "{}", r.body);
    assert_eq!(user_count(&site.d).await, users, "nothing created");
    let now = store
        .user_by_email("vera@vendor.example")
        .expect("read")
        .expect("still there");
    assert_eq!((now.id, now.status), (vera.id, UserStatus::Deactivated));
    site.stop().await;
}

#[tokio::test]
async fn garbage_forms_get_a_clear_page_and_change_nothing() {
    let site = Site::start(|c| c.web.requests_per_minute = 1000).await;
    let path = site.db_link().await;
    let page = site.http.get(&path).await.expect(200, "link page");
    let csrf = page.csrf();
    let users = user_count(&site.d).await;
    let mut bodies: Vec<Vec<u8>> = vec![
        vec![],
        b"%%%".to_vec(),
        b"name=%FF%FE&email=%C0".to_vec(),
        b"name=a&name=b".to_vec(),
        b"=&&=&==".to_vec(),
        vec![0xff, 0x00, 0x13, 0x37],
        format!("csrf={csrf}&duration=99999999999999999999d").into_bytes(),
        format!("csrf={csrf}&ssh_key=ssh-ed25519%20AAAA").into_bytes(),
    ];
    // A small deterministic spray of printable noise.
    let mut x: u32 = 0x2545_f491;
    for _ in 0..40 {
        let n = (x % 300) as usize;
        let mut b = Vec::with_capacity(n);
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b.push(b"abc=&%20xyz019+-_.~%"[(x % 20) as usize]);
        }
        bodies.push(b);
    }
    for body in bodies {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let r = site.http.post_raw(&path, body).await;
        assert!(
            (400..500).contains(&r.status),
            "{shown:?} answered {}: {}",
            r.status,
            r.body
        );
        assert!(r.header("content-security-policy").is_some());
        let r = site
            .http
            .post_raw(
                "/s/0123456789abcdef0123456789abcdef/release",
                shown.into_bytes(),
            )
            .await;
        assert!((400..500).contains(&r.status), "release: {}", r.status);
    }
    assert_eq!(user_count(&site.d).await, users, "nothing created");
    assert!(pending(&site.d).await.is_empty());
    site.http.get(&path).await.expect(200, "still serving");
    site.stop().await;
}

#[tokio::test]
async fn held_forms_wait_a_day_for_their_confirmation_then_go() {
    // Mail goes nowhere (nothing listens on port 9): the messages wait in the outbox.
    let site = Site::start(|c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = Some(9);
        c.smtp.tls = hallpass_daemon::config::SmtpTls::None;
    })
    .await;
    let path = site.db_link().await;
    let send = || async {
        let page = site.http.get(&path).await.expect(200, "link page");
        let form = good_form(&page.csrf());
        site.http
            .post(&path, &as_pairs(&form), &[])
            .await
            .expect(200, "held for confirmation")
    };
    assert!(send().await.body.contains("Check your e-mail"));
    assert!(pending(&site.d).await.is_empty(), "nothing sent yet");
    let store = site.d.broker.store();
    let mail = store.outbox().expect("outbox");
    let confirm = mail
        .iter()
        .find(|m| m.purpose == "link.confirm")
        .expect("a confirmation mail");
    let at = confirm.text.find("/c/").expect("its link");
    let token: String = confirm.text[at..].chars().take(35).collect();
    let page = site
        .http
        .get(&token)
        .await
        .expect(200, "the confirmation page");
    assert!(page.body.contains("Send my request"), "{}", page.body);
    // A button from elsewhere is refused.
    site.http
        .post(&token, &[("csrf", "forged")], &[])
        .await
        .expect(403, "a forged confirmation");
    assert!(pending(&site.d).await.is_empty());

    // A day later the link is dead, and the next form sweeps the old one away.
    site.d.advance(25 * HOUR);
    let gone = site
        .http
        .get(&token)
        .await
        .expect(410, "an expired confirmation");
    assert!(gone.body.contains("no longer works"), "{}", gone.body);
    assert_eq!(store.link_submissions().expect("held").len(), 1);
    send().await;
    let held = store.link_submissions().expect("held");
    assert_eq!(held.len(), 1, "only the new form is kept");
    assert_eq!(held[0].created_at, site.d.broker.now());
    site.stop().await;
}
