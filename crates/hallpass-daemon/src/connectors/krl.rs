//! OpenSSH key revocation lists (KRL, OpenSSH's `PROTOCOL.krl`), the file sshd's
//! `RevokedKeys` names. hallpass writes certificate serial ranges per CA; the parser understands
//! every section OpenSSH defines, so extending a KRL keeps all its entries (sections hallpass
//! does not change are kept byte for byte).
//!
//! Safety choice: a KRL this module cannot fully parse (an unknown section type, a signature,
//! entries sshd itself would reject) is an error, and callers must refuse to rewrite it:
//! dropping what we do not understand could un-revoke keys, and sshd rejects an unknown section
//! anyway. A signed KRL is refused because rewriting it would invalidate its signature.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// `"SSHKRL\n\0"`.
pub const MAGIC: &[u8; 8] = b"SSHKRL\n\0";
pub const FORMAT_VERSION: u32 = 1;

const SECTION_CERTIFICATES: u8 = 1;
const SECTION_EXPLICIT_KEY: u8 = 2;
const SECTION_FINGERPRINT_SHA1: u8 = 3;
const SECTION_SIGNATURE: u8 = 4;
const SECTION_FINGERPRINT_SHA256: u8 = 5;
const SECTION_EXTENSION: u8 = 255;

const CERT_SERIAL_LIST: u8 = 0x20;
const CERT_SERIAL_RANGE: u8 = 0x21;
const CERT_SERIAL_BITMAP: u8 = 0x22;
const CERT_KEY_ID: u8 = 0x23;
const CERT_EXTENSION: u8 = 0x39;

/// Why a KRL could not be parsed or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrlError(pub String);

impl fmt::Display for KrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KrlError {}

fn err<T>(msg: impl Into<String>) -> Result<T, KrlError> {
    Err(KrlError(msg.into()))
}

/// A whole KRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Krl {
    /// Increases each time the KRL is written.
    pub krl_version: u64,
    /// Seconds since the epoch when it was written.
    pub generated_date: u64,
    pub flags: u64,
    pub reserved: Vec<u8>,
    pub comment: String,
    pub sections: Vec<Section>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Section {
    Certificates(CertSection),
    /// Explicit keys, fingerprints and extension sections: kept as they are.
    Verbatim {
        kind: u8,
        data: Vec<u8>,
    },
}

/// Revoked certificates signed by one CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSection {
    /// The CA's public key blob; empty means "any CA" (OpenSSH uses it for key ids).
    pub ca_key: Vec<u8>,
    pub reserved: Vec<u8>,
    pub entries: Vec<CertEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertEntry {
    /// Serials `min..=max`.
    SerialRange {
        min: u64,
        max: u64,
    },
    SerialList(Vec<u64>),
    /// Bit `i` (from the least significant) set revokes serial `offset + i`; `bitmap` is the
    /// mpint's big-endian bytes as stored.
    SerialBitmap {
        offset: u64,
        bitmap: Vec<u8>,
    },
    /// Key ids and extensions: kept as they are.
    Verbatim {
        kind: u8,
        data: Vec<u8>,
    },
}

impl Krl {
    /// An empty KRL (revokes nothing).
    pub fn new(comment: impl Into<String>) -> Self {
        Krl {
            krl_version: 0,
            generated_date: 0,
            flags: 0,
            reserved: Vec::new(),
            comment: comment.into(),
            sections: Vec::new(),
        }
    }

