//! Issue 11: fault boundaries. One damaged record on disk fails the requests that meet it and
//! nothing else: the writer lives on, later writes succeed and `/healthz` stays ok.

use crate::util::*;

/// Bytes per chunk of this build, as stored in blob records: `store::CHUNK_SIZE` for large
/// content, `blobs::PIECE` for content of at most `blobs::SMALL_MAX` bytes.
const CHUNK_SIZE: u32 = (1 << 20) - 4096;
const PIECE: u32 = 1007;
const SMALL_MAX: usize = 64 << 10;

/// Overwrites, in the stopped server's database file, the chunk size of the blob record of
/// `content` with 0: a record no release writes, as a bit rot or a buggy tool could leave.
/// A blob record is the format byte, then sha256, size (u64 LE), chunk size (u32 LE), refs,
/// inline bytes.
fn zero_chunk_size(path: &std::path::Path, content: &[u8]) {
    let chunk_size = if content.len() <= SMALL_MAX { PIECE } else { CHUNK_SIZE };
    let mut pattern = sha256(content).to_vec();
    pattern.extend_from_slice(&(content.len() as u64).to_le_bytes());
    pattern.extend_from_slice(&chunk_size.to_le_bytes());
    let mut bytes = std::fs::read(path).unwrap();
    let mut hits = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(pattern.len()).position(|w| w == pattern) {
        let end = at + i + pattern.len();
        bytes[end - 4..end].fill(0);
        hits += 1;
        at = end;
    }
    assert!(hits > 0, "the blob record is in the file");
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn a_blob_record_with_chunk_size_0_fails_its_requests_and_the_writer_lives_on() {
    let mut srv = TestServer::start();
    let cred = srv.add_user("alice", "alice-password", false);
    let victim = content_for("victim", 5000);
    let kept = content_for("kept", 7000);
    srv.upload(&cred, "alice", "p", "1", "victim.bin", &victim).expect(201);
    srv.upload(&cred, "alice", "p", "1", "kept.bin", &kept).expect(201);
    srv.terminate();
    zero_chunk_size(&srv.db_path(), &victim);
    srv.restart();

    // Reading and deleting the damaged file fail (a division by its chunk size killed the
    // writer thread here), and the failure stays with them.
    srv.download(&cred, "alice", "p", "1", "victim.bin").expect(500);
    srv.send(Request::delete(&file_path("alice", "p", "1", "victim.bin")).auth(&cred)).expect(500);
    srv.send(Request::get("/healthz")).expect(200).expect_body(b"ok\n");
    srv.upload(&cred, "alice", "p", "2", "new.bin", b"written after the fault").expect(201);
    srv.download(&cred, "alice", "p", "2", "new.bin").expect(200).expect_body(b"written after the fault");
    srv.send(Request::delete(&file_path("alice", "p", "1", "kept.bin")).auth(&cred)).expect(204);
    srv.download(&cred, "alice", "p", "1", "victim.bin").expect(500);
    let out = srv.cli(&["verify"], None);
    assert!(out.stdout().contains("impossible record: blob with a chunk size of 0"), "{out}");
}

/// Sets the format byte of every copy of `name`'s owner record (a user) in the stopped
/// server's database file to `from` → `to`. An owner record is the format byte, then the
/// name (u64 LE length, bytes), then the kind (u32 LE, 0 for a user).
fn set_owner_format(path: &std::path::Path, name: &str, from: u8, to: u8) {
    let mut pattern = vec![from];
    pattern.extend_from_slice(&(name.len() as u64).to_le_bytes());
    pattern.extend_from_slice(name.as_bytes());
    pattern.extend_from_slice(&0u32.to_le_bytes());
    let mut bytes = std::fs::read(path).unwrap();
    let mut hits = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(pattern.len()).position(|w| w == pattern) {
        bytes[at + i] = to;
        hits += 1;
        at += i + pattern.len();
    }
    assert!(hits > 0, "the owner record of {name} is in the file");
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn repair_keeps_the_tokens_and_memberships_of_an_owner_it_cannot_read() {
    let mut srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    let token = srv.token("alice", "write");
    srv.add_org("acme", false);
    srv.add_member("acme", "alice", "write");
    let alice = Cred::basic("alice", "alice-password");
    srv.upload(&alice, "acme", "p", "1", "a.bin", b"by alice").expect(201);
    srv.terminate();
    // A newer release rewrote alice's record in a format this build does not know.
    set_owner_format(&srv.db_path(), "alice", 2, 3);
    let out = srv.cli(&["verify", "--repair"], None);
    out.expect_code(1);
    assert!(out.stdout().contains("record format 3 is not known"), "the record is reported\n{out}");
    assert!(!out.stdout().contains("removed"), "nothing tied to alice is removed\n{out}");
    // Back on the release that wrote it, alice has everything she had.
    set_owner_format(&srv.db_path(), "alice", 3, 2);
    srv.restart();
    srv.upload(&Cred::token(&token), "alice", "p", "1", "t.bin", b"token").expect(201);
    srv.upload(&alice, "acme", "p", "2", "b.bin", b"member").expect(201);
    srv.cli(&["verify"], None).expect_ok();
}
