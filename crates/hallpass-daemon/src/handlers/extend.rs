//! `extend`: more time on an active grant, through the flow's approval again (auto flows
//! extend up to the flow's maximum in total).

use std::time::Duration;

use hallpass_core::GrantId;
use hallpass_core::grant::GrantStatus;
use hallpass_core::request::RequestKind;
use hallpass_proto::{ApiError, ExtendArgs, RequestView};

use super::submit::{Draft, open};
use super::{Session, clean_text};
use crate::broker::{Caller, Fail};

pub async fn extend(
    s: &Session,
    c: &Caller,
    id: GrantId,
    args: ExtendArgs,
) -> Result<RequestView, Fail> {
    let store = s.broker.store();
    let g = store
        .grant(id)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("grant {id}"))))?;
    if g.user != c.id() {
        return Err(Fail::Api(ApiError::Forbidden {
            why: format!("{id} is someone else's access; only its holder can extend it"),
            admins: vec![],
            hint: None,
        }));
    }
    if g.status_at(s.broker.now()) != GrantStatus::Active {
        return Err(Fail::Api(ApiError::InvalidTransition {
            what: format!("grant {id}"),
            from: g.status_at(s.broker.now()).to_string(),
            action: "extend (only active access can be extended; use `hallpass request again`)"
                .into(),
        }));
    }
    if args.duration_secs == 0 {
        return Err(Fail::Api(ApiError::invalid(
            "duration",
            "must be longer than zero",
        )));
    }
    let origin = store
        .request(g.request)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("request {}", g.request))))?;
    let draft = Draft {
        flow: origin.flow,
        kind: RequestKind::Extend { grant: id },
        bundle: None,
        targets: vec![g.target.clone()],
        duration: Some(Duration::from_secs(args.duration_secs)),
        reason: clean_text("reason", args.reason)?,
        again_of: None,
    };
    open(s, c, draft).await
}
