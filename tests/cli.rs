//! The command line (docs/cli.md, shapes and stdout formats): exit codes 0/1/2,
//! machine-readable stdout, one-line reasons on stderr, with no server (the CLI opens the
//! database file) and with a server running (the CLI goes through its socket).

use crate::util::*;

/// `depot_` followed by 43 base64url characters (256 random bits).
#[track_caller]
fn assert_token_shape(token: &str, context: &CmdOutput) {
    let ok = token.len() == 49
        && token.starts_with("depot_")
        && token[6..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    assert!(ok, "token {token:?} is not depot_ + 43 base64url characters\n{context}");
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn user_add_and_list_without_a_server() {
    let db = TestDb::new();
    // Listing creates nothing: a missing database is an error (issue 10).
    db.cli(&["user", "list"], None).expect_failure();

    db.add_user("root", "root-password", true);
    db.add_private_user("carol", "carol-password");
    db.add_user("bob", "bob-password", false);
    let list = db.cli(&["user", "list"], None);
    list.expect_ok();
    eqnice!(
        vec!["bob\tuser\tpublic\t0\t0", "carol\tuser\tprivate\t0\t0", "root\tadmin\tpublic\t0\t0"],
        sorted(list.stdout_lines()),
        list
    );
    // Both flags together.
    db.cli(&["user", "add", "boss", "--admin", "--private", "--password-stdin"], Some("boss-password\n"))
        .expect_ok();
    let list = db.cli(&["user", "list"], None);
    assert!(list.stdout_lines().contains(&"boss\tadmin\tprivate\t0\t0".to_owned()), "{list}");
}

#[test]
fn failures_exit_1_with_a_one_line_reason() {
    let db = TestDb::new();
    db.add_user("alice", "alice-password", false);
    db.add_org("acme", false);

    let failures: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["user", "add", "alice", "--password-stdin"], Some("other-password\n")),
        (vec!["user", "add", "ALICE", "--password-stdin"], Some("other-password\n")),
        (vec!["user", "add", "acme", "--password-stdin"], Some("other-password\n")),
        (vec!["org", "add", "alice"], None),
        (vec!["org", "add", "ACME"], None),
        (vec!["user", "add", "empty", "--password-stdin"], Some("\n")),
        (vec!["user", "add", "nothing", "--password-stdin"], Some("")),
        (vec!["user", "delete", "nobody"], None),
        (vec!["user", "passwd", "nobody", "--password-stdin"], Some("x-password\n")),
        (vec!["token", "create", "nobody", "--name", "x"], None),
        (vec!["token", "list", "nobody"], None),
        (vec!["token", "revoke", "alice", "no-such-label"], None),
        (vec!["org", "member", "add", "acme", "nobody", "--role", "read"], None),
        (vec!["org", "member", "add", "no-such-org", "alice", "--role", "read"], None),
    ];
    for (args, stdin) in failures {
        db.cli(&args, stdin).expect_failure();
    }
    // Nothing above changed the accounts.
    let list = db.cli(&["user", "list"], None);
    eqnice!(vec!["alice\tuser\tpublic\t0\t0"], list.stdout_lines(), list);

    let mut missing_dir = depot_command();
    missing_dir.arg("--db").arg(db.dir().join("no/such/dir/depot.redb")).args(["user", "list"]);
    run_command(missing_dir, None).expect_failure();
}

#[test]
fn bad_usage_exits_2_with_nothing_on_stdout() {
    let db = TestDb::new();
    db.add_user("alice", "alice-password", false);
    db.add_org("acme", false);
    let cases: Vec<Vec<&str>> = vec![
        vec!["user"],
        vec!["user", "frobnicate"],
        vec!["user", "add"],
        vec!["user", "add", "bob"],
        vec!["user", "list", "extra"],
        vec!["--no-such-flag", "user", "list"],
        vec!["token", "create"],
        vec!["token", "create", "alice", "--scope", "admin"],
        vec!["token", "create", "alice", "--expires-in-days", "soon"],
        vec!["token", "revoke", "alice"],
        vec!["org", "member", "add", "acme", "alice", "--role", "owner"],
        vec!["org", "member", "add", "acme", "alice"],
        vec!["serve", "--listen"],
        vec!["backup"],
    ];
    for args in cases {
        let out = db.cli(&args, Some("bob-password\n"));
        out.expect_usage_error();
        eqnice!("", out.stdout(), out);
    }
    let list = db.cli(&["user", "list"], None);
    eqnice!(vec!["alice\tuser\tpublic\t0\t0"], list.stdout_lines(), list);
}

