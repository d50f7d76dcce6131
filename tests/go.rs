//! docs/go-modules.md over HTTP: module zip uploads (every rejection rule), the GOPROXY endpoints, case
//! encoding, permissions, limits, the management API for Go packages, and `depot go zip`.
//! The real go command drives the same server in `go_client.rs`.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

use crate::util::*;

/// A module zip with these entries (name relative to `module@version/`, content).
pub fn module_zip(module: &str, version: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<(String, &[u8])> =
        files.iter().map(|(n, d)| (format!("{module}@{version}/{n}"), *d)).collect();
    raw_zip(&entries.iter().map(|(n, d)| (n.as_str(), *d)).collect::<Vec<_>>())
}

/// A zip of exactly these entry names (a name ending in `/` is a directory).
pub fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, SimpleFileOptions::default()).unwrap();
        } else {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// A small valid module: go.mod declaring `module` plus one Go file.
pub fn simple_module(module: &str, version: &str) -> Vec<u8> {
    let go_mod = format!("module {module}\n\ngo 1.19\n");
    let code = format!("package m\n\n// Version is {version}.\nconst Version = \"{version}\"\n");
    module_zip(module, version, &[("go.mod", go_mod.as_bytes()), ("m.go", code.as_bytes())])
}

pub fn upload_path(owner: &str) -> String {
    format!("/api/packages/{owner}/go/upload")
}

/// `/api/packages/{owner}/go/{escaped module}/{rest}`.
pub fn proxy_path(owner: &str, module: &str, rest: &str) -> String {
    format!("/api/packages/{owner}/go/{}/{rest}", escape(module))
}

/// The go command's case encoding.
pub fn escape(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_uppercase() { format!("!{}", c.to_ascii_lowercase()) } else { c.to_string() })
        .collect()
}

#[track_caller]
fn publish(s: &TestServer, cred: &Cred, zip: &[u8]) -> Response {
    s.send(Request::put(&upload_path("alice"), zip).auth(cred))
}

fn alice(s: &TestServer) -> Cred {
    s.add_user("alice", "alice-password", false)
}

#[test]
fn publish_then_every_proxy_endpoint_answers_as_the_go_command_expects() {
    let s = TestServer::start();
    let cred = alice(&s);
    let m = "example.com/Hello";
    let mut zips = Vec::new();
    for v in ["v1.1.0", "v0.9.0", "v1.2.0-rc.1", "v1.0.0", "v1.10.0-beta.2", "v1.10.0-beta.10"] {
        let z = simple_module(m, v);
        let r = publish(&s, &cred, &z);
        r.expect(201);
        let j = r.json();
        eqnice!(Some(m), j.get("module").and_then(Json::as_str), r);
        eqnice!(Some(v), j.get("version").and_then(Json::as_str), r);
        let sha = sha256_hex(&z);
        eqnice!(Some(sha.as_str()), j.get("sha256").and_then(Json::as_str), r);
        zips.push((v, z));
    }
    let list = s.send(Request::get(&proxy_path("alice", m, "@v/list")));
    list.expect(200).expect_body(b"v0.9.0\nv1.0.0\nv1.1.0\nv1.2.0-rc.1\nv1.10.0-beta.2\nv1.10.0-beta.10\n");
    // latest: the highest release, not the last upload or the highest pre-release.
    let latest = s.send(Request::get(&proxy_path("alice", m, "@latest")));
    latest.expect(200);
    let j = latest.json();
    eqnice!(Some("v1.1.0"), j.get("Version").and_then(Json::as_str), latest);
    assert!(j.get("Time").and_then(Json::as_str).is_some_and(is_rfc3339), "{latest}");
    for (v, z) in &zips {
        let info = s.send(Request::get(&proxy_path("alice", m, &format!("@v/{v}.info"))));
        info.expect(200).expect_header("Content-Type", "application/json");
        let j = info.json();
        eqnice!(Some(*v), j.get("Version").and_then(Json::as_str), info);
        match &j {
            Json::Obj(fields) => eqnice!(2, fields.len(), format!("only Version and Time\n{info}")),
            _ => panic!("{info}"),
        }
        let go_mod = format!("module {m}\n\ngo 1.19\n");
        s.send(Request::get(&proxy_path("alice", m, &format!("@v/{v}.mod"))))
            .expect(200)
            .expect_body(go_mod.as_bytes());
        let zip = s.send(Request::get(&proxy_path("alice", m, &format!("@v/{v}.zip"))));
        zip.expect(200).expect_body(z).expect_header("Content-Type", "application/zip");
        let head = s.send(Request::head(&proxy_path("alice", m, &format!("@v/{v}.zip"))));
        head.expect(200).expect_header("Content-Length", &z.len().to_string());
    }
}

