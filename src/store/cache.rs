//! An in-memory cache of owners, tokens, memberships and small files, so the hottest
//! downloads, anonymous or with a credential, are answered without a blocking-pool round trip
//! or a read transaction.
//!
//! Correctness rests on one generation counter. The writer bumps it after every commit that
//! can change what the cache holds, before it replies to any job of that commit (a commit of
//! new files alone cannot: only files that exist are cached, and an upload changes no owner,
//! token or membership); a reader notes
//! the generation before it opens its read transaction and may insert what it read only if
//! the generation is still the same. A lookup that finds the cache at an older generation
//! clears it. So once a client has its 201 or 204, no later request is answered from data
//! older than that commit. Only whole small files are cached. Every account change (a token
//! created or revoked, a password, admin flag or visibility changed, a user or organization
//! deleted, a membership added, changed or removed) is such a commit, whoever makes it (API,
//! CLI through the control socket, admin commands): so a revoked token is refused on the very
//! next request. Tokens are kept only when they exist (an unknown secret is not remembered, so
//! guessing cannot fill the cache), under the sha256 their secret is stored by.
//!
//! Within a generation the cache is bounded and evicts: entries live in `quick_cache`'s
//! S3-FIFO maps (a newcomer gets a probation slot and stays if it is read again, so a file
//! that becomes hot after the cache filled is kept, while one pass over many cold files does
//! not push out the hot ones). Eviction only drops entries, so it cannot weaken the argument
//! above: whatever is in the cache was inserted at the current generation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use super::records::{FileRec, OwnerRec, Role, TokenRec};

/// Largest file kept in the cache, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 10;
/// Default weight the file cache holds at most (`--file-cache-mib`): content bytes plus
/// `ENTRY_WEIGHT` per entry. Sized for a hot set of 20,000 files of 4 KiB (a CI fleet's
/// latest releases): 88 MiB of them.
pub const DEFAULT_WEIGHT: u64 = 96 << 20;
/// What an entry weighs beyond its content (key, record, bookkeeping: about 300 bytes, with
/// margin), so that many empty files are bounded too: at most `weight / ENTRY_WEIGHT`
/// entries (196,608 at the default).
const ENTRY_WEIGHT: u64 = 512;
/// Owners kept at most.
const MAX_OWNERS: usize = 4096;
/// Tokens kept at most.
const MAX_TOKENS: usize = 4096;
/// Memberships (and non-memberships) kept at most.
const MAX_ROLES: usize = 4096;

/// (organization, user), both case-folded.
pub type RoleKey = (String, String);

/// (type, owner, package, version, file), names as stored (case-folded where they fold), in
/// one allocation: each name preceded by its length, so no two targets share a key.
pub type FileKey = Box<[u8]>;

/// The [`FileKey`] of a file of `kind` named by `names` (owner, package, version, file keys).
pub fn file_key(kind: super::PackageType, names: [&str; 4]) -> FileKey {
    let mut k = Vec::with_capacity(1 + names.iter().map(|n| 4 + n.len()).sum::<usize>());
    k.push(kind as u8);
    for n in names {
        k.extend_from_slice(&(n.len() as u32).to_le_bytes());
        k.extend_from_slice(n.as_bytes());
    }
    k.into_boxed_slice()
}

/// A cached file: its record and whole content.
#[derive(Clone)]
pub struct CachedFile {
    pub rec: FileRec,
    pub data: Bytes,
}

/// Weighs a cached file by its content.
#[derive(Clone)]
struct FileWeight;

impl quick_cache::Weighter<FileKey, CachedFile> for FileWeight {
    fn weight(&self, _key: &FileKey, file: &CachedFile) -> u64 {
        file.data.len() as u64 + ENTRY_WEIGHT
    }
}

struct Entries {
    generation: u64,
    owners: quick_cache::unsync::Cache<String, Option<OwnerRec>>,
    files: quick_cache::unsync::Cache<FileKey, CachedFile, FileWeight>,
    tokens: quick_cache::unsync::Cache<[u8; 32], TokenRec>,
    roles: quick_cache::unsync::Cache<RoleKey, Option<Role>>,
}

impl Entries {
    /// Empty maps; the files' weight at most `max_weight` (at least one entry's).
    fn new(max_weight: u64) -> Self {
        let max_weight = max_weight.max(ENTRY_WEIGHT);
        Entries {
            generation: 0,
            owners: quick_cache::unsync::Cache::new(MAX_OWNERS),
            files: quick_cache::unsync::Cache::with_weighter(
                (max_weight / ENTRY_WEIGHT) as usize,
                max_weight,
                FileWeight,
            ),
            tokens: quick_cache::unsync::Cache::new(MAX_TOKENS),
            roles: quick_cache::unsync::Cache::new(MAX_ROLES),
        }
    }
}

pub struct Cache {
    generation: AtomicU64,
    entries: Mutex<Entries>,
    /// File lookups answered from the cache, and those that were not, for `/metrics`.
    file_hits: AtomicU64,
    file_misses: AtomicU64,
}

/// How often file lookups found their file in the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub file_hits: u64,
    pub file_misses: u64,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new(DEFAULT_WEIGHT)
    }
}

