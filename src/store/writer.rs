//! The single writer: one thread that owns every redb write transaction and commits in groups.
//!
//! redb allows one write transaction at a time, and a durable commit costs an fsync. Callers
//! therefore never open a write transaction themselves: they send a [`Job`] down a bounded
//! channel. The writer takes every job already waiting (up to [`MAX_BATCH_BYTES`]; a job may
//! take the ones queued right behind it into itself, [`Job::absorb`]), runs them in order in
//! one transaction, then the jobs that arrived while they ran (up to [`ROUNDS`] rounds, while
//! the batch is young: `Options::batch_join`), and commits once — durably if any job needs
//! it, otherwise without fsync — then tells each job the outcome. So 32 concurrent small uploads share one fsync instead of queueing 32, and no
//! transaction is ever held open while a socket is read: jobs carry their data with them.
//!
//! Invariants:
//! 1. A job that returns `Ok` from [`Job::run`] has applied all of its changes, or (when its
//!    domain outcome is a refusal) none that would be visible as a partial result; a merged
//!    job ([`Job::absorb`]) holds this for each of its parts.
//! 2. A job that fails with a storage error fails the whole batch; the transaction is dropped
//!    uncommitted and every job in it is told so.
//! 3. A job's reply is sent only after the commit that holds it has returned.
//! 4. The read cache's generation is bumped after a commit that may change what the cache
//!    holds and before its replies ([`Job::changes_cached`]: chunk jobs touch staged data
//!    only, and a new file adds records no reader can have cached).
//! 5. A job that needs the database to itself ([`Job::alone`], compaction) runs between
//!    batches with no transaction open, taking the database's lock exclusively.
//!
//! Fault boundaries: a job that panics fails its batch like a storage error (the transaction
//! is aborted, every job of the batch is told, see [`commit`]) and the writer goes on with a
//! fresh transaction. A panic anywhere else (compaction, the writer's own bookkeeping) stops
//! the writer for good: it is logged once at ERROR, [`Stopped`] says why (`/healthz` answers
//! 503 with it) and every job sent afterwards fails with [`Error::Stopped`] instead of
//! waiting forever or vanishing.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::cache::Cache;
use super::Error;

/// Most job bytes (chunk data) one transaction takes, bounding the dirty pages held in memory.
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// Jobs waiting for the writer. Large enough that many concurrent small uploads can join one
/// commit; the data they carry is bounded separately by [`QUEUE_DATA_BYTES`].
pub const QUEUE_JOBS: usize = 1024;
/// Chunk data queued for the writer at most, in bytes: the back-pressure on uploads that
/// keeps memory flat whatever the number and size of uploads.
pub const QUEUE_DATA_BYTES: usize = 8 << 20;

/// One unit of work for the writer thread.
pub trait Job: Send + std::any::Any {
    /// Applies the job inside `tx`. `Err` is a storage failure that aborts the batch.
    fn run(&mut self, tx: &WriteTransaction) -> Result<(), Error>;
    /// Whether the commit holding this job must be durable before `complete` is called.
    fn durable(&self) -> bool;
    /// Whether committing this job may change what the read cache holds (owners, tokens,
    /// memberships, existing files: see `cache.rs`); then the cache is emptied before any
    /// reply of its commit. Only a job that adds records no reader can have cached may say
    /// no: the cache holds no file that is absent, so a new file changes nothing in it.
    fn changes_cached(&self) -> bool {
        self.durable()
    }
    /// Bytes of data carried, for batch sizing.
    fn weight(&self) -> usize {
        0
    }
    /// The writes the job carries, for the metrics: more than one once jobs merged.
    fn writes(&self) -> usize {
        1
    }
    /// Takes `next`, the job queued right behind this one in its batch, into this job when
    /// both are of a kind that runs better as one (consecutive uploads share their tables:
    /// `packages::AddFiles`); gives it back otherwise. A merged job runs, commits and fails
    /// as its parts would have in that batch. Called only before this job ran (the writer
    /// never merges a later round's job into an earlier round's).
    fn absorb(&mut self, next: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        Err(next)
    }
    /// Called once after the batch's commit returned (`Ok`) or the batch was dropped (`Err`).
    fn complete(self: Box<Self>, committed: Result<(), Error>);
    /// Whether the job needs the database to itself; then [`Job::run_alone`] is called
    /// instead of [`Job::run`], between batches (no transaction open), and `complete` gets
    /// its result. It takes the database's lock exclusively as briefly as it can: readers
    /// wait while it holds it.
    fn alone(&self) -> bool {
        false
    }
    fn run_alone(&mut self, _db: &RwLock<Database>) -> Result<(), Error> {
        Ok(())
    }
}

