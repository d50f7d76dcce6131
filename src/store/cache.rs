//! A small in-memory cache of owners and small files, so the hottest downloads are answered
//! without a blocking-pool round trip or a read transaction.
//!
//! Correctness rests on one generation counter. The writer bumps it after every commit that
//! can change what readers see, before it replies to any job of that commit; a reader notes
//! the generation before it opens its read transaction and may insert what it read only if
//! the generation is still the same. A lookup that finds the cache at an older generation
//! clears it. So once a client has its 201 or 204, no later request is answered from data
//! older than that commit. Only whole small files are cached; the cache is bounded by bytes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use super::records::{FileRec, OwnerRec};

/// Largest file kept in the cache, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 10;
/// Content bytes the cache holds at most.
const MAX_TOTAL_BYTES: usize = 8 << 20;
/// Entries at most (bounds the metadata kept beside the content).
const MAX_ENTRIES: usize = 4096;

/// (owner, type, package, version, file), all case-folded.
pub type FileKey = (String, &'static str, String, String, String);

/// A cached file: its record and whole content.
#[derive(Clone)]
pub struct CachedFile {
    pub rec: FileRec,
    pub data: Bytes,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    owners: HashMap<String, Option<OwnerRec>>,
    files: HashMap<FileKey, CachedFile>,
    bytes: usize,
}

#[derive(Default)]
pub struct Cache {
    generation: AtomicU64,
    entries: Mutex<Entries>,
}

impl Cache {
    /// The current generation; read it before opening the read transaction whose results
    /// will be inserted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Invalidates everything: called by the writer after a commit that changed metadata.
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Entries> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.generation();
        if e.generation != now {
            *e = Entries { generation: now, ..Entries::default() };
        }
        e
    }

    /// `Some(None)`: cached as absent; `None`: not cached.
    pub fn owner(&self, key: &str) -> Option<Option<OwnerRec>> {
        self.current().owners.get(key).cloned()
    }

    pub fn file(&self, key: &FileKey) -> Option<CachedFile> {
        self.current().files.get(key).cloned()
    }

    pub fn put_owner(&self, read_at: u64, key: String, rec: Option<OwnerRec>) {
        let mut e = self.current();
        if e.generation == read_at && e.owners.len() < MAX_ENTRIES {
            e.owners.insert(key, rec);
        }
    }

    pub fn put_file(&self, read_at: u64, key: FileKey, file: CachedFile) {
        let mut e = self.current();
        let size = file.data.len();
        if e.generation != read_at || e.files.len() >= MAX_ENTRIES || e.bytes + size > MAX_TOTAL_BYTES {
            return;
        }
        if e.files.insert(key, file).is_none() {
            e.bytes += size;
        }
    }
}
