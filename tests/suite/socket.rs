//! The daemon over a real unix socket: permission bits set at bind, a live socket never taken
//! over, a stale one replaced (also when a dead daemon's child still holds it), and the caller's
//! identity taken from the kernel's peer credentials, for root (the Rust client) and for other OS users (a child process running as
//! that uid speaks the documented wire format: 4-byte big-endian length + tarpc JSON).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use hallpass_core::audit::Source;
use hallpass_core::user::Role;
use hallpass_daemon::socket::{self, SocketError};
use hallpass_proto::{
    ApiError, ClientHello, HallpassRequest, HallpassResponse, PROTOCOL_VERSION, SignupArgs,
    UserQuery, connect_unix,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::assert_api_err;
use crate::support::harness::*;

/// A tempdir others may traverse (the daemon's runtime dir is 0755 too), and the socket path in it.
fn socket_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("hallpass-sock-")
        .tempdir()
        .expect("create a tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the socket dir");
    let path = dir.path().join("hallpassd.sock");
    (dir, path)
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Serves `d`'s broker on `listener` (catch-up step and scheduler included) until the sender fires.
fn serve(
    d: &TestDaemon,
    listener: tokio::net::UnixListener,
) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(hallpass_daemon::serve(
        d.broker.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

async fn shut_down(stop: oneshot::Sender<()>, task: JoinHandle<anyhow::Result<()>>) {
    let _ = stop.send(());
    tokio::time::timeout(WAIT, task)
        .await
        .expect("serve stops")
        .expect("the serve task did not panic")
        .expect("serve ends cleanly");
}

/// Serves `d` on `listener`, checks that root connecting to `path` reaches it and is told its
/// uid, then shuts it down.
async fn serve_root_once(d: &TestDaemon, listener: tokio::net::UnixListener, path: &Path) {
    let (stop, task) = serve(d, listener);
    let (client, _) = connect_unix(path, "hallpass-tests")
        .await
        .expect("connect to the new daemon");
    assert_eq!(client.whoami(ctx()).await.done("whoami").uid, Some(0));
    drop(client);
    shut_down(stop, task).await;
}

#[tokio::test]
async fn bind_sets_the_permission_bits_it_is_given() {
    let (_dir, path) = socket_dir();
    let listener = socket::bind(&path, socket::DEFAULT_MODE).expect("bind");
    assert!(is_socket(&path));
    assert_eq!(mode_of(&path), 0o666, "mode right after bind");
    drop(listener);

    let (dir, _) = socket_dir();
    let nested = dir
        .path()
        .join("run")
        .join("hallpass")
        .join("hallpassd.sock");
    let _listener =
        socket::bind(&nested, 0o600).expect("bind with a private mode in a missing directory");
    assert_eq!(
        mode_of(&nested),
        0o600,
        "the mode is the one asked for, not the umask's"
    );
    let parent = nested.parent().expect("a parent");
    assert_eq!(
        mode_of(parent),
        0o755,
        "a created runtime directory is traversable"
    );
}

#[tokio::test]
async fn a_live_socket_is_never_taken_over() {
    let d = TestDaemon::bare_unscheduled();
    let (_dir, path) = socket_dir();
    let listener = socket::bind(&path, 0o666).expect("bind");
    let (stop, task) = serve(&d, listener);

    match socket::bind(&path, 0o666) {
        Err(SocketError::InUse(p)) => assert_eq!(p, path.display().to_string()),
        other => panic!("a second bind on a live socket must fail with InUse, got {other:?}"),
    }
    assert!(is_socket(&path), "the live socket is still there");
    let (client, hello) = connect_unix(&path, "hallpass-tests")
        .await
        .expect("the first daemon still answers");
    assert_eq!(hello.protocol, PROTOCOL_VERSION);
    assert_eq!(client.whoami(ctx()).await.done("whoami").uid, Some(0));
    drop(client);
    shut_down(stop, task).await;
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_other_files_are_left_alone() {
    let d = TestDaemon::bare_unscheduled();
    let (_dir, path) = socket_dir();
    drop(std::os::unix::net::UnixListener::bind(&path).expect("leave a socket behind"));
    assert!(is_socket(&path), "a dead socket file remains");

    let listener = socket::bind(&path, 0o666).expect("a stale socket is replaced");
    assert_eq!(mode_of(&path), 0o666);
    serve_root_once(&d, listener, &path).await;

    let (_dir, file) = socket_dir();
    std::fs::write(&file, b"not a socket").expect("write a plain file");
    match socket::bind(&file, 0o666) {
        Err(SocketError::NotASocket(_)) => {}
        other => panic!("binding over a plain file must fail with NotASocket, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&file).expect("the file is still there"),
        b"not a socket"
    );
}

/// Listens on the socket path it is given, then forks a child that keeps the listening socket
/// and never accepts (what a daemon's connector child holds between its fork and its exec),
/// says so, and exits. The child leaves when its stdin closes.
const ORPHANED_LISTENER: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
if os.fork() == 0:
    sys.stdin.read()
    os._exit(0)
print("holding", flush=True)
os._exit(0)
"#;

#[tokio::test]
async fn a_socket_held_only_by_a_dead_daemons_child_is_replaced() {
    use std::io::BufRead as _;
    let d = TestDaemon::bare_unscheduled();
    let (_dir, path) = socket_dir();
    let mut listener_process = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(ORPHANED_LISTENER)
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut line = String::new();
    std::io::BufReader::new(listener_process.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the holder's line");
    assert_eq!(line.trim(), "holding");
    // Out of the `Child` before `wait`, which would close it and let the child go.
    let release_holder = listener_process.stdin.take().expect("stdin");
    assert!(
        listener_process.wait().expect("reap").success(),
        "the listening process exits"
    );
    std::os::unix::net::UnixStream::connect(&path)
        .expect("the orphaned socket still completes connects, which is what fooled the probe");

    let listener = socket::bind(&path, 0o666).expect("a dead daemon's socket is replaced");
    serve_root_once(&d, listener, &path).await;
    // Closing its stdin lets the orphaned child go.
    drop(release_holder);
}

#[tokio::test]
async fn root_is_identified_by_the_kernel() {
    let d = TestDaemon::bare_unscheduled();
    let (_dir, path) = socket_dir();
    let (stop, task) = serve(&d, socket::bind(&path, 0o666).expect("bind"));

    let (client, hello) = connect_unix(&path, "hallpass-cli 0.1.0")
        .await
        .expect("connect as root");
    assert_eq!(hello.organisation, "hallpass tests");
    let who = client.whoami(ctx()).await.done("whoami as root");
    assert_eq!(
        (who.uid, who.user.is_none(), who.signup_open),
        (Some(0), true, true),
        "{who:?}"
    );

    let admin = client
        .signup(
            ctx(),
            SignupArgs {
                email: "root@example.com".into(),
                name: "Root".into(),
                source: Source::Cli,
            },
        )
        .await
        .done("signup over the socket");
    assert_eq!(admin.os_uid, Some(0), "bound to the peer's uid");
    assert_eq!(admin.os_user.as_deref(), Some("root"));
    let who = client.whoami(ctx()).await.done("whoami after signup");
    assert_eq!(who.user.map(|u| u.id), Some(admin.id));

    // The handshake's client name sets the audit source for the connection.
    let signups = d
        .broker
        .store()
        .audit_page(0, 100, &|e| e.entry.action == "user.signup")
        .expect("read audit")
        .0;
    assert_eq!(signups.len(), 1);
    assert_eq!(signups[0].entry.source, Source::Cli);
    drop(client);
    shut_down(stop, task).await;
}

/// Sends the hex-encoded frames given as arguments over the socket and prints one JSON
/// response per line. Deliberately dumb: the frames are built by the test with tarpc's own
/// types, so this checks the framing and the kernel identity, not a hand-written JSON shape.
const PEER_SCRIPT: &str = r#"
import socket, struct, sys
path, frames = sys.argv[1], [bytes.fromhex(h) for h in sys.argv[2:]]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
s.connect(path)
for f in frames:
    s.sendall(struct.pack('>I', len(f)) + f)
def exact(n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            sys.exit('the daemon closed the connection')
        buf += chunk
    return buf
for _ in frames:
    (n,) = struct.unpack('>I', exact(4))
    sys.stdout.write(exact(n).decode('utf-8') + '\n')
"#;

fn frame(id: u64, message: HallpassRequest) -> String {
    let msg = tarpc::ClientMessage::Request(tarpc::Request {
        context: ctx(),
        id,
        message,
    });
    let bytes = serde_json::to_vec(&msg).expect("client messages serialize");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the request frames as OS user `uid` in a child process; returns the responses by id.
async fn call_as(
    uid: u32,
    path: &Path,
    requests: Vec<HallpassRequest>,
) -> Vec<(u64, HallpassResponse)> {
    let frames: Vec<String> = requests
        .into_iter()
        .zip(1u64..)
        .map(|(r, id)| frame(id, r))
        .collect();
    let n = frames.len();
    let child = tokio::process::Command::new("/usr/bin/python3")
        .arg("-I")
        .arg("-c")
        .arg(PEER_SCRIPT)
        .arg(path)
        .args(frames)
        .uid(uid)
        .gid(uid)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, child)
        .await
        .expect("the peer finishes")
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "peer as uid {uid} failed: {}\nstdout: {stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut answers: Vec<(u64, HallpassResponse)> = stdout
        .lines()
        .map(|line| {
            let r: tarpc::Response<HallpassResponse> = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a tarpc response ({e}): {line}"));
            (
                r.request_id,
                r.message
                    .unwrap_or_else(|e| panic!("server error for request {}: {e}", r.request_id)),
            )
        })
        .collect();
    answers.sort_by_key(|(id, _)| *id);
    assert_eq!(answers.len(), n, "one answer per request");
    answers
}

fn hello_request() -> HallpassRequest {
    HallpassRequest::Hello {
        hello: ClientHello {
            protocol: PROTOCOL_VERSION,
            client: "python-peer".into(),
        },
    }
}

#[tokio::test]
async fn other_os_users_are_identified_by_the_kernel() {
    let d = TestDaemon::bare_unscheduled();
    d.signup_admin().await;
    // uid 65534 (nobody) accepts an invite; uid 65533 never gets an account.
    let nobody = d.add_user(65534, "nobody@example.com", Role::Grantee).await;
    let (_dir, path) = socket_dir();
    let (stop, task) = serve(&d, socket::bind(&path, 0o666).expect("bind"));

    let answers = call_as(
        65534,
        &path,
        vec![
            hello_request(),
            HallpassRequest::Whoami {},
            HallpassRequest::ListUsers {
                query: UserQuery::default(),
            },
        ],
    )
    .await;
    match &answers[0].1 {
        HallpassResponse::Hello(Ok(h)) => assert_eq!(h.protocol, PROTOCOL_VERSION),
        other => panic!("hello: {other:?}"),
    }
    match &answers[1].1 {
        HallpassResponse::Whoami(Ok(who)) => {
            assert_eq!(
                who.uid,
                Some(65534),
                "the kernel's peer uid, not the daemon's"
            );
            assert_eq!(who.user.as_ref().map(|u| u.id), Some(nobody.id));
        }
        other => panic!("whoami: {other:?}"),
    }
    match &answers[2].1 {
        HallpassResponse::ListUsers(Err(e)) => {
            assert_api_err!(e.clone(), ApiError::Forbidden { .. });
        }
        other => panic!("a grantee lists users: {other:?}"),
    }

    let head = d.audit_head();
    let answers = call_as(
        65533,
        &path,
        vec![
            hello_request(),
            HallpassRequest::Whoami {},
            HallpassRequest::Status {},
        ],
    )
    .await;
    match &answers[1].1 {
        HallpassResponse::Whoami(Ok(who)) => {
            assert_eq!(
                (who.uid, who.user.is_none()),
                (Some(65533), true),
                "{who:?}"
            )
        }
        other => panic!("whoami: {other:?}"),
    }
    match &answers[2].1 {
        HallpassResponse::Status(Err(e)) => {
            assert_api_err!(e.clone(), ApiError::Unauthenticated { uid: 65533, .. });
        }
        other => panic!("status from an OS user without an account: {other:?}"),
    }
    let refusals = d
        .broker
        .store()
        .audit_page(head, 100, &|e| e.entry.action == "auth.refuse")
        .expect("read audit")
        .0;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].entry.target, "uid 65533");
    shut_down(stop, task).await;
}

/// A frame longer than 1 MiB is refused before any of it is parsed: the connection is closed,
/// nothing is written, and the daemon keeps serving everyone else. So is a frame of garbage.
#[tokio::test]
async fn oversized_and_malformed_frames_close_only_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let d = TestDaemon::bare_unscheduled();
    let (_dir, path) = socket_dir();
    let (stop, task) = serve(&d, socket::bind(&path, 0o666).expect("bind"));
    let head = d.audit_head();

    // Announce 1 MiB + 1 bytes and send a first chunk of them.
    let mut big = tokio::net::UnixStream::connect(&path)
        .await
        .expect("connect");
    let len = (hallpass_proto::MAX_FRAME as u32) + 1;
    big.write_all(&len.to_be_bytes())
        .await
        .expect("write the length");
    let _ = big.write_all(&vec![b' '; 64 * 1024]).await;
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, big.read(&mut buf))
        .await
        .expect("the daemon answers by closing");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "an oversized frame must close the connection, got {read:?}"
    );

    // A well-sized frame that is not a tarpc message.
    let mut junk = tokio::net::UnixStream::connect(&path)
        .await
        .expect("connect");
    let body = b"{\"not\": \"a tarpc message\"}";
    junk.write_all(&(body.len() as u32).to_be_bytes())
        .await
        .expect("write");
    junk.write_all(body).await.expect("write");
    let read = tokio::time::timeout(WAIT, junk.read(&mut buf))
        .await
        .expect("the daemon answers by closing");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "a malformed frame must close the connection, got {read:?}"
    );

    // Everyone else is still served, and nothing was written.
    let (client, _) = connect_unix(&path, "hallpass-cli 0.1.0")
        .await
        .expect("connect after the bad frames");
    let who = client
        .whoami(ctx())
        .await
        .done("whoami after the bad frames");
    assert_eq!(who.uid, Some(0));
    assert_eq!(d.audit_head(), head, "bad frames change nothing");
    shut_down(stop, task).await;
}
