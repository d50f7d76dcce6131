//! Failure injection below redb: a storage backend whose writes start failing (a full disk)
//! or that drops everything written since the last sync (power loss), then the image is
//! reopened and checked.
//!
//! These complement the `kill -9` tests of the integration suite: a killed process leaves
//! the OS page cache intact, these do not.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use redb::{ReadableTable, StorageBackend};

/// What redb's backend methods return (std::io::Error with redb's default features).
type BackendIoError = std::io::Error;

use super::{Error, FileTarget, Options, OwnerKind, OwnerRec, Store};

/// A byte image with a synced copy; `crash()` throws away what was not synced.
#[derive(Debug, Default)]
struct Image {
    live: Mutex<Vec<u8>>,
    synced: Mutex<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct Faulty {
    image: Arc<Image>,
    /// Bytes that may still be written before writes fail as on a full disk.
    budget: Arc<AtomicU64>,
    full: Arc<AtomicBool>,
}

impl Faulty {
    fn new(image: Arc<Image>) -> Self {
        Faulty { image, budget: Arc::new(AtomicU64::new(u64::MAX)), full: Arc::new(AtomicBool::new(false)) }
    }
}

fn disk_full() -> BackendIoError {
    std::io::Error::from(std::io::ErrorKind::StorageFull)
}

impl StorageBackend for Faulty {
    fn len(&self) -> Result<u64, BackendIoError> {
        Ok(self.image.live.lock().unwrap().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
        let live = self.image.live.lock().unwrap();
        let start = offset as usize;
        let src = live
            .get(start..start + out.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
        let mut live = self.image.live.lock().unwrap();
        if len as usize > live.len() && self.full.load(Ordering::SeqCst) {
            return Err(disk_full());
        }
        live.resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendIoError> {
        let live = self.image.live.lock().unwrap().clone();
        *self.image.synced.lock().unwrap() = live;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
        let len = data.len() as u64;
        let left = self.budget.load(Ordering::SeqCst);
        if left < len {
            self.full.store(true, Ordering::SeqCst);
            return Err(disk_full());
        }
        self.budget.store(left - len, Ordering::SeqCst);
        let mut live = self.image.live.lock().unwrap();
        let end = offset as usize + data.len();
        if live.len() < end {
            live.resize(end, 0);
        }
        live[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}

/// `alice/pkg/1/{file}`, a generic file; shared with `lease_tests`.
pub(super) fn target(file: &str) -> FileTarget {
    FileTarget {
        owner: "alice".into(),
        kind: super::PackageType::Generic,
        package: "pkg".into(),
        version: "1".into(),
        file: file.into(),
    }
}

/// `len` bytes that differ with `seed`; shared with `lease_tests`.
pub(super) fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

pub(super) async fn upload(store: &Store, file: &str, data: &[u8]) -> Result<(), Error> {
    let mut up = store.begin_upload(u64::MAX);
    for piece in data.chunks(300 << 10) {
        up.push(Bytes::copy_from_slice(piece)).await?;
    }
    match store.add_file(up.seal().await?, target(file), None).await? {
        super::Added::Stored(_) => Ok(()),
        super::Added::Refused(r) => Err(r.into()),
    }
}

pub(super) fn read_all(store: &Store, file: &str) -> Option<Vec<u8>> {
    Some(contents(&store.open_file(&target(file)).unwrap()?))
}

/// The whole content `reader` reads; shared with `lease_tests`.
pub(super) fn contents(reader: &super::FileReader) -> Vec<u8> {
    let mut out = Vec::new();
    reader
        .read(0, reader.file.size, |b| {
            out.extend_from_slice(&b);
            true
        })
        .unwrap();
    out
}

fn open(backend: Faulty) -> Store {
    let opened = Store::open_backend(backend, &Options::default()).unwrap();
    opened.store
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

pub(super) fn seed_owner(store: &Store) {
    let kind = OwnerKind::User { password_hash: String::new(), admin: false };
    store.add_owner(OwnerRec { name: "alice".into(), kind, private: false, created: 0 }).unwrap();
}

#[test]
fn a_full_disk_fails_the_upload_and_leaves_a_consistent_image() {
    let image = Arc::new(Image::default());
    let backend = Faulty::new(image.clone());
    let store = open(backend.clone());
    seed_owner(&store);
    let rt = runtime();
    let kept = content(1, 3 << 20);
    rt.block_on(upload(&store, "kept.bin", &kept)).unwrap();

    // The disk fills up halfway through the next upload.
    backend.budget.store(2 << 20, Ordering::SeqCst);
    let err = rt.block_on(upload(&store, "lost.bin", &content(2, 8 << 20))).unwrap_err();
    assert!(matches!(err, Error::DiskFull | Error::Io(_)), "{err:?}");
    assert!(!store.is_writable(), "a failed write marks the store unhealthy");
    drop(rt);
    store.close();

    // Space freed; the operator restarts.
    let backend = Faulty::new(image);
    let store = open(backend);
    assert_eq!(read_all(&store, "kept.bin"), Some(kept));
    assert_eq!(read_all(&store, "lost.bin"), None);
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.blobs, report.staged), (1, 1, 0));
    // The name is free and the store works.
    runtime().block_on(upload(&store, "lost.bin", b"second try")).unwrap();
    store.close();
}

#[test]
fn power_loss_keeps_acknowledged_files_and_drops_the_rest() {
    let image = Arc::new(Image::default());
    let store = open(Faulty::new(image.clone()));
    seed_owner(&store);
    let rt = runtime();
    let files: Vec<(String, Vec<u8>)> =
        (0..6u8).map(|i| (format!("f{i}.bin"), content(i, (i as usize) * 700_000 + 1))).collect();
    for (name, data) in &files {
        rt.block_on(upload(&store, name, data)).unwrap();
    }
    // An upload in flight: chunks queued and committed without fsync, never finished.
    let mut pending = store.begin_upload(u64::MAX);
    rt.block_on(pending.push(Bytes::from(content(9, 3 << 20)))).unwrap();
    // A later durable commit (another upload) carries those staged chunks to disk with it.
    let last = content(7, 100_000);
    rt.block_on(upload(&store, "last.bin", &last)).unwrap();
    std::mem::forget(pending);
    drop(rt);

    // Power loss: only what was synced survives.
    let synced = image.synced.lock().unwrap().clone();
    std::mem::forget(store);
    let after = Arc::new(Image { live: Mutex::new(synced.clone()), synced: Mutex::new(synced) });
    let opened = Store::open_backend(Faulty::new(after), &Options::default()).unwrap();
    assert_eq!(opened.reclaimed, 1, "the unfinished upload's chunks are reclaimed on open");
    let store = opened.store;
    assert_eq!(read_all(&store, "last.bin"), Some(last));
    for (name, data) in &files {
        assert_eq!(read_all(&store, name).as_deref(), Some(data.as_slice()), "{name}");
    }
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.staged), (7, 0));
    store.close();
}

#[test]
fn verify_names_injected_damage_and_repair_fixes_it_without_losing_a_file() {
    use super::records::{BlobRec, VersionRec};
    use super::tables::{BLOBS, BLOB_BY_SHA, CHUNKS, VERSIONS};
    let store = open(Faulty::new(Arc::new(Image::default())));
    seed_owner(&store);
    let rt = runtime();
    let (a, b) = (content(3, (2 << 20) + 11), content(4, 5000));
    rt.block_on(upload(&store, "a.bin", &a)).unwrap();
    rt.block_on(upload(&store, "b.bin", &b)).unwrap();
    let a_rec = store.file(&target("a.bin")).unwrap().unwrap();
    let a_blob = a_rec.blob;
    let a_sha = a_rec.sha256;
    let recent = store.inner.recent.clone();
    store
        .write(move |tx| {
            // Both blobs merged into the sha256 index, as after many uploads (`recent.rs`),
            // behind the writer's map, which must then be rebuilt.
            super::recent::as_layout_5(tx)?;
            super::recent::set_watermark_past_all(tx)?;
            recent.invalidate();
            // An orphaned blob with its chunk and index entry.
            let rec = BlobRec {
                sha256: [7; 32],
                size: 3,
                chunk_size: super::CHUNK_SIZE as u32,
                refs: 1,
                inline: vec![],
            };
            tx.open_table(BLOBS)?.insert(9999, super::codec::encode(&rec).as_slice())?;
            tx.open_table(BLOB_BY_SHA)?.insert([7; 32], 9999)?;
            tx.open_table(CHUNKS)?.insert((9999, 0), b"abc".as_slice())?;
            // Chunks that belong to nothing at all.
            tx.open_table(CHUNKS)?.insert((8888, 0), b"zz".as_slice())?;
            // A wrong reference count, and a lost index entry, on a live blob.
            let mut blobs = tx.open_table(BLOBS)?;
            let mut live: BlobRec = super::get_rec(&blobs, a_blob)?.unwrap();
            live.refs = 5;
            blobs.insert(a_blob, super::codec::encode(&live).as_slice())?;
            tx.open_table(BLOB_BY_SHA)?.remove(a_sha)?;
            // A version without files.
            let v = VersionRec { version: "empty".into(), ..VersionRec::default() };
            tx.open_table(VERSIONS)?
                .insert(("alice", "generic", "pkg", "empty"), super::codec::encode(&v).as_slice())?;
            Ok(())
        })
        .unwrap();
    let before = store.verify().unwrap();
    let text = before.problems.join("\n");
    for expected in [
        "blob 9999 is orphaned",
        "chunks of blob 8888 are orphaned",
        "counts 5 references but 1 files",
        &format!("blob {a_blob} is missing from the sha256 index"),
        "version alice/generic/pkg/empty has no file",
    ] {
        assert!(text.contains(expected), "verify should report {expected:?}:\n{text}");
    }
    let repaired = store.repair().unwrap();
    assert!(repaired.after.problems.is_empty(), "{:?}", repaired.after.problems);
    // Five fixes, and the orphan's index entry goes first: its id is above the watermarks.
    assert_eq!(repaired.actions.len(), 6, "{:#?}", repaired.actions);
    assert_eq!(read_all(&store, "a.bin"), Some(a));
    assert_eq!(read_all(&store, "b.bin"), Some(b));
    // A second repair finds nothing to do.
    assert!(store.repair().unwrap().actions.is_empty());
    store.close();
}

#[test]
fn a_layout_1_database_is_upgraded_on_open_with_its_usage_counted() {
    use super::tables::{META, USAGE};
    let image = Arc::new(Image::default());
    let store = open(Faulty::new(image.clone()));
    seed_owner(&store);
    let rt = runtime();
    rt.block_on(upload(&store, "a.bin", &content(5, 70_000))).unwrap();
    rt.block_on(upload(&store, "b.bin", &content(6, 30))).unwrap();
    // Turn it into what layout 1 wrote: no usage records.
    store
        .write(|tx| {
            super::recent::as_layout_5(tx)?;
            tx.open_table(META)?.insert("format", 1u32.to_le_bytes().as_slice())?;
            tx.open_table(USAGE)?.retain(|_, _| false)?;
            Ok(())
        })
        .unwrap();
    drop(rt);
    store.close();
    let store = open(Faulty::new(image));
    let usage = store.usage(Some("alice")).unwrap();
    assert_eq!((usage[0].usage.bytes, usage[0].usage.versions), (70_030, 1));
    assert!(store.verify().unwrap().problems.is_empty());
    store.close();
}

#[test]
fn repair_deletes_no_content_while_a_file_record_is_unreadable() {
    use super::records::BlobRec;
    use super::tables::{BLOBS, CHUNKS, FILES};
    let store = open(Faulty::new(Arc::new(Image::default())));
    seed_owner(&store);
    let rt = runtime();
    let a = content(9, 9000);
    rt.block_on(upload(&store, "a.bin", &a)).unwrap();
    store
        .write(|tx| {
            // A damaged file record: which blob it points at cannot be known...
            tx.open_table(FILES)?
                .insert(("alice", "generic", "pkg", "1", "x.bin"), [0xFFu8; 3].as_slice())?;
            // ...so this blob, which looks orphaned, may be its content.
            let rec = BlobRec {
                sha256: [9; 32],
                size: 2,
                chunk_size: super::CHUNK_SIZE as u32,
                refs: 1,
                inline: vec![],
            };
            tx.open_table(BLOBS)?.insert(7777, super::codec::encode(&rec).as_slice())?;
            tx.open_table(CHUNKS)?.insert((7777, 0), b"xy".as_slice())?;
            Ok(())
        })
        .unwrap();
    let repaired = store.repair().unwrap();
    assert!(!repaired.actions.iter().any(|a| a.contains("7777")), "{:#?}", repaired.actions);
    assert!(!repaired.after.problems.is_empty(), "the damaged record is still reported");
    assert_eq!(read_all(&store, "a.bin"), Some(a));
    store
        .write(|tx| {
            assert!(tx.open_table(CHUNKS)?.get((7777, 0))?.is_some(), "the chunk is kept");
            Ok(())
        })
        .unwrap();
    store.close();
}

/// A job that needs the database to itself and panics there, as a bug in a compaction would:
/// the one place (with the writer's own bookkeeping) where a panic stops the writer.
struct PanicAlone(Option<tokio::sync::oneshot::Sender<Result<(), Error>>>);

impl super::writer::Job for PanicAlone {
    fn run(&mut self, _: &redb::WriteTransaction) -> Result<(), Error> {
        unreachable!("runs alone")
    }

    fn durable(&self) -> bool {
        true
    }

    fn complete(mut self: Box<Self>, committed: Result<(), Error>) {
        if let Some(reply) = self.0.take() {
            let _ = reply.send(committed);
        }
    }

    fn alone(&self) -> bool {
        true
    }

    fn run_alone(&mut self, _: &std::sync::RwLock<redb::Database>) -> Result<(), Error> {
        panic!("injected: a compaction bug")
    }
}

impl Store {
    /// Stops the writer the way a panic outside a write job would, and returns what the job
    /// that panicked was told. For tests of what the server says afterwards.
    pub(crate) fn stop_writer_for_test(&self) -> Result<(), Error> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.inner.queue.blocking_send(Box::new(PanicAlone(Some(reply)))).map_err(|_| Error::Closed)?;
        rx.blocking_recv().map_err(|_| Error::Closed)?
    }
}

fn probe(store: &Store, key: &'static str) -> bool {
    let tx = store.read().unwrap();
    tx.open_table(super::tables::META).unwrap().get(key).unwrap().is_some()
}

/// A durable job that says when it runs, then waits to be let go before it runs `then`:
/// (job, running, go, answer).
pub(super) type Holding = (
    Box<dyn super::writer::Job>,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
    tokio::sync::oneshot::Receiver<Result<(), Error>>,
);

pub(super) fn holding_job(
    then: impl FnOnce(&redb::WriteTransaction) -> Result<(), Error> + Send + 'static,
) -> Holding {
    let (running, running_rx) = std::sync::mpsc::channel();
    let (go, wait_go) = std::sync::mpsc::channel::<()>();
    let (job, answer) = super::writer::Call::job(true, 0, move |tx| {
        running.send(()).unwrap();
        wait_go.recv().unwrap();
        then(tx)
    });
    (job, running_rx, go, answer)
}

/// Holds the writer with a [`holding_job`] until the returned function is called, so that
/// the jobs queued meanwhile share one batch: the holding job's, which they join
/// (`writer::ROUNDS`). The function lets it go and returns the holding job's answer. Shared
/// with `recent_tests` and `batch_tests`.
pub(super) fn hold_writer(
    store: &Store,
    then: impl FnOnce(&redb::WriteTransaction) -> Result<(), Error> + Send + 'static,
) -> impl FnOnce() -> Result<(), Error> {
    let (job, running, go, answer) = holding_job(then);
    store.inner.queue.blocking_send(job).unwrap();
    running.recv().unwrap();
    move || {
        go.send(()).unwrap();
        answer.blocking_recv().unwrap()
    }
}

/// Waits until `n` jobs wait in the writer's queue (which a held writer does not take).
pub(super) fn wait_queued(store: &Store, n: usize) {
    while store.inner.queue.capacity() + n > super::writer::QUEUE_JOBS {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn insert_probe(tx: &redb::WriteTransaction, key: &str) -> Result<(), Error> {
    tx.open_table(super::tables::META)?.insert(key, b"x".as_slice())?;
    Ok(())
}

#[test]
fn a_panicking_write_job_fails_its_batch_and_the_writer_goes_on() {
    use super::writer::Call;
    let store = open(Faulty::new(Arc::new(Image::default())));
    seed_owner(&store);
    // A first job holds the writer until the next two are queued, so the three share a batch.
    let release = hold_writer(&store, |tx| insert_probe(tx, "probe-before"));
    let (bad, bad_rx) = Call::job(true, 0, |tx| -> Result<(), Error> {
        insert_probe(tx, "probe-bad")?;
        let chunk_size = std::hint::black_box(0u64);
        // What a blob record with chunk size 0 did in `release` before records were checked.
        let _ = 10 / chunk_size;
        Ok(())
    });
    let (innocent, innocent_rx) = Call::job(true, 0, |tx| insert_probe(tx, "probe-innocent"));
    store.inner.queue.blocking_send(bad).unwrap();
    store.inner.queue.blocking_send(innocent).unwrap();
    assert_eq!(release(), Err(Error::Panicked), "the job before it in its batch failed with it");
    assert_eq!(bad_rx.blocking_recv().unwrap(), Err(Error::Panicked));
    assert_eq!(innocent_rx.blocking_recv().unwrap(), Err(Error::Panicked), "its batch failed with it");
    assert!(
        ["probe-before", "probe-bad", "probe-innocent"].iter().all(|key| !probe(&store, key)),
        "the batch is rolled back"
    );
    // The writer lives on: writes, uploads and the health state are as before.
    store.write(|tx| insert_probe(tx, "probe-after")).unwrap();
    assert!(probe(&store, "probe-after"));
    let rt = runtime();
    rt.block_on(upload(&store, "after.bin", &content(1, 2 << 20))).unwrap();
    assert_eq!(read_all(&store, "after.bin"), Some(content(1, 2 << 20)));
    assert!(store.writer_stopped().is_none() && store.is_writable());
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    drop(rt);
    store.close();
}

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_that_stopped_says_why_once_and_refuses_every_later_write() {
    let log = Captured::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || sink.clone()).finish();
    tracing::subscriber::with_default(subscriber, || {
        let store = open(Faulty::new(Arc::new(Image::default())));
        seed_owner(&store);
        let rt = runtime();
        rt.block_on(upload(&store, "before.bin", b"before")).unwrap();
        assert!(store.writer_stopped().is_none());

        let told = store.stop_writer_for_test().unwrap_err();
        let Some(Error::Stopped(why)) = store.writer_stopped() else { panic!("the store says it stopped") };
        assert!(why.contains("the database writer stopped"), "{why}");
        assert_eq!(told, Error::Stopped(why.clone()), "the job that panicked is told too");
        // Every write, of any kind, fails with the reason; none waits or vanishes.
        for _ in 0..3 {
            assert_eq!(store.write(|tx| insert_probe(tx, "probe")), Err(Error::Stopped(why.clone())));
        }
        let err = rt.block_on(upload(&store, "small.bin", b"small")).unwrap_err();
        assert_eq!(err, Error::Stopped(why.clone()));
        let err = rt.block_on(upload(&store, "large.bin", &content(2, 3 << 20))).unwrap_err();
        assert_eq!(err, Error::Stopped(why.clone()));
        // Reads still work, and the store still closes.
        assert_eq!(read_all(&store, "before.bin").as_deref(), Some(b"before".as_slice()));
        drop(rt);
        store.close();
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let stops: Vec<&str> = text.lines().filter(|l| l.contains("the database writer stopped")).collect();
    assert_eq!(stops.len(), 1, "said once:\n{text}");
    assert!(stops[0].contains("ERROR") && stops[0].contains("injected: a compaction bug"), "{text}");
}

#[test]
fn repair_keeps_the_version_and_usage_of_a_file_record_it_cannot_read() {
    use super::records::{PackageRec, UsageRec, VersionRec};
    use super::tables::{FILES, PACKAGES, USAGE, VERSIONS};
    let store = open(Faulty::new(Arc::new(Image::default())));
    seed_owner(&store);
    let rt = runtime();
    rt.block_on(upload(&store, "a.bin", &content(1, 3000))).unwrap();
    // A file of a newer release's format, alone in its version and package, counted in the
    // owner's usage as that release would have.
    store
        .write(|tx| {
            let future = [&[super::codec::FORMAT + 1][..], b"a record this build cannot read"].concat();
            tx.open_table(FILES)?.insert(("alice", "generic", "other", "2", "x.bin"), future.as_slice())?;
            let v = VersionRec { version: "2".into(), ..VersionRec::default() };
            tx.open_table(VERSIONS)?
                .insert(("alice", "generic", "other", "2"), super::codec::encode(&v).as_slice())?;
            let p = PackageRec { name: "other".into(), ..PackageRec::default() };
            tx.open_table(PACKAGES)?
                .insert(("alice", "generic", "other"), super::codec::encode(&p).as_slice())?;
            let usage = UsageRec { bytes: 3000 + 500, versions: 2 };
            tx.open_table(USAGE)?.insert("alice", super::codec::encode(&usage).as_slice())?;
            Ok(())
        })
        .unwrap();
    let repaired = store.repair().unwrap();
    assert!(repaired.actions.is_empty(), "nothing to repair that can be known: {:#?}", repaired.actions);
    assert!(
        repaired
            .after
            .problems
            .iter()
            .any(|p| p.contains(&format!("record format {}", super::codec::FORMAT + 1))),
        "{:?}",
        repaired.after
    );
    let usage = store.usage(Some("alice")).unwrap();
    assert_eq!((usage[0].usage.bytes, usage[0].usage.versions), (3500, 2), "usage is not recounted short");
    store
        .write(|tx| {
            assert!(
                tx.open_table(VERSIONS)?.get(("alice", "generic", "other", "2"))?.is_some(),
                "version kept"
            );
            assert!(tx.open_table(PACKAGES)?.get(("alice", "generic", "other"))?.is_some(), "package kept");
            assert!(tx.open_table(FILES)?.get(("alice", "generic", "other", "2", "x.bin"))?.is_some());
            Ok(())
        })
        .unwrap();
    drop(rt);
    store.close();
}

/// Small content is never staged: its upload is one durable commit, so a full disk fails
/// the whole of it and leaves nothing, in the same batch as other uploads or alone.
#[test]
fn a_full_disk_during_small_uploads_leaves_nothing_of_them() {
    use super::blobs::{PIECE, SMALL_MAX};
    let image = Arc::new(Image::default());
    let backend = Faulty::new(image.clone());
    let store = open(backend.clone());
    seed_owner(&store);
    let rt = runtime();
    let kept = content(1, 4096);
    rt.block_on(upload(&store, "kept.bin", &kept)).unwrap();

    backend.budget.store(0, Ordering::SeqCst);
    let sizes = [0, 1, PIECE, 4096, SMALL_MAX];
    let results = rt.block_on(async {
        let tasks: Vec<_> = sizes
            .iter()
            .map(|&n| {
                let store = store.clone();
                tokio::spawn(async move { upload(&store, &format!("lost-{n}"), &content(2, n)).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for (n, r) in sizes.iter().zip(results) {
        assert!(matches!(r, Err(Error::DiskFull | Error::Io(_))), "{n}: {r:?}");
    }
    drop(rt);
    store.close();

    let opened = Store::open_backend(Faulty::new(image), &Options::default()).unwrap();
    assert_eq!(opened.reclaimed, 0, "nothing was staged");
    let store = opened.store;
    assert_eq!(read_all(&store, "kept.bin"), Some(kept));
    for n in sizes {
        assert_eq!(read_all(&store, &format!("lost-{n}")), None);
    }
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.blobs, report.chunks, report.staged), (1, 1, 4, 0));
    store.close();
}

/// Every acknowledged small upload survives a power loss; one not yet committed leaves
/// nothing to reclaim, because nothing of it reached the database.
#[test]
fn power_loss_keeps_every_acknowledged_small_file_and_stages_nothing() {
    let image = Arc::new(Image::default());
    let store = open(Faulty::new(image.clone()));
    seed_owner(&store);
    let rt = runtime();
    let files: Vec<(String, Vec<u8>)> =
        (0..12u8).map(|i| (format!("s{i}.bin"), content(i, usize::from(i) * 997))).collect();
    for (name, data) in &files {
        rt.block_on(upload(&store, name, data)).unwrap();
    }
    let mut pending = store.begin_upload(u64::MAX);
    rt.block_on(pending.push(Bytes::from(content(99, 4096)))).unwrap();
    let sealed = rt.block_on(pending.seal()).unwrap();
    std::mem::forget(sealed);
    drop(rt);

    let synced = image.synced.lock().unwrap().clone();
    std::mem::forget(store);
    let after = Arc::new(Image { live: Mutex::new(synced.clone()), synced: Mutex::new(synced) });
    let opened = Store::open_backend(Faulty::new(after), &Options::default()).unwrap();
    assert_eq!(opened.reclaimed, 0);
    let store = opened.store;
    for (name, data) in &files {
        assert_eq!(read_all(&store, name).as_deref(), Some(data.as_slice()), "{name}");
    }
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.staged), (12, 0));
    store.close();
}

/// What layout 2 wrote (format 1 blob records, every byte in chunks of `CHUNK_SIZE`) opens
/// as layout 3 without a rewrite, reads, verifies, takes new references by content and is
/// removed with its last file.
#[test]
fn a_layout_2_database_opens_and_its_blobs_are_read_as_they_are() {
    use super::records::BlobRec;
    use super::tables::{BLOBS, CHUNKS, META};
    let image = Arc::new(Image::default());
    let store = open(Faulty::new(image.clone()));
    seed_owner(&store);
    let rt = runtime();
    let (small, four) = (content(5, 3000), content(6, 4096));
    rt.block_on(upload(&store, "small.bin", &small)).unwrap();
    rt.block_on(upload(&store, "four.bin", &four)).unwrap();
    store
        .write(|tx| {
            super::recent::as_layout_5(tx)?;
            let mut blobs = tx.open_table(BLOBS)?;
            let mut chunks = tx.open_table(CHUNKS)?;
            let mut old = Vec::new();
            for entry in blobs.iter()? {
                let (k, v) = entry?;
                old.push((k.value(), super::codec::decode::<BlobRec>(v.value())?));
            }
            for (id, rec) in old {
                let mut data = Vec::new();
                for i in 0..rec.chunk_count() {
                    data.extend_from_slice(chunks.remove((id, i))?.unwrap().value());
                }
                data.extend_from_slice(&rec.inline);
                chunks.insert((id, 0), data.as_slice())?;
                let v1 = [
                    &[1u8][..],
                    &rec.sha256,
                    &rec.size.to_le_bytes(),
                    &(super::CHUNK_SIZE as u32).to_le_bytes(),
                    &rec.refs.to_le_bytes(),
                ]
                .concat();
                blobs.insert(id, v1.as_slice())?;
            }
            tx.open_table(META)?.insert("format", 2u32.to_le_bytes().as_slice())?;
            Ok(())
        })
        .unwrap();
    drop(rt);
    store.close();

    let store = open(Faulty::new(image));
    let rt = runtime();
    let raw = |store: &Store, name: &str| {
        let id = store.file(&target(name)).unwrap().unwrap().blob;
        let tx = store.read().unwrap();
        let format = tx.open_table(META).unwrap().get("format").unwrap().unwrap().value().to_vec();
        let first = tx.open_table(BLOBS).unwrap().get(id).unwrap().unwrap().value()[0];
        (id, format, first)
    };
    let (small_id, format, first) = raw(&store, "small.bin");
    assert_eq!((format, first), (super::tables::LAYOUT.to_le_bytes().to_vec(), 1), "upgraded, not rewritten");
    assert_eq!(read_all(&store, "small.bin"), Some(small.clone()));
    assert_eq!(read_all(&store, "four.bin"), Some(four));
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.blobs, report.chunks), (2, 2));

    rt.block_on(upload(&store, "again.bin", &small)).unwrap();
    assert_eq!(raw(&store, "again.bin").0, small_id, "new uploads find old content by sha256");
    store.delete_file(target("small.bin")).unwrap();
    assert_eq!(read_all(&store, "again.bin"), Some(small));
    store.delete_file(target("again.bin")).unwrap();
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.blobs, report.chunks), (1, 1, 1));
    drop(rt);
    store.close();
}
