//! The SCIM routes, mounted by the web site under `/scim/v2`: `/Users`, `/Groups`,
//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`. Invariants: every request carries
//! the admin-made bearer token (compared as SHA-256 in constant time; refusals are 401 with
//! `WWW-Authenticate: Bearer` and audited at most once a minute); each change is one
//! transaction through [`super::apply`]; every answer is `application/scim+json`, errors
//! included; SCIM is rate-limited per client address on its own budget (`scim.requests_per_minute`)
//! and needs no CSRF token or same-origin check (no browser form posts here).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hallpass_core::Timestamp;
use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::scim::{ScimKind, ScimRecord};
use hallpass_store::Store;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ScimError;
use super::filter::{self, Filter};
use super::{apply, patch, resource, schema};
use crate::broker::Broker;

pub const CONTENT_TYPE: &str = "application/scim+json";

/// What the SCIM routes share.
pub struct Scim {
    broker: Arc<Broker>,
    /// e.g. `https://access.example.com/scim/v2`
    base: String,
    limit: crate::web::AddressLimit,
    /// When a refused request was last audited.
    refusal_audited: Mutex<Option<Timestamp>>,
}

/// The SHA-256 of a token, as stored (hex).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The SCIM routes, relative to `/scim/v2`, for a site whose base URL is `site_base`.
pub fn router<S: Clone + Send + Sync + 'static>(broker: Arc<Broker>, site_base: &str) -> Router<S> {
    let cfg = broker.config().scim.clone();
    let state = Arc::new(Scim {
        base: format!("{}/scim/v2", site_base.trim_end_matches('/')),
        limit: crate::web::AddressLimit::new(cfg.requests_per_minute),
        refusal_audited: Mutex::new(None),
        broker,
    });
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{urn}", get(one_schema))
        .route("/Users", get(list_users).post(create_user))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(put_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(put_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            cfg.max_body_bytes,
            refuse_declared_oversize,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

fn scim_json(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        v.to_string(),
    )
        .into_response()
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = scim_json(status, &self.body());
        if self.status == 401 {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hallpass-scim\""),
            );
        }
        r
    }
}

