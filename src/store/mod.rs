//! The store: every piece of state depot keeps, in one redb database file.
//!
//! Typed operations over owners, packages, versions, files and blobs. Reads open a read
//! transaction (a consistent snapshot) on the caller's thread; writes go through the single
//! writer thread (`writer.rs`), which groups them into commits. Every call here blocks, so
//! async callers run them under `spawn_blocking`; only [`Upload`] is async, because it is fed
//! from a socket.
//!
//! This module knows nothing of HTTP: it speaks in names, records and [`Error`]s. Whole-system
//! invariants (a version exists iff it has a file; a blob's `refs` equals the number of files
//! pointing at it; every chunk belongs to a blob or a staged upload) are in `docs/design.md`.

mod accounts;
mod blobs;
mod cache;
pub mod codec;
mod hooks;
mod lists;
mod maintenance;
mod migrate;
mod objects;
mod packages;
mod quotas;
mod recent;
pub mod records;
mod rules;
mod sessions;
mod summaries;
mod tables;
mod verify;
mod writer;

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod hooks_tests;
#[cfg(test)]
mod lease_tests;
#[cfg(test)]
mod recent_tests;
#[cfg(test)]
mod small_tests;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::names;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

pub use blobs::{Sealed, StagedReader, Upload, CHUNK_SIZE, SMALL_MAX};
pub use cache::{CacheStats, CachedFile};
pub use hooks::{now_ms, Action, DeliveryRec, EventRec, HookRec, OutboxRec, LOG_KEEP, MAX_HOOKS_PER_OWNER};
pub use maintenance::{BackedUp, Compacted, CompactionEstimate};
pub use migrate::{MigrateTo, Migrated};
pub use objects::{ObjectStats, ObjectStream, Objects, S3Config};
pub use packages::{
    latest_version, Added, FileReader, FileTarget, PackageSummary, PackageType, Page, Publisher,
    VersionSummary,
};
pub use quotas::OwnerUsage;
pub use records::{
    FileRec, OwnerKind, OwnerRec, PackageRec, QuotaRec, Role, RuleRec, SessionRec, TokenRec, UsageRec,
    VersionRec,
};
pub use verify::{Repaired, Report};
pub use writer::Stats as WriterStats;

use tables::*;

/// What a store operation could not find or would have duplicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Owner,
    Package,
    Version,
    File,
    Token,
    Member,
    Rule,
    Hook,
    Delivery,
}

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            What::Owner => "user or organization",
            What::Package => "package",
            What::Version => "version",
            What::File => "file",
            What::Token => "token",
            What::Member => "member",
            What::Rule => "cleanup rule",
            What::Hook => "webhook",
            What::Delivery => "delivery",
        })
    }
}

/// Why the store refused to add content: a domain outcome, not a failure. Nothing of the
/// refused write was stored. The same cases as the [`Error`] variants of those names, into
/// which it converts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A thing the write needs does not exist (the owner).
    NotFound(What),
    /// The name is taken (names compare case-insensitively where they fold case).
    Exists(What),
    /// The owner's storage or version quota would be exceeded; the reason names the limit.
    Quota(String),
    /// The received content does not match the checksum the client sent.
    ChecksumMismatch,
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        match r {
            Refusal::NotFound(w) => Error::NotFound(w),
            Refusal::Exists(w) => Error::Exists(w),
            Refusal::Quota(why) => Error::Quota(why),
            Refusal::ChecksumMismatch => Error::ChecksumMismatch,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Error::from(self.clone()).fmt(f)
    }
}

