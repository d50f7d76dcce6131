//! Content: streamed in as staged chunks, committed as a content-addressed blob, read back
//! by range, released when nothing refers to it.
//!
//! This is the narrow interface the rest of the store uses for content, and all it knows:
//! put a stream and get back its size and sha256 ([`Upload`] → [`Sealed`]), adopt or discard
//! that content in a write transaction ([`Sealed::commit`], [`adopt`], [`discard`]), read a
//! range ([`BlobReader`]), drop a reference ([`release`]). What refers to a blob (a file of a
//! package version) is `packages.rs`'s business; this module never imports it, so a second
//! home for blob content (an object store) can slot in behind this interface later while
//! metadata stays in redb.
//!
//! Small content (at most [`SMALL_MAX`] bytes, whole in memory when sealed) is never staged:
//! the job that adopts it writes it, and only when no blob has that content yet. It is laid
//! out to fill database pages: chunks of [`PIECE`] bytes, four of which fill a page exactly,
//! and the remainder (less than a piece) inline in the blob record. redb gives a value larger
//! than a page a run of pages rounded up to a power of two, so a 4 KiB file as one chunk took
//! 8 KiB; and values of 1-4 KiB rarely share a page, so whole small files as values left a
//! third of their pages empty (measured with `examples/small_files.rs`, see `docs/design.md`).
//! A file smaller than a piece is read from its blob record alone. A reader holds small
//! content in memory ([`BlobReader::into_leased`]), so no download lease is taken on it.
//!
//! Invariants:
//! 1. Every chunk `(id, i)` belongs to a blob record `id` or to a staged upload `id` (an
//!    upload in progress, or a deleted blob kept for the downloads still reading it).
//! 2. A blob of size `s`, chunk size `c` and `t` inline bytes has exactly the chunks
//!    `0..ceil((s - t) / c)`, each `c` bytes but the last; its content is those chunks
//!    followed by the inline bytes.
//! 3. One blob per distinct content, found by its sha256: in `BLOB_BY_SHA`, or for the
//!    newest blobs in the writer's map beside it (`recent.rs`).
//!
//! Downloads and deletes (the "download leases" of docs/design.md). A long download must not
//! hold one read snapshot for its whole transfer: space freed under a snapshot cannot be
//! reused, so a slow client would pin every page deleted meanwhile. A streaming
//! [`BlobReader`] therefore opens one short read transaction per chunk and keeps its blob's
//! chunks alive with an in-memory lease ([`Leases`]) instead. The promise kept: a download
//! that began gets the bytes of the blob it found, whole, or (on a storage failure) a transfer
//! cut short of its Content-Length — never other bytes, never a silently short body.
//! 4. While a lease on blob `b` is held, no transaction removes `b`'s chunks: a release that
//!    takes `b`'s last reference while it is leased ([`release`]) removes the blob record and
//!    its sha256 entry but keeps the chunks, marked in `STAGED`; the last lease to go queues
//!    their removal ([`ReapJob`]), which checks the lease table again.
//! 5. A transaction that decides to remove `b`'s chunks does so under the lease mutex with
//!    `b` unleased, and puts `b` in `dying` until that transaction is over (committed or
//!    dropped); no lease on a dying blob is granted.
//! 6. A reader takes the lease first and only then opens a new read transaction in which it
//!    checks that `b`'s record still exists; only after both does it let its snapshot go. By
//!    5, a removal decided before the lease had committed before that check (so the record
//!    is gone and the reader keeps its snapshot: correct, and it pins space only in that
//!    race); by 4, one decided after it keeps the chunks. Blob ids are never reused, so a
//!    record found is the same blob.
//! 7. The lease table lives in memory only: a crash forgets the leases, and the chunks kept
//!    for them are staged (4), so the next open reclaims them with the unfinished uploads.
//!    A kept blob has no record and no sha256 entry, so no new reference can be added to it
//!    (an upload of the same content makes a new blob), and a reap that finds a record (the
//!    deferring transaction never committed) leaves the blob alone.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};
use sha2::{Digest, Sha256};
use tokio::sync::OwnedSemaphorePermit;

use super::objects::{self, ObjectUpload};
use super::recent::Recent;
use super::records::BlobRec;
use super::tables::{BLOBS, BLOB_BY_SHA, CHUNKS, STAGED};
use super::writer::{self, Job};
use super::{codec, Error, Result, Store};

/// Bytes per chunk. redb gives a value that does not fit its page a run of pages rounded up
/// to a power of two, so a chunk of exactly 1 MiB would occupy 2 MiB; 1 MiB less 4 KiB
/// leaves room for the page header and key (measured: see `docs/design.md`, "Chunk size").
pub const CHUNK_SIZE: usize = (1 << 20) - 4096;

/// Largest piece handed to a reader's sink, in bytes: a whole chunk. The allocator
/// (mimalloc, `main.rs`) recycles these buffers instead of mapping each; measured on a 1 GiB
/// download, whole chunks ran at 1.5-1.9 GB/s against 1.2-1.4 GB/s for 128 KiB pieces.
pub const READ_PIECE: usize = CHUNK_SIZE;

/// Largest content stored as small content (see the module header): never staged, written
/// in page-sized pieces by the job that adopts it, held in memory by a download. The size
/// of the largest file the read cache keeps.
pub const SMALL_MAX: usize = 64 << 10;

/// Bytes per chunk of small content: four of them, each with its key (12 bytes) and length
/// (4), and redb's leaf header (4) fill one 4 KiB page exactly (`pieces_fill_pages` checks
/// it). Whole pages (1 MiB − 4 KiB chunks, or 4076-byte pieces) would not pack the remainders.
pub const PIECE: usize = (4096 - 4) / 4 - 12 - 4;

/// An upload in progress: feed it the body with [`Upload::push`], then [`Upload::seal`] it.
///
/// Dropping it unfinished (client gone, error, limit) queues the removal of its staged
/// chunks; a crash leaves them to be reclaimed by the next open.
pub struct Upload {
    store: Store,
    /// The staged blob's id, taken when the first chunk goes to the writer: content that
    /// stays in memory gets its id from the job that adopts it, in commit order.
    blob: Option<u64>,
    chunks: u32,
    buf: BytesMut,
    hasher: Sha256,
    size: u64,
    limit: u64,
    /// Set by a chunk job whose batch failed to commit: the upload can no longer succeed.
    failed: Failure,
    /// Set once the commit job is queued; from then on the writer owns the cleanup.
    handed_over: bool,
    /// With an object store attached: the body goes there (`objects.rs`) unless it ends
    /// small enough to stay in redb.
    object: Option<ObjectUpload>,
}

