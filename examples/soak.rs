//! Soak load generator: many keep-alive connections mixing reads and writes against a running
//! depot for minutes, reporting errors, request rate, latency percentiles and the server's memory
//! over time.
//!
//! Usage (`benches/soak.sh` does all of it on a fresh database and a release build):
//!
//! ```text
//! cargo run --release --example soak -- URL OWNER TOKEN [SERVER_PID]
//!     URL         e.g. http://127.0.0.1:8080 (plain HTTP)
//!     OWNER       a user the token may write for; packages `soak-*` and module
//!                 `example.com/soak` are created under it
//!     TOKEN       a write token of OWNER
//!     SERVER_PID  the depot process, to sample its VmRSS from /proc (optional)
//! environment:
//!     DURATION=300     seconds of load (after the setup)
//!     CONNS=200        concurrent connections, one thread each, kept alive throughout
//!     SAMPLE_SECS=5    interval of the memory samples and the progress lines
//!     SEED=<number>    the choice of operations (default: from the clock)
//! ```
//!
//! Each connection sends one request at a time and measures it from the first byte written to
//! the last byte read. The mix: downloads of files that always exist (checked byte for byte),
//! HEAD, package and version listings, GOPROXY `@v/list` / `.info` / `.mod`, uploads of new files
//! (4 KiB to 1 MiB), downloads of a connection's own uploads, deletes of them (each connection
//! keeps at most `OWN_FILES`, so the database stays small) and GETs of files it deleted (404).
//! Any other status, a wrong body or an I/O error is an error; the first few are printed. A
//! connection that fails is reopened.
//!
//! Memory: VmRSS is sampled every SAMPLE_SECS; the verdict compares the mean of the last quarter
//! of the run with that of the second quarter (the first is warm-up) and calls it flat when they
//! differ by at most 10 % or 8 MiB, whichever is larger.
//!
//! Exit status: 0 when there was no error and memory stayed flat, 1 otherwise, 2 on bad usage.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Cursor, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fastrand::Rng;

/// Files that are never deleted: the downloads, HEADs and listings read them.
const STABLE_SIZES: [usize; 8] = [1, 1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024, 1 << 20, 3 << 20];
const STABLE_COPIES: usize = 4;
/// Go module versions published at setup.
const GO_VERSIONS: usize = 5;
const MODULE: &str = "example.com/soak";
/// A connection's live uploads: above this it deletes its oldest, so the database stays small.
const OWN_FILES: usize = 12;
/// Errors printed in full.
const ERROR_SAMPLES: usize = 10;
/// Hang guard for one request.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Download,
    Head,
    ListVersions,
    ListFiles,
    GoList,
    GoInfo,
    GoMod,
    Upload,
    /// Uploads as measured, by size: 4-16 KiB, 64-256 KiB, 1 MiB.
    PutSmall,
    PutMedium,
    PutLarge,
    OwnDownload,
    Delete,
    Gone,
}

impl Kind {
    const ALL: [Kind; 13] = [
        Kind::Download,
        Kind::Head,
        Kind::ListVersions,
        Kind::ListFiles,
        Kind::GoList,
        Kind::GoInfo,
        Kind::GoMod,
        Kind::PutSmall,
        Kind::PutMedium,
        Kind::PutLarge,
        Kind::OwnDownload,
        Kind::Delete,
        Kind::Gone,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Download => "GET file",
            Kind::Head => "HEAD file",
            Kind::ListVersions => "list versions",
            Kind::ListFiles => "list files",
            Kind::GoList => "GOPROXY @v/list",
            Kind::GoInfo => "GOPROXY .info",
            Kind::GoMod => "GOPROXY .mod",
            Kind::Upload => "PUT (chosen)",
            Kind::PutSmall => "PUT 4-16 KiB",
            Kind::PutMedium => "PUT 64-256 KiB",
            Kind::PutLarge => "PUT 1 MiB",
            Kind::OwnDownload => "GET own upload",
            Kind::Delete => "DELETE file",
            Kind::Gone => "GET deleted (404)",
        }
    }
}

#[path = "shared/content.rs"]
mod shared_content;
use shared_content::content;

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    addr: SocketAddr,
    host: String,
    stream: Option<(TcpStream, BufReader<TcpStream>)>,
}

impl Conn {
    fn new(addr: SocketAddr, host: String) -> Conn {
        Conn { addr, host, stream: None }
    }