/// Why a store operation failed.
///
/// Cloned once per job of a failed batch (the writer answers each with the batch's error), so
/// the causes below the domain are shared behind an `Arc` rather than flattened to text:
/// [`std::error::Error::source`] reaches the redb, I/O or decoding error itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The named thing does not exist.
    NotFound(What),
    /// The named thing exists already (names compare case-insensitively).
    Exists(What),
    /// The operation would break a rule of the data, e.g. deleting a user who owns packages.
    Refused(String),
    /// The received content does not match the checksum the client sent.
    ChecksumMismatch,
    /// The content is larger than the configured limit.
    TooLarge { limit: u64 },
    /// The owner's storage or version quota would be exceeded; nothing was stored.
    Quota(String),
    /// The file system is full; nothing was stored.
    DiskFull,
    /// A stored record or blob is damaged.
    Corrupt(Damage),
    /// The database file is locked by another process.
    AlreadyOpen,
    /// The database was written by a newer depot, or is not a depot database.
    Format(String),
    /// Reading or writing a file failed; for the database file, redb refuses further writes
    /// until it is reopened.
    Io(Cause),
    /// redb failed otherwise.
    Storage(Cause),
    /// The writer has stopped (the server is shutting down).
    Closed,
    /// There is no database file and the caller asked not to create one.
    NoDatabase,
    /// The writer stopped on a fault and takes no more writes; the reason says why.
    Stopped(Arc<str>),
    /// A write job panicked; nothing of its batch was stored (the writer goes on).
    Panicked,
    /// The object store holding file content did not answer, or failed; the reason says
    /// which call. Nothing of an upload that met it was stored.
    Unavailable(Arc<str>),
}

impl Error {
    /// Whether this is a failure of the storage itself rather than a domain outcome.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            Error::Storage(_)
                | Error::Io(_)
                | Error::DiskFull
                | Error::Corrupt(_)
                | Error::Closed
                | Error::Stopped(_)
                | Error::Panicked
        )
    }

    pub(crate) fn storage(e: impl Into<redb::Error>) -> Error {
        let e: redb::Error = e.into();
        match &e {
            redb::Error::DatabaseAlreadyOpen => Error::AlreadyOpen,
            redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => Error::DiskFull,
            redb::Error::Corrupted(_) => Error::Corrupt(Damage::Storage(Arc::new(e))),
            redb::Error::Io(_) | redb::Error::PreviousIo => Error::Io(Cause::new(e)),
            _ => Error::Storage(Cause::new(e)),
        }
    }

    /// [`Error::Corrupt`] with what a check of ours found wrong.
    pub(crate) fn corrupt(what: impl Into<String>) -> Error {
        Error::Corrupt(Damage::Found(what.into()))
    }

    /// [`Error::Io`] for `e` on the file at `path` (or what else was being done).
    pub(crate) fn io_at(
        path: impl std::fmt::Display,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Io(Cause::new(e).at(path))
    }
}

/// The error below a storage failure (redb's, the file system's), typed and shared.
#[derive(Debug, Clone)]
pub struct Cause {
    /// Where it happened, when the error alone does not say (a path): shown before it.
    at: Option<Arc<str>>,
    error: Arc<dyn std::error::Error + Send + Sync>,
}

impl Cause {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause { at: None, error: Arc::new(e) }
    }

    /// The same cause, said to have happened at `place` (which goes before any earlier one).
    pub(crate) fn at(self, place: impl std::fmt::Display) -> Cause {
        let at = match self.at {
            Some(inner) => format!("{place}: {inner}"),
            None => place.to_string(),
        };
        Cause { at: Some(at.into()), ..self }
    }

    /// The error itself.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

/// Causes are equal when they are the same failure (clones of one error) at the same place.
impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        Arc::ptr_eq(&self.error, &other.error) && self.at == other.at
    }
}

