//! The newest sha256 index entries held in the writer's memory (`recent.rs`): content is
//! found once whichever side of its slice's watermark its blob is, across merges, deletes, a
//! restart, a batch that failed after adding to the map, and a large upload whose id
//! predates a merge. Unit tests keep at most `MERGE_AT` = 64 blobs in the map, so a slice is
//! merged at nearly every upload.

use bytes::Bytes;
use redb::ReadableTableMetadata;

use super::fault_tests::{content, hold_writer, read_all, runtime, seed_owner, target, upload, wait_queued};
use super::recent::{Watermarks, MERGE_AT};
use super::tables::{BLOB_BY_SHA, META};
use super::{Create, Error, Options, Store};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("depot.redb"), &Options::default(), Create::IfMissing).unwrap().store
}

/// Entries in `BLOB_BY_SHA`.
fn indexed(store: &Store) -> u64 {
    store.read().unwrap().open_table(BLOB_BY_SHA).unwrap().len().unwrap()
}

/// Whether file `name`'s blob is under its slice's watermark (in `BLOB_BY_SHA`).
fn covered(store: &Store, name: &str) -> bool {
    let file = store.file(&target(name)).unwrap().unwrap();
    let tx = store.read().unwrap();
    Watermarks::read(&tx.open_table(META).unwrap()).unwrap().covers(file.blob, &file.sha256)
}

fn blob_of(store: &Store, name: &str) -> u64 {
    store.file(&target(name)).unwrap().unwrap().blob
}

fn assert_sound(store: &Store) {
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// 4 KiB of content `i` (distinct for every `i`).
fn file(i: usize) -> Vec<u8> {
    let mut data = content((i % 251) as u8, 4096);
    data[..8].copy_from_slice(&(i as u64).to_le_bytes());
    data
}

/// Uploads `f0`..`f{n-1}` and returns the index of one that is in `BLOB_BY_SHA` and of one
/// that is in the map only.
fn fill(store: &Store, n: usize) -> (usize, usize) {
    let rt = runtime();
    for i in 0..n {
        rt.block_on(upload(store, &format!("f{i}"), &file(i))).unwrap();
    }
    let merged = (0..n).find(|i| covered(store, &format!("f{i}"))).expect("a merged blob");
    let recent = (0..n).rev().find(|i| !covered(store, &format!("f{i}"))).expect("a blob in the map");
    (merged, recent)
}

#[test]
fn content_is_stored_once_on_either_side_of_the_watermark_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed_owner(&store);
    let n = 3 * MERGE_AT;
    let (merged, recent) = fill(&store, n);
    // The map never holds more than MERGE_AT blobs; the rest went in slice by slice.
    assert!(indexed(&store) >= (n - MERGE_AT) as u64 && indexed(&store) < n as u64, "{}", indexed(&store));
    assert_sound(&store);

    // Same content again, on either side.
    let rt = runtime();
    rt.block_on(upload(&store, "again-merged", &file(merged))).unwrap();
    rt.block_on(upload(&store, "again-recent", &file(recent))).unwrap();
    assert_eq!(blob_of(&store, "again-merged"), blob_of(&store, &format!("f{merged}")));
    assert_eq!(blob_of(&store, "again-recent"), blob_of(&store, &format!("f{recent}")));
    // Readers find both by checksum.
    for name in [format!("f{merged}"), format!("f{recent}")] {
        let sha = store.file(&target(&name)).unwrap().unwrap().sha256;
        assert_eq!(store.files_with_sha("alice", sha, 0, 10).unwrap().total, 2, "{name}");
    }
    drop(rt);
    store.close();

    // A restart rebuilds the map from the records above the watermarks.
    let store = open(&dir);
    let recent = (0..n).rev().find(|i| !covered(&store, &format!("f{i}"))).expect("a blob in the map");
    let rt = runtime();
    rt.block_on(upload(&store, "after-restart", &file(recent))).unwrap();
    assert_eq!(blob_of(&store, "after-restart"), blob_of(&store, &format!("f{recent}")));
    assert_sound(&store);
    drop(rt);
    store.close();
}