async fn not_found() -> Response {
    ScimError::not_found("no such SCIM endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    ScimError::method_not_allowed("this endpoint does not take that method").into_response()
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn token_ok(store: &Store, presented: Option<&str>) -> Result<bool, ScimError> {
    let Some(stored) = store.scim_token_hash()? else {
        return Ok(false);
    };
    let Some(t) = presented else { return Ok(false) };
    let given = token_hash(t);
    Ok(bool::from(given.as_bytes().ct_eq(stored.as_bytes())))
}

/// Rate limit, then the bearer token.
/// A body whose declared length is over the limit is refused before any of it is read. A client
/// that sent `Expect: 100-continue` then never sends it; the body limit alone answers only once
/// it has read past the limit, and closing on the unread rest can cut the client off before it
/// reads the 413.
async fn refuse_declared_oversize(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return ScimError::too_large("the request body is larger than this server accepts")
            .into_response();
    }
    next.run(req).await
}

async fn authenticate(State(s): State<Arc<Scim>>, req: Request, next: Next) -> Response {
    let now = s.broker.now();
    let ip = crate::web::client_ip(&req);
    if let Err(wait) = s.limit.hit(ip, now) {
        let secs = wait.as_secs().max(1);
        let mut r = ScimError::too_many(format!(
            "too many requests from this address; retry in {secs} s"
        ))
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let presented = bearer(req.headers());
    match token_ok(s.broker.store(), presented) {
        Ok(true) => next.run(req).await,
        Ok(false) => {
            let why = if presented.is_some() {
                "a wrong bearer token"
            } else {
                "no bearer token"
            };
            audit_refusal(&s, now, ip, why).await;
            ScimError::unauthorized(
                "send `Authorization: Bearer TOKEN` with the token an admin made with `hallpass scim token`",
            )
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Audits a refused request, at most once a minute (a misconfigured client retries a lot).
async fn audit_refusal(s: &Scim, now: Timestamp, ip: std::net::IpAddr, why: &str) {
    {
        let mut last = s
            .refusal_audited
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| now < t.plus(Duration::from_secs(60))) {
            return;
        }
        *last = Some(now);
    }
    let e = AuditEntry::new(
        Actor::System,
        Source::Scim,
        "scim.auth_refuse",
        format!("scim client {ip}"),
        format!("refused a SCIM request with {why} (further refusals this minute are not audited)"),
    );
    if let Err(e) = s.broker.commit(|tx| Ok(tx.audit(now, e)?)).await {
        tracing::warn!(error = %e.into_api(), "could not audit a refused SCIM request");
    }
    tracing::warn!(%ip, why, "refused a SCIM request");
}

// ---- discovery ----

async fn service_provider_config(State(s): State<Arc<Scim>>) -> Response {
    let max = s.broker.config().scim.max_results;
    scim_json(
        StatusCode::OK,
        &schema::service_provider_config(&s.base, max),
    )
}

fn list_of(items: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

async fn resource_types(State(s): State<Arc<Scim>>) -> Response {
    scim_json(StatusCode::OK, &list_of(schema::resource_types(&s.base)))
}

async fn resource_type(State(s): State<Arc<Scim>>, Path(name): Path<String>) -> Response {
    match schema::resource_types(&s.base).into_iter().find(|r| {
        r["id"]
            .as_str()
            .is_some_and(|i| i.eq_ignore_ascii_case(&name))
    }) {
        Some(r) => scim_json(StatusCode::OK, &r),
        None => ScimError::not_found(format!("no resource type {name}")).into_response(),
    }
}

async fn schemas(State(s): State<Arc<Scim>>) -> Response {
    scim_json(StatusCode::OK, &list_of(schema::schemas(&s.base)))
}

async fn one_schema(State(s): State<Arc<Scim>>, Path(urn): Path<String>) -> Response {
    match schema::schemas(&s.base).into_iter().find(|r| {
        r["id"]
            .as_str()
            .is_some_and(|i| i.eq_ignore_ascii_case(&urn))
    }) {
        Some(r) => scim_json(StatusCode::OK, &r),
        None => ScimError::not_found(format!("no schema {urn}")).into_response(),
    }
}

// ---- reading ----

/// A user's `groups` (read-only): the SCIM groups they are in.
fn user_groups(s: &Scim, rec: &ScimRecord) -> Result<Value, ScimError> {
    let store = s.broker.store();
    let Some(user) = rec.id.parse::<u64>().ok().map(hallpass_core::UserId) else {
        return Ok(json!([]));
    };
    let Some(u) = store.user(user)? else {
        return Ok(json!([]));
    };
    let mut out = Vec::new();
    for name in &u.groups {
        let Some(g) = store.group(name)? else {
            continue;
        };
        let Some(src) = g.source.filter(|x| x.source == super::source()) else {
            continue;
        };
        let display = store
            .scim_resource(ScimKind::Group, &src.external_id)?
            .and_then(|r| r.resource.get("displayName").cloned())
            .unwrap_or_else(|| json!(name.as_str()));
        out.push(json!({
            "value": src.external_id,
            "$ref": format!("{}/Groups/{}", s.base, src.external_id),
            "display": display,
            "type": "direct",
        }));
    }
    Ok(Value::Array(out))
}

fn rendered(s: &Scim, rec: &ScimRecord) -> Result<Value, ScimError> {
    let mut v = resource::render(rec, &s.base);
    if rec.kind == ScimKind::User {
        let groups = user_groups(s, rec)?;
        if groups.as_array().is_some_and(|g| !g.is_empty()) {
            v["groups"] = groups;
        }
    }
    Ok(v)
}

/// `attributes` / `excludedAttributes`, on top-level attributes (`id`, `schemas` always stay).
fn project(v: &mut Value, attributes: Option<&str>, excluded: Option<&str>) {
    let names = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|a| {
                let a = a.trim();
                match filter::attr_path(a, 1, ScimError::invalid_filter) {
                    Ok(p) if p.urn.is_some() && !p.attr.is_empty() => {
                        p.urn.unwrap_or_default().to_ascii_lowercase()
                    }
                    Ok(p) if p.attr.is_empty() => p.urn.unwrap_or_default().to_ascii_lowercase(),
                    Ok(p) => p.attr.to_ascii_lowercase(),
                    Err(_) => a.to_ascii_lowercase(),
                }
            })
            .collect()
    };
    let Some(obj) = v.as_object_mut() else { return };
    let always = |k: &str| k == "id" || k == "schemas";
    if let Some(a) = attributes.filter(|a| !a.trim().is_empty()) {
        let keep = names(a);
        obj.retain(|k, _| always(k) || keep.contains(&k.to_ascii_lowercase()));
    } else if let Some(x) = excluded.filter(|x| !x.trim().is_empty()) {
        let drop = names(x);
        obj.retain(|k, _| always(k) || !drop.contains(&k.to_ascii_lowercase()));
    }
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn number(q: &[(String, String)], name: &str) -> Result<Option<i64>, ScimError> {
    param(q, name)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ScimError::invalid_value(format!("`{name}` must be a whole number, not `{v}`"))
            })
        })
        .transpose()
}

