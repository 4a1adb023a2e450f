//! Reading and verifying the audit log (admins and auditors).

use hallpass_core::audit::{AuditEvent, ChainVerifier};
use hallpass_proto::{AuditQuery, AuditVerification, Page};

use super::{Session, find_user, page_limit, parse_cursor};
use crate::broker::{Caller, Fail};

pub async fn list(s: &Session, c: &Caller, q: AuditQuery) -> Result<Page<AuditEvent>, Fail> {
    s.broker.require_reader(c, "The audit log")?;
    let person = q
        .person
        .as_ref()
        .map(|r| find_user(&s.broker, r))
        .transpose()?;
    let keep = |e: &AuditEvent| {
        person.as_ref().is_none_or(|p| {
            e.entry.subject == Some(p.id)
                || matches!(&e.entry.actor, hallpass_core::audit::Actor::User { id, .. } if *id == p.id)
        }) && q.integration.as_ref().is_none_or(|i| e.entry.integration.as_ref() == Some(i))
            && q.status.as_ref().is_none_or(|st| e.entry.status.as_deref() == Some(st.as_str()))
            && q.action.as_ref().is_none_or(|a| e.entry.action.contains(a.as_str()))
            && q.since.is_none_or(|t| e.at >= t)
            && q.until.is_none_or(|t| e.at < t)
    };
    let after = parse_cursor(&q.after)?.unwrap_or(0);
    let (items, next) = s
        .broker
        .store()
        .audit_page(after, page_limit(q.limit), &keep)?;
    Ok(Page {
        items,
        next: next.map(|n| n.to_string()),
    })
}

pub async fn verify(s: &Session, c: &Caller) -> Result<AuditVerification, Fail> {
    s.broker.require_reader(c, "Verifying the audit log")?;
    let store = s.broker.store();
    // The head is read first and the walk stops there: events appended while walking (the
    // scheduler keeps writing) belong to a later head and must not read as a broken chain.
    let (head_seq, head_hash) = store.audit_head()?;
    let mut v = ChainVerifier::default();
    let mut after = 0;
    'walk: loop {
        let (page, _) = store.audit_page(after, 1000, &|_| true)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in &page {
            if e.seq > head_seq {
                break 'walk;
            }
            if let Err(b) = v.push(e) {
                return Ok(AuditVerification {
                    checked: v.checked,
                    head_seq,
                    head_hash,
                    broken_at: Some(b.seq),
                    why: Some(b.why),
                });
            }
        }
        after = last;
    }
    // The head record must agree with the last event, or events were cut off the end.
    if v.checked != head_seq {
        return Ok(AuditVerification {
            checked: v.checked,
            head_seq,
            head_hash,
            broken_at: Some(v.checked + 1),
            why: Some(format!(
                "the log ends at {} but its head says {head_seq}",
                v.checked
            )),
        });
    }
    Ok(AuditVerification {
        checked: v.checked,
        head_seq,
        head_hash,
        broken_at: None,
        why: None,
    })
}
