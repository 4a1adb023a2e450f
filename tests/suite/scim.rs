//! The SCIM 2.0 server over real HTTP (the daemon's site served in-process on loopback, a
//! manual clock): the token is made once, rotated and revoked over RPC; every endpoint answers
//! as RFC 7643/7644 says; users and groups pushed the way Okta and Entra ID push them become
//! hallpass users and groups (enterprise manager, membership, `active=false` deprovisioning
//! that revokes access); every filter operator and paging parameter works; and malformed JSON,
//! unknown attributes, bad filters, conflicts and wrong tokens get the RFC's error with its
//! `scimType` and change nothing.

use std::time::Duration;

use hallpass_core::grant::GrantStatus;
use hallpass_core::user::{Role, UserStatus};
use hallpass_proto::{GroupView, UserQuery, UserView};
use serde_json::{Value, json};

use crate::support::harness::*;
use crate::support::web::*;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A SCIM answer: status, headers and the JSON body (`Null` when there is none).
struct Reply {
    status: u16,
    resp: Resp,
    json: Value,
}

impl Reply {
    fn expect(self, status: u16, what: &str) -> Value {
        assert_eq!(
            self.status, status,
            "{what}: expected HTTP {status}, got {} with {}",
            self.status, self.resp.body
        );
        self.json
    }

    /// Asserts an RFC 7644 §3.12 error: the status, the `scimType` (when one is expected) and
    /// the error schema, with the SCIM media type.
    fn error(self, status: u16, scim_type: Option<&str>, what: &str) -> Value {
        let body = self.json.clone();
        let resp_type = self.resp.header("content-type").map(str::to_string);
        let v = self.expect(status, what);
        assert_eq!(v["schemas"], json!([ERROR]), "{what}: {body}");
        assert_eq!(v["status"], json!(status.to_string()), "{what}: {body}");
        match scim_type {
            Some(t) => assert_eq!(v["scimType"], json!(t), "{what}: {body}"),
            None => assert!(v.get("scimType").is_none(), "{what}: {body}"),
        }
        assert!(
            v["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: an error says what is wrong: {body}"
        );
        assert_eq!(
            resp_type.as_deref(),
            Some("application/scim+json"),
            "{what}: errors are SCIM JSON too"
        );
        v
    }
}

/// A site with SCIM on and a token made.
struct Scim {
    site: Site,
    token: String,
}

impl Scim {
    async fn start() -> Scim {
        let site = Site::start(|c| c.scim.enabled = true).await;
        let made = site
            .d
            .admin()
            .create_scim_token(ctx(), false)
            .await
            .done("make the SCIM token");
        Scim {
            site,
            token: made.token,
        }
    }

    fn d(&self) -> &TestDaemon {
        &self.site.d
    }

    async fn call_with(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.call_with_headers(token, method, path, &[], body).await
    }

