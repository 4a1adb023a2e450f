//! The link page and its form: what the link offers, and asking for it. Invariants: a link
//! that is unknown, expired, revoked or used up shows a page and creates nothing; a submission
//! creates (or reuses) the External user, the Pending request, the status pass, the link's use
//! and the status e-mail in one transaction; what was typed comes back with each error.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::flow::{ApprovalRule, Flow, Trigger};
use hallpass_core::integration::Connector;
use hallpass_core::link::{
    AccessLink, LinkState, LinkSubmission, SUBMISSION_TTL, StatusPass, token_hash,
};
use hallpass_core::request::RequestKind;
use hallpass_core::time::{format_duration, parse_duration};
use hallpass_core::user::{
    Role, User, UserStatus, normalize_email, unmailable, validate_person_name,
};
use hallpass_core::{RequestId, Timestamp};
use hallpass_proto::ApiError;
use hallpass_store::Store;
use serde::Deserialize;

use super::pages::{self, FormState, Offer};
use super::{Site, see_other};
use crate::broker::{Fail, random_hex};
use crate::handlers::catalog::offered_targets;
use crate::handlers::free_text;
use crate::handlers::keys::{BadKey, read_public_key};
use crate::handlers::submit::{Draft, open_in};
use crate::mailer;
use hallpass_core::text::BadText;

const PURPOSE: &str = "apply";

/// The form as posted. Every field defaults to empty so a missing one is a field error.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApplyForm {
    pub csrf: String,
    pub name: String,
    pub email: String,
    pub company: String,
    pub justification: String,
    pub duration: String,
    pub ssh_key: String,
}

