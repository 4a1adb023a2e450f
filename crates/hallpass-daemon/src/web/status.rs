//! The private status page of a request made through a link, and its "release access now".
//! Invariants: a status token opens exactly one request and acts only on that request's grants;
//! credentials appear only while their grant is Active (they are deleted when it ends), and
//! their values reach no log or audit entry (reading them is audited without them).

use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hallpass_core::audit::{Actor, Source};
use hallpass_core::grant::{EndReason, Grant, GrantStatus};
use hallpass_core::link::{StatusPass, token_hash};
use hallpass_core::request::{Request, RequestStatus};
use hallpass_core::time::{format_duration, format_duration_short};
use hallpass_core::user::User;

use super::apply::plausible_token;
use super::pages::{self, GrantLine, GrantState, StatusView};
use super::{Site, see_other};
use crate::broker::Fail;
use crate::lifecycle;

const PURPOSE: &str = "release";

fn find(site: &Site, token: &str) -> Result<Option<(StatusPass, Request, User)>, Fail> {
    if !plausible_token(token) {
        return Ok(None);
    }
    let store = site.broker.store();
    let Some(pass) = store.status_pass(&token_hash(token))? else {
        return Ok(None);
    };
    let (Some(req), Some(user)) = (store.request(pass.request)?, store.user(pass.user)?) else {
        return Ok(None);
    };
    Ok(Some((pass, req, user)))
}

fn ended(g: &Grant) -> String {
    let how = match &g.end_reason {
        Some(EndReason::Released) => "You released this access.",
        Some(EndReason::Revoked { .. }) => "This access was revoked.",
        Some(EndReason::Expired) | None => "This access has expired.",
        Some(EndReason::UserDeleted | EndReason::EligibilityLost { .. }) => {
            "This access was withdrawn."
        }
        Some(EndReason::GrantFailed { .. }) => "This access could not be set up.",
    };
    how.to_string()
}

pub async fn show(State(site): State<Arc<Site>>, Path(token): Path<String>) -> Response {
    let (pass, req, user) = match find(&site, &token) {
        Ok(Some(found)) => found,
        Ok(None) => return site.not_found(),
        Err(e) => return site.internal(e),
    };
    match render(&site, &token, &pass, &req, &user).await {
        Ok(r) => r,
        Err(e) => site.internal(e),
    }
}

