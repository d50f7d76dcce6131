//! Publish events (docs/api.md, Webhooks): a real HTTP receiver on loopback (a small hyper
//! server in this process) gets Gitea's package events from the real binary, started with
//! `--webhook-allow-private` (loopback is refused otherwise, which is tested too).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::util::*;

/// What the receiver answers.
#[derive(Clone, Debug)]
enum Mode {
    Status(u16),
    /// 302 to this path of the receiver.
    Redirect(String),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// The status it was answered with.
    answered: u16,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("payload is not JSON: {e}: {self:?}"))
    }

    /// (action, package name, version) of the event.
    fn what(&self) -> (String, String, String) {
        let v = self.json();
        let s = |x: &Value| x.as_str().unwrap_or("").to_string();
        (s(&v["action"]), s(&v["package"]["name"]), s(&v["package"]["version"]))
    }
}

#[derive(Default)]
struct Log {
    got: Mutex<Vec<Got>>,
    changed: Condvar,
}

/// An HTTP receiver on 127.0.0.1 (hyper, on a runtime of its own).
struct Receiver {
    addr: SocketAddr,
    log: Arc<Log>,
    mode: Arc<Mutex<Mode>>,
}

impl Receiver {
    fn start() -> Receiver {
        Receiver::serving(None)
    }

    /// A receiver speaking HTTPS with `tls`.
    fn start_tls(tls: rustls::ServerConfig) -> Receiver {
        Receiver::serving(Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls))))
    }

    fn serving(tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let log = Arc::new(Log::default());
        let mode = Arc::new(Mutex::new(Mode::Status(200)));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (l2, m2) = (log.clone(), mode.clone());
        thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let (log, mode, tls) = (l2.clone(), m2.clone(), tls.clone());
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                let (log, mode) = (log.clone(), mode.clone());
                                async move {
                                    use http_body_util::BodyExt;
                                    let path = req.uri().path().to_string();
                                    let headers = req
                                        .headers()
                                        .iter()
                                        .map(|(k, v)| {
                                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                                        })
                                        .collect();
                                    let body = req.into_body().collect().await.map(|b| b.to_bytes().to_vec());
                                    let body = body.unwrap_or_default();
                                    let mode = mode.lock().unwrap().clone();
                                    let mut res = hyper::Response::new(http_body_util::Full::new(
                                        bytes::Bytes::from("ok"),
                                    ));
                                    let answered = match mode {
                                        Mode::Status(s) => s,
                                        Mode::Redirect(to) => {
                                            res.headers_mut().insert("location", to.parse().unwrap());
                                            302
                                        }
                                    };
                                    *res.status_mut() = hyper::StatusCode::from_u16(answered).unwrap();
                                    log.got.lock().unwrap().push(Got { path, headers, body, answered });
                                    log.changed.notify_all();
                                    Ok::<_, std::convert::Infallible>(res)
                                }
                            });
                        let http = hyper::server::conn::http1::Builder::new();
                        match tls {
                            None => {
                                let _ = http
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await;
                            }
                            Some(tls) => {
                                if let Ok(stream) = tls.accept(stream).await {
                                    let io = hyper_util::rt::TokioIo::new(stream);
                                    let _ = http.serve_connection(io, service).await;
                                }
                            }
                        }
                    });
                }
            });
        });
        Receiver { addr, log, mode }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn all(&self) -> Vec<Got> {
        self.log.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds of everything received; panics after `within`.
    #[track_caller]
    fn wait_until(&self, within: Duration, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + within;
        let mut got = self.log.got.lock().unwrap();
        loop {
            if done(&got) {
                return got.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!("receiver: {what} did not happen within {within:?}; got {:#?}", *got);
            }
            got = self.log.changed.wait_timeout(got, deadline - now).unwrap().0;
        }
    }

    /// Waits for `n` successful (2xx) events.
    #[track_caller]
    fn wait_delivered(&self, n: usize) -> Vec<Got> {
        let got = self.wait_until(Duration::from_secs(30), &format!("{n} delivered events"), |g| {
            g.iter().filter(|r| r.answered < 300).count() >= n
        });
        got.into_iter().filter(|r| r.answered < 300).collect()
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn json_of(resp: &Response) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("not JSON: {e}\n{resp}"))
}

