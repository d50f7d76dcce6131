//! docs/cli.md backup, verify, compact: `depot backup` under a concurrent upload/delete load (the copy opens,
//! passes verify, and holds a state that existed), `depot verify` on injected damage and
//! `--repair`, `depot compact` online and offline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use crate::util::*;

/// What the load did to one file name: when its upload was acknowledged and (if it was)
/// when its deletion was.
#[derive(Clone, Debug, Default)]
struct Life {
    size: usize,
    acked: Option<Instant>,
    deleted: Option<Instant>,
    /// Deletion requested (its outcome may be unknown at backup time).
    delete_sent: Option<Instant>,
}

#[test]
fn a_backup_under_upload_and_delete_load_is_a_state_that_existed() {
    let srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    let lives: Arc<Mutex<BTreeMap<String, Life>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let addr = srv.addr();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (lives, stop, cred) = (lives.clone(), stop.clone(), cred.clone());
            thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("w{t}-{i}.bin");
                    let size = [10, 70_000, 1_500_000, 4096][i % 4];
                    let body = content_for(&name, size);
                    lives.lock().unwrap().insert(name.clone(), Life { size, ..Life::default() });
                    let r = send_to(
                        addr,
                        &Request::put(&file_path("alice", "load", "1", &name), &body).auth(&cred),
                    )
                    .unwrap();
                    assert_eq!(r.status, 201, "{r}");
                    lives.lock().unwrap().get_mut(&name).unwrap().acked = Some(Instant::now());
                    // Every third file is deleted again.
                    if i.is_multiple_of(3) {
                        lives.lock().unwrap().get_mut(&name).unwrap().delete_sent = Some(Instant::now());
                        let r = send_to(
                            addr,
                            &Request::delete(&file_path("alice", "load", "1", &name)).auth(&cred),
                        )
                        .unwrap();
                        assert_eq!(r.status, 204, "{r}");
                        lives.lock().unwrap().get_mut(&name).unwrap().deleted = Some(Instant::now());
                    }
                    i += 1;
                }
            })
        })
        .collect();
    // Let the load build up, then back up while it goes on.
    while lives.lock().unwrap().values().filter(|l| l.acked.is_some()).count() < 40 {
        thread::sleep(std::time::Duration::from_millis(20));
    }
    let backup = srv.db_dir().join("backup.redb");
    let started = Instant::now();
    let out = srv.cli(&["backup", backup.to_str().unwrap()], None);
    let finished = Instant::now();
    out.expect_ok();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    eqnice!(
        format!("{}\t{}", backup.display(), std::fs::metadata(&backup).unwrap().len()),
        out.stdout().trim().to_string(),
        out
    );
    assert!(out.stderr().contains("backup:"), "progress on stderr\n{out}");
    // The copy opens as a normal database: verify passes and a server serves it.
    let copy = TestDb::copy_of(&backup);
    copy.cli(&["verify"], None).expect_ok();
    let restored = TestServer::start_on(copy, &[]);
    let lives = lives.lock().unwrap().clone();
    let mut present = 0;
    for (name, life) in &lives {
        let r = restored.send(Request::get(&file_path("alice", "load", "1", name)).auth(&cred));
        let acked_before = life.acked.is_some_and(|t| t < started);
        let gone_before = life.deleted.is_some_and(|t| t < started);
        let deletion_after = life.delete_sent.is_none_or(|t| t > finished);
        if r.status == 200 {
            present += 1;
            r.expect_body(&content_for(name, life.size));
            assert!(!gone_before, "{name} was deleted before the backup started, yet it is in the copy");
        } else {
            r.expect(404);
            assert!(
                !(acked_before && deletion_after),
                "{name} was acknowledged before the backup started and not deleted until after it, yet it is missing"
            );
        }
    }
    assert!(present > 0, "the copy holds files");
    // The source is untouched and still consistent.
    srv.cli(&["verify"], None).expect_ok();
}

