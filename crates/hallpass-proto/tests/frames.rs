//! Decoding frames from bytes, as the daemon does: far deadlines are refused rather than
//! panicking (found by the `frame` fuzz target), and the fuzz seed corpus (`fuzz/corpus/frame`,
//! first byte 0 = client messages, 1 = responses) replays through the target's checks so they
//! cannot rot while nobody runs the fuzzer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::executor::block_on;
use futures::{SinkExt, StreamExt};
use hallpass_proto::transport::MAX_DEADLINE;
use hallpass_proto::{HallpassRequest, HallpassResponse, MAX_FRAME, framed_json};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tarpc::{ClientMessage, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads `input` then EOF; collects what is written.
struct Mem<'a> {
    input: &'a [u8],
    output: Vec<u8>,
}

impl AsyncRead for Mem<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.input).poll_read(cx, buf)
    }
}

impl AsyncWrite for Mem<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.output).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_shutdown(cx)
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Vec<io::Result<T>> {
    let mut t = framed_json::<_, T, ()>(Mem {
        input: bytes,
        output: vec![],
    });
    let mut out = vec![];
    while let Some(item) = block_on(t.next()) {
        out.push(item);
    }
    out
}

fn frame(json: &str) -> Vec<u8> {
    let mut out = u32::try_from(json.len())
        .expect("small")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(json.as_bytes());
    out
}

fn request_with_deadline(deadline: &str) -> Vec<u8> {
    frame(&format!(
        r#"{{"Request":{{"context":{{"deadline":{deadline},"trace_context":{{"trace_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"span_id":0,"sampling_decision":"Unsampled"}}}},"id":7,"message":{{"Whoami":{{}}}}}}}}"#
    ))
}

#[test]
fn far_request_deadlines_are_refused_not_panicked() {
    // Fuzz reproducer: tarpc computed `Instant::now() + u64::MAX seconds` and panicked.
    for far in [
        r#"{"secs":18446744073709551615,"nanos":0}"#,
        "[18446744073709551615,999999999]",
        // Beyond tokio's timer wheel (about 2 years): the server panicked on insert.
        r#"{"secs":315360000,"nanos":0}"#,
    ] {
        let got = decode::<ClientMessage<HallpassRequest>>(&request_with_deadline(far));
        assert!(
            matches!(got.as_slice(), [Err(e)] if e.to_string().contains("deadline is more than a year away")),
            "{far}: {got:?}"
        );
    }
    // Even when the rest of the message is garbage: tarpc acts on the deadline first.
    let truncated =
        frame(r#"{"Request":{"context":{"deadline":{"secs":18446744073709551615,"nanos":0},"#);
    assert!(matches!(
        decode::<ClientMessage<HallpassRequest>>(&truncated).as_slice(),
        [Err(_)]
    ));
    let limit = MAX_DEADLINE.as_secs();
    for ok in [
        r#"{"secs":10,"nanos":0}"#.to_string(),
        format!("[{limit},0]"),
    ] {
        let got = decode::<ClientMessage<HallpassRequest>>(&request_with_deadline(&ok));
        assert!(matches!(got.as_slice(), [Ok(_)]), "{ok}: {got:?}");
    }
    // Responses carry no deadline and are untouched by the check.
    let resp = frame(r#"{"request_id":1,"message":{"Err":{"kind":0,"detail":"x"}}}"#);
    assert!(matches!(
        decode::<Response<HallpassResponse>>(&resp).as_slice(),
        [Ok(_)]
    ));
}

#[test]
fn oversize_frames_are_refused_before_their_body() {
    let mut bytes = u32::try_from(MAX_FRAME + 1)
        .expect("fits")
        .to_be_bytes()
        .to_vec();
    bytes.extend_from_slice(b"{\"Request\":");
    let got = decode::<ClientMessage<HallpassRequest>>(&bytes);
    assert!(matches!(got.as_slice(), [Err(_)]), "{got:?}");
}

/// The message as JSON without the request deadline (sent relative to "now", so it shrinks).
fn normalized<T: Serialize>(msg: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(msg).expect("serializes");
    if let Some(ctx) = v
        .get_mut("Request")
        .and_then(|r| r.get_mut("context"))
        .and_then(|c| c.as_object_mut())
    {
        ctx.remove("deadline");
    }
    v
}

/// Decoded messages re-encode as one frame that decodes to the same message.
fn replay<T: Serialize + DeserializeOwned + std::fmt::Debug>(name: &str, bytes: &[u8]) -> usize {
    let mut decoded = 0;
    for msg in decode::<T>(bytes).into_iter().flatten() {
        decoded += 1;
        let mut out = framed_json::<_, T, &T>(Mem {
            input: &[],
            output: vec![],
        });
        block_on(out.send(&msg)).expect("sends");
        let wire = out.get_ref().output.clone();
        let again = decode::<T>(&wire);
        let [Ok(back)] = again.as_slice() else {
            panic!("{name}: {msg:?} re-encoded to {again:?}");
        };
        assert_eq!(normalized(&msg), normalized(back), "{name}");
    }
    decoded
}

#[test]
fn fuzz_seed_frames_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/frame");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/frame exists") {
        let path = entry.expect("entry").path();
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).expect("readable");
        let Some((side, data)) = bytes.split_first() else {
            continue;
        };
        let decoded = if side & 1 == 0 {
            replay::<ClientMessage<HallpassRequest>>(&name, data)
        } else {
            replay::<Response<HallpassResponse>>(&name, data)
        };
        // Seeds named `*-oversize` / `*-truncated` are refusals; the others all decode.
        if !(name.ends_with("-oversize") || name.ends_with("-truncated")) {
            assert!(decoded > 0, "{name} decodes nothing");
        }
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} seeds in {}", dir.display());
}
