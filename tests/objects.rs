//! docs/cli.md, Object store (SPEC §8): file content in a real three-node Garage cluster on
//! loopback, started here as separate `garage` processes. Round trips small (inline) and
//! large (multipart), ranges and conditional requests, deduplication and deletes, the
//! redirect mode followed by curl, one node down, every node down (503, nothing stored, redb
//! still serving) and recovery, kill -9 mid-upload (nothing visible, the object and the
//! multipart upload cleaned up on restart).
//!
//! Garage is a separate program (`cargo install garage --locked`, which `.ci/run` does): in CI
//! (`CI` set) a missing one fails the tests; elsewhere they say so and do nothing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// The garage command, or `None` outside CI when it is not installed.
fn garage() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    let found = dirs.into_iter().map(|d| d.join("garage")).find(|p| p.is_file());
    if found.is_none() {
        skipped("the object store tests", "the garage command", "cargo install garage --locked");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Node {
    config: PathBuf,
    s3_port: u16,
    child: Option<Child>,
}

/// A three-node Garage cluster (replication factor 3) with one bucket and one key.
struct Garage {
    bin: PathBuf,
    _dir: tempfile::TempDir,
    nodes: Vec<Node>,
    key_id: String,
    secret: String,
    /// `ID@ADDR` of each node, to connect them again after a restart.
    ids: Vec<String>,
}

const BUCKET: &str = "depot";

impl Garage {
    fn start(bin: PathBuf) -> Garage {
        let dir = tempfile::Builder::new().prefix("depot-garage-").tempdir().unwrap();
        let secret: String = sha256_hex(format!("{:?}", dir.path()).as_bytes());
        let mut nodes = Vec::new();
        for i in 1..=3 {
            let (rpc, s3) = (free_port(), free_port());
            let base = dir.path().join(format!("node{i}"));
            let config = dir.path().join(format!("node{i}.toml"));
            let text = format!(
                "metadata_dir = \"{m}\"\ndata_dir = \"{d}\"\ndb_engine = \"sqlite\"\nmetadata_fsync = false\n\
                 data_fsync = false\nreplication_factor = 3\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\n[s3_api]\n\
                 s3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n",
                m = base.join("meta").display(),
                d = base.join("data").display(),
            );
            std::fs::write(&config, text).unwrap();
            nodes.push(Node { config, s3_port: s3, child: None });
        }
        let mut g =
            Garage { bin, _dir: dir, nodes, key_id: String::new(), secret: String::new(), ids: Vec::new() };
        for i in 0..3 {
            g.start_node(i);
        }
        let ids: Vec<String> = (0..3).map(|i| g.cli(i, &["node", "id", "-q"]).trim().to_string()).collect();
        for id in &ids[1..] {
            g.cli(0, &["node", "connect", id]);
        }
        g.ids = ids.clone();
        for (i, id) in ids.iter().enumerate() {
            let node_id = id.split('@').next().unwrap();
            let (zone, tag) = (format!("dc{}", i + 1), format!("node{}", i + 1));
            g.cli(0, &["layout", "assign", node_id, "-z", &zone, "-c", "1G", "-t", &tag]);
        }
        g.cli(0, &["layout", "apply", "--version", "1"]);
        g.retry(0, &["bucket", "create", BUCKET]);
        let key = g.cli(0, &["key", "create", "depot-key"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("no {name} in `garage key create`:\n{key}"))
        };
        g.key_id = field("Key ID:");
        g.secret = field("Secret key:");
        g.cli(0, &["bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "depot-key"]);
        g
    }

    fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none());
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&node.config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start garage");
        node.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", node.s3_port)).is_err() {
            assert!(Instant::now() < deadline, "garage node {i} never listened");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Connects the first node to the others again (after they were all restarted, Garage
    /// would otherwise wait for its own reconnection backoff).
    fn reconnect(&self) {
        for id in &self.ids[1..] {
            self.retry(0, &["node", "connect", id]);
        }
    }

    fn stop_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn cli(&self, node: usize, args: &[&str]) -> String {
        let out =
            Command::new(&self.bin).arg("-c").arg(&self.nodes[node].config).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "garage {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command that may fail until the new layout has reached every node.
    fn retry(&self, node: usize, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out =
                Command::new(&self.bin).arg("-c").arg(&self.nodes[node].config).args(args).output().unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(Instant::now() < deadline, "garage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.nodes[0].s3_port)
    }

    /// `depot serve` settings for this cluster, credentials in the environment.
    fn serve(&self, extra: &[&str]) -> ServeSetup {
        let mut args = vec!["--blob-store", "s3", "--s3-bucket", BUCKET, "--s3-region", "garage"];
        if !extra.contains(&"--s3-timeout-secs") {
            args.extend(["--s3-timeout-secs", "5"]);
        }
        args.extend_from_slice(extra);
        let endpoint = self.endpoint();
        let mut setup = ServeSetup::args(&args);
        setup.args.push(format!("--s3-endpoint={endpoint}"));
        setup.env("DEPOT_S3_ACCESS_KEY_ID", &self.key_id).env("DEPOT_S3_SECRET_ACCESS_KEY", &self.secret)
    }

    /// A signed request straight to the store (curl's SigV4), for what depot left there.
    fn s3_get(&self, query: &str) -> String {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "--aws-sigv4",
                "aws:amz:garage:s3",
                "-H",
                "x-amz-content-sha256: UNSIGNED-PAYLOAD",
            ])
            .arg("--user")
            .arg(format!("{}:{}", self.key_id, self.secret))
            .arg(format!("{}/{BUCKET}?{query}", self.endpoint()))
            .output()
            .expect("run curl");
        assert!(out.status.success(), "curl {query}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A signed request of `method` to `key` in the bucket, with `body`; panics on failure.
    fn s3_send(&self, method: &str, key_and_query: &str, body: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body");
        std::fs::write(&file, body).unwrap();
        let out = Command::new("curl")
            .args(["-sS", "--fail", "-X", method, "--aws-sigv4", "aws:amz:garage:s3"])
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--user"])
            .arg(format!("{}:{}", self.key_id, self.secret))
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{}/{BUCKET}/{key_and_query}", self.endpoint()))
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl {method} {key_and_query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys of depot's objects in the bucket.
    fn objects(&self) -> Vec<String> {
        keys(&self.s3_get("list-type=2&prefix=depot%2F"), "Key")
    }

    /// Multipart uploads in progress.
    fn uploads(&self) -> Vec<String> {
        keys(&self.s3_get("uploads="), "UploadId")
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop_node(i);
        }
    }
}

/// The text of every `<tag>…</tag>` in `xml`.
fn keys(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open).skip(1).filter_map(|s| s.split(&close).next().map(str::to_string)).collect()
}

/// Polls `f` until it is true (bounded): the outbox worker deletes after the commit.
#[track_caller]
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(200));
    }
}

fn start_depot(g: &Garage, extra: &[&str]) -> (TestServer, Cred) {
    let srv = TestServer::start_setup(TestDb::new(), g.serve(extra));
    srv.add_user("alice", "alice-password", false);
    let token = srv.token("alice", "write");
    (srv, Cred::token(&token))
}

fn put(srv: &TestServer, cred: &Cred, ver: &str, file: &str, body: &[u8]) -> Response {
    srv.send(Request::put(&file_path("alice", "app", ver, file), body).auth(cred))
}

fn get(srv: &TestServer, ver: &str, file: &str) -> Response {
    srv.send(Request::get(&file_path("alice", "app", ver, file)))
}

#[test]
fn content_round_trips_through_the_store_with_ranges_dedup_deletes_and_redirects() {
    let Some(bin) = garage() else { return };
    let g = Garage::start(bin);
    let (mut srv, alice) = start_depot(&g, &[]);
    let small = content_for("small", 1000);
    let large = content_for("large", 20 * MIB + 12345);
    put(&srv, &alice, "1", "small.txt", &small).expect(201);
    put(&srv, &alice, "1", "large.bin", &large).expect(201);
    assert!(g.objects().len() == 1, "small stays in redb, large is one object: {:?}", g.objects());
    assert!(g.uploads().is_empty(), "the multipart upload was completed");

    get(&srv, "1", "small.txt").expect(200).expect_body(&small);
    let sha = sha256_hex(&large);
    get(&srv, "1", "large.bin")
        .expect(200)
        .expect_header("ETag", &format!("\"{sha}\""))
        .expect_header("X-Checksum-Sha256", &sha)
        .expect_body(&large);
    let path = file_path("alice", "app", "1", "large.bin");
    let start = 8 * MIB - 10;
    srv.send(Request::get(&path).header("Range", &format!("bytes={start}-{}", start + 2 * MIB)))
        .expect(206)
        .expect_header("Content-Range", &format!("bytes {start}-{}/{}", start + 2 * MIB, large.len()))
        .expect_body(&large[start..=start + 2 * MIB]);
    srv.send(Request::get(&path).header("Range", "bytes=-100"))
        .expect(206)
        .expect_body(&large[large.len() - 100..]);
    srv.send(Request::get(&path).header("If-None-Match", &format!("\"{sha}\""))).expect(304);
    let head = srv.send(Request::head(&path));
    head.expect(200).expect_header("Content-Length", &large.len().to_string());
    assert!(head.body.is_empty());

    // The same content twice is one object; it goes when its last file goes.
    put(&srv, &alice, "2", "copy.bin", &large).expect(201);
    // The second upload's own object is deleted after its commit found the content stored.
    eventually("deduplicated in redb: one object", || g.objects().len() == 1);
    srv.send(Request::delete(&path).auth(&alice)).expect(204);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(g.objects().len(), 1, "still referenced by copy.bin");
    get(&srv, "2", "copy.bin").expect(200).expect_body(&large);
    srv.send(Request::delete(&file_path("alice", "app", "2", "copy.bin")).auth(&alice)).expect(204);
    eventually("the object of the deleted content is deleted", || g.objects().is_empty());

    // Redirect mode: a 302 to a presigned URL, ETag and checksum on the 302, HEAD by depot.
    put(&srv, &alice, "3", "r.bin", &large).expect(201);
    srv.terminate();
    let setup = g.serve(&["--s3-redirect"]);
    let mut redirecting = TestServer::start_setup(TestDb::copy_of(&srv.db_path()), setup);
    drop(srv);
    let path = file_path("alice", "app", "3", "r.bin");
    let resp = redirecting.send(Request::get(&path));
    resp.expect(302).expect_header("ETag", &format!("\"{sha}\"")).expect_header("X-Checksum-Sha256", &sha);
    let location = resp.header("Location").expect("a Location").to_string();
    assert!(location.starts_with(&g.endpoint()), "{location}");
    redirecting.send(Request::head(&path)).expect(200).expect_header("ETag", &format!("\"{sha}\""));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--fail", "-L", "-D", "-", "-o"])
        .arg(dir.path().join("r.bin"))
        .arg(redirecting.url(&path))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl -L: {}", String::from_utf8_lossy(&out.stderr));
    let headers = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(headers.contains("content-disposition: attachment; filename=\"r.bin\""), "{headers}");
    assert!(std::fs::read(dir.path().join("r.bin")).unwrap() == large, "curl got other bytes");
    let out = Command::new("curl")
        .args(["-sS", "--fail", "-L", "-r", "100-199"])
        .arg(redirecting.url(&path))
        .output()
        .unwrap();
    assert!(out.stdout == large[100..200], "a range through the redirect");
    redirecting.terminate();
}

#[test]
fn a_store_down_is_503_and_nothing_stored_while_redb_keeps_serving() {
    let Some(bin) = garage() else { return };
    let mut g = Garage::start(bin);
    // Until Garage marks a killed node as down, a write may wait for it for several seconds.
    let (srv, alice) = start_depot(&g, &["--s3-timeout-secs", "30"]);
    let small = content_for("small", 100);
    let large = content_for("large", 9 * MIB);
    put(&srv, &alice, "1", "small.txt", &small).expect(201);
    put(&srv, &alice, "1", "large.bin", &large).expect(201);

    // One node of three down (not the one depot talks to): everything works.
    g.stop_node(2);
    put(&srv, &alice, "2", "large.bin", &content_for("two", 9 * MIB)).expect(201);
    get(&srv, "1", "large.bin").expect(200).expect_body(&large);

    // Every node down: uploads and reads of stored content are 503, nothing is stored, and
    // what redb holds keeps being served.
    g.stop_node(1);
    g.stop_node(0);
    let refused = put(&srv, &alice, "3", "large.bin", &content_for("three", 9 * MIB));
    refused.expect(503);
    assert!(refused.text().contains("object store"), "{}", refused.text());
    put(&srv, &alice, "3", "mid.bin", &content_for("mid", 200 * 1024)).expect(503);
    get(&srv, "3", "large.bin").expect(404);
    srv.send(Request::get(&api_version_path("alice", "app", Some("3")))).expect(404);
    get(&srv, "1", "large.bin").expect(503);
    let head = srv.send(Request::head(&file_path("alice", "app", "1", "large.bin")));
    head.expect(200).expect_header("Content-Length", &large.len().to_string());
    get(&srv, "1", "small.txt").expect(200).expect_body(&small);
    put(&srv, &alice, "4", "tiny.txt", b"inline content").expect(201);
    srv.send(Request::get(&api_files_path("alice", "generic", "app", "1"))).expect(200);
    srv.send(Request::get("/healthz")).expect(200);
    assert!(srv.metric("depot_object_store_errors_total") > 0, "the store's errors are counted");

    // Back up: reads and writes work again, and the refused uploads left nothing.
    for i in 0..3 {
        g.start_node(i);
    }
    g.reconnect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = get(&srv, "1", "large.bin");
        if resp.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "reads never recovered: {}\n{}", resp.text(), srv.log());
        thread::sleep(Duration::from_millis(300));
    }
    get(&srv, "1", "large.bin").expect(200).expect_body(&large);
    put(&srv, &alice, "5", "large.bin", &content_for("five", 9 * MIB)).expect(201);
    eventually("the refused uploads' objects are gone", || g.objects().len() == 3);
}

