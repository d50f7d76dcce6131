//! Credentials and permissions (docs/api.md): which credential forms work, and the exact
//! 401 / 403 / 404 decision for missing, bad, insufficient and hidden access.
//!
//! Users are created through the CLI; most requests use tokens, which keeps the suite from
//! paying an argon2 run per request where the password itself is not the point.

use crate::util::*;

const CHALLENGE: &str = "Basic realm=\"depot\"";

#[test]
fn every_credential_form_can_write_and_read_a_private_owner() {
    let srv = TestServer::start();
    let password = srv.add_private_user("alice", "alice-password");
    let token = srv.token("alice", "write");
    let forms = [
        ("Basic user:password", password),
        ("Basic user:token", Cred::basic("alice", &token)),
        ("Basic token:(empty)", Cred::basic(&token, "")),
        ("token T", Cred::token(&token)),
        ("Bearer T", Cred::bearer(&token)),
    ];
    for (i, (form, cred)) in forms.iter().enumerate() {
        let file = format!("f{i}.txt");
        let put = srv.upload(cred, "alice", "forms", "1", &file, form.as_bytes());
        if put.status != 201 {
            panic!("\ncredential form {form} must be able to upload\n{put}");
        }
        srv.download(&Cred::Anon, "alice", "forms", "1", &file).expect_401();
        for (reader_form, reader) in &forms {
            let get = srv.download(reader, "alice", "forms", "1", &file);
            if get.status != 200 {
                panic!("\ncredential form {reader_form} must be able to read a private owner's file\n{get}");
            }
            get.expect_body(form.as_bytes());
        }
    }
    // The management API accepts the same forms.
    for (form, cred) in &forms {
        let list = srv.send(Request::get("/api/v1/packages/alice").auth(cred));
        if list.status != 200 {
            panic!("\ncredential form {form} must work on /api/v1\n{list}");
        }
    }
}

#[test]
fn tokens_in_the_query_string_are_refused() {
    let srv = TestServer::start();
    srv.add_private_user("alice", "alice-password");
    let token = srv.token("alice", "write");
    let alice = Cred::token(&token);
    srv.upload(&alice, "alice", "q", "1", "f.txt", b"secret").expect(201);
    srv.add_org("pubco", false);
    srv.add_member("pubco", "alice", "write");
    srv.upload(&alice, "pubco", "q", "1", "f.txt", b"public").expect(201);

    let new_file = file_path("alice", "q", "1", "new.txt");
    let private_file = file_path("alice", "q", "1", "f.txt");
    let public_file = file_path("pubco", "q", "1", "f.txt");
    for param in ["token", "access_token"] {
        srv.send(Request::put(&format!("{new_file}?{param}={token}"), b"x")).expect_401();
        srv.send(Request::get(&format!("{private_file}?{param}={token}"))).expect_401();
        srv.send(Request::get(&format!("{public_file}?{param}={token}"))).expect_401();
        srv.send(Request::get(&format!("/api/v1/packages/alice?{param}={token}"))).expect_401();
    }
    srv.send(Request::get(&new_file).auth(&alice)).expect(404);
}

#[test]
fn bad_credentials_are_401_with_the_basic_challenge_even_where_none_are_needed() {
    // Two dozen failures from one address: a budget large enough that throttling (429, its
    // own tests in hostile.rs) stays out of the way.
    let srv = TestServer::start_with(&["--login-burst", "1000"]);
    srv.add_user("alice", "alice-password", false);
    let token = srv.token("alice", "write");
    srv.upload(&Cred::token(&token), "alice", "pub", "1", "f.txt", b"public").expect(201);

    let bogus = format!("depot_{}", "A".repeat(43));
    let bad = [
        ("wrong password", Cred::basic("alice", "not-the-password")),
        ("empty password", Cred::basic("alice", "")),
        ("unknown user", Cred::basic("mallory", "alice-password")),
        ("unknown token as password", Cred::basic("alice", &bogus)),
        ("unknown token as user", Cred::basic(&bogus, "")),
        ("unknown token", Cred::token(&bogus)),
        ("unknown bearer", Cred::bearer(&bogus)),
        ("mangled token", Cred::bearer(&token[..token.len() - 1])),
    ];
    for (what, cred) in &bad {
        for req in [
            Request::put(&file_path("alice", "pub", "1", "new.txt"), b"x"),
            Request::get(&file_path("alice", "pub", "1", "f.txt")),
            Request::get("/api/v1/packages/alice"),
        ] {
            let resp = srv.send(req.auth(cred));
            if resp.status != 401 || resp.header("WWW-Authenticate") != Some(CHALLENGE) {
                panic!("\n{what}: expected 401 with WWW-Authenticate: {CHALLENGE}\n{resp}");
            }
        }
    }
    let garbled = Request::get(&file_path("alice", "pub", "1", "f.txt"))
        .header("Authorization", "Basic !!!not-base64!!!");
    srv.send(garbled).expect_401();
    // The good password still works after all those failures.
    srv.download(&Cred::basic("alice", "alice-password"), "alice", "pub", "1", "f.txt").expect(200);
}

