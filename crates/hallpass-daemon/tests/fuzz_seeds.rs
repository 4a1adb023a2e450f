//! The fuzz seed corpora (`fuzz/corpus/{config,identity_file,integration_file,policy,scim_filter,scim_patch,web_form}`)
//! replayed through the checks their fuzz targets make, so the targets' expectations cannot rot
//! while nobody runs the fuzzer (see `fuzz/README.md`; the `frame` seeds replay in hallpass-proto).
//! The `identity_file`, `scim_filter`, `scim_patch` and `web_form` checks are the targets' own
//! files, included here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hallpass_core::flow::Flow;
use hallpass_core::integration::{Connector, Integration, ResourceDef, SecretRef, Target};
use hallpass_core::policy_doc::PolicyDoc;
use hallpass_core::{IntegrationName, Timestamp};
use hallpass_daemon::config::Config;
use serde::{Deserialize, Serialize};

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("entry").path();
            let bytes = std::fs::read(&path).expect("readable");
            (path, bytes)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "too few seeds in {}", dir.display());
    out
}

fn text(path: &Path, bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| panic!("{} is UTF-8", path.display()))
}

#[test]
fn config_seeds_parse_or_name_the_file() {
    for (path, bytes) in seeds("config") {
        match Config::parse(&text(&path, &bytes), &path) {
            Ok(cfg) => {
                assert!(cfg.store.cache_mb.checked_mul(1024 * 1024).is_some());
                assert!((1..=usize::MAX >> 3).contains(&cfg.connectors.max_concurrent));
                let max = cfg.expiry.retry_max;
                assert!(Duration::try_from_secs_f64(max.as_secs_f64() * 1.2).is_ok());
            }
            Err(e) => assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}"),
        }
    }
}

#[test]
fn config_refuses_values_the_daemon_would_overflow_on() {
    // Each parsed before, then overflowed in the daemon: `cache_mb * 1 MiB` (server::run), the
    // connector `Semaphore::new` (panics above usize::MAX >> 3), and `Duration::mul_f64` in the
    // jitter of the revocation retry delay (panicked the expiry task).
    for (text, key) in [
        ("[store]\ncache_mb = 17592186044416\n", "store.cache_mb"),
        (
            "[connectors]\nmax_concurrent = 4611686018427387904\n",
            "connectors.max_concurrent",
        ),
        (
            "[expiry]\nretry_initial = \"1s\"\nretry_max = \"500000000000y\"\n",
            "expiry.retry_max",
        ),
    ] {
        let err = Config::parse(text, Path::new("/etc/hallpass/x.toml"))
            .expect_err(text)
            .to_string();
        assert!(
            err.contains(key) && err.contains("/etc/hallpass/x.toml"),
            "{err}"
        );
    }
}

/// The CLI's `IntegrationFile` (in the binary crate), field for field.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    description: String,
    connector: Connector,
    resources: Vec<ResourceDef>,
}

#[test]
fn integration_file_seeds_round_trip() {
    let mut valid = 0;
    for (path, bytes) in seeds("integration_file") {
        let text = text(&path, &bytes);
        for line in text.lines() {
            if let Ok(t) = line.parse::<Target>() {
                assert_eq!(t.to_string(), line.trim());
                assert_eq!(t.to_string().parse::<Target>().ok(), Some(t));
            }
            if let Ok(s) = line.parse::<SecretRef>() {
                assert_eq!(s.to_string(), line);
            }
        }
        let Ok(f) = toml::from_str::<File>(&text) else {
            continue;
        };
        let integration = Integration {
            name: IntegrationName::new("fuzz").expect("name"),
            connector: f.connector,
            resources: f.resources,
            description: f.description.trim().to_string(),
            updated_at: Timestamp(0),
        };
        integration
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        valid += 1;
        let json = serde_json::to_string(&integration).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Integration>(&json).ok().as_ref(),
            Some(&integration)
        );
        let file = File {
            description: integration.description.clone(),
            connector: integration.connector.clone(),
            resources: integration.resources.clone(),
        };
        let again: File = toml::from_str(&toml::to_string(&file).expect("TOML")).expect("parses");
        assert_eq!(again.connector, integration.connector);
        assert_eq!(again.resources, integration.resources);
    }
    assert!(valid >= 3, "{valid} valid integration seeds");
}

