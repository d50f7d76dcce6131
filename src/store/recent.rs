//! The newest part of the sha256 index, held in memory by the writer instead of in
//! `BLOB_BY_SHA`.
//!
//! Every upload of new content looks its sha256 up (deduplication) and indexes it. A sha256
//! is random, so indexing each one in `BLOB_BY_SHA` as it came dirtied a random leaf of that
//! table, and the branch pages above it, per upload: 26 of the 74 pages a durable commit of
//! 16 small uploads wrote at 100,000 files (`docs/design.md`, "The newest sha256 entries in
//! memory"). Instead, the index is cut by the first bits of the sha256 into [`SLICES`]
//! slices, each with a watermark `W[s]` (meta key [`UPTO`]): a blob of slice `s` with an id up
//! to `W[s]` is in `BLOB_BY_SHA`, a newer one is found through a map the writer holds, rebuilt
//! from the `BLOBS` records (which carry the sha256) whenever it may be stale. Whenever the
//! map reaches [`MERGE_AT`] blobs, the upload that filled it moves one slice's blobs (the next
//! in turn) into `BLOB_BY_SHA` in sha256 order and raises that slice's watermark past them: the
//! slice's entries share its leaves, so each leaf written takes several, and a merge writes
//! one slice's share of the index, about once per 64 new blobs (merging the whole map at once
//! was a commit of a thousand pages, and a p99 latency of 19 ms).
//!
//! Invariants (they refine `blobs.rs` invariant 3):
//! 1. `BLOB_BY_SHA[sha] = id` iff `BLOBS[id].sha256 = sha` and `id <= W[slice(sha)]`.
//! 2. No two blobs have the same sha256 (deduplication looks in both places).
//! 3. The map, while valid, is `{BLOBS[id].sha256: id | id > W[slice(sha)]}` as of the write
//!    transaction in progress: the jobs that change `BLOBS` (adopt, release) change it with
//!    them.
//! 4. It is valid only while no batch of the writer failed since it was built (a failed
//!    batch's changes to the map are not rolled back with its transaction) and no job
//!    rewrote the index wholesale (repair calls [`Recent::invalidate`]). Otherwise the next
//!    use rebuilds it from the transaction.
//!
//! Readers (verify, the files-by-sha256 route) do not share the writer's map, which may run
//! ahead of their snapshot: [`lookup`] scans the records above the watermark of the sha256's
//! slice.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};

use super::tables::{BLOBS, BLOB_BY_SHA, META};
use super::writer::Stats;
use super::{codec, Error, Result};

/// Meta key of the watermarks: [`SLICES`] ids, 8 bytes LE each; absent is all 0. (One id,
/// 8 bytes, is read as the watermark of every slice: what builds before the slices wrote.)
pub const UPTO: &str = "sha_indexed_upto";

/// Slices of the index, by the first bits of the sha256.
pub const SLICES: usize = 64;

/// Blobs in the map at which the upload adding one merges a slice. Large enough that a merge
/// writes each leaf of its slice for several entries; small enough that rebuilding the map,
/// or a reader's scan, reads little. Unit tests merge at nearly every upload, to exercise it.
pub const MERGE_AT: usize = if cfg!(test) { 64 } else { 4096 };

/// The slice of the index content `sha` is in.
fn slice(sha: &[u8; 32]) -> usize {
    usize::from(sha[0]) * SLICES / 256
}

/// The watermarks of the slices of the index (invariant 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks([u64; SLICES]);

impl Watermarks {
    /// As `meta` holds them.
    pub fn read(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Watermarks> {
        let Some(v) = meta.get(UPTO)? else { return Ok(Watermarks([0; SLICES])) };
        let bytes = v.value();
        if let Ok(one) = <[u8; 8]>::try_from(bytes) {
            return Ok(Watermarks([u64::from_le_bytes(one); SLICES]));
        }
        if bytes.len() != SLICES * 8 {
            return Err(Error::corrupt(format!(
                "the sha256 index watermarks are {} bytes, not {}",
                bytes.len(),
                SLICES * 8
            )));
        }
        let mut upto = [0; SLICES];
        for (w, b) in upto.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(b.try_into().expect("chunks of 8"));
        }
        Ok(Watermarks(upto))
    }

