//! Generic packages (docs/api.md): every row of the endpoint table and every name and upload rule.
//!
//! Requests go out as raw HTTP/1.1 so targets reach the server exactly as written (no client-side
//! dot-segment removal or re-encoding) and headers can be checked byte for byte.

use std::io::Write;
use std::sync::{Arc, Barrier};
use std::thread;

use crate::util::*;

/// A server with one public user, `alice`, and a write token for her.
fn setup() -> (TestServer, Cred) {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let token = srv.token("alice", "write");
    (srv, Cred::token(&token))
}

/// `200` with exactly the download headers of docs/api.md, Download, for `name` holding `body`.
#[track_caller]
fn expect_download_headers(resp: &Response, name: &str, body: &[u8]) {
    let sha = sha256_hex(body);
    resp.expect(200)
        .expect_header("Content-Type", "application/octet-stream")
        .expect_header("Content-Length", &body.len().to_string())
        .expect_header("Content-Disposition", &format!("attachment; filename=\"{name}\""))
        .expect_header("ETag", &format!("\"{sha}\""))
        .expect_header("X-Checksum-Sha256", &sha)
        .expect_header("Accept-Ranges", "bytes")
        .expect_header("X-Content-Type-Options", "nosniff");
    let modified = resp.header("Last-Modified").unwrap_or("");
    assert!(is_http_date(modified), "Last-Modified is not an HTTP date: {modified:?}\n{resp}");
    eqnice!(1, resp.headers_named("ETag").len(), resp);
}

