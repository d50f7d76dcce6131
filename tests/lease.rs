//! Issue 11, item 3: a slow download must not pin freed space (docs/design.md, "Download
//! leases"). A download reads one chunk per short read transaction and keeps its blob alive
//! with an in-memory lease; a delete meanwhile must neither break the download nor leak the
//! blob's chunks, also across a `kill -9`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// The download under test, read by hand from a raw socket a little at a time, each byte
/// checked against the content it was uploaded with.
struct SlowGet {
    stream: TcpStream,
    expected: Pattern,
    len: u64,
    got: u64,
    context: String,
}

impl SlowGet {
    /// Sends `GET path` and reads the response head (not the body).
    fn start(srv: &TestServer, cred: &Cred, path: &str, seed: u64, len: u64) -> SlowGet {
        let req = Request::get(path).auth(cred);
        let context = req.describe();
        let mut stream = connect(srv.addr()).unwrap();
        stream.write_all(&req.encode(&srv.addr().to_string())).unwrap();
        // Byte by byte, so no body byte is taken with the head.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).unwrap();
            assert_eq!(n, 1, "connection closed inside the response head: {:?}\n{context}", head);
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}\n{context}");
        assert!(head.contains(&format!("content-length: {len}\r\n")), "{head}\n{context}");
        SlowGet { stream, expected: Pattern::new(seed), len, got: 0, context }
    }

    /// Reads and checks the next `n` body bytes (fewer at the end of the body).
    fn read(&mut self, n: u64) {
        let mut got = vec![0u8; 64 * KIB];
        let mut want = vec![0u8; 64 * KIB];
        let stop = (self.got + n).min(self.len);
        while self.got < stop {
            let ask = ((stop - self.got) as usize).min(got.len());
            let k = match self.stream.read(&mut got[..ask]) {
                Ok(0) => {
                    panic!("download cut short after {} of {} bytes\n{}", self.got, self.len, self.context)
                }
                Ok(k) => k,
                Err(e) => panic!("download failed after {} bytes: {e}\n{}", self.got, self.context),
            };
            self.expected.fill(&mut want[..k]);
            if got[..k] != want[..k] {
                let at = (0..k).find(|&i| got[i] != want[i]).unwrap_or(0);
                panic!("downloaded byte {} differs from the upload\n{}", self.got + at as u64, self.context);
            }
            self.got += k as u64;
        }
    }

    /// Reads the rest of the body; every byte must be there and right.
    fn finish(mut self) {
        self.read(self.len);
        eqnice!(self.len, self.got, format!("downloaded length\n{}", self.context));
    }
}

/// (apparent size, bytes of blocks allocated) of the database file. Pages freed and then
/// reused keep their blocks; pages never written (the file extended ahead) have none, so the
/// allocated bytes are the high-water mark of the space the database has used.
fn db_size(path: &Path) -> (u64, u64) {
    let m = std::fs::metadata(path).unwrap();
    (m.len(), m.blocks() * 512)
}

/// Uploads `len` bytes of the pattern `seed` without holding them in memory.
fn upload_streamed(srv: &TestServer, cred: &Cred, path: &str, seed: u64, len: u64) {
    let url = srv.url(path);
    let put = srv
        .reqwest()
        .put(&url)
        .header("Authorization", cred.header().expect("a credential"))
        .body(reqwest::blocking::Body::sized(PatternReader::new(seed, len), len))
        .send()
        .expect("upload");
    eqnice!(201, put.status().as_u16(), format!("PUT {url}: {:?}", put.text()));
}

/// The summary line of `depot verify`, after checking that it passed.
fn verify_clean(srv: &TestServer) -> String {
    let out = srv.cli(&["verify"], None);
    out.expect_ok();
    let line = out.stdout_lines().into_iter().find(|l| l.starts_with("checked ")).unwrap_or_default();
    assert!(line.ends_with("; 0 problems"), "{out}");
    line
}

