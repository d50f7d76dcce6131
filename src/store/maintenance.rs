//! Keeping the file healthy for years: compaction (returning freed space to the file system)
//! and backups (a consistent copy while the server runs).
//!
//! A backup is a logical copy from one read snapshot into a new redb file: every record and
//! every chunk of every stored blob, written under a temporary name, made durable, then
//! renamed into place. redb has no online file copy (copying the file during writes is
//! unsafe), and a snapshot costs writers nothing: the server keeps serving while it runs.
//! Uploads still in progress and orphaned chunks are left out, so the copy is also clean.
//!
//! Compaction needs the database to itself, so it runs as a writer job between batches (no
//! write can start meanwhile) and takes the database lock exclusively for each attempt
//! (no read can start during one); while reads that began earlier (downloads in flight, a
//! verify) are still open, it lets go and tries again, up to a deadline.
//!
//! redb compacts in one call that cannot be split (its per-step relocation is private), and
//! its time grows with the database: measured 4.5 s for 100,000 small files. A caller that
//! serves requests therefore passes the longest pause it accepts; the pause is estimated
//! first from what the database holds ([`Store::compaction_estimate`]) and a compaction that
//! would take longer is refused before anything is queued. A compact copy built from a
//! snapshot and swapped in would avoid the pause, but needs every write since the snapshot
//! replayed onto the copy (there is no change log to replay from) and the database replaced
//! under the writer and the readers in flight; a refusal cannot lose data.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::tables::*;
use super::writer::Job;
use super::{Error, Result, Store};

/// Chunk bytes copied per destination transaction: bounds the dirty pages a backup holds.
const BACKUP_TXN_BYTES: u64 = 64 << 20;
/// redb page cache of the backup file being written.
const BACKUP_CACHE_BYTES: usize = 4 << 20;

/// Estimated pause per record (entries of every table), and per MiB of file space in use.
/// Calibrated with `benches/compact_stall.sh` on a busy 2-core machine (docs/interface.md):
/// 100,000 files of 1 KiB, half deleted (205,674 records, 166 MiB: 4.5 s, records dominate)
/// and 1,000 files of 1 MiB (about 9,000 records, 1.9 GiB: 4.3 s, bytes dominate), rounded
/// up so that a compaction estimated under the limit does not run much over it.
const PAUSE_PER_RECORD: Duration = Duration::from_micros(22);
const PAUSE_PER_MIB: Duration = Duration::from_micros(2_400);

/// What a compaction did. Sizes are file system blocks in use, not the file's length: redb
/// grows the file with sparse regions, whose length says nothing of the space taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compacted {
    pub before: u64,
    pub after: u64,
}

/// What a compaction would cost, from what the database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionEstimate {
    /// Entries in every table.
    pub records: u64,
    /// File system space the database file takes.
    pub bytes: u64,
    /// How long every request would wait.
    pub pause: Duration,
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUp {
    pub path: PathBuf,
    /// Size of the backup file.
    pub bytes: u64,
    pub files: u64,
    pub blobs: u64,
    /// The object store holding the content of some files ("endpoint bucket region"): that
    /// content is not in the copy, the store keeps it.
    #[serde(default)]
    pub object_store: Option<String>,
}

struct CompactJob {
    wait: Duration,
    reply: Option<oneshot::Sender<Result<()>>>,
    outcome: Option<Result<()>>,
}

impl Job for CompactJob {
    fn run(&mut self, _tx: &redb::WriteTransaction) -> Result<()> {
        unreachable!("a compaction runs alone")
    }

    fn durable(&self) -> bool {
        true
    }

    fn alone(&self) -> bool {
        true
    }

    fn run_alone(&mut self, db: &std::sync::RwLock<Database>) -> Result<()> {
        let deadline = Instant::now() + self.wait;
        let outcome = loop {
            // The lock is held only for an attempt: while reads that began earlier are still
            // running, requests are served between attempts instead of waiting.
            let attempt = db.write().unwrap_or_else(|p| p.into_inner()).compact();
            match attempt {
                Ok(_) => break Ok(()),
                Err(redb::CompactionError::TransactionInProgress) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(redb::CompactionError::TransactionInProgress) => {
                    break Err(Error::Refused(format!(
                        "readers (downloads, a verify) were still running after {} s; try again \
                         later, or stop the server and run depot compact",
                        self.wait.as_secs()
                    )))
                }
                Err(e) => break Err(Error::storage(redb::Error::from(e))),
            }
        };
        self.outcome = Some(outcome);
        Ok(())
    }

    fn complete(mut self: Box<Self>, committed: Result<()>) {
        let result = committed.and_then(|()| self.outcome.take().unwrap_or(Ok(())));
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(result);
        }
    }
}