#[test]
fn policy_seeds_validate_and_round_trip() {
    let (mut flows, mut docs) = (0, 0);
    for (path, bytes) in seeds("policy") {
        // The first 8 bytes describe the fuzz target's directory; the rest is the document.
        let text = text(&path, &bytes[8..]);
        if let Ok(flow) = serde_json::from_str::<Flow>(&text) {
            flow.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            flows += 1;
            let json = serde_json::to_string(&flow).expect("serializes");
            assert_eq!(
                serde_json::from_str::<Flow>(&json).ok().as_ref(),
                Some(&flow)
            );
            assert_eq!(
                flow.resolve_duration(None).ok(),
                Some(flow.default_duration)
            );
            let over = flow.max_duration + Duration::from_secs(1);
            assert!(flow.resolve_duration(Some(over)).is_err());
        } else if let Ok(doc) = toml::from_str::<PolicyDoc>(&text) {
            doc.check()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs += 1;
            let normal = doc.clone().normalized();
            let exported = toml::to_string(&normal).expect("TOML");
            assert_eq!(toml::from_str::<PolicyDoc>(&exported).ok(), Some(normal));
            assert!(doc.plan_to(&doc, true).changes.is_empty());
        } else {
            panic!("{} is neither a flow nor a policy document", path.display());
        }
    }
    assert!(flows >= 2 && docs >= 1, "{flows} flows, {docs} documents");
}

mod scim_filter {
    include!("../../../fuzz/checks/scim_filter.rs");
}

#[test]
fn scim_filter_seeds_hold_the_targets_checks() {
    let mut parsed = 0;
    for (path, bytes) in seeds("scim_filter") {
        let text = text(&path, &bytes);
        scim_filter::check_scim_filter(&text);
        parsed += usize::from(hallpass_daemon::scim::filter::parse(&text).is_ok());
    }
    // The seeds are there to reach the checks past the parser.
    assert!(parsed >= 3, "only {parsed} seeds parse as filters");
}

mod identity_file {
    include!("../../../fuzz/checks/identity_file.rs");
}

/// Replays `target`'s seeds through its `check`, and asks `accepts` whether each gets past
/// the target's refusals: returns (accepted, refused), for the tests to require both kinds.
fn replay(
    target: &str,
    check: fn(&[u8]),
    accepts: impl Fn(&Path, &[u8]) -> bool,
) -> (usize, usize) {
    let (mut accepted, mut refused) = (0, 0);
    for (path, bytes) in seeds(target) {
        check(&bytes);
        if accepts(&path, &bytes) {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    (accepted, refused)
}

#[test]
fn identity_file_seeds_hold_the_targets_checks() {
    use hallpass_core::identity_file::parse;
    let (accepted, refused) = replay(
        "identity_file",
        identity_file::check_identity_file,
        |path, bytes| {
            let text = text(path, &bytes[1..]);
            parse(identity_file::format_for(bytes[0]), &text).is_ok()
        },
    );
    // The seeds are there to reach the round trip, in both formats, and a refusal.
    assert!(
        accepted >= 2 && refused >= 1,
        "{accepted} accepted, {refused} refused"
    );
}

mod scim_patch {
    include!("../../../fuzz/checks/scim_patch.rs");
}

#[test]
fn scim_patch_seeds_hold_the_targets_checks() {
    let (accepted, refused) = replay("scim_patch", scim_patch::check_scim_patch, |path, bytes| {
        let (kind, stored) = scim_patch::stored_for(bytes[0]);
        let body: serde_json::Value = serde_json::from_slice(&bytes[1..])
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        scim_patch::patched(kind, &stored, &body).is_ok()
    });
    // The seeds are there to reach the checks past the parser (two of them on resources an
    // earlier hallpass stored untyped, which must still take a deprovisioning PATCH), and
    // refusals.
    assert!(
        accepted >= 6 && refused >= 2,
        "{accepted} accepted, {refused} refused"
    );
}

mod web_form {
    include!("../../../fuzz/checks/web_form.rs");
}

#[test]
fn web_form_seeds_hold_the_targets_checks() {
    use hallpass_daemon::web::probe;
    let (mut accepted, mut refused, mut unreadable) = (0, 0, 0);
    for (_, bytes) in seeds("web_form") {
        web_form::check_web_form(&bytes);
        let offer = web_form::offer_for(bytes[0]);
        match probe::decode(&bytes[1..]) {
            Ok(form) => match probe::check(&form, &offer) {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            },
            Err(_) => unreadable += 1,
        }
    }
    // The seeds are there to reach each branch of the checks.
    assert!(
        accepted >= 1 && refused >= 2 && unreadable >= 1,
        "{accepted} accepted, {refused} refused, {unreadable} unreadable"
    );
}
