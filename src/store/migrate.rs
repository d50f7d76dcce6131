//! `depot blobs migrate --to s3|local`: moves blob content between the database file and the
//! object store, one blob at a time, while the server keeps serving (run by the server that
//! holds the file, through the control socket) or on a stopped database.
//!
//! Each blob keeps its id, so no file record changes; only where its content lives does.
//! Every move is: copy, verify the copy by re-reading and hashing it, then switch the record
//! in one redb transaction; the old copy goes only after that commit. So a crash or a kill at
//! any point leaves each blob whole in one place, and a second run continues where the first
//! stopped (what was switched is skipped, what was half copied is cleaned up and redone).
//!
//! To the store: the object is staged (`OBJECT_STAGING`, committed before it exists, as for
//! an upload), written from a leased reader of the chunks, read back and hashed; the switch
//! records it in `OBJECTS` and removes the chunks in the same transaction. A download
//! holding a lease on the chunks defers the switch (they are read by later transactions);
//! the blob is retried after the others.
//!
//! To the database: the object, kept by a lease of our own, is streamed into staged chunks
//! under the blob's id (as an upload's), which are read back and hashed; the switch rewrites
//! the blob record for them and moves the object to the outbox, which deletes it once no
//! download reads it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::blobs::{self, BlobReader, CHUNK_SIZE, SMALL_MAX};
use super::objects::{self, ObjectUpload, Objects, S3Config};
use super::records::BlobRec;
use super::tables::{BLOBS, OBJECTS, OBJECT_OUTBOX, OBJECT_STAGING};
use super::{codec, Error, Result, Store};

/// Where `blobs migrate` moves content to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MigrateTo {
    /// The object store (content larger than the inline limit).
    S3,
    /// The database file.
    Local,
}

/// What a `blobs migrate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrated {
    /// Blobs moved by this run.
    pub moved: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Blobs left where they were: still read by a download, or the run was cancelled; a
    /// second run moves them.
    pub left: u64,
    /// Blobs whose content did not match its sha256 when copied (left where they were).
    pub problems: Vec<String>,
}

/// How one blob's move ended.
enum Moved {
    Done(u64),
    /// A download holds it (or its old object is still being deleted): try again later.
    Busy,
    /// Deleted meanwhile, or already where it should go.
    Gone,
    /// Its content is not what its record says.
    Mismatch(String),
}

/// How long deferred blobs are retried before the run ends leaving them.
const DEFER_LIMIT: Duration = Duration::from_secs(60);
/// Candidates read per transaction.
const BATCH: usize = 64;