/// Waits (bounded) until `depot verify` reports `needle` in its summary line.
fn wait_for_verify(srv: &TestServer, needle: &str) -> String {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let line = verify_clean(srv);
        if line.contains(needle) {
            return line;
        }
        assert!(Instant::now() < deadline, "verify never reported {needle:?}; last: {line}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_slow_download_does_not_pin_the_space_that_upload_and_delete_churn_frees() {
    const LEN: u64 = 64 * MIB as u64;
    const CHURN_FILE: usize = 8 * MIB;
    const CHURN_FILES: usize = 24; // 192 MiB
    const LIMIT: u64 = 48 * MIB as u64;
    let srv = TestServer::start();
    let cred = Cred::token(&srv.token_after_user("alice"));
    let path = file_path("alice", "big", "1", "big.bin");
    let seed = seed_of("big.bin");
    upload_streamed(&srv, &cred, &path, seed, LEN);

    let mut get = SlowGet::start(&srv, &cred, &path, seed, LEN);
    get.read(MIB as u64);
    let before = db_size(&srv.db_path());
    for i in 0..CHURN_FILES {
        let name = format!("churn-{i}.bin");
        let body = content_for(&name, CHURN_FILE);
        srv.upload(&cred, "alice", "churn", "1", &name, &body).expect(201);
        srv.send(Request::delete(&file_path("alice", "churn", "1", &name)).auth(&cred)).expect(204);
        // The client keeps reading, slowly: 24 × 256 KiB is far less than the file.
        get.read(256 * KIB as u64);
    }
    let after = db_size(&srv.db_path());
    get.finish();
    let grown = (after.0.saturating_sub(before.0), after.1.saturating_sub(before.1));
    eprintln!(
        "database growth under {} MiB of churn beside a slow download: {} MiB apparent, {} MiB allocated",
        CHURN_FILES * CHURN_FILE / MIB,
        grown.0 / MIB as u64,
        grown.1 / MIB as u64
    );
    // Blocks allocated, not the apparent size: redb extends the file ahead of use (it doubles
    // a small file), so the apparent size jumps by ~64 MiB here with or without a reader.
    assert!(
        grown.1 <= LIMIT,
        "the database's allocated blocks grew by {} bytes (apparent size by {}), more than {LIMIT}: \
         freed space was pinned",
        grown.1,
        grown.0
    );
    verify_clean(&srv);
}

#[test]
fn a_file_deleted_while_it_is_downloaded_slowly_arrives_whole_and_its_space_is_reclaimed_after() {
    const LEN: u64 = 24 * MIB as u64;
    let srv = TestServer::start();
    let cred = Cred::token(&srv.token_after_user("alice"));
    let path = file_path("alice", "pkg", "1", "gone.bin");
    let seed = seed_of("gone.bin");
    upload_streamed(&srv, &cred, &path, seed, LEN);

    let mut get = SlowGet::start(&srv, &cred, &path, seed, LEN);
    get.read(MIB as u64);
    srv.send(Request::delete(&path).auth(&cred)).expect(204);
    srv.download(&cred, "alice", "pkg", "1", "gone.bin").expect(404);
    // The database is consistent while the download still reads the deleted blob, whose
    // chunks are kept (staged, like an upload in progress) for it.
    let line = verify_clean(&srv);
    assert!(line.contains(" 0 blobs, 25 chunks, 0 bytes; 1 uploads in progress"), "{line}");
    get.finish();

    // Once the download is over nothing of the blob is left.
    wait_for_verify(&srv, " 0 blobs, 0 chunks, 0 bytes; 0 uploads in progress");
    // The same content uploads again (a new blob) and downloads whole.
    upload_streamed(&srv, &cred, &path, seed, LEN);
    let url = srv.url(&path);
    let again = srv.reqwest().get(&url).header("Authorization", cred.header().unwrap()).send().unwrap();
    eqnice!(200, again.status().as_u16(), format!("GET {url}"));
    assert_stream_matches(again, seed, LEN, &format!("GET {url} after the re-upload"));
    verify_clean(&srv);
}

#[test]
fn a_kill_during_the_download_of_a_deleted_file_leaves_its_chunks_to_be_reclaimed_at_start() {
    const LEN: u64 = 24 * MIB as u64;
    let mut srv = TestServer::start();
    let cred = Cred::token(&srv.token_after_user("alice"));
    let path = file_path("alice", "pkg", "1", "gone.bin");
    let seed = seed_of("gone.bin");
    upload_streamed(&srv, &cred, &path, seed, LEN);
    let kept = content_for("kept.bin", 3 * MIB + 5);
    srv.upload(&cred, "alice", "pkg", "1", "kept.bin", &kept).expect(201);

    let mut get = SlowGet::start(&srv, &cred, &path, seed, LEN);
    get.read(MIB as u64);
    srv.send(Request::delete(&path).auth(&cred)).expect(204);
    let line = verify_clean(&srv);
    assert!(line.contains(" 1 blobs, 29 chunks, ") && line.contains("; 1 uploads in progress"), "{line}");
    srv.kill9();
    drop(get);
    srv.restart();

    // Only the kept file's blob and its 4 chunks remain.
    let line = verify_clean(&srv);
    assert!(line.contains(" 1 blobs, 4 chunks, ") && line.contains("; 0 uploads in progress"), "{line}");
    srv.download(&cred, "alice", "pkg", "1", "gone.bin").expect(404);
    srv.download(&cred, "alice", "pkg", "1", "kept.bin").expect(200).expect_body(&kept);
}
