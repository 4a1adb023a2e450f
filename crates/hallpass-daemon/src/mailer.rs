//! E-mail: composing messages, the durable outbox, and the task that delivers it over SMTP.
//! Invariants: a message is queued in the same transaction as the change it tells of (invites,
//! a request opened through a link) or, for externals' status changes, in the transaction that
//! moves the mailer's event cursor past the event, so nothing is mailed twice or never; a
//! message leaves the outbox only once the server accepted it; a failing server delays mail
//! (with backoff, visible in `hallpass outbox` and the log) and never blocks a request.
//! Message bodies never reach a log line or the audit log.

use std::sync::Arc;
use std::time::Duration;

use hallpass_core::audit::{Actor, AuditEntry, Source};
use hallpass_core::event::{Event, EventKind};
use hallpass_core::grant::EndReason;
use hallpass_core::outbox::Mail;
use hallpass_core::time::format_duration;
use hallpass_core::user::{Role, User};
use hallpass_core::{RequestId, Timestamp, UserId};
use hallpass_store::{StoreError, Txn};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use maud::{DOCTYPE, Markup, html};
use tokio::sync::watch;

use crate::broker::{Broker, Fail};
use crate::config::{SmtpConfig, SmtpTls};

/// A message about to be queued.
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub purpose: &'static str,
}

/// Queues `m` for delivery as soon as possible.
pub fn enqueue(tx: &mut Txn<'_>, now: Timestamp, m: Outgoing) -> Result<(), StoreError> {
    let mail = Mail {
        id: tx.next_mail_id()?,
        to: m.to,
        subject: m.subject,
        text: wrap(&m.text, 72),
        html: m.html,
        purpose: m.purpose.to_string(),
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
    };
    tx.put_mail(&mail)
}

/// Wraps plain text at `width` columns (words longer than that stay whole), so the text part
/// stays 7-bit and readable in any mail client.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut current = String::new();
        for word in line.split_whitespace() {
            if !current.is_empty() && current.len() + 1 + word.len() > width {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if current.is_empty() {
                current.push_str(&indent);
            } else {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    out.truncate(out.trim_end_matches('\n').len());
    out.push('\n');
    out
}

fn html_mail(org: &str, heading: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (heading) } }
            body style="font-family: system-ui, sans-serif; color: #1b1f24; line-height: 1.5" {
                p style="font-weight: 700" { (org) }
                h1 style="font-size: 1.3rem" { (heading) }
                (body)
                p style="color: #57606a; font-size: .85rem" { "Sent by " (org) "'s access broker." }
            }
        }
    }
    .into_string()
}

/// The invite code, to the person invited.
pub fn invite(org: &str, user: &User, code: &str, expires_at: Timestamp) -> Outgoing {
    let heading = format!("You are invited to {org}'s access broker");
    let command = format!("hallpass accept {code}");
    Outgoing {
        to: user.email.clone(),
        subject: heading.clone(),
        text: format!(
            "Hello {name},\n\nyou were invited to hallpass, {org}'s access broker, as {role}.\n\
             On your machine, as your own user, run:\n\n    {command}\n\n\
             The code works once and expires {expires_at}.\n",
            name = user.name,
            role = user.role,
        ),
        html: html_mail(
            org,
            &heading,
            html! {
                p { "Hello " (user.name) "," }
                p { "you were invited to hallpass, " (org) "'s access broker, as " (user.role.as_str()) ". On your machine, as your own user, run:" }
                pre { code { (command) } }
                p { "The code works once and expires " (expires_at.to_rfc3339()) "." }
            },
        ),
        purpose: "invite",
    }
}

/// The confirmation link for a link form, to the address it gave (`[web] confirm_email`).
pub fn confirm_link(org: &str, name: &str, email: &str, url: &str) -> Outgoing {
    let heading = format!("Confirm your request to {org}");
    Outgoing {
        to: email.to_string(),
        subject: heading.clone(),
        text: format!(
            "Hello {name},\n\nto send your request for access to {org}'s reviewers, open this link within\n\
             a day and confirm:\n\n    {url}\n\n\
             If you did not ask for access, ignore this message: nothing is sent without it.\n",
        ),
        html: html_mail(
            org,
            &heading,
            html! {
                p { "Hello " (name) "," }
                p { "to send your request for access to " (org) "'s reviewers, open this link within a day and confirm:" }
                p { a href=(url) { (url) } }
                p { "If you did not ask for access, ignore this message: nothing is sent without it." }
            },
        ),
        purpose: "link.confirm",
    }
}

/// The private status link, to the external who asked.
pub fn status_link(org: &str, user: &User, request: RequestId, url: &str) -> Outgoing {
    let heading = format!("Your request {request} to {org}");
    Outgoing {
        to: user.email.clone(),
        subject: heading.clone(),
        text: format!(
            "Hello {name},\n\nwe received your request {request}. Follow it, and use the access once it is\n\
             granted, on your private status page:\n\n    {url}\n\n\
             Keep this link to yourself: whoever has it can see your credentials.\n",
            name = user.name,
        ),
        html: html_mail(
            org,
            &heading,
            html! {
                p { "Hello " (user.name) "," }
                p { "we received your request " (request.to_string()) ". Follow it, and use the access once it is granted, on your private status page:" }
                p { a href=(url) { (url) } }
                p { "Keep this link to yourself: whoever has it can see your credentials." }
            },
        ),
        purpose: "link.status",
    }
}