impl Store {
    /// Estimates how long a compaction would hold every request up: a cost per record plus
    /// a cost per MiB in use (redb walks every page and moves the ones past the free space).
    ///
    /// # Errors
    /// Storage errors.
    pub fn compaction_estimate(&self) -> Result<CompactionEstimate> {
        let tx = self.read()?;
        let mut records = 0;
        records += tx.open_table(META)?.len()?;
        records += tx.open_table(OWNERS)?.len()?;
        records += tx.open_table(MEMBERS)?.len()?;
        records += tx.open_table(TOKENS)?.len()?;
        records += tx.open_table(PACKAGES)?.len()?;
        records += tx.open_table(VERSIONS)?.len()?;
        records += tx.open_table(FILES)?.len()?;
        records += tx.open_table(BLOBS)?.len()?;
        records += tx.open_table(BLOB_BY_SHA)?.len()?;
        records += tx.open_table(CHUNKS)?.len()?;
        records += tx.open_table(STAGED)?.len()?;
        records += tx.open_table(USAGE)?.len()?;
        records += tx.open_table(QUOTAS)?.len()?;
        records += tx.open_table(OWNER_IDS)?.len()?;
        records += tx.open_table(LISTS)?.len()?;
        records += tx.open_table(LIST_BUCKETS)?.len()?;
        records += tx.open_table(LIST_HEADS)?.len()?;
        records += tx.open_table(RULES)?.len()?;
        records += tx.open_table(FILES_BY_BLOB)?.len()?;
        records += tx.open_table(HOOKS)?.len()?;
        records += tx.open_table(OUTBOX)?.len()?;
        records += tx.open_table(DELIVERIES)?.len()?;
        drop(tx);
        let bytes = self.file_size();
        let per_records = PAUSE_PER_RECORD.saturating_mul(u32::try_from(records).unwrap_or(u32::MAX));
        let per_bytes = PAUSE_PER_MIB.saturating_mul(u32::try_from(bytes >> 20).unwrap_or(u32::MAX));
        Ok(CompactionEstimate { records, bytes, pause: per_records.saturating_add(per_bytes) })
    }

    /// Compacts the database file and returns the space it takes before and after. Readers
    /// that began before it get up to `wait` to finish; new ones wait for it. With
    /// `max_pause`, a compaction estimated to hold requests up longer is refused and nothing
    /// changes. Blocks.
    ///
    /// # Errors
    /// [`Error::Refused`] when the estimate exceeds `max_pause` or readers did not finish in
    /// time, storage errors.
    pub fn compact(&self, wait: Duration, max_pause: Option<Duration>) -> Result<Compacted> {
        if let Some(limit) = max_pause {
            let est = self.compaction_estimate()?;
            if est.pause > limit {
                return Err(Error::Refused(format!(
                    "compacting would stall every request for about {:.1} s (estimated from {} records \
                     and {} MiB in use; the limit is {:.1} s): stop the server and run depot compact, \
                     or accept the pause with depot compact --allow-pause",
                    est.pause.as_secs_f64(),
                    est.records,
                    est.bytes >> 20,
                    limit.as_secs_f64()
                )));
            }
        }
        let before = self.file_size();
        let (reply, rx) = oneshot::channel();
        let job = Box::new(CompactJob { wait, reply: Some(reply), outcome: None });
        self.inner.queue.blocking_send(job).map_err(|_| Error::Closed)?;
        rx.blocking_recv().map_err(|_| Error::Closed)??;
        Ok(Compacted { before, after: self.file_size() })
    }

    fn file_size(&self) -> u64 {
        self.inner.path.as_deref().map_or(0, |p| self.file_bytes(p))
    }

