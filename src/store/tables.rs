//! Every table of the database and its key layout, in one place.
//!
//! Names are stored under their case-folded key (`names::key`); package and file keys are
//! tuples so that a range scan over a prefix lists one owner's packages, one package's
//! versions or one version's files. Package types are keyed by `PackageType::as_str`
//! (`"generic"` or `"go"`).

use redb::TableDefinition;

/// `"format"` → u32 little-endian: the database layout version, checked on open.
/// `"sha_indexed_upto"` → 64 × u64 LE: the watermarks of `BLOB_BY_SHA`'s slices (`recent.rs`).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// owner key → `OwnerRec` (users and organizations share one name space).
pub const OWNERS: TableDefinition<&str, &[u8]> = TableDefinition::new("owners");
/// (org key, user key) → role byte (0 read, 1 write).
pub const MEMBERS: TableDefinition<(&str, &str), u8> = TableDefinition::new("members");
/// sha256(token secret) → `TokenRec`.
pub const TOKENS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("tokens");
/// (owner key, type, package key) → `PackageRec`.
pub const PACKAGES: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("packages");
/// (owner key, type, package key, version key) → `VersionRec`.
pub const VERSIONS: TableDefinition<(&str, &str, &str, &str), &[u8]> = TableDefinition::new("versions");
/// (owner key, type, package key, version key, file key) → `FileRec`.
pub const FILES: TableDefinition<(&str, &str, &str, &str, &str), &[u8]> = TableDefinition::new("files");
/// blob id → `BlobRec`.
pub const BLOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("blobs");
/// sha256 → blob id: the content address, for deduplication; a blob is in it once its id is
/// at most its slice's watermark, before that in the writer's memory (`recent.rs`).
pub const BLOB_BY_SHA: TableDefinition<[u8; 32], u64> = TableDefinition::new("blob_by_sha");
/// (blob id, chunk index) → chunk bytes.
pub const CHUNKS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("chunks");
/// blob id → start time: chunks of an upload that has not finished. Reclaimed on open.
pub const STAGED: TableDefinition<u64, u64> = TableDefinition::new("staged");

/// owner key → `UsageRec`: bytes of files and number of versions the owner holds, kept in
/// the same transaction as every change to them.
pub const USAGE: TableDefinition<&str, &[u8]> = TableDefinition::new("usage");
/// owner key → `QuotaRec`: the limits an admin set for the owner (absent: none).
pub const QUOTAS: TableDefinition<&str, &[u8]> = TableDefinition::new("quotas");

/// owner key → the owner's stable id (the API's `User.id`), from the id counter.
pub const OWNER_IDS: TableDefinition<&str, u64> = TableDefinition::new("owner_ids");
/// (list, seq) → (type, package key, version or file key): the items of an ordered list,
/// oldest first (`lists.rs`). A list is named by (owner key, type, package key, version key)
/// with the parts it is not about empty: (o, "", "", "") the owner's versions, (o, t, "", "")
/// those of one type, (o, t, p, "") a package's versions, (o, t, p, v) a version's files.
pub const LISTS: TableDefinition<ListKey, (&str, &str, &str)> = TableDefinition::new("lists");
/// (owner key, type, package key, version key, seq): an item of a list.
pub(crate) type ListKey = (&'static str, &'static str, &'static str, &'static str, u64);
/// (list, seq / `lists::BUCKET`) → items of the list in that bucket, and (list,
/// `lists::SPAN_FLAG | seq / lists::SPAN`) → items in that span of buckets: how a page is
/// found without walking the items before it (`lists.rs`).
pub const LIST_BUCKETS: TableDefinition<(&str, &str, &str, &str, u64), u64> =
    TableDefinition::new("list_buckets");
/// list → (next seq, number of items).
pub const LIST_HEADS: TableDefinition<(&str, &str, &str, &str), (u64, u64)> =
    TableDefinition::new("list_heads");

/// `META` key of the id counter: the next id for an owner, version or file (u64 LE).
pub const NEXT_ID: &str = "next_id";

