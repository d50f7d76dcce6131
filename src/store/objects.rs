//! Blob content in an S3-compatible object store (`serve --blob-store s3`, SPEC §8), behind
//! the blob interface of `blobs.rs`: metadata, reference counts and deduplication stay in
//! redb; the store holds one immutable object per blob.
//!
//! Objects are named by blob id (`depot/blobs/{id:016x}`), never by sha256: ids are never
//! reused, so an object belongs to exactly one blob record, and a delete of content racing
//! an upload of the same content removes only the old blob's object (the upload's own object
//! becomes the new blob, or goes if the old blob won the race and took the reference).
//!
//! The life of an object, each step a redb commit that a crash cannot split:
//! 1. `OBJECT_STAGING[id]` is committed durably *before* the object (or multipart upload) is
//!    created; the multipart upload id is added to it, durably, once the store gave one.
//! 2. The object complete, the upload's commit ([`adopt`]) moves it from staging to
//!    `OBJECTS` (it became a blob) or to `OBJECT_OUTBOX` (same content already stored, or the
//!    upload was refused), in the transaction that adds the file.
//! 3. The release of a blob's last reference ([`forget`]) moves it from `OBJECTS` to the
//!    outbox in the transaction that removes the file.
//! 4. The worker ([`Objects::spawn_worker`]) deletes outbox objects (aborting any multipart
//!    upload) *after* those commits, and only then removes the outbox entry; an object a
//!    download holds a lease on waits for the lease to go.
//!
//! On open, every staging entry left by a crash or a dropped upload goes to the outbox
//! ([`recover`]). A periodic sweep lists the bucket and deletes objects older than the orphan
//! age that no table knows (left by a bug, or by a crash between the store giving a multipart
//! upload id and its record: then the key is deleted, but a store that keeps unfinished
//! multipart uploads apart from their key keeps that one until its own expiry).
//!
//! Every call to the store is bounded by a timeout; a failure is [`Error::Unavailable`]
//! (503 for the client), never a partial file.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, RetryConfig};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::{writer, Error, Result, Store};

pub(crate) use super::tables::{OBJECTS, OBJECT_OUTBOX, OBJECT_STAGING};
/// `META` key recording the object store in use: "endpoint bucket region".
const META_KEY: &str = "s3";

/// Bytes per multipart part (S3 wants at least 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 << 20;
/// Part buffers all uploads together may hold (each upload holds at most one): what bounds
/// upload memory in object mode, as the writer's queue budget does for chunks.
const PART_BUFFERS: usize = 8;
/// How often the worker looks at the outbox without being woken, and sweeps orphans.
const OUTBOX_POLL: Duration = Duration::from_secs(30);
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Lifetime of a presigned download URL.
pub const PRESIGN_TTL: Duration = Duration::from_secs(300);
const PREFIX: &str = "depot/blobs/";

/// How to reach the object store (from `serve`'s settings).
#[derive(Clone)]
pub struct S3Config {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Downloads answer 302 to a presigned URL instead of streaming through depot.
    pub redirect: bool,
    /// Files up to this size stay in redb.
    pub inline_max: u64,
    /// Bound on one call to the store (a part upload, a delete, the start of a download, the
    /// wait for each piece of a download).
    pub timeout: Duration,
    /// Objects no table knows are swept once older than this.
    pub orphan_age: Duration,
}

impl S3Config {
    /// The defaults of the settings, with no store named and no credentials.
    pub fn defaults() -> S3Config {
        S3Config {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            redirect: false,
            inline_max: super::blobs::SMALL_MAX as u64,
            timeout: Duration::from_secs(30),
            orphan_age: Duration::from_secs(3600),
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("redirect", &self.redirect)
            .field("inline_max", &self.inline_max)
            .finish_non_exhaustive()
    }
}

/// Calls to the object store, for `/metrics`.
#[derive(Default)]
pub struct ObjectStats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Total time of the calls, in microseconds.
    pub micros: AtomicU64,
}

/// A connection to the object store, shared by the store's uploads, readers and worker.
pub struct Objects {
    s3: AmazonS3,
    /// For the one call object_store lacks ([`list_uploads`]).
    http: reqwest::Client,
    cfg: S3Config,
    parts: Arc<Semaphore>,
    wake: Notify,
    pub stats: ObjectStats,
    /// Whether new content goes here; false when the store is attached only for the content
    /// it already holds (`serve --blob-store local` on a database with objects, or after
    /// `blobs migrate --to local`).
    uploads: std::sync::atomic::AtomicBool,
    /// Set while a `blobs migrate` runs (one at a time).
    pub(crate) migrating: std::sync::atomic::AtomicBool,
}