#[test]
fn kill_9_mid_upload_leaves_nothing_visible_and_the_restart_cleans_the_store() {
    let Some(bin) = garage() else { return };
    let g = Garage::start(bin);
    // Orphans of any age are swept (listing first, the tables after, keeps it safe).
    let (mut srv, alice) = start_depot(&g, &["--s3-orphan-age-secs", "0"]);
    let path = file_path("alice", "app", "1", "big.bin");
    // Strays no record knows, as a bug or an unrecorded crash would leave them: an object
    // and a multipart upload under depot's prefix.
    g.s3_send("PUT", "depot/blobs/00000000000fffff", b"stray");
    g.s3_send("POST", "depot/blobs/00000000000ffffe?uploads=", b"");
    assert_eq!(g.uploads().len(), 1, "the stray multipart upload exists");
    let total = 40 * MIB;
    let mut stream = begin_put(srv.addr(), &path, &alice, total, &[]).expect("send the head");
    let mut pattern = Pattern::new(seed_of("big"));
    write_pattern(&mut stream, &mut pattern, 25 * MIB).expect("send part of the body");
    eventually("depot's multipart upload is in progress", || g.uploads().len() == 2);
    srv.kill9();
    drop(stream);
    srv.restart();
    get(&srv, "1", "big.bin").expect(404);
    eventually("both multipart uploads are aborted", || g.uploads().is_empty());
    eventually("the stray object is swept", || g.objects().is_empty());
    assert!(g.objects().is_empty(), "no object left: {:?}", g.objects());
    let report = srv.cli(&["verify"], None);
    report.expect_ok();
}