pub type Queue = mpsc::Sender<Box<dyn Job>>;

/// What `/healthz` and every write say once the writer stopped; the panic's own message
/// (which may name internals) goes to the log only.
const STOPPED: &str = "the database writer stopped after an internal error (a panic, logged by the \
                       server); writes fail until depot is restarted";

/// What the writer did since the store opened, for `/metrics`: how many jobs each commit
/// carried (group commit at work) and how long the writer was busy with them.
#[derive(Debug, Default)]
pub struct Stats {
    /// Batches committed with fsync.
    pub durable_commits: AtomicU64,
    /// Batches committed without (the chunks of large uploads between their durable ends).
    pub other_commits: AtomicU64,
    /// Writes in committed batches (a job's [`Job::writes`]: merged uploads count one each).
    pub jobs: AtomicU64,
    /// Jobs taken into the job queued ahead of them ([`Job::absorb`]), in committed batches.
    pub merged: AtomicU64,
    /// Time from opening each committed batch's transaction to the end of its commit, in
    /// microseconds.
    pub micros: AtomicU64,
    /// Batches that failed (rolled back). Counted before their jobs are told, and before the
    /// next batch begins: state a job keeps in memory beside the database (`recent.rs`) is
    /// stale once it changes.
    pub failed_batches: AtomicU64,
}

/// Why the writer stopped taking jobs, once it has (set once, never cleared: only a restart
/// brings writes back).
#[derive(Debug, Default)]
pub struct Stopped(OnceLock<Arc<str>>);

impl Stopped {
    /// The error every write gets once the writer stopped; `None` while it runs.
    pub fn error(&self) -> Option<Error> {
        self.0.get().map(|why| Error::Stopped(why.clone()))
    }

    /// Records that the writer stops on the panic `payload` (logging it the first time) and
    /// returns the error to answer jobs with.
    fn stop(&self, payload: &(dyn std::any::Any + Send)) -> Error {
        let mut first = false;
        let why = self.0.get_or_init(|| {
            first = true;
            STOPPED.into()
        });
        if first {
            tracing::error!(panic = %panic_message(payload), "{why}");
        }
        Error::Stopped(why.clone())
    }
}

/// Starts the writer thread; it ends when every sender is dropped.
pub fn spawn(
    db: Arc<RwLock<Database>>,
    broken: Arc<AtomicBool>,
    stopped: Arc<Stopped>,
    cache: Arc<Cache>,
    stats: Arc<Stats>,
    early: Option<std::fs::File>,
    join: std::time::Duration,
) -> (Queue, std::thread::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(QUEUE_JOBS);
    let writeback = early.map(Writeback::spawn);
    // The writer logs where its opener logs (the global subscriber in the server; a test's
    // own subscriber in a test).
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let handle = std::thread::Builder::new()
        .name("depot-writer".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                // The last boundary: `rx` outlives a panic of the loop, so the jobs that
                // follow are refused with the reason instead of being dropped unanswered.
                let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                    run(&db, &mut rx, (&broken, &stopped), &cache, &stats, writeback.as_ref(), join)
                }));
                if let Err(payload) = ran {
                    refuse(&mut rx, &stopped.stop(&*payload));
                }
            });
        })
        .expect("spawning the writer thread");
    (tx, handle)
}

/// Answers every job with [`Error::Stopped`] until the store closes.
fn refuse(rx: &mut mpsc::Receiver<Box<dyn Job>>, stopped: &Error) {
    while let Some(job) = rx.blocking_recv() {
        let answer = AssertUnwindSafe(|| job.complete(Err(stopped.clone())));
        if panic::catch_unwind(answer).is_err() {
            tracing::warn!("a job panicked while told that the writer stopped");
        }
    }
}

/// The text of a panic payload (`panic!` with a literal or a format string).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    match (payload.downcast_ref::<&'static str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s,
        (_, Some(s)) => s,
        _ => "(no message)",
    }
}

