//! The e-mail outbox: a message waits here until an SMTP server accepted it.
//! Invariant: a message is deleted only after delivery, so an SMTP outage delays mail but never
//! loses it; its body (which may hold an invite code or a status link for its addressee) is
//! never logged or audited.

use serde::{Deserialize, Serialize};

use crate::id::MailId;
use crate::time::Timestamp;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub id: MailId,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// What it is for (`invite`, `link.status`), for logs and admins.
    pub purpose: String,
    pub created_at: Timestamp,
    #[serde(default)]
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    #[serde(default)]
    pub last_error: Option<String>,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("id", &self.id)
            .field("to", &self.to)
            .field("purpose", &self.purpose)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}