#[test]
fn credentials_are_refused_on_the_command_line_and_s3_needs_its_settings() {
    let db = TestDb::new();
    for flag in ["--s3-secret-access-key=x", "--s3-access-key-id"] {
        let out = db.cli(&["serve", "--blob-store", "s3", flag, "x"], None);
        out.expect_usage_error();
        assert!(out.stderr().contains("not accepted on the command line"), "{out}");
        assert!(out.stderr().contains("DEPOT_S3_"), "{out}");
    }
    let out = db.cli(&["serve", "--listen", "127.0.0.1:0", "--blob-store", "s3", "--s3-bucket", "b"], None);
    out.expect_failure();
    assert!(out.stderr().contains("--s3-endpoint"), "{out}");
    let out = run_command(
        {
            let mut c = db.command();
            c.args(["serve", "--listen", "127.0.0.1:0", "--blob-store", "s3", "--s3-bucket", "b"])
                .arg("--s3-endpoint=http://127.0.0.1:1");
            c
        },
        None,
    );
    assert!(out.stderr().contains("DEPOT_S3_ACCESS_KEY_ID"), "{out}");
}

/// `verify` checks each object's existence and size; `verify --deep` re-reads and hashes it,
/// so an object overwritten in the store with other bytes of the same size is found only
/// by the deep check, and one of another size by both.
#[test]
fn verify_deep_rehashes_objects_and_finds_content_changed_in_the_store() {
    let Some(bin) = garage() else { return };
    let g = Garage::start(bin);
    let (srv, alice) = start_depot(&g, &[]);
    let large = content_for("deep", 9 * MIB + 7);
    put(&srv, &alice, "1", "large.bin", &large).expect(201);
    put(&srv, &alice, "1", "small.txt", b"stays in redb").expect(201);
    let keys = g.objects();
    assert_eq!(keys.len(), 1, "{keys:?}");
    srv.cli(&["verify"], None).expect_ok();
    let deep = srv.cli(&["verify", "--deep"], None);
    deep.expect_ok();
    assert!(deep.stdout().contains(&(large.len() as u64 + 13).to_string()), "every byte re-read:\n{deep}");

    // Same size, other bytes: only the deep check sees it.
    let mut other = large.clone();
    other[5 * MIB] ^= 0x55;
    g.s3_send("PUT", &keys[0], &other);
    srv.cli(&["verify"], None).expect_ok();
    let deep = srv.cli(&["verify", "--deep"], None);
    deep.expect_code(1);
    assert!(deep.stdout().contains("does not match its sha256"), "{deep}");
    // A migration copies nothing it cannot verify: the damaged blob stays where it is.
    let out = run_command(migrate_command(&g, &srv.db_path(), "local"), None);
    out.expect_code(1);
    assert!(out.stderr().contains("does not match its sha256"), "{out}");
    assert_eq!(out.stdout(), "0\t0\t0\n", "{out}");
    assert_eq!(g.objects(), keys, "the damaged object stays where it was");

    // Another size: the plain check sees it too.
    g.s3_send("PUT", &keys[0], &large[..1000]);
    let plain = srv.cli(&["verify"], None);
    plain.expect_code(1);
    assert!(plain.stdout().contains("holds 1000 bytes"), "{plain}");
}