fn run(
    db: &RwLock<Database>,
    rx: &mut mpsc::Receiver<Box<dyn Job>>,
    (broken, stopped): (&AtomicBool, &Stopped),
    cache: &Cache,
    stats: &Stats,
    writeback: Option<&Writeback>,
    join: std::time::Duration,
) {
    let mut unsynced = 0usize;
    // A job taken from the queue that must wait for the next batch (it runs alone).
    let mut held: Option<Box<dyn Job>> = None;
    loop {
        let Some(first) = held.take().or_else(|| rx.blocking_recv()) else { break };
        if first.alone() {
            run_alone(db, first, stopped, cache);
            continue;
        }
        let mut batch = Batch { bytes: first.weight(), jobs: vec![first], ran: 0, merged: 0 };
        batch.take_waiting(rx, &mut held);
        let began = std::time::Instant::now();
        let result = {
            let db = db.read().unwrap_or_else(|p| p.into_inner());
            commit(&db, &mut batch, join, |batch| batch.take_waiting(rx, &mut held))
        };
        let durable = batch.durable();
        let Batch { jobs: batch, bytes, merged, .. } = batch;
        if result.is_ok() {
            let commits = if durable { &stats.durable_commits } else { &stats.other_commits };
            commits.fetch_add(1, Ordering::Relaxed);
            stats.jobs.fetch_add(batch.iter().map(|j| j.writes() as u64).sum(), Ordering::Relaxed);
            stats.merged.fetch_add(merged, Ordering::Relaxed);
            let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
            stats.micros.fetch_add(micros, Ordering::Relaxed);
        }
        if result.is_ok() && batch.iter().any(|j| j.changes_cached()) {
            // Before any reply: a client that got its 201/204 must not be served older data.
            // A batch of new files alone keeps the cache, so a stream of uploads does not
            // send every client's next request (its token, its downloads) to the database.
            cache.bump();
        }
        unsynced = if durable { 0 } else { unsynced + bytes };
        if let Some(wb) = writeback.filter(|_| unsynced >= EARLY_WRITEBACK_BYTES) {
            wb.nudge();
            unsynced = 0;
        }
        if let Err(e) = &result {
            stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            // A panic was logged with its message by `commit`.
            if !matches!(e, Error::Panicked) {
                tracing::error!(error = %e, writes = batch.iter().map(|j| j.writes()).sum::<usize>(), "write batch failed");
            }
            if matches!(e, Error::Io(_) | Error::DiskFull) {
                broken.store(true, Ordering::Relaxed);
            }
        }
        for job in batch {
            job.complete(result.clone());
        }
    }
}

fn run_alone(db: &RwLock<Database>, mut job: Box<dyn Job>, stopped: &Stopped, cache: &Cache) {
    // Not a boundary the writer survives: a panic inside redb's compaction leaves no
    // transaction of ours to abort and nothing to argue the database handle is sound by, so
    // the job is answered and the panic goes on to stop the writer (see `spawn`).
    let result = match panic::catch_unwind(AssertUnwindSafe(|| job.run_alone(db))) {
        Ok(result) => result,
        Err(payload) => {
            // Stopped before the answer: whoever hears it finds the store saying so.
            job.complete(Err(stopped.stop(&*payload)));
            panic::resume_unwind(payload);
        }
    };
    cache.bump();
    job.complete(result);
}

/// The jobs of one transaction.
struct Batch {
    jobs: Vec<Box<dyn Job>>,
    /// How many jobs at the front already ran: a job arriving later runs after them, and
    /// must not merge into one of them.
    ran: usize,
    /// Data carried ([`Job::weight`]).
    bytes: usize,
    /// Jobs merged into the one before them ([`Job::absorb`]).
    merged: u64,
}