#[test]
fn unknown_or_malformed_module_paths_and_versions_are_404() {
    let s = TestServer::start();
    let cred = alice(&s);
    publish(&s, &cred, &simple_module("example.com/m", "v1.0.0")).expect(201);
    for path in [
        proxy_path("alice", "example.com/other", "@v/list"),
        proxy_path("alice", "example.com/other", "@latest"),
        proxy_path("alice", "example.com/m", "@v/v1.0.1.info"),
        proxy_path("alice", "example.com/m", "@v/v1.0.1.mod"),
        proxy_path("alice", "example.com/m", "@v/v1.0.1.zip"),
        proxy_path("alice", "example.com/m", "@v/v1.0.info"),
        proxy_path("alice", "example.com/m", "@v/1.0.0.info"),
        // Malformed case encoding: a raw upper-case letter, a `!` before a non-letter.
        "/api/packages/alice/go/example.com/M/@v/list".into(),
        "/api/packages/alice/go/example.com/m!/@v/list".into(),
        "/api/packages/alice/go/example.com/!1m/@v/list".into(),
        "/api/packages/alice/go/example.com/m/@v/v1.0.0-!.info".into(),
        // Not a module path at all.
        "/api/packages/alice/go/nodot/@v/list".into(),
        "/api/packages/nobody/go/example.com/m/@v/list".into(),
        "/api/packages/alice/go/sumdb/sum.golang.org/supported".into(),
        "/api/packages/alice/go/sumdb/sum.golang.org/lookup/example.com/m@v1.0.0".into(),
    ] {
        s.send(Request::get(&path)).expect(404);
    }
}

#[test]
fn module_paths_and_versions_are_case_sensitive_through_the_encoding() {
    let s = TestServer::start();
    let cred = alice(&s);
    let upper = simple_module("example.com/A", "v1.0.0-RC1");
    let lower = simple_module("example.com/a", "v1.0.0-rc1");
    publish(&s, &cred, &upper).expect(201);
    publish(&s, &cred, &lower).expect(201);
    s.send(Request::get("/api/packages/alice/go/example.com/!a/@v/list"))
        .expect(200)
        .expect_body(b"v1.0.0-RC1\n");
    s.send(Request::get("/api/packages/alice/go/example.com/a/@v/list"))
        .expect(200)
        .expect_body(b"v1.0.0-rc1\n");
    s.send(Request::get("/api/packages/alice/go/example.com/!a/@v/v1.0.0-!r!c1.zip"))
        .expect(200)
        .expect_body(&upper);
    s.send(Request::get("/api/packages/alice/go/example.com/a/@v/v1.0.0-rc1.zip"))
        .expect(200)
        .expect_body(&lower);
    s.send(Request::get("/api/packages/alice/go/example.com/a/@v/v1.0.0-!r!c1.zip")).expect(404);
}

#[test]
fn latest_falls_back_to_the_highest_prerelease_and_list_leaves_out_pseudo_versions() {
    let s = TestServer::start();
    let cred = alice(&s);
    let m = "example.com/pre";
    for v in ["v0.1.0-alpha", "v0.1.0-beta.2", "v0.0.0-20240101000000-abcdefabcdef"] {
        publish(&s, &cred, &simple_module(m, v)).expect(201);
    }
    let r = s.send(Request::get(&proxy_path("alice", m, "@latest")));
    let j = r.expect(200).json();
    eqnice!(Some("v0.1.0-beta.2"), j.get("Version").and_then(Json::as_str), r);
    s.send(Request::get(&proxy_path("alice", m, "@v/list")))
        .expect(200)
        .expect_body(b"v0.1.0-alpha\nv0.1.0-beta.2\n");
    // The pseudo-version is still served by name.
    s.send(Request::get(&proxy_path("alice", m, "@v/v0.0.0-20240101000000-abcdefabcdef.info"))).expect(200);
}

#[test]
fn a_module_without_go_mod_is_served_the_one_line_go_mod_and_may_be_incompatible() {
    let s = TestServer::start();
    let cred = alice(&s);
    let m = "example.com/legacy";
    publish(&s, &cred, &module_zip(m, "v2.1.0+incompatible", &[("x.go", b"package legacy\n")])).expect(201);
    publish(&s, &cred, &module_zip(m, "v1.0.0", &[("x.go", b"package legacy\n")])).expect(201);
    s.send(Request::get(&proxy_path("alice", m, "@v/v2.1.0+incompatible.mod")))
        .expect(200)
        .expect_body(format!("module {m}\n").as_bytes());
    s.send(Request::get(&proxy_path("alice", m, "@v/list")))
        .expect(200)
        .expect_body(b"v1.0.0\nv2.1.0+incompatible\n");
}

