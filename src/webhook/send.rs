//! One webhook request: connect to an address that passed the target check, speak HTTP/1.1
//! (through TLS for https), send one POST, read the status. No redirect is followed, no
//! connection is reused, and connecting and the whole exchange are bounded in time.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::target::Target;

/// Longest wait for a TCP connection (per address) and for the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a whole delivery may take, connecting included.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Bytes of the receiver's answer read (and then ignored) before the connection is closed.
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Where trusted CA certificates are looked for, after `SSL_CERT_FILE`: Debian/Ubuntu/Alpine,
/// Fedora/RHEL, openSUSE.
const CA_BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem"];

/// The TLS client of every https delivery, built on first use: the system's CA bundle (or
/// `SSL_CERT_FILE`), ring, no client certificate.
fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let path = std::env::var_os("SSL_CERT_FILE")
                .map(std::path::PathBuf::from)
                .or_else(|| CA_BUNDLES.iter().map(std::path::PathBuf::from).find(|p| p.exists()))
                .ok_or("no CA certificate bundle found for https webhooks (set SSL_CERT_FILE)")?;
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("{}: no usable CA certificate", path.display()));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Sends `body` with `headers` to `t` at the first of `addrs` that accepts a connection;
/// answers the status code.
///
/// # Errors
/// A one-line reason when no answer came (connect, TLS, protocol, timeout).
pub async fn post(
    t: &Target,
    addrs: &[SocketAddr],
    headers: &[(&'static str, String)],
    body: Bytes,
) -> Result<u16, String> {
    match tokio::time::timeout(TOTAL_TIMEOUT, exchange(t, addrs, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", TOTAL_TIMEOUT.as_secs())),
    }
}

async fn exchange(
    t: &Target,
    addrs: &[SocketAddr],
    headers: &[(&'static str, String)],
    body: Bytes,
) -> Result<u16, String> {
    let mut last = String::from("no address to connect to");
    let mut stream = None;
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last = format!("connecting to {addr}: {e}"),
            Err(_) => {
                last = format!("connecting to {addr}: no connection within {} s", CONNECT_TIMEOUT.as_secs())
            }
        }
    }
    let stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    let mut req = hyper::Request::post(t.path.as_str()).header(hyper::header::HOST, t.authority.as_str());
    for (name, value) in headers {
        req = req.header(*name, value.as_str());
    }
    let req = req
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .map_err(|e| format!("building the request: {e}"))?;
    if t.https {
        let name = ServerName::try_from(t.host.clone()).map_err(|e| format!("{}: {e}", t.host))?;
        let tls = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_rustls::TlsConnector::from(tls()?).connect(name, stream),
        )
        .await
        .map_err(|_| format!("no TLS handshake within {} s", CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| format!("TLS: {e}"))?;
        send(TokioIo::new(tls), req).await
    } else {
        send(TokioIo::new(stream), req).await
    }
}

async fn send<IO>(io: IO, req: hyper::Request<Full<Bytes>>) -> Result<u16, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(conn);
    let result = async {
        let res = sender.send_request(req).await.map_err(|e| format!("HTTP: {e}"))?;
        let status = res.status().as_u16();
        // Read a little of the answer so a receiver that writes one is not cut off mid-write;
        // its content does not matter.
        let mut body = res.into_body();
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match body.frame().await {
                Some(Ok(f)) => read += f.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
        Ok(status)
    }
    .await;
    driver.abort();
    result
}