impl Store {
    /// Starts an upload of at most `limit` bytes, kept in the database file.
    pub fn begin_upload(&self, limit: u64) -> Upload {
        self.begin_upload_to(limit, false)
    }

    /// Starts an upload of at most `limit` bytes whose content goes to the object store when
    /// one is attached and the content is larger than its inline limit.
    pub fn begin_content_upload(&self, limit: u64) -> Upload {
        self.begin_upload_to(limit, true)
    }

    /// Starts writing the content of the existing blob `id` as its chunks (`blobs migrate
    /// --to local`, for a blob whose content is an object and so has no chunks): staged under
    /// `id`, adopted with [`install`].
    pub(crate) fn begin_upload_as(&self, id: u64) -> Upload {
        let mut upload = self.begin_upload_to(u64::MAX, false);
        upload.blob = Some(id);
        upload
    }

    fn begin_upload_to(&self, limit: u64, to_objects: bool) -> Upload {
        let object =
            if to_objects { self.objects().filter(|o| o.uploads()).map(ObjectUpload::new) } else { None };
        Upload {
            store: self.clone(),
            blob: None,
            chunks: 0,
            buf: BytesMut::new(),
            hasher: Sha256::new(),
            size: 0,
            limit,
            failed: Failure::default(),
            handed_over: false,
            object,
        }
    }
}

impl Upload {
    /// Appends body bytes; full chunks go to the writer (waiting while its queue is full,
    /// which is what bounds memory whatever the file size).
    ///
    /// # Errors
    /// [`Error::TooLarge`] past the limit; a storage error when an earlier chunk failed.
    pub async fn push(&mut self, data: Bytes) -> Result<()> {
        self.size += data.len() as u64;
        if self.size > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.hasher.update(&data);
        if let Some(o) = &mut self.object {
            return o.push(&self.store, &mut self.blob, data).await;
        }
        self.push_chunks(data).await
    }

    /// Cuts body bytes into chunks for the writer.
    async fn push_chunks(&mut self, mut data: Bytes) -> Result<()> {
        while !data.is_empty() {
            if self.buf.is_empty() && data.len() >= CHUNK_SIZE {
                // A whole chunk straight from the body: no copy into the buffer.
                let chunk = data.split_to(CHUNK_SIZE);
                self.send_chunk(chunk).await?;
                continue;
            }
            if self.buf.capacity() == 0 {
                self.buf.reserve(CHUNK_SIZE);
            }
            let take = (CHUNK_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data.split_to(take));
            if self.buf.len() == CHUNK_SIZE {
                let chunk = self.buf.split().freeze();
                self.send_chunk(chunk).await?;
            }
        }
        Ok(())
    }

    /// Reserves queue space for `len` bytes of chunk data (waits while the writer is behind).
    async fn reserve(&self, len: usize) -> Result<OwnedSemaphorePermit> {
        let kib = len.div_ceil(1024).max(1) as u32;
        self.store.inner.data_budget.clone().acquire_many_owned(kib).await.map_err(|_| Error::Closed)
    }

    async fn send_chunk(&mut self, data: Bytes) -> Result<()> {
        if let Some(e) = self.failed.get() {
            return Err(e);
        }
        let permit = self.reserve(data.len()).await?;
        let store = &self.store;
        let blob = *self.blob.get_or_insert_with(|| store.next_blob_id());
        let job = Box::new(ChunkJob {
            blob,
            index: self.chunks,
            data,
            permit: Some(permit),
            failed: self.failed.clone(),
        });
        self.store.inner.queue.send(job).await.map_err(|_| Error::Closed)?;
        self.chunks += 1;
        Ok(())
    }

    /// Ends the upload: every byte is in, its size and sha256 are known. Chunks already sent
    /// stay staged; the last, partial chunk stays in memory and rides with the job that
    /// adopts the content ([`Sealed::commit`]), so an upload smaller than a chunk is one job
    /// and stages nothing.
    ///
    /// # Errors
    /// [`Error::Closed`] when the store is closing.
    pub async fn seal(mut self) -> Result<Sealed> {
        let sha256: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        if let Some(mut o) = self.object.take() {
            if o.in_memory() && self.size <= o.small_limit() {
                // Small enough to stay in redb: small content, as without a store.
                let data = o.take_buffer();
                self.buf.extend_from_slice(&data);
            } else {
                let finished = o.finish(&self.store, &mut self.blob).await;
                self.object = Some(o);
                finished?;
                return Ok(Sealed { upload: self, sha256, tail: Bytes::new(), tail_permit: None });
            }
        }
        let tail = self.buf.split().freeze();
        let tail_permit = if tail.is_empty() { None } else { Some(self.reserve(tail.len()).await?) };
        Ok(Sealed { upload: self, sha256, tail, tail_permit })
    }

    /// Queues the job that adopts or discards this upload's chunks, and waits for its commit.
    async fn submit<T>(
        &mut self,
        job: Box<dyn Job>,
        rx: tokio::sync::oneshot::Receiver<Result<Committed<T>>>,
    ) -> Result<T> {
        self.store.inner.queue.send(job).await.map_err(|_| Error::Closed)?;
        self.handed_over = true;
        let outcome = rx.await.map_err(|_| Error::Closed)?;
        if matches!(&outcome, Err(e) if e.is_storage()) {
            // The job's batch failed, so its cleanup did not commit either; queue it again
            // from Drop (if this fails too, the next open reclaims the chunks).
            self.handed_over = false;
        }
        match outcome? {
            Committed::Applied(t) => Ok(t),
            Committed::ChunksLost(e) => Err(e),
        }
    }
}

/// What the job committing sealed content did.
pub(crate) enum Committed<T> {
    /// It ran the caller's `apply`, which adopted or discarded the content: its outcome.
    Applied(T),
    /// An earlier chunk write of the upload had failed with this error: it discarded the
    /// chunks instead (a discard that commits, while the caller hears the error).
    ChunksLost(Error),
}

/// A finished upload: its content complete, of known size and sha256, not yet visible.
/// Whoever stores it adopts it with [`Sealed::commit`]; dropping it discards the chunks,
/// like dropping an [`Upload`].
pub struct Sealed {
    upload: Upload,
    sha256: [u8; 32],
    /// The last, partial chunk, not yet written (empty after [`Sealed::flush`]).
    tail: Bytes,
    /// Queue space held by `tail`.
    tail_permit: Option<OwnedSemaphorePermit>,
}