impl Store {
    /// Moves every blob's content to `to`. For the store, `target` names it (else the one
    /// attached or recorded is used) and `credentials` are its keys when it must be attached
    /// here. From then on new content goes where the content went. Blocks the calling async
    /// task for as long as the copies take; `cancel` stops it between blobs.
    ///
    /// # Errors
    /// [`Error::Refused`] when no store is known or another one is attached or recorded;
    /// [`Error::Unavailable`] when the store fails (what was moved stays moved); storage errors.
    pub async fn migrate_blobs(
        &self,
        to: MigrateTo,
        target: Option<S3Config>,
        credentials: Option<(String, String)>,
        progress: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Migrated> {
        let Some(objects) = self.migration_store(to, target, credentials).await? else {
            progress("blobs migrate: no content is in an object store; nothing to move");
            return Ok(Migrated::default());
        };
        if objects.migrating.swap(true, Ordering::AcqRel) {
            return Err(Error::Refused("a blobs migrate is running already".into()));
        }
        let outcome = self.migrate_all(&objects, to, progress, cancel).await;
        objects.migrating.store(false, Ordering::Release);
        let done = outcome?;
        // The old objects go through the outbox; a stopped database's run waits for them.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && self.outbox_len().await? > 0 {
            objects.wake();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(done)
    }

    /// The object store to migrate with, attached here if it was not; `None` when moving to
    /// the database file and no content is in a store.
    async fn migration_store(
        &self,
        to: MigrateTo,
        target: Option<S3Config>,
        credentials: Option<(String, String)>,
    ) -> Result<Option<Arc<Objects>>> {
        if let Some(attached) = self.objects() {
            if let Some(cfg) = &target {
                let wanted = objects::describe(cfg);
                if wanted != attached.describe() {
                    return Err(Error::Refused(format!(
                        "this server's object store is \"{}\", not \"{wanted}\"",
                        attached.describe()
                    )));
                }
            }
            attached.set_uploads(to == MigrateTo::S3);
            return Ok(Some(attached));
        }
        let cfg = match target {
            Some(cfg) => cfg,
            None => {
                let tx = self.read()?;
                if to == MigrateTo::Local && !objects::in_use(&tx)? {
                    return Ok(None);
                }
                let recorded = objects::recorded_store(&tx)?;
                match objects::recorded_config(&tx, credentials)? {
                    Some(cfg) => cfg,
                    None if recorded.is_some() => {
                        return Err(Error::Refused(
                            "the object store's credentials are not set: DEPOT_S3_ACCESS_KEY_ID and \
                             DEPOT_S3_SECRET_ACCESS_KEY"
                                .into(),
                        ))
                    }
                    None => {
                        return Err(Error::Refused(
                            "the database records no object store: give --s3-endpoint and --s3-bucket".into(),
                        ))
                    }
                }
            }
        };
        let objects = Objects::new(cfg).map_err(Error::Refused)?;
        objects.set_uploads(to == MigrateTo::S3);
        self.attach_objects(objects).await?;
        Ok(self.objects())
    }

    async fn migrate_all(
        &self,
        objects: &Arc<Objects>,
        to: MigrateTo,
        progress: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Migrated> {
        let small = objects.config().inline_max.min(SMALL_MAX as u64);
        let total = self.candidates(to, small, 0, usize::MAX).await?.len();
        let mut out = Migrated::default();
        let mut deferred = Vec::new();
        let mut after = 0;
        let mut said = Instant::now();
        let mut say = |out: &Migrated, force: bool, progress: &mut dyn FnMut(&str)| {
            if force || said.elapsed() >= Duration::from_secs(1) {
                said = Instant::now();
                progress(&format!(
                    "blobs migrate: {} of {total} blobs moved ({} MiB)",
                    out.moved,
                    out.bytes >> 20
                ));
            }
        };
        'pass: loop {
            let batch = self.candidates(to, small, after, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for id in batch {
                if cancel.load(Ordering::Relaxed) {
                    break 'pass;
                }
                after = id;
                let moved = match to {
                    MigrateTo::S3 => self.move_to_store(objects, id).await?,
                    MigrateTo::Local => self.move_to_file(objects, id).await?,
                };
                self.count(moved, id, &mut out, &mut deferred);
                say(&out, false, progress);
            }
        }
        // Blobs a download held: again, until they are free or the limit is reached.
        let since = Instant::now();
        while !deferred.is_empty() && !cancel.load(Ordering::Relaxed) && since.elapsed() < DEFER_LIMIT {
            tokio::time::sleep(Duration::from_millis(200)).await;
            objects.wake();
            for id in std::mem::take(&mut deferred) {
                let moved = match to {
                    MigrateTo::S3 => self.move_to_store(objects, id).await?,
                    MigrateTo::Local => self.move_to_file(objects, id).await?,
                };
                self.count(moved, id, &mut out, &mut deferred);
            }
        }
        let left = self.candidates(to, small, 0, usize::MAX).await?.len() as u64;
        out.left = left.saturating_sub(out.problems.len() as u64);
        say(&out, true, progress);
        Ok(out)
    }

    fn count(&self, moved: Moved, id: u64, out: &mut Migrated, deferred: &mut Vec<u64>) {
        match moved {
            Moved::Done(bytes) => {
                out.moved += 1;
                out.bytes += bytes;
            }
            Moved::Busy => deferred.push(id),
            Moved::Gone => {}
            Moved::Mismatch(why) => {
                tracing::error!(blob = id, "blobs migrate: {why}");
                out.problems.push(why);
            }
        }
    }

    /// Up to `n` blob ids after `after` whose content is not yet where `to` says.
    async fn candidates(&self, to: MigrateTo, small: u64, after: u64, n: usize) -> Result<Vec<u64>> {
        let s = self.clone();
        blocking(move || {
            let tx = s.read()?;
            let in_store = tx.open_table(OBJECTS)?;
            let mut out = Vec::new();
            match to {
                MigrateTo::S3 => {
                    for entry in tx.open_table(BLOBS)?.range(after + 1..)? {
                        let (k, v) = entry?;
                        let id = k.value();
                        let rec: BlobRec = codec::decode(v.value())?;
                        if rec.size > small && in_store.get(id)?.is_none() {
                            out.push(id);
                            if out.len() >= n {
                                break;
                            }
                        }
                    }
                }
                MigrateTo::Local => {
                    for entry in in_store.range(after + 1..)? {
                        out.push(entry?.0.value());
                        if out.len() >= n {
                            break;
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn outbox_len(&self) -> Result<u64> {
        let s = self.clone();
        blocking(move || {
            use redb::ReadableTableMetadata;
            Ok(s.read()?.open_table(OBJECT_OUTBOX)?.len()?)
        })
        .await
    }

    /// Copies blob `id`'s chunks to its object, verifies it, and switches the blob to it.
    async fn move_to_store(&self, objects: &Arc<Objects>, id: u64) -> Result<Moved> {
        let staged = objects::write_async(self, true, move |tx| {
            let rec: Option<BlobRec> = super::get_rec(&tx.open_table(BLOBS)?, id)?;
            let Some(rec) = rec else { return Ok(Err(Moved::Gone)) };
            if tx.open_table(OBJECTS)?.get(id)?.is_some() {
                return Ok(Err(Moved::Gone));
            }
            // An object of this id still to delete (an earlier, cut-short run): its deletion
            // could land after the new copy.
            if tx.open_table(OBJECT_OUTBOX)?.get(id)?.is_some()
                || tx.open_table(OBJECT_STAGING)?.get(id)?.is_some()
            {
                return Ok(Err(Moved::Busy));
            }
            tx.open_table(OBJECT_STAGING)?.insert(id, b"".as_slice())?;
            Ok(Ok(rec))
        })
        .await?;
        let rec = match staged {
            Ok(rec) => rec,
            Err(Moved::Busy) => {
                objects.wake();
                return Ok(Moved::Busy);
            }
            Err(other) => return Ok(other),
        };
        match self.copy_to_object(objects, id, &rec).await {
            Ok(Some(true)) => {}
            outcome => {
                objects::write_async(self, false, move |tx| objects::discard(tx, id)).await?;
                objects.wake();
                return match outcome {
                    Ok(Some(_)) => Ok(Moved::Mismatch(format!(
                        "blob {id}: its object read back does not match its sha256; left in the database"
                    ))),
                    Ok(None) => Ok(Moved::Gone),
                    // Damaged chunks: that blob stays as it is, the others move.
                    Err(e @ Error::Corrupt(_)) => {
                        Ok(Moved::Mismatch(format!("blob {id}: {e}; left in the database")))
                    }
                    Err(e) => Err(e),
                };
            }
        }
        self.switch_to_object(objects, id, rec.size).await
    }

    /// Writes the object and reads it back: true when it holds the blob's content, `None`
    /// when the blob was deleted before it could be read.
    async fn copy_to_object(&self, objects: &Arc<Objects>, id: u64, rec: &BlobRec) -> Result<Option<bool>> {
        let s = self.clone();
        let reader = blocking(move || {
            let tx = s.read()?;
            Ok(BlobReader::open(&s, tx, id)?.map(BlobReader::into_leased))
        })
        .await?;
        let Some(reader) = reader else { return Ok(None) };
        // Moved into each blocking read and back (a reader is not shared between threads).
        let mut reader = Some(reader);
        let mut upload = ObjectUpload::new(objects.clone());
        upload.staged = true;
        let mut blob = Some(id);
        let mut pos = 0;
        while pos < rec.size {
            let end = (pos + CHUNK_SIZE as u64).min(rec.size);
            let r = reader.take().expect("given back by each read");
            let (r, data) = blocking(move || {
                let mut buf = BytesMut::with_capacity((end - pos) as usize);
                r.read(pos, end, |b| {
                    buf.extend_from_slice(&b);
                    true
                })?;
                Ok((r, buf.freeze()))
            })
            .await?;
            reader = Some(r);
            if data.len() as u64 != end - pos {
                return Err(Error::corrupt(format!("blob {id}: its chunks end early")));
            }
            upload.push(self, &mut blob, data).await?;
            pos = end;
        }
        upload.finish(self, &mut blob).await?;
        drop(reader); // the lease: the switch must find no download holding the chunks
        let mut hasher = Sha256::new();
        let mut read = 0;
        let mut stream = objects.open_range(id, 0, rec.size).await?;
        while let Some(piece) = stream.next().await {
            let piece: Bytes = piece?;
            read += piece.len() as u64;
            hasher.update(&piece);
        }
        Ok(Some(read == rec.size && <[u8; 32]>::from(hasher.finalize()) == rec.sha256))
    }

    /// Records the staged object as blob `id`'s content and removes its chunks, once no
    /// download holds them (retried for a while, then left staged for the deferred pass).
    async fn switch_to_object(&self, objects: &Arc<Objects>, id: u64, size: u64) -> Result<Moved> {
        for _ in 0..25 {
            let switched = self
                .write_reaping_async(move |tx, reaper| {
                    if tx.open_table(OBJECT_STAGING)?.get(id)?.is_none() {
                        return Ok(Moved::Gone);
                    }
                    let rec: Option<BlobRec> = super::get_rec(&tx.open_table(BLOBS)?, id)?;
                    let rec = match rec {
                        Some(rec) if rec.size == size && tx.open_table(OBJECTS)?.get(id)?.is_none() => rec,
                        // Deleted while copied: the object goes.
                        _ => {
                            objects::discard(tx, id)?;
                            return Ok(Moved::Gone);
                        }
                    };
                    if !reaper.claim(id) {
                        return Ok(Moved::Busy);
                    }
                    tx.open_table(OBJECT_STAGING)?.remove(id)?;
                    tx.open_table(OBJECTS)?.insert(id, size)?;
                    let rec = BlobRec { chunk_size: CHUNK_SIZE as u32, inline: Vec::new(), ..rec };
                    tx.open_table(BLOBS)?.insert(id, codec::encode(&rec).as_slice())?;
                    blobs::remove_chunks(tx, id, None)?;
                    Ok(Moved::Done(size))
                })
                .await?;
            if !matches!(switched, Moved::Busy) {
                return Ok(switched);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Left staged would make the next start delete the copy: hand it back instead, and
        // the deferred pass copies again.
        objects::write_async(self, false, move |tx| objects::discard(tx, id)).await?;
        objects.wake();
        Ok(Moved::Busy)
    }

    /// Copies blob `id`'s object into chunks of the database, verifies them, and switches
    /// the blob to them; the object goes after the commit.
    async fn move_to_file(&self, objects: &Arc<Objects>, id: u64) -> Result<Moved> {
        let s = self.clone();
        let rec = blocking(move || {
            let tx = s.read()?;
            if tx.open_table(OBJECTS)?.get(id)?.is_none() {
                return Ok(None);
            }
            super::get_rec::<u64, BlobRec>(&tx.open_table(BLOBS)?, id)
        })
        .await?;
        let Some(rec) = rec else { return Ok(Moved::Gone) };
        // Held while copying, so the object is not deleted under us if the file goes.
        let Some(lease) = blobs::lease(self, id) else { return Ok(Moved::Busy) };
        let mut upload = self.begin_upload_as(id);
        let mut stream = match objects.open_range(id, 0, rec.size).await {
            Ok(stream) => stream,
            // Its object missing: that blob stays as it is (verify reports it), the others move.
            Err(e @ Error::Corrupt(_)) => return Ok(Moved::Mismatch(format!("{e}; left as it is"))),
            Err(e) => return Err(e),
        };
        while let Some(piece) = stream.next().await {
            upload.push(piece?).await?;
        }
        let sealed = upload.seal().await?;
        if sealed.size() != rec.size || sealed.sha256() != rec.sha256 {
            return Ok(Moved::Mismatch(format!(
                "blob {id}: its object does not match its sha256; left in the object store"
            )));
        }
        let sealed = sealed.flush().await?;
        let (sealed, written) = blocking(move || {
            let mut reader = sealed.reader()?;
            let mut hasher = Sha256::new();
            std::io::copy(&mut reader, &mut hasher)
                .map_err(|e| Error::corrupt(format!("blob {id}: reading its new chunks back: {e}")))?;
            Ok((sealed, <[u8; 32]>::from(hasher.finalize())))
        })
        .await?;
        if written != rec.sha256 {
            return Ok(Moved::Mismatch(format!(
                "blob {id}: its chunks read back do not match its sha256; left in the object store"
            )));
        }
        let moved = sealed
            .commit(move |tx, staged| {
                let now: Option<BlobRec> = super::get_rec(&tx.open_table(BLOBS)?, id)?;
                let in_store = tx.open_table(OBJECTS)?.get(id)?.is_some();
                let Some(now) = now.filter(|n| in_store && n.sha256 == staged.sha256) else {
                    blobs::discard(tx, &mut blobs::Tables::open(tx)?, staged)?;
                    return Ok(Moved::Gone);
                };
                blobs::install(tx, staged, now.refs)?;
                tx.open_table(OBJECTS)?.remove(id)?;
                tx.open_table(OBJECT_OUTBOX)?.insert(id, b"".as_slice())?;
                Ok(Moved::Done(staged.size))
            })
            .await?;
        drop(lease); // and the outbox may delete the object
        objects.wake();
        Ok(moved)
    }
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|_| Error::Panicked)?
}