#[test]
fn missing_credentials_are_401_where_some_are_needed_and_fine_for_public_reads() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    srv.add_private_user("carol", "carol-password");
    let alice = Cred::token(&srv.token("alice", "write"));
    let carol = Cred::token(&srv.token("carol", "write"));
    srv.upload(&alice, "alice", "pkg", "1", "f.txt", b"public").expect(201);
    srv.upload(&carol, "carol", "pkg", "1", "f.txt", b"private").expect(201);

    srv.send(Request::put(&file_path("alice", "pkg", "1", "new.txt"), b"x")).expect_401();
    srv.send(Request::delete(&file_path("alice", "pkg", "1", "f.txt"))).expect_401();
    srv.send(Request::delete(&version_path("alice", "pkg", "1"))).expect_401();
    srv.send(Request::get(&file_path("alice", "pkg", "1", "f.txt")))
        .expect(200)
        .expect_no_header("WWW-Authenticate")
        .expect_body(b"public");
    srv.send(Request::head(&file_path("alice", "pkg", "1", "f.txt"))).expect(200);

    srv.send(Request::get(&file_path("carol", "pkg", "1", "f.txt"))).expect_401();
    srv.send(Request::head(&file_path("carol", "pkg", "1", "f.txt"))).expect_401();
    srv.send(Request::put(&file_path("carol", "pkg", "1", "new.txt"), b"x")).expect_401();
    srv.download(&carol, "carol", "pkg", "1", "f.txt").expect(200).expect_body(b"private");
}

#[test]
fn a_user_who_cannot_read_a_private_owner_gets_404_as_if_it_did_not_exist() {
    let srv = TestServer::start();
    srv.add_private_user("carol", "carol-password");
    srv.add_user("bob", "bob-password", false);
    let carol = Cred::token(&srv.token("carol", "write"));
    let bob = Cred::token(&srv.token("bob", "write"));
    srv.upload(&carol, "carol", "hidden", "1", "f.txt", b"private").expect(201);

    let existing = file_path("carol", "hidden", "1", "f.txt");
    let missing = file_path("carol", "hidden", "1", "nope.txt");
    for target in [&existing, &missing] {
        srv.send(Request::get(target).auth(&bob)).expect(404);
        srv.send(Request::head(target).auth(&bob)).expect(404);
        srv.send(Request::delete(target).auth(&bob)).expect(404);
    }
    srv.send(Request::put(&missing, b"x").auth(&bob)).expect(404);
    srv.send(Request::put(&file_path("carol", "brand-new", "1", "f.txt"), b"x").auth(&bob)).expect(404);
    srv.send(Request::delete(&version_path("carol", "hidden", "1")).auth(&bob)).expect(404);
    srv.download(&carol, "carol", "hidden", "1", "f.txt").expect(200).expect_body(b"private");
    srv.download(&carol, "carol", "hidden", "1", "nope.txt").expect(404);
}