impl Sealed {
    pub fn size(&self) -> u64 {
        self.upload.size
    }

    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// Writes the last chunk too and waits until every chunk is committed (not durably), so
    /// the content can wait for a long check (a Go module zip, read back with
    /// [`Sealed::reader`]) holding neither memory nor the writer's queue budget.
    ///
    /// # Errors
    /// A storage error of any chunk write.
    pub async fn flush(mut self) -> Result<Sealed> {
        if self.upload.object.is_some() {
            return Err(Error::Refused(
                "content in the object store cannot be read back before it is stored".into(),
            ));
        }
        let tail = std::mem::take(&mut self.tail);
        self.tail_permit = None;
        if !tail.is_empty() {
            self.upload.send_chunk(tail).await?;
        }
        let (barrier, rx) = writer::Call::job(false, 0, |_| Ok(()));
        self.upload.store.inner.queue.send(barrier).await.map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)??;
        if let Some(e) = self.upload.failed.get() {
            return Err(e);
        }
        Ok(self)
    }

    /// Copies flushed content (a checked Go module zip) to the object store, when one takes
    /// new content and the content is larger than its inline limit; the chunks it was read
    /// from go in the commit that adopts it. Otherwise returns it as it is.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store fails; then nothing of it is kept.
    pub async fn into_object_store(mut self) -> Result<Sealed> {
        let Some(objects) = self.upload.store.objects().filter(|o| o.uploads()) else { return Ok(self) };
        let mut o = ObjectUpload::new(objects);
        if self.upload.object.is_some() || self.upload.size <= o.small_limit() || !self.tail.is_empty() {
            return Ok(self);
        }
        // Staged from the start, so a failure below (Drop) sends any object to the outbox.
        let mut blob = self.upload.blob;
        o.stage(&self.upload.store, &mut blob).await?;
        self.upload.object = Some(o);
        let mut reader = Some(self.reader()?);
        loop {
            let mut r = reader.take().expect("given back by each read");
            let (r, piece) = tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut buf = vec![0; CHUNK_SIZE];
                let mut n = 0;
                while n < buf.len() {
                    match r.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) => return Err(Error::corrupt(format!("reading staged content: {e}"))),
                    }
                }
                buf.truncate(n);
                Ok((r, Bytes::from(buf)))
            })
            .await
            .map_err(|_| Error::Panicked)??;
            reader = Some(r);
            if piece.is_empty() {
                break;
            }
            let store = self.upload.store.clone();
            let o = self.upload.object.as_mut().expect("set above");
            o.push(&store, &mut blob, piece).await?;
        }
        let store = self.upload.store.clone();
        self.upload.object.as_mut().expect("set above").finish(&store, &mut blob).await?;
        Ok(self)
    }

    /// Reads the content from a snapshot (the last chunk from memory until it is written).
    /// Blocks.
    pub fn reader(&self) -> Result<StagedReader> {
        let tx = self.upload.store.read()?;
        let tail = (!self.tail.is_empty()).then(|| (self.upload.chunks, self.tail.clone()));
        Ok(StagedReader {
            chunks: tx.open_table(CHUNKS)?,
            // Without an id nothing was sent: every byte is in `tail`, and no id is 0.
            blob: self.upload.blob.unwrap_or(0),
            size: self.upload.size,
            pos: 0,
            current: tail.clone(),
            tail,
        })
    }

    /// Commits durably: `apply` runs in the writer's transaction with the content as
    /// [`Staged`] (chunks written out, or small content still in memory), and must [`adopt`]
    /// it or, refusing, [`discard`] it and say so in its outcome `T` (the transaction commits
    /// either way; an `Err` from `apply` is a storage error that fails the batch). When an
    /// earlier chunk write failed, the chunks are discarded, `apply` does not run and its
    /// error is returned. In every error case nothing of the content is left. `apply` only
    /// adds (a new file or version): its commit keeps the read cache ([`writer::Call::adding`]).
    pub(crate) async fn commit<T, F>(self, apply: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &Staged) -> Result<T> + Send + 'static,
    {
        self.commit_with(|finish| {
            writer::Call::adding(finish.weight(), move |tx| {
                let staged = match finish.stage(tx, &mut Tables::open(tx)?)? {
                    Ok(staged) => staged,
                    Err(lost) => return Ok(Committed::ChunksLost(lost)),
                };
                apply(tx, &staged).map(Committed::Applied)
            })
        })
        .await
    }

    /// [`Sealed::commit`] with a job `make` builds from the content's [`Finish`], answering
    /// on the receiver it returns: for a job of its own kind (`packages::AddFiles`, which
    /// merges with the uploads queued beside it).
    pub(crate) async fn commit_with<T>(
        mut self,
        make: impl FnOnce(Finish) -> (Box<dyn Job>, tokio::sync::oneshot::Receiver<Result<Committed<T>>>),
    ) -> Result<T> {
        let u = &self.upload;
        let object = u.object.as_ref().map(|o| o.objects.clone());
        let finish = Finish {
            blob: u.blob,
            sent: u.chunks,
            sha256: self.sha256,
            size: u.size,
            tail: std::mem::take(&mut self.tail),
            tail_permit: self.tail_permit.take(),
            ids: u.store.inner.next_blob.clone(),
            recent: u.store.inner.recent.clone(),
            in_store: object.is_some(),
            failed: u.failed.clone(),
        };
        let (job, rx) = make(finish);
        let outcome = self.upload.submit(job, rx).await;
        if let Some(objects) = object {
            objects.wake(); // the upload may have left an object to delete
        }
        outcome
    }
}

/// What the writer needs to stage a sealed upload's content in its transaction, taken from
/// the [`Sealed`] by its commit ([`Sealed::commit_with`]).
pub(crate) struct Finish {
    /// The id the chunks already sent were written under; none when nothing was sent.
    blob: Option<u64>,
    sent: u32,
    sha256: [u8; 32],
    size: u64,
    /// The last, partial chunk, written by the commit job.
    tail: Bytes,
    tail_permit: Option<OwnedSemaphorePermit>,
    ids: Arc<std::sync::atomic::AtomicU64>,
    recent: Arc<Recent>,
    /// The content is an object in the store.
    in_store: bool,
    failed: Failure,
}