#[test]
fn put_is_201_and_get_returns_the_bytes_with_every_download_header() {
    let (srv, alice) = setup();
    let body = b"hello, depot\n";
    srv.upload(&alice, "alice", "hello", "1.0.0", "hello.txt", body).expect(201);

    let resp = srv.download(&Cred::Anon, "alice", "hello", "1.0.0", "hello.txt");
    expect_download_headers(&resp, "hello.txt", body);
    resp.expect_body(body);

    // A published vector, independent of the suite's own sha256 helper.
    srv.upload(&alice, "alice", "hello", "1.0.0", "abc.txt", b"abc").expect(201);
    srv.download(&Cred::Anon, "alice", "hello", "1.0.0", "abc.txt")
        .expect(200)
        .expect_header("ETag", "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"")
        .expect_header(
            "X-Checksum-Sha256",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .expect_body(b"abc");
}

#[test]
fn head_answers_the_download_headers_without_a_body() {
    let (srv, alice) = setup();
    let body = content_for("tool.tar.gz", 12_345);
    srv.upload(&alice, "alice", "tool", "2.1", "tool.tar.gz", &body).expect(201);

    let get = srv.download(&Cred::Anon, "alice", "tool", "2.1", "tool.tar.gz");
    let head = srv.send(Request::head(&file_path("alice", "tool", "2.1", "tool.tar.gz")));
    expect_download_headers(&head, "tool.tar.gz", &body);
    head.expect_body(b"");
    for name in [
        "Content-Type",
        "Content-Length",
        "Content-Disposition",
        "Last-Modified",
        "ETag",
        "X-Checksum-Sha256",
    ] {
        eqnice!(get.header(name), head.header(name), format!("GET and HEAD differ in {name}\n{head}"));
    }

    srv.send(Request::head(&file_path("alice", "tool", "2.1", "missing.bin"))).expect(404).expect_body(b"");

    // The same through hand-written bytes, as curl -I sends them.
    let raw = format!(
        "HEAD {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        file_path("alice", "tool", "2.1", "tool.tar.gz"),
        srv.addr()
    );
    let head = srv.raw(raw.as_bytes());
    expect_download_headers(&head, "tool.tar.gz", &body);
    head.expect_body(b"");
}

/// Uploads to `target` (already encoded) and checks 201 + readable, or 400 + nothing stored.
#[track_caller]
fn check_name_case(srv: &TestServer, cred: &Cred, target: &str, valid: bool, what: &str) {
    let body = format!("content of {target}");
    let put = srv.send(Request::put(target, body.as_bytes()).auth(cred));
    if valid {
        if put.status != 201 {
            panic!("\n{what} {target:?} is valid and must be accepted\n{put}");
        }
        srv.send(Request::get(target)).expect(200).expect_body(body.as_bytes());
    } else {
        if put.status != 400 {
            panic!("\n{what} {target:?} is invalid and must be 400\n{put}");
        }
        srv.send(Request::get(target)).expect(404);
    }
}

#[test]
fn package_name_rules() {
    let (srv, alice) = setup();
    let long_ok = "p".repeat(255);
    let long_bad = "p".repeat(256);
    let cases: Vec<(&str, bool)> = vec![
        ("a", true),
        ("Z", true),
        ("7", true),
        ("pkg", true),
        ("My.Package_name-1.0+build", true),
        ("_a", true),
        ("a..b", true),
        ("...", true),
        (&long_ok, true),
        (".", false),
        ("..", false),
        ("_", false),
        ("-", false),
        ("+", false),
        ("a b", false),
        ("a~b", false),
        ("a@b", false),
        ("a:b", false),
        ("a!b", false),
        ("a%b", false),
        ("a/b", false),
        ("é", false),
        ("a\u{0}b", false),
        ("a\tb", false),
        (&long_bad, false),
    ];
    for (name, valid) in cases {
        check_name_case(&srv, &alice, &file_path("alice", name, "1.0", "f.txt"), valid, "package name");
    }
    // Dot segments spelled with percent-encoding are still `.` and `..`.
    for raw in ["%2E", "%2E%2E", "%2e%2e", ".%2E"] {
        check_name_case(
            &srv,
            &alice,
            &format!("/api/packages/alice/generic/{raw}/1.0/f.txt"),
            false,
            "package name",
        );
    }
}

#[test]
fn file_name_rules() {
    let (srv, alice) = setup();
    let long_ok = "f".repeat(255);
    let long_bad = "f".repeat(256);
    let cases: Vec<(&str, bool)> = vec![
        ("f", true),
        ("_", true),
        ("~", true),
        ("a.txt", true),
        ("my file (1).txt", true),
        ("x=1:2;(3)[4]{5}~!@#$%^&", true),
        ("+-_.", true),
        ("...", true),
        (&long_ok, true),
        (".", false),
        ("..", false),
        (" a.txt", false),
        ("a.txt ", false),
        (" ", false),
        ("a/b", false),
        ("a\"b", false),
        ("a*b", false),
        ("a?b", false),
        ("a,b", false),
        ("a'b", false),
        ("a<b", false),
        ("a\\b", false),
        ("a|b", false),
        ("é.txt", false),
        ("a\u{1}b", false),
        ("a\tb", false),
        ("a\nb", false),
        ("a\u{7f}b", false),
        (&long_bad, false),
    ];
    for (name, valid) in cases {
        check_name_case(&srv, &alice, &file_path("alice", "files", "1.0", name), valid, "file name");
    }
    for raw in ["%2E", "%2E%2E", "%2e%2E"] {
        check_name_case(
            &srv,
            &alice,
            &format!("/api/packages/alice/generic/files/1.0/{raw}"),
            false,
            "file name",
        );
    }
}

#[test]
fn version_rules() {
    let (srv, alice) = setup();
    let long_ok = "v".repeat(255);
    let long_bad = "v".repeat(256);
    // Byte length, not characters: 85 three-byte characters are 255 bytes.
    let wide_ok = "日".repeat(85);
    let wide_bad = format!("{}a", "日".repeat(85));
    let cases: Vec<(&str, bool)> = vec![
        ("1.0.0", true),
        ("v1", true),
        ("1.0.0-rc.1+build.5", true),
        ("release 7", true),
        ("日本", true),
        ("~!@#$%^&*()[]{}", true),
        (&long_ok, true),
        (&wide_ok, true),
        (" 1.0", false),
        ("1.0 ", false),
        ("\t1.0", false),
        ("1.0\t", false),
        ("1/0", false),
        ("1\n0", false),
        ("1\u{0}0", false),
        ("1\u{7f}0", false),
        (&long_bad, false),
        (&wide_bad, false),
    ];
    for (version, valid) in cases {
        check_name_case(&srv, &alice, &file_path("alice", "versions", version, "f.txt"), valid, "version");
    }

    // The version segment is percent-decoded: `1.0%2Bx` and `1.0+x` are the same version.
    let encoded = "/api/packages/alice/generic/versions/1.0%2Bx/g.txt";
    let literal = "/api/packages/alice/generic/versions/1.0+x/g.txt";
    srv.send(Request::put(encoded, b"plus").auth(&alice)).expect(201);
    srv.send(Request::get(literal)).expect(200).expect_body(b"plus");
    srv.send(Request::put(literal, b"plus").auth(&alice)).expect(409);
    srv.send(Request::get("/api/packages/alice/generic/versions/1%2E0%2Bx/g%2Etxt"))
        .expect(200)
        .expect_body(b"plus");
}

#[test]
fn reupload_of_an_existing_file_is_409_even_with_identical_content() {
    let (srv, alice) = setup();
    srv.upload(&alice, "alice", "pkg", "1.0", "a.bin", b"first").expect(201);
    srv.upload(&alice, "alice", "pkg", "1.0", "a.bin", b"first").expect(409);
    srv.upload(&alice, "alice", "pkg", "1.0", "a.bin", b"second").expect(409);
    srv.upload(&alice, "alice", "pkg", "1.0", "a.bin", b"").expect(409);
    srv.download(&Cred::Anon, "alice", "pkg", "1.0", "a.bin").expect(200).expect_body(b"first");
    // The same name in another version is another file.
    srv.upload(&alice, "alice", "pkg", "1.1", "a.bin", b"second").expect(201);
}

#[test]
fn names_differing_only_in_ascii_case_are_the_same_name() {
    let (srv, alice) = setup();
    srv.upload(&alice, "alice", "Tool", "V1.0-Beta", "Report.TXT", b"original").expect(201);
    srv.upload(&alice, "alice", "Tool", "V1.0-Beta", "report.txt", b"other").expect(409);
    srv.upload(&alice, "alice", "tool", "V1.0-Beta", "Report.TXT", b"other").expect(409);
    srv.upload(&alice, "alice", "TOOL", "v1.0-beta", "REPORT.txt", b"other").expect(409);
    srv.download(&Cred::Anon, "alice", "Tool", "V1.0-Beta", "Report.TXT")
        .expect(200)
        .expect_body(b"original");
}

#[test]
fn lookups_are_case_insensitive_and_names_keep_their_uploaded_case() {
    let (srv, alice) = setup();
    srv.upload(&alice, "alice", "MixedPkg", "V2.0-RC", "ReadMe.TXT", b"readme").expect(201);

    for (pkg, ver, file) in [
        ("mixedpkg", "v2.0-rc", "readme.txt"),
        ("MIXEDPKG", "V2.0-RC", "README.TXT"),
        ("MixedPkg", "V2.0-RC", "ReadMe.TXT"),
    ] {
        let resp = srv.download(&Cred::Anon, "alice", pkg, ver, file);
        resp.expect(200).expect_body(b"readme");
        resp.expect_header("Content-Disposition", "attachment; filename=\"ReadMe.TXT\"");
        srv.send(Request::head(&file_path("alice", pkg, ver, file))).expect(200);
    }

    let versions = srv.send(Request::get(&api_version_path("alice", "mixedpkg", None))).expect(200).json();
    eqnice!(Some("MixedPkg"), versions[0]["name"].as_str(), format!("{versions:?}"));
    eqnice!(Some("V2.0-RC"), versions[0]["version"].as_str(), format!("{versions:?}"));
    let files = srv
        .send(Request::get(&format!("{}/files", api_version_path("alice", "mixedpkg", Some("v2.0-rc")))))
        .expect(200)
        .json();
    eqnice!(Some("ReadMe.TXT"), files[0]["name"].as_str(), format!("{files:?}"));
}

#[test]
fn an_empty_body_is_a_valid_zero_byte_file() {
    let (srv, alice) = setup();
    srv.upload(&alice, "alice", "empty", "0", "empty.txt", b"").expect(201);
    let resp = srv.download(&Cred::Anon, "alice", "empty", "0", "empty.txt");
    expect_download_headers(&resp, "empty.txt", b"");
    resp.expect_header("ETag", "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"")
        .expect_body(b"");
}

#[test]
fn checksum_mismatch_is_400_and_stores_nothing() {
    let (srv, alice) = setup();
    let body = b"the real content";
    let wrong = b"some other content";
    let target = file_path("alice", "sums", "1.0", "data.bin");

    srv.send(Request::put(&target, body).auth(&alice).header("X-Checksum-Sha256", &sha256_hex(wrong)))
        .expect(400);
    srv.send(Request::get(&target)).expect(404);
    srv.send(Request::put(&target, body).auth(&alice).header("Content-Digest", &content_digest(wrong)))
        .expect(400);
    srv.send(Request::get(&target)).expect(404);
    // Nothing stored means no version and no package either.
    srv.send(Request::get(&api_version_path("alice", "sums", Some("1.0")))).expect(404);
    srv.send(Request::get(&api_version_path("alice", "sums", None))).expect(404);

    srv.send(Request::put(&target, body).auth(&alice).header("X-Checksum-Sha256", &sha256_hex(body)))
        .expect(201);
    srv.send(Request::get(&target)).expect(200).expect_body(body);

    let other = file_path("alice", "sums", "1.0", "digest.bin");
    srv.send(Request::put(&other, body).auth(&alice).header("Content-Digest", &content_digest(body)))
        .expect(201);
    srv.send(Request::get(&other)).expect(200).expect_body(body);

    // A mismatch on an empty body too.
    let empty = file_path("alice", "sums", "1.0", "empty.bin");
    srv.send(Request::put(&empty, b"").auth(&alice).header("X-Checksum-Sha256", &sha256_hex(b"x")))
        .expect(400);
    srv.send(Request::get(&empty)).expect(404);
}

#[test]
fn range_requests_answer_206_or_416() {
    let (srv, alice) = setup();
    let body = b"abcdefghijklmnopqrstuvwxyz";
    srv.upload(&alice, "alice", "ranges", "1", "abc.txt", body).expect(201);
    let target = file_path("alice", "ranges", "1", "abc.txt");

    for (range, content_range, part) in [
        ("bytes=0-9", "bytes 0-9/26", &body[0..10]),
        ("bytes=5-", "bytes 5-25/26", &body[5..]),
        ("bytes=-3", "bytes 23-25/26", &body[23..]),
        ("bytes=20-100", "bytes 20-25/26", &body[20..]),
        ("bytes=25-25", "bytes 25-25/26", &body[25..]),
    ] {
        srv.send(Request::get(&target).header("Range", range))
            .expect(206)
            .expect_header("Content-Range", content_range)
            .expect_header("Content-Length", &part.len().to_string())
            .expect_header("ETag", &format!("\"{}\"", sha256_hex(body)))
            .expect_body(part);
    }
    for range in ["bytes=26-", "bytes=30-40"] {
        srv.send(Request::get(&target).header("Range", range))
            .expect(416)
            .expect_header("Content-Range", "bytes */26");
    }
}

/// Small files are stored in pieces of 1007 bytes (four to a database page) with the rest
/// inline in their blob record, up to 64 KiB; larger ones in chunks (docs/design.md, "Small
/// files"). Each size at an edge of that layout reads back whole, by range across every
/// edge, and stays one copy when uploaded again under another name.
#[test]
fn small_files_at_every_edge_of_their_layout_read_back_whole_and_by_range_and_are_stored_once() {
    const PIECE: usize = 1007;
    const SMALL_MAX: usize = 64 << 10;
    let (srv, alice) = setup();
    let sizes = [0, 1, PIECE - 1, PIECE, PIECE + 1, 4096, SMALL_MAX - 1, SMALL_MAX, SMALL_MAX + 1];
    for n in sizes {
        let body = content_for(&format!("small-{n}"), n);
        let name = format!("s{n}.bin");
        srv.upload(&alice, "alice", "small", "1", &name, &body).expect(201);
        let resp = srv.download(&Cred::Anon, "alice", "small", "1", &name);
        expect_download_headers(&resp, &name, &body);
        resp.expect_body(&body);
        // The same content under another name (and version): one more reference, no copy.
        srv.upload(&alice, "alice", "small", "2", &name, &body).expect(201);
        let target = file_path("alice", "small", "2", &name);
        let tail = n - n % PIECE;
        let mut ranges = vec![(0, n.min(1)), (n.saturating_sub(1), n), (n / 3, 2 * n / 3)];
        for edge in [PIECE, tail, 4 * PIECE] {
            if edge > 0 && edge < n {
                ranges.push((edge - 1, edge + 1));
                ranges.push((edge, n));
            }
        }
        for (start, end) in ranges.into_iter().filter(|&(s, e)| s < e) {
            let last = end - 1;
            srv.send(Request::get(&target).header("Range", &format!("bytes={start}-{last}")))
                .expect(206)
                .expect_header("Content-Range", &format!("bytes {start}-{last}/{n}"))
                .expect_body(&body[start..end]);
        }
        if n > 0 {
            let suffix = n.min(PIECE + 3);
            srv.send(Request::get(&target).header("Range", &format!("bytes=-{suffix}")))
                .expect(206)
                .expect_body(&body[n - suffix..]);
        }
    }
    let out = srv.cli(&["verify"], None);
    out.expect_ok();
    let total: usize = sizes.iter().sum();
    let files = 2 * sizes.len();
    assert!(
        out.stdout().contains(&format!(" {files} files, {} blobs, ", sizes.len()))
            && out.stdout().contains(&format!(" chunks, {total} bytes; 0 uploads in progress; 0 problems")),
        "each content stored once:\n{out}"
    );
    // The first copies go; the second ones still read whole.
    for n in sizes {
        srv.send(Request::delete(&file_path("alice", "small", "1", &format!("s{n}.bin"))).auth(&alice))
            .expect(204);
        let body = content_for(&format!("small-{n}"), n);
        srv.download(&Cred::Anon, "alice", "small", "2", &format!("s{n}.bin")).expect(200).expect_body(&body);
    }
    srv.cli(&["verify"], None).expect_ok();
}

#[test]
fn conditional_requests_answer_304_or_412() {
    let (srv, alice) = setup();
    let body = b"conditional content";
    srv.upload(&alice, "alice", "cond", "1", "c.txt", body).expect(201);
    let target = file_path("alice", "cond", "1", "c.txt");
    let first = srv.send(Request::get(&target));
    first.expect(200);
    let etag = first.header("ETag").expect("ETag").to_owned();
    let modified = first.header("Last-Modified").expect("Last-Modified").to_owned();

    srv.send(Request::get(&target).header("If-None-Match", &etag))
        .expect(304)
        .expect_header("ETag", &etag)
        .expect_body(b"");
    srv.send(Request::head(&target).header("If-None-Match", &etag)).expect(304);
    srv.send(Request::get(&target).header("If-None-Match", "\"0000\"")).expect(200).expect_body(body);
    srv.send(Request::get(&target).header("If-None-Match", &format!("\"0000\", {etag}"))).expect(304);

    srv.send(Request::get(&target).header("If-Match", "\"0000\"")).expect(412);
    srv.send(Request::get(&target).header("If-Match", &etag)).expect(200).expect_body(body);

    srv.send(Request::get(&target).header("If-Modified-Since", &modified)).expect(304).expect_body(b"");
    srv.send(Request::get(&target).header("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"))
        .expect(200)
        .expect_body(body);
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    srv.send(
        Request::get(&target).header("If-None-Match", "\"0000\"").header("If-Modified-Since", &modified),
    )
    .expect(200)
    .expect_body(body);
}

#[test]
fn delete_file_is_204_then_the_file_is_404() {
    let (srv, alice) = setup();
    srv.upload(&alice, "alice", "del", "1.0", "a.txt", b"a").expect(201);
    srv.upload(&alice, "alice", "del", "1.0", "b.txt", b"b").expect(201);
    let a = file_path("alice", "del", "1.0", "a.txt");

    srv.send(Request::delete(&a).auth(&alice)).expect(204);
    srv.send(Request::get(&a)).expect(404);
    srv.send(Request::delete(&a).auth(&alice)).expect(404);
    // The other file and the version stay.
    srv.download(&Cred::Anon, "alice", "del", "1.0", "b.txt").expect(200).expect_body(b"b");
    let version = srv.send(Request::get(&api_version_path("alice", "del", Some("1.0")))).expect(200).json();
    eqnice!(Some(1), version["file_count"].as_u64(), format!("{version:?}"));
    // A deleted name can be uploaded again.
    srv.upload(&alice, "alice", "del", "1.0", "A.TXT", b"again").expect(201);
    srv.send(Request::get(&a)).expect(200).expect_body(b"again");
}

#[test]
fn deleting_the_last_file_removes_the_version_and_the_last_version_removes_the_package() {
    let (srv, alice) = setup();
    srv.upload(&alice, "alice", "gone", "1.0", "only.txt", b"1").expect(201);
    srv.upload(&alice, "alice", "gone", "2.0", "only.txt", b"2").expect(201);

    srv.send(Request::delete(&file_path("alice", "gone", "1.0", "only.txt")).auth(&alice)).expect(204);
    srv.send(Request::get(&api_version_path("alice", "gone", Some("1.0")))).expect(404);
    srv.send(Request::get(&api_version_path("alice", "gone", Some("2.0")))).expect(200);
    let versions = srv.send(Request::get(&api_version_path("alice", "gone", None))).expect(200).json();
    eqnice!(1, versions.as_array().map(Vec::len).unwrap_or(0), format!("{versions:?}"));

    srv.send(Request::delete(&file_path("alice", "gone", "2.0", "only.txt")).auth(&alice)).expect(204);
    srv.send(Request::get(&api_version_path("alice", "gone", Some("2.0")))).expect(404);
    srv.send(Request::get(&api_version_path("alice", "gone", None))).expect(404);
    let list = srv.send(Request::get("/api/v1/packages/alice")).expect(200).json();
    eqnice!(Some(0), list.as_array().map(Vec::len), format!("{list:?}"));
}

#[test]
fn delete_version_is_204_and_removes_all_its_files() {
    let (srv, alice) = setup();
    for name in ["a.txt", "b.txt", "c.txt"] {
        srv.upload(&alice, "alice", "multi", "3.0", name, name.as_bytes()).expect(201);
    }
    srv.upload(&alice, "alice", "multi", "4.0", "a.txt", b"kept").expect(201);

    srv.send(Request::delete(&version_path("alice", "multi", "3.0")).auth(&alice)).expect(204);
    for name in ["a.txt", "b.txt", "c.txt"] {
        srv.download(&Cred::Anon, "alice", "multi", "3.0", name).expect(404);
    }
    srv.send(Request::get(&api_version_path("alice", "multi", Some("3.0")))).expect(404);
    srv.send(Request::delete(&version_path("alice", "multi", "3.0")).auth(&alice)).expect(404);
    srv.download(&Cred::Anon, "alice", "multi", "4.0", "a.txt").expect(200).expect_body(b"kept");

    srv.send(Request::delete(&version_path("alice", "multi", "4.0")).auth(&alice)).expect(204);
    srv.send(Request::get(&api_version_path("alice", "multi", None))).expect(404);
}

#[test]
fn identical_content_under_two_names_downloads_correctly() {
    let (srv, alice) = setup();
    let body = content_for("shared", 200_000);
    srv.upload(&alice, "alice", "one", "1", "x.bin", &body).expect(201);
    srv.upload(&alice, "alice", "two", "9", "y.bin", &body).expect(201);

    let x = srv.download(&Cred::Anon, "alice", "one", "1", "x.bin");
    let y = srv.download(&Cred::Anon, "alice", "two", "9", "y.bin");
    x.expect(200).expect_body(&body);
    y.expect(200).expect_body(&body);
    eqnice!(x.header("X-Checksum-Sha256"), y.header("X-Checksum-Sha256"), &y);
    y.expect_header("Content-Disposition", "attachment; filename=\"y.bin\"");

    // Removing one name keeps the shared content for the other.
    srv.send(Request::delete(&file_path("alice", "one", "1", "x.bin")).auth(&alice)).expect(204);
    srv.download(&Cred::Anon, "alice", "two", "9", "y.bin").expect(200).expect_body(&body);
    srv.upload(&alice, "alice", "one", "1", "x.bin", &body).expect(201);
    srv.download(&Cred::Anon, "alice", "one", "1", "x.bin").expect(200).expect_body(&body);
}

#[test]
fn sixteen_concurrent_uploads_of_one_name_give_one_201_and_fifteen_409() {
    let (srv, alice) = setup();
    let addr = srv.addr();
    let target = file_path("alice", "race", "1.0", "same.bin");
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let req =
                Request::put(&target, &content_for(&format!("writer {i}"), 10_000 + i * 777)).auth(&alice);
            thread::spawn(move || {
                let bytes = req.encode(&addr.to_string());
                let mut stream = connect(addr).expect("connect");
                barrier.wait();
                stream.write_all(&bytes).expect("send");
                let resp = read_response(&mut stream, false, req.describe()).expect("response");
                (i, resp)
            })
        })
        .collect();
    let results: Vec<(usize, Response)> = handles.into_iter().map(|h| h.join().expect("thread")).collect();

    let winners: Vec<usize> = results.iter().filter(|(_, r)| r.status == 201).map(|(i, _)| *i).collect();
    for (_, resp) in &results {
        resp.expect_one_of(&[201, 409]);
    }
    eqnice!(1, winners.len(), format!("winners: {winners:?}"));
    let winner = winners[0];
    srv.send(Request::get(&target))
        .expect(200)
        .expect_body(&content_for(&format!("writer {winner}"), 10_000 + winner * 777));
}

#[test]
fn a_100_mib_file_round_trips_byte_exact() {
    let (srv, alice) = setup();
    const LEN: u64 = 100 * MIB as u64;
    let seed = seed_of("big.bin");
    let url = srv.url(&file_path("alice", "big", "1.0", "big.bin"));
    let auth = alice.header().expect("token credential");
    let client = srv.reqwest();

    let put = client
        .put(&url)
        .header("Authorization", &auth)
        .body(reqwest::blocking::Body::sized(PatternReader::new(seed, LEN), LEN))
        .send()
        .expect("upload 100 MiB");
    let status = put.status().as_u16();
    eqnice!(201, status, format!("PUT {url}: {:?}", put.text()));

    let get = client.get(&url).send().expect("download 100 MiB");
    eqnice!(200, get.status().as_u16(), format!("GET {url}"));
    let header = |name: &str| get.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    eqnice!(Some(LEN.to_string()), header("content-length"), format!("GET {url}"));
    let sha = header("x-checksum-sha256").unwrap_or_default();
    eqnice!(64, sha.len(), format!("X-Checksum-Sha256 of GET {url}"));
    eqnice!(Some(format!("\"{sha}\"")), header("etag"), format!("GET {url}"));
    assert_stream_matches(get, seed, LEN, &format!("GET {url}"));
}

#[test]
fn a_client_gone_mid_body_leaves_nothing_even_after_a_restart() {
    let (mut srv, alice) = setup();
    let target = file_path("alice", "partial", "1.0", "half.bin");
    let total = 10 * MIB;
    let seed = seed_of("half.bin");
    {
        let mut stream = connect(srv.addr()).expect("connect");
        let head = format!(
            "PUT {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: {total}\r\n\r\n",
            srv.addr(),
            alice.header().unwrap()
        );
        stream.write_all(head.as_bytes()).expect("send head");
        let mut half = vec![0u8; total / 2];
        Pattern::new(seed).fill(&mut half);
        stream.write_all(&half).expect("send half the body");
        // Dropping the stream closes the socket with half the body missing.
    }
    srv.send(Request::get(&target)).expect(404);
    srv.send(Request::get(&api_version_path("alice", "partial", Some("1.0")))).expect(404);

    srv.kill9();
    srv.restart();
    srv.send(Request::get(&target)).expect(404);
    srv.send(Request::get(&api_version_path("alice", "partial", None))).expect(404);
    srv.cli(&["verify"], None).expect_ok();

    // No leftover reservation of the name either.
    let full = content_for("half.bin", total);
    srv.send(Request::put(&target, &full).auth(&alice)).expect(201);
    srv.send(Request::get(&target)).expect(200).expect_body(&full);
}

#[test]
fn unknown_owner_package_version_or_file_is_404() {
    let (srv, alice) = setup();
    srv.upload(&alice, "alice", "known", "1.0", "known.txt", b"k").expect(201);
    for (owner, pkg, ver, file) in [
        ("nobody", "known", "1.0", "known.txt"),
        ("alice", "unknown", "1.0", "known.txt"),
        ("alice", "known", "9.9", "known.txt"),
        ("alice", "known", "1.0", "unknown.txt"),
    ] {
        srv.download(&Cred::Anon, owner, pkg, ver, file).expect(404);
        srv.send(Request::head(&file_path(owner, pkg, ver, file))).expect(404);
        srv.download(&alice, owner, pkg, ver, file).expect(404);
    }
    srv.send(Request::delete(&file_path("alice", "known", "1.0", "unknown.txt")).auth(&alice)).expect(404);
    srv.send(Request::delete(&version_path("alice", "known", "9.9")).auth(&alice)).expect(404);
    srv.send(Request::delete(&version_path("alice", "unknown", "1.0")).auth(&alice)).expect(404);
    srv.download(&Cred::Anon, "alice", "known", "1.0", "known.txt").expect(200);
}

#[test]
fn an_upload_over_the_size_limit_is_413_and_stores_nothing() {
    let srv = TestServer::start_with(&["--max-file-size", "1000"]);
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    srv.upload(&alice, "alice", "limit", "1", "at.bin", &content_for("at", 1000)).expect(201);
    srv.upload(&alice, "alice", "limit", "1", "over.bin", &content_for("over", 1001)).expect(413);
    srv.download(&Cred::Anon, "alice", "limit", "1", "over.bin").expect(404);
    srv.download(&Cred::Anon, "alice", "limit", "1", "at.bin")
        .expect(200)
        .expect_body(&content_for("at", 1000));
}