impl Objects {
    /// # Errors
    /// A one-line reason when the settings cannot make a client (a malformed endpoint).
    pub fn new(cfg: S3Config) -> std::result::Result<Objects, String> {
        let url = url_parts(&cfg.endpoint)?;
        let s3 = AmazonS3Builder::new()
            .with_endpoint(cfg.endpoint.trim_end_matches('/'))
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_allow_http(url.0 == "http")
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: cfg.timeout,
            })
            // Our own timeouts bound each call (a download may take hours, its pieces may not).
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(url.0 == "http")
                    .with_timeout_disabled()
                    .with_connect_timeout(cfg.timeout.min(Duration::from_secs(5))),
            )
            .build()
            .map_err(|e| format!("object store settings: {e}"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| format!("object store client: {e}"))?;
        Ok(Objects {
            s3,
            http,
            cfg,
            parts: Arc::new(Semaphore::new(PART_BUFFERS)),
            wake: Notify::new(),
            stats: ObjectStats::default(),
            uploads: true.into(),
            migrating: false.into(),
        })
    }

    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    /// Whether new content goes to the store.
    pub fn uploads(&self) -> bool {
        self.uploads.load(Ordering::Relaxed)
    }

    /// Sends new content to the store (true) or keeps it in the database file (false).
    pub fn set_uploads(&self, on: bool) {
        self.uploads.store(on, Ordering::Relaxed);
    }

    /// "endpoint bucket region", as the database records the store.
    pub fn describe(&self) -> String {
        describe(&self.cfg)
    }

    fn path(id: u64) -> Path {
        Path::from(format!("{PREFIX}{id:016x}"))
    }

    /// Runs one call to the store under the timeout, counted in the stats; a failure is
    /// [`Error::Unavailable`] saying `what` failed.
    async fn call<T>(&self, what: &str, fut: impl Future<Output = object_store::Result<T>>) -> Result<T> {
        let started = Instant::now();
        let out = tokio::time::timeout(self.cfg.timeout, fut).await;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.stats.micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match out {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(e)) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                Err(unavailable(what, &e))
            }
            Err(_) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                Err(Error::Unavailable(format!("{what}: no answer within {:?}", self.cfg.timeout).into()))
            }
        }
    }

    /// Deletes the object of blob `id` (and aborts `upload`); one that is not there is fine.
    async fn delete(&self, id: u64, upload: &str) -> Result<()> {
        let path = Self::path(id);
        if !upload.is_empty() {
            let aborted = self
                .call("aborting a multipart upload", self.s3.abort_multipart(&path, &upload.to_string()))
                .await;
            if let Err(e) = aborted {
                // Already completed or aborted answers 404 on most stores: the delete decides.
                tracing::debug!(error = %e, blob = id, "abort");
            }
        }
        match tokio::time::timeout(self.cfg.timeout, self.s3.delete(&path)).await {
            Ok(Ok(())) | Ok(Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                Err(unavailable("deleting an object", &e))
            }
            Err(_) => Err(Error::Unavailable("deleting an object: timed out".into())),
        }
    }

    /// Wakes the worker: the outbox has something to delete.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// The size of blob `id`'s object, `None` when it is missing.
    pub async fn object_size(&self, id: u64) -> Result<Option<u64>> {
        match tokio::time::timeout(self.cfg.timeout, self.s3.head(&Self::path(id))).await {
            Ok(Ok(meta)) => Ok(Some(meta.size)),
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(None),
            Ok(Err(e)) => Err(unavailable("checking an object", &e)),
            Err(_) => Err(Error::Unavailable("checking an object: timed out".into())),
        }
    }

    /// Streams bytes `start..end` of blob `id`'s object. The request is made (and refused
    /// with [`Error::Unavailable`] when the store is down) before this returns.
    pub async fn open_range(self: &Arc<Self>, id: u64, start: u64, end: u64) -> Result<ObjectStream> {
        if start >= end {
            return Ok(ObjectStream { objects: self.clone(), inner: None, left: 0 });
        }
        let opts = GetOptions { range: Some(GetRange::Bounded(start..end)), ..Default::default() };
        let path = Self::path(id);
        let got = match tokio::time::timeout(self.cfg.timeout, self.s3.get_opts(&path, opts)).await {
            Ok(Ok(got)) => got,
            Ok(Err(object_store::Error::NotFound { .. })) => {
                return Err(Error::corrupt(format!("blob {id}: its object is missing from the object store")))
            }
            Ok(Err(e)) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Err(unavailable("reading an object", &e));
            }
            Err(_) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Unavailable("reading an object: no answer in time".into()));
            }
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        Ok(ObjectStream { objects: self.clone(), inner: Some(got.into_stream()), left: end - start })
    }

    /// A presigned GET URL for blob `id`'s object whose response names the file `name`.
    pub fn presign(&self, id: u64, name: &str) -> String {
        let key = format!("{PREFIX}{id:016x}");
        presign_get(
            &self.cfg,
            &key,
            &crate::http::headers::content_disposition(name),
            PRESIGN_TTL,
            crate::clock::now(),
        )
    }

    /// Starts the worker that deletes outbox objects and sweeps orphans, on the current
    /// runtime. It holds the store only while it works, so closing is not delayed.
    pub(crate) fn spawn_worker(self: &Arc<Self>, store: &Store) {
        let weak: Weak<super::Inner> = Arc::downgrade(&store.inner);
        let objects = self.clone();
        tokio::spawn(async move {
            let mut last_sweep: Option<Instant> = None;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let store = Store { inner };
                if let Err(e) = empty_outbox(&store, &objects).await {
                    tracing::warn!(error = %e, "deleting unreferenced objects failed; retrying later");
                }
                if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                    match sweep(&store, &objects).await {
                        Ok(n) if n > 0 => tracing::info!(objects = n, "swept orphaned objects"),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "sweeping orphaned objects failed; retrying later")
                        }
                    }
                    last_sweep = Some(Instant::now());
                }
                drop(store);
                let _ = tokio::time::timeout(OUTBOX_POLL, objects.wake.notified()).await;
            }
        });
    }
}