impl Finish {
    /// Bytes of data the job carries, for batch sizing.
    pub(crate) fn weight(&self) -> usize {
        self.tail.len()
    }

    /// Stages the content in `tx` for [`adopt`] or [`discard`]. When an earlier chunk write
    /// failed, discards the chunks instead and answers that write's error (`Ok(Err(e))`,
    /// for the client; the discard commits).
    ///
    /// # Errors
    /// Storage errors, which fail the batch.
    pub(crate) fn stage(
        self,
        tx: &WriteTransaction,
        t: &mut Tables,
    ) -> Result<std::result::Result<Staged, Error>> {
        let Finish { blob, sent, sha256, size, tail, tail_permit, ids, recent, in_store, failed } = self;
        // Taken here, in commit order, so blob records and small content are appended at the
        // end of their tables (packed pages) rather than between older ids.
        let blob = blob.unwrap_or_else(|| ids.fetch_add(1, Ordering::Relaxed));
        if let Some(e) = failed.get() {
            let lost = Staged {
                blob,
                chunks: sent,
                marked: true,
                small: None,
                sha256,
                size,
                object: in_store,
                recent,
            };
            discard(tx, t, &lost)?;
            return Ok(Err(e));
        }
        let staged = if in_store {
            // Staged in `objects::OBJECT_STAGING` under this id, complete in the store; any
            // chunks are those it was copied from (flushed: no tail).
            Staged { blob, chunks: sent, marked: sent > 0, small: None, sha256, size, object: true, recent }
        } else if sent == 0 && tail.len() <= SMALL_MAX {
            Staged { blob, chunks: 0, marked: false, small: Some(tail), sha256, size, object: false, recent }
        } else {
            if !tail.is_empty() {
                // No staging mark: this transaction also adopts or discards the chunk.
                t.chunks.insert((blob, sent), tail.as_ref())?;
            }
            let chunks = sent + u32::from(!tail.is_empty());
            Staged { blob, chunks, marked: sent > 0, small: None, sha256, size, object: false, recent }
        };
        drop(tail_permit);
        Ok(Ok(staged))
    }
}

/// Reads sealed content (`Read + Seek`), one chunk in memory at a time.
pub struct StagedReader {
    chunks: redb::ReadOnlyTable<(u64, u32), &'static [u8]>,
    blob: u64,
    size: u64,
    pos: u64,
    /// The chunk last read: (index, bytes).
    current: Option<(u32, Bytes)>,
    /// The last chunk when it is still in memory: (index, bytes).
    tail: Option<(u32, Bytes)>,
}

impl std::io::Read for StagedReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let cs = CHUNK_SIZE as u64;
        let index = (self.pos / cs) as u32;
        if self.current.as_ref().is_none_or(|(i, _)| *i != index) {
            let data = match &self.tail {
                Some((i, data)) if *i == index => data.clone(),
                _ => Bytes::copy_from_slice(
                    self.chunks
                        .get((self.blob, index))
                        .map_err(std::io::Error::other)?
                        .ok_or_else(|| {
                            std::io::Error::other(format!("staged blob {} lacks chunk {index}", self.blob))
                        })?
                        .value(),
                ),
            };
            self.current = Some((index, data));
        }
        let (_, data) = self.current.as_ref().expect("just filled");
        let from = (self.pos - u64::from(index) * cs) as usize;
        let n = data.len().saturating_sub(from).min(out.len());
        if n == 0 {
            return Err(std::io::Error::other(format!("staged blob {} chunk {index} is short", self.blob)));
        }
        out[..n].copy_from_slice(&data[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for StagedReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

/// Stages `data` (carried by a job, so small) as content of blob `id` inside `tx`, ready for
/// [`adopt`] in the same transaction: small content as it is, larger as chunks. `beside` is
/// content staged in the same job (whose index it shares).
pub(crate) fn stage_inline(tx: &WriteTransaction, id: u64, data: &[u8], beside: &Staged) -> Result<Staged> {
    let recent = beside.recent.clone();
    let sha256 = Sha256::digest(data).into();
    let size = data.len() as u64;
    if data.len() <= SMALL_MAX {
        return Ok(Staged {
            blob: id,
            chunks: 0,
            marked: false,
            small: Some(Bytes::copy_from_slice(data)),
            sha256,
            size,
            object: false,
            recent,
        });
    }
    let mut table = tx.open_table(CHUNKS)?;
    let mut chunks = 0;
    for piece in data.chunks(CHUNK_SIZE) {
        table.insert((id, chunks), piece)?;
        chunks += 1;
    }
    Ok(Staged { blob: id, chunks, marked: false, small: None, sha256, size, object: false, recent })
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.handed_over {
            return;
        }
        // The object (or multipart upload) goes to the outbox, and the chunks (content that
        // was copied to an object after a check, or never was) go. If this job is lost, the
        // next start does both (the staging record to the outbox, the staged chunks).
        let object = self.object.as_ref().filter(|o| o.staged).map(|o| o.objects.clone());
        let Some(blob) = self.blob.filter(|_| object.is_some() || self.chunks > 0) else {
            return;
        };
        let (chunks, in_store) = (self.chunks, object.is_some());
        let (job, rx) = writer::Call::job(false, 0, move |tx| {
            if in_store {
                objects::discard(tx, blob)?;
            }
            if chunks > 0 {
                tx.open_table(STAGED)?.remove(blob)?;
                remove_chunks(tx, blob, Some(chunks))?;
            }
            Ok(())
        });
        let queue = self.store.inner.queue.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if queue.send(job).await.is_ok() && matches!(rx.await, Ok(Ok(()))) {
                    if let Some(objects) = object {
                        objects.wake();
                    }
                }
            });
        }
    }
}

/// Sealed content inside a write transaction, written out as chunks or (small content)
/// still in memory, waiting to become a blob ([`adopt`]) or to go ([`discard`]) in that
/// same transaction.
pub(crate) struct Staged {
    /// The id the content has as chunks, or takes as a new small blob.
    blob: u64,
    chunks: u32,
    /// Whether chunks went to the writer before the commit job, marking the blob in `STAGED`
    /// (content that fits in one chunk is written, adopted and unmarked in one transaction).
    marked: bool,
    /// Small content, not written anywhere yet: [`adopt`] writes it unless a blob has it.
    small: Option<Bytes>,
    pub sha256: [u8; 32],
    pub size: u64,
    /// The content is an object in the store (staged in `objects::OBJECT_STAGING`), no chunks.
    object: bool,
    /// The store's newest sha256 index entries, where [`adopt`] looks and adds.
    recent: Arc<Recent>,
}

