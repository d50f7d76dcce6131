//! The races of the download leases (`blobs.rs`, invariants 4-7) that a client cannot time
//! from outside, played step by step against a database file: a reader whose snapshot
//! predates a delete, a second reader leasing a blob already kept for a first, and the reap.
//! (A restart's reclaim of kept chunks is tested against the binary: tests/lease.rs.)

use bytes::Bytes;

use super::{Create, Options, OwnerKind, OwnerRec, Store, CHUNK_SIZE};

use super::fault_tests::{content, contents as read_all, target};

/// A store on a new database file, with the owner `alice` and a file `name` of `data`.
fn store_with(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> Store {
    let store =
        Store::open(&dir.path().join("depot.redb"), &Options::default(), Create::IfMissing).unwrap().store;
    let kind = OwnerKind::User { password_hash: String::new(), admin: false };
    store.add_owner(OwnerRec { name: "alice".into(), kind, private: false, created: 0 }).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut up = store.begin_upload(u64::MAX);
        for piece in data.chunks(300 << 10) {
            up.push(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        let added = store.add_file(up.seal().await.unwrap(), target(name), None).await.unwrap();
        assert!(matches!(added, super::Added::Stored(_)), "{added:?}");
    });
    store
}

/// (chunks, staged ids) in the database now.
fn chunks_and_staged(store: &Store) -> (u64, u64) {
    let r = store.verify().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    (r.chunks, r.staged)
}

/// Returns once the writer has run every job queued before (the queue is first in, first out).
fn barrier(store: &Store, name: &str) {
    let kind = OwnerKind::User { password_hash: String::new(), admin: false };
    store.add_owner(OwnerRec { name: name.into(), kind, private: false, created: 0 }).unwrap();
}

/// Waits (bounded) for the writer to run a reap queued by a dropped lease.
fn wait_for(store: &Store, want: (u64, u64)) {
    for _ in 0..500 {
        if chunks_and_staged(store) == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(chunks_and_staged(store), want);
}

#[test]
fn a_reader_whose_snapshot_predates_a_committed_delete_keeps_its_snapshot_and_reads_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = content(1, 3 * CHUNK_SIZE + 17);
    let store = store_with(&dir, "a.bin", &data);
    let reader = store.open_file(&target("a.bin")).unwrap().unwrap();
    // Unleased when deleted: the chunks go in the delete's own commit.
    store.delete_file(target("a.bin")).unwrap();
    assert_eq!(chunks_and_staged(&store), (0, 0));
    // The lease is granted (the blob is no longer dying) but its record is gone: the reader
    // must stay on the snapshot that still holds the chunks.
    let reader = reader.into_leased();
    assert_eq!(read_all(&reader), data);
}

#[test]
fn a_blob_deleted_under_two_leases_is_kept_until_the_last_goes_and_then_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let data = content(2, 2 * CHUNK_SIZE + 5);
    let store = store_with(&dir, "b.bin", &data);
    let first = store.open_file(&target("b.bin")).unwrap().unwrap().into_leased();
    let late = store.open_file(&target("b.bin")).unwrap().unwrap();
    store.delete_file(target("b.bin")).unwrap();
    // Leased when deleted: the three chunks stay, staged.
    assert_eq!(chunks_and_staged(&store), (3, 1));
    // A reader from before the delete gets a lease, finds no record, and keeps its snapshot;
    // its lease is given back at once without reaping what the first lease still holds.
    let late = late.into_leased();
    barrier(&store, "bob");
    assert_eq!(chunks_and_staged(&store), (3, 1));
    assert_eq!(read_all(&first), data);
    assert_eq!(read_all(&late), data);
    drop(first);
    wait_for(&store, (0, 0));
    assert_eq!(read_all(&late), data, "the snapshot still has the chunks");
    // The same content uploads again as a new blob.
    drop(late);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut up = store.begin_upload(u64::MAX);
        up.push(Bytes::from(data.clone())).await.unwrap();
        let added = store.add_file(up.seal().await.unwrap(), target("b.bin"), None).await.unwrap();
        assert!(matches!(added, super::Added::Stored(_)), "{added:?}");
    });
    let again = store.open_file(&target("b.bin")).unwrap().unwrap().into_leased();
    assert_eq!(read_all(&again), data);
}
