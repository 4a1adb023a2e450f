//! Files for `hallpass identities import` (CSV and JSON) through
//! `hallpass_core::identity_file::parse` (the checks are in `checks/identity_file.rs`, which
//! the seed replay in the suite shares).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../checks/identity_file.rs");

fuzz_target!(|data: &[u8]| {
    check_identity_file(data);
});