impl Eq for Cause {}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Some(at) => write!(f, "{at}: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// What is damaged in a stored record or blob, and what found it.
#[derive(Debug, Clone)]
pub enum Damage {
    /// A check of ours: a record points at one that is missing, a chunk has the wrong size, …
    Found(String),
    /// A record does not decode.
    Record(codec::Error),
    /// redb found its own structures damaged.
    Storage(Arc<redb::Error>),
}

impl PartialEq for Damage {
    fn eq(&self, other: &Damage) -> bool {
        match (self, other) {
            (Damage::Found(a), Damage::Found(b)) => a == b,
            (Damage::Record(a), Damage::Record(b)) => a == b,
            (Damage::Storage(a), Damage::Storage(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Damage {}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Found(what) => f.write_str(what),
            Damage::Record(e) => write!(f, "{e}"),
            // redb's own message, without its "DB corrupted" prefix: ours says so already.
            Damage::Storage(e) => match &**e {
                redb::Error::Corrupted(msg) => f.write_str(msg),
                e => write!(f, "{e}"),
            },
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotFound(w) => write!(f, "no such {w}"),
            Error::Exists(w) => write!(f, "{w} already exists"),
            Error::Refused(why) => f.write_str(why),
            Error::ChecksumMismatch => f.write_str("content does not match the checksum sent"),
            Error::TooLarge { limit } => {
                write!(f, "file is larger than the limit of {limit} bytes")
            }
            Error::Quota(why) => f.write_str(why),
            Error::DiskFull => f.write_str("the disk is full"),
            Error::Corrupt(what) => write!(f, "database damaged: {what}"),
            Error::AlreadyOpen => f.write_str("the database is in use by another process"),
            Error::Format(why) => f.write_str(why),
            Error::Io(e) => write!(f, "database file I/O failed: {e}"),
            Error::Storage(e) => write!(f, "storage error: {e}"),
            Error::Closed => f.write_str("the store is shutting down"),
            Error::NoDatabase => f.write_str("no database file there"),
            Error::Stopped(why) => f.write_str(why),
            Error::Panicked => f.write_str("a write failed on an internal error; nothing of it was stored"),
            Error::Unavailable(why) => write!(f, "the object store is unavailable: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(c) | Error::Storage(c) => Some(c.error()),
            Error::Corrupt(Damage::Record(e)) => Some(e),
            Error::Corrupt(Damage::Storage(e)) => Some(&**e),
            _ => None,
        }
    }
}

impl From<codec::Error> for Error {
    fn from(e: codec::Error) -> Error {
        Error::Corrupt(Damage::Record(e))
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error { Error::storage(e) }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError
);

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Tunables of the store, set from the server configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// redb's page cache, in bytes. Bounds the memory used for reads.
    pub cache_bytes: usize,
    /// The small-file cache (whole files of at most 64 KiB, answered without a read
    /// transaction), in bytes of content plus a fixed cost per file.
    pub file_cache_bytes: u64,
    /// How long a write batch may have run and still take the jobs that arrived meanwhile
    /// into another round (`writer::ROUNDS`): what the first jobs of a batch wait for later
    /// ones at most, beyond the last round's own time. Zero takes only the jobs waiting when
    /// the batch began.
    pub batch_join: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        // About a commit's own cost: long enough for the clients the last commit answered to
        // come back (`docs/design.md`, "Writes"). Unit tests join without a limit, so that
        // a job held in a batch takes what they queue meanwhile whatever the machine's speed.
        let batch_join =
            if cfg!(test) { std::time::Duration::MAX } else { std::time::Duration::from_millis(2) };
        // The caches: large enough to keep metadata and hot small files in memory, small
        // enough that the whole server stays well under 128 MiB.
        Options { cache_bytes: 16 << 20, file_cache_bytes: cache::DEFAULT_WEIGHT, batch_join }
    }
}

/// A handle to the open database; cheap to clone. The database closes when the last clone
/// (and the writer thread) is gone; [`Store::close`] waits for that.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Shared by readers (who take the lock only to begin a transaction) and the writer; held
    /// exclusively only by the writer while it compacts.
    db: Arc<RwLock<Database>>,
    queue: writer::Queue,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Permits for chunk data on its way to the writer, one per KiB (see `QUEUE_DATA_BYTES`).
    data_budget: Arc<tokio::sync::Semaphore>,
    /// Set by the writer when a commit failed on I/O: redb then refuses every write until
    /// the database is reopened, so the server reports itself unhealthy.
    broken: Arc<std::sync::atomic::AtomicBool>,
    /// Set by the writer when it stopped on a fault (see `writer.rs`).
    stopped: Arc<writer::Stopped>,
    /// Owners and small files, invalidated by the writer after every durable commit.
    cache: Arc<cache::Cache>,
    /// Commits, jobs and time of the writer, for metrics.
    writer_stats: Arc<writer::Stats>,
    /// Next id for a blob; ids are never reused, so a staged upload cannot collide.
    next_blob: Arc<AtomicU64>,
    /// The newest part of the sha256 index, which the writer keeps in memory (`recent.rs`).
    recent: Arc<recent::Recent>,
    /// The blobs downloads are reading (`blobs.rs`, invariants 4-7). In memory only: a
    /// restart forgets them, and `prepare` reclaims the chunks kept for them (staged).
    leases: Arc<blobs::Leases>,
    /// The database file (none for a test backend), for its size and for backups.
    path: Option<std::path::PathBuf>,
    /// The object store holding large file content, once attached (`serve --blob-store s3`).
    objects: std::sync::OnceLock<Arc<Objects>>,
    /// Notified after commits that may have queued publish events (`hooks.rs`).
    outbox: Arc<tokio::sync::Notify>,
}

/// Whether [`Store::open`] may create a missing database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create it (mode 0600) when it does not exist: `serve` and `user add`.
    IfMissing,
    /// Refuse a missing file with [`Error::NoDatabase`]: every command that only reads or
    /// changes existing data, so a typo in `--db` never leaves an empty database behind.
    Never,
}

/// What [`Store::open`] found.
pub struct Opened {
    pub store: Store,
    /// True when this call created the database file.
    pub created: bool,
    /// True when the database holds no user yet (a new database).
    pub is_empty: bool,
    /// Staged uploads left by a crash that were reclaimed.
    pub reclaimed: u64,
}

impl Store {
    /// Opens or creates the database at `path`, checks its layout version and reclaims any
    /// chunks of uploads that never finished.
    ///
    /// A file this creates is readable by its owner only (0600, whatever the umask): it holds
    /// every private package, password hash and token hash. If opening fails after this call
    /// created the file, the file is removed again, so a failed start leaves nothing behind.
    ///
    /// # Errors
    /// [`Error::NoDatabase`] when the file is missing and `create` is [`Create::Never`],
    /// [`Error::AlreadyOpen`] when another process holds the file, [`Error::Format`] when it
    /// is not a depot database of a known layout, storage errors otherwise.
    pub fn open(path: &Path, options: &Options, create: Create) -> Result<Opened> {
        let created = match create {
            Create::IfMissing => create_private(path).map_err(|e| Error::storage(redb::Error::Io(e)))?,
            Create::Never if !path.exists() => return Err(Error::NoDatabase),
            Create::Never => false,
        };
        let opened = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(path)
            .map_err(Error::storage)
            .and_then(|db| {
                // A second handle on the same file, for early writeback (see `writer::Writeback`).
                let early = std::fs::File::open(path).ok();
                Self::start(db, early, Some(path.to_path_buf()), options)
            });
        match opened {
            Ok(mut o) => {
                o.created = created;
                Ok(o)
            }
            Err(e) => {
                if created {
                    let _ = std::fs::remove_file(path);
                }
                Err(e)
            }
        }
    }

    /// Opens a database on any redb storage backend; tests use it to inject I/O failures.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_backend(backend: impl redb::StorageBackend, options: &Options) -> Result<Opened> {
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create_with_backend(backend)
            .map_err(Error::storage)?;
        Self::start(db, None, None, options)
    }

    fn start(
        db: Database,
        early: Option<std::fs::File>,
        path: Option<std::path::PathBuf>,
        options: &Options,
    ) -> Result<Opened> {
        let (reclaimed, next_blob, is_empty) = prepare(&db)?;
        let db = Arc::new(RwLock::new(db));
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::new(writer::Stopped::default());
        let cache = Arc::new(cache::Cache::new(options.file_cache_bytes));
        let writer_stats = Arc::new(writer::Stats::default());
        let (queue, handle) = writer::spawn(
            db.clone(),
            broken.clone(),
            stopped.clone(),
            cache.clone(),
            writer_stats.clone(),
            early,
            options.batch_join,
        );
        let store = Store {
            inner: Arc::new(Inner {
                db,
                queue,
                writer: Mutex::new(Some(handle)),
                data_budget: Arc::new(tokio::sync::Semaphore::new(writer::QUEUE_DATA_BYTES >> 10)),
                next_blob: Arc::new(AtomicU64::new(next_blob)),
                recent: Arc::new(recent::Recent::new(writer_stats.clone())),
                leases: Arc::default(),
                broken,
                stopped,
                cache,
                writer_stats,
                path,
                objects: std::sync::OnceLock::new(),
                outbox: Arc::default(),
            }),
        };
        Ok(Opened { store, created: false, is_empty, reclaimed })
    }

    /// Waits for the writer to finish its queue when this is the last handle; the database
    /// file is closed cleanly when this returns.
    pub fn close(self) {
        if Arc::strong_count(&self.inner) > 1 {
            tracing::warn!("store still in use at close; the database closes when its last user ends");
        }
        if let Ok(inner) = Arc::try_unwrap(self.inner) {
            let Inner { db, queue, writer, .. } = inner;
            drop(queue);
            if let Some(h) = writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = h.join();
            }
            drop(db);
        }
    }

    /// False once a write failed on I/O (a full disk, a failing device): writes keep failing
    /// until depot is restarted after the cause is fixed. Reads still work.
    pub fn is_writable(&self) -> bool {
        !self.inner.broken.load(Ordering::Relaxed)
    }

    /// [`Error::Stopped`] once the writer stopped on a fault: every write fails with it until
    /// depot is restarted. Reads still work.
    pub fn writer_stopped(&self) -> Option<Error> {
        self.inner.stopped.error()
    }

    /// File system space the database file takes, in bytes, for metrics and compaction.
    /// Blocks in use, not the file's length: redb grows the file by sparse regions (after
    /// a compaction, the next write doubles the length), which take no space.
    pub fn file_bytes(&self, path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).map(|m| m.blocks() * 512).unwrap_or(0)
    }

    /// The owner named `name` if cached (`Some(None)`: cached as absent). Never blocks.
    pub fn cached_owner(&self, name: &str) -> Option<Option<OwnerRec>> {
        self.inner.cache.owner(&names::key(name))
    }

    /// The whole content of a small file if cached. Never blocks.
    pub fn cached_file(&self, t: &FileTarget) -> Option<CachedFile> {
        self.inner.cache.file(&cache_key(t))
    }

    /// The writer's commits so far in this process (for metrics).
    pub fn writer_stats(&self) -> &WriterStats {
        &self.inner.writer_stats
    }

    /// How often the small-file cache answered, for metrics.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Offers the whole content of a file read through `reader` to the cache.
    pub fn remember(&self, reader: &FileReader, t: &FileTarget, data: bytes::Bytes) {
        if data.len() as u64 == reader.file.size && reader.file.size <= cache::MAX_FILE_BYTES {
            let file = CachedFile { rec: reader.file.clone(), data };
            self.inner.cache.put_file(reader.generation, cache_key(t), file);
        }
    }

    fn read(&self) -> Result<redb::ReadTransaction> {
        Ok(self.inner.db.read().unwrap_or_else(|p| p.into_inner()).begin_read()?)
    }

    /// Runs `f` in the writer's next transaction and waits for the commit (blocking).
    /// `durable`: the reply comes only after the commit is on disk.
    fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let (job, rx) = writer::Call::job(true, 0, f);
        self.inner.queue.blocking_send(job).map_err(|_| self.closed())?;
        rx.blocking_recv().map_err(|_| self.closed())?
    }

    /// Why a job went unanswered: the writer stopped on a fault, or the store is closing.
    fn closed(&self) -> Error {
        self.writer_stopped().unwrap_or(Error::Closed)
    }

    /// The attached object store, if any.
    pub(crate) fn objects(&self) -> Option<Arc<Objects>> {
        self.inner.objects.get().cloned()
    }

    /// Puts new large file content in the object store from now on (`serve --blob-store
    /// s3`): records the store in the database, moves the objects of uploads a crash cut
    /// short to the outbox, and starts the worker that deletes unreferenced objects and
    /// sweeps orphans. Must run inside the runtime, before the first upload. Returns how
    /// many cut-short uploads it found.
    ///
    /// # Errors
    /// [`Error::Refused`] when the database's content is in another store; storage errors.
    pub async fn attach_objects(&self, objects: Objects) -> Result<u64> {
        let objects = Arc::new(objects);
        let cfg = objects.config().clone();
        let recovered = objects::write_async(self, true, move |tx| {
            objects::record_store(tx, &cfg)?;
            objects::recover(tx)
        })
        .await?;
        if self.inner.objects.set(objects.clone()).is_err() {
            return Err(Error::Refused("an object store is attached already".into()));
        }
        objects.spawn_worker(self);
        Ok(recovered)
    }

    /// For a command on a stopped server (`verify`): reaches the object store the database
    /// records, with the credentials of the environment, without the worker. Returns false
    /// when the database records none or the credentials are not set.
    ///
    /// # Errors
    /// Storage errors.
    pub fn attach_recorded_objects(&self) -> Result<bool> {
        let Some(cfg) = objects::recorded_config(&self.read()?, None)? else { return Ok(false) };
        let objects = Objects::new(cfg).map_err(|e| Error::Unavailable(e.into()))?;
        objects.set_uploads(false);
        Ok(self.inner.objects.set(Arc::new(objects)).is_ok())
    }

    /// For a server keeping new content in the file (`--blob-store local`) on a database with
    /// content in the object store (it was migrated, or is being migrated back): attaches the
    /// recorded store for that content and the deletions it owes, with `credentials` or those
    /// of the environment. Returns the store ("endpoint bucket region"), `None` when the
    /// database has nothing there.
    ///
    /// # Errors
    /// [`Error::Refused`] when the credentials are not set; storage errors.
    pub async fn attach_recorded_objects_for_reads(
        &self,
        credentials: Option<(String, String)>,
    ) -> Result<Option<String>> {
        let cfg = {
            let tx = self.read()?;
            if !objects::in_use(&tx)? {
                return Ok(None);
            }
            let recorded = objects::recorded_store(&tx)?.unwrap_or_default();
            objects::recorded_config(&tx, credentials)?.ok_or_else(|| {
                Error::Refused(format!(
                    "content of some files is in the object store \"{recorded}\" and cannot be read \
                     without its credentials (DEPOT_S3_ACCESS_KEY_ID, DEPOT_S3_SECRET_ACCESS_KEY)"
                ))
            })?
        };
        let objects = Objects::new(cfg).map_err(Error::Refused)?;
        objects.set_uploads(false);
        let described = objects.describe();
        self.attach_objects(objects).await?;
        Ok(Some(described))
    }

    /// Calls to the object store so far, when one is attached (for metrics).
    pub fn object_stats(&self) -> Option<&ObjectStats> {
        self.inner.objects.get().map(|o| &o.stats)
    }

    /// The object store the database records its content in ("endpoint bucket region").
    ///
    /// # Errors
    /// Storage errors.
    pub fn recorded_object_store(&self) -> Result<Option<String>> {
        objects::recorded_store(&self.read()?)
    }

    fn next_blob_id(&self) -> u64 {
        self.inner.next_blob.fetch_add(1, Ordering::Relaxed)
    }
}

