//! Measures how long `depot compact` on a running server makes clients wait.
//!
//! Usage (`benches/compact_stall.sh` does all of it on a fresh database and a release build):
//!
//! ```text
//! compact_stall URL OWNER TOKEN DEPOT_BIN DB
//!     URL        e.g. http://127.0.0.1:8080 (plain HTTP)
//!     OWNER      a user the token may write for
//!     TOKEN      a write token of OWNER
//!     DEPOT_BIN  the depot binary, run as `DEPOT_BIN --db DB compact …` while the probe runs
//!     DB         the server's database file
//! environment:
//!     N=300000          small files uploaded first (packages cs-0, cs-1, … of 1000 files each)
//!     FILE_BYTES=1024   size of each (distinct content: no two share a blob)
//!     DELETE_PCT=50     percentage of them deleted again (spread over every package)
//!     CONNS=16          connections used to upload and delete
//!     PROBE_SECS=2      probing before and after each compaction
//!     RUNS="compact;compact --allow-pause"   the compact commands to run, one after the other
//! ```
//!
//! While each command runs, two probe connections send requests one at a time: GETs of
//! random files that still exist (4,096 files fit the server's small-file cache, and every
//! probe PUT clears it, so nearly all are read from the database) and PUTs of new files.
//! Each request is timed from the first byte written to the last byte read; the longest of
//! each kind is the longest stall a client saw. Baseline: the longest in the PROBE_SECS
//! before the command started. A request that fails (status, wrong length, I/O) is counted
//! as an error and printed.
//!
//! Results go to stdout, progress to stderr. Exit status 0 unless a probe or setup request
//! failed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(600);
const FILES_PER_PACKAGE: u64 = 1000;

#[path = "shared/content.rs"]
mod shared_content;
use shared_content::content;

/// One keep-alive HTTP/1.1 connection; returns (status, body).
struct Conn {
    addr: SocketAddr,
    stream: Option<(TcpStream, BufReader<TcpStream>)>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn { addr, stream: None }
    }

    fn request(
        &mut self,
        method: &str,
        target: &str,
        token: &str,
        body: &[u8],
    ) -> io::Result<(u16, Vec<u8>)> {
        let result = self.exchange(method, target, token, body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        target: &str,
        token: &str,
        body: &[u8],
    ) -> io::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            self.stream = Some((s.try_clone()?, BufReader::new(s)));
        }
        let (stream, reader) = self.stream.as_mut().expect("just opened");
        let mut req =
            format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: token {token}\r\n", self.addr);
        if method == "PUT" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut all = req.into_bytes();
        all.extend_from_slice(body);
        stream.write_all(&all)?;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response"));
        }
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut len = 0usize;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the head"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                } else if n.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                } else if n.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(io::Error::other("chunked responses are not expected here"));
                }
            }
        }
        let mut body = vec![0; if method == "HEAD" || status == 204 { 0 } else { len }];
        reader.read_exact(&mut body)?;
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }
}

fn file_target(owner: &str, i: u64) -> String {
    format!("/api/packages/{owner}/generic/cs-{}/1/f{i}.bin", i / FILES_PER_PACKAGE)
}

fn deleted(i: u64, pct: u64) -> bool {
    // Spread over every package, so freed pages are all over the file.
    (i.wrapping_mul(37) % 100) < pct
}

