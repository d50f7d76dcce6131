//! Abusive clients (issue 5): oversized and overlong request heads, silent and stalled
//! clients, the connection cap and slowloris, bodies that disagree with their framing, bytes
//! that have no business in a path, and password guessing.
//!
//! Every refusal is checked for its status and, where depot (not hyper) writes the answer, its
//! one-line reason; every refused upload is checked to have left nothing behind, and the
//! server is checked to go on serving a normal client afterwards. Waits are hang guards or
//! "nothing happened yet" checks that slowness can only make pass, never timing assertions.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::util::*;

fn setup(extra: &[&str]) -> (TestServer, Cred) {
    let srv = TestServer::start_with(extra);
    let alice = srv.add_user("alice", "alice-password", false);
    (srv, alice)
}

fn head_of(status: u16, r: &Response) {
    eqnice!(status, r.status, &r);
}

/// The server still answers a normal request.
fn still_serving(srv: &TestServer) {
    srv.send(Request::get("/healthz")).expect(200);
}

/// Reads from `stream` until EOF or error; true when the server closed the connection.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// The upload request head for `file` of alice's package `p` 1.0, without the body.
fn put_head(cred: &Cred, file: &str, framing: &str) -> String {
    format!(
        "PUT /api/packages/alice/generic/p/1.0/{file} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n{framing}\r\n",
        cred.header().unwrap()
    )
}

fn absent(srv: &TestServer, cred: &Cred, file: &str) {
    srv.download(cred, "alice", "p", "1.0", file).expect(404);
}

fn verify_clean(srv: &TestServer) {
    srv.cli(&["verify"], None).expect_ok();
}

#[test]
fn heads_over_the_header_count_or_size_limits_get_431() {
    let (srv, _) = setup(&["--max-header-bytes", "4096"]);
    let many: String = (0..101).map(|i| format!("X-Filler-{i}: a\r\n")).collect();
    let r = srv.raw(format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes());
    head_of(431, &r);
    let big = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(5000));
    head_of(431, &srv.raw(big.as_bytes()));
    // Just under both limits is fine.
    let few: String = (0..90).map(|i| format!("X-F{i}: a\r\n")).collect();
    head_of(
        200,
        &srv.raw(format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{few}Connection: close\r\n\r\n").as_bytes()),
    );
    still_serving(&srv);
}

#[test]
fn a_uri_over_8_kib_gets_414_and_one_over_the_head_limit_431() {
    let (srv, _) = setup(&[]);
    let long = format!("/api/packages/alice/generic/p/1.0/{}", "a".repeat(9000));
    let r = srv.send(Request::get(&long));
    head_of(414, &r);
    assert!(r.text().contains("longer than 8192 bytes"), "{}", &r);
    let huge = format!("/{}", "a".repeat(100_000));
    head_of(431, &srv.send(Request::get(&huge)));
    still_serving(&srv);
}

#[test]
fn a_client_silent_during_its_request_head_is_disconnected() {
    let (srv, _) = setup(&["--header-timeout-secs", "1"]);
    for partial in ["", "GET /healthz HTTP/1.1\r\nHost"] {
        let mut s = connect(srv.addr()).unwrap();
        s.write_all(partial.as_bytes()).unwrap();
        assert!(closed_by_server(&mut s), "a silent client after {partial:?} was never disconnected");
    }
    still_serving(&srv);
}

#[test]
fn a_stalled_body_gets_408_and_stores_nothing() {
    let (srv, alice) = setup(&["--body-idle-timeout-secs", "1"]);
    let mut s = connect(srv.addr()).unwrap();
    s.write_all(put_head(&alice, "stalled.bin", "Content-Length: 30\r\n").as_bytes()).unwrap();
    s.write_all(b"abc").unwrap();
    let r = read_response(&mut s, false, "PUT with 3 of 30 bytes, then silence".into()).unwrap();
    head_of(408, &r);
    eqnice!("request body stalled\n", r.text(), &r);
    absent(&srv, &alice, "stalled.bin");
    verify_clean(&srv);
}