fn list(s: &Scim, kind: ScimKind, q: &[(String, String)]) -> Result<Value, ScimError> {
    let filter: Option<Filter> = match param(q, "filter").filter(|f| !f.trim().is_empty()) {
        Some(f) => {
            let parsed = filter::parse(f)?;
            parsed.check(kind)?;
            Some(parsed)
        }
        None => None,
    };
    let max = i64::from(s.broker.config().scim.max_results);
    let start = number(q, "startIndex")?.unwrap_or(1).max(1);
    let count = number(q, "count")?.unwrap_or(max).clamp(0, max);
    let mut matched = Vec::new();
    for rec in s.broker.store().scim_resources(kind)? {
        let v = rendered(s, &rec)?;
        if filter.as_ref().is_none_or(|f| f.matches(kind, &v)) {
            matched.push(v);
        }
    }
    let total = matched.len();
    let page: Vec<Value> = matched
        .into_iter()
        .skip(usize::try_from(start - 1).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(0))
        .map(|mut v| {
            project(
                &mut v,
                param(q, "attributes"),
                param(q, "excludedAttributes"),
            );
            v
        })
        .collect();
    Ok(json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    }))
}

fn reply(r: Result<Value, ScimError>, ok: StatusCode) -> Response {
    match r {
        Ok(v) => scim_json(ok, &v),
        Err(e) => e.into_response(),
    }
}

fn get_one(s: &Scim, kind: ScimKind, id: &str, q: &[(String, String)]) -> Result<Value, ScimError> {
    let rec = s
        .broker
        .store()
        .scim_resource(kind, id)?
        .ok_or_else(|| ScimError::not_found(format!("no {} {id}", kind.name())))?;
    let mut v = rendered(s, &rec)?;
    project(
        &mut v,
        param(q, "attributes"),
        param(q, "excludedAttributes"),
    );
    Ok(v)
}

async fn list_users(
    State(s): State<Arc<Scim>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    reply(list(&s, ScimKind::User, &q), StatusCode::OK)
}

async fn list_groups(
    State(s): State<Arc<Scim>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    reply(list(&s, ScimKind::Group, &q), StatusCode::OK)
}

async fn get_user(
    State(s): State<Arc<Scim>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    reply(get_one(&s, ScimKind::User, &id, &q), StatusCode::OK)
}

async fn get_group(
    State(s): State<Arc<Scim>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    reply(get_one(&s, ScimKind::Group, &id, &q), StatusCode::OK)
}

// ---- writing ----

/// The request body as JSON (413 when over `scim.max_body_bytes`, 400 `invalidSyntax` when not
/// JSON).
fn body_json(body: Result<Bytes, BytesRejection>) -> Result<Value, ScimError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::too_large("the request body is larger than this server accepts")
        } else {
            ScimError::invalid_syntax("the request body could not be read")
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not JSON: {e}")))
}