#[test]
fn a_user_who_can_read_but_not_write_gets_403_on_put_and_delete() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let bob_password = srv.add_user("bob", "bob-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    let bob = Cred::token(&srv.token("bob", "write"));
    srv.upload(&alice, "alice", "pkg", "1", "f.txt", b"mine").expect(201);

    for cred in [&bob, &bob_password] {
        srv.send(Request::put(&file_path("alice", "pkg", "1", "new.txt"), b"x").auth(cred)).expect(403);
        srv.send(Request::put(&file_path("alice", "pkg", "1", "f.txt"), b"x").auth(cred)).expect(403);
        srv.send(Request::put(&file_path("alice", "other", "1", "f.txt"), b"x").auth(cred)).expect(403);
        srv.send(Request::delete(&file_path("alice", "pkg", "1", "f.txt")).auth(cred)).expect(403);
        srv.send(Request::delete(&version_path("alice", "pkg", "1")).auth(cred)).expect(403);
        srv.download(cred, "alice", "pkg", "1", "f.txt").expect(200).expect_body(b"mine");
    }
    srv.download(&Cred::Anon, "alice", "pkg", "1", "new.txt").expect(404);
}

#[test]
fn a_read_token_reads_private_packages_but_cannot_write_and_a_write_token_can() {
    let srv = TestServer::start();
    srv.add_private_user("carol", "carol-password");
    let read = Cred::token(&srv.token("carol", "read"));
    let write = Cred::token(&srv.token("carol", "write"));

    srv.upload(&write, "carol", "pkg", "1", "f.txt", b"data").expect(201);
    srv.download(&read, "carol", "pkg", "1", "f.txt").expect(200).expect_body(b"data");
    srv.download(&Cred::basic("carol", &srv.token("carol", "read")), "carol", "pkg", "1", "f.txt")
        .expect(200);

    srv.upload(&read, "carol", "pkg", "1", "g.txt", b"x").expect(403);
    srv.send(Request::delete(&file_path("carol", "pkg", "1", "f.txt")).auth(&read)).expect(403);
    srv.send(Request::delete(&version_path("carol", "pkg", "1")).auth(&read)).expect(403);
    srv.download(&write, "carol", "pkg", "1", "g.txt").expect(404);

    srv.upload(&write, "carol", "pkg", "1", "g.txt", b"g").expect(201);
    srv.send(Request::delete(&file_path("carol", "pkg", "1", "f.txt")).auth(&write)).expect(204);
    srv.send(Request::delete(&version_path("carol", "pkg", "1")).auth(&write)).expect(204);
    srv.download(&write, "carol", "pkg", "1", "g.txt").expect(404);
}

#[test]
fn a_revoked_token_is_401_and_other_tokens_keep_working() {
    let srv = TestServer::start();
    srv.add_private_user("alice", "alice-password");
    let (label, revoked) = srv.token_labeled("alice", "write");
    let kept = srv.token("alice", "write");
    srv.upload(&Cred::token(&revoked), "alice", "pkg", "1", "f.txt", b"x").expect(201);

    srv.cli(&["token", "revoke", "alice", &label], None).expect_ok();
    for cred in [
        Cred::token(&revoked),
        Cred::bearer(&revoked),
        Cred::basic("alice", &revoked),
        Cred::basic(&revoked, ""),
    ] {
        srv.upload(&cred, "alice", "pkg", "1", "g.txt", b"x").expect_401();
        srv.download(&cred, "alice", "pkg", "1", "f.txt").expect_401();
    }
    srv.download(&Cred::token(&kept), "alice", "pkg", "1", "f.txt").expect(200).expect_body(b"x");
    srv.upload(&Cred::token(&kept), "alice", "pkg", "1", "g.txt", b"g").expect(201);
}