fn unavailable(what: &str, e: &object_store::Error) -> Error {
    // object_store's messages nest the whole request; the first line is the useful one.
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("").chars().take(300).collect::<String>();
    Error::Unavailable(format!("{what}: {line}").into())
}

/// A download from the object store; each piece is awaited under the timeout.
pub struct ObjectStream {
    objects: Arc<Objects>,
    inner: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    left: u64,
}

impl ObjectStream {
    /// The next piece; `None` at the end. A body that ends short is an error, never a short
    /// file.
    pub async fn next(&mut self) -> Option<Result<Bytes>> {
        let inner = self.inner.as_mut()?;
        if self.left == 0 {
            self.inner = None;
            return None;
        }
        match tokio::time::timeout(self.objects.cfg.timeout, inner.next()).await {
            Ok(Some(Ok(b))) => {
                let b = if b.len() as u64 > self.left { b.slice(..self.left as usize) } else { b };
                self.left -= b.len() as u64;
                Some(Ok(b))
            }
            Ok(Some(Err(e))) => {
                self.inner = None;
                self.objects.stats.errors.fetch_add(1, Ordering::Relaxed);
                Some(Err(unavailable("reading an object", &e)))
            }
            Ok(None) => {
                self.inner = None;
                Some(Err(Error::Unavailable("the object store ended a download early".into())))
            }
            Err(_) => {
                self.inner = None;
                self.objects.stats.errors.fetch_add(1, Ordering::Relaxed);
                Some(Err(Error::Unavailable("reading an object: stalled".into())))
            }
        }
    }
}

/// The object side of an [`super::Upload`]: buffers one part at a time and sends it.
pub(crate) struct ObjectUpload {
    pub(crate) objects: Arc<Objects>,
    buf: BytesMut,
    permit: Option<OwnedSemaphorePermit>,
    /// The multipart upload id and the parts sent so far.
    multipart: Option<(String, Vec<PartId>)>,
    /// Whether the staging record is committed: from then on, dropping the upload must move
    /// it to the outbox.
    pub(crate) staged: bool,
    /// Content up to this size stays in redb (see [`ObjectUpload::small_limit`]).
    small: usize,
}

impl ObjectUpload {
    pub(crate) fn new(objects: Arc<Objects>) -> ObjectUpload {
        let small =
            usize::try_from(objects.cfg.inline_max).unwrap_or(usize::MAX).min(super::blobs::SMALL_MAX);
        ObjectUpload { objects, buf: BytesMut::new(), permit: None, multipart: None, staged: false, small }
    }