#[test]
fn every_invalid_module_zip_is_a_400_naming_the_rule_and_stores_nothing() {
    let s = TestServer::start();
    let cred = alice(&s);
    let m = "example.com/m";
    let gm = b"module example.com/m\n";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not a zip", b"this is not a zip file".to_vec(), "not a zip"),
        ("empty body", Vec::new(), "not a zip"),
        ("truncated zip", simple_module(m, "v1.0.0")[..40].to_vec(), "not a zip"),
        ("empty zip", raw_zip(&[]), "empty"),
        (
            "entry outside the prefix",
            raw_zip(&[("example.com/m@v1.0.0/go.mod", gm), ("evil.txt", b"x")]),
            "is not under",
        ),
        ("no module@version prefix", raw_zip(&[("go.mod", gm)]), "module@version"),
        (
            "two modules",
            raw_zip(&[("example.com/m@v1.0.0/a", b""), ("example.com/m@v1.0.1/b", b"")]),
            "is not under",
        ),
        ("non-canonical version", module_zip(m, "v1.0", &[("go.mod", gm)]), "not canonical"),
        ("build metadata", module_zip(m, "v1.0.0+build", &[("go.mod", gm)]), "not canonical"),
        ("v2 without /v2", module_zip(m, "v2.0.0", &[("go.mod", gm)]), "/v2"),
        (
            "wrong major suffix",
            module_zip("example.com/m/v3", "v2.0.0", &[("go.mod", b"module example.com/m/v3\n")]),
            "major version",
        ),
        (
            "+incompatible with go.mod",
            module_zip(m, "v2.0.0+incompatible", &[("go.mod", gm)]),
            "+incompatible",
        ),
        (
            "invalid module path",
            module_zip("Example.com/m", "v1.0.0", &[("a.go", b"")]),
            "invalid module path",
        ),
        ("no dot in host", module_zip("localhost/m", "v1.0.0", &[("a.go", b"")]), "dot"),
        (
            "case collision",
            module_zip(m, "v1.0.0", &[("go.mod", gm), ("README", b""), ("readme", b"")]),
            "collision",
        ),
        (
            "file and directory",
            module_zip(m, "v1.0.0", &[("go.mod", gm), ("x", b""), ("x/y.go", b"")]),
            "both a file and a directory",
        ),
        (
            "go.mod below the root",
            module_zip(m, "v1.0.0", &[("go.mod", gm), ("sub/go.mod", b"module example.com/m/sub\n")]),
            "not in module root",
        ),
        ("go.mod upper case", module_zip(m, "v1.0.0", &[("GO.MOD", gm)]), "lower case"),
        (
            "go.mod for another module",
            module_zip(m, "v1.0.0", &[("go.mod", b"module example.com/other\n")]),
            "declares module",
        ),
        ("unclean path", module_zip(m, "v1.0.0", &[("go.mod", gm), ("a/./b.go", b"")]), "not clean"),
        ("dot-dot path", module_zip(m, "v1.0.0", &[("go.mod", gm), ("../b.go", b"")]), "not clean"),
        ("reserved name", module_zip(m, "v1.0.0", &[("go.mod", gm), ("aux.go", b"")]), "Windows"),
        ("bad character", module_zip(m, "v1.0.0", &[("go.mod", gm), ("a:b.go", b"")]), "invalid character"),
        ("duplicate file", duplicate_entry(), "multiple entries"),
    ];
    for (what, body, reason) in cases {
        let r = publish(&s, &cred, &body);
        if r.status != 400 || !r.text().contains(reason) {
            panic!("{what}: expected 400 mentioning {reason:?}\n{r}");
        }
        assert!(!r.text().trim().contains('\n'), "{what}: one-line reason\n{r}");
    }
    // Nothing of any of them is visible.
    let r = s.send(Request::get("/api/v1/packages/alice?type=go").auth(&cred));
    r.expect(200);
    eqnice!(Some(0), r.json().as_array().map(Vec::len), r);
    s.cli(&["verify"], None).expect_ok();
}