/// The environment of a CLI or server that reaches the cluster.
fn with_keys(g: &Garage, mut cmd: Command) -> Command {
    cmd.env("DEPOT_S3_ACCESS_KEY_ID", &g.key_id).env("DEPOT_S3_SECRET_ACCESS_KEY", &g.secret);
    cmd
}

/// `depot blobs migrate --to WHERE` against `db` (through its server when one runs).
fn migrate_command(g: &Garage, db: &Path, to: &str) -> Command {
    let mut cmd = depot_command();
    cmd.arg("--db").arg(db).args(["blobs", "migrate", "--to", to]);
    if to == "s3" {
        cmd.args(["--s3-bucket", BUCKET, "--s3-region", "garage", "--s3-endpoint"]).arg(g.endpoint());
    }
    with_keys(g, cmd)
}

/// Downloads every file again and again from another thread until stopped; returns how many
/// downloads it made and the first wrong answer, if any.
fn keep_downloading(
    addr: std::net::SocketAddr,
    files: Vec<(String, Vec<u8>)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> thread::JoinHandle<(u64, Option<String>)> {
    thread::spawn(move || {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for (name, body) in &files {
                let resp = match send_to(addr, &Request::get(&file_path("alice", "app", "1", name))) {
                    Ok(resp) => resp,
                    Err(e) => return (n, Some(format!("{name}: {e}"))),
                };
                if resp.status != 200 || resp.body != *body {
                    return (n, Some(format!("{name}: {} with {} bytes", resp.status, resp.body.len())));
                }
                n += 1;
            }
        }
        (n, None)
    })
}