    /// Content of at most this many bytes stays in redb as small content: `--s3-inline-max`,
    /// never more than the small-file size (larger content in redb would be chunks, which the
    /// store exists to take).
    pub(crate) fn small_limit(&self) -> u64 {
        self.small as u64
    }

    /// True while every byte so far is in memory (no part sent yet).
    pub(crate) fn in_memory(&self) -> bool {
        self.multipart.is_none() && !self.staged
    }

    /// The bytes buffered so far (for content small enough to stay in redb).
    pub(crate) fn take_buffer(&mut self) -> Bytes {
        self.permit = None;
        self.buf.split().freeze()
    }

    pub(crate) async fn push(
        &mut self,
        store: &Store,
        blob: &mut Option<u64>,
        mut data: Bytes,
    ) -> Result<()> {
        if self.permit.is_none() && self.buf.len() + data.len() <= self.small {
            // Possibly content that stays in redb: no part buffer taken for it.
            self.buf.extend_from_slice(&data);
            return Ok(());
        }
        while !data.is_empty() {
            if self.permit.is_none() {
                let permit = self.objects.parts.clone().acquire_owned().await.map_err(|_| Error::Closed)?;
                self.permit = Some(permit);
                self.buf.reserve(PART_SIZE - self.buf.len());
            }
            let take = (PART_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data.split_to(take));
            if self.buf.len() == PART_SIZE {
                self.send_part(store, blob).await?;
            }
        }
        Ok(())
    }

    /// Commits the staging record (once), taking the upload's blob id; returns the id.
    pub(crate) async fn stage(&mut self, store: &Store, blob: &mut Option<u64>) -> Result<u64> {
        let id = *blob.get_or_insert_with(|| store.next_blob_id());
        if !self.staged {
            write_async(store, true, move |tx| {
                tx.open_table(OBJECT_STAGING)?.insert(id, b"".as_slice())?;
                Ok(())
            })
            .await?;
            self.staged = true;
        }
        Ok(id)
    }

    async fn send_part(&mut self, store: &Store, blob_id: &mut Option<u64>) -> Result<()> {
        let blob = self.stage(store, blob_id).await?;
        let path = Objects::path(blob);
        if self.multipart.is_none() {
            let id = self.objects.call("starting an upload", self.objects.s3.create_multipart(&path)).await?;
            let recorded = id.clone();
            write_async(store, true, move |tx| {
                tx.open_table(OBJECT_STAGING)?.insert(blob, recorded.as_bytes())?;
                Ok(())
            })
            .await?;
            self.multipart = Some((id, Vec::new()));
        }
        let data = self.buf.split().freeze();
        let (id, parts) = self.multipart.as_mut().expect("just created");
        let part = self
            .objects
            .call("uploading a part", self.objects.s3.put_part(&path, id, parts.len(), data.into()))
            .await?;
        parts.push(part);
        self.permit = None;
        Ok(())
    }

    /// Completes the object: every byte is in the store when this returns.
    pub(crate) async fn finish(&mut self, store: &Store, blob_id: &mut Option<u64>) -> Result<()> {
        let blob = self.stage(store, blob_id).await?;
        let path = Objects::path(blob);
        if self.multipart.is_none() {
            let data = self.take_buffer();
            self.objects.call("storing an object", self.objects.s3.put(&path, data.into())).await?;
            return Ok(());
        }
        if !self.buf.is_empty() {
            self.send_part(store, blob_id).await?;
        }
        let (id, parts) = self.multipart.take().expect("checked above");
        self.objects
            .call("completing an upload", self.objects.s3.complete_multipart(&path, &id, parts))
            .await?;
        Ok(())
    }
}