/// A zip holding `a.go` twice (zip writers refuse to make one, so the second name is patched).
fn duplicate_entry() -> Vec<u8> {
    let z = module_zip(
        "example.com/m",
        "v1.0.0",
        &[("go.mod", b"module example.com/m\n"), ("a.go", b"x"), ("b.go", b"y")],
    );
    let (from, to) = (b"example.com/m@v1.0.0/b.go", b"example.com/m@v1.0.0/a.go");
    let mut out = z.clone();
    for i in 0..=z.len() - from.len() {
        if &z[i..i + from.len()] == from {
            out[i..i + to.len()].copy_from_slice(to);
        }
    }
    assert_ne!(out, z);
    out
}

#[test]
fn size_limits_of_go_mod_license_and_the_unzipped_module() {
    let s = TestServer::start();
    let cred = alice(&s);
    let m = "example.com/big";
    let gm = format!("module {m}\n");
    let mut big_go_mod = gm.clone().into_bytes();
    big_go_mod.resize((16 << 20) + 1, b'\n');
    let r = publish(&s, &cred, &module_zip(m, "v1.0.0", &[("go.mod", &big_go_mod)]));
    r.expect(400);
    assert!(r.text().contains("go.mod file is larger"), "{r}");
    let big_license = vec![b'L'; (16 << 20) + 1];
    let r =
        publish(&s, &cred, &module_zip(m, "v1.0.0", &[("go.mod", gm.as_bytes()), ("LICENSE", &big_license)]));
    r.expect(400);
    assert!(r.text().contains("LICENSE file is larger"), "{r}");
    // 500 MiB + 1 of zeros compresses to well under a megabyte.
    let zeros = vec![0u8; (500 << 20) + 1];
    let r = publish(&s, &cred, &module_zip(m, "v1.0.0", &[("go.mod", gm.as_bytes()), ("zeros.bin", &zeros)]));
    r.expect(400);
    assert!(r.text().contains("total uncompressed size"), "{r}");
    // Exactly at the go.mod limit is fine.
    big_go_mod.truncate(16 << 20);
    publish(&s, &cred, &module_zip(m, "v1.0.0", &[("go.mod", &big_go_mod)])).expect(201);
}

#[test]
fn a_module_zip_over_the_file_size_limit_is_413_before_or_while_reading() {
    let s = TestServer::start_with(&["--max-file-size", "2000"]);
    let cred = alice(&s);
    let big = module_zip(
        "example.com/m",
        "v1.0.0",
        &[("go.mod", b"module example.com/m\n"), ("r.bin", &content_for("r", 8000))],
    );
    assert!(big.len() > 2000);
    publish(&s, &cred, &big).expect(413);
    // Without Content-Length (chunked), the limit is enforced as the body arrives.
    let mut raw = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        upload_path("alice"),
        cred.header().unwrap()
    )
    .into_bytes();
    raw.extend_from_slice(format!("{:x}\r\n", big.len()).as_bytes());
    raw.extend_from_slice(&big);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    s.raw(&raw).expect(413);
    s.send(Request::get(&proxy_path("alice", "example.com/m", "@v/list"))).expect(404);
}

#[test]
fn republishing_a_version_is_409_and_the_first_upload_is_kept() {
    let s = TestServer::start();
    let cred = alice(&s);
    let first = simple_module("example.com/m", "v1.0.0");
    publish(&s, &cred, &first).expect(201);
    let second = module_zip(
        "example.com/m",
        "v1.0.0",
        &[("go.mod", b"module example.com/m\n"), ("new.go", b"package m\n")],
    );
    publish(&s, &cred, &second).expect(409);
    s.send(Request::get(&proxy_path("alice", "example.com/m", "@v/v1.0.0.zip")))
        .expect(200)
        .expect_body(&first);
    s.cli(&["verify"], None).expect_ok();
}