/// Creates an empty file at `path` readable and writable by its owner only, unless a file is
/// there already. Returns whether it created one.
///
/// The mode is set explicitly after creation too: `create_new` applies the umask, and a
/// umask that takes the owner's bits away would leave a file redb cannot open.
pub(crate) fn create_private(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates the tables of a new database or checks the layout of an existing one, and reclaims
/// staged chunks: those of uploads that never finished, and those of deleted blobs kept for
/// downloads that the restart ended (`blobs.rs`, invariant 7). Returns (staged uploads reclaimed, next blob id, whether there is no owner).
fn prepare(db: &Database) -> Result<(u64, u64, bool)> {
    let tx = db.begin_write()?;
    let (reclaimed, next_blob, is_empty);
    {
        let mut meta = tx.open_table(META)?;
        let layout = meta.get("format")?.map(|v| v.value().to_vec());
        match layout {
            None => {
                let owners = tx.open_table(OWNERS)?;
                if !owners.is_empty()? {
                    return Err(Error::Format("the database has no depot layout version".into()));
                }
                meta.insert("format", LAYOUT.to_le_bytes().as_slice())?;
            }
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_slice())
                    .map(u32::from_le_bytes)
                    .map_err(|_| Error::Format("unreadable layout version".into()))?;
                match found {
                    LAYOUT => {}
                    1..LAYOUT => {
                        drop(meta);
                        upgrade(&tx, found)?;
                        meta = tx.open_table(META)?;
                        meta.insert("format", LAYOUT.to_le_bytes().as_slice())?;
                    }
                    _ => {
                        return Err(Error::Format(format!(
                            "database layout {found} is not supported by this depot (it knows {LAYOUT}); \
                             use a matching release"
                        )))
                    }
                }
            }
        }
        // Open every table so readers never meet a missing one.
        tx.open_table(MEMBERS)?;
        tx.open_table(TOKENS)?;
        tx.open_table(PACKAGES)?;
        tx.open_table(VERSIONS)?;
        tx.open_table(FILES)?;
        tx.open_table(BLOB_BY_SHA)?;
        tx.open_table(USAGE)?;
        tx.open_table(QUOTAS)?;
        tx.open_table(OWNER_IDS)?;
        tx.open_table(LISTS)?;
        tx.open_table(LIST_BUCKETS)?;
        tx.open_table(LIST_HEADS)?;
        tx.open_table(tables::SESSIONS)?;
        tx.open_table(RULES)?;
        tx.open_table(FILES_BY_BLOB)?;
        tx.open_table(HOOKS)?;
        tx.open_table(OUTBOX)?;
        tx.open_table(DELIVERIES)?;
        is_empty = tx.open_table(OWNERS)?.is_empty()?;
        reclaimed = blobs::reclaim_staged(&tx)?;
        let last_blob = tx.open_table(BLOBS)?.last()?.map(|(k, _)| k.value()).unwrap_or(0);
        let last_chunk = tx.open_table(CHUNKS)?.last()?.map(|(k, _)| k.value().0).unwrap_or(0);
        // Object ids too: one staged or awaiting deletion must never be given out again.
        let last_object = objects::prepare(&tx)?;
        next_blob = last_blob.max(last_chunk).max(last_object) + 1;
    }
    tx.commit()?;
    Ok((reclaimed, next_blob, is_empty))
}