impl Batch {
    /// Takes the jobs waiting in the queue, merging each into the job before it when that
    /// one has not run yet, until the batch carries [`MAX_BATCH_BYTES`] or a job that runs
    /// alone comes up (left in `held` for the writer's next batch, which then begins with
    /// it). Returns whether it took any.
    fn take_waiting(
        &mut self,
        rx: &mut mpsc::Receiver<Box<dyn Job>>,
        held: &mut Option<Box<dyn Job>>,
    ) -> bool {
        let before = (self.jobs.len(), self.merged);
        while self.bytes < MAX_BATCH_BYTES && held.is_none() {
            let Ok(job) = rx.try_recv() else { break };
            if job.alone() {
                *held = Some(job);
                break;
            }
            self.bytes += job.weight();
            let open = self.jobs.len() > self.ran;
            let absorbed = match self.jobs.last_mut() {
                Some(last) if open => last.absorb(job),
                _ => Err(job),
            };
            match absorbed {
                Ok(()) => self.merged += 1,
                Err(job) => self.jobs.push(job),
            }
        }
        (self.jobs.len(), self.merged) != before
    }

    fn durable(&self) -> bool {
        self.jobs.iter().any(|j| j.durable())
    }
}

/// Rounds of jobs one transaction runs at most: the jobs waiting when it began, then up to
/// this many less one times the jobs that arrived while the round before ran ([`commit`]).
pub(crate) const ROUNDS: usize = 3;

/// Runs `batch` in one transaction and commits it. The jobs that arrive while it runs join
/// it (`more` takes them into the batch and says whether there were any), up to [`ROUNDS`]
/// rounds and only while the batch has run less than `join` (so the first jobs of a batch
/// wait for later ones a bounded time, whatever those are), before the commit: a commit
/// costs a fixed part (the fsync, the pages of each table's path) whatever its size, and a
/// client answered by the last commit may be back before this one's jobs have run. Without
/// this, clients uploading in a loop split into two cohorts, each finding the writer busy
/// with the other's commit: 4 and 8 such clients got about 1.2× the uploads through with it
/// (`docs/design.md`, "Writes").
///
/// # Errors
/// A storage error of any job or of the commit; [`Error::Panicked`] when a job panicked.
fn commit(
    db: &Database,
    batch: &mut Batch,
    join: std::time::Duration,
    mut more: impl FnMut(&mut Batch) -> bool,
) -> Result<(), Error> {
    let began = std::time::Instant::now();
    let mut tx = db.begin_write().map_err(Error::storage)?;
    // The fault boundary of a batch. After a panic in a job the state is what it was before
    // the batch began, so the writer may go on:
    // - the database: every change of the batch lives in `tx`, which is outside the closure
    //   and is aborted below, after the unwinding ended (redb poisons a transaction whose
    //   table operation panicked, and skips the abort of one dropped while unwinding, leaking
    //   its pages until a repair; an explicit abort frees them). Nothing of the batch reaches
    //   the file and the next batch begins a fresh transaction.
    // - the jobs: each is answered with the error below (results of jobs that already ran
    //   are discarded with their transaction); a chunk job's failure fails its upload, whose
    //   cleanup is queued again as after a storage error.
    // - the writer's own state (cache, counters) is not touched while jobs run; locks a job
    //   could hold (an upload's failure slot) are taken poison-tolerant everywhere; what jobs
    //   keep in memory beside the database (`recent.rs`) is rebuilt once the failed batch is
    //   counted (`Stats::failed_batches`).
    let ran = panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), Error> {
        for round in 1..=ROUNDS {
            let from = batch.ran;
            batch.ran = batch.jobs.len();
            batch.jobs[from..].iter_mut().try_for_each(|job| job.run(&tx))?;
            if round == ROUNDS || began.elapsed() >= join || !more(batch) {
                break;
            }
        }
        Ok(())
    }));
    match ran {
        Ok(Ok(())) => {
            if !batch.durable() {
                tx.set_durability(Durability::None).map_err(Error::storage)?;
            }
            tx.commit().map_err(Error::storage)
        }
        Ok(Err(e)) => Err(e),
        Err(payload) => {
            tracing::error!(
                panic = %panic_message(&*payload),
                writes = batch.jobs.iter().map(|j| j.writes()).sum::<usize>(),
                "a write job panicked; its batch was rolled back and failed, the writer goes on"
            );
            tx.abort().map_err(Error::storage)?;
            Err(Error::Panicked)
        }
    }
}

/// Chunk data committed without fsync after which early writeback starts, in bytes.
const EARLY_WRITEBACK_BYTES: usize = 32 << 20;

