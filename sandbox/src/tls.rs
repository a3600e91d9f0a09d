//! `sandbox --tls`: every emulator served over HTTPS with a certificate made at start, so the
//! official Azure SDKs' credentials (azure-identity refuses non-https authorities, azure-core
//! refuses bearer tokens over http) work against the sandbox end to end.
//!
//! A throwaway certificate authority signs one server certificate for `127.0.0.1`, `::1` and
//! `localhost`; clients trust the CA certificate (written next to the configuration as
//! [`CA_FILE_NAME`]: `REQUESTS_CA_BUNDLE` / `SSL_CERT_FILE` for Python, `SSL_CERT_FILE` for the
//! connector). A CA plus a leaf, rather than one self-signed leaf, because strict X.509
//! verification (Python 3.13's default) refuses a leaf as its own trust anchor.
//!
//! Invariants: the private keys never leave memory (only the CA certificate is written); a new
//! authority is made at every start, so a stale trust file fails loudly instead of trusting an
//! old key; the server uses the same rustls provider (aws-lc-rs) as the connector's client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// File name of the CA certificate written next to the configuration.
pub const CA_FILE_NAME: &str = "sandbox-ca.pem";

/// The server identity of one sandbox run.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The CA certificate clients trust (PEM).
    pub ca_pem: String,
    /// The server certificate (DER), valid for 127.0.0.1, ::1 and localhost.
    cert_der: Vec<u8>,
    /// Its private key (PKCS#8 DER); never printed, never written.
    key_der: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("sandbox TLS: {what}: {e}"))
}

impl TlsIdentity {
    /// A fresh CA and a server certificate it signed.
    pub fn generate() -> std::io::Result<TlsIdentity> {
        let ca_key = KeyPair::generate().map_err(|e| tls_error("CA key", e))?;
        let mut ca = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| tls_error("CA parameters", e))?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.distinguished_name
            .push(DnType::CommonName, "sentinel-signl4 sandbox CA");
        let ca_cert = ca
            .self_signed(&ca_key)
            .map_err(|e| tls_error("CA certificate", e))?;
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().map_err(|e| tls_error("server key", e))?;
        let mut server = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .map_err(|e| tls_error("server parameters", e))?;
        server
            .distinguished_name
            .push(DnType::CommonName, "sentinel-signl4 sandbox");
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.use_authority_key_identifier_extension = true;
        let cert = server
            .signed_by(&key, &issuer)
            .map_err(|e| tls_error("server certificate", e))?;
        Ok(TlsIdentity {
            ca_pem: ca_cert.pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }

    /// The rustls server configuration (HTTP/1.1; the SDKs need nothing else).
    pub fn server_config(&self) -> std::io::Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("protocol versions", e))?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .map_err(|e| tls_error("server certificate", e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Writes the CA certificate next to `config` (or into the current directory without one)
    /// and returns where.
    pub fn write_ca(&self, config: Option<&Path>) -> std::io::Result<PathBuf> {
        let dir = config
            .and_then(Path::parent)
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let path = dir.join(CA_FILE_NAME);
        std::fs::write(&path, &self.ca_pem)?;
        Ok(path)
    }
}