/// Brings a database of an older layout to this one, in the opening transaction: each step
/// is small and separate, so a failure leaves the file as it was.
fn upgrade(tx: &WriteTransaction, from: u32) -> Result<()> {
    if from < 2 {
        layout_1_to_2(tx)?;
    }
    if from < 3 {
        layout_2_to_3(tx)?;
    }
    if from < 4 {
        layout_3_to_4(tx)?;
    }
    if from < 5 {
        layout_4_to_5(tx)?;
    }
    if from < 6 {
        layout_5_to_6(tx)?;
    }
    Ok(())
}

/// Layout 5 indexed every blob in `BLOB_BY_SHA`: put the watermark of the index past them all
/// (`recent.rs`).
fn layout_5_to_6(tx: &WriteTransaction) -> Result<()> {
    let upto = recent::set_watermark_past_all(tx)?;
    tracing::info!(upto, "database layout 5 upgraded to 6 (the newest sha256 index entries kept in memory)");
    Ok(())
}

/// Layout 4's lists counted items per bucket only, so finding a page far into a long list
/// added up every bucket before it: count the spans of buckets once (`lists.rs`).
fn layout_4_to_5(tx: &WriteTransaction) -> Result<()> {
    let spans = lists::count_spans(tx)?;
    tracing::info!(spans, "database layout 4 upgraded to 5 (list pages found through spans of buckets)");
    Ok(())
}

