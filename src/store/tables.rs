//! Every table of the database and its key layout, in one place.
//!
//! Names are stored under their case-folded key (`names::key`); package and file keys are
//! tuples so that a range scan over a prefix lists one owner's packages, one package's
//! versions or one version's files. Package types are `"generic"` or `"go"`.

use redb::TableDefinition;

/// `"format"` → u32 little-endian: the database layout version, checked on open.
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
/// sha256 → blob id: the content address, for deduplication.
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

/// Layout version of this build; written on create, checked on open. Layout 1 lacked
/// `USAGE` and `QUOTAS`; opening it computes the usage and moves it to 2 (`mod.rs`).
pub const LAYOUT: u32 = 2;
