//! The site's pages, as maud templates: every value is escaped by the template engine, no
//! HTML is built from strings, and no page carries inline script or style (the CSP forbids it).

use std::collections::BTreeMap;
use std::time::Duration;

use hallpass_core::time::format_duration;

use maud::{DOCTYPE, Markup, html};

/// One grant as the status page shows it.
pub struct GrantLine {
    pub target: String,
    pub state: GrantState,
}

pub enum GrantState {
    Setting,
    Active {
        expires_rfc3339: String,
        left: String,
        credentials: Vec<(String, String, bool)>,
        hint: String,
    },
    Ended(String),
    Failed,
}

/// What a link offers, for its page.
#[derive(Clone, Debug)]
pub struct Offer {
    pub title: String,
    pub targets: Vec<String>,
    /// The flow's longest duration.
    pub max: Duration,
    pub approval: String,
    pub needs_ssh_key: bool,
    pub justification_required: bool,
}

/// What was typed, and what is wrong with it, per field.
#[derive(Clone, Debug, Default)]
pub struct FormState {
    pub values: BTreeMap<&'static str, String>,
    pub errors: BTreeMap<&'static str, String>,
    /// A problem not tied to one field.
    pub general: Option<String>,
}

impl FormState {
    fn value(&self, field: &str) -> &str {
        self.values.get(field).map(String::as_str).unwrap_or("")
    }
}

fn layout(org: &str, title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                @if let Some(secs) = refresh {
                    meta http-equiv="refresh" content=(secs);
                }
                title { (title) " · " (org) }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/countdown.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.org { (org) }
                    span.product { "access" }
                }
                main #main {
                    (body)
                }
                footer {
                    p { "Access for " (org) " is granted for a limited time and recorded. Requests are reviewed by people at " (org) "." }
                }
            }
        }
    }
}

fn field(
    form: &FormState,
    name: &'static str,
    label: &str,
    help: &str,
    kind: &str,
    autocomplete: &str,
    required: bool,
) -> Markup {
    let err = form.errors.get(name);
    let help_id = format!("{name}-help");
    let err_id = format!("{name}-error");
    let described = match err {
        Some(_) => format!("{err_id} {help_id}"),
        None => help_id.clone(),
    };
    html! {
        div.field.invalid[err.is_some()] {
            label for=(name) { (label) @if !required { span.optional { " (optional)" } } }
            @if let Some(e) = err {
                p.error id=(err_id) { (e) }
            }
            @if kind == "textarea" {
                textarea id=(name) name=(name) rows="4" autocomplete=(autocomplete)
                    aria-describedby=(described) aria-invalid=[err.map(|_| "true")] required[required] {
                    (form.value(name))
                }
            } @else {
                input id=(name) name=(name) type=(kind) value=(form.value(name)) autocomplete=(autocomplete)
                    aria-describedby=(described) aria-invalid=[err.map(|_| "true")] required[required];
            }
            p.help id=(help_id) { (help) }
        }
    }
}

pub fn offer(org: &str, action: &str, csrf: &str, o: &Offer, form: &FormState) -> Markup {
    let has_errors = !form.errors.is_empty() || form.general.is_some();
    layout(
        org,
        &o.title,
        None,
        html! {
            h1 { (org) " offers you access" }
            section.card aria-labelledby="offer-title" {
                h2 #offer-title { (o.title) }
                dl.facts {
                    dt { "Access to" }
                    dd { ul.targets { @for t in &o.targets { li { code { (t) } } } } }
                    dt { "For at most" }
                    dd { (format_duration(o.max)) }
                    dt { "Decided by" }
                    dd { (o.approval) }
                }
            }
            @if has_errors {
                div.alert role="alert" tabindex="-1" #problems {
                    h2 { "Please check the form" }
                    @if let Some(g) = &form.general { p { (g) } }
                    @if !form.errors.is_empty() {
                        ul { @for (f, e) in &form.errors { li { a href={ "#" (f) } { (e) } } } }
                    }
                }
            }
            form.card method="post" action=(action) novalidate {
                h2 { "Ask for access" }
                input type="hidden" name="csrf" value=(csrf);
                (field(form, "name", "Your name", "As it should appear to the people who review your request.", "text", "name", true))
                (field(form, "email", "E-mail", "Updates about this request are sent here.", "email", "email", true))
                (field(form, "company", "Company", "Who you work for.", "text", "organization", true))
                (field(form, "justification", "Why you need it", "What you will do with the access, e.g. a ticket number.", "textarea", "off", o.justification_required))
                (field(form, "duration", "For how long", &format!("Like 30m, 2h or 1d; at most {}.", format_duration(o.max)), "text", "off", true))
                @if o.needs_ssh_key {
                    (field(form, "ssh_key", "SSH public key", "One line from your public key file, e.g. ~/.ssh/id_ed25519.pub. Never your private key.", "textarea", "off", true))
                }
                button type="submit" { "Ask for access" }
            }
        },
    )
}

