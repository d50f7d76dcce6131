//! docs/cli.md, TLS: with `--tls-cert`/`--tls-key` the server speaks HTTPS only; unusable
//! certificate files stop the start with a one-line reason naming the file; SIGHUP swaps the
//! certificate for new handshakes and keeps open connections; a client that never starts a
//! handshake is cut off after the header timeout.
//!
//! Certificates come from throwaway CAs made here (rcgen). Every client trusts only the CA a
//! test names, so which certificate the server presented is shown by which clients connect.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::util::*;

/// A throwaway certificate authority: a root, or an intermediate under one.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: rcgen::Certificate,
    /// PEM of the intermediates from this CA up to (not including) the root: what a server
    /// sends after its own certificate.
    chain_pem: String,
}

/// A server certificate chain (leaf first) and its private key, as PEM file contents.
pub(crate) struct ServerCert {
    chain_pem: String,
    key_pem: String,
}

impl Ca {
    pub(crate) fn root(name: &str) -> Ca {
        let key = KeyPair::generate().expect("generate a CA key");
        let params = Ca::params(name);
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Ca { issuer: Issuer::new(params, key), cert, chain_pem: String::new() }
    }

    fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate().expect("generate an intermediate key");
        let params = Ca::params(name);
        let cert = params.signed_by(&key, &self.issuer).expect("sign the intermediate");
        let chain_pem = format!("{}{}", cert.pem(), self.chain_pem);
        Ca { issuer: Issuer::new(params, key), cert, chain_pem }
    }

    fn params(name: &str) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
    }

    pub(crate) fn pem(&self) -> String {
        self.cert.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A server certificate for `localhost` and `127.0.0.1` (how test servers are reached).
    pub(crate) fn issue(&self) -> ServerCert {
        let key = KeyPair::generate().expect("generate a server key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server certificate parameters");
        params.distinguished_name.push(DnType::CommonName, "depot test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("sign the server certificate");
        ServerCert { chain_pem: format!("{}{}", cert.pem(), self.chain_pem), key_pem: key.serialize_pem() }
    }
}

/// The two PEM files a server is started with, in the test's directory.
pub(crate) struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    pub(crate) fn write(dir: &Path, server: &ServerCert) -> TlsFiles {
        let files = TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
        files.install(server);
        files
    }

    /// Overwrites both files in place (the server reads them again only on SIGHUP).
    fn install(&self, server: &ServerCert) {
        fs::write(&self.cert, &server.chain_pem).expect("write the certificate file");
        fs::write(&self.key, &server.key_pem).expect("write the key file");
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

pub(crate) fn start_tls(db: TestDb, files: &TlsFiles, extra: &[&str]) -> TestServer {
    let mut args = files.args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let srv = TestServer::start_on(db, &args);
    eqnice!("https", srv.scheme(), srv.log());
    srv
}

/// A fresh HTTPS client (no pooled connections from earlier checks) trusting only `ca`.
pub(crate) fn https_client(ca: &Ca) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA PEM"))
        .https_only(true)
        .timeout(WATCHDOG)
        .build()
        .expect("build an https client")
}

/// A TLS connection by hand, trusting only `ca` and offering ALPN h2 and http/1.1, so a test
/// can see what was negotiated and keep the connection open across a reload.
fn tls_connect(
    addr: SocketAddr,
    ca: &Ca,
) -> io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).expect("add the CA to the roots");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::from(addr.ip()))
        .map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, connect(addr)?);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// `GET path` on an open connection, keeping it open.
#[track_caller]
fn get_on(stream: &mut (impl Read + Write), path: &str) -> Response {
    let req = Request::get(path).header("Connection", "keep-alive");
    stream.write_all(&req.encode("127.0.0.1")).expect("write the request");
    stream.flush().expect("flush the request");
    read_response(stream, false, req.describe()).expect("read the response")
}