#[test]
fn token_create_prints_one_line_that_works_as_a_credential() {
    let db = TestDb::new();
    db.add_private_user("alice", "alice-password");
    let out = db.cli(&["token", "create", "alice", "--name", "ci", "--scope", "write"], None);
    out.expect_ok();
    let token = out.stdout().trim_end_matches('\n').to_owned();
    eqnice!(format!("{token}\n"), out.stdout(), out);
    assert_token_shape(&token, &out);

    // The default scope is write.
    let default = db.cli(&["token", "create", "alice", "--name", "default-scope"], None);
    default.expect_ok();
    let default_token = default.stdout().trim().to_owned();
    assert_token_shape(&default_token, &default);
    assert_ne!(token, default_token, "two tokens must differ");

    let srv = TestServer::start_on(db, &[]);
    srv.upload(&Cred::bearer(&token), "alice", "pkg", "1", "f.txt", b"made offline").expect(201);
    srv.upload(&Cred::token(&default_token), "alice", "pkg", "1", "g.txt", b"g").expect(201);
    srv.download(&Cred::basic(&token, ""), "alice", "pkg", "1", "f.txt")
        .expect(200)
        .expect_body(b"made offline");

    // And while the server runs.
    let live = srv.cli(&["token", "create", "alice", "--name", "live", "--scope", "read"], None);
    live.expect_ok();
    eqnice!(1, live.stdout_lines().len(), live);
    let live_token = live.stdout().trim().to_owned();
    assert_token_shape(&live_token, &live);
    srv.download(&Cred::token(&live_token), "alice", "pkg", "1", "f.txt").expect(200);
    srv.upload(&Cred::token(&live_token), "alice", "pkg", "1", "h.txt", b"h").expect(403);
}

#[test]
fn token_list_and_revoke_shapes() {
    let db = TestDb::new();
    db.add_user("alice", "alice-password", false);
    let ci = db.cli(
        &["token", "create", "alice", "--name", "ci", "--scope", "read", "--expires-in-days", "30"],
        None,
    );
    ci.expect_ok();
    let secret = ci.stdout().trim().to_owned();
    db.cli(&["token", "create", "alice", "--name", "deploy"], None).expect_ok();
    db.cli(&["token", "create", "alice"], None).expect_ok();
    db.cli(&["token", "create", "alice", "--name", "ci"], None).expect_failure();

    let list = db.cli(&["token", "list", "alice"], None);
    list.expect_ok();
    assert!(!list.stdout().contains(&secret), "token list shows a secret\n{list}");
    let rows: Vec<Vec<String>> =
        list.stdout_lines().iter().map(|l| l.split('\t').map(str::to_owned).collect()).collect();
    eqnice!(3, rows.len(), list);
    for row in &rows {
        eqnice!(4, row.len(), format!("LABEL<TAB>SCOPE<TAB>created<TAB>expires\n{list}"));
        assert!(is_rfc3339(&row[2]), "created {:?}\n{list}", row[2]);
        assert!(row[3] == "never" || is_rfc3339(&row[3]), "expires {:?}\n{list}", row[3]);
    }
    let find = |label: &str| rows.iter().find(|r| r[0] == label).cloned();
    let ci_row = find("ci").unwrap_or_else(|| panic!("ci missing\n{list}"));
    eqnice!("read", ci_row[1], list);
    assert!(is_rfc3339(&ci_row[3]), "ci expires {:?}\n{list}", ci_row[3]);
    assert!(ci_row[3] > ci_row[2], "expiry is after creation\n{list}");
    let deploy = find("deploy").unwrap_or_else(|| panic!("deploy missing\n{list}"));
    eqnice!(vec!["deploy", "write"], deploy[..2].to_vec(), list);
    eqnice!("never", deploy[3], list);
    let default = rows.iter().find(|r| {
        let Some((time, tag)) = r[0].strip_prefix("token-").and_then(|t| t.split_once('-')) else {
            return false;
        };
        !time.is_empty()
            && time.bytes().all(|b| b.is_ascii_digit())
            && tag.bytes().all(|b| b.is_ascii_hexdigit())
    });
    let default = default.unwrap_or_else(|| panic!("no token-<unix time>-<hex> label\n{list}"));
    eqnice!("write", default[1], list);

    let revoke = db.cli(&["token", "revoke", "alice", "ci"], None);
    revoke.expect_ok();
    eqnice!("", revoke.stdout(), revoke);
    let after = db.cli(&["token", "list", "alice"], None);
    after.expect_ok();
    eqnice!(2, after.stdout_lines().len(), after);
    assert!(!after.stdout_lines().iter().any(|l| l.starts_with("ci\t")), "{after}");
    db.cli(&["token", "revoke", "alice", "ci"], None).expect_failure();

    let srv = TestServer::start_on(db, &[]);
    srv.download(&Cred::token(&secret), "alice", "x", "1", "f").expect_401();
}