/// One chunk of an upload, written without fsync; the commit job's durable commit covers it.
struct ChunkJob {
    blob: u64,
    index: u32,
    data: Bytes,
    /// Queue space held by `data`; released as soon as redb has its own copy.
    permit: Option<OwnedSemaphorePermit>,
    failed: Failure,
}

/// The first storage error of an upload's chunk writes, shared with its chunk jobs, so the
/// client learns the real cause (a full disk is 507, not a generic 500).
#[derive(Clone, Default)]
struct Failure(Arc<Mutex<Option<Error>>>);

impl Failure {
    fn get(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, e: Error) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    }
}

impl Job for ChunkJob {
    fn run(&mut self, tx: &WriteTransaction) -> Result<()> {
        // Marked staged with every chunk (not just the first): if the first chunk's batch
        // failed, later chunks must still be found and reclaimed after a crash (invariant 1).
        tx.open_table(STAGED)?.insert(self.blob, crate::clock::now())?;
        tx.open_table(CHUNKS)?.insert((self.blob, self.index), self.data.as_ref())?;
        // redb has its own copy now; free ours before the commit instead of after it.
        self.data = Bytes::new();
        self.permit = None;
        Ok(())
    }

    fn durable(&self) -> bool {
        false
    }

    fn weight(&self) -> usize {
        CHUNK_SIZE
    }

    fn complete(self: Box<Self>, committed: Result<()>) {
        if let Err(e) = committed {
            self.failed.set(e);
        }
    }
}

/// The content tables, open for a job that adopts many uploads (a table opens once per
/// transaction, and opening one costs about as much as an insert).
pub(crate) struct Tables<'t> {
    blobs: Table<'t, u64, &'static [u8]>,
    by_sha: Table<'t, [u8; 32], u64>,
    chunks: Table<'t, (u64, u32), &'static [u8]>,
    staged: Table<'t, u64, u64>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(tx: &'t WriteTransaction) -> Result<Tables<'t>> {
        Ok(Tables {
            blobs: tx.open_table(BLOBS)?,
            by_sha: tx.open_table(BLOB_BY_SHA)?,
            chunks: tx.open_table(CHUNKS)?,
            staged: tx.open_table(STAGED)?,
        })
    }
}

/// Turns staged chunks into a reference to a blob with their content: a new blob, or one more
/// reference to an existing blob with the same sha256 (and the staged copy is dropped).
/// Returns the blob id the new reference must point at.
pub(crate) fn adopt(tx: &WriteTransaction, t: &mut Tables, staged: &Staged) -> Result<u64> {
    if staged.marked {
        t.staged.remove(staged.blob)?;
    }
    if staged.object {
        // Unstaged here; either its blob's content below or, same content stored, deleted.
        objects::adopt(tx, staged.blob, staged.size)?;
    }
    if let Some(id) = staged.recent.find(tx, &t.by_sha, &t.blobs, staged.sha256)? {
        let mut rec: BlobRec = super::get_rec(&t.blobs, id)?
            .ok_or_else(|| Error::corrupt(format!("blob {id} is indexed but missing")))?;
        rec.refs += 1;
        t.blobs.insert(id, codec::encode(&rec).as_slice())?;
        if staged.object {
            objects::forget(tx, staged.blob)?;
        }
        remove_chunks_in(&mut t.chunks, staged.blob, Some(staged.chunks))?;
        return Ok(id);
    }
    if staged.object {
        // Chunks the object was copied from (`Sealed::into_object_store`).
        remove_chunks_in(&mut t.chunks, staged.blob, Some(staged.chunks))?;
    }
    let rec = match &staged.small {
        Some(data) => write_small(&mut t.chunks, staged.blob, data, staged.sha256)?,
        None => BlobRec {
            sha256: staged.sha256,
            size: staged.size,
            chunk_size: CHUNK_SIZE as u32,
            refs: 1,
            inline: Vec::new(),
        },
    };
    t.blobs.insert(staged.blob, codec::encode(&rec).as_slice())?;
    staged.recent.insert(tx, (&mut t.by_sha, &t.blobs), staged.blob, staged.sha256)?;
    Ok(staged.blob)
}

/// Makes staged chunks the content of their (existing) blob, in place of its object: the
/// record is rewritten for chunks with `refs` references, and the staging mark goes.
pub(crate) fn install(tx: &WriteTransaction, staged: &Staged, refs: u64) -> Result<()> {
    if staged.marked {
        tx.open_table(STAGED)?.remove(staged.blob)?;
    }
    let rec = match &staged.small {
        Some(data) => {
            BlobRec { refs, ..write_small(&mut tx.open_table(CHUNKS)?, staged.blob, data, staged.sha256)? }
        }
        None => BlobRec {
            sha256: staged.sha256,
            size: staged.size,
            chunk_size: CHUNK_SIZE as u32,
            refs,
            inline: Vec::new(),
        },
    };
    tx.open_table(BLOBS)?.insert(staged.blob, codec::encode(&rec).as_slice())?;
    Ok(())
}

/// Writes small content as blob `id`'s chunks of [`PIECE`] bytes and returns its record,
/// with the remainder inline.
fn write_small(
    table: &mut Table<(u64, u32), &[u8]>,
    id: u64,
    data: &[u8],
    sha256: [u8; 32],
) -> Result<BlobRec> {
    let chunked = data.len() / PIECE * PIECE;
    for (i, piece) in data[..chunked].chunks(PIECE).enumerate() {
        table.insert((id, i as u32), piece)?;
    }
    Ok(BlobRec {
        sha256,
        size: data.len() as u64,
        chunk_size: PIECE as u32,
        refs: 1,
        inline: data[chunked..].to_vec(),
    })
}

