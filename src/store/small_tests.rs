//! Small content (`blobs.rs`, at most `SMALL_MAX` bytes): laid out in page-filling pieces
//! with the remainder inline, read back whole and by range at every boundary of that layout,
//! stored once per distinct content, held in memory by downloads, checked by verify, and
//! carried by backup and compaction.

use redb::ReadableTableMetadata;

use super::blobs::{PIECE, SMALL_MAX};
use super::fault_tests::{content, contents, read_all, runtime, seed_owner, target, upload};
use super::records::BlobRec;
use super::tables::{BLOBS, CHUNKS, STAGED};
use super::{codec, Create, Options, Store, CHUNK_SIZE};

/// Sizes at each edge of the layout: empty, inside the first piece, around a piece, a
/// 4 KiB file, around the small limit, and one chunk and a bit of a large upload.
fn edges() -> Vec<usize> {
    vec![
        0,
        1,
        PIECE - 1,
        PIECE,
        PIECE + 1,
        4 * PIECE,
        4096,
        SMALL_MAX - 1,
        SMALL_MAX,
        SMALL_MAX + 1,
        CHUNK_SIZE + 5,
    ]
}

fn new_store(dir: &tempfile::TempDir) -> Store {
    let store =
        Store::open(&dir.path().join("depot.redb"), &Options::default(), Create::IfMissing).unwrap().store;
    seed_owner(&store);
    store
}

/// The record of the blob file `name` points at.
fn blob_of(store: &Store, name: &str) -> (u64, BlobRec) {
    let id = store.file(&target(name)).unwrap().unwrap().blob;
    let tx = store.read().unwrap();
    let rec = super::get_rec(&tx.open_table(BLOBS).unwrap(), id).unwrap().unwrap();
    (id, rec)
}

/// Chunk keys of blob `id`.
fn chunks_of(store: &Store, id: u64) -> Vec<u32> {
    let tx = store.read().unwrap();
    let table = tx.open_table(CHUNKS).unwrap();
    table.range((id, 0)..=(id, u32::MAX)).unwrap().map(|e| e.unwrap().0.value().1).collect()
}

/// Bytes `start..end` of file `name`, from a snapshot and (`leased`) from a download's reader.
fn range(store: &Store, name: &str, start: u64, end: u64, leased: bool) -> Vec<u8> {
    let mut reader = store.open_file(&target(name)).unwrap().unwrap();
    if leased {
        reader = reader.into_leased();
    }
    let mut out = Vec::new();
    reader
        .read(start, end, |b| {
            out.extend_from_slice(&b);
            true
        })
        .unwrap();
    out
}

#[test]
fn small_content_is_laid_out_in_pieces_and_reads_back_whole_and_by_range_at_every_edge() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let rt = runtime();
    for (i, &n) in edges().iter().enumerate() {
        let data = content(i as u8, n);
        let name = format!("f{n}.bin");
        rt.block_on(upload(&store, &name, &data)).unwrap();
        let (id, rec) = blob_of(&store, &name);
        if n <= SMALL_MAX {
            assert_eq!(rec.chunk_size as usize, PIECE, "{n}");
            assert_eq!(rec.inline.len(), n % PIECE, "the remainder is inline: {n}");
            assert_eq!(chunks_of(&store, id), (0..(n / PIECE) as u32).collect::<Vec<_>>(), "{n}");
        } else {
            assert_eq!((rec.chunk_size as usize, rec.inline.len()), (CHUNK_SIZE, 0), "{n}");
            assert_eq!(chunks_of(&store, id).len(), n.div_ceil(CHUNK_SIZE), "{n}");
        }
        assert_eq!(read_all(&store, &name).as_deref(), Some(data.as_slice()), "{n}");
        let n64 = n as u64;
        let tail = (n - n % PIECE) as u64;
        let mut cuts = vec![(0, n64), (0, 1), (n64.saturating_sub(1), n64), (0, n64 + 10)];
        for edge in [PIECE as u64, tail] {
            cuts.push((edge.saturating_sub(1), (edge + 1).min(n64)));
            cuts.push((edge, n64));
        }
        cuts.push((n64 / 3, n64 / 3 * 2));
        for (start, end) in cuts {
            let want = &data[(start as usize).min(n)..(end as usize).min(n)];
            for leased in [false, true] {
                assert_eq!(range(&store, &name, start, end, leased), want, "{n} {start}..{end} {leased}");
            }
        }
    }
    // Nothing is staged, and verify re-reads every byte.
    assert_eq!(store.read().unwrap().open_table(STAGED).unwrap().len().unwrap(), 0);
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.bytes, edges().iter().map(|&n| n as u64).sum::<u64>());
    drop(rt);
    store.close();
}