#[test]
fn a_chunked_body_without_its_end_gets_408_and_stores_nothing() {
    let (srv, alice) = setup(&["--body-idle-timeout-secs", "1"]);
    let mut s = connect(srv.addr()).unwrap();
    s.write_all(put_head(&alice, "endless.bin", "Transfer-Encoding: chunked\r\n").as_bytes()).unwrap();
    s.write_all(b"3\r\nabc\r\n5\r\nde").unwrap();
    let r = read_response(&mut s, false, "chunked PUT never terminated".into()).unwrap();
    head_of(408, &r);
    absent(&srv, &alice, "endless.bin");
    verify_clean(&srv);
}

#[test]
fn a_body_shorter_than_declared_or_badly_chunked_is_400_and_stores_nothing() {
    let (srv, alice) = setup(&[]);
    // Shorter than its Content-Length, then the client stops sending.
    let mut s = connect(srv.addr()).unwrap();
    s.write_all(put_head(&alice, "short.bin", "Content-Length: 30\r\n").as_bytes()).unwrap();
    s.write_all(b"abc").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let r = read_response(&mut s, false, "PUT with 3 of 30 bytes, then EOF".into()).unwrap();
    head_of(400, &r);
    assert!(r.text().starts_with("request body incomplete"), "{}", &r);
    // A chunk size that is not hexadecimal.
    let bad = format!(
        "{}zz\r\nabc\r\n0\r\n\r\n",
        put_head(&alice, "badchunk.bin", "Transfer-Encoding: chunked\r\n")
    );
    let r = srv.raw(bad.as_bytes());
    head_of(400, &r);
    for f in ["short.bin", "badchunk.bin"] {
        absent(&srv, &alice, f);
    }
    verify_clean(&srv);
}

#[test]
fn a_body_longer_than_declared_stores_the_declared_bytes_and_the_rest_is_not_a_request() {
    let (srv, alice) = setup(&[]);
    let mut s = connect(srv.addr()).unwrap();
    // "defgh..." is not the start of a valid request: it must not be taken as one.
    let raw = format!("{}abcdefgh\r\n\r\n", put_head(&alice, "long.bin", "Content-Length: 3\r\n"));
    s.write_all(raw.as_bytes()).unwrap();
    let first = read_response(&mut s, false, "PUT declaring 3 bytes, sending 8".into()).unwrap();
    head_of(201, &first);
    // The leftover is answered as a malformed request, or the connection is closed.
    if let Ok(r) = read_response(&mut s, false, "the leftover bytes".into()) {
        head_of(400, &r);
    }
    let r = srv.download(&alice, "alice", "p", "1.0", "long.bin");
    r.expect(200);
    eqnice!(b"abc".to_vec(), r.body, &r);
    verify_clean(&srv);
}

#[test]
fn invalid_utf8_and_control_characters_in_paths_are_refused_and_store_nothing() {
    let (srv, alice) = setup(&[]);
    let auth = alice.header().unwrap();
    // Raw bytes that HTTP does not allow in a request target: hyper refuses the request line.
    for raw in [&b"p\xff"[..], b"p\x01", b"p\x7f"] {
        let mut req = b"PUT /api/packages/alice/generic/".to_vec();
        req.extend_from_slice(raw);
        req.extend_from_slice(
            format!("/1.0/f HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 1\r\n\r\nx")
                .as_bytes(),
        );
        let r = srv.raw(&req);
        head_of(400, &r);
    }
    // Percent-encoded: not UTF-8 is 400 on upload and 404 on lookup; control characters are
    // 400 naming the character.
    let r = srv.send(Request::put("/api/packages/alice/generic/p%FF/1.0/f", b"x").auth(&alice));
    head_of(400, &r);
    eqnice!("path is not valid percent-encoded UTF-8\n", r.text(), &r);
    head_of(404, &srv.send(Request::get("/api/packages/alice/generic/p%FF/1.0/f").auth(&alice)));
    for (enc, shown) in [("%00", "\\0"), ("%0A", "\\n"), ("%1B", "\\u{1b}"), ("%7F", "\\u{7f}")] {
        let r =
            srv.send(Request::put(&format!("/api/packages/alice/generic/p/1.0/f{enc}"), b"x").auth(&alice));
        head_of(400, &r);
        let text = r.text();
        assert!(text.contains("file name") && text.contains(shown), "reason for {enc}: {}", &r);
        assert_eq!(text.lines().count(), 1, "{}", &r);
    }
    let listed = srv.send(Request::get("/api/v1/packages/alice").auth(&alice));
    listed.expect(200);
    eqnice!(Some(0), listed.json().as_array().map(Vec::len), &listed);
    verify_clean(&srv);
}