#[test]
fn concurrent_uploads_of_one_module_version_yield_exactly_one_201() {
    let s = TestServer::start();
    let cred = alice(&s);
    let results: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (s, cred) = (&s, &cred);
                scope.spawn(move || {
                    let z = module_zip(
                        "example.com/race",
                        "v1.0.0",
                        &[
                            ("go.mod", b"module example.com/race\n"),
                            ("n.go", format!("package race // {i}\n").as_bytes()),
                        ],
                    );
                    publish(s, cred, &z).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eqnice!(1, results.iter().filter(|&&c| c == 201).count(), format!("{results:?}"));
    eqnice!(7, results.iter().filter(|&&c| c == 409).count(), format!("{results:?}"));
    s.cli(&["verify"], None).expect_ok();
}

#[test]
fn go_endpoints_follow_the_credential_and_visibility_rules() {
    let s = TestServer::start();
    let alice = alice(&s);
    let bob = s.add_user("bob", "bob-password", false);
    let carol = s.add_private_user("carol", "carol-password");
    let read_token = s.token("alice", "read");
    let z = simple_module("example.com/m", "v1.0.0");
    // Writing: anonymous 401, another user 403, a read token 403, the owner 201.
    s.send(Request::put(&upload_path("alice"), &z)).expect_401();
    s.send(Request::put(&upload_path("alice"), &z).auth(&bob)).expect(403);
    s.send(Request::put(&upload_path("alice"), &z).auth(&Cred::token(&read_token))).expect(403);
    s.send(Request::put(&upload_path("alice"), &z).auth(&Cred::basic("alice", "wrong"))).expect_401();
    s.send(Request::put(&upload_path("alice"), &z).auth(&alice)).expect(201);
    // Uploading to an owner that does not exist is 404 for an admin.
    let admin = s.add_user("root", "root-password", true);
    s.send(Request::put(&upload_path("nobody"), &z).auth(&admin)).expect(404);
    // A public owner's modules are readable by anyone.
    s.send(Request::get(&proxy_path("alice", "example.com/m", "@v/list"))).expect(200);
    // A private owner's modules: anonymous 401, a stranger 404, the owner and admins 200.
    let zc = module_zip("example.com/secret", "v1.0.0", &[("go.mod", b"module example.com/secret\n")]);
    s.send(Request::put(&upload_path("carol"), &zc).auth(&carol)).expect(201);
    for rest in ["@v/list", "@latest", "@v/v1.0.0.info", "@v/v1.0.0.mod", "@v/v1.0.0.zip"] {
        let p = proxy_path("carol", "example.com/secret", rest);
        s.send(Request::get(&p)).expect_401();
        s.send(Request::get(&p).auth(&bob)).expect(404);
        s.send(Request::get(&p).auth(&carol)).expect(200);
        s.send(Request::get(&p).auth(&admin)).expect(200);
    }
    // Organization members with write may publish; read members may only read.
    s.add_org("team", true);
    s.add_member("team", "bob", "write");
    s.add_user("dave", "dave-password", false);
    s.add_member("team", "dave", "read");
    let dave = Cred::basic("dave", "dave-password");
    let zt = module_zip("example.com/team", "v1.0.0", &[("go.mod", b"module example.com/team\n")]);
    s.send(Request::put(&upload_path("team"), &zt).auth(&dave)).expect(403);
    s.send(Request::put(&upload_path("team"), &zt).auth(&bob)).expect(201);
    s.send(Request::get(&proxy_path("team", "example.com/team", "@v/list")).auth(&dave)).expect(200);
    s.send(Request::get(&proxy_path("team", "example.com/team", "@v/list")).auth(&carol)).expect(404);
}

#[test]
fn the_management_api_lists_and_deletes_go_versions() {
    let s = TestServer::start();
    let cred = alice(&s);
    let m = "example.com/Mgmt";
    for v in ["v1.0.0", "v1.1.0", "v1.2.0-pre"] {
        publish(&s, &cred, &simple_module(m, v)).expect(201);
    }
    publish(&s, &cred, &simple_module("example.com/mgmt", "v0.9.9-other")).expect(201);
    let r = s.send(Request::get("/api/v1/packages/alice?type=go").auth(&cred));
    r.expect(200);
    let list = r.json();
    let names: Vec<&str> =
        list.as_array().unwrap().iter().filter_map(|p| p.get("name").and_then(Json::as_str)).collect();
    assert!(names.contains(&m) && names.contains(&"example.com/mgmt"), "{r}");
    let api = format!("/api/v1/packages/alice/go/{}", enc(m));
    let r = s.send(Request::get(&format!("{api}/-/latest")).auth(&cred));
    let j = r.expect(200).json();
    eqnice!(Some("v1.1.0"), j.get("version").and_then(Json::as_str), r);
    let files = s.send(Request::get(&format!("{api}/v1.0.0/files")).auth(&cred));
    files.expect(200);
    let zip = simple_module(m, "v1.0.0");
    let by_name: Vec<(String, String)> = files
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f.get("name").and_then(Json::as_str).unwrap().to_string(),
                f.get("sha256").and_then(Json::as_str).unwrap().to_string(),
            )
        })
        .collect();
    assert!(by_name.contains(&("v1.0.0.zip".to_string(), sha256_hex(&zip))), "{files}");
    assert!(by_name.iter().any(|(n, _)| n == "v1.0.0.mod"), "{files}");
    s.send(Request::delete(&format!("{api}/v1.0.0")).auth(&cred)).expect(204);
    s.send(Request::get(&proxy_path("alice", m, "@v/list"))).expect(200).expect_body(b"v1.1.0\nv1.2.0-pre\n");
    s.send(Request::get(&proxy_path("alice", m, "@v/v1.0.0.zip"))).expect(404);
    // The lower-case module is a different package and is untouched.
    s.send(Request::get(&proxy_path("alice", "example.com/mgmt", "@v/list")))
        .expect(200)
        .expect_body(b"v0.9.9-other\n");
    // A deleted version can be published again.
    publish(&s, &cred, &simple_module(m, "v1.0.0")).expect(201);
    s.cli(&["verify"], None).expect_ok();
}