#[test]
fn private_organization_members_read_or_write_by_role_and_others_see_nothing() {
    let srv = TestServer::start();
    srv.add_org("acme", true);
    for user in ["rita", "wade", "nina"] {
        srv.add_user(user, &format!("{user}-password"), false);
    }
    srv.add_member("acme", "rita", "read");
    srv.add_member("acme", "wade", "write");
    let rita = Cred::token(&srv.token("rita", "write"));
    let wade = Cred::token(&srv.token("wade", "write"));
    let wade_read = Cred::token(&srv.token("wade", "read"));
    let nina = Cred::token(&srv.token("nina", "write"));

    srv.upload(&wade, "acme", "tool", "1", "a.bin", b"org data").expect(201);
    srv.download(&wade, "acme", "tool", "1", "a.bin").expect(200).expect_body(b"org data");
    srv.download(&wade_read, "acme", "tool", "1", "a.bin").expect(200);
    srv.upload(&wade_read, "acme", "tool", "1", "b.bin", b"x").expect(403);

    srv.download(&rita, "acme", "tool", "1", "a.bin").expect(200).expect_body(b"org data");
    srv.upload(&rita, "acme", "tool", "1", "b.bin", b"x").expect(403);
    srv.send(Request::delete(&file_path("acme", "tool", "1", "a.bin")).auth(&rita)).expect(403);
    srv.send(Request::delete(&version_path("acme", "tool", "1")).auth(&rita)).expect(403);

    srv.download(&nina, "acme", "tool", "1", "a.bin").expect(404);
    srv.upload(&nina, "acme", "tool", "1", "b.bin", b"x").expect(404);
    srv.send(Request::delete(&file_path("acme", "tool", "1", "a.bin")).auth(&nina)).expect(404);

    srv.download(&Cred::Anon, "acme", "tool", "1", "a.bin").expect_401();
    srv.upload(&Cred::Anon, "acme", "tool", "1", "b.bin", b"x").expect_401();

    srv.send(Request::delete(&file_path("acme", "tool", "1", "a.bin")).auth(&wade)).expect(204);
    srv.download(&wade, "acme", "tool", "1", "a.bin").expect(404);
}

#[test]
fn a_public_organization_is_readable_by_all_and_writable_only_by_write_members() {
    let srv = TestServer::start();
    srv.add_org("pubco", false);
    srv.add_user("wade", "wade-password", false);
    srv.add_user("nina", "nina-password", false);
    srv.add_member("pubco", "wade", "write");
    let wade = Cred::token(&srv.token("wade", "write"));
    let nina = Cred::token(&srv.token("nina", "write"));

    srv.upload(&wade, "pubco", "lib", "1", "a.bin", b"public org").expect(201);
    srv.download(&Cred::Anon, "pubco", "lib", "1", "a.bin").expect(200).expect_body(b"public org");
    srv.download(&nina, "pubco", "lib", "1", "a.bin").expect(200);
    srv.upload(&nina, "pubco", "lib", "1", "b.bin", b"x").expect(403);
    srv.send(Request::delete(&version_path("pubco", "lib", "1")).auth(&nina)).expect(403);
    srv.upload(&Cred::Anon, "pubco", "lib", "1", "b.bin", b"x").expect_401();
}

#[test]
fn an_admin_reads_and_writes_everything() {
    let srv = TestServer::start();
    let root_password = srv.add_user("root", "root-password", true);
    srv.add_private_user("carol", "carol-password");
    srv.add_org("acme", true);
    let root = Cred::token(&srv.token("root", "write"));
    let carol = Cred::token(&srv.token("carol", "write"));
    srv.upload(&carol, "carol", "mine", "1", "f.txt", b"carol's").expect(201);

    srv.download(&root, "carol", "mine", "1", "f.txt").expect(200).expect_body(b"carol's");
    srv.download(&root_password, "carol", "mine", "1", "f.txt").expect(200);
    srv.upload(&root, "carol", "mine", "1", "by-admin.txt", b"admin").expect(201);
    srv.download(&carol, "carol", "mine", "1", "by-admin.txt").expect(200).expect_body(b"admin");
    srv.send(Request::delete(&file_path("carol", "mine", "1", "f.txt")).auth(&root)).expect(204);

    srv.upload(&root, "acme", "tool", "1", "a.bin", b"org").expect(201);
    srv.download(&root, "acme", "tool", "1", "a.bin").expect(200).expect_body(b"org");
    srv.send(Request::delete(&version_path("acme", "tool", "1")).auth(&root)).expect(204);
}