    /// [`Self::call_with`] with `extra` headers.
    async fn call_with_headers(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("accept", "application/scim+json")];
        headers.extend_from_slice(extra);
        if body.is_some() {
            headers.push(("content-type", "application/scim+json"));
        }
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let resp = self
            .site
            .http
            .send(method, &format!("/scim/v2{path}"), &headers, body)
            .await;
        let json = if resp.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&resp.body).unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: the answer is not JSON ({e}): {}",
                    resp.body
                )
            })
        };
        if !resp.body.is_empty() {
            assert_eq!(
                resp.header("content-type"),
                Some("application/scim+json"),
                "{method} {path}"
            );
        }
        Reply {
            status: resp.status,
            resp,
            json,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.call_with(Some(&self.token), method, path, bytes).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call("GET", path, None)
            .await
            .expect(200, &format!("GET {path}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call("POST", path, Some(body))
            .await
            .expect(201, &format!("POST {path}"))
    }

    async fn patch(&self, path: &str, ops: Value) -> Value {
        self.call(
            "PATCH",
            path,
            Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
        )
        .await
        .expect(200, &format!("PATCH {path}"))
    }

    /// Creates a user with `userName`, e-mail `{login}@example.com` and `extra` merged in.
    async fn user(&self, login: &str, extra: Value) -> Value {
        let mut body = json!({
            "schemas": [USER],
            "userName": login,
            "name": {"givenName": login, "familyName": "Test"},
            "emails": [{"value": format!("{login}@example.com"), "type": "work", "primary": true}],
            "active": true,
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        self.post("/Users", body).await
    }

    /// The hallpass user with this e-mail, as an admin sees them.
    async fn hallpass_user(&self, email: &str) -> UserView {
        self.d()
            .admin()
            .get_user(ctx(), email_ref(email))
            .await
            .done(&format!("the hallpass user {email}"))
    }

    async fn hallpass_group(&self, name: &str) -> Option<GroupView> {
        self.d()
            .admin()
            .list_groups(ctx())
            .await
            .done("list groups")
            .into_iter()
            .find(|g| g.name.as_str() == name)
    }

    /// What must not change when a request is refused: users, groups, SCIM resources, audit.
    async fn state(&self) -> (Vec<UserView>, Vec<GroupView>, Value, Value, u64) {
        let users = self
            .d()
            .admin()
            .list_users(ctx(), UserQuery::default())
            .await
            .done("list users")
            .items;
        let groups = self
            .d()
            .admin()
            .list_groups(ctx())
            .await
            .done("list groups");
        let mut scim_users = self.get("/Users").await;
        let mut scim_groups = self.get("/Groups").await;
        for v in [&mut scim_users, &mut scim_groups] {
            v.as_object_mut().map(|o| o.remove("itemsPerPage"));
        }
        (
            users,
            groups,
            scim_users,
            scim_groups,
            self.d().audit_head(),
        )
    }
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a resource has an id: {v}"))
        .to_string()
}

fn user_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("a list response: {list}"))
        .iter()
        .map(|r| r["userName"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn the_token_is_shown_once_and_rotation_and_revocation_cut_off_the_old_one() {
    let site = Site::start(|c| c.scim.enabled = true).await;
    let admin = site.d.admin();
    let s = Scim {
        token: String::new(),
        site,
    };
    // Before any token exists, SCIM refuses everyone.
    s.call_with(Some("anything"), "GET", "/Users", None)
        .await
        .error(401, None, "no token made yet");

    let first = admin
        .create_scim_token(ctx(), false)
        .await
        .done("make the token");
    assert!(first.token.starts_with("hallpass_scim_"), "{}", first.token);
    assert!(first.token.len() >= 14 + 64, "256 random bits");
    assert_eq!(first.url, format!("{}/scim/v2", s.site.http.base));
    assert!(!first.replaced);
    s.call_with(Some(&first.token), "GET", "/Users", None)
        .await
        .expect(200, "the new token works");

    // A second token needs --rotate, so nobody cuts off a working IdP by accident.
    let again = admin
        .create_scim_token(ctx(), false)
        .await
        .refused("a second token without rotate");
    assert_eq!(again.kind(), "conflict", "{again}");
    assert!(again.to_string().contains("--rotate"), "{again}");

    let second = admin
        .create_scim_token(ctx(), true)
        .await
        .done("rotate the token");
    assert!(second.replaced);
    assert_ne!(second.token, first.token);
    let refused = s.call_with(Some(&first.token), "GET", "/Users", None).await;
    assert_eq!(
        refused.resp.header("www-authenticate"),
        Some("Bearer realm=\"hallpass-scim\"")
    );
    refused.error(401, None, "the rotated-out token");
    s.call_with(Some(&second.token), "GET", "/Users", None)
        .await
        .expect(200, "the rotated-in token");

    // Wrong scheme, no header, and a token that is almost right are all refused.
    for (what, header) in [
        ("basic auth", format!("Basic {}", second.token)),
        ("an empty bearer", "Bearer ".to_string()),
        ("one character off", format!("Bearer {}x", second.token)),
    ] {
        let resp = s
            .site
            .http
            .send(
                "GET",
                "/scim/v2/Users",
                &[("authorization", header.as_str())],
                None,
            )
            .await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.body);
    }
    s.call_with(None, "GET", "/ServiceProviderConfig", None)
        .await
        .error(401, None, "no Authorization header");

    admin
        .revoke_scim_token(ctx())
        .await
        .done("revoke the token");
    s.call_with(Some(&second.token), "GET", "/Users", None)
        .await
        .error(401, None, "the revoked token");
    let none = admin
        .revoke_scim_token(ctx())
        .await
        .refused("revoking when there is none");
    assert_eq!(none.kind(), "not_found");

    // Audited, and the token text is nowhere in the log.
    for action in [
        "scim.token_create",
        "scim.token_rotate",
        "scim.token_revoke",
    ] {
        assert_eq!(s.d().audit(action).await.len(), 1, "{action}");
    }
    let refusals = s.d().audit("scim.auth_refuse").await;
    assert_eq!(
        refusals.len(),
        1,
        "refusals are audited at most once a minute"
    );
    let log = format!("{:?}", s.d().audit_log().await);
    for t in [&first.token, &second.token] {
        assert!(!log.contains(t.as_str()), "a token reached the audit log");
        assert!(!log.contains(&t["hallpass_scim_".len()..]));
    }

    // A grantee may not make one.
    s.d().add_user(2001, "g@example.com", Role::Grantee).await;
    let e = s
        .d()
        .client(2001)
        .create_scim_token(ctx(), true)
        .await
        .refused("a grantee makes a token");
    assert_eq!(e.kind(), "forbidden");
    s.d().assert_audit_intact().await;
}

#[tokio::test]
async fn a_token_needs_the_scim_server_on() {
    let off = Site::start(|c| c.scim.enabled = false).await;
    let e = off
        .d
        .admin()
        .create_scim_token(ctx(), false)
        .await
        .refused("SCIM is off");
    assert_eq!(e.kind(), "conflict");
    assert!(e.to_string().contains("[scim] enabled"), "{e}");
    // With SCIM off the site serves no SCIM routes at all.
    let resp = off.http.get("/scim/v2/Users").await;
    assert_eq!(resp.status, 404, "{}", resp.body);
    assert_ne!(resp.header("content-type"), Some("application/scim+json"));
}

#[tokio::test]
async fn discovery_documents_describe_what_the_server_supports() {
    let s = Scim::start().await;
    let base = format!("{}/scim/v2", s.site.http.base);

    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert!(spc["filter"]["maxResults"].as_u64().is_some_and(|m| m > 0));
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["changePassword"]["supported"], false);
    assert!(
        spc["authenticationSchemes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["type"] == "oauthbearertoken")),
        "{spc}"
    );

    let types = s.get("/ResourceTypes").await;
    assert_eq!(types["schemas"], json!([LIST]));
    assert_eq!(types["totalResults"], 2);
    let user_type = s.get("/ResourceTypes/User").await;
    assert_eq!(user_type["endpoint"], "/Users");
    assert_eq!(user_type["schema"], USER);
    assert_eq!(user_type["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert_eq!(
        user_type["meta"]["location"],
        format!("{base}/ResourceTypes/User")
    );
    assert_eq!(s.get("/ResourceTypes/Group").await["schema"], GROUP);

    let schemas = s.get("/Schemas").await;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for want in [USER, GROUP, ENTERPRISE] {
        assert!(ids.contains(&want), "{want} in {ids:?}");
    }
    let user_schema = s.get(&format!("/Schemas/{USER}")).await;
    let attrs: Vec<&str> = user_schema["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for want in ["userName", "name", "emails", "active", "groups"] {
        assert!(attrs.contains(&want), "{want} in {attrs:?}");
    }
    let manager = &s.get(&format!("/Schemas/{ENTERPRISE}")).await["attributes"];
    assert!(manager.to_string().contains("\"manager\""), "{manager}");

    s.call("GET", "/ResourceTypes/Printer", None).await.error(
        404,
        None,
        "an unknown resource type",
    );
    s.call("GET", "/Schemas/urn:example:nope", None)
        .await
        .error(404, None, "an unknown schema");
    s.call("GET", "/Printers", None)
        .await
        .error(404, None, "an unknown endpoint");
    s.call("DELETE", "/ServiceProviderConfig", None)
        .await
        .error(405, None, "a method the endpoint does not take");
}

#[tokio::test]
async fn users_are_created_read_replaced_patched_and_deleted_as_hallpass_users() {
    let s = Scim::start().await;
    let boss = s
        .user(
            "grace",
            json!({"externalId": "okta-00u1", "title": "Director"}),
        )
        .await;
    let boss_id = id_of(&boss);
    assert_eq!(boss["schemas"], json!([USER]));
    assert_eq!(boss["externalId"], "okta-00u1");
    assert_eq!(boss["meta"]["resourceType"], "User");
    assert_eq!(boss["meta"]["version"], "W/\"1\"");

    // Entra ID style: the enterprise extension with a bare manager id, booleans as strings.
    let created = s
        .call(
            "POST",
            "/Users",
            Some(json!({
                "schemas": [USER, ENTERPRISE],
                "userName": "ada",
                "active": "True",
                "displayName": "Ada Lovelace",
                "emails": [{"value": "Ada@Example.com", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}],
                "password": "never-stored",
                ENTERPRISE: {"manager": boss_id, "department": "Analytical Engines"},
            })),
        )
        .await;
    let location = created.resp.header("location").map(str::to_string);
    let ada = created.expect(201, "create ada");
    let ada_id = id_of(&ada);
    assert_eq!(
        location.as_deref(),
        Some(format!("{}/scim/v2/Users/{ada_id}", s.site.http.base).as_str())
    );
    assert_eq!(ada["meta"]["location"].as_str(), location.as_deref());
    assert_eq!(ada["active"], true);
    assert_eq!(ada[ENTERPRISE]["manager"]["value"], boss_id);
    assert!(
        ada.get("password").is_none(),
        "passwords are never kept: {ada}"
    );
    assert_eq!(ada["schemas"], json!([USER, ENTERPRISE]));

    // The hallpass side: a grantee of source scim with login, phone and manager.
    let u = s.hallpass_user("ada@example.com").await;
    assert_eq!(u.id.0.to_string(), ada_id, "the SCIM id is the user id");
    assert_eq!(
        (u.name.as_str(), u.role, u.status),
        ("Ada Lovelace", Role::Grantee, UserStatus::Active)
    );
    assert_eq!(u.login.as_deref(), Some("ada"));
    assert_eq!(u.phone.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(u.manager_email.as_deref(), Some("grace@example.com"));
    assert_eq!(
        u.sources.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        ["scim"]
    );
    assert_eq!(s.d().audit("identity.create").await.len(), 2);

    // Read it back, with attribute projection.
    let read = s.get(&format!("/Users/{ada_id}")).await;
    assert_eq!(read["userName"], "ada");
    assert_eq!(read["emails"][0]["value"], "Ada@Example.com");
    let slim = s.get(&format!("/Users/{ada_id}?attributes=userName")).await;
    let mut keys: Vec<&str> = slim
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let no_emails = s
        .get(&format!("/Users/{ada_id}?excludedAttributes=emails,meta"))
        .await;
    assert!(no_emails.get("emails").is_none() && no_emails.get("meta").is_none());
    assert_eq!(no_emails["userName"], "ada");

    // PUT replaces the whole resource: the manager and phone go, the name changes.
    s.d().advance(Duration::from_secs(60));
    let replaced = s
        .call(
            "PUT",
            &format!("/Users/{ada_id}"),
            Some(json!({
                "schemas": [USER],
                "userName": "ada",
                "name": {"givenName": "Augusta", "familyName": "King"},
                "emails": [{"value": "ada@example.com", "primary": true}],
                "active": true,
            })),
        )
        .await
        .expect(200, "replace ada");
    assert_eq!(replaced["meta"]["version"], "W/\"2\"");
    assert_ne!(
        replaced["meta"]["lastModified"],
        replaced["meta"]["created"]
    );
    assert!(replaced.get(ENTERPRISE).is_none());
    let u = s.hallpass_user("ada@example.com").await;
    assert_eq!(u.name, "Augusta King");
    assert_eq!((u.manager, u.phone.as_deref()), (None, None));

    // PATCH, the forms the IdPs send.
    // RFC form with a path, and Entra's capitalised op with a dotted path-less key.
    s.patch(
        &format!("/Users/{ada_id}"),
        json!([
            {"op": "add", "path": "title", "value": "Countess"},
            {"op": "Replace", "value": {"name.givenName": "Ada"}},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "unused@example.com"},
        ]),
    )
    .await;
    let u = s.hallpass_user("ada@example.com").await;
    assert_eq!(u.name, "Ada King", "the given name was replaced");
    let read = s.get(&format!("/Users/{ada_id}")).await;
    assert_eq!(read["title"], "Countess");
    // Entra sets the manager as a bare string under the extension's path.
    s.patch(
        &format!("/Users/{ada_id}"),
        json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": boss_id}]),
    )
    .await;
    assert_eq!(
        s.hallpass_user("ada@example.com")
            .await
            .manager_email
            .as_deref(),
        Some("grace@example.com")
    );
    // remove with a path, and a remove that matches nothing (changes nothing, still 200).
    let before = s.get(&format!("/Users/{ada_id}")).await;
    let after = s
        .patch(
            &format!("/Users/{ada_id}"),
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .await;
    assert_eq!(before["meta"]["version"], after["meta"]["version"]);
    s.patch(
        &format!("/Users/{ada_id}"),
        json!([{"op": "remove", "path": "title"}]),
    )
    .await;
    assert!(
        s.get(&format!("/Users/{ada_id}"))
            .await
            .get("title")
            .is_none()
    );

    // Okta deprovisions with a path-less replace; Entra with "False" on the path.
    s.patch(
        &format!("/Users/{ada_id}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    assert_eq!(
        s.hallpass_user("ada@example.com").await.status,
        UserStatus::Deactivated
    );
    assert_eq!(s.get(&format!("/Users/{ada_id}")).await["active"], false);
    s.patch(
        &format!("/Users/{ada_id}"),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    assert_eq!(
        s.hallpass_user("ada@example.com").await.status,
        UserStatus::Active
    );
    s.patch(
        &format!("/Users/{ada_id}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(
        s.hallpass_user("ada@example.com").await.status,
        UserStatus::Deactivated
    );
    assert_eq!(s.d().audit("identity.deactivate").await.len(), 2);
    assert_eq!(s.d().audit("identity.reactivate").await.len(), 1);

    // DELETE: 204, gone from SCIM, deleted in hallpass, and a second DELETE is 404.
    let gone = s.call("DELETE", &format!("/Users/{ada_id}"), None).await;
    assert_eq!(gone.status, 204, "{}", gone.resp.body);
    assert!(gone.resp.body.is_empty());
    s.call("GET", &format!("/Users/{ada_id}"), None)
        .await
        .error(404, None, "a deleted user");
    s.call("DELETE", &format!("/Users/{ada_id}"), None)
        .await
        .error(404, None, "deleting twice");
    // The hallpass account stays (its history is audit evidence), deactivated.
    let deleted = s.hallpass_user("ada@example.com").await;
    assert_eq!(deleted.status, UserStatus::Deactivated);
    assert!(deleted.groups.is_empty());

    // The same person pushed again is linked to their old account, not duplicated.
    let back = s.user("ada", json!({})).await;
    assert_eq!(id_of(&back), ada_id, "reuses the account this source made");
    assert_eq!(
        s.hallpass_user("ada@example.com").await.status,
        UserStatus::Active
    );
    s.d().assert_audit_intact().await;
}

#[tokio::test]
async fn groups_carry_membership_both_ways_in_every_patch_form() {
    let s = Scim::start().await;
    let mut ids = Vec::new();
    for login in ["ann", "bob", "cat", "dan"] {
        ids.push(id_of(&s.user(login, json!({})).await));
    }
    let member = |i: usize| json!({"value": ids[i], "display": "x"});

    let g = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Platform Team", "externalId": "grp-1",
                   "members": [member(0), member(1)]}),
        )
        .await;
    let gid = id_of(&g);
    assert_eq!(g["meta"]["resourceType"], "Group");
    let hp = s
        .hallpass_group("platform-team")
        .await
        .expect("the group exists in hallpass under a slug of its name");
    let mut members: Vec<String> = hp.members.iter().map(|m| m.email.clone()).collect();
    members.sort();
    assert_eq!(members, ["ann@example.com", "bob@example.com"]);
    // A user's read-only `groups` shows the membership.
    let ann = s.get(&format!("/Users/{}", ids[0])).await;
    assert_eq!(ann["groups"][0]["value"], gid);
    assert_eq!(ann["groups"][0]["display"], "Platform Team");
    assert_eq!(
        s.hallpass_user("ann@example.com").await.groups,
        [group_name("platform-team")]
    );

    let emails = |g: GroupView| {
        let mut v: Vec<String> = g.members.iter().map(|m| m.email.clone()).collect();
        v.sort();
        v
    };
    let path = format!("/Groups/{gid}");
    // Okta adds with a path, and removes by value filter.
    s.patch(
        &path,
        json!([{"op": "add", "path": "members", "value": [member(2)]}]),
    )
    .await;
    s.patch(
        &path,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}]),
    )
    .await;
    assert_eq!(
        emails(s.hallpass_group("platform-team").await.expect("group")),
        ["bob@example.com", "cat@example.com"]
    );
    assert!(s.hallpass_user("ann@example.com").await.groups.is_empty());
    // Entra removes with a value list and a capitalised op; Okta renames with a path-less
    // replace that repeats the id.
    s.patch(
        &path,
        json!([
            {"op": "Remove", "path": "members", "value": [{"value": ids[1]}]},
            {"op": "replace", "value": {"id": gid, "displayName": "Platform Engineers"}},
            {"op": "Add", "path": "members", "value": [member(3)]},
        ]),
    )
    .await;
    let renamed = s.get(&path).await;
    assert_eq!(renamed["displayName"], "Platform Engineers");
    let members: Vec<String> = renamed["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["value"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(members, [ids[2].clone(), ids[3].clone()]);
    assert!(s.hallpass_group("platform-team").await.is_none());
    assert_eq!(
        emails(
            s.hallpass_group("platform-engineers")
                .await
                .expect("a rename renames the hallpass group")
        ),
        ["cat@example.com", "dan@example.com"]
    );
    assert_eq!(
        s.hallpass_user("cat@example.com").await.groups,
        [group_name("platform-engineers")]
    );

    // PUT replaces the members wholesale; a member that is no SCIM user is refused.
    s.call(
        "PUT",
        &path,
        Some(json!({"schemas": [GROUP], "displayName": "Platform Engineers", "members": [member(0)]})),
    )
    .await
    .expect(200, "replace the group");
    assert_eq!(
        emails(s.hallpass_group("platform-engineers").await.expect("group")),
        ["ann@example.com"]
    );
    let before = s.state().await;
    s.call(
        "PATCH",
        &path,
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "members", "value": [member(1)]},
            {"op": "add", "path": "members", "value": [{"value": "99999"}]},
        ]})),
    )
    .await
    .error(400, Some("invalidValue"), "a member that does not exist");
    assert_eq!(
        s.state().await,
        before,
        "the first operation was not applied"
    );

    // A filter on groups, and membership by filter.
    let found = s
        .get("/Groups?filter=displayName%20eq%20%22platform%20engineers%22")
        .await;
    assert_eq!(
        found["totalResults"], 1,
        "string filters are case-insensitive"
    );
    let by_member = s
        .get(&format!(
            "/Groups?filter=members%5Bvalue%20eq%20%22{}%22%5D",
            ids[0]
        ))
        .await;
    assert_eq!(by_member["totalResults"], 1);

    // Deleting the group empties it in hallpass and drops it from users.
    let gone = s.call("DELETE", &path, None).await;
    assert_eq!(gone.status, 204, "{}", gone.resp.body);
    assert!(s.hallpass_group("platform-engineers").await.is_none());
    assert!(s.hallpass_user("ann@example.com").await.groups.is_empty());
    assert!(
        s.get(&format!("/Users/{}", ids[0]))
            .await
            .get("groups")
            .is_none()
    );
    s.d().assert_audit_intact().await;
}