    /// Parses a KRL; see the module doc for what is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, KrlError> {
        let mut r = Reader::new(bytes);
        if r.take(8)? != MAGIC {
            return err("not an OpenSSH KRL (bad magic)");
        }
        let format = r.u32()?;
        if format != FORMAT_VERSION {
            return err(format!("unsupported KRL format version {format}"));
        }
        let krl_version = r.u64()?;
        let generated_date = r.u64()?;
        let flags = r.u64()?;
        let reserved = r.string()?.to_vec();
        let comment = String::from_utf8(r.string()?.to_vec())
            .map_err(|_| KrlError("the KRL comment is not UTF-8".into()))?;
        if comment.contains('\0') {
            return err("the KRL comment holds a NUL byte");
        }
        let mut sections = Vec::new();
        while !r.is_empty() {
            let kind = r.byte()?;
            let data = r.string()?;
            sections.push(match kind {
                SECTION_CERTIFICATES => Section::Certificates(parse_cert_section(data)?),
                SECTION_EXPLICIT_KEY
                | SECTION_FINGERPRINT_SHA1
                | SECTION_FINGERPRINT_SHA256
                | SECTION_EXTENSION => Section::Verbatim {
                    kind,
                    data: data.to_vec(),
                },
                SECTION_SIGNATURE => {
                    return err("the KRL is signed; hallpass cannot re-sign it");
                }
                other => return err(format!("unknown KRL section type {other}")),
            });
        }
        Ok(Krl {
            krl_version,
            generated_date,
            flags,
            reserved,
            comment,
            sections,
        })
    }

    /// The binary form sshd reads.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(MAGIC);
        put_u32(&mut w, FORMAT_VERSION);
        put_u64(&mut w, self.krl_version);
        put_u64(&mut w, self.generated_date);
        put_u64(&mut w, self.flags);
        put_string(&mut w, &self.reserved);
        put_string(&mut w, self.comment.as_bytes());
        for section in &self.sections {
            match section {
                Section::Certificates(cs) => {
                    let mut d = Vec::new();
                    put_string(&mut d, &cs.ca_key);
                    put_string(&mut d, &cs.reserved);
                    for e in &cs.entries {
                        let (kind, data) = encode_cert_entry(e);
                        d.push(kind);
                        put_string(&mut d, &data);
                    }
                    w.push(SECTION_CERTIFICATES);
                    put_string(&mut w, &d);
                }
                Section::Verbatim { kind, data } => {
                    w.push(*kind);
                    put_string(&mut w, data);
                }
            }
        }
        w
    }

    /// Revoked serial intervals that apply to certificates signed by `ca_key`, unsorted.
    fn intervals(&self, ca_key: &[u8]) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for s in &self.sections {
            let Section::Certificates(cs) = s else {
                continue;
            };
            if !cs.ca_key.is_empty() && cs.ca_key != ca_key {
                continue;
            }
            for e in &cs.entries {
                match e {
                    CertEntry::SerialRange { min, max } => out.push((*min, *max)),
                    CertEntry::SerialList(list) => out.extend(list.iter().map(|s| (*s, *s))),
                    CertEntry::SerialBitmap { offset, bitmap } => {
                        out.extend(bitmap_serials(*offset, bitmap).map(|s| (s, s)))
                    }
                    CertEntry::Verbatim { .. } => {}
                }
            }
        }
        out
    }

    /// Whether every serial in `min..=max` of `ca_key`'s certificates is revoked.
    pub fn covers(&self, ca_key: &[u8], min: u64, max: u64) -> bool {
        let mut next = min;
        for (lo, hi) in merge(self.intervals(ca_key)) {
            if lo > next {
                return false;
            }
            if hi >= max {
                return true;
            }
            next = next.max(hi + 1);
        }
        false
    }

    /// Whether any serial in `min..=max` of `ca_key`'s certificates is revoked.
    pub fn overlaps(&self, ca_key: &[u8], min: u64, max: u64) -> bool {
        self.intervals(ca_key)
            .iter()
            .any(|&(lo, hi)| lo <= max && hi >= min)
    }

    /// Revokes serials `min..=max` of `ca_key`'s certificates. Returns whether the KRL changed
    /// (false when they were already revoked). The CA's ranges are merged, so consecutive
    /// revocations stay one entry.
    pub fn revoke_serial_range(
        &mut self,
        ca_key: &[u8],
        min: u64,
        max: u64,
    ) -> Result<bool, KrlError> {
        if ca_key.is_empty() {
            return err("a serial range needs the CA's key");
        }
        if min == 0 || min > max {
            return err(format!(
                "invalid serial range {min}..={max} (sshd rejects serial 0 and reversed ranges)"
            ));
        }
        if self.covers(ca_key, min, max) {
            return Ok(false);
        }
        let section = self.sections.iter_mut().find_map(|s| match s {
            Section::Certificates(cs) if cs.ca_key == ca_key => Some(cs),
            _ => None,
        });
        let cs = match section {
            Some(cs) => cs,
            None => {
                self.sections.push(Section::Certificates(CertSection {
                    ca_key: ca_key.to_vec(),
                    reserved: Vec::new(),
                    entries: Vec::new(),
                }));
                match self.sections.last_mut() {
                    Some(Section::Certificates(cs)) => cs,
                    _ => return err("internal: the new section is missing"),
                }
            }
        };
        let mut ranges = vec![(min, max)];
        cs.entries.retain(|e| match e {
            CertEntry::SerialRange { min, max } => {
                ranges.push((*min, *max));
                false
            }
            _ => true,
        });
        let merged = merge(ranges)
            .into_iter()
            .map(|(min, max)| CertEntry::SerialRange { min, max });
        cs.entries.splice(0..0, merged);
        Ok(true)
    }

    /// How many serial entries (ranges, lists, bitmaps) the KRL holds, for display.
    pub fn serial_entry_count(&self) -> usize {
        self.sections
            .iter()
            .map(|s| match s {
                Section::Certificates(cs) => cs
                    .entries
                    .iter()
                    .filter(|e| !matches!(e, CertEntry::Verbatim { .. }))
                    .count(),
                Section::Verbatim { .. } => 0,
            })
            .sum()
    }
}