/// What a held link form says, for its confirmation page.
pub struct Held {
    pub name: String,
    pub email: String,
    pub company: String,
    pub justification: Option<String>,
    pub duration: String,
}

pub fn confirm(org: &str, action: &str, csrf: &str, o: &Offer, h: &Held) -> Markup {
    layout(
        org,
        "Confirm your request",
        None,
        html! {
            h1 { "Confirm your request" }
            section.card aria-labelledby="offer-title" {
                h2 #offer-title { (o.title) }
                dl.facts {
                    dt { "Access to" }
                    dd { ul.targets { @for t in &o.targets { li { code { (t) } } } } }
                    dt { "For" }
                    dd { (h.duration) }
                    dt { "You" }
                    dd { (h.name) ", " (h.company) " (" (h.email) ")" }
                    @if let Some(j) = &h.justification {
                        dt { "Why" }
                        dd { (j) }
                    }
                    dt { "Decided by" }
                    dd { (o.approval) }
                }
            }
            form.card method="post" action=(action) {
                p { "Your address is confirmed. Send the request to the reviewers?" }
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Send my request" }
            }
        },
    )
}

pub fn message(org: &str, title: &str, text: &str) -> Markup {
    layout(
        org,
        title,
        None,
        html! {
            section.card.notice {
                h1 { (title) }
                p { (text) }
            }
        },
    )
}

pub struct StatusView {
    pub request_id: String,
    pub status_url: String,
    pub targets: Vec<String>,
    pub duration: String,
    pub justification: String,
    pub headline: &'static str,
    pub tone: &'static str,
    pub detail: String,
    pub grants: Vec<GrantLine>,
    pub can_release: bool,
    pub release_csrf: String,
    pub release_action: String,
    pub refresh: Option<u32>,
    pub emailed_to: Option<String>,
}

pub fn status(org: &str, v: &StatusView) -> Markup {
    layout(
        org,
        &format!("Request {}", v.request_id),
        v.refresh,
        html! {
            h1 { "Your request " span.rid { (v.request_id) } }
            section.card aria-labelledby="state" {
                p #state class={ "state " (v.tone) } { (v.headline) }
                @if !v.detail.is_empty() { p { (v.detail) } }
                @for g in &v.grants {
                    div.grant {
                        h2 { code { (g.target) } }
                        @match &g.state {
                            GrantState::Setting => { p { "Being set up…" } }
                            GrantState::Failed => { p { "It could not be set up; the people at " (org) " have been told." } }
                            GrantState::Ended(why) => { p { (why) } }
                            GrantState::Active { expires_rfc3339, left, credentials, hint } => {
                                p.left {
                                    "Time left: "
                                    strong { time.countdown datetime=(expires_rfc3339) data-expires=(expires_rfc3339) { (left) } }
                                }
                                @if credentials.is_empty() {
                                    p { "No credentials are needed: use your usual login." }
                                } @else {
                                    dl.credentials aria-label="Credentials" {
                                        @for (name, value, secret) in credentials {
                                            dt { (name) @if *secret { span.secret { " (secret)" } } }
                                            dd { code { (value) } }
                                        }
                                    }
                                }
                                @if !hint.is_empty() { p.hint { (hint) } }
                            }
                        }
                    }
                }
                @if v.can_release {
                    form method="post" action=(v.release_action) {
                        input type="hidden" name="csrf" value=(v.release_csrf);
                        button.danger type="submit" { "Release access now" }
                    }
                }
            }
            section.card {
                h2 { "What you asked for" }
                dl.facts {
                    dt { "Access to" }
                    dd { ul.targets { @for t in &v.targets { li { code { (t) } } } } }
                    dt { "For" }
                    dd { (v.duration) }
                    @if !v.justification.is_empty() {
                        dt { "Why" }
                        dd { (v.justification) }
                    }
                }
            }
            section.card.keep {
                h2 { "Keep this page" }
                p { "This private address is the only way back to your request. Anyone who has it can see your credentials, so do not share it." }
                p { code.url { (v.status_url) } }
                @if let Some(to) = &v.emailed_to { p { "We also e-mailed it to " (to) "." } }
            }
        },
    )
}