/// sha256(session id) → `SessionRec`: signed-in web sessions (`sessions.rs`).
pub const SESSIONS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("sessions");

/// blob id → size: blobs whose content is the object `depot/blobs/{id:016x}` in the object
/// store instead of chunks (`objects.rs`).
pub const OBJECTS: TableDefinition<u64, u64> = TableDefinition::new("objects");
/// blob id → multipart upload id (empty before the store gave one): objects being written.
pub const OBJECT_STAGING: TableDefinition<u64, &[u8]> = TableDefinition::new("object_staging");
/// blob id → multipart upload id to abort (or empty): objects to delete, after the commit
/// that made them unreferenced.
pub const OBJECT_OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("object_outbox");
/// (owner key, rule id) → `RuleRec`: the owner's cleanup rules (`rules.rs`).
pub const RULES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("rules");

/// (blob id, owner key, type, package key, version key, file key) → (): every file by its
/// content, kept in the same transaction as `FILES`, so a lookup by checksum (through
/// `BLOB_BY_SHA`) reads the files that have it and nothing else. Keyed by blob id rather than
/// sha256 because ids grow: a file of new content is appended at the end of the table, where
/// a sha256 key would rewrite a random leaf on every upload.
pub const FILES_BY_BLOB: TableDefinition<BlobFileKey, ()> = TableDefinition::new("files_by_blob");
/// (blob id, owner key, type, package key, version key, file key).
pub(crate) type BlobFileKey = (u64, &'static str, &'static str, &'static str, &'static str, &'static str);
/// (owner key, hook id) → `HookRec`: an owner's publish-event webhooks (`hooks.rs`).
pub const HOOKS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("hooks");
/// seq → `OutboxRec`: an event for one hook not yet delivered, written in the transaction of
/// the change it reports; removed when delivered or given up.
pub const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// (hook id, seq) → `DeliveryRec`: a hook's delivery attempts, the last `hooks::LOG_KEEP`.
pub const DELIVERIES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("deliveries");

/// Layout version of this build; written on create, checked on open. Layout 1 lacked
/// `USAGE` and `QUOTAS`; opening it computes the usage and moves it to 2. Layout 2 lacked the
/// ids, summaries and lists, and wrote blob records of format 1 only (no inline content: they
/// are read as they are); opening it computes the rest and moves it to 3 (`mod.rs`). Layout 3
/// had no object tables: a blob record of layout 4 may have no chunks because its content is
/// an object, which a depot of layout 3 would serve as a damaged blob, so it must refuse the
/// file. Layout 3 also lacked `FILES_BY_BLOB`; opening it fills the index from `FILES` and
/// moves it to 4 (the object tables and `RULES` start empty). Layout 4 counted list items per
/// bucket only; opening it adds the span counts (`lists.rs`) and moves it to 5: a depot of
/// layout 4 would not keep them up to date, so it must refuse the file. Layout 5 indexed every
/// blob in `BLOB_BY_SHA`; layout 6 indexes there only those up to a watermark, the newer ones
/// being found through their records (`recent.rs`): a depot of layout 5 would store their
/// content again and break the index, so it must refuse the file. Opening layout 5 puts the
/// watermark past every blob and moves it to 6.
pub const LAYOUT: u32 = 6;

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{TableHandle, Value};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Name, key type, value type and the bytes of `key` of one table, as redb stores them.
    fn layout<K: redb::Key + 'static, V: Value + 'static>(
        table: TableDefinition<K, V>,
        key: &K::SelfType<'_>,
    ) -> String {
        format!(
            "{} {} {} {}",
            table.name(),
            K::type_name().name(),
            V::type_name().name(),
            hex(K::as_bytes(key).as_ref())
        )
    }

    /// What is on disk must never change by accident: a table's name, its key and value
    /// types (redb checks them on open) and the bytes of a key (their order is the order of
    /// every range scan). Changing one of these is a new `LAYOUT` with a migration.
    #[test]
    fn table_layouts_are_pinned() {
        let sha: [u8; 32] = std::array::from_fn(|i| i as u8);
        let sha_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let pinned = [
            (layout(META, &"format"), "meta &str &[u8] 666f726d6174".to_string()),
            (layout(OWNERS, &"alice"), "owners &str &[u8] 616c696365".into()),
            (layout(MEMBERS, &("acme", "bob")), "members (&str,&str) u8 0461636d65626f62".into()),
            (layout(TOKENS, &sha), format!("tokens [u8;32] &[u8] {sha_hex}")),
            (
                layout(PACKAGES, &("alice", "generic", "app")),
                "packages (&str,&str,&str) &[u8] 0507616c69636567656e65726963617070".into(),
            ),
            (
                layout(VERSIONS, &("alice", "go", "example.com/m", "v1.0.0")),
                "versions (&str,&str,&str,&str) &[u8] \
                 05020d616c696365676f6578616d706c652e636f6d2f6d76312e302e30"
                    .into(),
            ),
            (
                layout(FILES, &("alice", "generic", "app", "1.0", "a.tgz")),
                "files (&str,&str,&str,&str,&str) &[u8] 05070303616c69636567656e65726963617070312e30612e74677a"
                    .into(),
            ),
            (layout(BLOBS, &0x0102_0304_0506_0708), "blobs u64 &[u8] 0807060504030201".into()),
            (layout(BLOB_BY_SHA, &sha), format!("blob_by_sha [u8;32] u64 {sha_hex}")),
            (
                layout(CHUNKS, &(0x0102_0304_0506_0708, 0x0a0b_0c0d)),
                "chunks (u64,u32) &[u8] 08070605040302010d0c0b0a".into(),
            ),
            (layout(STAGED, &0x0102_0304_0506_0708), "staged u64 u64 0807060504030201".into()),
            (layout(USAGE, &"alice"), "usage &str &[u8] 616c696365".into()),
            (layout(QUOTAS, &"alice"), "quotas &str &[u8] 616c696365".into()),
            (layout(OWNER_IDS, &"alice"), "owner_ids &str u64 616c696365".into()),
            (
                layout(LISTS, &("alice", "go", "m", "", 0x0102)),
                "lists (&str,&str,&str,&str,u64) (&str,&str,&str) 05020100616c696365676f6d0201000000000000".into(),
            ),
            (
                layout(LIST_BUCKETS, &("alice", "", "", "", 7)),
                "list_buckets (&str,&str,&str,&str,u64) u64 05000000616c6963650700000000000000".into(),
            ),
            (
                layout(LIST_HEADS, &("alice", "generic", "app", "1.0")),
                "list_heads (&str,&str,&str,&str) (u64,u64) 050703616c69636567656e65726963617070312e30".into(),
            ),
            (layout(SESSIONS, &sha), format!("sessions [u8;32] &[u8] {sha_hex}")),
            (layout(OBJECTS, &0x0102_0304_0506_0708), "objects u64 u64 0807060504030201".into()),
            (layout(OBJECT_STAGING, &0x0102), "object_staging u64 &[u8] 0201000000000000".into()),
            (layout(OBJECT_OUTBOX, &0x0102), "object_outbox u64 &[u8] 0201000000000000".into()),
            (layout(RULES, &("alice", 0x0102)), "rules (&str,u64) &[u8] 05616c6963650201000000000000".into()),
            (
                layout(FILES_BY_BLOB, &(0x0102, "alice", "generic", "app", "1.0", "a.tgz")),
                "files_by_blob (u64,&str,&str,&str,&str,&str) () 050703030201000000000000\
                 616c69636567656e65726963617070312e30612e74677a"
                    .into(),
            ),
            (layout(HOOKS, &("alice", 7)), "hooks (&str,u64) &[u8] 05616c6963650700000000000000".into()),
            (layout(OUTBOX, &7), "outbox u64 &[u8] 0700000000000000".into()),
            (
                layout(DELIVERIES, &(7, 8)),
                "deliveries (u64,u64) &[u8] 07000000000000000800000000000000".into(),
            ),
        ];
        for (now, pinned) in pinned {
            assert_eq!(now, pinned);
        }
        assert_eq!(hex(&LAYOUT.to_le_bytes()), "06000000");
    }
}
