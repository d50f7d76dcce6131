//! Issue 10, a newcomer's first hour, checked against the binary: commands that only read refuse
//! a missing database and name its absolute path; a command that creates one says so; the
//! database and its backups are owner-only whatever the umask; a failed start creates nothing;
//! the first-admin hint works as printed; errors name what they are about; plain HTTP on the TLS
//! port gets a readable 400 (in `tls.rs`); sizes take units; JSON bodies end with a newline.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::util::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// `depot ARGS…` run under `umask`, through `sh` (setting the umask in-process would need
/// unsafe code), with the same clean environment as [`depot_command`].
fn depot_under_umask(umask: &str, args: &[&str], stdin: Option<&str>) -> CmdOutput {
    let mut cmd = Command::new("sh");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DEPOT_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd.arg("-c").arg(format!("umask {umask}; exec \"$0\" \"$@\"")).arg(BIN).args(args);
    run_command(cmd, stdin)
}

#[test]
fn commands_that_only_read_or_change_refuse_a_missing_database_and_name_it() {
    let db = TestDb::new();
    let abs = db.path().display().to_string();
    let commands: &[&[&str]] = &[
        &["user", "list"],
        &["user", "delete", "bob"],
        &["token", "list", "bob"],
        &["token", "create", "bob"],
        &["org", "add", "team"],
        &["quota", "show"],
        &["verify"],
        &["compact"],
    ];
    for args in commands {
        let out = db.cli(args, None);
        out.expect_failure();
        assert!(
            out.stderr().contains(&format!("no database at {abs}")),
            "{args:?} must name the path\n{out}"
        );
        assert!(out.stderr().contains("--db"), "{args:?} must say how to name another file\n{out}");
        assert!(!db.path().exists(), "{args:?} created {abs}");
    }
    // A `user add` that fails (a bad name) may not leave the database it would have created.
    let out = db.cli(&["user", "add", "no/slash", "--password-stdin"], Some("pw\n"));
    out.expect_failure();
    assert!(!db.path().exists(), "a failed user add left {abs}\n{out}");
    // A relative --db (the default ./depot.redb) is named by its absolute path.
    let mut cmd = depot_command();
    cmd.current_dir(db.dir()).args(["user", "list"]);
    let out = run_command(cmd, None);
    out.expect_failure();
    assert!(out.stderr().contains(&format!("no database at {abs}")), "{out}");
    assert!(!db.path().exists());
}

#[test]
fn user_add_creates_the_database_says_where_and_makes_it_owner_only_whatever_the_umask() {
    for umask in ["022", "000"] {
        let db = TestDb::new();
        let path = db.path().to_str().expect("a UTF-8 temporary path");
        let out = depot_under_umask(
            umask,
            &["--db", path, "user", "add", "alice", "--password-stdin"],
            Some("pw\n"),
        );
        out.expect_ok();
        assert!(out.stderr().contains(&format!("created a new database {path}")), "umask {umask}\n{out}");
        eqnice!(0o600, mode(db.path()), format!("database mode under umask {umask}"));

        // Opening it again is not creating it.
        let out = depot_under_umask(umask, &["--db", path, "user", "list"], None);
        out.expect_ok();
        assert!(!out.stderr().contains("created"), "{out}");

        // A backup holds the same secrets: owner-only too, and no temporary file is left.
        let backup = db.dir().join("backup.redb");
        let out = depot_under_umask(umask, &["--db", path, "backup", backup.to_str().expect("UTF-8")], None);
        out.expect_ok();
        eqnice!(0o600, mode(&backup), format!("backup mode under umask {umask}"));
        let names: Vec<String> = std::fs::read_dir(db.dir())
            .expect("list the directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "temporary files left: {names:?}");
    }
}

#[test]
fn serve_makes_an_owner_only_database_and_a_failed_start_creates_nothing() {
    // The port is taken: the start fails before any file is made.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let db = TestDb::new();
    let out = db.cli(&["serve", "--listen", &addr], None);
    out.expect_code(1);
    assert!(out.stderr().contains(&format!("listening on {addr}")), "{out}");
    let left: Vec<_> = std::fs::read_dir(db.dir()).expect("list").collect();
    assert!(left.is_empty(), "a failed start left {left:?}");

    let srv = TestServer::start();
    eqnice!(0o600, mode(&srv.db_path()), "the database serve created");
    assert!(
        srv.wait_for_log(&format!("created a new database {}", srv.db_path().display())),
        "{}",
        srv.log()
    );
}

#[test]
fn the_first_admin_hint_is_a_command_that_works_as_printed() {
    let srv = TestServer::start();
    assert!(srv.wait_for_log("no users yet"), "{}", srv.log());
    let log = srv.log();
    let line = log.lines().find(|l| l.contains("no users yet")).expect("the hint line");
    let command = line.split_once(" with: ").expect("the hint gives a command").1.trim();
    // The test binary is not on PATH, so the hint must name it by its path.
    let exe = std::fs::canonicalize(BIN).expect("the binary's path");
    assert!(command.contains(&format!("| {} --db ", exe.display())), "{command}");
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(command).env_remove("DEPOT_DB");
    let out = run_command(sh, None);
    out.expect_ok();
    let users = srv.cli(&["user", "list"], None);
    users.expect_ok();
    assert!(users.stdout().starts_with("admin\tadmin\t"), "{users}");
    // And the password it was given is the one that signs in.
    let res = srv.send(Request::get("/api/v1/admin/users").auth(&Cred::basic("admin", "PASSWORD")));
    eqnice!(200, res.status, res.to_string());
}

/// One line of text, ending in a newline, that contains every one of `needles`.
#[track_caller]
fn says(res: &Response, status: u16, needles: &[&str]) {
    eqnice!(status, res.status, res.to_string());
    let text = res.text();
    assert!(text.ends_with('\n') && text.trim_end().lines().count() == 1, "not one line:\n{res}");
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from the reason:\n{res}");
    }
}