#[test]
fn go_zip_builds_what_the_server_accepts_and_refuses_what_it_would_refuse() {
    let s = TestServer::start();
    let cred = alice(&s);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join(".git")).unwrap();
    std::fs::write(src.join("go.mod"), "module example.com/Zipped\n\ngo 1.19\n").unwrap();
    std::fs::write(src.join("z.go"), "package zipped\n").unwrap();
    std::fs::write(src.join(".git/config"), "x").unwrap();
    let out = dir.path().join("z.zip");
    let r = run_command(
        {
            let mut c = depot_command();
            c.args(["go", "zip"])
                .arg(&src)
                .args(["--module", "example.com/Zipped", "--version", "v1.0.0", "-o"])
                .arg(&out);
            c
        },
        None,
    );
    r.expect_ok();
    assert!(r.stderr().contains(".git"), "reports what it left out\n{r}");
    let zip = std::fs::read(&out).unwrap();
    publish(&s, &cred, &zip).expect(201);
    s.send(Request::get(&proxy_path("alice", "example.com/Zipped", "@v/v1.0.0.zip")))
        .expect(200)
        .expect_body(&zip);
    for (module, version, why) in [
        ("example.com/Zipped", "1.0.0", "canonical"),
        ("example.com/Other", "v1.0.0", "declares module"),
        ("example.com/Zipped", "v2.0.0", "/v2"),
    ] {
        let bad = dir.path().join("bad.zip");
        let mut c = depot_command();
        c.args(["go", "zip"]).arg(&src).args(["--module", module, "--version", version, "-o"]).arg(&bad);
        let r = run_command(c, None);
        r.expect_failure();
        assert!(r.stderr().contains(why), "{r}");
        assert!(!bad.exists(), "no partial output\n{r}");
    }
}

/// A file of a txtar archive: name and content, bytes as written.
type TxtarFile = (Vec<u8>, Vec<u8>);

/// A txtar archive (golang.org/x/tools/txtar): its comment and its files.
fn txtar(data: &[u8]) -> (Vec<u8>, Vec<TxtarFile>) {
    fn marker(line: &[u8]) -> Option<Vec<u8>> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let name = line.strip_prefix(b"-- ")?.strip_suffix(b" --")?;
        Some(name.trim_ascii().to_vec())
    }
    let mut comment = Vec::new();
    let mut files: Vec<TxtarFile> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        match (marker(line), files.last_mut()) {
            (Some(name), _) => files.push((name, Vec::new())),
            (None, Some((_, body))) => body.extend_from_slice(line),
            (None, None) => comment.extend_from_slice(line),
        }
    }
    (comment, files)
}

/// One of x/mod's test cases: `path=`, `version=`, `hash=` or `wantErr=` from the comment
/// (a `#` starts a remark), and the files.
struct XmodCase {
    name: String,
    path: Vec<u8>,
    version: String,
    hash: Option<String>,
    want_err: Option<String>,
    files: Vec<TxtarFile>,
}

fn xmod_cases(dir: &str) -> Vec<XmodCase> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xmod").join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let (comment, files) = txtar(&std::fs::read(&p).unwrap());
            let mut case = XmodCase {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                path: Vec::new(),
                version: String::new(),
                hash: None,
                want_err: None,
                files,
            };
            for line in comment.split(|&b| b == b'\n') {
                let line = line.split(|&b| b == b'#').next().unwrap().trim_ascii();
                let Some(eq) = line.iter().position(|&b| b == b'=') else { continue };
                let (key, value) = (&line[..eq], line[eq + 1..].trim_ascii());
                let text = String::from_utf8_lossy(value).into_owned();
                match key.trim_ascii() {
                    b"path" => case.path = value.to_vec(),
                    b"version" => case.version = text,
                    b"hash" => case.hash = Some(text),
                    b"wantErr" => case.want_err = Some(text),
                    other => panic!("{p:?}: unknown key {other:?}"),
                }
            }
            case
        })
        .collect()
}