/// Runs `f` in the writer's next transaction from async code, and waits for the commit.
pub(crate) async fn write_async<T, F>(store: &Store, durable: bool, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
{
    let (job, rx) = writer::Call::job(durable, 0, f);
    store.inner.queue.send(job).await.map_err(|_| store.closed())?;
    rx.await.map_err(|_| store.closed())?
}

/// Creates the tables (on open, so readers never meet a missing one); returns the highest
/// blob id they hold, so no id in use is given out again.
pub(crate) fn prepare(tx: &WriteTransaction) -> Result<u64> {
    let mut last = 0;
    last = last.max(tx.open_table(OBJECTS)?.last()?.map(|(k, _)| k.value()).unwrap_or(0));
    last = last.max(tx.open_table(OBJECT_STAGING)?.last()?.map(|(k, _)| k.value()).unwrap_or(0));
    last = last.max(tx.open_table(OBJECT_OUTBOX)?.last()?.map(|(k, _)| k.value()).unwrap_or(0));
    Ok(last)
}

/// Whether blob `id`'s content is an object.
pub(crate) fn is_object(tx: &ReadTransaction, id: u64) -> Result<bool> {
    Ok(tx.open_table(OBJECTS)?.get(id)?.is_some())
}

/// The upload `id` became blob `id`: its object is now the blob's content.
pub(crate) fn adopt(tx: &WriteTransaction, id: u64, size: u64) -> Result<()> {
    tx.open_table(OBJECT_STAGING)?.remove(id)?;
    tx.open_table(OBJECTS)?.insert(id, size)?;
    Ok(())
}

/// The upload `id` will not become a blob: its object goes to the outbox.
pub(crate) fn discard(tx: &WriteTransaction, id: u64) -> Result<()> {
    let upload = tx.open_table(OBJECT_STAGING)?.remove(id)?.map(|v| v.value().to_vec()).unwrap_or_default();
    tx.open_table(OBJECT_OUTBOX)?.insert(id, upload.as_slice())?;
    Ok(())
}

/// Blob `id` lost its last reference: when its content is an object, queues the object's
/// deletion and returns true.
pub(crate) fn forget(tx: &WriteTransaction, id: u64) -> Result<bool> {
    if tx.open_table(OBJECTS)?.remove(id)?.is_none() {
        return Ok(false);
    }
    tx.open_table(OBJECT_OUTBOX)?.insert(id, b"".as_slice())?;
    Ok(true)
}

/// Moves every staged object (uploads a crash or a stop cut short) to the outbox; returns
/// how many. Run once when the store is attached, before any upload starts.
pub(crate) fn recover(tx: &WriteTransaction) -> Result<u64> {
    let staged: Vec<(u64, Vec<u8>)> = {
        let table = tx.open_table(OBJECT_STAGING)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value(), v.value().to_vec()));
        }
        out
    };
    let mut staging = tx.open_table(OBJECT_STAGING)?;
    let mut outbox = tx.open_table(OBJECT_OUTBOX)?;
    for (id, upload) in &staged {
        staging.remove(*id)?;
        outbox.insert(*id, upload.as_slice())?;
    }
    Ok(staged.len() as u64)
}

/// Records the store in use; an existing record of another store is refused, so content is
/// never looked for in the wrong bucket (moving it is `blobs migrate`).
pub(crate) fn record_store(tx: &WriteTransaction, cfg: &S3Config) -> Result<()> {
    let mut meta = tx.open_table(super::tables::META)?;
    let this = describe(cfg);
    let existing = meta.get(META_KEY)?.map(|v| String::from_utf8_lossy(v.value()).into_owned());
    match existing {
        Some(was) if was != this && !tx.open_table(OBJECTS)?.is_empty()? => Err(Error::Refused(format!(
            "the database's content is in the object store \"{was}\", not \"{this}\""
        ))),
        _ => {
            meta.insert(META_KEY, this.as_bytes())?;
            Ok(())
        }
    }
}

use redb::ReadableTableMetadata;

pub(crate) fn describe(cfg: &S3Config) -> String {
    format!("{} {} {}", cfg.endpoint.trim_end_matches('/'), cfg.bucket, cfg.region)
}

/// Whether the database holds anything in the object store: content, uploads being written,
/// or objects still to delete.
pub(crate) fn in_use(tx: &ReadTransaction) -> Result<bool> {
    Ok(!tx.open_table(OBJECTS)?.is_empty()?
        || !tx.open_table(OBJECT_STAGING)?.is_empty()?
        || !tx.open_table(OBJECT_OUTBOX)?.is_empty()?)
}

