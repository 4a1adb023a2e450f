//! The access-link form without a server or a store: a `POST /l/{token}` body decoded and
//! checked exactly as the site does it, and the page the site answers with. Public for the
//! `web_form` fuzz target (`fuzz/`) and the suite's replay of its seeds; the site calls the
//! same functions directly, not through this module.

use axum::Form;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, header};

pub use super::apply::{ApplyForm, Checked};
pub use super::pages::{FormState, Offer};

/// Decodes a form body with the site's own extractor (axum's `Form`, urlencoded). `Err` holds
/// the rejection's text: the site answers it with "The form could not be read".
pub fn decode(body: &[u8]) -> Result<ApplyForm, String> {
    let req = Request::post("/l/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_vec()))
        .map_err(|e| e.to_string())?;
    futures::executor::block_on(Form::<ApplyForm>::from_request(req, &()))
        .map(|Form(f)| f)
        .map_err(|r| r.body_text())
}

/// The form's checks, for a link offering `offer`.
pub fn check(form: &ApplyForm, offer: &Offer) -> Result<Checked, FormState> {
    super::apply::check(form, offer)
}

/// The form as typed, as the page shows it again.
pub fn typed(form: &ApplyForm) -> FormState {
    super::apply::typed(form)
}

/// The link page showing `form`, as the site renders it (for an example organisation, link
/// and CSRF token).
pub fn page(offer: &Offer, form: &FormState) -> String {
    super::pages::offer(
        "Example Org",
        "/l/0123456789abcdef0123456789abcdef",
        "csrf-token",
        offer,
        form,
    )
    .into_string()
}
