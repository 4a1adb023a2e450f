// The checks of the `web_form` fuzz target, shared with the seed replay in
// `crates/hallpass-daemon/tests/fuzz_seeds.rs` (both `include!` this file).
//
// Byte 0 describes the link (bit 0: its targets need an SSH key; bit 1: a justification is
// required; bits 2–3: the flow's longest duration); the rest is a `POST /l/{token}` body.
// For any body:
// - decoding (the site's own extractor) and the checks never panic;
// - a refused form keeps what was typed, field for field, and names at least one field, each
//   one the form has;
// - the page answering it (refused, or shown again) escapes everything typed: it has exactly
//   the markup of the same page with every field, error and note replaced by plain text, and
//   shows each value, escaped;
// - an accepted form is what the rest of hallpass accepts: names and the company are trimmed
//   printable text; the address is ASCII (no SMTPUTF8 needed) and lettre parses it, as an
//   address and as a mailbox, to the same address;
//   the duration is whole seconds (requests store seconds), above zero and within the flow's;
//   the justification passes the RPC's rule for reasons (trimmed, at most 2000 characters, no
//   control character but a newline); the SSH key is one line that parses back to itself;
// - an accepted form is a fixed point: the same answers typed again (the duration as the site
//   prints it) are accepted as the same submission.

use std::time::Duration;

use hallpass_core::time::format_duration;
use hallpass_daemon::web::probe::{self, ApplyForm, Checked, FormState, Offer};

const FIELDS: [&str; 6] = [
    "name",
    "email",
    "company",
    "justification",
    "duration",
    "ssh_key",
];

const MAXES: [u64; 4] = [3_600, 8 * 3_600, 7 * 86_400, 90 * 86_400];

pub fn offer_for(flags: u8) -> Offer {
    Offer {
        title: "Access: reporting database".into(),
        targets: vec!["pg-prod/reporting:read".into()],
        max: Duration::from_secs(MAXES[usize::from((flags >> 2) & 3)]),
        approval: "one reviewer approves".into(),
        needs_ssh_key: flags & 1 != 0,
        justification_required: flags & 2 != 0,
    }
}

fn field<'a>(f: &'a ApplyForm, name: &str) -> &'a str {
    match name {
        "name" => &f.name,
        "email" => &f.email,
        "company" => &f.company,
        "justification" => &f.justification,
        "duration" => &f.duration,
        "ssh_key" => &f.ssh_key,
        other => panic!("no field {other}"),
    }
}

/// maud's escaping of text and attribute values.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn markup(page: &str) -> [usize; 3] {
    ['<', '>', '"'].map(|c| page.matches(c).count())
}

fn page_escapes(offer: &Offer, shown: &FormState, form: &ApplyForm) {
    let page = probe::page(offer, shown);
    // Everything that can carry text from the form is blanked: its values, and the errors and
    // general note (which must not quote it unescaped either).
    let mut blank = shown.clone();
    for v in blank.values.values_mut() {
        v.clear();
    }
    for e in blank.errors.values_mut() {
        *e = "wrong".into();
    }
    if let Some(g) = &mut blank.general {
        *g = "wrong".into();
    }
    assert_eq!(
        markup(&page),
        markup(&probe::page(offer, &blank)),
        "{form:?}: typed text changed the page's markup"
    );
    for name in FIELDS {
        if name == "ssh_key" && !offer.needs_ssh_key {
            continue;
        }
        let value = field(form, name);
        assert!(
            page.contains(&escaped(value)),
            "{form:?}: the page does not show {name} as typed"
        );
    }
}

fn printable_line(what: &str, s: &str, max_chars: usize) {
    assert!(!s.is_empty(), "{what} is empty");
    assert_eq!(s, s.trim(), "{what} {s:?} is not trimmed");
    assert!(s.chars().count() <= max_chars, "{what} {s:?} is too long");
    assert!(
        !s.chars().any(char::is_control),
        "{what} {s:?} has a control character"
    );
}

