//! Wire framing: arbitrary bytes through `hallpass_proto::framed_json`, the transport the
//! daemon (decoding `ClientMessage<HallpassRequest>`) and clients (decoding
//! `Response<HallpassResponse>`) use. The first input byte picks the side.
//!
//! Checks: decoding never panics; the frames the transport yields are exactly those a
//! 4-byte-big-endian-length model predicts (a length above `MAX_FRAME` is an error and ends the
//! stream, before its body arrives); every decoded message re-encodes as one frame (refused
//! when above `MAX_FRAME`) that decodes to the same value.
#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::executor::block_on;
use futures::{SinkExt, StreamExt};
use hallpass_proto::{HallpassRequest, HallpassResponse, MAX_FRAME, framed_json};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tarpc::{ClientMessage, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An in-memory connection: reads `input` then EOF, collects what is written.
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

/// What the transport must yield for one frame, per the wire format.
#[derive(Debug, PartialEq)]
enum Expect {
    /// A complete frame within the limit: its body, to be JSON-decoded.
    Body(Vec<u8>),
    /// A framing error (oversize length, or a partial header or body at EOF); the stream ends.
    FramingError,
}

fn model(mut bytes: &[u8]) -> Vec<Expect> {
    let mut out = vec![];
    loop {
        if bytes.is_empty() {
            return out;
        }
        if bytes.len() < 4 {
            out.push(Expect::FramingError);
            return out;
        }
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len > MAX_FRAME {
            out.push(Expect::FramingError);
            return out;
        }
        if bytes.len() - 4 < len {
            // The codec consumes a complete header at once: at EOF with none of the body the
            // stream just ends; with part of it, that part is an error.
            if bytes.len() > 4 {
                out.push(Expect::FramingError);
            }
            return out;
        }
        out.push(Expect::Body(bytes[4..4 + len].to_vec()));
        bytes = &bytes[4 + len..];
    }
}

/// The message as JSON with the request deadline removed: tarpc sends deadlines relative to
/// "now", so they legitimately shrink between encodings.
fn normalized<T: Serialize>(msg: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(msg).expect("a decoded message serializes");
    if let Some(ctx) = v
        .get_mut("Request")
        .and_then(|r| r.get_mut("context"))
        .and_then(|c| c.as_object_mut())
    {
        ctx.remove("deadline");
    }
    v
}

fn check<T>(data: &[u8])
where
    T: Serialize + DeserializeOwned + std::fmt::Debug,
{
    let expected = model(data);
    let mut transport = framed_json::<_, T, T>(Mem {
        input: data,
        output: vec![],
    });
    let mut decoded = vec![];
    while let Some(item) = block_on(transport.next()) {
        decoded.push(item);
    }
    assert!(
        decoded.len() == expected.len(),
        "{} results for {} frames: {decoded:?} vs {expected:?}",
        decoded.len(),
        expected.len()
    );
    for (got, want) in decoded.into_iter().zip(expected) {
        match (got, want) {
            (Err(_), Expect::FramingError) => {}
            (Ok(msg), Expect::FramingError) => panic!("decoded {msg:?} from a refused frame"),
            (got, Expect::Body(body)) => {
                let direct = serde_json::from_slice::<T>(&body);
                assert_eq!(got.is_ok(), direct.is_ok(), "{got:?} vs {direct:?}");
                if let Ok(msg) = got {
                    round_trip(&msg);
                }
            }
        }
    }
}

fn round_trip<T>(msg: &T)
where
    T: Serialize + DeserializeOwned + std::fmt::Debug,
{
    let json = serde_json::to_vec(msg).expect("serializes");
    let mut out = framed_json::<_, T, &T>(Mem {
        input: &[],
        output: vec![],
    });
    let sent = block_on(out.send(msg));
    if json.len() > MAX_FRAME {
        // Re-encoding can grow a message (e.g. `[1,2]` durations become objects); the sender
        // must refuse what the receiver would.
        assert!(sent.is_err(), "a {} byte frame was sent", json.len());
        return;
    }
    sent.expect("a message within MAX_FRAME is sent");
    let wire = out.get_ref().output.clone();
    assert_eq!(wire.len(), 4 + json.len());
    let mut back = framed_json::<_, T, T>(Mem {
        input: &wire,
        output: vec![],
    });
    let again = block_on(back.next())
        .expect("one frame")
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", String::from_utf8_lossy(&json)));
    assert!(block_on(back.next()).is_none(), "exactly one frame");
    assert_eq!(normalized(msg), normalized(&again), "{msg:?} vs {again:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((side, data)) = data.split_first() else {
        return;
    };
    if side & 1 == 0 {
        check::<ClientMessage<HallpassRequest>>(data);
    } else {
        check::<Response<HallpassResponse>>(data);
    }
});