/// A status change, to the external it concerns. No link or credentials: those are on the
/// status page whose address the first message gave.
fn status_change(org: &str, user: &User, request: RequestId, what: &str) -> Outgoing {
    let heading = format!("Update on your request {request} to {org}");
    Outgoing {
        to: user.email.clone(),
        subject: heading.clone(),
        text: format!(
            "Hello {name},\n\n{what}\n\nYour private status page (the link in our first message) has the details.\n",
            name = user.name,
        ),
        html: html_mail(
            org,
            &heading,
            html! {
                p { "Hello " (user.name) "," }
                p { (what) }
                p { "Your private status page (the link in our first message) has the details." }
            },
        ),
        purpose: "link.update",
    }
}

/// What an event means for the external it concerns, if anyone.
fn about_external(tx: &Txn<'_>, org: &str, e: &Event) -> Result<Option<Outgoing>, StoreError> {
    let external = |id: UserId| -> Result<Option<User>, StoreError> {
        Ok(tx.user(id)?.filter(|u| u.role == Role::External))
    };
    let requester = |id: RequestId| -> Result<Option<User>, StoreError> {
        match tx.request(id)? {
            Some(r) => external(r.requester),
            None => Ok(None),
        }
    };
    Ok(match &e.kind {
        EventKind::RequestRejected { request, reason, .. } => requester(*request)?.map(|u| {
            let why = reason
                .as_deref()
                .map(|r| format!(" The reason given: {r}"))
                .unwrap_or_default();
            status_change(org, &u, *request, &format!("Your request was declined.{why}"))
        }),
        EventKind::RequestTimedOut { request } => requester(*request)?.map(|u| {
            status_change(
                org,
                &u,
                *request,
                "Nobody decided on your request in time, so it was closed. You may ask again with the link you were sent.",
            )
        }),
        EventKind::GrantActivated {
            request,
            user,
            target,
            expires_at,
            ..
        } => external(*user)?.map(|u| {
            let left = format_duration(e.at.until(*expires_at));
            status_change(
                org,
                &u,
                *request,
                &format!("Your access to {target} is active for {left} (until {expires_at})."),
            )
        }),
        EventKind::GrantEnded {
            grant,
            user,
            target,
            reason,
        } => match (external(*user)?, tx.grant(*grant)?) {
            (Some(u), Some(g)) => {
                let how = match reason {
                    EndReason::Released => "You released your access",
                    EndReason::Revoked { .. } => "Your access was revoked",
                    EndReason::GrantFailed { .. } => "Your access could not be set up",
                    _ => "Your access has ended",
                };
                Some(status_change(org, &u, g.request, &format!("{how} to {target}.")))
            }
            _ => None,
        },
        _ => None,
    })
}

/// How many events the mailer reads at once.
const EVENT_BATCH: usize = 256;

/// Queues mail for the events since the mailer's cursor and moves it; returns whether more
/// events may wait.
async fn follow_events(broker: &Broker) -> Result<bool, Fail> {
    let store = broker.store();
    let cursor = store.mail_cursor()?.unwrap_or(0);
    let events = store.events_after(cursor, EVENT_BATCH)?;
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(false);
    };
    let org = broker.config().organisation.clone();
    let now = broker.now();
    broker
        .commit(|tx| {
            for e in &events {
                if let Some(m) = about_external(tx, &org, e)? {
                    enqueue(tx, now, m)?;
                }
            }
            tx.set_mail_cursor(last)?;
            Ok(())
        })
        .await?;
    Ok(events.len() == EVENT_BATCH)
}