#[test]
fn a_private_users_packages_are_visible_to_the_owner_only() {
    let srv = TestServer::start();
    let carol_password = srv.add_private_user("carol", "carol-password");
    srv.add_user("bob", "bob-password", false);
    let carol = Cred::token(&srv.token("carol", "write"));
    let bob = Cred::token(&srv.token("bob", "write"));
    srv.upload(&carol, "carol", "diary", "1", "d.txt", b"dear diary").expect(201);

    srv.download(&carol_password, "carol", "diary", "1", "d.txt").expect(200).expect_body(b"dear diary");
    srv.download(&bob, "carol", "diary", "1", "d.txt").expect(404);
    srv.download(&Cred::Anon, "carol", "diary", "1", "d.txt").expect_401();

    srv.send(Request::get("/api/v1/packages/carol").auth(&carol)).expect(200);
    srv.send(Request::get("/api/v1/packages/carol").auth(&bob)).expect(404);
    srv.send(Request::get("/api/v1/packages/carol")).expect_401();
    srv.send(Request::get(&api_version_path("carol", "diary", None)).auth(&bob)).expect(404);
    srv.send(Request::get(&api_version_path("carol", "diary", Some("1"))).auth(&bob)).expect(404);
    srv.send(Request::get(&format!("{}/files", api_version_path("carol", "diary", Some("1")))).auth(&bob))
        .expect(404);
}

#[test]
fn a_password_change_takes_effect_at_once() {
    let srv = TestServer::start();
    let old = srv.add_user("alice", "old-password", false);
    srv.upload(&old, "alice", "pkg", "1", "a.txt", b"a").expect(201);
    srv.upload(&old, "alice", "pkg", "1", "b.txt", b"b").expect(201);

    srv.cli(&["user", "passwd", "alice", "--password-stdin"], Some("new-password\n")).expect_ok();
    srv.upload(&old, "alice", "pkg", "1", "c.txt", b"c").expect_401();
    srv.upload(&Cred::basic("alice", "new-password"), "alice", "pkg", "1", "c.txt", b"c").expect(201);
}

#[test]
fn a_deleted_user_can_no_longer_authenticate() {
    let srv = TestServer::start();
    let dave = srv.add_user("dave", "dave-password", false);
    let token = srv.token("dave", "write");
    srv.send(Request::get("/api/v1/packages/dave").auth(&dave)).expect(200);

    srv.cli(&["user", "delete", "dave"], None).expect_ok();
    srv.send(Request::get("/api/v1/packages/dave").auth(&dave)).expect_401();
    srv.send(Request::get("/api/v1/packages/dave").auth(&Cred::token(&token))).expect_401();
    srv.upload(&Cred::token(&token), "dave", "pkg", "1", "f.txt", b"x").expect_401();
}

#[test]
fn a_removed_member_loses_access_to_a_private_organization() {
    let srv = TestServer::start();
    srv.add_org("acme", true);
    srv.add_user("wade", "wade-password", false);
    srv.add_member("acme", "wade", "write");
    let wade = Cred::token(&srv.token("wade", "write"));
    srv.upload(&wade, "acme", "tool", "1", "a.bin", b"x").expect(201);

    srv.cli(&["org", "member", "remove", "acme", "wade"], None).expect_ok();
    srv.download(&wade, "acme", "tool", "1", "a.bin").expect(404);
    srv.upload(&wade, "acme", "tool", "1", "b.bin", b"y").expect(404);
}