/// Drops one reference to blob `id` (its holder is gone); the last one deletes its record
/// and index entry, and its chunks unless a download holds a lease on it (then they are
/// kept, staged, until the last lease goes: invariant 4). `reaper` is the job's link to the
/// lease table.
pub(crate) fn release(tx: &WriteTransaction, id: u64, reaper: &Reaper) -> Result<()> {
    let mut blobs = tx.open_table(BLOBS)?;
    let mut rec: BlobRec = super::get_rec(&blobs, id)?
        .ok_or_else(|| Error::corrupt(format!("released a reference to missing blob {id}")))?;
    if rec.refs > 1 {
        rec.refs -= 1;
        blobs.insert(id, codec::encode(&rec).as_slice())?;
        return Ok(());
    }
    blobs.remove(id)?;
    reaper.recent.remove(tx, (&mut tx.open_table(BLOB_BY_SHA)?, &blobs), id, rec.sha256)?;
    drop(blobs);
    if objects::forget(tx, id)? {
        // Deleted after this commit by the worker, which waits for the downloads' leases.
        return Ok(());
    }
    match reaper.decide(id) {
        Fate::Keep => {
            tx.open_table(STAGED)?.insert(id, crate::clock::now())?;
            Ok(())
        }
        Fate::Remove => remove_chunks(tx, id, Some(rec.chunk_count())),
    }
}

/// Removes staged content that will not become a blob (a refused upload).
pub(crate) fn discard(tx: &WriteTransaction, t: &mut Tables, staged: &Staged) -> Result<()> {
    if staged.object {
        objects::discard(tx, staged.blob)?;
    }
    if staged.marked {
        t.staged.remove(staged.blob)?;
    }
    remove_chunks_in(&mut t.chunks, staged.blob, Some(staged.chunks))
}

/// Removes blob `blob`'s first `count` chunks, or all of them.
pub(crate) fn remove_chunks(tx: &WriteTransaction, blob: u64, count: Option<u32>) -> Result<()> {
    remove_chunks_in(&mut tx.open_table(CHUNKS)?, blob, count)
}

fn remove_chunks_in(table: &mut Table<(u64, u32), &[u8]>, blob: u64, count: Option<u32>) -> Result<()> {
    match count {
        Some(n) => {
            for i in 0..n {
                table.remove((blob, i))?;
            }
        }
        None => table.retain_in((blob, 0)..=(blob, u32::MAX), |_, _| false)?,
    }
    Ok(())
}

/// Removes the chunks of every staged upload; returns how many uploads there were.
pub(crate) fn reclaim_staged(tx: &WriteTransaction) -> Result<u64> {
    let ids: Vec<u64> = {
        let staged = tx.open_table(STAGED)?;
        let mut ids = Vec::new();
        for entry in staged.iter()? {
            ids.push(entry?.0.value());
        }
        ids
    };
    for &id in &ids {
        tx.open_table(STAGED)?.remove(id)?;
        remove_chunks(tx, id, None)?;
    }
    Ok(ids.len() as u64)
}

/// A blob opened for reading, consistent whatever is deleted meanwhile: from the snapshot
/// it was found in, from memory (small content), or (after [`BlobReader::into_leased`]) one
/// short read transaction per chunk, the blob kept alive by a lease.
pub(crate) struct BlobReader {
    store: Store,
    source: Source,
    id: u64,
    /// The blob's record, its inline bytes moved to `inline` (so `rec.inline` is empty).
    rec: BlobRec,
    /// The content's last bytes, from the record (kept when the record goes: a lease keeps
    /// the chunks only).
    inline: Bytes,
    /// The content is an object in the store (then `source` only keeps the blob alive).
    object: bool,
}

enum Source {
    Snapshot(ReadTransaction),
    /// Each read opens a transaction of its own; the lease is held for its `Drop`.
    Leased {
        _lease: Lease,
    },
    /// The whole content.
    Memory(Bytes),
}

impl BlobReader {
    /// Blob `id` as the snapshot `tx` has it; `None` when it has no record there. Content
    /// held in the record alone is read at once, and the snapshot ends here.
    pub(crate) fn open(store: &Store, tx: ReadTransaction, id: u64) -> Result<Option<BlobReader>> {
        let rec: Option<BlobRec> = super::get_rec(&tx.open_table(BLOBS)?, id)?;
        let object = rec.is_some() && objects::is_object(&tx, id)?;
        Ok(rec.map(|mut rec| {
            let inline = Bytes::from(std::mem::take(&mut rec.inline));
            let source = if !object && inline.len() as u64 == rec.size {
                Source::Memory(inline.clone())
            } else {
                Source::Snapshot(tx)
            };
            BlobReader { store: store.clone(), source, id, rec, inline, object }
        }))
    }

    pub(crate) fn size(&self) -> u64 {
        self.rec.size
    }

    pub(crate) fn sha256(&self) -> [u8; 32] {
        self.rec.sha256
    }

    /// Trades the snapshot for a lease on the blob, for a transfer that may take long: the
    /// snapshot would pin every page freed while it lasts. Small content is read into memory
    /// instead, needing no lease. Keeps the snapshot (and so stays correct) in the rare race
    /// where the blob is being deleted right now (invariant 6), or when reading small
    /// content failed (the transfer then reports it). Blocks.
    pub(crate) fn into_leased(mut self) -> BlobReader {
        if !matches!(self.source, Source::Snapshot(_)) {
            return self;
        }
        if self.rec.size <= SMALL_MAX as u64 && !self.object {
            let mut all = BytesMut::with_capacity(self.rec.size as usize);
            if self
                .read(0, self.rec.size, |b| {
                    all.extend_from_slice(&b);
                    true
                })
                .is_ok()
            {
                self.source = Source::Memory(all.freeze());
            }
            return self;
        }
        let Some(lease) = Lease::take(&self.store, self.id) else {
            return self;
        };
        // A transaction that begins after the lease was granted (invariant 6).
        let id = self.id;
        let now = self.store.read().and_then(|tx| {
            let rec: Option<BlobRec> = super::get_rec(&tx.open_table(BLOBS)?, id)?;
            Ok(match rec {
                Some(rec) => Some((rec, objects::is_object(&tx, id)?)),
                None => None,
            })
        });
        if let Ok(Some((mut rec, object))) = now {
            if object != self.object {
                // Moved between the database and the object store since the snapshot (`blobs
                // migrate`): the same content, read from where it is now, under the lease.
                self.inline = Bytes::from(std::mem::take(&mut rec.inline));
                self.rec = rec;
                self.object = object;
            }
            self.source = Source::Leased { _lease: lease }; // and the snapshot ends
        }
        self
    }

