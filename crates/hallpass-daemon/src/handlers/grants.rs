//! Reading grants: mine, or everyone's (admins and auditors), with live remaining time.

use hallpass_core::GrantId;
use hallpass_core::grant::Grant;
use hallpass_proto::{ApiError, GrantQuery, GrantScope, GrantView, Page};

use super::{Session, find_user, page_limit, parse_cursor};
use crate::broker::{Caller, Fail};
use crate::views;

pub async fn list(s: &Session, c: &Caller, q: GrantQuery) -> Result<Page<GrantView>, Fail> {
    let store = s.broker.store();
    let now = s.broker.now();
    let user = q
        .user
        .as_ref()
        .map(|r| find_user(&s.broker, r))
        .transpose()?;
    let keep = |g: &Grant| {
        (q.statuses.is_empty() || q.statuses.contains(&g.status_at(now)))
            && q.integration
                .as_ref()
                .is_none_or(|i| *i == g.target.integration)
            && user.as_ref().is_none_or(|u| u.id == g.user)
    };
    let before = parse_cursor(&q.after)?.map(GrantId);
    let limit = page_limit(q.limit);
    let (items, next) = match q.scope {
        GrantScope::Mine => store.grants_of(c.id(), before, limit, &keep)?,
        GrantScope::All => {
            s.broker.require_reader(c, "Listing everyone's grants")?;
            store.grants_page(before, limit, &keep)?
        }
    };
    Ok(Page {
        items: views::grants(store, &items, now)?,
        next: next.map(|id| id.0.to_string()),
    })
}

pub async fn get(s: &Session, c: &Caller, id: GrantId) -> Result<GrantView, Fail> {
    let g = s
        .broker
        .store()
        .grant(id)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("grant {id}"))))?;
    if g.user != c.id() {
        s.broker
            .require_reader(c, "Looking at other people's grants")?;
    }
    Ok(views::grant(s.broker.store(), &g, s.broker.now())?)
}