    fn write(&self, tx: &WriteTransaction) -> Result<()> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|w| w.to_le_bytes()).collect();
        tx.open_table(META)?.insert(UPTO, bytes.as_slice())?;
        Ok(())
    }

    /// Watermarks that cover every blob: for a repair that indexes them all.
    pub(crate) fn past_everything() -> Watermarks {
        Watermarks([u64::MAX; SLICES])
    }

    /// Whether blob `id` with content `sha` belongs in `BLOB_BY_SHA`.
    pub fn covers(&self, id: u64, sha: &[u8; 32]) -> bool {
        id <= self.0[slice(sha)]
    }

    /// Calls `each` with the id and sha256 of every blob of `blobs` above its slice's
    /// watermark (from the lowest watermark up, the records' sha256 read without decoding
    /// them), until it returns false. An unreadable record (verify reports it) is skipped:
    /// its content, uploaded again, is stored again.
    fn newer(
        &self,
        blobs: &impl ReadableTable<u64, &'static [u8]>,
        mut each: impl FnMut(u64, [u8; 32]) -> bool,
    ) -> Result<()> {
        let lowest = self.0.iter().copied().min().unwrap_or(0);
        for entry in blobs.range(lowest.saturating_add(1)..)? {
            let (id, rec) = entry?;
            let Some(sha) = codec::blob_sha256(rec.value()) else { continue };
            if !self.covers(id.value(), &sha) && !each(id.value(), sha) {
                break;
            }
        }
        Ok(())
    }
}

/// The writer's map of the blobs above their slice's watermark (see the module header).
pub(crate) struct Recent {
    state: Mutex<State>,
    /// The writer's counters: a change of its failed batches makes the map stale (4).
    writer: Arc<Stats>,
}

struct State {
    /// The writer's failed batches when the map was built; `None` when it must be rebuilt.
    built: Option<u64>,
    upto: Watermarks,
    by_sha: HashMap<[u8; 32], u64>,
    /// The slice the next merge starts looking at.
    next: usize,
}

type ShaTable<'t> = Table<'t, [u8; 32], u64>;
/// `BLOBS`, open in the caller's job (a table can be open only once in a transaction).
type BlobTable<'t> = Table<'t, u64, &'static [u8]>;

impl Recent {
    pub fn new(writer: Arc<Stats>) -> Recent {
        let state = State { built: None, upto: Watermarks([0; SLICES]), by_sha: HashMap::new(), next: 0 };
        Recent { state: Mutex::new(state), writer }
    }

    /// The blob whose content has sha256 `sha`, if any.
    pub fn find(
        &self,
        tx: &WriteTransaction,
        by_sha: &ShaTable,
        blobs: &BlobTable,
        sha: [u8; 32],
    ) -> Result<Option<u64>> {
        if let Some(id) = by_sha.get(sha)? {
            return Ok(Some(id.value()));
        }
        Ok(self.current(tx, blobs)?.by_sha.get(&sha).copied())
    }

    /// Indexes the new blob `id` with content `sha` (no blob has it: [`Recent::find`]); once
    /// the map is full, moves a slice of it into `by_sha`.
    pub fn insert(
        &self,
        tx: &WriteTransaction,
        (by_sha, blobs): (&mut ShaTable, &BlobTable),
        id: u64,
        sha: [u8; 32],
    ) -> Result<()> {
        let mut state = self.current(tx, blobs)?;
        if state.upto.covers(id, &sha) {
            // An upload that took its id before its slice's last merge (one that staged chunks
            // or an object early, or a Go module's go.mod).
            by_sha.insert(sha, id)?;
            return Ok(());
        }
        state.by_sha.insert(sha, id);
        if state.by_sha.len() < MERGE_AT {
            return Ok(());
        }
        // The next slice in turn that has blobs in the map (this one's has, at least).
        let s = (0..SLICES)
            .map(|i| (state.next + i) % SLICES)
            .find(|s| state.by_sha.keys().any(|sha| slice(sha) == *s))
            .expect("the map holds a blob");
        let mut entries: Vec<([u8; 32], u64)> = state.by_sha.extract_if(|sha, _| slice(sha) == s).collect();
        entries.sort_unstable();
        for (sha, id) in &entries {
            by_sha.insert(sha, id)?;
        }
        // Every blob of the slice is in the index now: its watermark may go past the newest
        // blob of all (an upload holding an older id goes into the index directly).
        let top = blobs.last()?.map_or(0, |(id, _)| id.value());
        state.upto.0[s] = state.upto.0[s].max(top);
        state.next = (s + 1) % SLICES;
        state.upto.write(tx)
    }