/// Runs `cmd` until the store holds `objects(count)` true, then SIGKILLs the server under it:
/// a migration cut short at an arbitrary blob.
fn kill_mid_migration(srv: &mut TestServer, mut cmd: Command, mut cut: impl FnMut() -> bool) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("run depot blobs migrate");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cut() {
        assert!(Instant::now() < deadline, "the migration never got going\n{}", srv.log());
        assert!(child.try_wait().unwrap().is_none(), "the migration ended before it could be cut short");
        thread::sleep(Duration::from_millis(20));
    }
    srv.kill9();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the migration cannot have finished: its server was killed");
}

#[test]
fn blobs_migrate_moves_content_both_ways_while_serving_and_resumes_after_kill_9() {
    let Some(bin) = garage() else { return };
    let g = Garage::start(bin);
    // A server keeping new content in the database file; it has the store's keys, for the
    // content a migration puts there.
    let setup = ServeSetup::args(&[])
        .env("DEPOT_S3_ACCESS_KEY_ID", &g.key_id)
        .env("DEPOT_S3_SECRET_ACCESS_KEY", &g.secret);
    let mut srv = TestServer::start_setup(TestDb::new(), setup);
    srv.add_user("alice", "alice-password", false);
    let alice = Cred::token(&srv.token("alice", "write"));
    const N: usize = 24;
    let mut files: Vec<(String, Vec<u8>)> =
        (0..N).map(|i| (format!("f{i}.bin"), content_for(&format!("m{i}"), 4 * MIB + i))).collect();
    files.push(("small.txt".into(), b"small content stays in the database file".to_vec()));
    for (name, body) in &files {
        put(&srv, &alice, "1", name, body).expect(201);
    }
    assert!(g.objects().is_empty());
    let db = srv.db_path();
    let all_served = |srv: &TestServer| {
        for (name, body) in &files {
            get(srv, "1", name).expect(200).expect_body(body);
        }
    };

    // To the store, killed part way: every file is still served, from wherever it is.
    kill_mid_migration(&mut srv, migrate_command(&g, &db, "s3"), || g.objects().len() >= 4);
    srv.restart();
    all_served(&srv);
    // Run again while downloads go on: it finishes, and nothing is served wrong meanwhile.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let downloads = keep_downloading(srv.addr(), files.clone(), stop.clone());
    let out = run_command(migrate_command(&g, &db, "s3"), None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (n, wrong) = downloads.join().unwrap();
    out.expect_ok();
    assert_eq!(wrong, None, "a download during the migration went wrong\n{}", srv.log());
    assert!(n > 0);
    assert!(out.stdout().ends_with("\t0\n"), "nothing left: {out}");
    eventually("one object per large file, the cut-short copy deleted", || g.objects().len() == N);
    assert!(g.uploads().is_empty());
    all_served(&srv);
    srv.cli(&["verify", "--deep"], None).expect_ok();
    // A second run has nothing to move.
    let again = run_command(migrate_command(&g, &db, "s3"), None);
    again.expect_ok();
    assert_eq!(again.stdout(), "0\t0\t0\n", "{again}");
    // New content now goes to the store too (until the next start, which follows --blob-store).
    put(&srv, &alice, "2", "new.bin", &content_for("new", MIB)).expect(201);
    assert_eq!(g.objects().len(), N + 1);
    srv.send(Request::delete(&file_path("alice", "app", "2", "new.bin")).auth(&alice)).expect(204);
    eventually("the new file's object is deleted with it", || g.objects().len() == N);

    // Back into the database file, killed part way, then resumed while downloads go on.
    kill_mid_migration(&mut srv, migrate_command(&g, &db, "local"), || g.objects().len() <= N - 4);
    srv.restart();
    all_served(&srv);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let downloads = keep_downloading(srv.addr(), files.clone(), stop.clone());
    let out = run_command(migrate_command(&g, &db, "local"), None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (n, wrong) = downloads.join().unwrap();
    out.expect_ok();
    assert_eq!(wrong, None, "a download during the migration went wrong\n{}", srv.log());
    assert!(n > 0);
    eventually("every object is deleted once its content is in the file", || g.objects().is_empty());
    all_served(&srv);
    srv.cli(&["verify"], None).expect_ok();

    // Offline, on the stopped database: to the store and back again.
    srv.terminate();
    run_command(migrate_command(&g, &db, "s3"), None).expect_ok();
    assert_eq!(g.objects().len(), N);
    run_command(
        with_keys(&g, {
            let mut c = depot_command();
            c.arg("--db").arg(&db).arg("verify").arg("--deep");
            c
        }),
        None,
    )
    .expect_ok();
    srv.restart();
    all_served(&srv);
}

/// Module zips go to the store once checked, and with `--s3-redirect` the go command
/// follows the 302 to the presigned URL: `go get`, `go mod download` and `go mod verify`
/// (which checks the zip's hash against go.sum) work, and the bytes came from the store.
#[test]
fn the_go_command_fetches_module_zips_through_the_redirect_to_the_store() {
    let Some(bin) = garage() else { return };
    let Some(go) = crate::go_client::go() else { return };
    let g = Garage::start(bin);
    // Every zip to the store, however small (the go.mod files stay in the database file).
    let (srv, alice) = start_depot(&g, &["--s3-redirect", "--s3-inline-max", "0"]);
    let module = "example.com/Stored";
    for v in ["v1.0.0", "v1.1.0"] {
        let zip = crate::go_client::greet_module(module, v);
        srv.send(Request::put(&crate::go::upload_path("alice"), &zip).auth(&alice)).expect(201);
    }
    assert_eq!(g.objects().len(), 2, "one object per zip: {:?}", g.objects());
    let zip_path = "/api/packages/alice/go/example.com/!stored/@v/v1.1.0.zip";
    let resp = srv.send(Request::get(zip_path));
    resp.expect(302);
    assert!(resp.header("Location").unwrap_or_default().starts_with(&g.endpoint()), "{resp:?}");

    let env = crate::go_client::GoEnv::new(go, srv.url("/api/packages/alice/go"));
    let app = env.consumer(&[(module, "greet")], "greet.Hello()");
    env.run(&app, &["get", &format!("{module}@latest")]);
    let dl = env.run(&app, &["mod", "download", "-json", &format!("{module}@v1.0.0")]);
    assert!(dl.contains("\"Version\": \"v1.0.0\"") && dl.contains("\"Zip\""), "{dl}");
    let run = env.run(&app, &["run", "."]);
    assert_eq!(run, "hello from v1.1.0\n");
    let verify = env.run(&app, &["mod", "verify"]);
    assert!(verify.contains("all modules verified"), "{verify}");
    // The go command's zip downloads were redirects (and the log line of each is written by
    // a log thread, so it is awaited).
    let zips = |status: &str| {
        srv.log().lines().filter(|l| l.contains(".zip") && l.contains(&format!("status={status}"))).count()
    };
    eventually("the go command's zip downloads are logged as redirects", || zips("302") >= 3);
    assert_eq!(zips("200"), 0, "no zip was streamed through depot\n{}", srv.log());
}
