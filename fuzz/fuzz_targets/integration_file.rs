//! Integration definition files (`hallpass integrations create NAME --file F.toml`), and the
//! `Target` / `SecretRef` text forms.
//!
//! The CLI's `IntegrationFile` lives in the binary crate; [`File`] mirrors it field for field
//! (`description`, `[connector]`, `[[resources]]`, unknown keys refused) over the same
//! `hallpass_core` types, and the integration is built and validated as `from_file` does.
//!
//! Checks: nothing panics; a valid integration survives JSON (wire and store) and TOML (the
//! file) round trips unchanged; every resource/permission it offers names a `Target` that
//! parses and prints back; every secret reference prints and parses back. Each input line is
//! also tried as a `Target` and a `SecretRef`: what parses prints as text that parses to the
//! same value.
#![no_main]

use hallpass_core::integration::{
    Connector, Integration, ResourceDef, SecretRef, Target, pg_resource,
};
use hallpass_core::{IntegrationName, Timestamp};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    description: String,
    connector: Connector,
    resources: Vec<ResourceDef>,
}

fn secrets(c: &Connector) -> Vec<&SecretRef> {
    match c {
        Connector::Exec(e) => e.secret_env.values().collect(),
        Connector::Postgres(p) => p.password.iter().collect(),
        Connector::Ssh(s) => vec![&s.ca_key],
        Connector::Noop => vec![],
    }
}

fn check_secret(s: &SecretRef) {
    let text = s.to_string();
    let back: SecretRef = text
        .parse()
        .unwrap_or_else(|e| panic!("{s:?} prints as {text:?}, which does not parse: {e}"));
    assert_eq!(&back, s);
    let json = serde_json::to_string(s).expect("serializes");
    assert_eq!(
        serde_json::from_str::<SecretRef>(&json).ok().as_ref(),
        Some(s)
    );
}

fn check_file(text: &str) {
    let Ok(f) = toml::from_str::<File>(text) else {
        return;
    };
    for s in secrets(&f.connector) {
        check_secret(s);
    }
    let integration = Integration {
        name: IntegrationName::new("fuzz").expect("a valid name"),
        connector: f.connector,
        resources: f.resources,
        description: f.description.trim().to_string(),
        updated_at: Timestamp(0),
    };
    if integration.validate().is_err() {
        return;
    }
    // The wire and the store carry it as JSON.
    let json = serde_json::to_string(&integration).expect("serializes");
    let back: Integration =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not parse back: {e}"));
    assert_eq!(back, integration);
    assert!(back.validate().is_ok());
    // `integrations show`/export write it back as a file.
    let file = File {
        description: integration.description.clone(),
        connector: integration.connector.clone(),
        resources: integration.resources.clone(),
    };
    let toml_text = toml::to_string(&file).expect("a valid integration serializes as TOML");
    let again: File = toml::from_str(&toml_text)
        .unwrap_or_else(|e| panic!("{toml_text} does not parse back: {e}"));
    assert_eq!(again.connector, integration.connector, "{toml_text}");
    assert_eq!(again.resources, integration.resources, "{toml_text}");
    assert_eq!(again.description, integration.description, "{toml_text}");
    // Everything it offers can be requested by name.
    for r in &integration.resources {
        if let Connector::Postgres(_) = integration.connector {
            let (db, schema) = pg_resource(&r.name);
            assert!(!db.is_empty() && schema.is_none_or(|s| !s.is_empty()));
        }
        for p in &r.permissions {
            assert!(integration.offers(&r.name, p));
            let shown = format!("{}/{}/{p}", integration.name, r.name);
            let t: Target = shown
                .parse()
                .unwrap_or_else(|e| panic!("offered target {shown} does not parse: {e}"));
            assert_eq!(t.to_string(), shown);
        }
    }
}

fn check_line(line: &str) {
    if let Ok(t) = line.parse::<Target>() {
        let shown = t.to_string();
        assert_eq!(shown, line.trim(), "{t:?}");
        assert_eq!(shown.parse::<Target>().ok().as_ref(), Some(&t));
        let json = serde_json::to_string(&t).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Target>(&json).ok().as_ref(),
            Some(&t)
        );
    }
    if let Ok(s) = line.parse::<SecretRef>() {
        assert_eq!(s.to_string(), line);
        check_secret(&s);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_file(text);
    for line in text.lines().take(64) {
        check_line(line);
    }
});