#[test]
fn a_deleted_blob_leaves_the_index_on_either_side_of_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed_owner(&store);
    let (merged, recent) = fill(&store, 2 * MERGE_AT);
    let newest = (0..2 * MERGE_AT).map(|i| blob_of(&store, &format!("f{i}"))).max().unwrap();
    store.delete_file(target(&format!("f{merged}"))).unwrap();
    store.delete_file(target(&format!("f{recent}"))).unwrap();
    assert_sound(&store);
    // Uploaded again, each is new content with a new blob.
    let rt = runtime();
    rt.block_on(upload(&store, "merged-again", &file(merged))).unwrap();
    rt.block_on(upload(&store, "recent-again", &file(recent))).unwrap();
    assert!(blob_of(&store, "merged-again") > newest && blob_of(&store, "recent-again") > newest);
    assert_eq!(read_all(&store, "recent-again"), Some(file(recent)));
    assert_sound(&store);
    drop(rt);
    store.close();
}

#[test]
fn a_failed_batch_leaves_no_content_in_the_map_that_its_rollback_removed() {
    use super::writer::Call;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed_owner(&store);
    let rt = runtime();
    // A first job holds the writer, so that an upload and a panicking job share a batch:
    // the upload adds its new content to the map, then the batch is rolled back.
    let release = hold_writer(&store, |_| Ok(()));
    let lost = {
        let store = store.clone();
        std::thread::spawn(move || runtime().block_on(upload(&store, "lost", &file(7))))
    };
    wait_queued(&store, 1);
    let (bad, bad_rx) = Call::job(true, 0, |_tx| -> Result<(), Error> { panic!("a job fails its batch") });
    store.inner.queue.blocking_send(bad).unwrap();
    assert_eq!(release(), Err(Error::Panicked));
    assert_eq!(bad_rx.blocking_recv().unwrap(), Err(Error::Panicked));
    assert_eq!(lost.join().unwrap(), Err(Error::Panicked), "the upload shared the failed batch");
    assert_eq!(read_all(&store, "lost"), None);

    // The same content again is new content, not a reference to the rolled-back blob.
    rt.block_on(upload(&store, "kept", &file(7))).unwrap();
    assert_eq!(read_all(&store, "kept"), Some(file(7)));
    assert_sound(&store);
    drop(rt);
    store.close();
}

#[test]
fn a_large_upload_whose_id_predates_a_merge_goes_into_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed_owner(&store);
    let rt = runtime();
    let big = content(9, super::CHUNK_SIZE + 5);
    // Its first chunk goes to the writer now, taking its blob id.
    let mut up = store.begin_upload(u64::MAX);
    rt.block_on(up.push(Bytes::copy_from_slice(&big[..super::CHUNK_SIZE + 1]))).unwrap();
    // Merges put every slice's watermark past that id.
    for i in 0..4 * MERGE_AT {
        rt.block_on(upload(&store, &format!("f{i}"), &file(i))).unwrap();
    }
    rt.block_on(up.push(Bytes::copy_from_slice(&big[super::CHUNK_SIZE + 1..]))).unwrap();
    let sealed = rt.block_on(up.seal()).unwrap();
    rt.block_on(store.add_file(sealed, target("big"), None)).unwrap();
    assert!(covered(&store, "big"), "its id was taken before its slice's last merge");
    assert_sound(&store);
    rt.block_on(upload(&store, "big-again", &big)).unwrap();
    assert_eq!(blob_of(&store, "big-again"), blob_of(&store, "big"));
    assert_eq!(read_all(&store, "big-again"), Some(big));
    drop(rt);
    store.close();
}

