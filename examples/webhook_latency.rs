//! Measures webhook delivery latency: from a publish's commit (its 201) to the receiver
//! having the event, under a burst of publishes, with and without a receiver outage.
//!
//! Usage (`benches/webhook_latency.sh` does all of it on a fresh database and a release build):
//!
//! ```text
//! webhook_latency URL OWNER TOKEN
//!     URL        e.g. http://127.0.0.1:8080 (plain HTTP), a server started with
//!                --webhook-allow-private (the receiver is on loopback)
//!     OWNER      a user the token may write for
//!     TOKEN      a write token of OWNER
//! environment:
//!     N=1000            publishes per run (one new version each, one small file)
//!     CONNS=16          connections publishing at once
//!     OUTAGE_SECS=30    receiver outage of the second run (0: that run is skipped)
//! ```
//!
//! A receiver (hyper, on loopback) is registered as OWNER's hook. Run 1 publishes N versions
//! as fast as CONNS connections can; run 2 does the same, but the receiver answers 503 to
//! everything for OUTAGE_SECS from the moment half of the publishes were acknowledged. For
//! each event the latency is the receiver's first successful receipt minus the time the
//! publishing client had its 201 (the commit is durable before the 201, so this slightly
//! understates commit-to-receipt). Printed per run: publish time, latency percentiles, the time
//! from the first 201 until the receiver had every event, and duplicate receipts.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Seen {
    /// "package/version" → first successful receipt.
    first: HashMap<String, Instant>,
    dups: usize,
}

struct Receiver {
    url: String,
    seen: Arc<Mutex<Seen>>,
    down: Arc<AtomicBool>,
}

fn receiver() -> Receiver {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let down = Arc::new(AtomicBool::new(false));
    let (s2, d2) = (seen.clone(), down.clone());
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (seen, down) = (s2.clone(), d2.clone());
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let (seen, down) = (seen.clone(), down.clone());
                            async move {
                                use http_body_util::BodyExt;
                                let body =
                                    req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                                let status = if down.load(Ordering::SeqCst) {
                                    503
                                } else {
                                    let at = Instant::now();
                                    let v: serde_json::Value =
                                        serde_json::from_slice(&body).unwrap_or_default();
                                    let version = format!(
                                        "{}/{}",
                                        v["package"]["name"].as_str().unwrap_or(""),
                                        v["package"]["version"].as_str().unwrap_or("")
                                    );
                                    let mut seen = seen.lock().unwrap();
                                    match seen.first.entry(version) {
                                        std::collections::hash_map::Entry::Occupied(_) => seen.dups += 1,
                                        std::collections::hash_map::Entry::Vacant(v) => {
                                            v.insert(at);
                                        }
                                    }
                                    200
                                };
                                let mut res =
                                    hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
                                *res.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(res)
                            }
                        });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
    });
    Receiver { url, seen, down }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One run: publishes `n` versions of package `pkg`; with `outage`, the receiver is down
/// for that long from the moment half of them were acknowledged.
/// The server and the account publishing.
struct Publisher {
    base: String,
    owner: String,
    token: String,
}

fn run(p: &Publisher, rx: &Receiver, pkg: &str, n: usize, conns: usize, outage: Option<Duration>) -> bool {
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let outage_started: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut threads = Vec::new();
    for _ in 0..conns {
        let (acked, next, failed) = (acked.clone(), next.clone(), failed.clone());
        let (base, owner, token, pkg) = (p.base.clone(), p.owner.clone(), p.token.clone(), pkg.to_string());
        let (down, outage_started) = (rx.down.clone(), outage_started.clone());
        threads.push(thread::spawn(move || {
            let client = reqwest::blocking::Client::builder().no_proxy().build().expect("client");
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let url = format!("{base}/api/packages/{owner}/generic/{pkg}/{i}/f.bin");
                let ok = client
                    .put(&url)
                    .header("Authorization", format!("token {token}"))
                    .body(format!("content {pkg} {i}"))
                    .send()
                    .is_ok_and(|r| r.status().as_u16() == 201);
                let now = Instant::now();
                if !ok {
                    failed.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let mut acked = acked.lock().unwrap();
                acked.insert(format!("{pkg}/{i}"), now);
                if outage.is_some() && acked.len() == n / 2 {
                    down.store(true, Ordering::SeqCst);
                    *outage_started.lock().unwrap() = Some(now);
                }
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    let published = started.elapsed();
    if let Some(d) = outage {
        let from = outage_started.lock().unwrap().unwrap_or_else(Instant::now);
        thread::sleep(d.saturating_sub(from.elapsed()));
        rx.down.store(false, Ordering::SeqCst);
        eprintln!("webhook_latency: {pkg}: receiver back after {:.1} s down", from.elapsed().as_secs_f64());
    }
    let acked = acked.lock().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = rx.seen.lock().unwrap().first.keys().filter(|k| acked.contains_key(*k)).count();
        if got >= acked.len() || Instant::now() > deadline {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let seen = rx.seen.lock().unwrap();
    let mut lat: Vec<Duration> = acked
        .iter()
        .filter_map(|(v, t)| seen.first.get(v).map(|r| r.saturating_duration_since(*t)))
        .collect();
    lat.sort();
    let first_ack = acked.values().min().copied().unwrap_or(started);
    let all_in = acked.keys().filter_map(|k| seen.first.get(k)).max().copied().unwrap_or(first_ack);
    let missing = acked.len() - lat.len();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{pkg}: {} publishes ({} failed) in {:.2} s ({:.0}/s){}",
        acked.len(),
        failed.load(Ordering::SeqCst),
        published.as_secs_f64(),
        acked.len() as f64 / published.as_secs_f64(),
        outage.map_or(String::new(), |d| format!(
            ", receiver down {} s from the {}th 201",
            d.as_secs(),
            n / 2
        ))
    );
    println!(
        "  latency 201 -> receiver: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all {} received {:.2} s after the first 201; {} duplicate receipts; {} never received",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.9)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0)),
        lat.len(),
        all_in.saturating_duration_since(first_ack).as_secs_f64(),
        seen.dups,
        missing
    );
    missing == 0 && failed.load(Ordering::SeqCst) == 0
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, owner, token] = args.as_slice() else {
        eprintln!("usage: webhook_latency URL OWNER TOKEN (see the source's header)");
        return ExitCode::from(2);
    };
    let n = env("N", 1000) as usize;
    let conns = env("CONNS", 16) as usize;
    let outage = env("OUTAGE_SECS", 30);
    let rx = receiver();
    let client = reqwest::blocking::Client::builder().no_proxy().build().expect("client");
    let hook = client
        .post(format!("{base}/api/v1/packages/{owner}/-/hooks"))
        .header("Authorization", format!("token {token}"))
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"url": "{}", "secret": "bench", "events": ["created"]}}"#, rx.url))
        .send();
    match hook {
        Ok(r) if r.status().as_u16() == 201 => {}
        Ok(r) => {
            eprintln!("webhook_latency: creating the hook: {} {}", r.status(), r.text().unwrap_or_default());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("webhook_latency: creating the hook: {e}");
            return ExitCode::FAILURE;
        }
    }
    let p = Publisher { base: base.clone(), owner: owner.clone(), token: token.clone() };
    let mut ok = run(&p, &rx, "burst", n, conns, None);
    if outage > 0 {
        ok &= run(&p, &rx, "outage", n, conns, Some(Duration::from_secs(outage)));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