#[test]
fn http_errors_name_what_they_are_about() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-password", false);
    let bob = srv.add_user("bob", "bob-password", false);
    srv.add_private_user("carol", "carol-password");
    let read = Cred::token(&srv.token("alice", "read"));
    eqnice!(201, srv.upload(&alice, "alice", "tool", "1.0.0", "Tool.bin", b"one").status, srv.log());

    // 404: which of owner, package, version and file is missing.
    says(
        &srv.download(&alice, "nobody", "tool", "1.0.0", "Tool.bin"),
        404,
        &[r#"no user or organization named "nobody""#],
    );
    says(
        &srv.download(&alice, "alice", "other", "1.0.0", "Tool.bin"),
        404,
        &[r#"alice has no generic package "other""#],
    );
    says(
        &srv.download(&alice, "alice", "tool", "9.9.9", "Tool.bin"),
        404,
        &[r#"generic package alice/tool has no version "9.9.9""#],
    );
    says(&srv.download(&alice, "alice", "tool", "1.0.0", "x.bin"), 404, &[r#"has no file "x.bin""#, "1.0.0"]);
    let del = srv.send(Request::delete(&file_path("alice", "tool", "1.0.0", "x.bin")).auth(&alice));
    says(&del, 404, &[r#"has no file "x.bin""#]);
    says(
        &srv.send(Request::get("/api/v1/packages/alice/generic/other").auth(&alice)),
        404,
        &[r#"alice has no generic package "other""#],
    );
    says(
        &srv.send(Request::get("/api/packages/alice/go/example.com/m/@v/list")),
        404,
        &[r#"alice has no Go module "example.com/m""#],
    );
    // A private owner hidden from bob reads exactly like one that does not exist.
    let hidden = srv.download(&bob, "carol", "tool", "1.0.0", "a.bin");
    let absent = srv.download(&bob, "carlo", "tool", "1.0.0", "a.bin");
    says(&hidden, 404, &[r#"no user or organization named "carol""#]);
    eqnice!(absent.text().replace("carlo", "carol"), hidden.text(), "hidden vs absent");
    says(&srv.send(Request::get("/api/nothing-here")), 404, &["no endpoint GET /api/nothing-here"]);

    // 409 names the file, and the stored spelling when only the case differs.
    says(
        &srv.upload(&alice, "alice", "tool", "1.0.0", "Tool.bin", b"two"),
        409,
        &[r#"already has a file "Tool.bin""#],
    );
    says(
        &srv.upload(&alice, "alice", "TOOL", "1.0.0", "TOOL.BIN", b"two"),
        409,
        &[r#"already has a file "Tool.bin""#, "differ only in case"],
    );
    // 403: a read-only token says so; a user without write access is told what writing needs.
    says(&srv.upload(&read, "alice", "tool", "2.0.0", "a.bin", b"x"), 403, &["read scope"]);
    says(&srv.upload(&bob, "alice", "tool", "2.0.0", "a.bin", b"x"), 403, &["may read", "write role"]);
    // 401 says what to send.
    says(&srv.send(Request::put(&file_path("alice", "tool", "2.0.0", "a.bin"), b"x")), 401, &["token"]);

    // JSON answers end their line too.
    let list = srv.send(Request::get("/api/v1/packages/alice").auth(&alice));
    eqnice!(200, list.status, list.to_string());
    assert!(list.text().ends_with("]\n"), "{list}");
}

#[test]
fn cli_errors_name_what_they_are_about() {
    let db = TestDb::new();
    db.add_user("alice", "pw", false);
    let fails = |args: &[&str], needle: &str| {
        let out = db.cli(args, None);
        out.expect_failure();
        assert!(out.stderr().contains(needle), "{args:?}: {needle:?} missing\n{out}");
    };
    fails(&["org", "add", "alice"], r#"a user or organization named "alice" already exists"#);
    fails(&["token", "list", "zed"], r#"no user named "zed""#);
    fails(&["token", "revoke", "alice", "laptop"], r#"alice has no token labelled "laptop""#);
    fails(&["quota", "set", "zed", "--max-bytes", "1G"], r#"no user or organization named "zed""#);
    db.add_org("team", false);
    fails(&["org", "member", "add", "team", "zed", "--role", "read"], r#"no user named "zed""#);
    fails(&["org", "member", "add", "nope", "alice", "--role", "read"], r#"no organization named "nope""#);
    fails(&["org", "member", "remove", "team", "alice"], "alice is not a member of team");
}

#[test]
fn sizes_take_units_on_the_command_line() {
    let srv = TestServer::start_with(&["--max-file-size", "1KiB"]);
    let alice = srv.add_user("alice", "alice-password", false);
    eqnice!(201, srv.upload(&alice, "alice", "t", "1", "a.bin", &[7; KIB]).status, srv.log());
    eqnice!(413, srv.upload(&alice, "alice", "t", "1", "b.bin", &[7; KIB + 1]).status, srv.log());

    let db = TestDb::new();
    db.add_user("alice", "pw", false);
    db.cli(&["quota", "set", "alice", "--max-bytes", "2M"], None).expect_ok();
    let shown = db.cli(&["quota", "show", "alice"], None);
    shown.expect_ok();
    eqnice!("alice\t0\t2097152\t0\tunlimited\n", shown.stdout(), shown.to_string());
    db.cli(&["quota", "set", "alice", "--max-bytes", "2 parsecs"], None).expect_usage_error();
}