fn transport(cfg: &SmtpConfig) -> Result<Transport, String> {
    let host = cfg.host.as_deref().ok_or("smtp.host is not set")?;
    let builder = match cfg.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| format!("smtp: {e}"))?,
        SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| format!("smtp: {e}"))?
        }
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let mut builder = builder.port(cfg.port()).timeout(Some(cfg.timeout));
    if let Some(ca) = &cfg.ca_file
        && cfg.tls != SmtpTls::None
    {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let pem = std::fs::read(ca).map_err(|e| format!("smtp.ca_file {}: {e}", ca.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("smtp.ca_file {}: {e}", ca.display()))?;
        let params = TlsParameters::builder(host.to_string())
            .add_root_certificate(cert)
            .build_rustls()
            .map_err(|e| format!("smtp: TLS setup: {e}"))?;
        builder = builder.tls(match cfg.tls {
            SmtpTls::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if let Some(path) = &cfg.credentials_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("smtp.credentials_file {}: {e}", path.display()))?;
        let mut lines = text.lines();
        let (Some(user), Some(pass)) = (lines.next(), lines.next()) else {
            return Err(format!(
                "smtp.credentials_file {} needs the user on line 1 and the password on line 2",
                path.display()
            ));
        };
        builder = builder.credentials(SmtpCredentials::new(user.to_string(), pass.to_string()));
    }
    Ok(builder.build())
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

async fn deliver(cfg: &SmtpConfig, t: &Result<Transport, String>, m: &Mail) -> Result<(), String> {
    let from: Mailbox = cfg.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
    let to: Mailbox =
        m.to.parse()
            .map_err(|e| format!("recipient {}: {e}", m.to))?;
    let msg = Message::builder()
        .from(from)
        .to(to)
        .subject(m.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            m.text.clone(),
            m.html.clone(),
        ))
        .map_err(|e| format!("building the message: {e}"))?;
    let t = t.as_ref().map_err(Clone::clone)?;
    tokio::time::timeout(cfg.timeout + Duration::from_secs(5), t.send(msg))
        .await
        .map_err(|_| "the SMTP server did not answer in time".to_string())?
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Failed attempts after which a message's trouble is audited (admins see it in `hallpass
/// audit` as well as in `hallpass outbox` and the log).
const ALERT_AFTER: u32 = 3;

fn backoff(cfg: &SmtpConfig, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    cfg.retry_initial.saturating_mul(factor).min(cfg.retry_max)
}

/// Attempts every due message once; returns when the next one is due.
async fn deliver_due(broker: &Broker) -> Result<Option<Timestamp>, Fail> {
    let cfg = &broker.config().smtp;
    let now = broker.now();
    let mut next: Option<Timestamp> = None;
    // Built once per pass, at the first due message (the CA and credentials files are read
    // then, so a replaced file is picked up by the next pass).
    let mut t: Option<Result<Transport, String>> = None;
    for m in broker.store().outbox()? {
        if m.next_attempt_at > now {
            next = Some(next.map_or(m.next_attempt_at, |n| n.min(m.next_attempt_at)));
            continue;
        }
        let result = deliver(cfg, t.get_or_insert_with(|| transport(cfg)), &m).await;
        let after = broker.now();
        match result {
            Ok(()) => {
                broker.commit(|tx| Ok(tx.delete_mail(m.id)?)).await?;
                tracing::info!(mail = %m.id, purpose = %m.purpose, attempts = m.attempts + 1, "e-mail delivered");
            }
            Err(error) => {
                let attempts = m.attempts + 1;
                let at = after.plus(backoff(cfg, attempts));
                let updated = Mail {
                    attempts,
                    next_attempt_at: at,
                    last_error: Some(error.clone()),
                    ..m.clone()
                };
                broker
                    .commit(|tx| {
                        tx.put_mail(&updated)?;
                        if attempts == ALERT_AFTER {
                            tx.audit(
                                after,
                                AuditEntry::new(
                                    Actor::System,
                                    Source::System,
                                    "mail.failing",
                                    m.id,
                                    format!(
                                        "{} e-mail to {} not delivered after {attempts} attempts ({error}); still retrying",
                                        m.purpose, m.to
                                    ),
                                ),
                            )?;
                        }
                        Ok(())
                    })
                    .await?;
                tracing::warn!(mail = %m.id, purpose = %m.purpose, attempts, next_attempt = %at, %error, "e-mail not delivered; will retry");
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
    }
    Ok(next)
}

/// The mailer task: follows events into the outbox and delivers it, until `stop`.
pub async fn run(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut events = broker.subscribe_events();
    // The first run starts at the newest event: turning SMTP on does not mail about the past.
    let start = async {
        if broker.store().mail_cursor()?.is_none() {
            let head = broker.store().event_head()?;
            broker.commit(|tx| Ok(tx.set_mail_cursor(head)?)).await?;
        }
        Ok::<(), Fail>(())
    };
    if let Err(e) = start.await {
        let e = e.into_api();
        tracing::error!(error = %e, "mailer could not start");
    }
    loop {
        if *stop.borrow() {
            return;
        }
        let mut more = false;
        match follow_events(&broker).await {
            Ok(m) => more = m,
            Err(e) => {
                let e = e.into_api();
                tracing::error!(error = %e, "mailer could not read events");
            }
        }
        let next = match deliver_due(&broker).await {
            Ok(n) => n,
            Err(e) => {
                let e = e.into_api();
                tracing::error!(error = %e, "mailer could not read the outbox");
                Some(broker.now().plus(Duration::from_secs(5)))
            }
        };
        if more {
            continue;
        }
        let wait = next
            .map(|n| broker.now().until(n))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = stop.changed() => return,
            _ = events.changed() => {}
            _ = broker.mailer_woken() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_wrapped_without_breaking_words_or_indented_lines() {
        let long = format!("{} end", "word ".repeat(30));
        let w = wrap(
            &format!(
                "Hello,\n\n{long}\n\n    hallpass accept hp-0123456789abcdef0123456789abcdef\n"
            ),
            72,
        );
        assert!(w.lines().all(|l| l.len() <= 72), "{w}");
        assert!(
            w.contains("\n    hallpass accept hp-0123456789abcdef0123456789abcdef\n"),
            "{w}"
        );
        assert!(w.starts_with("Hello,\n\nword word"), "{w}");
    }
}
