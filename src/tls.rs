//! Native TLS (rustls, ring provider): loads the certificate chain and private key from PEM
//! files, checks that they belong together, and swaps them on SIGHUP.
//!
//! The server holds one [`Tls`] for its whole life. Every handshake asks [`CurrentCert`] for
//! the certificate, so a reload changes what new handshakes present without touching the
//! listener or any open connection. A reload that fails (unreadable file, not PEM, key not
//! matching the certificate) is logged and changes nothing: the last good pair stays in use.
//! This module reads files and knows nothing of HTTP; `server.rs` runs the handshake.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Where the certificate chain and the private key are read from, at start and on each reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM `CERTIFICATE` sections: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// One PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
    /// (`EC PRIVATE KEY`).
    pub key: PathBuf,
}

/// Why a certificate/key pair cannot be used. Each variant names the file it is about.
#[derive(Debug)]
pub enum Error {
    /// The file cannot be opened or read.
    Read(PathBuf, io::Error),
    /// The file holds a malformed PEM section.
    Pem(PathBuf, pem::Error),
    /// The certificate file holds no `CERTIFICATE` section.
    NoCertificate(PathBuf),
    /// The key file holds no private key section.
    NoKey(PathBuf),
    /// The first certificate is not a certificate rustls can parse.
    BadCertificate(PathBuf, rustls::Error),
    /// The key is not one the crypto provider can sign with (type or encoding).
    BadKey(PathBuf, rustls::Error),
    /// The key's public half is not the one in the certificate (key file, certificate file).
    KeyMismatch(PathBuf, PathBuf),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read(p, e) => write!(f, "{}: {e}", p.display()),
            Error::Pem(p, e) => write!(f, "{}: not valid PEM: {}", p.display(), describe_pem(e)),
            Error::NoCertificate(p) => write!(f, "{}: no PEM CERTIFICATE section", p.display()),
            Error::NoKey(p) => write!(
                f,
                "{}: no PEM private key section (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
                p.display()
            ),
            Error::BadCertificate(p, e) => write!(f, "{}: unusable certificate: {e}", p.display()),
            Error::BadKey(p, e) => write!(f, "{}: unusable private key: {e}", p.display()),
            Error::KeyMismatch(key, cert) => write!(
                f,
                "{}: the private key does not match the certificate in {}",
                key.display(),
                cert.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A one-line description of a PEM error. pki-types prints byte vectors as lists of numbers;
/// at most a section label is shown here, never key material.
fn describe_pem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a {} section has no END line", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { .. } => "malformed BEGIN line".into(),
        pem::Error::Base64Decode(_) => "bad base64 in a section".into(),
        other => other.to_string(),
    }
}

/// The crypto provider for every handshake and key: ring (aws-lc-rs needs cmake to build).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks the pair named by `files`.
///
/// # Errors
/// An [`Error`] naming the file that is missing, unreadable, not PEM, empty of the expected
/// section, or whose key does not match the certificate.
pub fn load(files: &CertFiles, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let pem_err = |path: &Path, e: pem::Error| match e {
        pem::Error::Io(e) => Error::Read(path.to_owned(), e),
        e => Error::Pem(path.to_owned(), e),
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| pem_err(&files.cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(&files.cert, e))?;
    if chain.is_empty() {
        return Err(Error::NoCertificate(files.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| match e {
        pem::Error::NoItemsFound => Error::NoKey(files.key.clone()),
        e => pem_err(&files.key, e),
    })?;
    let key = provider.key_provider.load_private_key(key).map_err(|e| Error::BadKey(files.key.clone(), e))?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(Error::KeyMismatch(files.key.clone(), files.cert.clone()))
        }
        // Every ring key exposes its public key, so `Unknown` does not occur; were it to,
        // the handshake itself would still fail for a client given a mismatched pair.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(e) => Err(Error::BadCertificate(files.cert.clone(), e)),
    }
}

/// The certificate every new handshake presents; replaced whole by a reload.
#[derive(Debug)]
struct CurrentCert {
    /// Readers clone the `Arc` and let go at once; the writer only swaps it, so the lock is
    /// never held across I/O or a handshake.
    key: RwLock<Arc<CertifiedKey>>,
}

impl CurrentCert {
    fn get(&self) -> Arc<CertifiedKey> {
        // Poisoning needs a panic while the lock is held; neither side can panic there (a
        // clone of an `Arc`, an assignment). Recover the value rather than prove it.
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = key;
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// TLS for the server's lifetime: the files, the certificate in use and the acceptor.
pub struct Tls {
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    current: Arc<CurrentCert>,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads the pair and builds the server configuration: TLS 1.2 and 1.3, no client
    /// certificates, ALPN `http/1.1` only (the server speaks HTTP/1.1 alone).
    ///
    /// # Errors
    /// See [`load`].
    pub fn new(files: CertFiles) -> Result<Tls, Error> {
        let provider = provider();
        let current = Arc::new(CurrentCert { key: RwLock::new(Arc::new(load(&files, &provider)?)) });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Ok(Tls { files, provider, current, acceptor })
    }

    /// The acceptor that runs handshakes with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// Reads the files again and, if the pair is good, makes it the one new handshakes use.
    /// Blocks on file I/O.
    ///
    /// # Errors
    /// See [`load`]; then the certificate in use is unchanged.
    pub fn reload(&self) -> Result<(), Error> {
        let key = load(&self.files, &self.provider)?;
        self.current.set(Arc::new(key));
        Ok(())
    }
}

/// Reloads `tls` on every SIGHUP, for as long as the runtime runs.
///
/// The handler is installed before this returns, so a SIGHUP sent after it cannot take the
/// default action (ending the process). Must be called inside a tokio runtime.
///
/// # Errors
/// When the SIGHUP handler cannot be installed.
pub fn reload_on_sighup(tls: Arc<Tls>) -> io::Result<tokio::task::JoinHandle<()>> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let tls = tls.clone();
            // Reading files blocks; keep it off the request threads.
            let result = tokio::task::spawn_blocking(move || tls.reload()).await;
            match result {
                Ok(Ok(())) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                Ok(Err(e)) => {
                    tracing::warn!("SIGHUP: TLS reload failed, keeping the previous certificate: {e}")
                }
                Err(e) => tracing::warn!("SIGHUP: TLS reload did not finish: {e}"),
            }
        }
    }))
}