#[tokio::test]
async fn every_filter_operator_and_paging_parameter_selects_what_it_says() {
    let s = Scim::start().await;
    let mut created = Vec::new();
    for (i, login) in ["alice", "albert", "bella", "carla", "dora"]
        .iter()
        .enumerate()
    {
        let extra = match *login {
            "bella" => json!({"title": "Engineer", "active": false}),
            "carla" => json!({"title": "Engineering Manager", "externalId": "ext-carla"}),
            _ => json!({}),
        };
        let u = s.user(login, extra).await;
        created.push(u["meta"]["created"].as_str().expect("created").to_string());
        // Distinct creation times, for gt/lt.
        s.d().advance(Duration::from_secs(60 * (i as u64 + 1)));
    }

    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "alice""#, &["alice"]),
        (r#"USERNAME eq "ALICE""#, &["alice"]),
        (
            r#"userName ne "alice""#,
            &["albert", "bella", "carla", "dora"],
        ),
        (r#"userName co "ar""#, &["carla"]),
        (r#"userName sw "al""#, &["albert", "alice"]),
        (r#"userName ew "a""#, &["bella", "carla", "dora"]),
        ("title pr", &["bella", "carla"]),
        ("externalId pr", &["carla"]),
        (r#"title sw "Engineer" and active eq true"#, &["carla"]),
        (
            r#"userName eq "dora" or title eq "Engineer""#,
            &["bella", "dora"],
        ),
        (r#"not (userName sw "al")"#, &["bella", "carla", "dora"]),
        (
            r#"userName sw "a" or (userName sw "b" and not (active eq true))"#,
            &["albert", "alice", "bella"],
        ),
        ("active eq false", &["bella"]),
        (
            r#"emails[type eq "work" and value ew "@example.com"]"#,
            &["albert", "alice", "bella", "carla", "dora"],
        ),
        (r#"emails.value eq "dora@example.com""#, &["dora"]),
        (r#"name.givenName eq "bella""#, &["bella"]),
        (r#"externalId eq "ext-carla""#, &["carla"]),
        (r#"userName gt "c""#, &["carla", "dora"]),
        (r#"userName lt "b""#, &["albert", "alice"]),
    ];
    for (filter, want) in cases {
        let q = encode(filter);
        let got = s.get(&format!("/Users?filter={q}")).await;
        assert_eq!(user_names(&got), strings(want), "filter {filter}");
        assert_eq!(got["totalResults"], want.len(), "filter {filter}");
    }
    // Dates compare as dates: gt/lt on meta.created and ge/le.
    let dated: &[(String, &[&str])] = &[
        (
            format!(r#"meta.created gt "{}""#, created[2]),
            &["carla", "dora"],
        ),
        (format!(r#"meta.created lt "{}""#, created[1]), &["alice"]),
        (
            format!(r#"meta.created ge "{}""#, created[3]),
            &["carla", "dora"],
        ),
        (format!(r#"meta.created le "{}""#, created[0]), &["alice"]),
        (
            format!(
                r#"meta.lastModified gt "{}" and userName sw "a""#,
                created[0]
            ),
            &["albert"],
        ),
    ];
    for (filter, want) in dated {
        let got = s.get(&format!("/Users?filter={}", encode(filter))).await;
        assert_eq!(user_names(&got), strings(want), "filter {filter}");
    }

    // Paging: startIndex is 1-based; count caps the page; totalResults counts the matches.
    let all = s.get("/Users").await;
    assert_eq!(all["totalResults"], 5);
    assert_eq!(all["startIndex"], 1);
    let order: Vec<String> = all["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["userName"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let page = s.get(&format!("/Users?startIndex={start}&count=2")).await;
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["startIndex"], start);
        let items = page["Resources"].as_array().expect("resources").clone();
        assert_eq!(page["itemsPerPage"], items.len());
        if items.is_empty() {
            break;
        }
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|r| r["userName"].as_str().unwrap_or_default().to_string()),
        );
        start += 2;
    }
    assert_eq!(seen, order, "the pages cover the list once, in order");
    let counted = s.get("/Users?count=0").await;
    assert_eq!(counted["totalResults"], 5);
    assert_eq!(
        counted["itemsPerPage"], 0,
        "count=0 asks only for the total"
    );
    let filtered_page = s
        .get(&format!(
            "/Users?filter={}&startIndex=2&count=1",
            encode(r#"userName sw "al""#)
        ))
        .await;
    assert_eq!(filtered_page["totalResults"], 2);
    assert_eq!(user_names(&filtered_page).len(), 1);
    // Out-of-range values are clamped as the RFC says, not refused.
    let clamped = s.get("/Users?startIndex=0&count=-5").await;
    assert_eq!(
        (
            clamped["startIndex"].clone(),
            clamped["itemsPerPage"].clone()
        ),
        (json!(1), json!(0))
    );
}

/// A refused request: method, path, body, status, `scimType`, what it is.
type BadCase = (
    &'static str,
    String,
    Option<Vec<u8>>,
    u16,
    Option<&'static str>,
    &'static str,
);

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[tokio::test]
async fn bad_requests_get_the_rfc_error_and_change_nothing() {
    let s = Scim::start().await;
    let ann = id_of(&s.user("ann", json!({})).await);
    s.user("bob", json!({})).await;
    let gid = id_of(
        &s.post(
            "/Groups",
            json!({"displayName": "Ops", "members": [{"value": ann}]}),
        )
        .await,
    );
    let before = s.state().await;

    let raw = |b: &str| Some(b.as_bytes().to_vec());
    let user_path = format!("/Users/{ann}");
    let group_path = format!("/Groups/{gid}");
    let cases: Vec<BadCase> = vec![
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": "),
            400,
            Some("invalidSyntax"),
            "truncated JSON",
        ),
        (
            "POST",
            "/Users".into(),
            raw("[1, 2]"),
            400,
            Some("invalidSyntax"),
            "not an object",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": \"zed\", \"shoeSize\": 44}"),
            400,
            Some("invalidSyntax"),
            "an unknown attribute",
        ),
        (
            "POST",
            "/Users".into(),
            raw(
                "{\"userName\": \"zed\", \"emails\": [{\"value\": \"z@example.com\", \"colour\": \"red\"}]}",
            ),
            400,
            Some("invalidSyntax"),
            "an unknown sub-attribute",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": \"zed\", \"urn:example:custom:2.0:User\": {\"x\": 1}}"),
            400,
            Some("invalidSyntax"),
            "an unknown extension",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"emails\": [{\"value\": \"z@example.com\"}]}"),
            400,
            Some("invalidValue"),
            "no userName",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": \"zed\"}"),
            400,
            Some("invalidValue"),
            "no e-mail at all",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": \"zed\", \"active\": \"maybe\"}"),
            400,
            Some("invalidValue"),
            "a boolean that is not one",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": \"ann\", \"emails\": [{\"value\": \"other@example.com\"}]}"),
            409,
            Some("uniqueness"),
            "a taken userName",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": \"zed\", \"emails\": [{\"value\": \"BOB@example.com\"}]}"),
            409,
            Some("uniqueness"),
            "a taken e-mail",
        ),
        (
            "POST",
            "/Users".into(),
            raw("{\"userName\": \"admin\", \"emails\": [{\"value\": \"admin@example.com\"}]}"),
            409,
            Some("uniqueness"),
            "the e-mail of a local account",
        ),
        (
            "PUT",
            user_path.clone(),
            raw("{\"userName\": \"bob\", \"emails\": [{\"value\": \"ann@example.com\"}]}"),
            409,
            Some("uniqueness"),
            "renaming onto a taken userName",
        ),
        (
            "PUT",
            "/Users/424242".into(),
            raw("{\"userName\": \"zed\", \"emails\": [{\"value\": \"z@example.com\"}]}"),
            404,
            None,
            "replacing a user that does not exist",
        ),
        (
            "PATCH",
            user_path.clone(),
            raw(
                "{\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"replace\", \"path\": \"id\", \"value\": \"9\"}]}",
            ),
            400,
            Some("mutability"),
            "patching the id",
        ),
        (
            "PATCH",
            user_path.clone(),
            raw(
                "{\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"add\", \"path\": \"shoeSize\", \"value\": 9}]}",
            ),
            400,
            Some("invalidPath"),
            "patching an unknown attribute",
        ),
        (
            "PATCH",
            user_path.clone(),
            raw(
                "{\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"replace\", \"path\": \"emails[\", \"value\": \"x\"}]}",
            ),
            400,
            Some("invalidPath"),
            "a broken path",
        ),
        (
            "PATCH",
            user_path.clone(),
            raw(
                "{\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"remove\"}]}",
            ),
            400,
            Some("noTarget"),
            "a remove with no path",
        ),
        (
            "PATCH",
            user_path.clone(),
            raw(
                "{\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"move\", \"path\": \"title\"}]}",
            ),
            400,
            Some("invalidSyntax"),
            "an op that is not one",
        ),
        (
            "PATCH",
            user_path.clone(),
            raw(
                "{\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"add\", \"path\": \"title\", \"value\": \"x\"}, {\"op\": \"replace\", \"path\": \"meta.created\", \"value\": \"x\"}]}",
            ),
            400,
            Some("mutability"),
            "a good op then a bad one",
        ),
        (
            "PATCH",
            user_path.clone(),
            raw("{\"Operations\": \"nope\"}"),
            400,
            Some("invalidSyntax"),
            "a PatchOp that is not one",
        ),
        (
            "PATCH",
            group_path.clone(),
            raw(
                "{\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"add\", \"path\": \"userName\", \"value\": \"x\"}]}",
            ),
            400,
            Some("invalidPath"),
            "a user attribute on a group",
        ),
        (
            "POST",
            "/Groups".into(),
            raw("{\"members\": []}"),
            400,
            Some("invalidValue"),
            "a group with no displayName",
        ),
        (
            "POST",
            "/Groups".into(),
            raw("{\"displayName\": \"Ops\"}"),
            409,
            Some("uniqueness"),
            "a taken group name",
        ),
        (
            "GET",
            format!("/Users?filter={}", encode("userName eq")),
            None,
            400,
            Some("invalidFilter"),
            "a filter with no value",
        ),
        (
            "GET",
            format!("/Users?filter={}", encode("userName zz \"a\"")),
            None,
            400,
            Some("invalidFilter"),
            "an unknown operator",
        ),
        (
            "GET",
            format!("/Users?filter={}", encode("shoeSize eq 9")),
            None,
            400,
            Some("invalidFilter"),
            "a filter on an unknown attribute",
        ),
        (
            "GET",
            format!("/Users?filter={}", encode("(userName eq \"a\"")),
            None,
            400,
            Some("invalidFilter"),
            "an unclosed parenthesis",
        ),
        (
            "GET",
            format!("/Users?filter={}", encode("userName eq \"a\" and")),
            None,
            400,
            Some("invalidFilter"),
            "a dangling and",
        ),
        (
            "GET",
            format!("/Users?filter={}", encode("meta.created gt \"yesterday\"")),
            None,
            400,
            Some("invalidFilter"),
            "a date that is not one",
        ),
        (
            "GET",
            "/Users?count=ten".into(),
            None,
            400,
            Some("invalidValue"),
            "a count that is not a number",
        ),
        (
            "GET",
            "/Users/not-a-number".into(),
            None,
            404,
            None,
            "an id that is no user",
        ),
        (
            "GET",
            "/Groups/424242".into(),
            None,
            404,
            None,
            "a group that does not exist",
        ),
    ];
    for (method, path, body, status, scim_type, what) in cases {
        s.call_with(Some(&s.token), method, &path, body)
            .await
            .error(status, scim_type, what);
        assert_eq!(s.state().await, before, "{what} changed something");
    }

    // A body over the limit is refused before it is read.
    let huge = format!(
        "{{\"userName\": \"zed\", \"displayName\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    // As a client uploading that much should: `Expect: 100-continue`, so the refusal comes
    // before the body is sent (without it, the server closing on the unread body can cut the
    // client off mid-upload, before it reads the 413).
    s.call_with_headers(
        Some(&s.token),
        "POST",
        "/Users",
        &[("expect", "100-continue")],
        Some(huge.into_bytes()),
    )
    .await
    .error(413, None, "a body over scim.max_body_bytes");
    // A wrong token changes nothing either, even with a good body.
    s.call_with(
        Some("hallpass_scim_wrong"),
        "POST",
        "/Users",
        Some(
            json!({"userName": "zed", "emails": [{"value": "z@example.com"}]})
                .to_string()
                .into_bytes(),
        ),
    )
    .await
    .error(401, None, "a wrong token");
    assert_eq!(s.state().await.0, before.0);
    s.d().assert_audit_intact().await;
}

#[tokio::test]
async fn deprovisioning_cancels_pending_requests_and_revokes_access() {
    let s = Scim::start().await;
    s.d().put_flow(auto_flow("quick")).await;
    s.d()
        .put_flow(flow(
            "slow",
            hallpass_core::flow::ApprovalRule::AnyOf,
            vec![hallpass_core::flow::Approver::Admins],
        ))
        .await;
    // `daemon` (uid 1) is an OS user on every Debian system: the SCIM person with that login
    // becomes them on first contact.
    let pushed = s.user("daemon", json!({})).await;
    let id = id_of(&pushed);
    let who = s
        .d()
        .client(1)
        .whoami(ctx())
        .await
        .done("first contact as the OS user daemon");
    assert_eq!(
        who.user.as_ref().map(|u| u.id.0.to_string()),
        Some(id.clone())
    );

    // Leaving a group the flow is for revokes what the group gave.
    let gid = id_of(
        &s.post(
            "/Groups",
            json!({"displayName": "DBAs", "members": [{"value": id}]}),
        )
        .await,
    );
    let mut for_dbas = auto_flow("dbas-only");
    for_dbas.requestors = hallpass_core::flow::Requestors {
        everyone: false,
        users: vec![],
        groups: vec![group_name("dbas")],
    };
    s.d().put_flow(for_dbas).await;
    let by_group = s
        .d()
        .request(1, "dbas-only", &target("db", "write"), None)
        .await;
    let group_grant = only_grant(&by_group);
    s.d().wait_grant(group_grant, GrantStatus::Active).await;
    s.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
    )
    .await;
    let ended = s.d().wait_grant(group_grant, GrantStatus::Revoked).await;
    assert!(
        format!("{:?}", ended.end_reason).contains("left group dbas"),
        "{ended:?}"
    );

    let active = s.d().request(1, "quick", &target("db", "read"), None).await;
    let grant = only_grant(&active);
    s.d().wait_grant(grant, GrantStatus::Active).await;
    let pending = s
        .d()
        .request(1, "slow", &target("logs", "read"), None)
        .await;

    s.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    s.d().wait_grant(grant, GrantStatus::Revoked).await;
    let r = s
        .d()
        .admin()
        .get_request(ctx(), pending.id)
        .await
        .done("the pending request");
    assert_eq!(r.status, hallpass_core::request::RequestStatus::Cancelled);
    let u = s.d().target_has_access(
        hallpass_core::UserId(id.parse().expect("a number")),
        &target("db", "read"),
    );
    assert!(!u, "the access is gone from the target");
    // A deactivated person cannot ask for more.
    let e = s
        .d()
        .client(1)
        .submit_request(ctx(), new_request("quick", &target("db", "read"), None))
        .await
        .refused("a deactivated person requests");
    assert!(matches!(e.kind(), "forbidden" | "unauthenticated"), "{e:?}");
    s.d().assert_audit_intact().await;
}

#[test]
fn an_identity_provider_provisions_through_the_real_daemon_with_the_cli_token() {
    use crate::support::binaries::Daemon;
    let port = crate::support::binaries::free_port();
    let d = Daemon::start_with(
        "",
        &format!("[web]\nlisten = \"127.0.0.1:{port}\"\n[scim]\nenabled = true\n"),
    );
    d.signup("admin@example.com", "Ada Admin");
    let out = d.cli(&["scim", "token"]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(token.starts_with("hallpass_scim_"), "{token}");
    assert!(
        note.contains(&format!("http://127.0.0.1:{port}/scim/v2")),
        "the URL to paste into the IdP: {note}"
    );
    let again = d.cli(&["scim", "token"]);
    assert_eq!(again.status.code(), Some(6), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--rotate"));

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{port}/scim/v2");
    let create = |token: &str| {
        agent
            .post(&format!("{base}/Users"))
            .header("authorization", &format!("Bearer {token}"))
            .header("content-type", "application/scim+json")
            .send(
                json!({"schemas": [USER], "userName": "linus",
                       "emails": [{"value": "linus@example.com", "primary": true}]})
                .to_string(),
            )
            .expect("POST /Users")
    };
    let mut made = create(&token);
    assert_eq!(
        made.status().as_u16(),
        201,
        "{}",
        made.body_mut().read_to_string().unwrap_or_default()
    );
    let linus = d.json(None, &["users", "show", "linus@example.com"]);
    assert_eq!(linus["sources"], json!(["scim"]), "{linus}");
    assert_eq!(linus["login"], "linus", "{linus}");

    // Rotating from the CLI cuts the old token off at once.
    let rotated = d.json(None, &["scim", "token", "--rotate"]);
    assert_eq!(rotated["replaced"], true, "{rotated}");
    assert_eq!(create(&token).status().as_u16(), 401);
    d.ok(&["scim", "revoke"]);
    let new = rotated["token"].as_str().expect("the token in JSON");
    assert_eq!(create(new).status().as_u16(), 401);
    // The token never reaches the daemon's log.
    let log = std::fs::read_to_string(d.dir.path().join("hallpassd.log")).unwrap_or_default();
    assert!(!log.contains(&token) && !log.contains(new));
}

#[tokio::test]
async fn the_last_admin_cannot_be_deprovisioned_from_scim() {
    let s = Scim::start().await;
    let boss = id_of(&s.user("boss", json!({})).await);
    let admin = s.d().admin();
    admin
        .set_role(ctx(), email_ref("boss@example.com"), Role::Admin)
        .await
        .done("make the SCIM person an admin");
    let me = admin
        .whoami(ctx())
        .await
        .done("whoami")
        .user
        .expect("the admin");
    admin
        .set_role(ctx(), email_ref(&me.email), Role::Auditor)
        .await
        .done("the local admin steps down");
    let before = s.state().await;
    s.call(
        "PATCH",
        &format!("/Users/{boss}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]})),
    )
    .await
    .error(400, Some("invalidValue"), "deactivating the last admin");
    s.call("DELETE", &format!("/Users/{boss}"), None)
        .await
        .error(400, Some("invalidValue"), "deleting the last admin");
    assert_eq!(s.state().await, before, "nothing changed");
    assert_eq!(
        s.hallpass_user("boss@example.com").await.status,
        UserStatus::Active
    );
}