#[test]
fn verify_names_an_index_that_breaks_the_watermark_and_repair_mends_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed_owner(&store);
    let (merged_i, recent_i) = fill(&store, 2 * MERGE_AT);
    let (merged_f, recent_f) = (format!("f{merged_i}"), format!("f{recent_i}"));
    let (merged, recent) = (blob_of(&store, &merged_f), blob_of(&store, &recent_f));
    let merged_sha = store.file(&target(&merged_f)).unwrap().unwrap().sha256;
    let recent_sha = store.file(&target(&recent_f)).unwrap().unwrap().sha256;
    store
        .write(move |tx| {
            let mut by_sha = tx.open_table(BLOB_BY_SHA)?;
            by_sha.remove(merged_sha)?;
            by_sha.insert(recent_sha, recent)?;
            Ok(())
        })
        .unwrap();
    let text = store.verify().unwrap().problems.join("\n");
    for expected in [
        format!("blob {merged} is missing from the sha256 index"),
        format!("sha256 index entry points at missing, different or newer blob {recent}"),
    ] {
        assert!(text.contains(&expected), "verify should report {expected:?}:\n{text}");
    }
    let repaired = store.repair().unwrap();
    assert!(repaired.after.problems.is_empty(), "{:?}", repaired.after.problems);
    // Both are found again by content.
    let rt = runtime();
    rt.block_on(upload(&store, "merged-again", &file(merged_i))).unwrap();
    rt.block_on(upload(&store, "recent-again", &file(recent_i))).unwrap();
    assert_eq!(blob_of(&store, "merged-again"), merged);
    assert_eq!(blob_of(&store, "recent-again"), recent);
    assert_sound(&store);
    drop(rt);
    store.close();
}

#[test]
fn repair_of_a_blob_still_in_the_map_leaves_no_trace_of_it_there() {
    use super::tables::{FILES, FILES_BY_BLOB};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed_owner(&store);
    let (_, recent_i) = fill(&store, MERGE_AT);
    let name = format!("f{recent_i}");
    let blob = blob_of(&store, &name);
    // Its file records vanish behind the store's back: the blob is orphaned, and repair
    // removes it while the writer's map still lists it.
    let key = name.clone();
    store
        .write(move |tx| {
            tx.open_table(FILES)?.remove(("alice", "generic", "pkg", "1", key.as_str()))?;
            tx.open_table(FILES_BY_BLOB)?.remove((blob, "alice", "generic", "pkg", "1", key.as_str()))?;
            Ok(())
        })
        .unwrap();
    let repaired = store.repair().unwrap();
    assert!(
        repaired.actions.iter().any(|a| a.contains(&format!("removed orphaned blob {blob}"))),
        "{:?}",
        repaired.actions
    );
    // The same content again is new content (the map forgot the removed blob).
    let rt = runtime();
    rt.block_on(upload(&store, "again", &file(recent_i))).unwrap();
    assert!(blob_of(&store, "again") > blob);
    assert_eq!(read_all(&store, "again"), Some(file(recent_i)));
    assert_sound(&store);
    drop(rt);
    store.close();
}

#[test]
fn unreadable_watermarks_are_reported_and_repair_indexes_every_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed_owner(&store);
    let (merged, recent) = fill(&store, MERGE_AT + 8);
    store
        .write(|tx| {
            tx.open_table(META)?.insert(super::recent::UPTO, b"short".as_slice())?;
            Ok(())
        })
        .unwrap();
    let text = store.verify().unwrap().problems.join("\n");
    assert!(text.contains("watermarks are unreadable"), "{text}");
    let repaired = store.repair().unwrap();
    assert!(repaired.after.problems.is_empty(), "{:?}", repaired.after.problems);
    assert_eq!(indexed(&store), (MERGE_AT + 8) as u64, "every blob is in the index");
    assert!(covered(&store, &format!("f{recent}")));
    let rt = runtime();
    rt.block_on(upload(&store, "merged-again", &file(merged))).unwrap();
    rt.block_on(upload(&store, "recent-again", &file(recent))).unwrap();
    assert_eq!(blob_of(&store, "merged-again"), blob_of(&store, &format!("f{merged}")));
    assert_eq!(blob_of(&store, "recent-again"), blob_of(&store, &format!("f{recent}")));
    assert_sound(&store);
    drop(rt);
    store.close();
}

#[test]
fn a_single_watermark_of_an_earlier_build_reads_as_every_slices() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .write(|tx| {
            tx.open_table(META)?.insert(super::recent::UPTO, 7u64.to_le_bytes().as_slice())?;
            Ok(())
        })
        .unwrap();
    let tx = store.read().unwrap();
    let upto = Watermarks::read(&tx.open_table(META).unwrap()).unwrap();
    for first in [0u8, 100, 255] {
        let mut sha = [0; 32];
        sha[0] = first;
        assert!(upto.covers(7, &sha) && !upto.covers(8, &sha), "slice of {first}");
    }
}