/// Sorts and coalesces overlapping or adjacent intervals.
fn merge(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn bitmap_serials(offset: u64, bitmap: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bitmap.iter().rev().enumerate().flat_map(move |(byte, b)| {
        (0..8u64)
            .filter(move |bit| b & (1 << bit) != 0)
            .map(move |bit| offset.saturating_add(byte as u64 * 8 + bit))
    })
}

fn parse_cert_section(data: &[u8]) -> Result<CertSection, KrlError> {
    let mut r = Reader::new(data);
    let ca_key = r.string()?.to_vec();
    let reserved = r.string()?.to_vec();
    let mut entries = Vec::new();
    while !r.is_empty() {
        let kind = r.byte()?;
        let sub = r.string()?;
        let mut s = Reader::new(sub);
        let entry = match kind {
            CERT_SERIAL_RANGE => {
                let (min, max) = (s.u64()?, s.u64()?);
                if min == 0 || min > max {
                    return err(format!(
                        "invalid certificate serial range {min}..={max} (sshd rejects it)"
                    ));
                }
                s.end()?;
                CertEntry::SerialRange { min, max }
            }
            CERT_SERIAL_LIST => {
                let mut list = Vec::new();
                while !s.is_empty() {
                    let serial = s.u64()?;
                    if serial == 0 {
                        return err("certificate serial list holds serial 0 (sshd rejects it)");
                    }
                    list.push(serial);
                }
                CertEntry::SerialList(list)
            }
            CERT_SERIAL_BITMAP => {
                let offset = s.u64()?;
                let bitmap = s.string()?.to_vec();
                s.end()?;
                if bitmap.first().is_some_and(|b| b & 0x80 != 0) {
                    return err("certificate serial bitmap is a negative mpint");
                }
                CertEntry::SerialBitmap { offset, bitmap }
            }
            CERT_KEY_ID | CERT_EXTENSION => CertEntry::Verbatim {
                kind,
                data: sub.to_vec(),
            },
            other => return err(format!("unknown certificate section entry type {other:#x}")),
        };
        entries.push(entry);
    }
    Ok(CertSection {
        ca_key,
        reserved,
        entries,
    })
}

fn encode_cert_entry(e: &CertEntry) -> (u8, Vec<u8>) {
    let mut d = Vec::new();
    match e {
        CertEntry::SerialRange { min, max } => {
            put_u64(&mut d, *min);
            put_u64(&mut d, *max);
            (CERT_SERIAL_RANGE, d)
        }
        CertEntry::SerialList(list) => {
            for s in list {
                put_u64(&mut d, *s);
            }
            (CERT_SERIAL_LIST, d)
        }
        CertEntry::SerialBitmap { offset, bitmap } => {
            put_u64(&mut d, *offset);
            put_string(&mut d, bitmap);
            (CERT_SERIAL_BITMAP, d)
        }
        CertEntry::Verbatim { kind, data } => (*kind, data.clone()),
    }
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_be_bytes());
}

