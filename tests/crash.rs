//! Crashes and shutdowns during uploads (docs/api.md upload rules, docs/cli.md SIGTERM): `kill -9` while
//! several clients upload, and SIGTERM during a slow upload, each followed by a restart on the
//! same database file.
//!
//! The invariant checked after every restart: each file that got a 201 downloads byte-exact;
//! each that did not is either absent or complete and byte-exact (its commit may have landed
//! just before the kill, without the 201 reaching the client); nothing is ever partial, and
//! `depot verify` finds the database consistent.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpStream;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use crate::util::*;

/// File sizes the uploaders cycle through: 1 byte to 3 MiB.
const SIZES: [usize; 8] = [1, 3 * MIB, 17, 64 * KIB + 1, MIB, 300_001, 4096, 2 * MIB + 5];
const UPLOADERS: usize = 8;

#[derive(Clone, Debug)]
struct Attempt {
    version: String,
    name: String,
    size: usize,
    acknowledged: bool,
}

/// Runs `UPLOADERS` threads, each uploading distinct files one after another, until `acks`
/// uploads got their 201; then SIGKILLs the server while the others are in flight. Returns every
/// attempt with whether it was acknowledged.
fn upload_until_killed(srv: &mut TestServer, cred: &Cred, round: &str, acks: usize) -> Vec<Attempt> {
    let addr = srv.addr();
    let attempts = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let handles: Vec<_> = (0..UPLOADERS)
        .map(|t| {
            let attempts = Arc::clone(&attempts);
            let ack_tx = ack_tx.clone();
            let cred = cred.clone();
            let round = round.to_owned();
            thread::spawn(move || -> Result<(), Response> {
                // Bounded only to be finite: the kill ends every uploader long before.
                for i in 0..100_000 {
                    let name = format!("{round}-t{t}-{i}.bin");
                    let version = format!("{round}-v{}", i % 3);
                    let size = SIZES[(t + i) % SIZES.len()];
                    let body = content_for(&name, size);
                    let req = Request::put(&file_path("alice", "crash", &version, &name), &body).auth(&cred);
                    let outcome = send_to(addr, &req);
                    let acknowledged = matches!(&outcome, Ok(resp) if resp.status == 201);
                    attempts.lock().unwrap().push(Attempt { version, name, size, acknowledged });
                    match outcome {
                        Ok(resp) if resp.status == 201 => {
                            let _ = ack_tx.send(());
                        }
                        // Any answer but 201 before the kill is a failure in its own right.
                        Ok(resp) => return Err(resp),
                        // The server is gone: this attempt was in flight (or never connected).
                        Err(_) => return Ok(()),
                    }
                }
                Ok(())
            })
        })
        .collect();
    drop(ack_tx);

    let mut acked = 0;
    while acked < acks {
        if ack_rx.recv_timeout(WATCHDOG).is_err() {
            break;
        }
        acked += 1;
    }
    srv.kill9();
    let mut failures = Vec::new();
    for handle in handles {
        if let Err(resp) = handle.join().expect("uploader thread panicked") {
            failures.push(resp);
        }
    }
    if let Some(resp) = failures.first() {
        panic!("an upload before the kill was not answered 201\n{resp}");
    }
    assert!(acked >= acks, "only {acked} of {acks} uploads were acknowledged before the watchdog");
    let attempts = attempts.lock().unwrap().clone();
    assert!(attempts.iter().any(|a| !a.acknowledged), "no upload was in flight when the server was killed");
    attempts
}

/// Checks the invariant for every attempt, and that the management API lists exactly the
/// files that are downloadable, version by version.
fn check_after_restart(srv: &TestServer, cred: &Cred, attempts: &[Attempt]) {
    let mut present: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in attempts {
        let resp = srv.download(cred, "alice", "crash", &a.version, &a.name);
        let body = content_for(&a.name, a.size);
        if a.acknowledged {
            if resp.status != 200 {
                panic!("\nacknowledged upload {}/{} ({} bytes) was lost\n{resp}", a.version, a.name, a.size);
            }
            resp.expect_body(&body);
        } else {
            match resp.status {
                404 => continue,
                200 => {
                    resp.expect_body(&body);
                }
                _ => panic!(
                    "\nunacknowledged upload {}/{} is neither absent nor complete\n{resp}",
                    a.version, a.name
                ),
            }
        }
        present.entry(a.version.clone()).or_default().insert(a.name.clone());
    }
    let versions: BTreeSet<String> = attempts.iter().map(|a| a.version.clone()).collect();
    for version in versions {
        let resp = srv.send(Request::get(&api_files_path("alice", "generic", "crash", &version)).auth(cred));
        let listed: Option<BTreeSet<String>> =
            listed_files(&resp).unwrap_or_else(|e| panic!("{e}")).map(|files| files.into_keys().collect());
        eqnice!(
            present.get(&version),
            listed.as_ref(),
            format!("files listed for version {version}\n{resp}")
        );
    }
}

