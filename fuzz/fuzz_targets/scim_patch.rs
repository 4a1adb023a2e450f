//! SCIM PATCH bodies applied to a stored User or Group the way the server does:
//! `hallpass_daemon::scim::patch`, then `resource::normalize` and what hallpass derives (the
//! checks are in `checks/scim_patch.rs`, which the seed replay in the suite shares).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../checks/scim_patch.rs");

fuzz_target!(|data: &[u8]| {
    check_scim_patch(data);
});