fn put_string(w: &mut Vec<u8>, s: &[u8]) {
    // KRLs are small; a section over 4 GiB cannot occur.
    put_u32(w, u32::try_from(s.len()).unwrap_or(u32::MAX));
    w.extend_from_slice(s);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], KrlError> {
        match self.buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(s)
            }
            _ => err(format!(
                "truncated: {n} bytes needed at offset {}, {} left",
                self.pos,
                self.buf.len().saturating_sub(self.pos)
            )),
        }
    }

    fn byte(&mut self) -> Result<u8, KrlError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, KrlError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, KrlError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn string(&mut self) -> Result<&'a [u8], KrlError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn end(&self) -> Result<(), KrlError> {
        if self.is_empty() {
            Ok(())
        } else {
            err(format!(
                "{} unexpected trailing bytes in a KRL entry",
                self.buf.len() - self.pos
            ))
        }
    }
}

/// Reads and parses the KRL at `path`; `Ok(None)` when the file does not exist.
pub fn read_file(path: &Path) -> Result<Option<Krl>, String> {
    match fs::read(path) {
        Ok(bytes) => Krl::parse(&bytes)
            .map(Some)
            .map_err(|e| format!("the KRL {} cannot be parsed: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the KRL {}: {e}", path.display())),
    }
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same directory is written
/// and fsynced, renamed over `path`, and the directory fsynced, so a crash leaves either the
/// old or the new file, never a torn one. The file is made world-readable (sshd reads it; it
/// holds only public data).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the KRL path has no file name")
    })?;
    let tmp = dir.join(format!(
        ".{}.hallpass-tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CA: &[u8] =
        b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const OTHER_CA: &[u8] =
        b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn empty_krl_layout_matches_protocol_krl() {
        let mut k = Krl::new("c");
        k.krl_version = 7;
        k.generated_date = 0x0102;
        let b = k.encode();
        let mut want = b"SSHKRL\n\0".to_vec();
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&0x0102u64.to_be_bytes());
        want.extend_from_slice(&0u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 0]);
        want.extend_from_slice(&[0, 0, 0, 1, b'c']);
        assert_eq!(b, want);
        assert_eq!(Krl::parse(&b).unwrap(), k);
    }

    #[test]
    fn revoke_round_trips_and_merges_adjacent_ranges() {
        let mut k = Krl::new("hallpass");
        assert!(
            k.revoke_serial_range(CA, 1 << 16, (1 << 16) | 0xffff)
                .unwrap()
        );
        assert!(
            k.revoke_serial_range(CA, 3 << 16, (3 << 16) | 0xffff)
                .unwrap()
        );
        assert!(
            k.revoke_serial_range(CA, 2 << 16, (2 << 16) | 0xffff)
                .unwrap()
        );
        // Already covered: no change.
        assert!(!k.revoke_serial_range(CA, 2 << 16, 2 << 16).unwrap());
        let parsed = Krl::parse(&k.encode()).unwrap();
        assert_eq!(parsed, k);
        let Section::Certificates(cs) = &parsed.sections[0] else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            cs.entries,
            vec![CertEntry::SerialRange {
                min: 1 << 16,
                max: (3 << 16) | 0xffff
            }]
        );
        assert!(parsed.covers(CA, 1 << 16, (3 << 16) | 0xffff));
        assert!(!parsed.covers(CA, 1 << 16, 4 << 16));
        assert!(!parsed.overlaps(CA, 4 << 16, (4 << 16) | 0xffff));
        assert!(!parsed.overlaps(OTHER_CA, 1 << 16, 1 << 16));
        assert!(!parsed.covers(OTHER_CA, 1 << 16, 1 << 16));
    }

    #[test]
    fn other_sections_and_entries_are_kept_verbatim() {
        let mut k = Krl::new("");
        k.sections.push(Section::Verbatim {
            kind: SECTION_FINGERPRINT_SHA256,
            data: vec![0, 0, 0, 32, 9, 9, 9],
        });
        k.sections.push(Section::Certificates(CertSection {
            ca_key: CA.to_vec(),
            reserved: Vec::new(),
            entries: vec![
                CertEntry::Verbatim {
                    kind: CERT_KEY_ID,
                    data: vec![0, 0, 0, 1, b'x'],
                },
                CertEntry::SerialList(vec![5, 9]),
                CertEntry::SerialBitmap {
                    offset: 100,
                    bitmap: vec![0x01, 0x02],
                },
            ],
        }));
        let parsed = Krl::parse(&k.encode()).unwrap();
        assert_eq!(parsed, k);
        // Bitmap 0x0102: bits 1 and 8 → serials 101 and 108.
        assert!(parsed.covers(CA, 101, 101) && parsed.covers(CA, 108, 108));
        assert!(!parsed.overlaps(CA, 102, 107));
        assert!(parsed.covers(CA, 9, 9) && !parsed.overlaps(CA, 6, 8));

        let mut changed = parsed.clone();
        assert!(changed.revoke_serial_range(CA, 200, 300).unwrap());
        let reparsed = Krl::parse(&changed.encode()).unwrap();
        assert_eq!(reparsed.sections[0], k.sections[0]);
        let Section::Certificates(cs) = &reparsed.sections[1] else {
            panic!()
        };
        assert_eq!(cs.entries.len(), 4);
        assert!(reparsed.covers(CA, 200, 300) && reparsed.covers(CA, 5, 5));
    }

    #[test]
    fn refuses_what_it_cannot_rewrite_safely() {
        let mut k = Krl::new("");
        k.sections.push(Section::Verbatim {
            kind: SECTION_SIGNATURE,
            data: vec![],
        });
        assert!(Krl::parse(&k.encode()).unwrap_err().0.contains("signed"));
        k.sections[0] = Section::Verbatim {
            kind: 42,
            data: vec![],
        };
        assert!(Krl::parse(&k.encode()).unwrap_err().0.contains("unknown"));
        let bytes = Krl::new("x").encode();
        assert!(Krl::parse(&bytes[..bytes.len() - 1]).is_err());
        assert!(Krl::parse(b"SSHKRL\n\x01").is_err());
        let mut k = Krl::new("");
        assert!(k.revoke_serial_range(CA, 0, 5).is_err());
        assert!(k.revoke_serial_range(CA, 6, 5).is_err());
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("krl");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(read_file(&dir.path().join("missing")).unwrap(), None);
        assert!(read_file(&p).unwrap_err().contains("cannot be parsed"));
    }

    proptest! {
        #[test]
        fn revocations_are_covered_and_round_trip(
            ranges in proptest::collection::vec((1u64..1000, 0u64..50), 0..20),
            probe in (1u64..1100, 0u64..50),
        ) {
            let mut k = Krl::new("p");
            for (lo, len) in &ranges {
                k.revoke_serial_range(CA, *lo, lo + len).unwrap();
            }
            let parsed = Krl::parse(&k.encode()).unwrap();
            prop_assert_eq!(&parsed, &k);
            for (lo, len) in &ranges {
                prop_assert!(parsed.covers(CA, *lo, lo + len));
            }
            let (lo, len) = probe;
            let hi = lo + len;
            let brute_any = (lo..=hi).any(|s| ranges.iter().any(|(a, l)| s >= *a && s <= a + l));
            let brute_all = (lo..=hi).all(|s| ranges.iter().any(|(a, l)| s >= *a && s <= a + l));
            prop_assert_eq!(parsed.overlaps(CA, lo, hi), brute_any);
            prop_assert_eq!(parsed.covers(CA, lo, hi), brute_all);
        }
    }
}