/// Early writeback for large uploads.
///
/// Chunks are committed without fsync; the upload's final durable commit must then write
/// back everything at once, after the last byte arrived (a 1 GiB upload waited seconds for
/// it). This thread syncs the file through a handle of its own while the upload is still
/// streaming, so the disk works in parallel with the network and the final fsync finds
/// little left to do. Syncing early changes nothing about what a crash preserves: redb's
/// commit protocol decides which commit is valid; this only makes pages reach the disk
/// sooner. The writer never waits for it.
struct Writeback {
    wake: std::sync::mpsc::SyncSender<()>,
}

impl Writeback {
    fn spawn(file: std::fs::File) -> Writeback {
        let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let spawned = std::thread::Builder::new().name("depot-writeback".into()).spawn(move || {
            while rx.recv().is_ok() {
                if let Err(e) = file.sync_data() {
                    tracing::debug!(error = %e, "early writeback failed; the commit's own fsync will report");
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no early writeback thread; large uploads finish slower");
        }
        Writeback { wake }
    }

    /// Asks for a sync unless one is already pending.
    fn nudge(&self) {
        let _ = self.wake.try_send(());
    }
}

/// A job made of a closure: its domain result is kept and delivered after the commit.
///
/// The closure must not change anything when it returns a domain error (`NotFound`,
/// `Exists`, …): the other jobs of the batch still commit. A storage error aborts the batch.
pub struct Call<T, F> {
    f: Option<F>,
    out: Option<Result<T, Error>>,
    reply: oneshot::Sender<Result<T, Error>>,
    durable: bool,
    changes_cached: bool,
    weight: usize,
}

impl<T, F> Call<T, F>
where
    T: Send + 'static,
    F: FnOnce(&WriteTransaction) -> Result<T, Error> + Send + 'static,
{
    /// A job running `f`; `weight` is the bytes of data `f` carries (for batch sizing).
    pub fn job(durable: bool, weight: usize, f: F) -> (Box<dyn Job>, oneshot::Receiver<Result<T, Error>>) {
        let (reply, rx) = oneshot::channel();
        (Box::new(Call { f: Some(f), out: None, reply, durable, changes_cached: durable, weight }), rx)
    }

    /// A durable job running `f` that only adds records no reader can have cached (a new
    /// file and what lists and counts it): its commit keeps the read cache
    /// ([`Job::changes_cached`]). Anything that replaces or removes must use [`Call::job`].
    pub fn adding(weight: usize, f: F) -> (Box<dyn Job>, oneshot::Receiver<Result<T, Error>>) {
        let (reply, rx) = oneshot::channel();
        (Box::new(Call { f: Some(f), out: None, reply, durable: true, changes_cached: false, weight }), rx)
    }
}

impl<T, F> Job for Call<T, F>
where
    T: Send + 'static,
    F: FnOnce(&WriteTransaction) -> Result<T, Error> + Send + 'static,
{
    fn run(&mut self, tx: &WriteTransaction) -> Result<(), Error> {
        let f = self.f.take().expect("a job runs once");
        self.out = Some(outcome(f(tx))?);
        Ok(())
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn changes_cached(&self) -> bool {
        self.changes_cached
    }

    fn weight(&self) -> usize {
        self.weight
    }

    fn complete(self: Box<Self>, committed: Result<(), Error>) {
        answer(self.reply, self.out, &committed);
    }
}

/// What a job's part makes of its closure's result: a storage error fails the batch (`Err`);
/// anything else (a value, or a domain error such as a refusal) is its outcome, delivered
/// after the commit by [`answer`].
pub fn outcome<T>(result: Result<T, Error>) -> Result<Result<T, Error>, Error> {
    match result {
        Err(e) if e.is_storage() => Err(e),
        other => Ok(other),
    }
}

/// Sends a job part's outcome (`out`, set when it ran) once its batch is `committed`: the
/// outcome when the commit held, else the batch's error.
pub fn answer<T>(
    reply: oneshot::Sender<Result<T, Error>>,
    out: Option<Result<T, Error>>,
    committed: &Result<(), Error>,
) {
    let out = match committed {
        Ok(()) => out.unwrap_or(Err(Error::Closed)),
        Err(e) => Err(e.clone()),
    };
    // The caller may have gone (client disconnected); its outcome is committed anyway.
    let _ = reply.send(out);
}