#[test]
fn backup_works_on_a_stopped_database_and_refuses_to_overwrite_the_database() {
    let mut srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    let body = content_for("stopped", 3 * MIB + 7);
    srv.upload(&cred, "alice", "p", "1", "f.bin", &body).expect(201);
    srv.terminate();
    let db = srv.db_path();
    let out = srv.cli(&["backup", db.to_str().unwrap()], None);
    out.expect_failure();
    let copy_path = srv.db_dir().join("copy.redb");
    srv.cli(&["backup", copy_path.to_str().unwrap()], None).expect_ok();
    let copy = TestServer::start_on(TestDb::copy_of(&copy_path), &[]);
    copy.download(&cred, "alice", "p", "1", "f.bin").expect(200).expect_body(&body);
    // No temporary file is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(srv.db_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn verify_names_a_flipped_byte_in_stored_content_and_repair_does_not_hide_it() {
    let mut srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    // A distinctive pattern that occurs once in the file.
    let mut body = b"DEPOT-DAMAGE-MARKER-".repeat(400);
    body.extend_from_slice(&content_for("damage", 10_000));
    srv.upload(&cred, "alice", "p", "1", "victim.bin", &body).expect(201);
    srv.upload(&cred, "alice", "p", "1", "intact.bin", &content_for("intact", 5000)).expect(201);
    srv.terminate();
    let path = srv.db_path();
    let mut bytes = std::fs::read(&path).unwrap();
    let at =
        bytes.windows(20).position(|w| w == b"DEPOT-DAMAGE-MARKER-").expect("the content is in the file");
    bytes[at + 5] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let out = srv.cli(&["verify"], None);
    out.expect_code(1);
    assert!(out.stdout().contains("content does not match its sha256"), "{out}");
    let out = srv.cli(&["verify", "--repair"], None);
    out.expect_code(1);
    assert!(out.stdout().contains("content does not match its sha256"), "{out}");
    // The server still serves the intact file.
    srv.restart();
    srv.download(&cred, "alice", "p", "1", "intact.bin")
        .expect(200)
        .expect_body(&content_for("intact", 5000));
}

#[test]
fn compact_returns_space_after_mass_deletion_online_and_offline() {
    let mut srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    for i in 0..24 {
        srv.upload(
            &cred,
            "alice",
            "bulk",
            &format!("{i}"),
            "f.bin",
            &content_for(&format!("bulk{i}"), MIB + i),
        )
        .expect(201);
    }
    let keep = content_for("keep", 100_000);
    srv.upload(&cred, "alice", "keep", "1", "k.bin", &keep).expect(201);
    for i in 0..24 {
        srv.send(Request::delete(&version_path("alice", "bulk", &format!("{i}"))).auth(&cred)).expect(204);
    }
    let size = |s: &TestServer| std::fs::metadata(s.db_path()).unwrap().len();
    let before = size(&srv);
    // Online: through the running server, which keeps serving afterwards.
    let out = srv.cli(&["compact"], None);
    out.expect_ok();
    let fields: Vec<u64> = out.stdout().trim().split('\t').map(|f| f.parse().unwrap()).collect();
    eqnice!(2, fields.len(), out);
    assert!(fields[1] < fields[0], "compaction shrinks the file\n{out}");
    assert!(
        size(&srv) < before / 2,
        "24 MiB deleted of ~25: the file shrinks by far more than half ({before} -> {})",
        size(&srv)
    );
    srv.download(&cred, "alice", "keep", "1", "k.bin").expect(200).expect_body(&keep);
    srv.upload(&cred, "alice", "after", "1", "a.bin", b"written after compaction").expect(201);
    srv.cli(&["verify"], None).expect_ok();
    // Offline: on the file directly.
    srv.terminate();
    srv.cli(&["compact"], None).expect_ok();
    srv.cli(&["verify"], None).expect_ok();
}

