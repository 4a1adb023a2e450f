//! Looking at targets: `integrations test` and `discover`, and drift detection on demand.
//! Invariant: test and discover change nothing anywhere; drift changes a target only with
//! `cleanup`, which is for admins.

use hallpass_core::IntegrationName;
use hallpass_core::integration::{Integration, ResourceDef};
use hallpass_proto::{ApiError, CheckView, DriftReport};

use super::Session;
use crate::broker::{Caller, Fail};
use crate::{connectors, drift};

fn integration(s: &Session, name: &IntegrationName) -> Result<Integration, Fail> {
    s.broker
        .store()
        .integration(name)?
        .ok_or_else(|| Fail::Api(ApiError::not_found(format!("integration {name}"))))
}

pub async fn test(s: &Session, c: &Caller, name: IntegrationName) -> Result<Vec<CheckView>, Fail> {
    s.broker.require_admin(c, "Testing an integration")?;
    let i = integration(s, &name)?;
    Ok(connectors::test(&i)
        .await
        .into_iter()
        .map(|c| CheckView {
            what: c.what,
            ok: c.ok,
            detail: c.detail,
        })
        .collect())
}

pub async fn discover(
    s: &Session,
    c: &Caller,
    name: IntegrationName,
) -> Result<Vec<ResourceDef>, Fail> {
    s.broker
        .require_admin(c, "Discovering an integration's resources")?;
    let i = integration(s, &name)?;
    connectors::discover(&i)
        .await
        .map_err(|e| Fail::Api(ApiError::Unavailable { why: e.to_string() }))
}

pub async fn drift(s: &Session, c: &Caller, cleanup: bool) -> Result<DriftReport, Fail> {
    if cleanup {
        s.broker.require_admin(c, "Cleaning up drift")?;
    } else {
        s.broker.require_reader(c, "Checking for drift")?;
    }
    drift::reconcile(&s.broker, cleanup, &c.actor(), c.source).await
}