async fn render(
    site: &Site,
    token: &str,
    pass: &StatusPass,
    req: &Request,
    user: &User,
) -> Result<Response, Fail> {
    let now = site.broker.now();
    let store = site.broker.store();
    let mut grants = Vec::new();
    let mut shown = Vec::new();
    let mut any_active = false;
    let mut any_setting = false;
    for id in &req.grants {
        let Some(g) = store.grant(*id)? else { continue };
        let state = match g.status_at(now) {
            GrantStatus::Granting => {
                any_setting = true;
                GrantState::Setting
            }
            GrantStatus::Active => {
                any_active = true;
                let expires = g.expires_at.unwrap_or(now);
                let creds = store.credentials(g.id)?;
                if creds.is_some() {
                    shown.push(g.clone());
                }
                let creds = creds.unwrap_or_default();
                GrantState::Active {
                    expires_rfc3339: expires.to_rfc3339(),
                    left: format_duration_short(now.until(expires)),
                    credentials: creds
                        .fields
                        .iter()
                        .map(|f| (f.name.clone(), f.value.clone(), f.secret))
                        .collect(),
                    hint: creds.hint.clone(),
                }
            }
            GrantStatus::Failed => GrantState::Failed,
            _ => GrantState::Ended(ended(&g)),
        };
        grants.push(GrantLine {
            target: g.target.to_string(),
            state,
        });
    }
    if !shown.is_empty() {
        let actor = Actor::User {
            id: user.id,
            email: user.email.clone(),
            via: None,
        };
        site.broker
            .commit(|tx| {
                for g in &shown {
                    tx.audit(
                        now,
                        lifecycle::grant_entry(
                            actor.clone(),
                            Source::Link,
                            "grant.credentials_read",
                            g,
                            format!(
                                "{} credentials shown on the external's status page",
                                g.target
                            ),
                        ),
                    )?;
                }
                Ok(())
            })
            .await?;
    }
    let org = site.org();
    let (headline, tone, detail, refresh) = match req.status {
        RequestStatus::Pending if req.is_overdue(now) => (
            "Nobody decided in time",
            "ended",
            "The request was not reviewed before its deadline. You may ask again with the link you were sent.".to_string(),
            None,
        ),
        RequestStatus::Pending => (
            "Waiting for a decision",
            "pending",
            format!("People at {org} are reviewing your request. This page updates by itself."),
            Some(20),
        ),
        RequestStatus::Rejected => (
            "Your request was declined",
            "rejected",
            match req.rejection.as_ref().and_then(|d| d.reason.clone()) {
                Some(r) => format!("Reason given: {r}"),
                None => "No reason was given.".to_string(),
            },
            None,
        ),
        RequestStatus::Cancelled => ("This request was cancelled", "ended", String::new(), None),
        RequestStatus::TimedOut => (
            "Nobody decided in time",
            "ended",
            "The request was not reviewed before its deadline. You may ask again with the link you were sent.".to_string(),
            None,
        ),
        RequestStatus::Approved if any_active => (
            "Your access is active",
            "active",
            "Use the details below. They disappear from this page when the access ends.".to_string(),
            None,
        ),
        RequestStatus::Approved if any_setting => (
            "Approved: setting up your access",
            "pending",
            "This takes a moment; the page updates by itself.".to_string(),
            Some(5),
        ),
        RequestStatus::Approved => ("Your access has ended", "ended", String::new(), None),
    };
    let view = StatusView {
        request_id: req.id.to_string(),
        status_url: site.status_url(token),
        targets: req.targets.iter().map(ToString::to_string).collect(),
        duration: format_duration(req.duration),
        justification: req.reason.clone(),
        headline,
        tone,
        detail,
        grants,
        can_release: any_active || any_setting,
        release_csrf: site.csrf.issue(PURPOSE, &pass.token_hash, now),
        release_action: format!("/s/{token}/release"),
        refresh,
        emailed_to: site
            .broker
            .config()
            .smtp
            .enabled()
            .then(|| user.email.clone()),
    };
    Ok((
        StatusCode::OK,
        Html(pages::status(org, &view).into_string()),
    )
        .into_response())
}

pub async fn release(
    State(site): State<Arc<Site>>,
    Path(token): Path<String>,
    form: Result<Form<super::ButtonForm>, FormRejection>,
) -> Response {
    let f = match form {
        Ok(Form(f)) => f,
        Err(r) => return super::unreadable(&site, &r),
    };
    let (pass, req, user) = match find(&site, &token) {
        Ok(Some(found)) => found,
        Ok(None) => return site.not_found(),
        Err(e) => return site.internal(e),
    };
    let now = site.broker.now();
    if !site.csrf.check(PURPOSE, &pass.token_hash, &f.csrf, now) {
        return site.page(
            StatusCode::FORBIDDEN,
            "Form refused",
            "This button has expired or did not come from your status page. Open the page again and press it there.",
        );
    }
    let actor = Actor::User {
        id: user.id,
        email: user.email.clone(),
        via: None,
    };
    let result = site
        .broker
        .commit(|tx| {
            for id in &req.grants {
                let Some(mut g) = tx.grant(*id)? else {
                    continue;
                };
                if g.user != pass.user {
                    continue;
                }
                if matches!(
                    g.status_at(now),
                    GrantStatus::Active | GrantStatus::Granting
                ) {
                    lifecycle::begin_revoke(
                        tx,
                        &mut g,
                        EndReason::Released,
                        now,
                        &actor,
                        Source::Link,
                    )?;
                }
            }
            Ok(())
        })
        .await;
    match result {
        Ok(()) => {
            tracing::info!(request = %req.id, "external released their access");
            see_other(&format!("/s/{token}"))
        }
        Err(e) => site.internal(e),
    }
}
