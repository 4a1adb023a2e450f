//! The freedesktop notification service (`org.freedesktop.Notifications` on the session bus),
//! spoken over one zbus connection: `GetCapabilities`, `Notify`, `CloseNotification`, and the
//! `ActionInvoked` / `NotificationClosed` signals. Invariant: the signal subscription exists
//! before the first `Notify` on a connection, and notices are sent on that same connection, so
//! no button press is lost (servers that address signals to the sender reach us too).

use std::collections::HashMap;

use futures::StreamExt;
use tokio::sync::mpsc;
use zbus::Variant;

use super::notice::Notice;

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
const INTERFACE: &str = "org.freedesktop.Notifications";

/// What the notification server told us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A button (action key) was pressed on notification `id`.
    Action(u32, String),
    /// Notification `id` was closed (expired, dismissed or closed by us).
    Closed(u32),
    /// The bus connection ended: connect again before the next notice.
    Lost,
}

/// A live connection to the session bus with the server's capabilities.
pub struct Desktop {
    conn: zbus::Connection,
    /// The server shows buttons (`actions` capability).
    pub actions: bool,
}

impl Desktop {
    /// Connects to the session bus (`DBUS_SESSION_BUS_ADDRESS`), subscribes to the server's
    /// signals (forwarded to `signals`), and asks for its capabilities: an error when there is
    /// no bus or no notification service on it.
    pub async fn connect(signals: mpsc::UnboundedSender<Signal>) -> Result<Desktop, String> {
        let conn = zbus::Connection::session()
            .await
            .map_err(|e| format!("no session bus: {e}"))?;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(INTERFACE)
            .build()
            .map_err(|e| e.to_string())?;
        let mut stream = zbus::MessageStream::for_match_rule(rule, &conn, None)
            .await
            .map_err(|e| format!("cannot subscribe to notification signals: {e}"))?;
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let header = msg.header();
                let signal = match header.member().map(|m| m.as_str()) {
                    Some("ActionInvoked") => msg
                        .body()
                        .deserialize::<(u32, String)>()
                        .ok()
                        .map(|(id, key)| Signal::Action(id, key)),
                    Some("NotificationClosed") => msg
                        .body()
                        .deserialize::<(u32, u32)>()
                        .ok()
                        .map(|(id, _reason)| Signal::Closed(id)),
                    _ => None,
                };
                if let Some(s) = signal
                    && signals.send(s).is_err()
                {
                    return;
                }
            }
            let _ = signals.send(Signal::Lost);
        });
        let caps: Vec<String> = conn
            .call_method(Some(SERVICE), PATH, Some(INTERFACE), "GetCapabilities", &())
            .await
            .map_err(|e| format!("no notification service on the session bus: {e}"))?
            .body()
            .deserialize()
            .map_err(|e| format!("the notification service answered oddly: {e}"))?;
        Ok(Desktop {
            conn,
            actions: caps.iter().any(|c| c == "actions"),
        })
    }

    /// Shows `n` with `buttons` (action key, label) when the server supports them; returns the
    /// server's id for it.
    pub async fn show(&self, n: &Notice, buttons: &[(&str, &str)]) -> Result<u32, String> {
        let actions: Vec<&str> = if self.actions {
            buttons.iter().flat_map(|(k, l)| [*k, *l]).collect()
        } else {
            vec![]
        };
        let mut hints: HashMap<&str, Variant<'_>> = HashMap::new();
        hints.insert("desktop-entry", Variant::from("hallpass"));
        // Urgency: 1 normal; a request waiting for a decision stays until acted on.
        hints.insert("urgency", Variant::U8(1));
        let timeout: i32 = if buttons.is_empty() { -1 } else { 0 };
        self.conn
            .call_method(
                Some(SERVICE),
                PATH,
                Some(INTERFACE),
                "Notify",
                &(
                    "hallpass",
                    0u32,
                    "dialog-password",
                    n.summary.as_str(),
                    n.body.as_str(),
                    actions,
                    hints,
                    timeout,
                ),
            )
            .await
            .map_err(|e| format!("the notification service refused Notify: {e}"))?
            .body()
            .deserialize::<u32>()
            .map_err(|e| format!("the notification service answered oddly: {e}"))
    }

    /// Closes notification `id` (a decided request); failures do not matter.
    pub async fn close(&self, id: u32) {
        let _ = self
            .conn
            .call_method(
                Some(SERVICE),
                PATH,
                Some(INTERFACE),
                "CloseNotification",
                &(id,),
            )
            .await;
    }
}