fn clean(kind: ScimKind, body: Result<Bytes, BytesRejection>) -> Result<Value, ScimError> {
    let mut v = body_json(body)?;
    resource::normalize(kind, &mut v)?;
    Ok(v)
}

async fn create(s: &Scim, kind: ScimKind, body: Result<Bytes, BytesRejection>) -> Response {
    let r: Result<ScimRecord, ScimError> = async {
        let v = clean(kind, body)?;
        let now = s.broker.now();
        s.broker
            .commit_with(|tx| match kind {
                ScimKind::User => apply::create_user(tx, now, v),
                ScimKind::Group => apply::create_group(tx, now, v),
            })
            .await
    }
    .await;
    match r.and_then(|rec| Ok((rendered(s, &rec)?, rec))) {
        Ok((v, rec)) => {
            let mut resp = scim_json(StatusCode::CREATED, &v);
            let loc = format!("{}/{}/{}", s.base, kind.endpoint(), rec.id);
            if let Ok(h) = HeaderValue::from_str(&loc) {
                resp.headers_mut().insert(header::LOCATION, h);
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn replace(
    s: &Scim,
    kind: ScimKind,
    id: String,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r: Result<ScimRecord, ScimError> = async {
        let v = clean(kind, body)?;
        let now = s.broker.now();
        s.broker
            .commit_with(|tx| match kind {
                ScimKind::User => apply::replace_user(tx, now, &id, v),
                ScimKind::Group => apply::replace_group(tx, now, &id, v),
            })
            .await
    }
    .await;
    reply(r.and_then(|rec| rendered(s, &rec)), StatusCode::OK)
}

async fn patch_one(
    s: &Scim,
    kind: ScimKind,
    id: String,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r: Result<ScimRecord, ScimError> = async {
        let ops = patch::parse_request(&body_json(body)?)?;
        let now = s.broker.now();
        s.broker
            .commit_with(|tx| {
                let rec = tx
                    .scim_resource(kind, &id)?
                    .ok_or_else(|| ScimError::not_found(format!("no {} {id}", kind.name())))?;
                let (v, dropped) = patch::patched(kind, &id, &rec.resource, &ops)?;
                if !dropped.is_empty() {
                    tracing::warn!(
                        "SCIM {} {id}: dropped what an earlier hallpass stored untyped: {}",
                        kind.name(),
                        dropped.join(", ")
                    );
                }
                match kind {
                    ScimKind::User => apply::replace_user(tx, now, &id, v),
                    ScimKind::Group => apply::replace_group(tx, now, &id, v),
                }
            })
            .await
    }
    .await;
    reply(r.and_then(|rec| rendered(s, &rec)), StatusCode::OK)
}

async fn remove(s: &Scim, kind: ScimKind, id: String) -> Response {
    let now = s.broker.now();
    let r = s
        .broker
        .commit_with(|tx| match kind {
            ScimKind::User => apply::delete_user(tx, now, &id),
            ScimKind::Group => apply::delete_group(tx, now, &id),
        })
        .await;
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn create_user(State(s): State<Arc<Scim>>, body: Result<Bytes, BytesRejection>) -> Response {
    create(&s, ScimKind::User, body).await
}

async fn create_group(State(s): State<Arc<Scim>>, body: Result<Bytes, BytesRejection>) -> Response {
    create(&s, ScimKind::Group, body).await
}

async fn put_user(
    State(s): State<Arc<Scim>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    replace(&s, ScimKind::User, id, body).await
}

async fn put_group(
    State(s): State<Arc<Scim>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    replace(&s, ScimKind::Group, id, body).await
}

async fn patch_user(
    State(s): State<Arc<Scim>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    patch_one(&s, ScimKind::User, id, body).await
}

async fn patch_group(
    State(s): State<Arc<Scim>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    patch_one(&s, ScimKind::Group, id, body).await
}

async fn delete_user(State(s): State<Arc<Scim>>, Path(id): Path<String>) -> Response {
    remove(&s, ScimKind::User, id).await
}

async fn delete_group(State(s): State<Arc<Scim>>, Path(id): Path<String>) -> Response {
    remove(&s, ScimKind::Group, id).await
}