/// No secret reaches the log at any level: passwords (sent in Basic, in JSON bodies and on
/// the CLI's stdin), tokens (in each credential form, right and wrong, and as created), and the
/// base64 of a Basic header.
#[test]
fn no_secret_appears_in_the_log_even_at_trace_level() {
    let db = TestDb::new();
    let root = db.add_user("root", "root-Pa55word-secret", true);
    let srv = TestServer::start_setup(db, ServeSetup::args(&[]).env("DEPOT_LOG", "trace"));
    let mut secrets = vec!["root-Pa55word-secret".to_owned()];
    let created = srv.send(
        Request::json(
            "POST",
            "/api/v1/admin/users",
            r#"{"username":"eve","password":"eve-Pa55word-secret"}"#,
        )
        .auth(&root),
    );
    created.expect(201);
    secrets.push("eve-Pa55word-secret".into());
    srv.send(
        Request::json("PATCH", "/api/v1/admin/users/eve", r#"{"password":"eve-N3w-secret"}"#).auth(&root),
    )
    .expect(200);
    secrets.push("eve-N3w-secret".into());
    let eve = Cred::basic("eve", "eve-N3w-secret");
    let made = srv.send(
        Request::json("POST", "/api/v1/users/eve/tokens", r#"{"name":"ci","scope":"write"}"#).auth(&eve),
    );
    let token = made.expect(201).json()["token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    let cli_token = srv.token("eve", "read");
    secrets.push(cli_token.clone());
    let wrong_token = format!("{}x", &token[..token.len() - 1]);
    secrets.push(wrong_token.clone());
    let forms = [
        eve.clone(),
        Cred::basic("eve", "wrong-Pa55word-secret"),
        Cred::basic("eve", &token),
        Cred::basic(&token, ""),
        Cred::token(&token),
        Cred::bearer(&cli_token),
        Cred::bearer(&wrong_token),
        Cred::token(&wrong_token),
    ];
    secrets.push("wrong-Pa55word-secret".into());
    for cred in &forms {
        let _ = srv.upload(cred, "eve", "p", "1", "f", b"x");
        let _ = srv.download(cred, "eve", "p", "1", "f");
        let _ = srv.send(Request::get("/api/v1/packages/eve").auth(cred));
    }
    let _ = srv.send(Request::get(&format!("/api/v1/packages/eve?token={token}")));
    srv.send(Request::delete("/api/v1/users/eve/tokens/ci").auth(&eve)).expect(204);
    // A malformed request, whose connection error is logged at debug level: proof that the
    // server did log below info.
    let bad = format!(
        "GET / HTTP/1.1\r\nAuthorization: Basic {}\r\nBad Header\r\n\r\n",
        base64(b"eve:eve-N3w-secret")
    );
    let _ = srv.raw(bad.as_bytes());
    assert!(srv.wait_for_log("DEBUG"), "the log is not at trace level:\n{}", srv.log());
    let log = srv.log();
    let basic = |u: &str, p: &str| base64(format!("{u}:{p}").as_bytes());
    let encoded = [basic("eve", "eve-N3w-secret"), basic("root", "root-Pa55word-secret"), basic(&token, "")];
    for s in secrets.iter().map(String::as_str).chain(encoded.iter().map(String::as_str)) {
        assert!(!log.contains(s), "secret {s:?} appears in the log:\n{log}");
    }
}

#[test]
fn an_admin_read_token_reads_everything_but_writes_nothing() {
    let srv = TestServer::start();
    let alice = srv.add_private_user("alice", "alice-password");
    srv.add_user("root", "root-password", true);
    srv.upload(&alice, "alice", "p", "1", "f", b"x").expect(201);
    let read = Cred::token(&srv.token("root", "read"));
    srv.download(&read, "alice", "p", "1", "f").expect(200);
    srv.upload(&read, "alice", "p", "1", "g", b"y").expect(403);
    srv.send(Request::delete("/api/packages/alice/generic/p/1/f").auth(&read)).expect(403);
    srv.send(Request::delete("/api/v1/packages/alice/generic/p/1").auth(&read)).expect(403);
    srv.download(&alice, "alice", "p", "1", "f").expect(200);
}

/// Tokens are stored only as sha256 hashes and passwords only as argon2id hashes: neither
/// secret is anywhere in the database file.
#[test]
fn the_database_file_holds_no_token_or_password() {
    let db = TestDb::new();
    db.add_user("alice", "alice-Pa55word-in-clear", false);
    let token = db.token("alice", "write");
    let bytes = std::fs::read(db.path()).unwrap();
    let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!holds(token.as_bytes()), "the token is stored in clear");
    assert!(!holds(&token.as_bytes()[6..30]), "part of the token is stored in clear");
    assert!(!holds(b"alice-Pa55word-in-clear"), "the password is stored in clear");
    assert!(holds(b"$argon2id$"), "no argon2id hash in the file: is this the database?");
    assert!(holds(&sha256(token.as_bytes())), "the token's sha256 is not stored");
}

// ---- Credentials and memberships answered from memory, and forgotten when they change ----
//
// A recently seen credential, its user and the membership it needs are decided from memory
// (no store read); each test below first proves a download is answered from memory (the
// small-file cache only answers after access was decided there), then changes one thing
// through the CLI or the API and checks that the very next request sees the change.

/// File downloads answered from memory so far.
#[track_caller]
fn memory_hits(srv: &TestServer) -> u64 {
    srv.metric("depot_cache_file_hits_total")
}

/// Downloads a file twice and checks that the second time it was answered from memory.
#[track_caller]
fn download_from_memory(srv: &TestServer, cred: &Cred, owner: &str, file: &str, body: &[u8]) {
    srv.download(cred, owner, "hot", "1", file).expect(200).expect_body(body);
    let before = memory_hits(srv);
    srv.download(cred, owner, "hot", "1", file).expect(200).expect_body(body);
    assert_eq!(memory_hits(srv), before + 1, "the second download of {owner}/{file} must come from memory");
}

/// A stream of uploads must not send every client back to the database: new files change
/// nothing memory holds, so a token and a hot file stay answered from memory across them,
/// while a delete (which does change it) is seen on the very next request.
#[test]
fn uploads_keep_what_memory_holds_and_a_delete_is_seen_at_once() {
    let srv = TestServer::start();
    srv.add_private_user("alice", "alice-password");
    let alice = Cred::token(&srv.token("alice", "write"));
    srv.upload(&alice, "alice", "hot", "1", "f.txt", b"private").expect(201);
    download_from_memory(&srv, &alice, "alice", "f.txt", b"private");
    for i in 0..3 {
        srv.upload(&alice, "alice", "hot", "1", &format!("new-{i}.txt"), b"more").expect(201);
        srv.upload(&alice, "alice", "other", &format!("{i}"), "g.txt", b"more").expect(201);
        let before = memory_hits(&srv);
        srv.download(&alice, "alice", "hot", "1", "f.txt").expect(200).expect_body(b"private");
        assert_eq!(
            memory_hits(&srv),
            before + 1,
            "after upload {i} the hot file must still come from memory"
        );
    }
    srv.download(&alice, "alice", "hot", "1", "new-0.txt").expect(200).expect_body(b"more");
    srv.send(Request::delete(&file_path("alice", "hot", "1", "f.txt")).auth(&alice)).expect(204);
    srv.download(&alice, "alice", "hot", "1", "f.txt").expect(404);
}

#[test]
fn a_token_revoked_through_the_cli_or_the_api_is_refused_on_the_very_next_request() {
    let srv = TestServer::start();
    let password = srv.add_private_user("alice", "alice-password");
    let (cli_label, by_cli) = srv.token_labeled("alice", "write");
    let (api_label, by_api) = srv.token_labeled("alice", "read");
    let kept = Cred::token(&srv.token("alice", "write"));
    srv.upload(&kept, "alice", "hot", "1", "f.txt", b"private").expect(201);

    for cred in [Cred::token(&by_cli), Cred::basic("alice", &by_cli), Cred::basic(&by_cli, "")] {
        download_from_memory(&srv, &cred, "alice", "f.txt", b"private");
    }
    srv.cli(&["token", "revoke", "alice", &cli_label], None).expect_ok();
    for cred in
        [Cred::token(&by_cli), Cred::bearer(&by_cli), Cred::basic("alice", &by_cli), Cred::basic(&by_cli, "")]
    {
        srv.download(&cred, "alice", "hot", "1", "f.txt").expect_401();
        srv.upload(&cred, "alice", "hot", "1", "g.txt", b"x").expect_401();
    }

    download_from_memory(&srv, &Cred::token(&by_api), "alice", "f.txt", b"private");
    let revoke = Request::delete(&format!("/api/v1/users/alice/tokens/{api_label}")).auth(&password);
    srv.send(revoke).expect(204);
    srv.download(&Cred::token(&by_api), "alice", "hot", "1", "f.txt").expect_401();
    download_from_memory(&srv, &kept, "alice", "f.txt", b"private");
}

#[test]
fn a_deleted_user_is_refused_on_the_very_next_request_though_just_answered_from_memory() {
    let srv = TestServer::start();
    let dave_password = srv.add_user("dave", "dave-password", false);
    let dave = Cred::token(&srv.token("dave", "write"));
    srv.add_org("pubco", false);
    srv.add_member("pubco", "dave", "write");
    srv.upload(&dave, "pubco", "hot", "1", "f.txt", b"public").expect(201);
    download_from_memory(&srv, &dave, "pubco", "f.txt", b"public");
    download_from_memory(&srv, &dave_password, "pubco", "f.txt", b"public");

    srv.cli(&["user", "delete", "dave"], None).expect_ok();
    srv.download(&dave, "pubco", "hot", "1", "f.txt").expect_401();
    srv.download(&dave_password, "pubco", "hot", "1", "f.txt").expect_401();
    srv.upload(&dave, "pubco", "hot", "1", "g.txt", b"x").expect_401();
    // A new user of the same name does not inherit the old one's token or password.
    srv.add_user("dave", "other-password", false);
    srv.download(&dave, "pubco", "hot", "1", "f.txt").expect_401();
    srv.download(&dave_password, "pubco", "hot", "1", "f.txt").expect_401();
    download_from_memory(&srv, &Cred::Anon, "pubco", "f.txt", b"public");
}

#[test]
fn a_changed_password_is_refused_on_the_very_next_request_and_the_new_one_accepted() {
    let srv = TestServer::start();
    let old = srv.add_private_user("alice", "old-password");
    let token = Cred::basic("alice", &srv.token("alice", "write"));
    srv.upload(&old, "alice", "hot", "1", "f.txt", b"mine").expect(201);
    download_from_memory(&srv, &old, "alice", "f.txt", b"mine");

    srv.cli(&["user", "passwd", "alice", "--password-stdin"], Some("new-password\n")).expect_ok();
    srv.download(&old, "alice", "hot", "1", "f.txt").expect_401();
    srv.upload(&old, "alice", "hot", "1", "g.txt", b"x").expect_401();
    download_from_memory(&srv, &Cred::basic("alice", "new-password"), "alice", "f.txt", b"mine");
    // Tokens do not depend on the password.
    download_from_memory(&srv, &token, "alice", "f.txt", b"mine");

    // The same through the admin API.
    let root = srv.add_user("root", "root-password", true);
    let patch = Request::json("PATCH", "/api/v1/admin/users/alice", r#"{"password":"third-password"}"#);
    srv.send(patch.auth(&root)).expect(200);
    srv.download(&Cred::basic("alice", "new-password"), "alice", "hot", "1", "f.txt").expect_401();
    download_from_memory(&srv, &Cred::basic("alice", "third-password"), "alice", "f.txt", b"mine");
}

#[test]
fn membership_changes_take_effect_on_the_very_next_request() {
    let srv = TestServer::start();
    srv.add_org("acme", true);
    srv.add_user("wade", "wade-password", false);
    srv.add_user("rita", "rita-password", false);
    srv.add_member("acme", "wade", "write");
    let wade = Cred::token(&srv.token("wade", "write"));
    let rita = Cred::token(&srv.token("rita", "write"));
    srv.upload(&wade, "acme", "hot", "1", "f.txt", b"org").expect(201);

    // Not a member: hidden, twice (the second time from memory).
    srv.download(&rita, "acme", "hot", "1", "f.txt").expect(404);
    srv.download(&rita, "acme", "hot", "1", "f.txt").expect(404);
    // Added with read: reads, and cannot write.
    srv.add_member("acme", "rita", "read");
    download_from_memory(&srv, &rita, "acme", "f.txt", b"org");
    srv.upload(&rita, "acme", "hot", "1", "g.txt", b"x").expect(403);
    srv.upload(&rita, "acme", "hot", "1", "g.txt", b"x").expect(403);
    // Role changed to write: writes at once.
    srv.add_member("acme", "rita", "write");
    srv.upload(&rita, "acme", "hot", "1", "g.txt", b"g").expect(201);
    // Removed: hidden at once, though just answered from memory.
    download_from_memory(&srv, &rita, "acme", "g.txt", b"g");
    srv.cli(&["org", "member", "remove", "acme", "rita"], None).expect_ok();
    srv.download(&rita, "acme", "hot", "1", "g.txt").expect(404);
    srv.upload(&rita, "acme", "hot", "1", "h.txt", b"x").expect(404);
    // Another member is untouched.
    download_from_memory(&srv, &wade, "acme", "g.txt", b"g");
}
