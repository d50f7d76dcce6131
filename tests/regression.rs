//! Regressions found in review of issue 2 (the generic registry); each test names the defect.

use std::io::{Read, Write};
use std::time::Duration;

use crate::util::*;

/// An admin's read-scope token could create admins and change passwords.
#[test]
fn an_admin_read_token_cannot_change_accounts() {
    let srv = TestServer::start();
    srv.add_user("root", "root-password", true);
    let read = Cred::token(&srv.token("root", "read"));
    let body = r#"{"username":"evil","password":"evil-password","admin":true}"#;
    srv.send(Request::json("POST", "/api/v1/admin/users", body).auth(&read)).expect(403);
    srv.send(Request::json("PATCH", "/api/v1/admin/users/root", r#"{"password":"x"}"#).auth(&read))
        .expect(403);
    srv.send(Request::get("/api/v1/admin/users").auth(&read)).expect(200);
    let write = Cred::token(&srv.token("root", "write"));
    srv.send(Request::json("POST", "/api/v1/admin/users", body).auth(&write)).expect(201);
}

/// An integrity header that could not be read was skipped instead of refused.
#[test]
fn an_unreadable_or_repeated_checksum_header_is_400_and_stores_nothing() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-password", false);
    let good = sha256_hex(b"hello");
    let path = file_path("alice", "app", "1", "a.txt");
    srv.send(
        Request::put(&path, b"hello")
            .auth(&alice)
            .header("X-Checksum-Sha256", &good)
            .header("X-Checksum-Sha256", &"0".repeat(64)),
    )
    .expect(400);
    let auth = alice.header().expect("basic credentials");
    let raw = [
        format!("PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 5\r\nX-Checksum-Sha256: ")
            .as_bytes(),
        b"\xe9\xe9",
        b"\r\nConnection: close\r\n\r\nhello",
    ]
    .concat();
    srv.raw(&raw).expect(400);
    srv.download(&Cred::Anon, "alice", "app", "1", "a.txt").expect(404);
    srv.send(Request::put(&path, b"hello").auth(&alice).header("X-Checksum-Sha256", &good)).expect(201);
}

/// A lookup of a name that can never be valid finds nothing (404), while an upload of it is 400.
#[test]
fn an_undecodable_name_is_404_on_lookup_and_400_on_upload() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-password", false);
    srv.send(Request::get("/api/packages/alice/generic/app/1/%ff")).expect(404);
    srv.send(Request::get("/api/v1/packages/%ff")).expect(404);
    srv.send(Request::put("/api/packages/alice/generic/app/1/%ff", b"x").auth(&alice)).expect(400);
}

/// "latest" picked the lexically larger version when two were created in the same second.
#[test]
fn latest_is_the_version_created_last_even_within_one_second() {
    let srv = TestServer::start();
    let alice = Cred::token(&srv.token_after_user("alice"));
    for version in ["2.0", "10.0", "b", "A"] {
        srv.upload(&alice, "alice", "app", version, "f", version.as_bytes()).expect(201);
    }
    let latest = srv.send(Request::get("/api/v1/packages/alice/generic/app/-/latest"));
    let json = latest.expect(200).json();
    eqnice!(Some("A"), json["version"].as_str(), latest);
    let list = srv.send(Request::get("/api/v1/packages/alice"));
    let json = list.expect(200).json();
    eqnice!(Some("A"), json[0]["version"].as_str(), list);
}

/// CI systems put a fixed user name beside a token in Basic auth; the token alone decides.
#[test]
fn a_token_as_basic_password_works_with_any_user_name() {
    let srv = TestServer::start();
    let token = srv.token_after_user("alice");
    srv.upload(&Cred::basic("ci", &token), "alice", "app", "1", "a", b"a").expect(201);
    srv.upload(&Cred::basic(&token, "x-oauth-basic"), "alice", "app", "1", "b", b"b").expect(201);
}

/// A client that stopped reading a download held its connection and buffers forever.
#[test]
fn a_client_that_stops_reading_a_download_is_disconnected() {
    let srv = TestServer::start_with(&["--body-idle-timeout-secs", "1"]);
    let alice = Cred::token(&srv.token_after_user("alice"));
    let size = 48 * MIB;
    srv.upload(&alice, "alice", "big", "1", "big.bin", &content_for("big.bin", size)).expect(201);
    let mut stream = connect(srv.addr()).expect("connect");
    let get = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", file_path("alice", "big", "1", "big.bin"));
    stream.write_all(get.as_bytes()).expect("send the request");
    // Read nothing for well past the timeout (this is the client's stall, not a measurement).
    std::thread::sleep(Duration::from_secs(4));
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    let mut got = Vec::new();
    // The server must have closed the connection: the read ends (EOF or reset) instead of
    // waiting out the read timeout, and short of the whole file.
    if let Err(e) = stream.read_to_end(&mut got) {
        let kind = e.kind();
        assert!(
            !matches!(kind, std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "the server kept the stalled download open ({} bytes read)",
            got.len()
        );
    }
    assert!(got.len() < size, "the whole file arrived although the client stalled: {} bytes", got.len());
    srv.send(Request::get("/healthz")).expect(200);
}

/// Small public files are served from an in-memory cache; a write must be visible at once.
#[test]
fn a_cached_file_follows_every_write_at_once() {
    let srv = TestServer::start();
    let alice = Cred::token(&srv.token_after_user("alice"));
    for round in 0..3 {
        let body = format!("round {round}");
        srv.upload(&alice, "alice", "app", "1", "f.txt", body.as_bytes()).expect(201);
        for _ in 0..3 {
            srv.download(&Cred::Anon, "alice", "app", "1", "f.txt").expect(200).expect_body(body.as_bytes());
        }
        srv.send(Request::delete(&file_path("alice", "app", "1", "f.txt")).auth(&alice)).expect(204);
        srv.download(&Cred::Anon, "alice", "app", "1", "f.txt").expect(404);
    }
    srv.upload(&alice, "alice", "app", "2", "g.txt", b"g").expect(201);
    srv.download(&Cred::Anon, "alice", "app", "2", "g.txt").expect(200);
    srv.send(Request::delete("/api/packages/alice/generic/app/2").auth(&alice)).expect(204);
    srv.download(&Cred::Anon, "alice", "app", "2", "g.txt").expect(404);
}

/// Files at and around the chunk size (1 MiB - 4 KiB) take every path of the upload code:
/// tail only, whole chunks only, chunks plus a tail. All survive a restart and verify clean.
#[test]
fn files_at_chunk_boundaries_round_trip_and_survive_a_restart() {
    const CHUNK: usize = (1 << 20) - 4096;
    let mut srv = TestServer::start();
    let alice = Cred::token(&srv.token_after_user("alice"));
    let sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7];
    for size in sizes {
        let name = format!("f{size}");
        srv.upload(&alice, "alice", "edge", "1", &name, &content_for(&name, size)).expect(201);
    }
    srv.kill9();
    srv.restart();
    for size in sizes {
        let name = format!("f{size}");
        srv.download(&Cred::Anon, "alice", "edge", "1", &name)
            .expect(200)
            .expect_body(&content_for(&name, size));
    }
    let out = srv.cli(&["verify"], None);
    out.expect_ok();
    assert!(out.stdout().contains("0 uploads in progress; 0 problems"), "{}", out.stdout());
}