#[test]
fn the_connection_cap_holds_while_every_connection_is_inside_a_request() {
    let (srv, alice) = setup(&["--max-connections", "3", "--body-idle-timeout-secs", "600"]);
    // Three connections inside a request (uploads waiting for their bodies) fill every slot.
    // "100 Continue" tells that the handler has the request and is reading its body.
    let mut busy: Vec<TcpStream> = (0..3)
        .map(|i| {
            let mut s = connect(srv.addr()).unwrap();
            let framing = "Content-Length: 2\r\nExpect: 100-continue\r\n";
            s.write_all(put_head(&alice, &format!("busy{i}.bin"), framing).as_bytes()).unwrap();
            let mut cont = [0u8; 25];
            s.read_exact(&mut cont).unwrap();
            assert!(cont.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"), "{}", String::from_utf8_lossy(&cont));
            s.write_all(b"a").unwrap();
            s
        })
        .collect();
    // A fourth client is not served while every connection is inside a request...
    let mut waiting = connect(srv.addr()).unwrap();
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    waiting.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut byte = [0u8; 1];
    match waiting.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a fourth connection was served past a cap of 3: {other:?}"),
    }
    // ...and is once one of them is done.
    busy[0].write_all(b"b").unwrap();
    head_of(201, &read_response(&mut busy[0], false, "busy0 finished".into()).unwrap());
    drop(busy.remove(0));
    waiting.set_read_timeout(Some(WATCHDOG)).unwrap();
    head_of(200, &read_response(&mut waiting, false, "the fourth client".into()).unwrap());
    for (i, s) in busy.iter_mut().enumerate() {
        s.write_all(b"b").unwrap();
        head_of(201, &read_response(s, false, format!("busy{} finished", i + 1)).unwrap());
    }
}

#[test]
fn a_newcomer_takes_the_slot_of_the_connection_idle_longest() {
    // Keep-alive connections would otherwise keep their slots for the whole header timeout.
    let (srv, _) = setup(&["--max-connections", "3", "--header-timeout-secs", "600"]);
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|i| {
            let mut s = connect(srv.addr()).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            head_of(200, &read_response(&mut s, false, format!("keep-alive request {i}")).unwrap());
            thread::sleep(Duration::from_millis(20)); // distinct idle-since times
            s
        })
        .collect();
    // Served at once, though all three slots are taken...
    still_serving(&srv);
    // ...in the slot of the connection idle longest, which is closed; the others still work.
    assert!(closed_by_server(&mut idle[0]), "the longest-idle connection kept its slot");
    for (i, s) in idle.iter_mut().enumerate().skip(1) {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        head_of(200, &read_response(s, false, format!("keep-alive request {i} again")).unwrap());
    }
}

#[test]
fn slowloris_clients_do_not_keep_a_normal_client_out() {
    // A long header timeout, so only making room (not the timeout) can let the client in.
    let (srv, alice) = setup(&["--max-connections", "20", "--header-timeout-secs", "600"]);
    let stop = Arc::new(AtomicBool::new(false));
    // 60 connections, three times the cap, each dribbling a header byte at a time and
    // reconnecting whenever the server closes it.
    let attackers: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop) = (srv.addr(), stop.clone());
            thread::spawn(move || slowloris(addr, 15, &stop))
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    // Each request may wait for a slow head's grace to run out, so a few are enough.
    for i in 0..4 {
        srv.upload(&alice, "alice", "p", "1.0", &format!("f{i}"), b"payload").expect(201);
        srv.download(&alice, "alice", "p", "1.0", &format!("f{i}")).expect(200);
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
}