#[test]
fn the_same_small_content_is_stored_once_and_goes_with_its_last_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let rt = runtime();
    let data = content(7, 3 * PIECE + 5);
    for name in ["a.bin", "b.bin", "c.bin"] {
        rt.block_on(upload(&store, name, &data)).unwrap();
    }
    rt.block_on(upload(&store, "empty-1", b"")).unwrap();
    rt.block_on(upload(&store, "empty-2", b"")).unwrap();
    let (id, rec) = blob_of(&store, "a.bin");
    assert_eq!((blob_of(&store, "b.bin").0, blob_of(&store, "c.bin").0), (id, id));
    assert_eq!(rec.refs, 3);
    assert_eq!(blob_of(&store, "empty-1").0, blob_of(&store, "empty-2").0);
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.blobs, report.chunks), (5, 2, 3));

    // A download that began before the deletes reads the content from memory, not a lease.
    let reader = store.open_file(&target("c.bin")).unwrap().unwrap().into_leased();
    store.delete_file(target("a.bin")).unwrap();
    assert_eq!(read_all(&store, "b.bin"), Some(data.clone()));
    store.delete_file(target("b.bin")).unwrap();
    store.delete_file(target("c.bin")).unwrap();
    assert!(chunks_of(&store, id).is_empty(), "no lease kept the pieces");
    assert_eq!(contents(&reader), data);
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.blobs, report.chunks, report.staged), (2, 1, 0, 0));
    drop(rt);
    store.close();
}

#[test]
fn verify_finds_damaged_and_missing_small_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let rt = runtime();
    rt.block_on(upload(&store, "inline.bin", &content(1, 300))).unwrap();
    rt.block_on(upload(&store, "pieces.bin", &content(2, 2 * PIECE + 9))).unwrap();
    let (inline_id, mut inline_rec) = blob_of(&store, "inline.bin");
    let (pieces_id, mut pieces_rec) = blob_of(&store, "pieces.bin");
    store
        .write(move |tx| {
            inline_rec.inline[10] ^= 1;
            pieces_rec.inline[0] ^= 1;
            let mut blobs = tx.open_table(BLOBS)?;
            blobs.insert(inline_id, codec::encode(&inline_rec).as_slice())?;
            blobs.insert(pieces_id, codec::encode(&pieces_rec).as_slice())?;
            Ok(())
        })
        .unwrap();
    let text = store.verify().unwrap().problems.join("\n");
    for id in [inline_id, pieces_id] {
        assert!(text.contains(&format!("blob {id} content does not match its sha256")), "{text}");
    }
    store
        .write(move |tx| {
            tx.open_table(CHUNKS)?.remove((pieces_id, 0))?;
            Ok(())
        })
        .unwrap();
    let text = store.verify().unwrap().problems.join("\n");
    assert!(text.contains(&format!("blob {pieces_id} lacks chunk 0")), "{text}");
    let err = store.open_file(&target("pieces.bin")).unwrap().unwrap().into_leased();
    let mut out = Vec::new();
    let read = err.read(0, 2 * PIECE as u64 + 9, |b| {
        out.extend_from_slice(&b);
        true
    });
    assert!(
        read.is_err_and(|e| e.to_string().contains("lacks chunk 0")),
        "a missing piece is an error, never short content"
    );
    drop(rt);
    store.close();
}

#[test]
fn backup_and_compaction_carry_small_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let rt = runtime();
    let files: Vec<(String, Vec<u8>)> =
        edges().iter().enumerate().map(|(i, &n)| (format!("f{n}"), content(i as u8 + 40, n))).collect();
    for (name, data) in &files {
        rt.block_on(upload(&store, name, data)).unwrap();
    }
    store.delete_file(target("f1")).unwrap();
    let copy = dir.path().join("copy.redb");
    let mut last = (0, 0);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    store.backup(&copy, &mut |done, total| last = (done, total), &cancel).unwrap();
    let total: u64 = files.iter().filter(|(n, _)| n != "f1").map(|(_, d)| d.len() as u64).sum();
    assert_eq!(last, (total, total), "progress counts inline bytes too");
    store.compact(std::time::Duration::from_secs(5), None).unwrap();
    for (name, data) in &files {
        let want = (name != "f1").then(|| data.clone());
        assert_eq!(read_all(&store, name), want, "{name} after compaction");
    }
    assert!(store.verify().unwrap().problems.is_empty());
    drop(rt);
    store.close();
    let backup = Store::open(&copy, &Options::default(), Create::Never).unwrap().store;
    for (name, data) in &files {
        let want = (name != "f1").then(|| data.clone());
        assert_eq!(read_all(&backup, name), want, "{name} in the backup");
    }
    let report = backup.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.bytes, total);
    backup.close();
}

/// The constants of the layout against redb's page format: four pieces fill a page, and a
/// blob record with the longest remainder fits in one.
#[test]
fn pieces_fill_pages() {
    const PAGE: usize = 4096;
    // Leaf header 4 bytes; per entry a 12-byte key (u64, u32) and a 4-byte value end.
    assert_eq!(4 + 4 * (12 + 4 + PIECE), PAGE);
    let longest = BlobRec {
        sha256: [0; 32],
        size: SMALL_MAX as u64,
        chunk_size: PIECE as u32,
        refs: u64::MAX,
        inline: vec![0; PIECE - 1],
    };
    // A u64 key, a 4-byte value end, the header.
    assert!(codec::encode(&longest).len() + 8 + 4 + 4 <= PAGE / 2, "two records share a page at least");
    assert!(SMALL_MAX <= super::cache::MAX_FILE_BYTES as usize);
}