const HOOKS: &str = "/api/v1/packages/alice/-/hooks";

/// Creates a hook of alice's to `url`; returns its id.
#[track_caller]
fn add_hook(srv: &TestServer, cred: &Cred, url: &str, extra: &str) -> u64 {
    let body = format!(r#"{{"url": "{url}", "secret": "s3cret"{extra}}}"#);
    let resp = srv.send(Request::json("POST", HOOKS, &body).auth(cred));
    resp.expect(201);
    json_of(&resp)["id"].as_u64().unwrap()
}

fn deliveries(srv: &TestServer, cred: &Cred, hook: u64) -> Vec<Value> {
    let resp = srv.send(Request::get(&format!("{HOOKS}/{hook}/deliveries")).auth(cred));
    resp.expect(200);
    json_of(&resp).as_array().unwrap().clone()
}

/// The delivery log once `done` holds of it (the receiver has a request a moment before
/// depot has logged its answer).
#[track_caller]
fn log_when(srv: &TestServer, cred: &Cred, hook: u64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = deliveries(srv, cred, hook);
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "the delivery log never got there: {log:#?}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn allowed() -> TestServer {
    TestServer::start_with(&["--webhook-allow-private"])
}

/// Payload and headers as Gitea sends them, signed; "created" on a version's first file only,
/// "deleted" with a version's last file or the whole version, described as it was.
#[test]
fn events_are_gitea_package_payloads_signed_with_the_secret() {
    let rx = Receiver::start();
    let srv = allowed();
    let alice = Cred::token(&srv.token_after_user("alice"));
    // No hook yet: a publish queues nothing.
    srv.upload(&alice, "alice", "early", "1", "a.bin", b"x").expect(201);
    assert_eq!(srv.metric("depot_webhook_outbox"), 0);

    let hook = add_hook(&srv, &alice, &rx.url("/hook"), "");
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", b"first").expect(201);
    let got = rx.wait_delivered(1);
    let ev = &got[0];
    assert_eq!(ev.path, "/hook");
    assert_eq!(ev.header("content-type"), "application/json");
    assert_eq!(ev.header("x-gitea-event"), "package");
    assert_eq!(ev.header("x-gitea-event-type"), "package");
    let id = ev.header("x-gitea-delivery");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(ev.header("x-depot-delivery"), id);
    // Signature checked the way a receiver does: HMAC-SHA256 over the raw body.
    let sig = hmac_hex("s3cret", &ev.body);
    assert_eq!(ev.header("x-gitea-signature"), sig);
    assert_eq!(ev.header("x-hub-signature-256"), format!("sha256={sig}"));
    assert_ne!(hmac_hex("wrong", &ev.body), sig);
    let payload = ev.json();
    assert_eq!(payload["action"], "created");
    assert_eq!(payload["sender"]["login"], "alice");
    // The Package is the API's own shape and values for that version.
    let api =
        json_of(srv.send(Request::get("/api/v1/packages/alice/generic/app/1.0").auth(&alice)).expect(200));
    assert_eq!(payload["package"], api);
    assert_eq!(payload["package"]["creator"]["login"], "alice");
    assert_eq!(payload["package"]["type"], "generic");
    let keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["action", "package", "sender"]);

    // A second file of the same version is no event; deleting the version is, with the
    // version as it was (two files).
    srv.upload(&alice, "alice", "app", "1.0", "b.bin", b"second").expect(201);
    srv.send(Request::delete("/api/v1/packages/alice/generic/app/1.0").auth(&alice)).expect(204);
    let got = rx.wait_delivered(2);
    let deleted = got[1].json();
    assert_eq!(deleted["action"], "deleted");
    assert_eq!(
        (deleted["package"]["name"].as_str(), deleted["package"]["version"].as_str()),
        (Some("app"), Some("1.0"))
    );
    assert_eq!(deleted["package"]["file_count"], 2);
    assert_eq!(deleted["package"]["id"], api["id"]);
    srv.send(Request::get("/api/v1/packages/alice/generic/app/1.0").auth(&alice)).expect(404);

    // Deleting files: only the one that takes the version's last file is an event.
    srv.upload(&alice, "alice", "app", "2.0", "a", b"a").expect(201);
    srv.upload(&alice, "alice", "app", "2.0", "b", b"b").expect(201);
    srv.send(Request::delete(&file_path("alice", "app", "2.0", "a")).auth(&alice)).expect(204);
    srv.send(Request::delete(&file_path("alice", "app", "2.0", "b")).auth(&alice)).expect(204);
    let got = rx.wait_delivered(4);
    let mut whats: Vec<_> = got.iter().map(Got::what).collect();
    whats.sort();
    let w = |a: &str, v: &str| (a.to_string(), "app".to_string(), v.to_string());
    assert_eq!(whats, [w("created", "1.0"), w("created", "2.0"), w("deleted", "1.0"), w("deleted", "2.0")]);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.all().len(), 4, "no other event: {:#?}", rx.all());

    // A hook subscribed to "deleted" only hears of deletions.
    rx.log.got.lock().unwrap().clear();
    srv.send(Request::delete(&format!("{HOOKS}/{hook}")).auth(&alice)).expect(204);
    add_hook(&srv, &alice, &rx.url("/only-deleted"), r#", "events": ["deleted"]"#);
    srv.upload(&alice, "alice", "app", "3.0", "a", b"a").expect(201);
    srv.send(Request::delete("/api/v1/packages/alice/generic/app/3.0").auth(&alice)).expect(204);
    let got = rx.wait_delivered(1);
    assert_eq!(got[0].what(), w("deleted", "3.0"));
    assert_eq!(got[0].path, "/only-deleted");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.all().len(), 1, "{:#?}", rx.all());
    assert_eq!(srv.metric("depot_webhook_outbox"), 0);
}