    fn open(&mut self) -> io::Result<&mut (TcpStream, BufReader<TcpStream>)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(IO_TIMEOUT))?;
            stream.set_write_timeout(Some(IO_TIMEOUT))?;
            let reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
            self.stream = Some((stream, reader));
        }
        Ok(self.stream.as_mut().expect("just opened"))
    }

    /// Sends one request and reads its response; on any failure the connection is dropped (the
    /// next request opens a new one).
    fn request(
        &mut self,
        method: &str,
        target: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> io::Result<Response> {
        let result = self.exchange(method, target, auth, body);
        if result.as_ref().map_or(true, Response::closes) {
            self.stream = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        target: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> io::Result<Response> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(token) = auth {
            head.push_str(&format!("Authorization: token {token}\r\n"));
        }
        if method == "PUT" || !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let (stream, reader) = self.open()?;
        if body.len() <= 64 * 1024 {
            let mut all = head.into_bytes();
            all.extend_from_slice(body);
            stream.write_all(&all)?;
        } else {
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
        }
        read_response(reader, method == "HEAD")
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_response(r: &mut impl BufRead, head_only: bool) -> io::Result<Response> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the response head",
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut resp = Response { status, headers, body: Vec::new() };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    let chunked =
        resp.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = resp.body.len();
            resp.body.resize(start + size, 0);
            r.read_exact(&mut resp.body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        resp.body.resize(len, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        return Err(bad("a keep-alive response without a length"));
    }
    Ok(resp)
}

/// `(target, content)` of a file that always exists.
type Stable = (String, Arc<Vec<u8>>);

/// Everything the workers share.
struct Plan {
    owner: String,
    token: String,
    stable: Vec<Stable>,
    go_versions: Vec<String>,
    go_list: String,
    stop: AtomicBool,
    requests: AtomicU64,
    errors: AtomicU64,
    samples: Mutex<Vec<String>>,
    seed: u64,
}

impl Plan {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap();
        if samples.len() < ERROR_SAMPLES {
            eprintln!("soak: error: {what}");
            samples.push(what);
        }
    }
}

/// What one worker measured: latencies in microseconds by kind.
type Latencies = BTreeMap<Kind, Vec<u32>>;

fn worker(id: usize, addr: SocketAddr, host: String, plan: Arc<Plan>, start: Arc<Barrier>) -> Latencies {
    let mut rng = Rng::with_seed(plan.seed ^ ((id as u64 + 1) << 20));
    let mut conn = Conn::new(addr, host);
    let mut lat: Latencies = BTreeMap::new();
    // This connection's live uploads (target, seed, len), oldest first, and its deleted targets.
    let mut own: Vec<(String, u64, usize)> = Vec::new();
    let mut gone: Vec<String> = Vec::new();
    let mut counter = 0u64;
    let token = plan.token.as_str();
    let module = MODULE;
    // Open the connection before the clock starts.
    if let Err(e) = conn.open() {
        plan.error(format!("connection {id}: cannot connect: {e}"));
    }
    start.wait();
    while !plan.stop.load(Ordering::Relaxed) {
        let r = rng.usize(..100);
        let kind = match r {
            0..=34 => Kind::Download,
            35..=42 => Kind::Head,
            43..=47 => Kind::ListVersions,
            48..=51 => Kind::ListFiles,
            52..=55 => Kind::GoList,
            56..=58 => Kind::GoInfo,
            59..=60 => Kind::GoMod,
            61..=79 => Kind::Upload,
            80..=86 => Kind::OwnDownload,
            87..=97 => Kind::Delete,
            _ => Kind::Gone,
        };
        // Without a file of its own to read or delete (or a deleted one to probe), upload.
        let kind = match kind {
            Kind::OwnDownload | Kind::Delete if own.is_empty() => Kind::Upload,
            Kind::Gone if gone.is_empty() => Kind::Upload,
            Kind::Upload if own.len() >= OWN_FILES => Kind::Delete,
            k => k,
        };
        let started = Instant::now();
        let mut measured = kind;
        let (outcome, what) = match kind {
            Kind::Download | Kind::Head => {
                let (target, data) = &plan.stable[rng.usize(..plan.stable.len())];
                let head = kind == Kind::Head;
                let res = conn.request(if head { "HEAD" } else { "GET" }, target, None, &[]);
                let check = |resp: &Response| {
                    if resp.status != 200 {
                        return false;
                    }
                    let len_ok = resp.header("content-length") == Some(data.len().to_string().as_str());
                    len_ok && (head || resp.body == **data)
                };
                (
                    res.map(|resp| (check(&resp), resp)),
                    format!("{} {target}", if head { "HEAD" } else { "GET" }),
                )
            }
            Kind::ListVersions => {
                let target = format!("/api/v1/packages/{}/generic/soak-stable", plan.owner);
                let res = conn.request("GET", &target, None, &[]);
                (
                    res.map(|resp| (resp.status == 200 && resp.body.starts_with(b"["), resp)),
                    format!("GET {target}"),
                )
            }
            Kind::ListFiles => {
                let v = rng.usize(..STABLE_COPIES);
                let target = format!("/api/v1/packages/{}/generic/soak-stable/{v}.0/files", plan.owner);
                let res = conn.request("GET", &target, None, &[]);
                (
                    res.map(|resp| (resp.status == 200 && resp.body.starts_with(b"["), resp)),
                    format!("GET {target}"),
                )
            }
            Kind::GoList => {
                let target = format!("/api/packages/{}/go/{module}/@v/list", plan.owner);
                let res = conn.request("GET", &target, None, &[]);
                (
                    res.map(|resp| (resp.status == 200 && resp.body == plan.go_list.as_bytes(), resp)),
                    format!("GET {target}"),
                )
            }
            Kind::GoInfo | Kind::GoMod => {
                let v = &plan.go_versions[rng.usize(..plan.go_versions.len())];
                let ext = if kind == Kind::GoInfo { "info" } else { "mod" };
                let target = format!("/api/packages/{}/go/{module}/@v/{v}.{ext}", plan.owner);
                let res = conn.request("GET", &target, None, &[]);
                let want_mod = format!("module {module}\n\ngo 1.21\n");
                let check = |resp: &Response| {
                    resp.status == 200
                        && if ext == "mod" {
                            resp.body == want_mod.as_bytes()
                        } else {
                            String::from_utf8_lossy(&resp.body).contains(&format!("\"Version\":\"{v}\""))
                        }
                };
                (res.map(|resp| (check(&resp), resp)), format!("GET {target}"))
            }
            Kind::Upload | Kind::PutSmall | Kind::PutMedium | Kind::PutLarge => {
                counter += 1;
                let len;
                (measured, len) = match rng.usize(..20) {
                    0 => (Kind::PutLarge, 1 << 20),
                    1..=3 => (Kind::PutMedium, 64 * 1024 + rng.usize(..192 * 1024)),
                    _ => (Kind::PutSmall, 4096 + rng.usize(..12 * 1024)),
                };
                let seed = rng.u64(..);
                let target = format!(
                    "/api/packages/{}/generic/soak-churn-{id}/{}.0/f{}-{counter}.bin",
                    plan.owner,
                    counter % 8,
                    plan.seed % 100_000
                );
                let res = conn.request("PUT", &target, Some(token), &content(seed, len));
                let ok = matches!(&res, Ok(resp) if resp.status == 201);
                if ok {
                    own.push((target.clone(), seed, len));
                }
                (res.map(|resp| (ok, resp)), format!("PUT {target} ({len} bytes)"))
            }
            Kind::OwnDownload => {
                let (target, seed, len) = own[rng.usize(..own.len())].clone();
                let res = conn.request("GET", &target, None, &[]);
                (
                    res.map(|resp| (resp.status == 200 && resp.body == content(seed, len), resp)),
                    format!("GET {target}"),
                )
            }
            Kind::Delete => {
                // The oldest when full, else any.
                let i = if own.len() >= OWN_FILES { 0 } else { rng.usize(..own.len()) };
                let (target, _, _) = own.remove(i);
                let res = conn.request("DELETE", &target, Some(token), &[]);
                let ok = matches!(&res, Ok(resp) if resp.status == 204);
                if gone.len() >= OWN_FILES {
                    gone.remove(0);
                }
                gone.push(target.clone());
                (res.map(|resp| (ok, resp)), format!("DELETE {target}"))
            }
            Kind::Gone => {
                let target = gone[rng.usize(..gone.len())].clone();
                let res = conn.request("GET", &target, None, &[]);
                (res.map(|resp| (resp.status == 404, resp)), format!("GET deleted {target}"))
            }
        };
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        plan.requests.fetch_add(1, Ordering::Relaxed);
        lat.entry(measured).or_default().push(micros);
        match outcome {
            Ok((true, _)) => {}
            Ok((false, resp)) => {
                let body = String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).into_owned();
                plan.error(format!("{what}: unexpected answer {} {body:?}", resp.status));
            }
            Err(e) => plan.error(format!("{what}: {e}")),
        }
    }
    lat
}

/// `pid`'s VmRSS in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn latency_line(label: &str, lat: &mut [u32]) -> String {
    lat.sort_unstable();
    format!(
        "{label:<20} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2}",
        lat.len(),
        percentile(lat, 50.0),
        percentile(lat, 90.0),
        percentile(lat, 99.0),
        percentile(lat, 99.9),
        lat.last().map_or(0.0, |&m| f64::from(m) / 1000.0)
    )
}