/// Tokens are 32 lowercase hex digits; anything else is not looked up at all.
pub(crate) fn plausible_token(t: &str) -> bool {
    t.len() == 32
        && t.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

enum Lookup {
    Open(AccessLink, Flow),
    Closed(&'static str, String),
    Unknown,
}

/// Whether `flow` still offers access through its links.
pub(crate) fn offered(flow: &Flow) -> bool {
    flow.enabled && flow.trigger == Trigger::AccessLink
}

fn lookup(store: &Store, token: &str, now: Timestamp) -> Result<Lookup, Fail> {
    if !plausible_token(token) {
        return Ok(Lookup::Unknown);
    }
    let Some(link) = store.link_by_token(&token_hash(token))? else {
        return Ok(Lookup::Unknown);
    };
    let closed = |title: &'static str, text: &str| {
        Ok(Lookup::Closed(
            title,
            format!(
                "{text} Nothing was sent or created. Ask the person who sent you the link for a new one."
            ),
        ))
    };
    match link.state_at(now) {
        LinkState::Open => {}
        LinkState::Expired => return closed("This link has expired", "The link's time is up."),
        LinkState::Revoked => {
            return closed("This link was withdrawn", "The link no longer works.");
        }
        LinkState::UsedUp => {
            return closed(
                "This link has been used up",
                "It was used as many times as it allows.",
            );
        }
    }
    match store.flow(&link.flow)? {
        Some(f) if offered(&f) => Ok(Lookup::Open(link, f)),
        _ => closed(
            "This access is no longer offered",
            "The link's offer was withdrawn.",
        ),
    }
}

fn needs_ssh_key(
    store: &Store,
    targets: &[hallpass_core::integration::Target],
) -> Result<bool, Fail> {
    let integrations: BTreeSet<_> = targets.iter().map(|t| &t.integration).collect();
    for name in integrations {
        if let Some(i) = store.integration(name)?
            && matches!(i.connector, Connector::Ssh(_))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn offer(store: &Store, flow: &Flow) -> Result<Offer, Fail> {
    let targets = offered_targets(store, flow)?;
    let approval = match flow.approval.rule {
        ApprovalRule::Auto => "granted at once, no review".to_string(),
        ApprovalRule::AnyOf => "one reviewer approves".to_string(),
        ApprovalRule::AllOf => "every named reviewer approves".to_string(),
        ApprovalRule::Quorum(n) => format!("{n} reviewers approve"),
    };
    Ok(Offer {
        title: if flow.description.is_empty() {
            format!("Access: {}", flow.name)
        } else {
            flow.description.clone()
        },
        needs_ssh_key: needs_ssh_key(store, &targets)?,
        targets: targets.iter().map(ToString::to_string).collect(),
        max: flow.max_duration,
        approval,
        justification_required: flow.justification_required,
    })
}

fn render(site: &Site, code: StatusCode, token: &str, o: &Offer, form: &FormState) -> Response {
    let csrf = site
        .csrf
        .issue(PURPOSE, &token_hash(token), site.broker.now());
    let action = format!("/l/{token}");
    (
        code,
        Html(pages::offer(site.org(), &action, &csrf, o, form).into_string()),
    )
        .into_response()
}

pub async fn show(State(site): State<Arc<Site>>, Path(token): Path<String>) -> Response {
    let now = site.broker.now();
    let store = site.broker.store();
    let (_, flow) = match lookup(store, &token, now) {
        Ok(Lookup::Open(l, f)) => (l, f),
        Ok(Lookup::Closed(title, text)) => return site.page(StatusCode::GONE, title, &text),
        Ok(Lookup::Unknown) => return site.not_found(),
        Err(e) => return site.internal(e),
    };
    let o = match offer(store, &flow) {
        Ok(o) => o,
        Err(e) => return site.internal(e),
    };
    let mut form = FormState::default();
    form.values
        .insert("duration", format_duration(flow.default_duration));
    render(&site, StatusCode::OK, &token, &o, &form)
}

/// A checked submission, ready for the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub name: String,
    pub email: String,
    pub company: String,
    pub justification: Option<String>,
    pub duration: Duration,
    pub ssh_key: Option<String>,
}

/// The form as typed, to show again.
pub(crate) fn typed(f: &ApplyForm) -> FormState {
    let mut st = FormState::default();
    for (k, v) in [
        ("name", &f.name),
        ("email", &f.email),
        ("company", &f.company),
        ("justification", &f.justification),
        ("duration", &f.duration),
        ("ssh_key", &f.ssh_key),
    ] {
        st.values.insert(k, v.clone());
    }
    st
}

/// Checks a form against what its link offers.
pub(crate) fn check(f: &ApplyForm, o: &Offer) -> Result<Checked, FormState> {
    let mut st = typed(f);
    let name = validate_person_name(&f.name)
        .map_err(|_| {
            st.errors
                .insert("name", "Enter your name (at most 200 characters).".into())
        })
        .ok();
    let email = match normalize_email(&f.email).map(|e| (unmailable(&e), e)) {
        Ok((None, e)) => Some(e),
        Ok((Some(why), _)) => {
            st.errors.insert(
                "email",
                format!("We cannot send mail to that address: {why}."),
            );
            None
        }
        Err(_) => {
            st.errors.insert(
                "email",
                "Enter an e-mail address like name@example.com.".into(),
            );
            None
        }
    };
    let company = match validate_person_name(&f.company) {
        Ok(c) => Some(c),
        Err(_) => {
            st.errors
                .insert("company", "Enter the company you work for.".into());
            None
        }
    };
    // Browsers send a textarea's line breaks as CRLF; the rest is the RPC's rule for reasons.
    let justification = match free_text(Some(f.justification.replace("\r\n", "\n"))) {
        Ok(None) if o.justification_required => {
            st.errors
                .insert("justification", "Say why you need this access.".into());
            None
        }
        Ok(j) => j,
        Err(bad) => {
            let why = match bad {
                BadText::Bidi => {
                    "Remove the text-direction controls (U+202A to U+202E, U+2066 to U+2069) that came with it: they show text in another order than it reads."
                }
                BadText::TooLong | BadText::Unprintable => {
                    "Keep it to 2000 characters of plain text."
                }
            };
            st.errors.insert("justification", why.into());
            None
        }
    };
    let duration = match parse_duration("duration", &f.duration) {
        Ok(d) if d > o.max => {
            st.errors.insert(
                "duration",
                format!(
                    "That is longer than allowed: at most {}.",
                    format_duration(o.max)
                ),
            );
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            st.errors.insert(
                "duration",
                format!(
                    "Enter a duration in whole seconds or more, like 30m, 2h or 1d (at most {}).",
                    format_duration(o.max)
                ),
            );
            None
        }
    };
    let ssh_key = if o.needs_ssh_key {
        let why = match read_public_key(&f.ssh_key) {
            Ok((_, line)) => Ok(line),
            Err(BadKey::Private) => Err(
                "That is a private key. Paste the public one (the .pub file) and keep the private key to yourself.",
            ),
            Err(BadKey::Unreadable(_)) => Err(
                "That is not an SSH public key. It is one line starting with ssh-ed25519, ssh-rsa or ecdsa-sha2-….",
            ),
            Err(BadKey::NotOneLine) => {
                Err("Paste one key, on one line: the line from your .pub file.")
            }
        };
        why.map_err(|why| st.errors.insert("ssh_key", why.into()))
            .ok()
    } else {
        None
    };
    match (name, email, company, duration) {
        (Some(name), Some(email), Some(company), Some(duration)) if st.errors.is_empty() => {
            Ok(Checked {
                name,
                email,
                company,
                justification,
                duration,
                ssh_key,
            })
        }
        _ => Err(st),
    }
}

/// Why a submission was turned away inside the transaction.
pub(crate) enum Refusal {
    Closed,
    Field(&'static str, String),
    Other(Fail),
}

impl From<Fail> for Refusal {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Api(ApiError::InvalidInput { field, why }) => {
                let field = match field.as_str() {
                    "duration" => "duration",
                    "reason" => "justification",
                    "email" => "email",
                    "name" => "name",
                    _ => return Refusal::Other(Fail::Api(ApiError::InvalidInput { field, why })),
                };
                Refusal::Field(field, why)
            }
            other => Refusal::Other(other),
        }
    }
}

impl From<hallpass_store::StoreError> for Refusal {
    fn from(e: hallpass_store::StoreError) -> Self {
        Refusal::Other(Fail::Store(e))
    }
}

pub async fn submit(
    State(site): State<Arc<Site>>,
    Path(token): Path<String>,
    form: Result<Form<ApplyForm>, FormRejection>,
) -> Response {
    let f = match form {
        Ok(Form(f)) => f,
        Err(r) => return super::unreadable(&site, &r),
    };
    let now = site.broker.now();
    let store = site.broker.store();
    let (link, flow) = match lookup(store, &token, now) {
        Ok(Lookup::Open(l, f)) => (l, f),
        Ok(Lookup::Closed(title, text)) => return site.page(StatusCode::GONE, title, &text),
        Ok(Lookup::Unknown) => return site.not_found(),
        Err(e) => return site.internal(e),
    };
    let o = match offer(store, &flow) {
        Ok(o) => o,
        Err(e) => return site.internal(e),
    };
    if !site.csrf.check(PURPOSE, &link.token_hash, &f.csrf, now) {
        let mut st = typed(&f);
        st.general = Some("This form has expired or did not come from this page. Check your answers and send it again.".into());
        return render(&site, StatusCode::FORBIDDEN, &token, &o, &st);
    }
    if let Err(wait) = site.limits.link(link.id, now) {
        return super::too_many(&site, wait);
    }
    let c = match check(&f, &o) {
        Ok(c) => c,
        Err(st) => return render(&site, StatusCode::UNPROCESSABLE_ENTITY, &token, &o, &st),
    };
    if site
        .broker
        .config()
        .web
        .confirms_email(&site.broker.config().smtp)
    {
        return hold(&site, &link, c, now).await;
    }
    let typed_again = typed(&f);
    let result = open_request(&site, link.id, c, now, None).await;
    opened(&site, result, |field, why| {
        let mut st = typed_again;
        st.errors.insert(field, why);
        render(&site, StatusCode::UNPROCESSABLE_ENTITY, &token, &o, &st)
    })
}

/// Opens the request a checked form asks for, in one transaction: the External user (made,
/// or updated when the address is an active external's), the Pending request, the status
/// pass, the link's use and (with `[smtp]`) the status e-mail. A member's address is refused.
/// `held`: the confirmed form this comes from, used up in the same transaction. Returns the
/// request and the status token.
pub(crate) async fn open_request(
    site: &Arc<Site>,
    link_id: hallpass_core::LinkId,
    c: Checked,
    now: Timestamp,
    held: Option<[u8; 32]>,
) -> Result<(RequestId, String), Refusal> {
    let status_token = random_hex(16);
    let status_url = site.status_url(&status_token);
    let org = site.org().to_string();
    let broker = site.broker.clone();
    let mail_on = broker.config().smtp.enabled();
    broker
        .commit_with(|tx| {
            if let Some(hash) = held {
                // Confirmed twice at once: the second finds it gone.
                if tx.link_submission(&hash)?.is_none() {
                    return Err(Refusal::Closed);
                }
                tx.delete_link_submission(&hash)?;
            }
            let mut link = match tx.link(link_id)? {
                Some(l) if l.state_at(now) == LinkState::Open => l,
                _ => return Err(Refusal::Closed),
            };
            let flow = match tx.flow(&link.flow)? {
                Some(f) if offered(&f) => f,
                _ => return Err(Refusal::Closed),
            };
            let user = match tx.user_by_email(&c.email)? {
                Some(u) if u.role == Role::External && u.status == UserStatus::Active => User {
                    name: c.name.clone(),
                    company: c.company.clone(),
                    ssh_keys: c.ssh_key.clone().map(|k| vec![k]).unwrap_or(u.ssh_keys.clone()),
                    ..u
                },
                // A member's address (an external may not act as them), or a deactivated external's. (Without e-mail
                // confirmation, only someone holding a valid link gets this far, rate-limited
                // per link and per address; with it, this is not shown to the sender.)
                Some(u) if link_refuses(&u) => {
                    return Err(Refusal::Field(
                        "email",
                        "This address cannot be used with an access link. Use another one, or ask the person who sent you the link.".into(),
                    ));
                }
                // A deleted account's history stays with it; a new person gets a new id.
                Some(_) | None => User {
                    id: tx.next_user_id()?,
                    email: c.email.clone(),
                    name: c.name.clone(),
                    phone: None,
                    role: Role::External,
                    status: UserStatus::Active,
                    os: None,
                    manager: None,
                    groups: BTreeSet::new(),
                    created_at: now,
                    ssh_keys: c.ssh_key.clone().into_iter().collect(),
                    company: c.company.clone(),
                    login: None,
                    sources: Default::default(),
                },
            };
            tx.put_user(&user)?;
            let targets = offered_targets(tx.store(), &flow)?;
            let draft = Draft {
                flow: flow.name.clone(),
                kind: RequestKind::Access,
                bundle: None,
                targets,
                duration: Some(c.duration),
                reason: c.justification.clone(),
                again_of: None,
            };
            let (req, _) = open_in(tx, &broker, &user, Source::Link, &flow, &draft, now)?;
            link.uses += 1;
            tx.put_link(&link)?;
            tx.put_status_pass(&StatusPass {
                token_hash: token_hash(&status_token),
                request: req.id,
                user: user.id,
                link: link.id,
                created_at: now,
            })?;
            if mail_on {
                mailer::enqueue(
                    tx,
                    now,
                    mailer::status_link(&org, &user, req.id, &status_url),
                )?;
            }
            Ok(req.id)
        })
        .await
        .map(|id| (id, status_token))
}

/// The page for a link that closed between showing the form and acting on it.
pub(crate) fn closed(site: &Site) -> Response {
    site.page(
        StatusCode::GONE,
        "This link no longer works",
        "It was withdrawn, used up or expired just now. Nothing was sent or created.",
    )
}

/// An address a link may not be used with: anyone's but an active external's (a deleted
/// account's history stays with it, so its address is free again). A member may not be acted
/// as, and a deactivated or invited external stays as an admin left them.
fn link_refuses(u: &User) -> bool {
    u.status != UserStatus::Deleted && !(u.role == Role::External && u.status == UserStatus::Active)
}

/// The answer to an attempt to open a request: the status page, or why not (`field_error`
/// shows a refusal about one of the form's fields).
pub(crate) fn opened(
    site: &Site,
    result: Result<(RequestId, String), Refusal>,
    field_error: impl FnOnce(&'static str, String) -> Response,
) -> Response {
    match result {
        Ok((id, status_token)) => {
            tracing::info!(request = %id, "request opened through an access link");
            see_other(&format!("/s/{status_token}"))
        }
        Err(Refusal::Closed) => closed(site),
        Err(Refusal::Field(field, why)) => field_error(field, why),
        Err(Refusal::Other(Fail::Api(ApiError::Conflict { why }))) => {
            tracing::warn!(why, "an access-link request could not be opened");
            site.page(
                StatusCode::CONFLICT,
                "This request cannot be reviewed right now",
                "Nobody is available to review requests for this access. Nothing was created; please tell the person who sent you the link.",
            )
        }
        Err(Refusal::Other(e)) => site.internal(e),
    }
}

/// With `[web] confirm_email`: keeps the checked form and e-mails a confirmation link to the
/// address typed; nothing else is created until it is opened. A member's address gets the
/// same page and no mail (the attempt is audited for admins), so the answer tells the sender
/// nothing about which addresses exist.
async fn hold(site: &Arc<Site>, link: &AccessLink, c: Checked, now: Timestamp) -> Response {
    let token = random_hex(16);
    let url = format!("{}/c/{token}", site.base_url);
    let org = site.org().to_string();
    let (link_id, email) = (link.id, c.email.clone());
    // Forms never confirmed go when their day is up (each new form sweeps).
    let stale: Vec<[u8; 32]> = match site.broker.store().link_submissions() {
        Ok(all) => all
            .into_iter()
            .filter(|s| s.expired_at(now))
            .map(|s| s.token_hash)
            .collect(),
        Err(e) => return site.internal(e.into()),
    };
    let held: Result<(), Refusal> = site
        .broker
        .commit_with(|tx| {
            for hash in &stale {
                tx.delete_link_submission(hash)?;
            }
            match tx.link(link_id)? {
                Some(l) if l.state_at(now) == LinkState::Open => {}
                _ => return Err(Refusal::Closed),
            }
            if let Some(u) = tx.user_by_email(&c.email)?
                && link_refuses(&u)
            {
                tx.audit(
                    now,
                    AuditEntry::new(
                        Actor::System,
                        Source::Link,
                        "link.member_address",
                        format!("link {link_id}"),
                        format!(
                            "a form on link {link_id} gave {}, the address of an account that may not use links; nothing was sent or created",
                            u.email
                        ),
                    ),
                )?;
                return Ok(());
            }
            tx.put_link_submission(&LinkSubmission {
                token_hash: token_hash(&token),
                link: link_id,
                name: c.name.clone(),
                email: c.email.clone(),
                company: c.company.clone(),
                justification: c.justification.clone(),
                duration: c.duration,
                ssh_key: c.ssh_key.clone(),
                created_at: now,
            })?;
            mailer::enqueue(tx, now, mailer::confirm_link(&org, &c.name, &c.email, &url))?;
            Ok(())
        })
        .await;
    site.broker.wake_mailer();
    match held {
        Ok(()) => site.page(
            StatusCode::OK,
            "Check your e-mail",
            &format!(
                "We sent a link to {email}. Open it within {} to send your request: nothing reaches the reviewers before that. No message after a few minutes? Check the address and your spam folder, then fill in the form again.",
                format_duration(SUBMISSION_TTL)
            ),
        ),
        Err(Refusal::Closed) => closed(site),
        Err(Refusal::Field(_, why)) => site.page(StatusCode::UNPROCESSABLE_ENTITY, "Please check the form", &why),
        Err(Refusal::Other(e)) => site.internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(justification_required: bool) -> Offer {
        Offer {
            title: "Access: db".into(),
            targets: vec!["pg/db:read".into()],
            max: MAX,
            approval: "one reviewer approves".into(),
            needs_ssh_key: false,
            justification_required,
        }
    }

    fn form(justification: &str, duration: &str) -> ApplyForm {
        ApplyForm {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            company: "Engines".into(),
            justification: justification.into(),
            duration: duration.into(),
            ..ApplyForm::default()
        }
    }

    const MAX: Duration = Duration::from_secs(8 * 3600);

    #[test]
    fn a_justification_is_kept_as_the_rpc_would_keep_a_reason() {
        let ok = |j: &str| check(&form(j, "2h"), &offer(false)).map(|c| c.justification);
        assert_eq!(
            ok("  line one\r\nline two \r\n").ok(),
            Some(Some("line one\nline two".into()))
        );
        assert_eq!(ok(" \r\n ").ok(), Some(None));
        // A browser sends CRLF; the 2000 characters are counted once it is one newline.
        let long = "x\r\n".repeat(999) + "xx";
        assert_eq!(
            ok(&long).ok().flatten().map(|j| j.chars().count()),
            Some(2000)
        );
        // A lone carriage return is a control character to the RPC (and to a terminal).
        for bad in ["a\rb", "tab\tbed", &"x".repeat(2001)] {
            let st = ok(bad).expect_err(bad);
            assert!(st.errors.contains_key("justification"), "{bad:?}");
        }
        let st = check(&form("  ", "2h"), &offer(true)).expect_err("required");
        assert_eq!(
            st.errors.get("justification").map(String::as_str),
            Some("Say why you need this access.")
        );
        // A right-to-left override would show the approver other words than were sent.
        let st = ok("on call \u{202E}tnedicni").expect_err("bidi");
        assert!(
            st.errors["justification"].starts_with("Remove the text-direction controls"),
            "{:?}",
            st.errors
        );
    }

    #[test]
    fn an_address_is_one_the_mailer_can_send_to() {
        let email = |e: &str| {
            let f = ApplyForm {
                email: e.into(),
                ..form("", "2h")
            };
            check(&f, &offer(false)).map(|c| c.email)
        };
        assert_eq!(
            email(" Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        let error = |e: &str| email(e).expect_err(e).errors.get("email").cloned();
        assert!(error("ada").is_some_and(|m| m.starts_with("Enter an e-mail address")));
        // An address, but one only an SMTPUTF8 server would take: the external's only channel.
        assert!(error("ada@m\u{fc}nchen.example").is_some_and(|m| m.contains("xn--")));
    }

    #[test]
    fn a_duration_is_whole_seconds_within_the_flows() {
        let d = |s: &str| check(&form("", s), &offer(false)).map(|c| c.duration);
        assert_eq!(d("1h30m").ok(), Some(Duration::from_secs(5400)));
        for bad in ["1h 500ms", "500ms", "8h 1s", "0s", "soon"] {
            let st = d(bad).expect_err(bad);
            assert!(st.errors.contains_key("duration"), "{bad:?}");
            assert_eq!(st.values.get("duration").map(String::as_str), Some(bad));
        }
    }
}