/// Layout 3 had no index of files by content: fill it from the file records once. The
/// object tables and the rules are new and simply start empty (created with the others).
fn layout_3_to_4(tx: &WriteTransaction) -> Result<()> {
    let files = packages::index_all_files(tx)?;
    tracing::info!(files, "database layout 3 upgraded to 4 (object store, files by checksum, cleanup rules)");
    Ok(())
}

/// Layout 1 had no usage table: count it once.
fn layout_1_to_2(tx: &WriteTransaction) -> Result<()> {
    quotas::recompute(tx)?;
    tracing::info!("database layout 1 upgraded to 2 (usage per owner)");
    Ok(())
}

/// Layout 2 had no ids, package summaries or lists: derive them from the records once. Its
/// blob records (format 1, all content in chunks) are read as they are and not rewritten.
fn layout_2_to_3(tx: &WriteTransaction) -> Result<()> {
    summaries::upgrade_to_3(tx)?;
    tracing::info!("database layout 2 upgraded to 3 (ids, package summaries, paged lists)");
    Ok(())
}

/// The next id from the store's counter (owners, versions and files share it; never reused).
pub(crate) fn next_id(tx: &WriteTransaction) -> Result<u64> {
    let mut meta = tx.open_table(META)?;
    let id = match meta.get(NEXT_ID)? {
        Some(v) => <[u8; 8]>::try_from(v.value())
            .map(u64::from_le_bytes)
            .map_err(|_| Error::corrupt("the id counter is not 8 bytes"))?,
        None => 1,
    };
    meta.insert(NEXT_ID, (id + 1).to_le_bytes().as_slice())?;
    Ok(id)
}

