//! The access-link site's form: byte 0 describes the link, the rest is a `POST /l/{token}`
//! body, through `hallpass_daemon::web::probe` (the site's extractor, checks and page). The
//! checks are in `checks/web_form.rs`, which the seed replay in the suite shares.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../checks/web_form.rs");

fuzz_target!(|data: &[u8]| check_web_form(data));