/// `GET /healthz` through a fresh client trusting only `ca`; the error text if it fails.
fn healthz_trusting(srv: &TestServer, ca: &Ca) -> Result<u16, String> {
    https_client(ca)
        .get(srv.url("/healthz"))
        .send()
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn https_serves_uploads_and_downloads_and_refuses_plain_http() {
    let db = TestDb::new();
    let alice = db.add_user("alice", "alice-password", false);
    // Root -> intermediate -> server: the server must send the intermediate after its own
    // certificate, since the client trusts only the root.
    let root = Ca::root("depot test root");
    let files = TlsFiles::write(db.dir(), &root.intermediate("depot test intermediate").issue());
    let srv = start_tls(db, &files, &[]);

    let client = https_client(&root);
    let url = srv.url(&file_path("alice", "tool", "1.0.0", "tool.bin"));
    let body = content_for("tls-upload", 300 * KIB);
    let put = client
        .put(&url)
        .header("Authorization", alice.header().expect("basic credentials"))
        .body(body.clone())
        .send()
        .unwrap_or_else(|e| panic!("PUT {url}: {e:?}\n--- log ---\n{}", srv.log()));
    eqnice!(201, put.status().as_u16(), format!("PUT {url}"));
    let get = client.get(&url).send().unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
    eqnice!(200, get.status().as_u16(), format!("GET {url}"));
    let got = get.bytes().expect("read the download");
    assert!(got[..] == body[..], "GET {url} returned {} bytes, not the {} uploaded", got.len(), body.len());

    // ALPN: the server speaks HTTP/1.1 only, and says so.
    let tls = tls_connect(srv.addr(), &root).expect("TLS handshake");
    eqnice!(Some(&b"http/1.1"[..]), tls.conn.alpn_protocol(), "ALPN offered h2 and http/1.1");

    // Plain HTTP on the TLS port is never served: it gets a readable 400 that says to use
    // https (curl would otherwise report "Received HTTP/0.9"), and the connection closes.
    let mut plain = connect(srv.addr()).expect("connect");
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("write");
    let mut reply = Vec::new();
    plain.read_to_end(&mut reply).expect("the refusal arrives whole, then the connection closes");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400 "), "plain HTTP on the TLS port: {reply:?}");
    assert!(reply.ends_with("this port speaks HTTPS only: use an https:// URL\n"), "{reply:?}");
    assert!(!reply.contains(" 200 "), "the request must not be served: {reply:?}");
    // The failed handshake did not hurt the server.
    eqnice!(Ok(200), healthz_trusting(&srv, &root), srv.log());
}

#[test]
fn sighup_swaps_the_certificate_for_new_connections_and_keeps_open_ones() {
    let db = TestDb::new();
    let (ca1, ca2) = (Ca::root("depot test CA 1"), Ca::root("depot test CA 2"));
    let files = TlsFiles::write(db.dir(), &ca1.issue());
    let srv = start_tls(db, &files, &[]);

    // A keep-alive connection opened under certificate A.
    let mut open = tls_connect(srv.addr(), &ca1).expect("handshake with certificate A");
    get_on(&mut open, "/healthz").expect(200);
    assert!(healthz_trusting(&srv, &ca2).is_err(), "CA 2 trusted before the reload");

    files.install(&ca2.issue());
    srv.signal_hup();
    // The reload runs on its own task; poll (bounded) until a new handshake shows it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = tls_connect(srv.addr(), &ca2) {
        assert!(Instant::now() < deadline, "certificate B never served after SIGHUP: {e}\n{}", srv.log());
        thread::sleep(Duration::from_millis(50));
    }
    eqnice!(Ok(200), healthz_trusting(&srv, &ca2), srv.log());
    assert!(
        healthz_trusting(&srv, &ca1).is_err(),
        "certificate A still served after the reload\n{}",
        srv.log()
    );
    assert!(tls_connect(srv.addr(), &ca1).is_err(), "certificate A still served after the reload");
    // The connection from before the reload was neither dropped nor disturbed.
    get_on(&mut open, "/healthz").expect(200).expect_body(b"ok\n");

    // A bad reload keeps the last good certificate.
    fs::write(&files.cert, "this is not a certificate\n").expect("overwrite the certificate");
    srv.signal_hup();
    assert!(
        srv.wait_for_log("keeping the previous certificate"),
        "no warning for a bad reload\n{}",
        srv.log()
    );
    assert!(
        srv.log().contains(&files.cert.display().to_string()),
        "the warning names the file\n{}",
        srv.log()
    );
    eqnice!(Ok(200), healthz_trusting(&srv, &ca2), srv.log());
}

