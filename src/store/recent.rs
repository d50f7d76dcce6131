//! The newest part of the sha256 index, held in memory by the writer instead of in
//! `BLOB_BY_SHA`.
//!
//! Every upload of new content looks its sha256 up (deduplication) and indexes it. A sha256
//! is random, so indexing each one in `BLOB_BY_SHA` as it came dirtied a random leaf of that
//! table, and the branch pages above it, per upload: 26 of the 74 pages a durable commit of
//! 16 small uploads wrote at 100,000 files (`docs/design.md`, "Pages per commit"). Instead,
//! blobs newer than a watermark `W` (meta key [`UPTO`]) are found through a map the writer
//! holds, rebuilt from their `BLOBS` records (which carry the sha256) whenever it may be
//! stale. When it holds [`MERGE_AT`] blobs, the upload that filled it moves them all into
//! `BLOB_BY_SHA` in sha256 order, in its own transaction, so each leaf is written once for
//! all its new entries, and `W` moves past them.
//!
//! Invariants (they refine `blobs.rs` invariant 3):
//! 1. `BLOB_BY_SHA[sha] = id` iff `BLOBS[id].sha256 = sha` and `id <= W`.
//! 2. No two blobs have the same sha256 (deduplication looks in both places).
//! 3. The map, while valid, is `{BLOBS[id].sha256: id | id > W}` as of the write transaction
//!    in progress: the jobs that change `BLOBS` (adopt, release) change it with them.
//! 4. It is valid only while no batch of the writer failed since it was built (a failed
//!    batch's changes to the map are not rolled back with its transaction) and no job
//!    rewrote the index wholesale (repair calls [`Recent::invalidate`]). Otherwise the next
//!    use rebuilds it from the transaction.
//!
//! Readers (verify, the files-by-sha256 route) do not share the writer's map, which may run
//! ahead of their snapshot: [`lookup`] scans the at most [`MERGE_AT`] records above `W`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};

use super::records::BlobRec;
use super::tables::{BLOBS, BLOB_BY_SHA, META};
use super::writer::Stats;
use super::{codec, Error, Result};

/// Meta key of the watermark `W`: blobs with ids up to it are in `BLOB_BY_SHA` (8 bytes, LE;
/// absent is 0).
pub const UPTO: &str = "sha_indexed_upto";

/// Blobs above the watermark at which they are moved into `BLOB_BY_SHA`. Large enough that a
/// merge writes each leaf of the index for several entries; small enough that rebuilding the
/// map, or a reader's scan, reads little. Unit tests merge often, to exercise it.
pub const MERGE_AT: usize = if cfg!(test) { 64 } else { 4096 };

/// The writer's map of the blobs above the watermark (see the module header).
pub(crate) struct Recent {
    state: Mutex<State>,
    /// The writer's counters: a change of its failed batches makes the map stale (4).
    writer: Arc<Stats>,
}

#[derive(Default)]
struct State {
    /// The writer's failed batches when the map was built; `None` when it must be rebuilt.
    built: Option<u64>,
    upto: u64,
    by_sha: HashMap<[u8; 32], u64>,
}

type ShaTable<'t> = Table<'t, [u8; 32], u64>;
/// `BLOBS`, open in the caller's job (a table can be open only once in a transaction).
type BlobTable<'t> = Table<'t, u64, &'static [u8]>;

