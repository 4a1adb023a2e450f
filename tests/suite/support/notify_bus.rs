//! A private D-Bus session bus (a real `dbus-daemon`, started by the test) and a notification
//! server on it that records every `Notify` call: `org.freedesktop.Notifications` implemented
//! with zbus, answering `GetCapabilities` with `actions`, and able to emit `ActionInvoked` as a
//! person pressing a button would. Invariants: nothing here sleeps to synchronise (the bus is
//! ready when it prints its address; waits poll a condition up to a deadline); the bus and the
//! server die with the value; the test process's environment is never changed (the address is
//! passed to the process under test only).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hallpass_core::{Clock, SystemClock, Timestamp};

use super::binaries::wait_until;

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
const INTERFACE: &str = "org.freedesktop.Notifications";

/// One `Notify` call as the server saw it.
#[derive(Clone, Debug)]
pub struct Notified {
    pub id: u32,
    pub app: String,
    pub summary: String,
    pub body: String,
    /// Pairs of (key, label), flattened as on the wire.
    pub actions: Vec<String>,
    /// When it arrived (wall clock, comparable with the daemon's event times).
    pub at: Timestamp,
}

#[derive(Default)]
struct Record {
    notified: Vec<Notified>,
    closed: Vec<u32>,
}

struct Recorder {
    record: Arc<Mutex<Record>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        _hints: HashMap<String, zbus::OwnedVariant>,
        _expire_timeout: i32,
    ) -> u32 {
        let at = SystemClock.now();
        let mut r = self.record.lock().expect("record lock");
        let id = u32::try_from(r.notified.len() + 1).expect("few notifications");
        r.notified.push(Notified {
            id,
            app: app_name,
            summary,
            body,
            actions,
            at,
        });
        id
    }

    fn close_notification(&self, id: u32) {
        self.record.lock().expect("record lock").closed.push(id);
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "recorder".into(),
            "hallpass tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }
}

/// A `dbus-daemon` on a socket in its own temporary directory, killed on drop.
pub struct Bus {
    pub dir: tempfile::TempDir,
    /// For `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    daemon: Child,
}

impl Bus {
    /// Starts a session bus that any local user may connect to (the watch under test may run as
    /// another OS user than the recorder).
    pub fn start() -> Bus {
        let dir = tempfile::Builder::new()
            .prefix("hallpass-bus-")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod bus dir");
        let config = dir.path().join("session.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().display()
            ),
        )
        .expect("write bus config");
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("dbus-daemon.log")).expect("bus log"))
            .spawn()
            .expect("start dbus-daemon (install the dbus package; tests/run does)");
        // It prints its address once it listens.
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the bus address");
        let address = line.trim().to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed no address: {line:?}"
        );
        Bus {
            dir,
            address,
            daemon,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The recording notification server, connected to a [`Bus`] and owning the service name. It
/// runs on its own runtime thread, so the (blocking) test can wait and run commands meanwhile.
pub struct NotifyServer {
    conn: zbus::Connection,
    record: Arc<Mutex<Record>>,
    // Dropped last: the connection's tasks live on it.
    rt: tokio::runtime::Runtime,
}

impl NotifyServer {
    pub fn start(bus: &Bus) -> NotifyServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the notification server");
        let record = Arc::new(Mutex::new(Record::default()));
        let recorder = Recorder {
            record: record.clone(),
        };
        let conn = rt.block_on(async {
            zbus::connection::Builder::address(bus.address.as_str())
                .serve_at(PATH, recorder)
                .name(SERVICE)
                .build()
                .await
                .expect("connect the notification server to the bus")
        });
        NotifyServer { conn, record, rt }
    }

    /// Every `Notify` so far, in order.
    pub fn notified(&self) -> Vec<Notified> {
        self.record.lock().expect("record lock").notified.clone()
    }

    /// Ids the client closed with `CloseNotification`.
    pub fn closed(&self) -> Vec<u32> {
        self.record.lock().expect("record lock").closed.clone()
    }

    /// Waits for a notification whose summary contains `summary`, and returns the first.
    pub fn wait_for(&self, summary: &str) -> Notified {
        let find = || {
            self.notified()
                .into_iter()
                .find(|n| n.summary.contains(summary))
        };
        wait_until(
            Duration::from_secs(20),
            &format!(
                "a notification like {summary:?} (so far: {:#?})",
                self.notified()
            ),
            || find().is_some(),
        );
        find().expect("found above")
    }

    /// How many notifications had exactly this summary.
    pub fn count(&self, summary: &str) -> usize {
        self.notified()
            .iter()
            .filter(|n| n.summary == summary)
            .count()
    }

    /// A person presses the button `key` on notification `id`.
    pub fn invoke(&self, id: u32, key: &str) {
        self.rt
            .block_on(self.conn.emit_signal(
                None::<&str>,
                PATH,
                INTERFACE,
                "ActionInvoked",
                &(id, key),
            ))
            .expect("emit ActionInvoked");
    }
}
