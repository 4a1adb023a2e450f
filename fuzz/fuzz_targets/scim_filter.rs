//! SCIM filters and PATCH paths: arbitrary text through `hallpass_daemon::scim::filter`'s
//! parsers, the canonical form, the schema check and evaluation (the checks are in
//! `checks/scim_filter.rs`, which the seed replay in the suite shares).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../checks/scim_filter.rs");

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_scim_filter(text);
    }
});