#[test]
fn org_commands_without_a_server_take_effect_when_it_starts() {
    let db = TestDb::new();
    db.add_user("wade", "wade-password", false);
    db.add_user("rita", "rita-password", false);
    db.add_org("acme", true);
    db.add_member("acme", "wade", "write");
    db.add_member("acme", "rita", "write");
    db.cli(&["org", "member", "remove", "acme", "rita"], None).expect_ok();
    let wade = db.token("wade", "write");
    let rita = db.token("rita", "write");

    let srv = TestServer::start_on(db, &[]);
    srv.upload(&Cred::token(&wade), "acme", "tool", "1", "a.bin", b"org").expect(201);
    srv.download(&Cred::token(&rita), "acme", "tool", "1", "a.bin").expect(404);
    srv.download(&Cred::Anon, "acme", "tool", "1", "a.bin").expect_401();
}

#[test]
fn admin_commands_work_while_the_server_runs() {
    let srv = TestServer::start();
    // A user created through the running server can authenticate at once.
    srv.cli(&["user", "add", "alice", "--password-stdin"], Some("alice-password\n")).expect_ok();
    srv.upload(&Cred::basic("alice", "alice-password"), "alice", "pkg", "1", "a.txt", b"a").expect(201);

    let list = srv.cli(&["user", "list"], None);
    list.expect_ok();
    eqnice!(vec!["alice\tuser\tpublic\t1\t1"], list.stdout_lines(), list);

    let (label, token) = srv.token_labeled("alice", "write");
    srv.upload(&Cred::bearer(&token), "alice", "pkg", "1", "b.txt", b"b").expect(201);

    srv.add_org("acme", true);
    srv.upload(&Cred::token(&token), "acme", "tool", "1", "a.bin", b"x").expect(404);
    srv.add_member("acme", "alice", "write");
    srv.upload(&Cred::token(&token), "acme", "tool", "1", "a.bin", b"x").expect(201);

    srv.cli(&["user", "passwd", "alice", "--password-stdin"], Some("changed-password\n")).expect_ok();
    srv.send(Request::get("/api/v1/packages/alice").auth(&Cred::basic("alice", "alice-password")))
        .expect_401();
    srv.send(Request::get("/api/v1/packages/alice").auth(&Cred::basic("alice", "changed-password")))
        .expect(200);

    srv.cli(&["token", "revoke", "alice", &label], None).expect_ok();
    srv.upload(&Cred::token(&token), "alice", "pkg", "1", "c.txt", b"c").expect_401();

    srv.cli(&["user", "add", "ALICE", "--password-stdin"], Some("x-password\n")).expect_failure();
    let out = srv.cli(&["token", "create", "alice"], None);
    out.expect_ok();
    eqnice!(1, out.stdout_lines().len(), out);
}

#[test]
fn the_database_can_be_named_by_depot_db() {
    let db = TestDb::new();
    let mut add = depot_command();
    add.env("DEPOT_DB", db.path()).args(["user", "add", "alice", "--password-stdin"]);
    run_command(add, Some("alice-password\n")).expect_ok();
    let list = db.cli(&["user", "list"], None);
    eqnice!(vec!["alice\tuser\tpublic\t0\t0"], list.stdout_lines(), list);

    let mut list_env = depot_command();
    list_env.env("DEPOT_DB", db.path()).args(["user", "list"]);
    let out = run_command(list_env, None);
    out.expect_ok();
    eqnice!(vec!["alice\tuser\tpublic\t0\t0"], out.stdout_lines(), out);
}

