//! Stored values: one format-version byte followed by the record's JSON.
//! Invariant: every value the store writes starts with [`VALUE_VERSION`] (except the
//! fixed-width `schema_version` in Meta), and a value that does not decode is reported as
//! [`StoreError::Corrupt`] naming its table and key, never as a panic.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::Table;
use crate::error::StoreError;

/// The value format this build writes and reads: `1` = serde_json.
pub const VALUE_VERSION: u8 = 1;

/// Encodes a record as `VALUE_VERSION ‖ JSON`.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    let mut out = vec![VALUE_VERSION];
    serde_json::to_writer(&mut out, record)
        .expect("invariant: hallpass records serialize to JSON (string map keys, no floats)");
    out
}

/// Decodes a value read from `table` at `key`.
pub fn decode<T: DeserializeOwned>(
    table: Table,
    key: &[u8],
    value: &[u8],
) -> Result<T, StoreError> {
    match value.split_first() {
        None => Err(StoreError::corrupt(table.name(), key, "empty value")),
        Some((&VALUE_VERSION, json)) => serde_json::from_slice(json)
            .map_err(|e| StoreError::corrupt(table.name(), key, format!("bad record JSON: {e}"))),
        Some((v, _)) => Err(StoreError::corrupt(
            table.name(),
            key,
            format!("unknown value version {v} (this build reads {VALUE_VERSION})"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn values_start_with_the_version_byte() {
        assert_eq!(encode(&42u64), b"\x0142".to_vec());
        assert_eq!(decode::<u64>(Table::Meta, b"k", b"\x0142").unwrap(), 42);
    }

    #[test]
    fn bad_values_are_corrupt_with_table_and_hex_key() {
        for (bytes, why) in [
            (&b""[..], "empty value"),
            (b"\x02{}", "unknown value version 2"),
            (b"\x01{not json", "bad record JSON"),
        ] {
            match decode::<u64>(Table::Users, &[0xab, 0x01], bytes) {
                Err(StoreError::Corrupt { table, key, why: w }) => {
                    assert_eq!(table, "users");
                    assert_eq!(key, "ab01");
                    assert!(w.contains(why), "{w}");
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }
}