fn accepted_holds(form: &ApplyForm, c: &Checked, offer: &Offer) {
    printable_line("name", &c.name, 200);
    printable_line("company", &c.company, 200);
    assert_eq!(c.name, form.name.trim());
    assert_eq!(c.company, form.company.trim());

    assert_eq!(c.email, form.email.trim().to_ascii_lowercase());
    // What an SMTP server takes without SMTPUTF8, and lettre parses to the same address.
    assert!(c.email.is_ascii(), "{form:?}: {:?} needs SMTPUTF8", c.email);
    let address: lettre::Address = c
        .email
        .parse()
        .unwrap_or_else(|e| panic!("{form:?}: the mailer cannot send to {:?}: {e}", c.email));
    let mailbox: lettre::message::Mailbox = c
        .email
        .parse()
        .unwrap_or_else(|e| panic!("{form:?}: no mailbox {:?}: {e}", c.email));
    assert_eq!(mailbox.email, address, "{form:?}");

    assert!(
        !c.duration.is_zero() && c.duration <= offer.max,
        "{form:?}: {:?}",
        c.duration
    );
    assert_eq!(
        c.duration.subsec_nanos(),
        0,
        "{form:?}: {:?} is not whole seconds; a request stores seconds",
        c.duration
    );

    match &c.justification {
        Some(j) => {
            assert!(
                !j.is_empty() && j == j.trim(),
                "{form:?}: justification {j:?}"
            );
            assert!(
                j.chars().count() <= 2000,
                "{form:?}: justification too long"
            );
            assert!(
                !j.chars().any(|ch| ch.is_control() && ch != '\n'),
                "{form:?}: justification {j:?} has a control character the RPC refuses"
            );
            assert!(
                !j.chars().any(hallpass_core::text::is_bidi_control),
                "{form:?}: justification {j:?} has a bidirectional control the RPC refuses"
            );
        }
        None => {
            assert!(
                !offer.justification_required,
                "{form:?}: required, and none kept"
            );
            assert!(
                form.justification.trim().is_empty(),
                "{form:?}: justification lost"
            );
        }
    }

    match &c.ssh_key {
        Some(k) => {
            assert!(
                offer.needs_ssh_key,
                "{form:?}: a key kept that nothing needs"
            );
            printable_line("ssh key", k, usize::MAX);
            let again = ssh_key::PublicKey::from_openssh(k)
                .unwrap_or_else(|e| panic!("{form:?}: {k:?} does not parse back: {e}"));
            assert_eq!(again.to_openssh().as_deref().ok(), Some(k.as_str()));
        }
        None => assert!(!offer.needs_ssh_key, "{form:?}: the key was needed"),
    }

    let retyped = ApplyForm {
        csrf: form.csrf.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        company: c.company.clone(),
        justification: c.justification.clone().unwrap_or_default(),
        duration: format_duration(c.duration),
        ssh_key: c.ssh_key.clone().unwrap_or_default(),
    };
    match probe::check(&retyped, offer) {
        Ok(again) => assert_eq!(&again, c, "{form:?}: typed again, it is another submission"),
        Err(st) => panic!(
            "{form:?}: typed again as {retyped:?}, refused: {:?}",
            st.errors
        ),
    }
}

fn refused_holds(form: &ApplyForm, st: &FormState, offer: &Offer) {
    assert!(
        !st.errors.is_empty(),
        "{form:?}: refused without naming a field"
    );
    for (name, why) in &st.errors {
        assert!(
            FIELDS.contains(name),
            "{form:?}: an error for {name}, not a field"
        );
        assert!(!why.is_empty(), "{form:?}: an empty error for {name}");
    }
    if !offer.needs_ssh_key {
        assert!(
            !st.errors.contains_key("ssh_key"),
            "{form:?}: a key refused that nothing needs"
        );
    }
    for name in FIELDS {
        assert_eq!(
            st.values.get(name).map(String::as_str),
            Some(field(form, name)),
            "{form:?}: {name} is not kept as typed"
        );
    }
}

pub fn check_web_form(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let offer = offer_for(flags);
    let Ok(form) = probe::decode(body) else {
        return;
    };
    match probe::check(&form, &offer) {
        Ok(c) => {
            accepted_holds(&form, &c, &offer);
            page_escapes(&offer, &probe::typed(&form), &form);
        }
        Err(st) => {
            refused_holds(&form, &st, &offer);
            page_escapes(&offer, &st, &form);
        }
    }
}