fn env_u64(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// Runs `op(i)` for every `i` in `0..n` over `conns` connections, printing progress.
fn parallel(
    label: &str,
    n: u64,
    conns: u64,
    addr: SocketAddr,
    op: impl Fn(&mut Conn, u64) -> Result<(), String> + Sync,
) -> Result<(), String> {
    let next = AtomicU64::new(0);
    let failed: Mutex<Option<String>> = Mutex::new(None);
    let began = Instant::now();
    thread::scope(|s| {
        for _ in 0..conns {
            s.spawn(|| {
                let mut conn = Conn::new(addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || failed.lock().unwrap().is_some() {
                        break;
                    }
                    if let Err(e) = op(&mut conn, i) {
                        *failed.lock().unwrap() = Some(e);
                        break;
                    }
                    if (i + 1).is_multiple_of(20_000) {
                        eprintln!(
                            "compact_stall: {label} {} of {n} ({:.0} s)",
                            i + 1,
                            began.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap() {
        Some(e) => Err(e),
        None => {
            eprintln!("compact_stall: {label} {n} done in {:.1} s", began.elapsed().as_secs_f64());
            Ok(())
        }
    }
}

/// Longest request per kind, in a window.
#[derive(Default)]
struct Probe {
    /// (started, latency, is_put, ok)
    samples: Vec<(Instant, Duration, bool, bool)>,
    errors: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn probe_thread(
    addr: SocketAddr,
    owner: &str,
    token: &str,
    n: u64,
    pct: u64,
    size: usize,
    put: bool,
    run: usize,
    stop: &AtomicBool,
    out: &Mutex<Probe>,
) {
    let mut conn = Conn::new(addr);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ (run as u64) << 1 ^ u64::from(put);
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (method, target, body) = if put {
            k += 1;
            let t = format!("/api/packages/{owner}/generic/cs-probe/{run}/p{k}.bin");
            ("PUT", t, content(u64::MAX - k - ((run as u64) << 32), size))
        } else {
            let i = loop {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let i = rng % n;
                if !deleted(i, pct) {
                    break i;
                }
            };
            ("GET", file_target(owner, i), Vec::new())
        };
        let started = Instant::now();
        let result = conn.request(method, &target, token, &body);
        let took = started.elapsed();
        let ok = match &result {
            Ok((s, _)) if put => *s == 201,
            Ok((s, b)) => *s == 200 && b.len() == size,
            Err(_) => false,
        };
        let mut p = out.lock().unwrap();
        p.samples.push((started, took, put, ok));
        if !ok {
            let what = match result {
                Ok((s, b)) => format!("status {s}: {}", String::from_utf8_lossy(&b[..b.len().min(200)])),
                Err(e) => e.to_string(),
            };
            p.errors.push(format!("{method} {target}: {what}"));
        }
    }
}

fn blocks_used(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.blocks() * 512).unwrap_or(0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: compact_stall URL OWNER TOKEN DEPOT_BIN DB   (env: N, FILE_BYTES, DELETE_PCT, CONNS, PROBE_SECS, RUNS)");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("compact_stall: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<bool, String> {
    let host = args[0].trim_end_matches('/').strip_prefix("http://").ok_or("URL must start with http://")?;
    let addr = host.to_socket_addrs().map_err(|e| format!("{host}: {e}"))?.next().ok_or("no address")?;
    let (owner, token, depot, db) = (&args[1], &args[2], &args[3], &args[4]);
    let n = env_u64("N", 300_000)?;
    let size = env_u64("FILE_BYTES", 1024)? as usize;
    let pct = env_u64("DELETE_PCT", 50)?.min(99);
    let conns = env_u64("CONNS", 16)?.max(1);
    let probe = Duration::from_secs(env_u64("PROBE_SECS", 2)?);
    let runs = std::env::var("RUNS").unwrap_or_else(|_| "compact;compact --allow-pause".into());
    println!("# compact_stall: N={n} FILE_BYTES={size} DELETE_PCT={pct} CONNS={conns}");

    parallel("uploaded", n, conns, addr, |c, i| {
        match c.request("PUT", &file_target(owner, i), token, &content(i, size)) {
            Ok((201, _)) => Ok(()),
            Ok((s, b)) => Err(format!("PUT {i}: status {s}: {}", String::from_utf8_lossy(&b))),
            Err(e) => Err(format!("PUT {i}: {e}")),
        }
    })?;
    println!("database after upload         {:>12} bytes used", blocks_used(db));
    let gone: Vec<u64> = (0..n).filter(|&i| deleted(i, pct)).collect();
    parallel("deleted", gone.len() as u64, conns, addr, |c, j| {
        let i = gone[j as usize];
        match c.request("DELETE", &file_target(owner, i), token, &[]) {
            Ok((204, _)) => Ok(()),
            Ok((s, b)) => Err(format!("DELETE {i}: status {s}: {}", String::from_utf8_lossy(&b))),
            Err(e) => Err(format!("DELETE {i}: {e}")),
        }
    })?;
    println!("database after deleting {pct}%   {:>12} bytes used", blocks_used(db));

    let mut clean = true;
    for (run, cmd) in runs.split(';').map(str::trim).filter(|c| !c.is_empty()).enumerate() {
        let stop = AtomicBool::new(false);
        let out = Mutex::new(Probe::default());
        let (mut began, mut ended) = (Instant::now(), Instant::now());
        let mut report = String::new();
        thread::scope(|s| {
            for put in [false, true] {
                let (stop, out) = (&stop, &out);
                s.spawn(move || probe_thread(addr, owner, token, n, pct, size, put, run, stop, out));
            }
            thread::sleep(probe);
            began = Instant::now();
            let result = Command::new(depot).arg("--db").arg(db).args(cmd.split_whitespace()).output();
            ended = Instant::now();
            report = match result {
                Ok(o) => format!(
                    "exit {}; stdout {:?}; stderr {:?}",
                    o.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&o.stdout).trim(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                Err(e) => format!("could not run {depot}: {e}"),
            };
            thread::sleep(probe);
            stop.store(true, Ordering::Relaxed);
        });
        let p = out.into_inner().unwrap();
        let max = |put: bool, window: &dyn Fn(Instant, Duration) -> bool| {
            p.samples.iter().filter(|s| s.2 == put && window(s.0, s.1)).map(|s| s.1).max().unwrap_or_default()
        };
        // A request overlaps the command when it ended after the start and began before the end.
        let during = |at: Instant, took: Duration| at + took >= began && at <= ended;
        let before = |at: Instant, took: Duration| at + took < began;
        let count = p.samples.iter().filter(|s| during(s.0, s.1)).count();
        println!("run {}: depot --db DB {cmd}", run + 1);
        println!("  {report}");
        println!("  command time                {:>10.3} s", (ended - began).as_secs_f64());
        println!("  longest GET during it       {:>10.3} s", max(false, &during).as_secs_f64());
        println!("  longest PUT during it       {:>10.3} s", max(true, &during).as_secs_f64());
        println!(
            "  baseline (before): GET {:.3} s, PUT {:.3} s; {count} probe requests overlapped the command",
            max(false, &before).as_secs_f64(),
            max(true, &before).as_secs_f64()
        );
        println!("  database now                {:>12} bytes used", blocks_used(db));
        if !p.errors.is_empty() {
            clean = false;
            println!("  {} probe errors, first: {}", p.errors.len(), p.errors[0]);
        }
    }
    Ok(clean)
}
