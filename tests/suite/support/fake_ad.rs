//! A stand-in for the one Active Directory behaviour slapd has no equivalent of: ranged
//! retrieval of a multi-valued attribute (`member;range=0-1499`). No directory that sends
//! ranges can run here, so this speaks just enough LDAPv3 on loopback (bind, search, unbind;
//! BER through ldap3's own `asn1` codec) over a fixed set of entries: a search returns the
//! entries at or under its base (filters are not evaluated), and an attribute with more values
//! than `max_values` comes back the way AD sends it, in ranges the client must ask for one by
//! one.

use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use ldap3::asn1::{
    ASNTag, Enumerated, Integer, OctetString, Sequence, Set, StructureTag, Tag, TagClass,
    parse_tag, parse_uint, write,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One directory entry: its DN and its attributes in order.
pub struct Entry {
    pub dn: String,
    pub attrs: Vec<(String, Vec<String>)>,
}

pub struct FakeAd {
    pub url: String,
    /// Every search's base and requested attributes, as `base [attr, …]`.
    searches: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAd {
    /// Serves `entries` on a free loopback port; attributes past `max_values` values are ranged.
    pub async fn start(entries: Vec<Entry>, max_values: usize) -> FakeAd {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ldap://{}", listener.local_addr().expect("addr"));
        let searches = Arc::new(Mutex::new(Vec::new()));
        let (entries, log) = (Arc::new(entries), searches.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (entries, log) = (entries.clone(), log.clone());
                tokio::spawn(serve(sock, entries, log, max_values));
            }
        });
        FakeAd {
            url,
            searches,
            task,
        }
    }

    pub fn searches(&self) -> Vec<String> {
        self.searches.lock().expect("log").clone()
    }
}

async fn serve(
    mut sock: TcpStream,
    entries: Arc<Vec<Entry>>,
    log: Arc<Mutex<Vec<String>>>,
    max_values: usize,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // Every whole message in the buffer, then read more (a partial one waits for the rest).
        while let Ok((rest, msg)) = parse_tag(&buf) {
            let used = buf.len() - rest.len();
            buf.drain(..used);
            let Some(mut parts) = msg.expect_constructed() else {
                return;
            };
            if parts.len() < 2 {
                return;
            }
            let op = parts.remove(1);
            let id = parts
                .remove(0)
                .expect_primitive()
                .and_then(|b| parse_uint(&b).ok().map(|(_, n)| n))
                .unwrap_or(0) as i64;
            let replies = match (op.class, op.id) {
                (TagClass::Application, 0) => vec![done(id, 1)],
                (TagClass::Application, 2) => return, // unbind
                (TagClass::Application, 3) => search(id, op, &entries, &log, max_values),
                _ => return,
            };
            let mut out = BytesMut::new();
            for r in replies {
                write::encode_into(&mut out, r).expect("encode");
            }
            if sock.write_all(&out).await.is_err() {
                return;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn octets(s: &str) -> Tag {
    Tag::OctetString(OctetString {
        inner: s.as_bytes().to_vec(),
        ..Default::default()
    })
}

fn message(id: i64, op: Tag) -> StructureTag {
    Tag::Sequence(Sequence {
        inner: vec![
            Tag::Integer(Integer {
                inner: id,
                ..Default::default()
            }),
            op,
        ],
        ..Default::default()
    })
    .into_structure()
}

/// A success result (`BindResponse` is application 1, `SearchResultDone` 5).
fn done(id: i64, app: u64) -> StructureTag {
    message(
        id,
        Tag::Sequence(Sequence {
            id: app,
            class: TagClass::Application,
            inner: vec![
                Tag::Enumerated(Enumerated {
                    inner: 0,
                    ..Default::default()
                }),
                octets(""),
                octets(""),
            ],
        }),
    )
}

fn text(t: StructureTag) -> String {
    String::from_utf8(t.expect_primitive().unwrap_or_default()).unwrap_or_default()
}

fn search(
    id: i64,
    op: StructureTag,
    entries: &[Entry],
    log: &Mutex<Vec<String>>,
    max_values: usize,
) -> Vec<StructureTag> {
    let mut parts = op.expect_constructed().unwrap_or_default().into_iter();
    let base = text(parts.next().expect("base")).to_lowercase();
    let scope_base = parts
        .next()
        .and_then(StructureTag::expect_primitive)
        .is_some_and(|b| b == [0]);
    let wanted: Vec<String> = parts
        .nth(5)
        .and_then(StructureTag::expect_constructed)
        .unwrap_or_default()
        .into_iter()
        .map(text)
        .collect();
    log.lock()
        .expect("log")
        .push(format!("{base} [{}]", wanted.join(", ")));
    let mut out = Vec::new();
    for e in entries {
        let dn = e.dn.to_lowercase();
        let hit = if scope_base {
            dn == base
        } else {
            dn == base || dn.ends_with(&format!(",{base}"))
        };
        if !hit {
            continue;
        }
        let mut attrs = Vec::new();
        for w in &wanted {
            let (name, from) = match w.split_once(";range=") {
                Some((n, r)) => (n, r.split('-').next().and_then(|l| l.parse().ok())),
                None => (w.as_str(), None),
            };
            let Some((stored, values)) = e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
            else {
                continue;
            };
            let (typ, vals) = match from {
                None if values.len() <= max_values => (stored.clone(), &values[..]),
                from => {
                    let low = from.unwrap_or(0).min(values.len());
                    let high = (low + max_values).min(values.len());
                    let end = if high == values.len() {
                        "*".to_string()
                    } else {
                        (high - 1).to_string()
                    };
                    (format!("{stored};range={low}-{end}"), &values[low..high])
                }
            };
            attrs.push(Tag::Sequence(Sequence {
                inner: vec![
                    octets(&typ),
                    Tag::Set(Set {
                        inner: vals.iter().map(|v| octets(v)).collect(),
                        ..Default::default()
                    }),
                ],
                ..Default::default()
            }));
        }
        out.push(message(
            id,
            Tag::Sequence(Sequence {
                id: 4,
                class: TagClass::Application,
                inner: vec![
                    octets(&e.dn),
                    Tag::Sequence(Sequence {
                        inner: attrs,
                        ..Default::default()
                    }),
                ],
            }),
        ));
    }
    out.push(done(id, 5));
    out
}