#[test]
fn serve_on_a_fresh_database_logs_how_to_create_the_first_admin_once() {
    let mut srv = TestServer::start();
    assert!(srv.wait_for_log("user add"), "no first-admin hint\n{}", srv.log());
    srv.send(Request::get("/healthz")).expect(200);
    let status = srv.terminate();
    let log = srv.log();
    assert!(status.success(), "SIGTERM must stop the server with exit 0: {status}\n{log}");
    let hints: Vec<&str> = log.lines().filter(|l| l.contains("user add")).collect();
    eqnice!(1, hints.len(), format!("one hint line naming `user add`\n{log}"));
    assert!(hints[0].contains("--admin"), "the hint names --admin\n{log}");

    // Once there is a user the hint is gone.
    srv.add_user("root", "root-password", true);
    srv.restart();
    srv.send(Request::get("/healthz")).expect(200);
    let status = srv.terminate();
    let log = srv.log();
    assert!(status.success(), "exit status {status}\n{log}");
    assert!(!log.contains("user add"), "no hint on a database with users\n{log}");
}

#[test]
fn user_delete_is_refused_while_the_user_owns_packages() {
    let srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    srv.add_user("bob", "bob-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    srv.upload(&alice, "alice", "pkg", "1", "f.txt", b"x").expect(201);

    srv.cli(&["user", "delete", "alice"], None).expect_failure();
    srv.download(&alice, "alice", "pkg", "1", "f.txt").expect(200);

    srv.send(Request::delete(&version_path("alice", "pkg", "1")).auth(&alice)).expect(204);
    srv.cli(&["user", "delete", "alice"], None).expect_ok();
    srv.cli(&["user", "delete", "bob"], None).expect_ok();
    let list = srv.cli(&["user", "list"], None);
    list.expect_ok();
    eqnice!("", list.stdout(), list);
}

#[test]
fn user_passwd_and_delete_without_a_server() {
    let db = TestDb::new();
    db.add_user("alice", "old-password", false);
    db.add_user("bob", "bob-password", false);
    db.cli(&["user", "passwd", "alice", "--password-stdin"], Some("new-password\n")).expect_ok();
    db.cli(&["user", "passwd", "alice", "--password-stdin"], Some("\n")).expect_failure();
    db.cli(&["user", "delete", "bob"], None).expect_ok();

    let srv = TestServer::start_on(db, &[]);
    let api = "/api/v1/packages/alice";
    srv.send(Request::get(api).auth(&Cred::basic("alice", "old-password"))).expect_401();
    srv.send(Request::get(api).auth(&Cred::basic("alice", "new-password"))).expect(200);
    srv.send(Request::get("/api/v1/packages/bob").auth(&Cred::basic("bob", "bob-password"))).expect_401();
}

#[test]
fn verify_works_with_and_without_a_server() {
    let mut srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let token = srv.token("alice", "write");
    let alice = Cred::token(&token);
    let files: Vec<(String, Vec<u8>)> =
        [("small.txt", 10), ("medium.bin", 100 * KIB), ("large.bin", 2 * MIB + 3), ("same.bin", 10)]
            .iter()
            .map(|(name, len)| (name.to_string(), content_for(name, *len)))
            .collect();
    for (name, body) in &files {
        srv.upload(&alice, "alice", "data", "1", name, body).expect(201);
    }
    srv.upload(&alice, "alice", "data", "1", "copy.txt", &files[0].1).expect(201);

    // While running, through the socket.
    let out = srv.cli(&["verify"], None);
    out.expect_ok();
    assert!(out.stdout().contains("5 files, 4 blobs"), "{}", out.stdout());
    assert!(out.stdout().contains("0 problems"), "{}", out.stdout());

    // Without a server, on the file itself.
    let status = srv.terminate();
    assert!(status.success(), "exit status {status}\n{}", srv.log());
    let out = srv.cli(&["verify"], None);
    out.expect_ok();
    assert!(out.stdout().contains("5 files, 4 blobs"), "{}", out.stdout());
    srv.restart();
    for (name, body) in &files {
        srv.download(&alice, "alice", "data", "1", name).expect(200).expect_body(body);
    }
}

#[test]
fn a_user_holds_at_most_100_tokens() {
    let db = TestDb::new();
    db.add_user("alice", "alice-password", false);
    for i in 0..100 {
        db.cli(&["token", "create", "alice", "--name", &format!("t{i}")], None).expect_ok();
    }
    let refused = db.cli(&["token", "create", "alice", "--name", "one-too-many"], None);
    refused.expect_failure();
    assert!(refused.stderr().contains("at most 100 tokens"), "{refused}");
    db.cli(&["token", "revoke", "alice", "t0"], None).expect_ok();
    db.cli(&["token", "create", "alice", "--name", "one-too-many"], None).expect_ok();
}