impl Recent {
    pub fn new(writer: Arc<Stats>) -> Recent {
        Recent { state: Mutex::default(), writer }
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

    /// Indexes the new blob `id` with content `sha` (no blob has it: [`Recent::find`]); the
    /// one that fills the map moves it into `by_sha`.
    pub fn insert(
        &self,
        tx: &WriteTransaction,
        (by_sha, blobs): (&mut ShaTable, &BlobTable),
        id: u64,
        sha: [u8; 32],
    ) -> Result<()> {
        let mut state = self.current(tx, blobs)?;
        if id <= state.upto {
            // An upload that took its id before the last merge (a large one, staged early).
            by_sha.insert(sha, id)?;
            return Ok(());
        }
        state.by_sha.insert(sha, id);
        if state.by_sha.len() >= MERGE_AT {
            let mut entries: Vec<([u8; 32], u64)> = state.by_sha.drain().collect();
            entries.sort_unstable();
            for (sha, id) in &entries {
                by_sha.insert(sha, id)?;
            }
            state.upto = entries.iter().map(|(_, id)| *id).max().unwrap_or(state.upto).max(state.upto);
            tx.open_table(META)?.insert(UPTO, state.upto.to_le_bytes().as_slice())?;
        }
        Ok(())
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
        if id <= state.upto {
            by_sha.remove(sha)?;
        } else if state.by_sha.get(&sha) == Some(&id) {
            state.by_sha.remove(&sha);
        }
        Ok(())
    }

    /// Makes the next use rebuild the map from its transaction: for a job that rewrites the
    /// index or the watermark itself (repair).
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
            let upto = watermark(&tx.open_table(META)?)?;
            let mut by_sha = HashMap::new();
            for entry in blobs.range(upto.saturating_add(1)..)? {
                let (id, rec) = entry?;
                // An unreadable record (verify reports it) must not stop every upload: its
                // content, uploaded again, is stored again.
                if let Ok(rec) = codec::decode::<BlobRec>(rec.value()) {
                    by_sha.insert(rec.sha256, id.value());
                }
            }
            *state = State { built: Some(failed), upto, by_sha };
        }
        Ok(state)
    }
}

/// The watermark `W` as `meta` holds it.
pub fn watermark(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64> {
    match meta.get(UPTO)? {
        None => Ok(0),
        Some(v) => <[u8; 8]>::try_from(v.value())
            .map(u64::from_le_bytes)
            .map_err(|_| Error::corrupt("the sha256 index watermark is not 8 bytes")),
    }
}

/// Puts the watermark past every blob (all of which must be in `BLOB_BY_SHA`): for a layout
/// upgrade and after a repair rebuilt the index. Returns it.
pub(crate) fn set_watermark_past_all(tx: &WriteTransaction) -> Result<u64> {
    let upto = tx.open_table(BLOBS)?.last()?.map_or(0, |(id, _)| id.value());
    tx.open_table(META)?.insert(UPTO, upto.to_le_bytes().as_slice())?;
    Ok(upto)
}

/// The blob whose content has sha256 `sha` in the snapshot `tx`: from `BLOB_BY_SHA`, else
/// from the records above the watermark.
pub fn lookup(tx: &ReadTransaction, sha: [u8; 32]) -> Result<Option<u64>> {
    if let Some(id) = tx.open_table(BLOB_BY_SHA)?.get(sha)? {
        return Ok(Some(id.value()));
    }
    let upto = watermark(&tx.open_table(META)?)?;
    for entry in tx.open_table(BLOBS)?.range(upto.saturating_add(1)..)? {
        let (id, rec) = entry?;
        if codec::decode::<BlobRec>(rec.value()).is_ok_and(|r| r.sha256 == sha) {
            return Ok(Some(id.value()));
        }
    }
    Ok(None)
}

/// Leaves the index as layouts up to 5 kept it: every blob in `BLOB_BY_SHA`, no watermark. For
/// the tests that turn a new database into an old one.
#[cfg(test)]
pub(crate) fn as_layout_5(tx: &WriteTransaction) -> Result<()> {
    let mut by_sha = tx.open_table(BLOB_BY_SHA)?;
    for entry in tx.open_table(BLOBS)?.iter()? {
        let (id, rec) = entry?;
        by_sha.insert(codec::decode::<BlobRec>(rec.value())?.sha256, id.value())?;
    }
    tx.open_table(META)?.remove(UPTO)?;
    Ok(())
}