#[test]
fn kill_9_during_uploads_loses_nothing_acknowledged_and_leaves_nothing_partial() {
    let mut srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));

    let mut attempts = upload_until_killed(&mut srv, &alice, "r1", 12);
    // The administration commands work on the crashed file (a stale socket is left behind).
    srv.cli(&["verify"], None).expect_ok();
    srv.restart();
    check_after_restart(&srv, &alice, &attempts);

    // A second crash on the recovered database.
    attempts.extend(upload_until_killed(&mut srv, &alice, "r2", 12));
    srv.restart();
    check_after_restart(&srv, &alice, &attempts);
    srv.cli(&["verify"], None).expect_ok();

    // The server is fully usable afterwards, including names whose upload was cut off.
    for a in attempts.iter().filter(|a| !a.acknowledged) {
        let resp = srv.download(&alice, "alice", "crash", &a.version, &a.name);
        if resp.status == 404 {
            srv.upload(&alice, "alice", "crash", &a.version, &a.name, &content_for(&a.name, a.size))
                .expect(201);
        }
    }
}

/// Bytes the kernel may hold for one loopback connection without the server reading them:
/// the largest send buffer plus the largest auto-tuned receive buffer.
fn kernel_buffering() -> usize {
    let max_of = |path: &str| -> Option<usize> {
        fs::read_to_string(path).ok()?.split_whitespace().last()?.parse().ok()
    };
    let rmem = max_of("/proc/sys/net/ipv4/tcp_rmem").unwrap_or(64 * MIB);
    let wmem = max_of("/proc/sys/net/ipv4/tcp_wmem").unwrap_or(64 * MIB);
    rmem + wmem
}

/// Opens an upload of `total` bytes to `target` and sends the first `sent`. When this returns,
/// the server has read more than `sent - kernel_buffering()` bytes of the body, so the request
/// is provably inside its handler (no sleep needed to know it).
fn start_slow_upload(
    srv: &TestServer,
    cred: &Cred,
    target: &str,
    seed: u64,
    total: usize,
    sent: usize,
) -> (TcpStream, Pattern) {
    let mut stream = begin_put(srv.addr(), target, cred, total, &[]).expect("send the request head");
    let mut pattern = Pattern::new(seed);
    send_pattern(&mut stream, &mut pattern, sent);
    (stream, pattern)
}

#[track_caller]
fn send_pattern(stream: &mut TcpStream, pattern: &mut Pattern, len: usize) {
    write_pattern(stream, pattern, len)
        .unwrap_or_else(|e| panic!("sending {len} bytes of the body failed: {e}"));
}

/// Sizes for a slow upload: enough sent that the server must have read part of it.
fn slow_upload_sizes() -> (usize, usize) {
    let sent = kernel_buffering() + 8 * MIB;
    (sent + 8 * MIB, sent)
}

#[test]
fn sigterm_during_a_stalled_upload_exits_0_and_leaves_nothing_partial() {
    // A short grace period and a long idle timeout: the grace period is what ends the stall.
    let mut srv = TestServer::start_with(&["--grace-secs", "1", "--body-idle-timeout-secs", "600"]);
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    let target = file_path("alice", "slow", "1.0", "stalled.bin");
    let (total, sent) = slow_upload_sizes();
    let (mut stream, _) = start_slow_upload(&srv, &alice, &target, seed_of("stalled.bin"), total, sent);

    let status = srv.terminate();
    assert!(status.success(), "SIGTERM must end with exit 0, got {status}\n{}", srv.log());
    // Whatever reached the client, it is not a 201.
    if let Ok(resp) =
        read_response(&mut stream, false, format!("PUT {target} (stalled after {sent} of {total} bytes)"))
    {
        assert_ne!(resp.status, 201, "a partial upload was acknowledged\n{resp}");
    }
    drop(stream);

    srv.restart();
    srv.send(Request::get(&target).auth(&alice)).expect(404);
    srv.send(Request::get(&api_version_path("alice", "slow", Some("1.0"))).auth(&alice)).expect(404);
    srv.send(Request::get(&api_version_path("alice", "slow", None)).auth(&alice)).expect(404);
    srv.cli(&["verify"], None).expect_ok();
    srv.send(Request::put(&target, b"complete").auth(&alice)).expect(201);
    srv.send(Request::get(&target)).expect(200).expect_body(b"complete");
}

#[test]
fn sigterm_lets_an_in_flight_upload_finish_and_keeps_it() {
    let mut srv = TestServer::start_with(&["--grace-secs", "120"]);
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    let target = file_path("alice", "slow", "2.0", "finished.bin");
    let seed = seed_of("finished.bin");
    let (total, sent) = slow_upload_sizes();
    let (mut stream, mut pattern) = start_slow_upload(&srv, &alice, &target, seed, total, sent);

    srv.signal_term();
    send_pattern(&mut stream, &mut pattern, total - sent);
    let resp =
        read_response(&mut stream, false, format!("PUT {target} ({total} bytes, SIGTERM after {sent})"))
            .unwrap_or_else(|e| {
                panic!("no answer to the in-flight upload after SIGTERM: {e}\n{}", srv.log())
            });
    resp.expect(201);
    drop(stream);
    let status = srv.wait_exit();
    assert!(status.success(), "SIGTERM must end with exit 0, got {status}\n{}", srv.log());

    srv.restart();
    let url = srv.url(&target);
    let get = srv.reqwest().get(&url).send().expect("download after restart");
    eqnice!(200, get.status().as_u16(), format!("GET {url}"));
    assert_stream_matches(get, seed, total as u64, &format!("GET {url} after a SIGTERM restart"));
    srv.cli(&["verify"], None).expect_ok();
}