/// The object store the database records ("endpoint bucket region"), if any.
pub(crate) fn recorded_store(tx: &ReadTransaction) -> Result<Option<String>> {
    let meta = tx.open_table(super::tables::META)?;
    Ok(meta.get(META_KEY)?.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
}

/// `verify`: every blob that is an object must exist in the store with its size; `deep`
/// also re-reads each one, streamed (memory stays one piece at a time), and checks its
/// sha256 against the blob record. Returns the bytes re-read. Blocks (from a blocking thread
/// of the runtime, or with a runtime of its own).
pub(crate) fn check_all(
    tx: &ReadTransaction,
    objects: &Arc<Objects>,
    deep: bool,
    problems: &mut Vec<String>,
) -> Result<u64> {
    let mut list = Vec::new();
    let blobs = tx.open_table(super::tables::BLOBS)?;
    for entry in tx.open_table(OBJECTS)?.iter()? {
        let (k, v) = entry?;
        let id = k.value();
        let rec: Option<super::records::BlobRec> = super::get_rec(&blobs, id)?;
        match rec {
            Some(rec) if rec.size == v.value() => list.push((id, rec.size, rec.sha256)),
            Some(rec) => problems.push(format!(
                "blob {id}: recorded as an object of {} bytes, but the blob has {}",
                v.value(),
                rec.size
            )),
            None => problems.push(format!("object of blob {id} is recorded, but the blob is not")),
        }
    }
    let check = async {
        let mut bytes = 0;
        for (id, size, sha256) in list {
            match objects.object_size(id).await? {
                None => problems.push(format!("blob {id}: its object is missing from the object store")),
                Some(found) if found != size => {
                    problems.push(format!("blob {id}: its object holds {found} bytes, expected {size}"))
                }
                Some(_) if deep => {
                    use sha2::{Digest, Sha256};
                    let mut hasher = Sha256::new();
                    let mut stream = objects.open_range(id, 0, size).await?;
                    while let Some(piece) = stream.next().await {
                        let piece = piece?;
                        bytes += piece.len() as u64;
                        hasher.update(&piece);
                    }
                    if <[u8; 32]>::from(hasher.finalize()) != sha256 {
                        problems.push(format!("blob {id}: its object's content does not match its sha256"));
                    }
                }
                Some(_) => {}
            }
        }
        Ok(bytes)
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt.block_on(check),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Unavailable(format!("starting a runtime: {e}").into()))?
            .block_on(check),
    }
}

/// The settings of the store the database records, with `credentials` or else those of the
/// environment (for commands run on a stopped server, and a server that keeps its content
/// in the file but has some in the store).
pub(crate) fn recorded_config(
    tx: &ReadTransaction,
    credentials: Option<(String, String)>,
) -> Result<Option<S3Config>> {
    let Some(rec) = recorded_store(tx)? else { return Ok(None) };
    let mut parts = rec.split(' ');
    let (Some(endpoint), Some(bucket), Some(region)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(access_key_id), Some(secret_access_key)) = credentials
        .map(|(id, secret)| (Some(id), Some(secret)))
        .unwrap_or_else(|| (var("DEPOT_S3_ACCESS_KEY_ID"), var("DEPOT_S3_SECRET_ACCESS_KEY")))
    else {
        return Ok(None);
    };
    Ok(Some(S3Config {
        endpoint: endpoint.into(),
        bucket: bucket.into(),
        region: region.into(),
        access_key_id,
        secret_access_key,
        redirect: false,
        inline_max: super::blobs::SMALL_MAX as u64,
        timeout: Duration::from_secs(30),
        orphan_age: Duration::from_secs(3600),
    }))
}

