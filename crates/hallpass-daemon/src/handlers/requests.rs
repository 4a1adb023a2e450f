//! Reading requests: mine, waiting for my decision, or all (admins and auditors).

use hallpass_core::request::{Request, RequestStatus};
use hallpass_core::{RequestId, policy};
use hallpass_proto::{ApiError, Page, RequestQuery, RequestScope, RequestView};

use super::{Session, find_user, page_limit, parse_cursor};
use crate::broker::{Caller, Fail};
use crate::views;

pub async fn list(s: &Session, c: &Caller, q: RequestQuery) -> Result<Page<RequestView>, Fail> {
    let store = s.broker.store();
    let now = s.broker.now();
    let requester = q
        .requester
        .as_ref()
        .map(|r| find_user(&s.broker, r))
        .transpose()?;
    let keep = |r: &Request| {
        let status = if r.is_overdue(now) {
            RequestStatus::TimedOut
        } else {
            r.status
        };
        q.status.is_none_or(|st| st == status)
            && q.flow.as_ref().is_none_or(|f| *f == r.flow)
            && requester.as_ref().is_none_or(|u| u.id == r.requester)
    };
    let before = parse_cursor(&q.after)?.map(RequestId);
    let limit = page_limit(q.limit);
    let (items, next) = match q.scope {
        RequestScope::Mine => store.requests_of(c.id(), before, limit, &keep)?,
        RequestScope::All => {
            s.broker.require_reader(c, "Listing everyone's requests")?;
            store.requests_page(before, limit, &keep)?
        }
        RequestScope::ToApprove => {
            let dir = s.broker.directory();
            let mut waiting: Vec<Request> = store
                .pending_requests()?
                .into_iter()
                .filter(|r| keep(r) && !r.is_overdue(now) && !r.approvals.iter().any(|a| a.by == c.id()))
                .filter(|r| {
                    let flow = store.flow(&r.flow).ok().flatten();
                    let requester = store.user(r.requester).ok().flatten();
                    matches!((flow, requester), (Some(f), Some(u)) if policy::may_decide(&f, &dir, &u, &c.user).is_ok())
                })
                .collect();
            waiting.truncate(limit);
            (waiting, None)
        }
    };
    Ok(Page {
        items: items
            .iter()
            .map(|r| views::request(&s.broker, r, &c.user))
            .collect::<Result<_, _>>()?,
        next: next.map(|id| id.0.to_string()),
    })
}

pub async fn get(s: &Session, c: &Caller, id: RequestId) -> Result<RequestView, Fail> {
    let req = s
        .broker
        .store()
        .request(id)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("request {id}"))))?;
    let view = views::request(&s.broker, &req, &c.user)?;
    let involved =
        req.requester == c.id() || view.can_decide || req.approvals.iter().any(|a| a.by == c.id());
    if !involved {
        s.broker
            .require_reader(c, "Looking at other people's requests")?;
    }
    Ok(view)
}