/// A receiver that fails gets the event again (backoff from 1 s) and, once it recovers, has
/// it; the log shows every attempt; a redelivery sends the event once more as a new delivery.
#[test]
fn a_failing_receiver_gets_the_event_once_it_recovers_and_the_log_shows_it() {
    let rx = Receiver::start();
    rx.set(Mode::Status(500));
    let srv = allowed();
    let alice = Cred::token(&srv.token_after_user("alice"));
    let hook = add_hook(&srv, &alice, &rx.url("/hook"), "");
    let started = Instant::now();
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", b"x").expect(201);
    assert!(started.elapsed() < Duration::from_secs(5), "the upload does not wait for the receiver");
    rx.wait_until(Duration::from_secs(20), "two failed attempts", |g| g.len() >= 2);
    rx.set(Mode::Status(204));
    let got = rx.wait_delivered(1);
    let all = rx.all();
    let id = got[0].header("x-gitea-delivery").to_string();
    assert!(
        all.iter().all(|g| g.header("x-gitea-delivery") == id && g.body == got[0].body),
        "retries are the same delivery"
    );

    let log = log_when(&srv, &alice, hook, |l| l.first().is_some_and(|d| d["ok"] == true));
    assert!(log.len() >= 3, "{log:#?}");
    assert_eq!(log[0]["status"], 204);
    assert_eq!(log[0]["ok"], true);
    assert_eq!(log[0]["last"], true);
    assert_eq!(log[0]["event"], "created");
    assert_eq!(log[0]["package"], "app");
    assert_eq!(log[0]["version"], "1.0");
    assert_eq!(log[1]["status"], 500);
    assert_eq!(log[1]["ok"], false);
    assert_eq!(log[1]["error"], "HTTP 500");
    assert!(log.iter().all(|d| d["id"] == id.as_str()));
    let attempts: Vec<u64> = log.iter().map(|d| d["attempt"].as_u64().unwrap()).collect();
    let mut sorted = attempts.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(attempts, sorted, "newest first");
    assert_eq!(srv.metric("depot_webhook_deliveries_total{outcome=\"ok\"}"), 1);
    assert!(srv.metric("depot_webhook_deliveries_total{outcome=\"failed\"}") >= 2);

    // Redelivery: the same payload, a new delivery id.
    let before = rx.all().len();
    let resp =
        srv.send(Request::new("POST", &format!("{HOOKS}/{hook}/deliveries/{id}/redeliver")).auth(&alice));
    resp.expect(202);
    let new = json_of(&resp)["delivery"].as_str().unwrap().to_string();
    assert_ne!(new, id);
    let got = rx.wait_until(Duration::from_secs(10), "the redelivery", |g| g.len() > before);
    let again = got.last().unwrap();
    assert_eq!(again.header("x-gitea-delivery"), new);
    assert_eq!(again.body, got[0].body);
    srv.send(Request::new("POST", &format!("{HOOKS}/{hook}/deliveries/nope/redeliver")).auth(&alice))
        .expect(404);
    srv.send(Request::new("POST", &format!("{HOOKS}/999999/deliveries/{id}/redeliver")).auth(&alice))
        .expect(404);
}

