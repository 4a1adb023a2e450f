//! TLS server configuration shared by the access-link site and the remote listener: rustls
//! with the ring provider, certificates and keys from PEM files. Invariant: a listener with
//! a client CA accepts only clients whose certificate chains to it.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A server config for `cert` and `key`; with `client_ca`, client certificates are required.
/// `what` names the config keys in errors (e.g. `remote.tls_cert`).
pub fn server_config(
    what: &str,
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{what}.tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{what}.tls_cert {} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{what}.tls_key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow::anyhow!("{what}.client_ca {}: {e}", ca.display()))?;
            for c in cas {
                roots.add(c).map_err(|e| {
                    anyhow::anyhow!(
                        "{what}.client_ca {}: not a CA certificate: {e}",
                        ca.display()
                    )
                })?;
            }
            if roots.is_empty() {
                anyhow::bail!("{what}.client_ca {} holds no certificate", ca.display());
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| anyhow::anyhow!("{what}.client_ca {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| {
        anyhow::anyhow!("{what}.tls_cert and {what}.tls_key do not make a usable pair: {e}")
    })?;
    Ok(Arc::new(config))
}