    /// Writes a consistent copy of the database to `dest` (a new file; an existing one is
    /// replaced only when the copy is complete). `progress(done, total)` is called with
    /// content bytes as the copy goes. Once `cancel` is set, the copy stops at the next chunk
    /// and its temporary file is deleted. Blocks; writers are not held up.
    ///
    /// # Errors
    /// I/O errors of the destination (as [`Error::Io`] naming it), storage errors,
    /// [`Error::Refused`] when cancelled.
    pub fn backup(
        &self,
        dest: &Path,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<BackedUp> {
        let name =
            dest.file_name().ok_or_else(|| Error::Refused(format!("{}: not a file name", dest.display())))?;
        if self.inner.path.as_deref().is_some_and(|p| same_file(p, dest)) {
            return Err(Error::Refused("the backup cannot replace the database itself".into()));
        }
        // A name no other backup (in this or another process) uses: two backups to one FILE
        // must not write into each other's temporary file.
        let mut nonce = [0u8; 8];
        getrandom::getrandom(&mut nonce).map_err(|e| {
            Error::io_at("no randomness for a file name", std::io::Error::other(e.to_string()))
        })?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = dest.with_file_name(format!(".{}.{nonce}.tmp", name.to_string_lossy()));
        let result = self.backup_to(&tmp, progress, cancel).and_then(|r| {
            std::fs::rename(&tmp, dest).map_err(|e| io_error(dest, &e))?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error(dir, &e))?;
            }
            Ok(BackedUp { path: dest.to_path_buf(), ..r })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn backup_to(
        &self,
        tmp: &Path,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<BackedUp> {
        let cancelled = || match cancel.load(Ordering::Relaxed) {
            true => Err(Error::Refused(
                "backup cancelled: the server is shutting down; no copy was written".into(),
            )),
            false => Ok(()),
        };
        let src = self.read()?;
        // A small page cache: redb's default (1 GiB) would grow the server by the size of
        // the copy.
        // Owner-only like the database: the copy holds every private package and hash.
        super::create_private(tmp).map_err(|e| io_error(tmp, &e))?;
        let dst = Database::builder().set_cache_size(BACKUP_CACHE_BYTES).create(tmp).map_err(|e| {
            match Error::storage(e) {
                Error::Io(cause) | Error::Storage(cause) => Error::Io(cause.at(tmp.display())),
                other => other,
            }
        })?;
        let mut blobs = 0;
        let mut total = 0;
        // Inline content is copied with the blob records, before any chunk.
        let mut inline = 0;
        for entry in src.open_table(BLOBS)?.iter()? {
            let (_, v) = entry?;
            let rec: super::records::BlobRec = super::codec::decode(v.value())?;
            total += rec.size;
            inline += rec.inline.len() as u64;
            blobs += 1;
        }
        let files = src.open_table(FILES)?.len()?;
        // Records first, in one transaction. Every commit but the last skips the fsync; the
        // last one makes all of them durable, and the rename happens only after it.
        let mut tx = dst.begin_write()?;
        tx.set_durability(Durability::None)?;
        copy(&src, &tx, META)?;
        copy(&src, &tx, OWNERS)?;
        copy(&src, &tx, MEMBERS)?;
        copy(&src, &tx, TOKENS)?;
        copy(&src, &tx, PACKAGES)?;
        copy(&src, &tx, VERSIONS)?;
        copy(&src, &tx, FILES)?;
        copy(&src, &tx, BLOBS)?;
        copy(&src, &tx, BLOB_BY_SHA)?;
        copy(&src, &tx, USAGE)?;
        copy(&src, &tx, QUOTAS)?;
        // Which blobs are objects (their content stays in the store, not in the copy).
        copy(&src, &tx, super::objects::OBJECTS)?;
        copy(&src, &tx, OWNER_IDS)?;
        copy(&src, &tx, LISTS)?;
        copy(&src, &tx, LIST_BUCKETS)?;
        copy(&src, &tx, LIST_HEADS)?;
        copy(&src, &tx, RULES)?;
        copy(&src, &tx, FILES_BY_BLOB)?;
        // Hooks, the events they have yet to receive (a restored copy sends them: at least
        // once) and their logs.
        copy(&src, &tx, HOOKS)?;
        copy(&src, &tx, OUTBOX)?;
        copy(&src, &tx, DELIVERIES)?;
        tx.open_table(STAGED)?; // empty: uploads in progress are not copied
        tx.open_table(CHUNKS)?;
        tx.commit()?;
        cancelled()?;
        // Then the chunks of stored blobs, a bounded amount per transaction.
        let stored = src.open_table(BLOBS)?;
        let mut done = inline;
        let mut tx = dst.begin_write()?;
        tx.set_durability(Durability::None)?;
        let mut in_tx = 0u64;
        for entry in src.open_table(CHUNKS)?.iter()? {
            cancelled()?;
            let (k, v) = entry?;
            let (id, index) = k.value();
            if stored.get(id)?.is_none() {
                continue; // staged or orphaned
            }
            let data = v.value();
            tx.open_table(CHUNKS)?.insert((id, index), data)?;
            done += data.len() as u64;
            in_tx += data.len() as u64;
            if in_tx >= BACKUP_TXN_BYTES {
                tx.commit()?;
                tx = dst.begin_write()?;
                tx.set_durability(Durability::None)?;
                in_tx = 0;
                progress(done, total);
            }
        }
        tx.set_durability(Durability::Immediate)?;
        tx.commit()?;
        progress(done, total);
        drop(dst);
        let bytes = std::fs::metadata(tmp).map_err(|e| io_error(tmp, &e))?.len();
        let object_store = super::objects::recorded_store(&src)?.filter(|_| {
            src.open_table(super::objects::OBJECTS).is_ok_and(|t| t.first().is_ok_and(|f| f.is_some()))
        });
        Ok(BackedUp { path: tmp.to_path_buf(), bytes, files, blobs, object_store })
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return Error::DiskFull;
    }
    // The same error again (the caller keeps its own): by OS error code when it has one.
    let e = e
        .raw_os_error()
        .map_or_else(|| std::io::Error::new(e.kind(), e.to_string()), std::io::Error::from_raw_os_error);
    Error::io_at(path.display(), e)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), b.parent().map(std::fs::canonicalize)) {
        (Ok(a), Some(Ok(dir))) => b.file_name().is_some_and(|n| dir.join(n) == a),
        _ => false,
    }
}

/// Copies every entry of table `def` from the snapshot into `tx`.
fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &ReadTransaction,
    tx: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<()> {
    let from = src.open_table(def)?;
    let mut to = tx.open_table(def)?;
    for entry in from.iter()? {
        let (k, v) = entry?;
        to.insert(k.value(), v.value())?;
    }
    Ok(())
}