/// Disk space the file takes: blocks in use, as `du` counts them.
fn blocks_used(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// `BYTES_BEFORE<TAB>BYTES_AFTER` of a successful `depot compact`.
#[track_caller]
fn compacted(out: &CmdOutput) -> (u64, u64) {
    out.expect_ok();
    let fields: Vec<u64> = out.stdout().trim().split('\t').map(|f| f.parse().unwrap()).collect();
    eqnice!(2, fields.len(), out);
    (fields[0], fields[1])
}

/// Fills a database with `n` files of 1 MiB + a kept file, and deletes the `n`.
fn churn(srv: &TestServer, cred: &Cred, n: usize) -> Vec<u8> {
    for i in 0..n {
        let body = content_for(&format!("churn{i}"), MIB);
        srv.upload(cred, "alice", "churn", &format!("{i}"), "f.bin", &body).expect(201);
    }
    let keep = content_for("keep", 3 * MIB);
    srv.upload(cred, "alice", "keep", "1", "k.bin", &keep).expect(201);
    for i in 0..n {
        srv.send(Request::delete(&version_path("alice", "churn", &format!("{i}"))).auth(cred)).expect(204);
    }
    keep
}

#[test]
fn compact_reports_disk_space_in_use_so_a_second_compaction_claims_nothing() {
    let srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    let keep = churn(&srv, &cred, 12);
    let (before1, after1) = compacted(&srv.cli(&["compact"], None));
    assert!(after1 < before1, "the first compaction frees the deleted files: {before1} -> {after1}");
    eqnice!(blocks_used(&srv.db_path()), after1, "after is the space the file takes now");
    // The next write grows the file by a sparse region that takes no space.
    srv.upload(&cred, "alice", "small", "1", "s.bin", b"one small write").expect(201);
    let gauge = srv.metric("depot_store_bytes");
    eqnice!(blocks_used(&srv.db_path()), gauge, "/metrics reports the space taken, not the length");
    let (before2, after2) = compacted(&srv.cli(&["compact"], None));
    // One small write takes a few pages; a sparse region would count megabytes.
    assert!(
        before2 <= after1 + (256 << 10),
        "the second compaction starts from about where the first ended: {after1} then {before2}"
    );
    assert!(after2 <= before2, "{before2} -> {after2}");
    srv.download(&cred, "alice", "keep", "1", "k.bin").expect(200).expect_body(&keep);
    srv.cli(&["verify"], None).expect_ok();
}

#[test]
fn online_compaction_longer_than_the_pause_limit_is_refused_unless_allowed() {
    let mut srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    let keep = churn(&srv, &cred, 12);
    let db = srv.db_path();
    let (len, used) = (std::fs::metadata(&db).unwrap().len(), blocks_used(&db));
    // This database's pause is estimated in milliseconds: a limit below it is one it exceeds.
    let out = srv.cli(&["compact", "--max-pause", "0.001"], None);
    out.expect_failure();
    let err = out.stderr();
    eqnice!(1, err.lines().count(), out);
    for part in
        ["would stall every request for about", " s (estimated from ", "stop the server", "--allow-pause"]
    {
        assert!(err.contains(part), "the refusal says {part:?}:\n{out}");
    }
    eqnice!("", out.stdout(), out);
    eqnice!((len, used), (std::fs::metadata(&db).unwrap().len(), blocks_used(&db)), "nothing was compacted");
    srv.download(&cred, "alice", "keep", "1", "k.bin").expect(200).expect_body(&keep);
    // Accepting the pause knowingly compacts the same database online.
    let (before, after) = compacted(&srv.cli(&["compact", "--allow-pause"], None));
    assert!(after < before / 2, "12 of 15 MiB were deleted: {before} -> {after}");
    srv.download(&cred, "alice", "keep", "1", "k.bin").expect(200).expect_body(&keep);
    srv.upload(&cred, "alice", "after", "1", "a.bin", b"written after compaction").expect(201);
    srv.cli(&["compact", "--max-pause", "abc"], None).expect_usage_error();
    // A stopped database holds no request up: the limit does not apply.
    srv.terminate();
    compacted(&srv.cli(&["compact", "--max-pause", "0"], None));
    srv.cli(&["verify"], None).expect_ok();
}

#[test]
fn storage_and_version_quotas_refuse_with_507_and_store_nothing() {
    let srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    srv.cli(&["quota", "set", "alice", "--max-bytes", "10000", "--max-versions", "2"], None).expect_ok();
    srv.upload(&cred, "alice", "p", "1", "a.bin", &content_for("a", 6000)).expect(201);
    // Past the byte limit: 507, nothing stored, with or without Content-Length.
    let r = srv.upload(&cred, "alice", "p", "1", "b.bin", &content_for("b", 5000));
    r.expect(507);
    assert!(r.text().contains("storage quota"), "{r}");
    srv.download(&cred, "alice", "p", "1", "b.bin").expect(404);
    // Within it, a second file in the same version is fine.
    srv.upload(&cred, "alice", "p", "1", "c.bin", &content_for("c", 3000)).expect(201);
    srv.upload(&cred, "alice", "p", "2", "d.bin", b"tiny").expect(201);
    // A third version is one too many.
    let r = srv.upload(&cred, "alice", "p", "3", "e.bin", b"tiny");
    r.expect(507);
    assert!(r.text().contains("version quota"), "{r}");
    // Usage is visible to the CLI and the management API.
    let show = srv.cli(&["quota", "show", "alice"], None);
    show.expect_ok();
    eqnice!("alice\t9004\t10000\t2\t2", show.stdout().trim().to_string(), show);
    let list = srv.cli(&["user", "list"], None);
    eqnice!(vec!["alice\tuser\tpublic\t9004\t2"], list.stdout_lines(), list);
    let admin = srv.add_user("root", "root-password", true);
    let r = srv.send(Request::get("/api/v1/admin/quotas/alice").auth(&admin));
    let j = r.expect(200).json();
    eqnice!(Some(9004), j.get("used_bytes").and_then(Json::as_u64), r);
    eqnice!(Some(10000), j.get("max_bytes").and_then(Json::as_u64), r);
    // Only admins see or set quotas.
    srv.send(Request::get("/api/v1/admin/quotas/alice").auth(&cred)).expect(403);
    srv.send(Request::json("PUT", "/api/v1/admin/quotas/alice", r#"{"max_bytes":null}"#).auth(&cred))
        .expect(403);
    // Deleting frees the quota; an admin can lift the version limit over the API.
    srv.send(Request::delete(&file_path("alice", "p", "1", "a.bin")).auth(&cred)).expect(204);
    srv.upload(&cred, "alice", "p", "2", "b.bin", &content_for("b", 5000)).expect(201);
    let r = srv.send(
        Request::json("PUT", "/api/v1/admin/quotas/alice", r#"{"max_bytes":20000,"max_versions":null}"#)
            .auth(&admin),
    );
    let j = r.expect(200).json();
    eqnice!(Some(&Json::Null), j.get("max_versions"), r);
    srv.upload(&cred, "alice", "p", "3", "e.bin", b"tiny").expect(201);
    // A Go module upload counts too.
    srv.cli(&["quota", "set", "alice", "--max-bytes", "8010"], None).expect_ok();
    let zip = crate::go::simple_module("example.com/q", "v1.0.0");
    srv.send(Request::put(&crate::go::upload_path("alice"), &zip).auth(&cred)).expect(507);
    srv.send(Request::get(&crate::go::proxy_path("alice", "example.com/q", "@v/list"))).expect(404);
    srv.cli(&["verify"], None).expect_ok();
    // Unknown owners are refused.
    srv.cli(&["quota", "set", "nobody", "--max-bytes", "1"], None).expect_failure();
}

#[test]
fn a_body_without_content_length_is_refused_as_soon_as_it_passes_the_limit() {
    use std::io::Write;
    let srv = TestServer::start_with(&["--max-file-size", "1000"]);
    let cred = srv.add_user("alice", "alice-password", false);
    let mut stream = connect(srv.addr()).unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        file_path("alice", "p", "1", "big.bin"),
        cred.header().unwrap()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // 2000 bytes in one chunk, past the limit, and the body never ends: the answer must not
    // wait for the rest.
    stream.write_all(format!("{:x}\r\n", 2000).as_bytes()).unwrap();
    stream.write_all(&content_for("big", 2000)).unwrap();
    stream.write_all(b"\r\n").unwrap();
    let r = read_response(&mut stream, false, "unfinished chunked PUT".into()).unwrap();
    r.expect(413);
    srv.download(&cred, "alice", "p", "1", "big.bin").expect(404);
    srv.cli(&["verify"], None).expect_ok();
}

/// Issue 11: SIGTERM during a `depot backup` run by the server over its control socket closed
/// the connection without a reply, so the CLI said the backup failed while the copy was there.
///
/// Starts a backup of a database large enough that the copy takes a moment, sends SIGTERM
/// once the copy's temporary file exists, and checks that the CLI's exit status agrees with
/// the file (exit 0: a complete copy that verifies and serves; exit 1: no copy), that no
/// temporary file is left, and that the server exits 0 with the database closed.
fn sigterm_during_a_backup(grace_secs: &str) -> CmdOutput {
    let mut srv = TestServer::start_with(&["--grace-secs", grace_secs]);
    let cred = srv.add_user("alice", "alice-password", false);
    let names: Vec<String> = (0..24).map(|i| format!("big{i}.bin")).collect();
    for name in &names {
        srv.upload(&cred, "alice", "p", "1", name, &content_for(name, 16 * MIB)).expect(201);
    }
    let dir = srv.db_dir();
    let backup = dir.join("backup.redb");
    let temporary = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect::<Vec<_>>()
    };
    let mut cmd = depot_command();
    cmd.arg("--db").arg(srv.db_path()).arg("backup").arg(&backup);
    let cmdline = format!("{cmd:?}");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + WATCHDOG;
    while temporary().is_empty() {
        assert!(Instant::now() < deadline, "the backup never started a temporary file");
        thread::sleep(std::time::Duration::from_millis(5));
    }
    srv.signal_term();
    let out = CmdOutput { cmdline, stdin: None, output: child.wait_with_output().unwrap() };
    let exit = srv.wait_exit();
    let log = srv.log();
    assert!(exit.success(), "the server exited with {exit}\n{log}");
    assert!(log.contains("database closed") && !log.contains("still in use"), "database not closed\n{log}");
    eqnice!(Vec::<String>::new(), temporary(), out);
    match out.code() {
        Some(0) => {
            assert!(backup.exists(), "the CLI reported a backup that is not there\n{out}");
            let copy = TestDb::copy_of(&backup);
            copy.cli(&["verify"], None).expect_ok();
            let restored = TestServer::start_on(copy, &[]);
            for name in &names {
                restored.download(&cred, "alice", "p", "1", name).expect(200);
            }
        }
        _ => assert!(!backup.exists(), "the CLI said the backup failed, yet the copy is there\n{out}"),
    }
    // The database itself was closed cleanly and is intact.
    srv.cli(&["verify"], None).expect_ok();
    out
}

#[test]
fn a_backup_running_at_sigterm_finishes_within_the_grace_period_and_the_cli_says_so() {
    sigterm_during_a_backup("120").expect_ok();
}

#[test]
fn a_backup_still_running_when_the_grace_period_ends_is_cancelled_and_leaves_nothing() {
    let out = sigterm_during_a_backup("0");
    out.expect_failure();
    assert!(out.stderr().contains("shutting down"), "{out}");
}