/// The go.sum `h1:` hash of a module zip: x/mod's `dirhash.Hash1` over its entries.
fn h1_of_zip(zip: &[u8]) -> String {
    let mut z = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    let mut files = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name_raw().to_vec();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data).unwrap();
        files.push((name, data));
    }
    files.sort();
    let mut summary = Vec::new();
    for (name, data) in &files {
        summary.extend_from_slice(format!("{}  ", sha256_hex(data)).as_bytes());
        summary.extend_from_slice(name);
        summary.push(b'\n');
    }
    format!("h1:{}", base64(&sha256(&summary)))
}

/// A zip of exactly these entries, in order, even where no zip writer would make one (a name
/// twice, a name that is not UTF-8): such names are written under a stand-in of the same
/// length and patched afterwards.
fn zip_of_raw_names(entries: &[TxtarFile]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut patches = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, (name, data)) in entries.iter().enumerate() {
        let plain = std::str::from_utf8(name).ok().filter(|n| seen.insert(n.to_string()));
        let written = match plain {
            Some(n) => n.to_string(),
            None => {
                let stand_in = format!("{:~<width$}", format!("#{i}#"), width = name.len());
                assert_eq!(stand_in.len(), name.len());
                patches.push((stand_in.clone().into_bytes(), name.clone()));
                stand_in
            }
        };
        w.start_file(written, SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    let mut z = w.finish().unwrap().into_inner();
    for (from, to) in patches {
        for i in 0..=z.len() - from.len() {
            if z[i..i + from.len()] == from[..] {
                z[i..i + to.len()].copy_from_slice(&to);
            }
        }
    }
    z
}

/// x/mod's own `CreateFromDir` cases through `depot go zip`: each zip hashes to the `h1:`
/// x/mod's zip of the same directory hashes to (so go.sum agrees), and the server takes it;
/// each case x/mod refuses, depot refuses too, writing nothing.
#[test]
fn x_mod_create_from_dir_cases_agree_with_depot_go_zip() {
    use std::os::unix::ffi::OsStrExt;
    let s = TestServer::start();
    let cases = xmod_cases("create_from_dir");
    assert_eq!(cases.len(), 14);
    // depot's wording of the reason x/mod gives.
    let reasons = [
        ("bad_file_path", "bad.go'"),
        ("bad_gomod_case", "GO.MOD: go.mod files must have lowercase names"),
        ("bad_mod_path", "dot"),
        ("bad_mod_path_version_suffix", "/v2"),
        ("bad_version", "not canonical"),
        ("invalid_utf8_mod_path", "UTF-8"),
    ];
    const EMPTY_HASH: &str = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        for (name, data) in &case.files {
            let p = src.join(std::ffi::OsStr::from_bytes(name));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        let out = dir.path().join("out.zip");
        let mut c = depot_command();
        c.args(["go", "zip"]).arg(&src).arg("--module").arg(std::ffi::OsStr::from_bytes(&case.path));
        c.args(["--version", &case.version, "-o"]).arg(&out);
        let r = run_command(c, None);
        let name = case.name.as_str();
        match (&case.hash, &case.want_err) {
            // depot refuses a module with no files at all (so does its server), where x/mod
            // makes an empty zip.
            (Some(hash), None) if hash == EMPTY_HASH => {
                r.expect_failure();
                assert!(r.stderr().contains("empty"), "{name}\n{r}");
                assert!(!out.exists(), "{name}");
            }
            (Some(hash), None) => {
                r.expect_ok();
                let zip = std::fs::read(&out).unwrap();
                eqnice!(hash.as_str(), h1_of_zip(&zip), format!("{name}\n{r}"));
                // Every case is example.com/m@v1.0.0: each gets an owner of its own.
                let owner = name.replace('_', "-");
                let cred = s.add_user(&owner, "password-of-a-case", false);
                s.send(Request::put(&upload_path(&owner), &zip).auth(&cred)).expect(201);
            }
            (None, Some(_)) => {
                assert!(r.code() != Some(0), "{name}: x/mod refuses it\n{r}");
                let why = reasons.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name}")).1;
                assert!(r.stderr().contains(why), "{name}: want {why:?}\n{r}");
                assert!(!out.exists(), "{name}");
            }
            _ => panic!("{name}: a case has a hash or an error"),
        }
    }
}