impl Cache {
    /// An empty cache whose files weigh at most `max_weight` bytes (`--file-cache-mib`).
    pub fn new(max_weight: u64) -> Self {
        Cache {
            generation: AtomicU64::new(0),
            entries: Mutex::new(Entries::new(max_weight)),
            file_hits: AtomicU64::new(0),
            file_misses: AtomicU64::new(0),
        }
    }

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
            e.generation = now;
            e.owners.clear();
            e.files.clear();
            e.tokens.clear();
            e.roles.clear();
        }
        e
    }

    /// `Some(None)`: cached as absent; `None`: not cached.
    pub fn owner(&self, key: &str) -> Option<Option<OwnerRec>> {
        self.current().owners.get(key).cloned()
    }

    /// The token stored under `hash`, if cached (only existing tokens are).
    pub fn token(&self, hash: &[u8; 32]) -> Option<TokenRec> {
        self.current().tokens.get(hash).cloned()
    }

    /// `Some(None)`: cached as not a member; `None`: not cached.
    pub fn role(&self, key: &RoleKey) -> Option<Option<Role>> {
        self.current().roles.get(key).copied()
    }

    pub fn file(&self, key: &FileKey) -> Option<CachedFile> {
        let found = self.current().files.get(key).cloned();
        let counter = if found.is_some() { &self.file_hits } else { &self.file_misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            file_hits: self.file_hits.load(Ordering::Relaxed),
            file_misses: self.file_misses.load(Ordering::Relaxed),
        }
    }

    pub fn put_owner(&self, read_at: u64, key: String, rec: Option<OwnerRec>) {
        let mut e = self.current();
        if e.generation == read_at {
            e.owners.insert(key, rec);
        }
    }

    pub fn put_token(&self, read_at: u64, hash: [u8; 32], rec: TokenRec) {
        let mut e = self.current();
        if e.generation == read_at {
            e.tokens.insert(hash, rec);
        }
    }

    pub fn put_role(&self, read_at: u64, key: RoleKey, role: Option<Role>) {
        let mut e = self.current();
        if e.generation == read_at {
            e.roles.insert(key, role);
        }
    }

    pub fn put_file(&self, read_at: u64, key: FileKey, file: CachedFile) {
        let mut e = self.current();
        if e.generation == read_at && file.data.len() as u64 <= MAX_FILE_BYTES {
            e.files.insert(key, file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> FileKey {
        file_key(super::super::PackageType::Generic, ["alice", "p", "1", &format!("f{i}")])
    }

    #[test]
    fn names_cannot_run_into_each_other_in_a_key() {
        use super::super::PackageType::{Generic, Go};
        let k = |kind, names| file_key(kind, names);
        assert_ne!(k(Generic, ["ab", "c", "1", "f"]), k(Generic, ["a", "bc", "1", "f"]));
        assert_ne!(k(Generic, ["a", "b\0\0\0\0", "1", "f"]), k(Generic, ["a", "b", "\0\0\0\0", "1f"]));
        assert_ne!(k(Generic, ["a", "b", "1", "f"]), k(Go, ["a", "b", "1", "f"]));
        assert_eq!(k(Go, ["a", "b", "1", "f"]), k(Go, ["a", "b", "1", "f"]));
    }

    fn file(len: usize) -> CachedFile {
        let rec = FileRec {
            name: "f".into(),
            size: len as u64,
            sha256: [0; 32],
            blob: 1,
            created: 0,
            ..FileRec::default()
        };
        CachedFile { rec, data: Bytes::from(vec![7u8; len]) }
    }

    #[test]
    fn a_file_read_twice_after_the_cache_filled_is_kept_within_bounds() {
        let cache = Cache::default();
        let g = cache.generation();
        // Three times the capacity, in entries of the largest size.
        let n = 3 * (DEFAULT_WEIGHT / (MAX_FILE_BYTES + ENTRY_WEIGHT)) as usize;
        for i in 0..n {
            cache.put_file(g, key(i), file(MAX_FILE_BYTES as usize));
        }
        let hot = key(n);
        assert!(cache.file(&hot).is_none());
        cache.put_file(g, hot.clone(), file(100));
        for i in n + 1..2 * n {
            assert!(cache.file(&hot).is_some(), "the hot file was evicted by newcomer {i}");
            cache.put_file(g, key(i), file(MAX_FILE_BYTES as usize));
        }
        let e = cache.current();
        assert!(e.files.weight() <= DEFAULT_WEIGHT, "weight {} over {DEFAULT_WEIGHT}", e.files.weight());
    }

    #[test]
    fn many_empty_files_are_bounded_by_count() {
        let cache = Cache::default();
        let g = cache.generation();
        for i in 0..(DEFAULT_WEIGHT / ENTRY_WEIGHT) as usize + 4096 {
            cache.put_file(g, key(i), file(0));
        }
        assert!(cache.current().files.len() <= (DEFAULT_WEIGHT / ENTRY_WEIGHT) as usize);
    }

    #[test]
    fn a_read_from_before_a_bump_is_not_inserted_and_a_bump_empties_the_cache() {
        let cache = Cache::default();
        let g = cache.generation();
        cache.put_file(g, key(1), file(10));
        cache.put_owner(g, "alice".into(), None);
        assert!(cache.file(&key(1)).is_some());
        cache.bump();
        assert!(cache.file(&key(1)).is_none(), "a bump empties the cache");
        assert!(cache.owner("alice").is_none());
        cache.put_file(g, key(2), file(10));
        assert!(cache.file(&key(2)).is_none(), "a read from an older generation is not inserted");
        assert_eq!(cache.stats(), CacheStats { file_hits: 1, file_misses: 2 });
    }
}