    /// Calls `sink` with consecutive pieces of bytes `start..end` (each at most [`READ_PIECE`]);
    /// stops early when `sink` returns false (the reader went away). A leased reader opens
    /// one read transaction per chunk and ends it before `sink` sees the bytes.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when a chunk is missing or of the wrong size.
    pub(crate) fn read(&self, start: u64, end: u64, mut sink: impl FnMut(Bytes) -> bool) -> Result<()> {
        let end = end.min(self.rec.size);
        if self.object {
            return self.read_object(start, end, sink);
        }
        if let Source::Memory(all) = &self.source {
            let mut pos = start;
            while pos < end {
                let to = end.min(pos + READ_PIECE as u64);
                if !sink(all.slice(pos as usize..to as usize)) {
                    return Ok(());
                }
                pos = to;
            }
            return Ok(());
        }
        // Not `rec.chunked_len()`: the inline bytes were moved out of `rec`.
        let chunked = self.rec.size - self.inline.len() as u64;
        let cs = u64::from(self.rec.chunk_size);
        // From a snapshot, one table for every chunk (small content has up to 65).
        let snapshot = match &self.source {
            Source::Snapshot(tx) if start < end.min(chunked) => Some(tx.open_table(CHUNKS)?),
            _ => None,
        };
        let mut pos = start;
        while pos < end.min(chunked) {
            let index = (pos / cs) as u32;
            let chunk_start = u64::from(index) * cs;
            let expected = cs.min(chunked - chunk_start) as usize;
            let from = (pos - chunk_start) as usize;
            let to = ((end - chunk_start) as usize).min(expected);
            let pieces = self.chunk_pieces(snapshot.as_ref(), index, expected, from..to)?;
            for piece in pieces {
                if !sink(piece) {
                    return Ok(());
                }
            }
            pos = chunk_start + to as u64;
        }
        if pos < end {
            // The inline bytes (at most a page): one piece.
            sink(self.inline.slice((pos - chunked) as usize..(end - chunked) as usize));
        }
        Ok(())
    }

    /// Whether the content is an object in the store (then [`BlobReader::object_range`]
    /// streams it without a blocking thread).
    pub(crate) fn in_object_store(&self) -> bool {
        self.object
    }

    /// Streams bytes `start..end` of an object's content; the store is asked before this
    /// returns, so a store that is down is an error here, before any byte is promised.
    pub(crate) async fn object_range(&self, start: u64, end: u64) -> Result<objects::ObjectStream> {
        let objects = self.store.objects().ok_or_else(no_store)?;
        objects.open_range(self.id, start, end.min(self.rec.size)).await
    }

    /// A presigned URL for the object, when the store is set to redirect downloads.
    pub(crate) fn presigned(&self, name: &str) -> Option<String> {
        let objects = self.store.objects()?;
        (self.object && objects.config().redirect).then(|| objects.presign(self.id, name))
    }

