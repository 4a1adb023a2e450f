//! `cancel`: the requester (or an admin) withdraws a pending request.

use std::collections::BTreeSet;

use hallpass_core::RequestId;
use hallpass_core::audit::AuditEntry;
use hallpass_core::event::EventKind;
use hallpass_proto::{ApiError, RequestView};

use super::Session;
use crate::broker::{Caller, Fail};
use crate::views;

pub async fn cancel(s: &Session, c: &Caller, id: RequestId) -> Result<RequestView, Fail> {
    let now = s.broker.now();
    let req = s
        .broker
        .commit(|tx| {
            let mut req = tx
                .request(id)?
                .ok_or_else(|| Fail::Api(ApiError::not_found(format!("request {id}"))))?;
            if req.requester != c.id() && !c.is_admin() {
                return Err(s.broker.admins_only("Cancelling someone else's request"));
            }
            if req.is_overdue(now) {
                return Err(Fail::Api(ApiError::InvalidTransition {
                    what: format!("request {id}"),
                    from: "timed_out".into(),
                    action: "cancel".into(),
                }));
            }
            req.cancel(c.id(), now)?;
            tx.put_request(&req)?;
            tx.audit(
                now,
                AuditEntry::new(c.actor(), c.source, "request.cancel", id, "cancelled")
                    .about(req.requester)
                    .with_status(req.status),
            )?;
            tx.event(
                now,
                EventKind::RequestCancelled {
                    request: id,
                    by: c.id(),
                },
                BTreeSet::from([req.requester]),
            )?;
            Ok(req)
        })
        .await?;
    Ok(views::request(&s.broker, &req, &c.user)?)
}
