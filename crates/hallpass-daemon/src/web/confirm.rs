//! The confirmation link of a held link form (`[web] confirm_email`): `GET /c/{token}` shows
//! what will be sent, with one button; `POST` sends it (opens the request exactly as an
//! unconfirmed form would) and leads to the status page. Invariants: opening the link changes
//! nothing (mail scanners open links too); a held form is used once, and within
//! `SUBMISSION_TTL`; only the token's SHA-256 is stored.

use std::sync::Arc;

use super::apply::{self, Checked, plausible_token};
use super::pages::{self, Held};
use super::{ButtonForm, Site};
use crate::broker::Fail;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hallpass_core::link::{LinkState, LinkSubmission, token_hash};
use hallpass_core::time::format_duration;

const PURPOSE: &str = "confirm";

/// The held form behind `token`, while it is usable.
fn find(site: &Site, token: &str) -> Result<Option<LinkSubmission>, Fail> {
    if !plausible_token(token) {
        return Ok(None);
    }
    let now = site.broker.now();
    Ok(site
        .broker
        .store()
        .link_submission(&token_hash(token))?
        .filter(|s| !s.expired_at(now)))
}

fn used_or_expired(site: &Site) -> Response {
    site.page(
        StatusCode::GONE,
        "This confirmation link no longer works",
        "It was used already, or a day has passed. If your request was not sent, open the access link again and fill in the form.",
    )
}

pub async fn show(State(site): State<Arc<Site>>, Path(token): Path<String>) -> Response {
    let held = match find(&site, &token) {
        Ok(Some(h)) => h,
        Ok(None) => return used_or_expired(&site),
        Err(e) => return site.internal(e),
    };
    let now = site.broker.now();
    let store = site.broker.store();
    let flow = match store.link(held.link) {
        Ok(Some(l)) if l.state_at(now) == LinkState::Open => match store.flow(&l.flow) {
            Ok(Some(f)) if apply::offered(&f) => f,
            Ok(_) => return apply::closed(&site),
            Err(e) => return site.internal(e.into()),
        },
        Ok(_) => return apply::closed(&site),
        Err(e) => return site.internal(e.into()),
    };
    let o = match apply::offer(store, &flow) {
        Ok(o) => o,
        Err(e) => return site.internal(e),
    };
    let csrf = site.csrf.issue(PURPOSE, &held.token_hash, now);
    let view = Held {
        name: held.name,
        email: held.email,
        company: held.company,
        justification: held.justification,
        duration: format_duration(held.duration),
    };
    (
        StatusCode::OK,
        Html(pages::confirm(site.org(), &format!("/c/{token}"), &csrf, &o, &view).into_string()),
    )
        .into_response()
}

pub async fn send(
    State(site): State<Arc<Site>>,
    Path(token): Path<String>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let f = match form {
        Ok(Form(f)) => f,
        Err(r) => return super::unreadable(&site, &r),
    };
    let held = match find(&site, &token) {
        Ok(Some(h)) => h,
        Ok(None) => return used_or_expired(&site),
        Err(e) => return site.internal(e),
    };
    let now = site.broker.now();
    if !site.csrf.check(PURPOSE, &held.token_hash, &f.csrf, now) {
        return site.page(
            StatusCode::FORBIDDEN,
            "Form refused",
            "This button has expired or did not come from its page. Open the link from your e-mail again and press it there.",
        );
    }
    let hash = held.token_hash;
    let c = Checked {
        name: held.name,
        email: held.email,
        company: held.company,
        justification: held.justification,
        duration: held.duration,
        ssh_key: held.ssh_key,
    };
    let result = apply::open_request(&site, held.link, c, now, Some(hash)).await;
    apply::opened(&site, result, |_, why| {
        site.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "This request cannot be sent",
            &format!("{why} Nothing was sent."),
        )
    })
}