/// Keeps `n` connections open, sending one byte of a never-ending header on each in turn.
fn slowloris(addr: SocketAddr, n: usize, stop: &AtomicBool) {
    let opening = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut conns: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    while !stop.load(Ordering::Relaxed) {
        for c in conns.iter_mut() {
            let alive = match c {
                Some(s) => s.write_all(b"a").is_ok(),
                None => false,
            };
            if !alive {
                *c = TcpStream::connect(addr).ok().and_then(|mut s| s.write_all(opening).ok().map(|()| s));
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `req` from the loopback address `from` (127.0.0.0/8 all reaches the server).
fn send_from(from: [u8; 4], addr: SocketAddr, req: &Request) -> Response {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(IpAddr::from(from), 0).into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(WATCHDOG)).unwrap();
    stream.write_all(&req.encode(&addr.to_string())).unwrap();
    read_response(&mut stream, false, format!("{} from {from:?}", req.describe())).unwrap()
}

fn whoami(cred: &Cred) -> Request {
    Request::get("/api/v1/packages/alice").auth(cred)
}

#[test]
fn failed_sign_ins_are_throttled_per_address_and_the_user_gets_in_after_retry_after() {
    let (srv, alice) = setup(&["--login-burst", "3", "--login-refill-secs", "1"]);
    let wrong = Cred::basic("alice", "guess");
    let attacker = [127, 0, 0, 2];
    for _ in 0..3 {
        send_from(attacker, srv.addr(), &whoami(&wrong)).expect(401);
    }
    let r = send_from(attacker, srv.addr(), &whoami(&wrong));
    head_of(429, &r);
    let retry: u64 = r.header("Retry-After").expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry), "{}", &r);
    assert!(r.text().starts_with("too many failed sign-ins"), "{}", &r);
    // Throttled means not even checked: the right password from that address waits too.
    head_of(429, &send_from(attacker, srv.addr(), &whoami(&alice)));
    // Another address is not affected, and neither is the user from it.
    send_from([127, 0, 0, 3], srv.addr(), &whoami(&alice)).expect(200);
    // After Retry-After, the right password works from the throttled address.
    thread::sleep(Duration::from_secs(retry));
    send_from(attacker, srv.addr(), &whoami(&alice)).expect(200);
    // Wrong tokens count as failures too.
    let bad_token = Cred::token("depot_0000000000000000000000000000000000000000000");
    let codes: Vec<u16> =
        (0..5).map(|_| send_from([127, 0, 0, 4], srv.addr(), &whoami(&bad_token)).status).collect();
    eqnice!(vec![401, 401, 401, 429, 429], codes, "five wrong tokens from one address");
}

#[test]
fn guesses_sent_in_parallel_are_counted_before_they_are_checked() {
    let (srv, _) = setup(&["--login-burst", "3", "--login-refill-secs", "600"]);
    let addr = srv.addr();
    let codes: Vec<u16> = (0..20)
        .map(|i| {
            thread::spawn(move || {
                send_from([127, 0, 0, 2], addr, &whoami(&Cred::basic("alice", &format!("g{i}")))).status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    eqnice!(3, codes.iter().filter(|&&c| c == 401).count(), format!("{codes:?}"));
    eqnice!(17, codes.iter().filter(|&&c| c == 429).count(), format!("{codes:?}"));
}

#[test]
fn many_parallel_requests_with_the_right_password_are_never_throttled() {
    // As after a restart: nothing remembered, a CI fan-out or `go mod download` arrives at
    // once with one password. They share one check instead of each spending the budget.
    let (srv, alice) = setup(&["--login-burst", "3", "--login-refill-secs", "600"]);
    let addr = srv.addr();
    let codes: Vec<u16> = (0..24)
        .map(|_| {
            let alice = alice.clone();
            thread::spawn(move || send_from([127, 0, 0, 2], addr, &whoami(&alice)).status)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    eqnice!(vec![200; 24], codes, "24 parallel requests with the right password");
}

#[test]
fn a_token_sent_under_a_users_name_does_not_exempt_its_address_from_that_users_limit() {
    let (srv, alice) = setup(&["--login-burst", "3", "--login-refill-secs", "600"]);
    srv.add_user("mallory", "mallory-password", false);
    let token = srv.token("mallory", "read");
    // mallory signs in "as alice" with her own token: it works, as mallory.
    let sneaky = [127, 0, 3, 1];
    send_from(sneaky, srv.addr(), &whoami(&Cred::basic("alice", &token))).expect(200);
    // alice's budget is spent by guesses from six other addresses.
    for n in 10..16 {
        send_from([127, 0, 3, n], srv.addr(), &whoami(&Cred::basic("alice", "guess"))).expect(401);
    }
    // The token did not make mallory's address one alice signed in from.
    head_of(429, &send_from(sneaky, srv.addr(), &whoami(&Cred::basic("alice", "guess"))));
    // A good token still works from anywhere, throttled or not.
    send_from([127, 0, 3, 10], srv.addr(), &whoami(&Cred::token(&token))).expect(200);
    let _ = alice;
}

#[test]
fn a_user_guessed_from_many_addresses_is_throttled_except_from_addresses_it_signed_in_from() {
    let (srv, alice) = setup(&["--login-burst", "3", "--login-refill-secs", "600"]);
    let bob = srv.add_user("bob", "bob-password", false);
    // alice signs in from her machine.
    let home = [127, 0, 0, 2];
    send_from(home, srv.addr(), &whoami(&alice)).expect(200);
    // A botnet: one wrong guess from each of ten addresses. A user name's burst is twice an
    // address's.
    let codes: Vec<u16> = (10..20)
        .map(|n| send_from([127, 0, 1, n], srv.addr(), &whoami(&Cred::basic("alice", "guess"))).status)
        .collect();
    eqnice!(vec![401; 6], codes[..6].to_vec(), format!("{codes:?}"));
    assert!(codes[6..].iter().all(|&c| c == 429), "{codes:?}");
    // A new address is throttled for alice, even with the right password...
    head_of(429, &send_from([127, 0, 2, 1], srv.addr(), &whoami(&alice)));
    // ...but not for bob, and alice's own machine still gets in.
    send_from([127, 0, 2, 1], srv.addr(), &Request::get("/api/v1/packages/bob").auth(&bob)).expect(200);
    send_from(home, srv.addr(), &whoami(&alice)).expect(200);
}

#[test]
fn throttled_attempts_are_logged_without_their_passwords() {
    let (srv, alice) = setup(&["--login-burst", "2", "--login-refill-secs", "600"]);
    for i in 0..4 {
        let _ = send_from(
            [127, 0, 0, 2],
            srv.addr(),
            &whoami(&Cred::basic("alice", &format!("secret-guess-{i}"))),
        );
    }
    assert!(srv.wait_for_log("status=429"), "the request log shows no 429:\n{}", srv.log());
    let log = srv.log();
    for secret in ["secret-guess", "alice-password"] {
        assert!(!log.contains(secret), "{secret} appears in the log:\n{log}");
    }
    let _ = alice;
}

/// Issue 11: a connection counted as idle until hyper had parsed its whole request head, so
/// the one whose head was still arriving (accepted earliest) was closed to make room for a
/// newcomer, cutting a request its client had begun, while a connection that was really idle
/// kept its slot.
#[test]
fn a_newcomer_does_not_cut_a_request_whose_head_is_arriving() {
    let (srv, _) = setup(&["--max-connections", "2", "--header-timeout-secs", "600"]);
    // A client has sent half of its request head...
    let mut begun = connect(srv.addr()).unwrap();
    begun.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    // ...and another has had its answer and stays connected, idle.
    let mut idle = connect(srv.addr()).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    head_of(200, &read_response(&mut idle, false, "the keep-alive request".into()).unwrap());
    // Every slot is taken; a newcomer is served at once...
    still_serving(&srv);
    // ...and the begun request is not cut: its client finishes it and gets its answer...
    begun.write_all(b"st: x\r\n\r\n").unwrap();
    head_of(200, &read_response(&mut begun, false, "the request whose head was arriving".into()).unwrap());
    // ...because the newcomer took the idle connection's slot.
    idle.set_read_timeout(Some(WATCHDOG)).unwrap();
    assert!(closed_by_server(&mut idle), "the idle connection kept its slot");
}