    /// [`BlobReader::read`] of an object, from a blocking thread of the runtime.
    fn read_object(&self, start: u64, end: u64, mut sink: impl FnMut(Bytes) -> bool) -> Result<()> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| no_store())?;
        rt.block_on(async {
            let mut stream = self.object_range(start, end).await?;
            while let Some(piece) = stream.next().await {
                if !sink(piece?) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Bytes `range` of chunk `index` (which must be `expected` bytes long), copied out in
    /// pieces of at most [`READ_PIECE`]: from the snapshot's `table`, or (leased) from a
    /// read transaction of its own.
    fn chunk_pieces(
        &self,
        table: Option<&redb::ReadOnlyTable<(u64, u32), &'static [u8]>>,
        index: u32,
        expected: usize,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Bytes>> {
        let fresh;
        let chunks = match table {
            Some(t) => t,
            None => {
                fresh = self.store.read()?.open_table(CHUNKS)?;
                &fresh
            }
        };
        let id = self.id;
        let guard = chunks
            .get((id, index))?
            .ok_or_else(|| Error::corrupt(format!("blob {id} lacks chunk {index}")))?;
        let data = guard.value();
        if data.len() != expected {
            return Err(Error::corrupt(format!("blob {id} chunk {index} has a wrong size")));
        }
        Ok(data[range].chunks(READ_PIECE).map(Bytes::copy_from_slice).collect())
    }
}

fn no_store() -> Error {
    Error::Unavailable("this content is in an object store, and none is configured here".into())
}

/// A lease on blob `id` for a copy of its content (`blobs migrate`): its object is not
/// deleted, nor its chunks removed, while it is held. `None` while a transaction removes them.
pub(crate) fn lease(store: &Store, id: u64) -> Option<Lease> {
    Lease::take(store, id)
}

/// Whether a download holds a lease on blob `id` (its object must not be deleted yet).
pub(crate) fn is_leased(store: &Store, id: u64) -> bool {
    store.inner.leases.state().held.contains_key(&id)
}

/// What a transaction that takes a blob's last reference does with its chunks.
enum Fate {
    /// Leased: keep them (staged) for the downloads reading them.
    Keep,
    /// Unleased: remove them; the blob is dying until the transaction is over.
    Remove,
}

/// The download leases of the store (invariants 4-7): which blobs downloads are reading,
/// which a transaction in flight is removing, and which were deleted under a lease.
#[derive(Default)]
pub(crate) struct Leases(Mutex<LeaseState>);

#[derive(Default)]
struct LeaseState {
    /// blob id → downloads reading it.
    held: HashMap<u64, u32>,
    /// Blobs whose chunks a transaction not yet over removes: no lease is granted on them.
    dying: HashSet<u64>,
    /// Blobs deleted while leased, their chunks kept and staged until the last lease goes.
    kept: HashSet<u64>,
}

impl Leases {
    fn state(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One download's hold on a blob's chunks; dropping it gives the hold back, and the last
/// hold on a blob deleted meanwhile queues the removal of its chunks.
pub(crate) struct Lease {
    store: Store,
    blob: u64,
}

impl Lease {
    /// A lease on `blob`, unless its chunks are being removed (invariant 5).
    fn take(store: &Store, blob: u64) -> Option<Lease> {
        let mut state = store.inner.leases.state();
        if state.dying.contains(&blob) {
            return None;
        }
        *state.held.entry(blob).or_insert(0) += 1;
        Some(Lease { store: store.clone(), blob })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let reap = {
            let mut state = self.store.inner.leases.state();
            let last = match state.held.get_mut(&self.blob) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => {
                    state.held.remove(&self.blob);
                    true
                }
            };
            if last {
                if let Some(objects) = self.store.objects() {
                    objects.wake(); // an outbox object may have waited for this lease
                }
            }
            last && state.kept.remove(&self.blob)
        };
        if !reap {
            return;
        }
        let job = Box::new(ReapJob { blob: self.blob, reaper: Reaper::new(&self.store) });
        // If the job cannot be queued (the writer stopped), the chunks stay staged and the
        // next open reclaims them (invariant 7).
        match self.store.inner.queue.try_send(job) {
            Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(job)) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let queue = self.store.inner.queue.clone();
                    rt.spawn(async move {
                        let _ = queue.send(job).await;
                    });
                }
            }
        }
    }
}

/// A write job's link to the lease table: decides the fate of the blobs whose last reference
/// the job takes, and takes them out of `dying` once the job's transaction is over.
#[derive(Clone)]
pub(crate) struct Reaper {
    leases: Arc<Leases>,
    /// Where a released blob's sha256 entry may be (`recent.rs`).
    recent: Arc<Recent>,
    /// The blobs this job put in `dying`.
    dying: Arc<Mutex<Vec<u64>>>,
}

impl Reaper {
    fn new(store: &Store) -> Reaper {
        Reaper {
            leases: store.inner.leases.clone(),
            recent: store.inner.recent.clone(),
            dying: Arc::default(),
        }
    }

    /// Under the lease mutex: keep a leased blob's chunks, or mark it dying (invariants 4, 5).
    fn decide(&self, blob: u64) -> Fate {
        let mut state = self.leases.state();
        if state.held.contains_key(&blob) {
            state.kept.insert(blob);
            return Fate::Keep;
        }
        state.dying.insert(blob);
        self.dying.lock().unwrap_or_else(|p| p.into_inner()).push(blob);
        Fate::Remove
    }

    /// Under the lease mutex: marks an unleased blob dying, so no download leases its chunks
    /// while this job's transaction removes them though the blob lives on (its content moved
    /// to the object store); false when a download holds it.
    pub(crate) fn claim(&self, blob: u64) -> bool {
        let mut state = self.leases.state();
        if state.held.contains_key(&blob) {
            return false;
        }
        state.dying.insert(blob);
        self.dying.lock().unwrap_or_else(|p| p.into_inner()).push(blob);
        true
    }

    /// Called once the transaction that ran the job has committed or been dropped.
    fn settle(&self) {
        let ids = std::mem::take(&mut *self.dying.lock().unwrap_or_else(|p| p.into_inner()));
        if ids.is_empty() {
            return;
        }
        let mut state = self.leases.state();
        for id in ids {
            state.dying.remove(&id);
        }
    }
}

/// Removes the chunks kept for the leases on a deleted blob once the last lease is gone.
/// Not durable: a crash before a later durable commit leaves them staged, and the next open
/// reclaims them.
struct ReapJob {
    blob: u64,
    reaper: Reaper,
}

impl Job for ReapJob {
    fn run(&mut self, tx: &WriteTransaction) -> Result<()> {
        let id = self.blob;
        let staged = tx.open_table(STAGED)?.get(id)?.is_some();
        // A record means the transaction that kept the chunks never committed: the blob lives.
        if !staged || tx.open_table(BLOBS)?.get(id)?.is_some() {
            return Ok(());
        }
        match self.reaper.decide(id) {
            // A download found the blob again in an older snapshot; its lease reaps it.
            Fate::Keep => Ok(()),
            Fate::Remove => {
                tx.open_table(STAGED)?.remove(id)?;
                remove_chunks(tx, id, None)
            }
        }
    }

    fn durable(&self) -> bool {
        false
    }

    fn complete(self: Box<Self>, committed: Result<()>) {
        self.reaper.settle();
        if let Err(e) = committed {
            tracing::warn!(error = %e, blob = self.blob, "removing a deleted blob's chunks failed; the next start reclaims them");
        }
    }
}

impl Drop for ReapJob {
    fn drop(&mut self) {
        self.reaper.settle();
    }
}

/// A write job that may release blobs: runs the inner job, and settles its reaper when the
/// transaction is over (before the reply), or when the job is dropped unrun.
struct Reaping {
    job: Option<Box<dyn Job>>,
    reaper: Reaper,
}

impl Job for Reaping {
    fn run(&mut self, tx: &WriteTransaction) -> Result<()> {
        self.job.as_mut().expect("present until complete").run(tx)
    }

    fn durable(&self) -> bool {
        self.job.as_ref().is_some_and(|j| j.durable())
    }

    fn weight(&self) -> usize {
        self.job.as_ref().map_or(0, |j| j.weight())
    }

    fn complete(mut self: Box<Self>, committed: Result<()>) {
        self.reaper.settle();
        if let Some(job) = self.job.take() {
            job.complete(committed);
        }
    }
}

impl Drop for Reaping {
    fn drop(&mut self) {
        self.reaper.settle();
    }
}

impl Store {
    /// Like `Store::write`, for a durable job that may release blobs: `f` gets the
    /// [`Reaper`] to pass to [`release`].
    pub(crate) fn write_reaping<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &Reaper) -> Result<T> + Send + 'static,
    {
        let (job, rx) = self.reaping_job(f);
        self.inner.queue.blocking_send(job).map_err(|_| Error::Closed)?;
        let outcome = rx.blocking_recv().map_err(|_| Error::Closed)?;
        self.reaped();
        outcome
    }

    /// [`Store::write_reaping`] from async code.
    pub(crate) async fn write_reaping_async<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &Reaper) -> Result<T> + Send + 'static,
    {
        let (job, rx) = self.reaping_job(f);
        self.inner.queue.send(job).await.map_err(|_| Error::Closed)?;
        let outcome = rx.await.map_err(|_| Error::Closed)?;
        self.reaped();
        outcome
    }

    /// The durable job running `f` with a reaper that is settled when its transaction is
    /// over, and the receiver of its outcome.
    fn reaping_job<T, F>(&self, f: F) -> (Box<dyn Job>, tokio::sync::oneshot::Receiver<Result<T>>)
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &Reaper) -> Result<T> + Send + 'static,
    {
        let reaper = Reaper::new(self);
        let theirs = reaper.clone();
        let (job, rx) = writer::Call::job(true, 0, move |tx| f(tx, &theirs));
        (Box::new(Reaping { job: Some(job), reaper }), rx)
    }

    /// After a job that may have released blobs: one may have left an object to delete.
    fn reaped(&self) {
        if let Some(objects) = self.objects() {
            objects.wake();
        }
    }
}