/// Deletes every object in the outbox that no download holds, then drops its entry.
async fn empty_outbox(store: &Store, objects: &Objects) -> Result<()> {
    let s = store.clone();
    let pending: Vec<(u64, String)> = tokio::task::spawn_blocking(move || -> Result<_> {
        let tx = s.read()?;
        let mut out = Vec::new();
        for entry in tx.open_table(OBJECT_OUTBOX)?.iter()? {
            let (k, v) = entry?;
            out.push((k.value(), String::from_utf8_lossy(v.value()).into_owned()));
        }
        Ok(out)
    })
    .await
    .map_err(|_| Error::Panicked)??;
    for (id, upload) in pending {
        if super::blobs::is_leased(store, id) {
            continue; // the last lease to go wakes us again
        }
        objects.delete(id, &upload).await?;
        write_async(store, false, move |tx| {
            tx.open_table(OBJECT_OUTBOX)?.remove(id)?;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Deletes objects under depot's prefix that no table knows and that are older than the
/// orphan age; returns how many.
///
/// The listing comes first and the snapshot after it: an object listed exists, so its
/// staging record (committed before the object was created) is in the snapshot, or the
/// record it moved to in the same transaction.
async fn sweep(store: &Store, objects: &Objects) -> Result<u64> {
    let prefix = Path::from(PREFIX.trim_end_matches('/'));
    let mut listed = Vec::new();
    let mut list = objects.s3.list(Some(&prefix));
    loop {
        match tokio::time::timeout(objects.cfg.timeout, list.next()).await {
            Ok(Some(Ok(meta))) => listed.push(meta),
            Ok(Some(Err(e))) => return Err(unavailable("listing objects", &e)),
            Ok(None) => break,
            Err(_) => return Err(Error::Unavailable("listing objects: timed out".into())),
        }
    }
    let now = crate::clock::now() as i64;
    let age = i64::try_from(objects.cfg.orphan_age.as_secs()).unwrap_or(i64::MAX);
    let s = store.clone();
    let orphans: Vec<u64> = tokio::task::spawn_blocking(move || -> Result<_> {
        let tx = s.read()?;
        let (known, staging, outbox) =
            (tx.open_table(OBJECTS)?, tx.open_table(OBJECT_STAGING)?, tx.open_table(OBJECT_OUTBOX)?);
        // A stray object of a blob still in the database is left alone: `blobs migrate` may
        // be writing that very key (its staging record younger than this listing).
        let blobs = tx.open_table(super::tables::BLOBS)?;
        let mut out = Vec::new();
        for meta in listed {
            let name = meta.location.filename().unwrap_or("");
            let Ok(id) = u64::from_str_radix(name, 16) else { continue };
            if now.saturating_sub(meta.last_modified.timestamp()) < age {
                continue;
            }
            if known.get(id)?.is_none()
                && staging.get(id)?.is_none()
                && outbox.get(id)?.is_none()
                && blobs.get(id)?.is_none()
            {
                out.push(id);
            }
        }
        Ok(out)
    })
    .await
    .map_err(|_| Error::Panicked)??;
    for &id in &orphans {
        objects.delete(id, "").await?;
    }
    // Multipart uploads no record knows: a staging record is committed before its upload is
    // created, so listing first and reading the tables after decides safely, whatever age.
    let uploads = list_uploads(objects).await?;
    let s = store.clone();
    let abandoned: Vec<(u64, String)> = tokio::task::spawn_blocking(move || -> Result<_> {
        let tx = s.read()?;
        let (staging, outbox) = (tx.open_table(OBJECT_STAGING)?, tx.open_table(OBJECT_OUTBOX)?);
        let mut out = Vec::new();
        for (id, upload) in uploads {
            if staging.get(id)?.is_none() && outbox.get(id)?.is_none() {
                out.push((id, upload));
            }
        }
        Ok(out)
    })
    .await
    .map_err(|_| Error::Panicked)??;
    for (id, upload) in &abandoned {
        let path = Objects::path(*id);
        objects.call("aborting a multipart upload", objects.s3.abort_multipart(&path, upload)).await?;
    }
    Ok((orphans.len() + abandoned.len()) as u64)
}

/// (scheme, host[:port]) of an endpoint URL.
fn url_parts(endpoint: &str) -> std::result::Result<(String, String), String> {
    let bad = || format!("--s3-endpoint {endpoint:?} is not an http:// or https:// URL");
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(bad)?;
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(format!("--s3-endpoint {endpoint:?}: give the scheme, host and port only"));
    }
    Ok((scheme.to_string(), host.to_string()))
}

/// AWS's URI encoding: unreserved characters stay, everything else is %XX.
const AWS_ENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, AWS_ENCODE).to_string()
}

/// A SigV4 presigned GET URL (query-string authentication) for `key`, path-style, signed for
/// the endpoint's host (the name clients will use), whose response carries `disposition`.
fn presign_get(cfg: &S3Config, key: &str, disposition: &str, ttl: Duration, now: u64) -> String {
    presign(cfg, Some(key), vec![("response-content-disposition", disposition.to_string())], ttl, now)
}

/// A SigV4 presigned GET URL for `key` (or the bucket itself) with the query `params`.
fn presign(
    cfg: &S3Config,
    key: Option<&str>,
    params: Vec<(&str, String)>,
    ttl: Duration,
    now: u64,
) -> String {
    use ring::hmac;
    use sha2::{Digest, Sha256};
    let (scheme, host) = url_parts(&cfg.endpoint).unwrap_or_default();
    let stamp: String = crate::clock::rfc3339(now).chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let date = &stamp[..8];
    let scope = format!("{date}/{}/s3/aws4_request", cfg.region);
    let mut uri = format!("/{}", enc(&cfg.bucket));
    if let Some(key) = key {
        uri = format!("{uri}/{}", key.split('/').map(enc).collect::<Vec<_>>().join("/"));
    }
    let mut query = vec![
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_string()),
        ("X-Amz-Credential", format!("{}/{scope}", cfg.access_key_id)),
        ("X-Amz-Date", stamp.clone()),
        ("X-Amz-Expires", ttl.as_secs().to_string()),
        ("X-Amz-SignedHeaders", "host".to_string()),
    ];
    query.extend(params);
    // Sorted by name, as the canonical request requires ('X' sorts before lower case).
    query.sort_by(|a, b| a.0.cmp(b.0));
    let query = query.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    let canonical = format!("GET\n{uri}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let to_sign =
        format!("AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let mac = |key: &[u8], data: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes());
    let k = mac(format!("AWS4{}", cfg.secret_access_key).as_bytes(), date);
    let k = mac(k.as_ref(), &cfg.region);
    let k = mac(k.as_ref(), "s3");
    let k = mac(k.as_ref(), "aws4_request");
    let signature = hex(mac(k.as_ref(), &to_sign).as_ref());
    format!("{scheme}://{host}{uri}?{query}&X-Amz-Signature={signature}")
}

/// Multipart uploads in progress under depot's prefix: (blob id, upload id). object_store
/// has no call for it, so it is a presigned GET of our own.
async fn list_uploads(objects: &Objects) -> Result<Vec<(u64, String)>> {
    let params = vec![("prefix", PREFIX.to_string()), ("uploads", String::new())];
    let url = presign(&objects.cfg, None, params, Duration::from_secs(60), crate::clock::now());
    let fetch = async {
        let resp = objects.http.get(url).send().await?.error_for_status()?;
        resp.text().await
    };
    let xml = match tokio::time::timeout(objects.cfg.timeout, fetch).await {
        Ok(Ok(xml)) => xml,
        Ok(Err(e)) => return Err(Error::Unavailable(format!("listing multipart uploads: {e}").into())),
        Err(_) => return Err(Error::Unavailable("listing multipart uploads: timed out".into())),
    };
    let mut out = Vec::new();
    for upload in xml.split("<Upload>").skip(1) {
        let field = |tag: &str| {
            let open = format!("<{tag}>");
            upload.split(&open).nth(1).and_then(|s| s.split(&format!("</{tag}>")).next()).map(str::to_string)
        };
        let (Some(key), Some(id)) = (field("Key"), field("UploadId")) else { continue };
        let Some(blob) = key.strip_prefix(PREFIX).and_then(|n| u64::from_str_radix(n, 16).ok()) else {
            continue;
        };
        out.push((blob, id));
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL's shape (path-style, AWS-encoded, parameters in canonical order, the
    /// disposition among the signed ones) and its determinism; that the signature itself is
    /// right is shown by Garage accepting it (`tests/objects.rs`, the redirect test).
    #[test]
    fn presigned_urls_are_stable_and_carry_the_disposition() {
        let cfg = S3Config {
            endpoint: "http://127.0.0.1:3900".into(),
            bucket: "depot".into(),
            region: "garage".into(),
            access_key_id: "GK1".into(),
            secret_access_key: "secret".into(),
            redirect: true,
            inline_max: 0,
            timeout: Duration::from_secs(1),
            orphan_age: Duration::from_secs(1),
        };
        let url = presign_get(
            &cfg,
            "depot/blobs/0000000000000001",
            "attachment; filename=\"a b.txt\"",
            PRESIGN_TTL,
            1_700_000_000,
        );
        assert!(url.starts_with("http://127.0.0.1:3900/depot/depot/blobs/0000000000000001?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=GK1%2F20231114%2Fgarage%2Fs3%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-Expires=300&"), "{url}");
        assert!(
            url.contains(
                "&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&X-Amz-Signature="
            ),
            "{url}"
        );
        assert_eq!(
            url,
            presign_get(
                &cfg,
                "depot/blobs/0000000000000001",
                "attachment; filename=\"a b.txt\"",
                PRESIGN_TTL,
                1_700_000_000
            )
        );
        assert!(url_parts("ftp://x").is_err() && url_parts("http://h:1/path").is_err());
    }
}