/// x/mod's `Unzip` cases (which run `CheckZip`) as uploads: the zips x/mod extracts are
/// published, the ones it refuses are a 400.
#[test]
fn x_mod_unzip_cases_agree_with_the_upload_check() {
    let s = TestServer::start();
    let cases = xmod_cases("unzip");
    assert_eq!(cases.len(), 15);
    for case in cases {
        let name = case.name.as_str();
        let mut entries = case.files.clone();
        if entries.is_empty() && case.want_err.is_some() {
            // The error is about the module path or version, which depot reads from the
            // entries: give the zip one.
            let mut entry = case.path.clone();
            entry.extend_from_slice(format!("@{}/a.go", case.version).as_bytes());
            entries.push((entry, b"package a\n".to_vec()));
        }
        let zip = zip_of_raw_names(&entries);
        // Most cases are example.com/m@v1.0.0: each gets an owner of its own.
        let owner = name.replace('_', "-");
        let cred = s.add_user(&owner, "password-of-a-case", false);
        let r = s.send(Request::put(&upload_path(&owner), &zip).auth(&cred));
        match (&case.hash, &case.want_err) {
            (Some(hash), None) => {
                // The zip built here is the one x/mod hashed.
                eqnice!(hash.as_str(), h1_of_zip(&zip), name);
                if entries.is_empty() {
                    // depot refuses a module with no files, where x/mod extracts nothing.
                    r.expect(400);
                    assert!(r.text().contains("empty"), "{name}: {}", r.text());
                } else {
                    r.expect(201);
                }
            }
            (None, Some(want)) => {
                r.expect(400);
                assert!(r.text().starts_with("not a valid module zip"), "{name} ({want}): {}", r.text());
            }
            _ => panic!("{name}: a case has a hash or an error"),
        }
    }
}

/// `depot go zip DIR` for example.com/m@v1.0.0: the entries it wrote (in order) and its
/// stderr.
fn go_zip_entries(src: &std::path::Path) -> (Vec<String>, CmdOutput) {
    let out = src.parent().unwrap().join(format!("{}.zip", src.file_name().unwrap().to_string_lossy()));
    let mut c = depot_command();
    c.args(["go", "zip"]).arg(src).args(["--module", "example.com/m", "--version", "v1.0.0", "-o"]).arg(&out);
    let r = run_command(c, None);
    if r.code() != Some(0) {
        return (Vec::new(), r);
    }
    let mut z = zip::ZipArchive::new(Cursor::new(std::fs::read(&out).unwrap())).unwrap();
    let names = (0..z.len())
        .map(|i| {
            let name = String::from_utf8(z.by_index_raw(i).unwrap().name_raw().to_vec()).unwrap();
            name.strip_prefix("example.com/m@v1.0.0/").unwrap().to_string()
        })
        .collect();
    (names, r)
}

/// The three rules issue 15 found depot missing, through the real binary: the go 1.24
/// vendor rule, `.hg_archival.txt`, and a nested module whose go.mod is spelled `GO.MOD`.
#[test]
fn go_zip_applies_the_go_1_24_vendor_rule_hg_archival_and_go_mod_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let write = |root: &str, files: &[(&str, &str)]| {
        let src = dir.path().join(root);
        for (rel, data) in files {
            let p = src.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        src
    };
    let tree = |go: &str| {
        vec![
            ("go.mod", format!("module example.com/m\n\ngo {go}\n")),
            (".hg_archival.txt", "repo: 0123\nnode: 4567\n".to_string()),
            ("m.go", "package m\n".to_string()),
            ("capmod/GO.MOD", "MODULE EXAMPLE.COM/M/CAPMOD\n".to_string()),
            ("capmod/c.go", "package capmod\n".to_string()),
            ("pkg/vendor/vendor.go", "package vendor\n".to_string()),
            ("vendor/modules.txt", "# example.com/dep v1.0.0\n".to_string()),
            ("vendor/example.com/dep/dep.go", "package dep\n".to_string()),
        ]
    };
    for (go, want) in [
        ("1.23", &["go.mod", "m.go", "vendor/modules.txt"][..]),
        ("1.24", &["go.mod", "m.go", "pkg/vendor/vendor.go"][..]),
        ("1.25.3", &["go.mod", "m.go", "pkg/vendor/vendor.go"][..]),
    ] {
        let files = tree(go);
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, d)| (*p, d.as_str())).collect();
        let src = write(&format!("go{go}"), &refs);
        let (names, r) = go_zip_entries(&src);
        r.expect_ok();
        eqnice!(want, names.as_slice(), format!("go {go}\n{r}"));
        for left_out in [".hg_archival.txt", "capmod/GO.MOD", "capmod/c.go"] {
            assert!(r.stderr().contains(&format!("left out {left_out}:")), "go {go}: {left_out}\n{r}");
        }
    }
}