/// A redirect is a failed attempt: its target is never called.
#[test]
fn redirects_are_not_followed() {
    let rx = Receiver::start();
    rx.set(Mode::Redirect("/elsewhere".into()));
    let srv = allowed();
    let alice = Cred::token(&srv.token_after_user("alice"));
    let hook = add_hook(&srv, &alice, &rx.url("/hook"), "");
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", b"x").expect(201);
    rx.wait_until(Duration::from_secs(20), "two attempts", |g| g.len() >= 2);
    assert!(rx.all().iter().all(|g| g.path == "/hook"), "{:#?}", rx.all());
    let log = deliveries(&srv, &alice, hook);
    assert_eq!(log[0]["status"], 302);
    assert_eq!(log[0]["ok"], false);
    assert!(log[0]["error"].as_str().unwrap().contains("redirects are not followed"), "{log:#?}");
    // Deleting the hook drops what it had waiting.
    srv.send(Request::delete(&format!("{HOOKS}/{hook}")).auth(&alice)).expect(204);
    assert_eq!(srv.metric("depot_webhook_outbox"), 0);
    srv.send(Request::get(&format!("{HOOKS}/{hook}/deliveries")).auth(&alice)).expect(404);
}

/// Loopback, private and link-local targets are refused at creation, and, for a hook made
/// while they were allowed, at delivery.
#[test]
fn private_targets_are_refused_unless_the_operator_allows_them() {
    let rx = Receiver::start();
    let mut srv = TestServer::start();
    let alice = Cred::token(&srv.token_after_user("alice"));
    for (url, why) in [
        ("http://127.0.0.1:9/h", "loopback"),
        ("http://localhost:9/h", "loopback"),
        ("http://[::1]:9/h", "loopback"),
        ("http://10.1.2.3/h", "private"),
        ("http://192.168.0.10/h", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/h", "link-local"),
        ("http://[fd00::1]/h", "private"),
        ("http://100.64.1.1/h", "carrier-grade NAT"),
        ("http://[::ffff:127.0.0.1]/h", "loopback"),
        ("http://0.0.0.0/h", "unspecified"),
    ] {
        let resp = srv.send(Request::json("POST", HOOKS, &format!(r#"{{"url": "{url}"}}"#)).auth(&alice));
        resp.expect(400);
        assert!(
            resp.text().contains(why) && resp.text().contains("--webhook-allow-private"),
            "{url}: {}",
            resp.text()
        );
        assert_eq!(resp.text().lines().count(), 1);
    }
    for (body, why) in [
        (r#"{"url": "ftp://example.com/"}"#, "scheme"),
        (r#"{"url": "http://u:p@example.com/"}"#, "user name"),
        (r#"{"url": "http://x.invalid/", "events": ["pushed"]}"#, "unknown event"),
        (r#"{"url": "http://x.invalid/", "events": []}"#, "events is empty"),
        (r#"{"nope": 1}"#, "url is required"),
        (r#"{"url": 7}"#, "invalid JSON body"),
    ] {
        let resp = srv.send(Request::json("POST", HOOKS, body).auth(&alice));
        resp.expect(400);
        assert!(resp.text().contains(why), "{body}: {}", resp.text());
    }
    assert_eq!(json_of(&srv.send(Request::get(HOOKS).auth(&alice))), serde_json::json!([]));

    // Made while allowed, delivered after the operator took the permission back: refused.
    srv.terminate();
    let db = srv.db_path();
    let mut allowed_srv = TestServer::start_on(TestDb::copy_of(&db), &["--webhook-allow-private"]);
    let hook = add_hook(&allowed_srv, &alice, &rx.url("/hook"), "");
    allowed_srv.terminate();
    let srv = TestServer::start_on(TestDb::copy_of(&allowed_srv.db_path()), &[]);
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", b"x").expect(201);
    let log = log_when(&srv, &alice, hook, |l| !l.is_empty());
    assert_eq!(log[0]["status"], Value::Null, "{log:#?}");
    assert!(log[0]["error"].as_str().unwrap().contains("loopback"), "{log:#?}");
    assert!(rx.all().is_empty(), "{:#?}", rx.all());
}

/// Hooks are the owner's configuration: a member who may only read neither lists them nor
/// sees their log; the secret is never answered (a chosen one only at creation).
#[test]
fn only_writers_see_hooks_and_secrets_are_never_answered() {
    let rx = Receiver::start();
    let srv = allowed();
    let admin = Cred::basic("root", "root-password");
    srv.add_user("root", "root-password", true);
    srv.add_user("reader", "reader-password", false);
    srv.add_user("writer", "writer-password", false);
    srv.add_user("stranger", "stranger-password", false);
    srv.add_org("acme", true);
    srv.add_member("acme", "reader", "read");
    srv.add_member("acme", "writer", "write");
    let reader = Cred::basic("reader", "reader-password");
    let writer = Cred::basic("writer", "writer-password");
    let stranger = Cred::basic("stranger", "stranger-password");
    let hooks = "/api/v1/packages/acme/-/hooks";
    let resp = srv.send(
        Request::json("POST", hooks, &format!(r#"{{"url": "{}", "secret": "mine"}}"#, rx.url("/a")))
            .auth(&writer),
    );
    resp.expect(201);
    let made = json_of(&resp);
    assert!(made.get("secret").is_none(), "a given secret is not echoed: {made}");
    assert_eq!(made["events"], serde_json::json!(["created", "deleted"]));
    assert_eq!(made["active"], true);
    let id = made["id"].as_u64().unwrap();
    let resp =
        srv.send(Request::json("POST", hooks, &format!(r#"{{"url": "{}"}}"#, rx.url("/b"))).auth(&admin));
    resp.expect(201);
    let chosen = json_of(&resp)["secret"].as_str().unwrap().to_string();
    assert_eq!(chosen.len(), 64, "a chosen secret is shown once");
    let list = srv.send(Request::get(hooks).auth(&writer));
    list.expect(200);
    assert!(
        !list.text().contains("secret") && !list.text().contains(&chosen) && !list.text().contains("mine"),
        "{list}"
    );
    srv.send(Request::get(&format!("{hooks}/{id}")).auth(&writer)).expect(200);

    for path in [hooks.to_string(), format!("{hooks}/{id}"), format!("{hooks}/{id}/deliveries")] {
        srv.send(Request::get(&path).auth(&reader)).expect(403);
        srv.send(Request::get(&path)).expect(401);
        srv.send(Request::get(&path).auth(&stranger)).expect(404);
    }
    srv.send(Request::json("POST", hooks, r#"{"url": "http://127.0.0.1:1/"}"#).auth(&reader)).expect(403);
    srv.send(Request::delete(&format!("{hooks}/{id}")).auth(&reader)).expect(403);
    srv.send(Request::new("POST", &format!("{hooks}/{id}/deliveries/x/redeliver")).auth(&reader)).expect(403);
    // A read-only token of a writer cannot either.
    let ro = Cred::token(&srv.token("writer", "read"));
    srv.send(Request::get(hooks).auth(&ro)).expect(403);
    srv.send(Request::delete(&format!("{hooks}/{id}")).auth(&writer)).expect(204);
    srv.send(Request::delete(&format!("{hooks}/{id}")).auth(&writer)).expect(404);
}

/// `kill -9` after the change and before its delivery: the restarted server delivers it. An
/// upload cut off mid-body, then the kill, is no change and gets no event.
#[test]
fn an_event_survives_kill_9_and_an_upload_that_never_finished_has_none() {
    let rx = Receiver::start();
    rx.set(Mode::Status(503));
    let mut srv = allowed();
    let alice = Cred::token(&srv.token_after_user("alice"));
    add_hook(&srv, &alice, &rx.url("/hook"), "");
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", b"committed").expect(201);
    rx.wait_until(Duration::from_secs(20), "a failed attempt", |g| !g.is_empty());
    // An upload of 2.0 that sends half its body, then the kill while it is in flight.
    let mut half = std::net::TcpStream::connect(srv.addr()).unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 1000\r\n\r\n",
        file_path("alice", "app", "2.0", "b.bin"),
        alice.header().unwrap()
    );
    std::io::Write::write_all(&mut half, head.as_bytes()).unwrap();
    std::io::Write::write_all(&mut half, &[7u8; 500]).unwrap();
    thread::sleep(Duration::from_millis(300));
    srv.kill9();
    drop(half);
    let failed_before = rx.all().len();
    rx.set(Mode::Status(200));
    srv.restart();
    let got = rx.wait_delivered(1);
    assert_eq!(got[0].what(), ("created".to_string(), "app".to_string(), "1.0".to_string()));
    // The change is visible when its event arrives.
    srv.send(Request::get("/api/v1/packages/alice/generic/app/1.0").auth(&alice)).expect(200);
    // A later publish is delivered; the cut-off one never is.
    srv.upload(&alice, "alice", "app", "3.0", "c.bin", b"later").expect(201);
    rx.wait_until(Duration::from_secs(20), "the 3.0 event", |g| g.iter().any(|r| r.what().2 == "3.0"));
    thread::sleep(Duration::from_millis(500));
    let mut ok: Vec<_> = rx.all().iter().filter(|g| g.answered == 200).map(|g| g.what().2).collect();
    ok.sort();
    assert_eq!(ok, ["1.0", "3.0"], "{:#?}", rx.all());
    assert!(rx.all()[..failed_before].iter().all(|g| g.what().2 == "1.0"));
    srv.send(Request::get("/api/v1/packages/alice/generic/app/2.0").auth(&alice)).expect(404);
}

/// An https receiver is checked against the CA bundle (`SSL_CERT_FILE` here): trusted, it gets
/// the event; not trusted, the attempt fails on the certificate and nothing is posted.
#[test]
fn https_receivers_get_events_when_their_certificate_is_trusted() {
    use rustls::pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::tls::Ca::root("webhook test CA");
    crate::tls::TlsFiles::write(dir.path(), &ca.issue());
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(dir.path().join("cert.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.path().join("key.pem")).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let rx = Receiver::start_tls(tls);

    let setup = ServeSetup::args(&["--webhook-allow-private"]).env("SSL_CERT_FILE", &ca_file);
    let srv = TestServer::start_setup(TestDb::new(), setup);
    let alice = Cred::token(&srv.token_after_user("alice"));
    add_hook(&srv, &alice, &rx.https_url("/secure"), "");
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", b"x").expect(201);
    let got = rx.wait_delivered(1);
    assert_eq!((got[0].path.as_str(), got[0].what().0.as_str()), ("/secure", "created"));
    assert_eq!(got[0].header("x-gitea-signature"), hmac_hex("s3cret", &got[0].body));

    // The system's bundle does not know this CA: the handshake fails, nothing is posted.
    let untrusting = allowed();
    let alice = Cred::token(&untrusting.token_after_user("alice"));
    let hook = add_hook(&untrusting, &alice, &rx.https_url("/untrusted"), "");
    untrusting.upload(&alice, "alice", "app", "1.0", "a.bin", b"x").expect(201);
    let log = log_when(&untrusting, &alice, hook, |l| !l.is_empty());
    assert!(log[0]["error"].as_str().unwrap().starts_with("TLS: "), "{log:#?}");
    assert!(rx.all().iter().all(|g| g.path == "/secure"), "{:#?}", rx.all());
}

/// A Go module version's upload is a "created" event of a `go` package, its module path as
/// the name; deleting it through the API is "deleted".
#[test]
fn go_module_versions_are_events_too() {
    let rx = Receiver::start();
    let srv = allowed();
    let alice = Cred::token(&srv.token_after_user("alice"));
    add_hook(&srv, &alice, &rx.url("/hook"), "");
    let zip = crate::go::simple_module("example.com/hooked", "v1.2.3");
    srv.send(Request::put(&crate::go::upload_path("alice"), &zip).auth(&alice)).expect(201);
    let got = rx.wait_delivered(1);
    let p = got[0].json();
    assert_eq!((p["action"].as_str(), p["package"]["type"].as_str()), (Some("created"), Some("go")));
    assert_eq!(
        (p["package"]["name"].as_str(), p["package"]["version"].as_str()),
        (Some("example.com/hooked"), Some("v1.2.3"))
    );
    assert_eq!(p["package"]["file_count"], 2);
    srv.send(Request::delete("/api/v1/packages/alice/go/example.com%2Fhooked/v1.2.3").auth(&alice))
        .expect(204);
    let got = rx.wait_delivered(2);
    assert_eq!(
        got[1].what(),
        ("deleted".to_string(), "example.com/hooked".to_string(), "v1.2.3".to_string())
    );
}

/// A cleanup rule removes through the delete path of `DELETE`, so each version it removes is
/// a "deleted" event, and nothing else is.
#[test]
fn versions_removed_by_a_cleanup_rule_are_deleted_events() {
    let rx = Receiver::start();
    let srv = allowed();
    let alice = Cred::token(&srv.token_after_user("alice"));
    for v in ["1", "2", "3"] {
        srv.upload(&alice, "alice", "app", v, "a.bin", v.as_bytes()).expect(201);
    }
    add_hook(&srv, &alice, &rx.url("/hook"), "");
    let rule = srv.send(
        Request::json("POST", "/api/v1/packages/alice/-/rules", r#"{"type":"generic","keep_count":1}"#)
            .auth(&alice),
    );
    rule.expect(201);
    let id = json_of(&rule)["id"].as_u64().unwrap().to_string();
    srv.cli(&["rules", "apply", "alice", &id], None).expect_ok();
    let mut what: Vec<_> = rx.wait_delivered(2).iter().map(Got::what).collect();
    what.sort();
    let want = |v: &str| ("deleted".to_string(), "app".to_string(), v.to_string());
    assert_eq!(what, [want("1"), want("2")]);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.all().len(), 2, "only the removals: {:?}", rx.all());
}