    /// Takes blob `id` with content `sha` out of the index (its last reference went).
    pub fn remove(
        &self,
        tx: &WriteTransaction,
        (by_sha, blobs): (&mut ShaTable, &BlobTable),
        id: u64,
        sha: [u8; 32],
    ) -> Result<()> {
        let mut state = self.current(tx, blobs)?;
        if state.upto.covers(id, &sha) {
            by_sha.remove(sha)?;
        } else if state.by_sha.get(&sha) == Some(&id) {
            state.by_sha.remove(&sha);
        }
        Ok(())
    }

    /// Makes the next use rebuild the map from its transaction: for a job that rewrites the
    /// index or the watermarks itself (repair).
    pub fn invalidate(&self) {
        self.lock().built = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while it was held failed its batch, which makes the map stale anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The map, rebuilt from `tx` when it may be stale (4).
    fn current(&self, tx: &WriteTransaction, blobs: &BlobTable) -> Result<std::sync::MutexGuard<'_, State>> {
        let mut state = self.lock();
        let failed = self.writer.failed_batches.load(Ordering::Relaxed);
        if state.built != Some(failed) {
            let upto = Watermarks::read(&tx.open_table(META)?)?;
            let mut by_sha = HashMap::new();
            upto.newer(blobs, |id, sha| {
                by_sha.insert(sha, id);
                true
            })?;
            *state = State { built: Some(failed), upto, by_sha, next: state.next };
        }
        Ok(state)
    }
}

/// Puts every watermark past every blob (all of which must be in `BLOB_BY_SHA`): for a
/// layout upgrade, and for a repair that indexed every blob. Returns the watermark.
pub(crate) fn set_watermark_past_all(tx: &WriteTransaction) -> Result<u64> {
    let upto = tx.open_table(BLOBS)?.last()?.map_or(0, |(id, _)| id.value());
    set_watermarks(tx, upto)?;
    Ok(upto)
}

/// Sets every slice's watermark to `upto`: every blob up to it must be in `BLOB_BY_SHA`.
pub(crate) fn set_watermarks(tx: &WriteTransaction, upto: u64) -> Result<()> {
    Watermarks([upto; SLICES]).write(tx)
}

/// The blob whose content has sha256 `sha` in the snapshot `tx`: from `BLOB_BY_SHA`, else
/// from the records above its slice's watermark.
pub fn lookup(tx: &ReadTransaction, sha: [u8; 32]) -> Result<Option<u64>> {
    if let Some(id) = tx.open_table(BLOB_BY_SHA)?.get(sha)? {
        return Ok(Some(id.value()));
    }
    let upto = Watermarks::read(&tx.open_table(META)?)?;
    let mut found = None;
    upto.newer(&tx.open_table(BLOBS)?, |id, other| {
        found = Some(id).filter(|_| other == sha);
        found.is_none()
    })?;
    Ok(found)
}

/// Leaves the index as layouts up to 5 kept it: every blob in `BLOB_BY_SHA`, no watermark. For
/// the tests that turn a new database into an old one.
#[cfg(test)]
pub(crate) fn as_layout_5(tx: &WriteTransaction) -> Result<()> {
    let mut by_sha = tx.open_table(BLOB_BY_SHA)?;
    for entry in tx.open_table(BLOBS)?.iter()? {
        let (id, rec) = entry?;
        by_sha.insert(codec::decode::<super::records::BlobRec>(rec.value())?.sha256, id.value())?;
    }
    tx.open_table(META)?.remove(UPTO)?;
    Ok(())
}