/// Runs `depot serve` expected to fail at start; killed (and reported) if it serves instead.
fn serve_expecting_exit(db: &TestDb, cert: &Path, key: &Path) -> CmdOutput {
    let mut cmd = db.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cmdline = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
    let deadline = Instant::now() + WATCHDOG;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output: Output = child.wait_with_output().expect("collect the output");
    CmdOutput { cmdline, stdin: None, output }
}

#[test]
fn unusable_certificate_files_stop_the_start_with_a_one_line_reason() {
    let db = TestDb::new();
    let dir = db.dir().to_owned();
    let ca = Ca::root("depot test CA");
    let (a, b) = (ca.issue(), ca.issue());
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        fs::write(&path, text).expect("write a test file");
        path
    };
    let cert = write("cert.pem", &a.chain_pem);
    let key = write("key.pem", &a.key_pem);
    let other_key = write("other-key.pem", &b.key_pem);
    let garbage = write("garbage.pem", "not PEM at all\n");
    let empty = write("empty.pem", "");
    let truncated = write("truncated.pem", &a.chain_pem[..a.chain_pem.len() / 2]);
    let missing = dir.join("missing.pem");

    // (certificate, key, the file the reason must name)
    let cases = [
        (&missing, &key, &missing),
        (&cert, &missing, &missing),
        (&garbage, &key, &garbage),
        (&empty, &key, &empty),
        (&truncated, &key, &truncated),
        (&key, &key, &key), // a key where the certificate belongs
        (&cert, &garbage, &garbage),
        (&cert, &cert, &cert), // a certificate where the key belongs
        (&cert, &other_key, &other_key),
    ];
    for (c, k, named) in cases {
        let out = serve_expecting_exit(&db, c, k);
        out.expect_failure();
        assert!(
            out.stderr().contains(&named.display().to_string()),
            "the reason names {}\n{out}",
            named.display()
        );
    }
    assert!(!db.path().exists(), "the certificate is checked before the database is created");

    // The good pair starts.
    let srv = start_tls(db, &TlsFiles { cert, key }, &[]);
    eqnice!(Ok(200), healthz_trusting(&srv, &ca), srv.log());
}

#[test]
fn a_client_that_never_starts_a_handshake_is_cut_off_and_frees_its_slot() {
    let db = TestDb::new();
    let ca = Ca::root("depot test CA");
    let files = TlsFiles::write(db.dir(), &ca.issue());
    // One connection slot: the silent client holds it until the server lets go.
    let srv = start_tls(db, &files, &["--header-timeout-secs", "1", "--max-connections", "1"]);

    let mut silent = TcpStream::connect(srv.addr()).expect("connect");
    // Generous: the server should close after about a second; this only guards a hang.
    silent.set_read_timeout(Some(Duration::from_secs(20))).expect("set a read timeout");
    let mut buf = [0u8; 64];
    match silent.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("the server sent {n} bytes to a client that sent nothing"),
        Err(e) => panic!("the server did not close a silent connection: {e}\n{}", srv.log()),
    }
    // The slot came back: with one allowed, a real client gets through.
    eqnice!(Ok(200), healthz_trusting(&srv, &ca), srv.log());
}