fn cache_key(t: &FileTarget) -> cache::FileKey {
    let (o, p, v, f) = t.keys();
    cache::file_key(t.kind, [&o, &p, &v, &f])
}

/// Reads and decodes one record, `None` when the key is absent.
fn get_rec<'a, K, T>(
    table: &impl ReadableTable<K, &'static [u8]>,
    key: impl std::borrow::Borrow<K::SelfType<'a>>,
) -> Result<Option<T>>
where
    K: redb::Key + 'static,
    T: records::Record,
{
    match table.get(key)? {
        Some(v) => Ok(Some(codec::decode(v.value())?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn eio() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::EIO)
    }

    /// Causes reach `source()` as the errors they are, clones share them, and the messages
    /// read as they did when causes were text.
    #[test]
    fn storage_errors_keep_their_causes_typed_and_shared() {
        let io = Error::storage(redb::Error::Io(eio()));
        assert_eq!(io.to_string(), format!("database file I/O failed: {}", redb::Error::Io(eio())));
        let cause = io.source().and_then(|s| s.downcast_ref::<redb::Error>()).expect("redb's error");
        assert!(matches!(cause, redb::Error::Io(e) if e.raw_os_error() == Some(libc::EIO)), "{cause:?}");
        let copy = io.clone();
        assert_eq!(copy, io, "a clone is the same failure");
        assert!(std::ptr::addr_eq(copy.source().unwrap(), io.source().unwrap()), "and shares its cause");
        assert_ne!(Error::storage(redb::Error::Io(eio())), io, "another failure is not equal");

        let storage = Error::storage(redb::Error::TransactionInProgress);
        assert_eq!(storage.to_string(), format!("storage error: {}", redb::Error::TransactionInProgress));
        assert!(storage.source().unwrap().downcast_ref::<redb::Error>().is_some());

        let damaged = Error::storage(redb::StorageError::Corrupted("page 7 is torn".into()));
        assert_eq!(damaged.to_string(), "database damaged: page 7 is torn");
        assert!(damaged.source().unwrap().downcast_ref::<redb::Error>().is_some());

        let undecodable: Error = codec::decode::<records::UsageRec>(&[99]).unwrap_err().into();
        assert_eq!(undecodable.to_string(), "database damaged: record format 99 is not known to this build");
        let cause = undecodable.source().and_then(|s| s.downcast_ref::<codec::Error>());
        assert_eq!(cause, Some(&codec::Error::UnknownFormat(99)));

        let ours = Error::corrupt("blob 7 lacks chunk 0");
        assert_eq!(ours.to_string(), "database damaged: blob 7 lacks chunk 0");
        assert!(ours.source().is_none(), "a check of ours has no cause below it");

        let at = Error::io_at("/b/x.redb", eio());
        assert_eq!(at.to_string(), format!("database file I/O failed: /b/x.redb: {}", eio()));
        let cause = at.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("the I/O error");
        assert_eq!(cause.raw_os_error(), Some(libc::EIO));
        let Error::Io(c) = at else { unreachable!() };
        assert_eq!(
            Error::Io(c.at("/tmp")).to_string(),
            format!("database file I/O failed: /tmp: /b/x.redb: {}", eio())
        );
    }
}