fn env_u64(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v.trim().parse().map_err(|_| format!("{name}={v:?} is not a number")),
    }
}

/// A module zip of `MODULE` at `version` (go.mod plus one Go file), as the go command lays it out.
fn module_zip(version: &str) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let files = [
        ("go.mod", format!("module {MODULE}\n\ngo 1.21\n")),
        ("soak.go", format!("package soak\n\nconst Version = \"{version}\"\n")),
    ];
    for (name, data) in files {
        w.start_file(format!("{MODULE}@{version}/{name}"), SimpleFileOptions::default()).expect("zip entry");
        w.write_all(data.as_bytes()).expect("zip data");
    }
    w.finish().expect("zip").into_inner()
}

/// Uploads the stable files and Go versions (409 is fine: an earlier run made them).
fn setup(
    addr: SocketAddr,
    host: &str,
    owner: &str,
    token: &str,
) -> Result<(Vec<Stable>, Vec<String>), String> {
    let mut conn = Conn::new(addr, host.to_owned());
    let mut stable = Vec::new();
    for copy in 0..STABLE_COPIES {
        for (i, &len) in STABLE_SIZES.iter().enumerate() {
            let target = format!("/api/packages/{owner}/generic/soak-stable/{copy}.0/s{i}.bin");
            let data = Arc::new(content((copy * 100 + i) as u64, len));
            let resp =
                conn.request("PUT", &target, Some(token), &data).map_err(|e| format!("PUT {target}: {e}"))?;
            if resp.status != 201 && resp.status != 409 {
                return Err(format!("PUT {target}: status {}", resp.status));
            }
            stable.push((target, data));
        }
    }
    let mut versions = Vec::new();
    for n in 0..GO_VERSIONS {
        let version = format!("v1.{n}.0");
        let resp = conn
            .request("PUT", &format!("/api/packages/{owner}/go/upload"), Some(token), &module_zip(&version))
            .map_err(|e| format!("Go upload: {e}"))?;
        if resp.status != 201 && resp.status != 409 {
            return Err(format!("Go upload of {version}: status {}", resp.status));
        }
        versions.push(version);
    }
    Ok((stable, versions))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 || args.len() > 4 {
        eprintln!("usage: soak URL OWNER TOKEN [SERVER_PID]   (env: DURATION, CONNS, SAMPLE_SECS, SEED)");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<bool, String> {
    let url = args[0].trim_end_matches('/');
    let host = url.strip_prefix("http://").ok_or("URL must start with http://")?.to_owned();
    let addr = host.to_socket_addrs().map_err(|e| format!("{host}: {e}"))?.next().ok_or("no address")?;
    let owner = args[1].clone();
    let token = args[2].clone();
    let pid: Option<u32> = match args.get(3) {
        Some(p) => Some(p.parse().map_err(|_| format!("SERVER_PID {p:?} is not a number"))?),
        None => None,
    };
    let duration = Duration::from_secs(env_u64("DURATION", 300)?);
    let conns = env_u64("CONNS", 200)? as usize;
    let sample = Duration::from_secs(env_u64("SAMPLE_SECS", 5)?.max(1));
    let clock = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let seed = env_u64("SEED", clock)?;
    println!(
        "# soak: {url} owner {owner}, {conns} connections, {} s, memory sample every {} s, SEED={seed}",
        duration.as_secs(),
        sample.as_secs()
    );

    let (stable, go_versions) = setup(addr, &host, &owner, &token)?;
    let go_list: String = go_versions.iter().map(|v| format!("{v}\n")).collect();
    let plan = Arc::new(Plan {
        owner,
        token,
        stable,
        go_versions,
        go_list,
        stop: AtomicBool::new(false),
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        samples: Mutex::new(Vec::new()),
        seed,
    });
    let start = Arc::new(Barrier::new(conns + 1));
    let workers: Vec<_> = (0..conns)
        .map(|id| {
            let (plan, start, host) = (Arc::clone(&plan), Arc::clone(&start), host.clone());
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || worker(id, addr, host, plan, start))
                .map_err(|e| format!("cannot start worker {id}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    start.wait();
    let began = Instant::now();
    eprintln!("soak: load started");

    // Memory samples (seconds since start, KiB) and progress, until the duration is over.
    let mut rss: Vec<(f64, u64)> = Vec::new();
    let mut last_requests = 0;
    let mut last_at = began;
    loop {
        let elapsed = began.elapsed();
        if let Some(kib) = pid.and_then(rss_kib) {
            rss.push((elapsed.as_secs_f64(), kib));
        }
        if elapsed >= duration {
            break;
        }
        thread::sleep(sample.min(duration - elapsed));
        let now = Instant::now();
        let requests = plan.requests.load(Ordering::Relaxed);
        let rate = (requests - last_requests) as f64 / now.duration_since(last_at).as_secs_f64();
        (last_requests, last_at) = (requests, now);
        eprintln!(
            "soak: {:>5.0} s  {requests:>9} requests  {rate:>7.0} req/s  {} errors  rss {}",
            began.elapsed().as_secs_f64(),
            plan.errors.load(Ordering::Relaxed),
            pid.and_then(rss_kib).map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
        );
    }
    plan.stop.store(true, Ordering::Relaxed);
    let mut all: Latencies = BTreeMap::new();
    for w in workers {
        for (kind, mut v) in w.join().map_err(|_| "a worker panicked")? {
            all.entry(kind).or_default().append(&mut v);
        }
    }
    let wall = began.elapsed().as_secs_f64();

    let total: usize = all.values().map(Vec::len).sum();
    let errors = plan.errors.load(Ordering::Relaxed);
    println!("requests             {total}");
    println!("errors               {errors}");
    for s in plan.samples.lock().unwrap().iter() {
        println!("  error sample: {s}");
    }
    println!("duration             {wall:.1} s");
    println!("rate                 {:.0} req/s", total as f64 / wall);
    println!(
        "latency, ms          {:>9} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "count", "p50", "p90", "p99", "p99.9", "max"
    );
    let mut overall: Vec<u32> = all.values().flatten().copied().collect();
    println!("{}", latency_line("all", &mut overall));
    for kind in Kind::ALL {
        if let Some(v) = all.get_mut(&kind) {
            println!("{}", latency_line(kind.name(), v));
        }
    }

    let mut flat = true;
    if rss.is_empty() {
        println!("memory               not sampled (no SERVER_PID)");
    } else {
        let series: Vec<String> =
            rss.iter().map(|(t, k)| format!("{t:.0}s={:.1}", *k as f64 / 1024.0)).collect();
        println!("memory series, MiB   {}", series.join(" "));
        let mib = |k: u64| k as f64 / 1024.0;
        let max = rss.iter().map(|(_, k)| *k).max().unwrap_or(0);
        println!(
            "memory, MiB          first {:.1}  last {:.1}  max {:.1}",
            mib(rss[0].1),
            mib(rss[rss.len() - 1].1),
            mib(max)
        );
        let quarter = |q: usize| -> Option<f64> {
            let n = rss.len();
            let part: Vec<u64> = rss[n * q / 4..n * (q + 1) / 4].iter().map(|(_, k)| *k).collect();
            (!part.is_empty()).then(|| mib(part.iter().sum::<u64>()) / part.len() as f64)
        };
        match (quarter(1), quarter(3)) {
            (Some(second), Some(last)) => {
                let allowed = (second * 0.10).max(8.0);
                flat = (last - second).abs() <= allowed;
                println!(
                    "memory verdict       {}: last-quarter mean {last:.1} MiB vs second-quarter mean {second:.1} MiB (allowed ±{allowed:.1})",
                    if flat { "flat" } else { "NOT FLAT" }
                );
            }
            _ => println!("memory verdict       too few samples for a verdict"),
        }
    }
    Ok(errors == 0 && flat)
}
