//! The records stored as table values, encoded by [`super::codec`].
//!
//! Changing a field here changes the file format: add a new format in `codec.rs` and keep
//! decoding the old one. Times are seconds since the Unix epoch.
//!
//! Each record type also says which of its values cannot be true ([`Record::invalid`]):
//! `codec::decode` refuses those like malformed bytes, so code reading a record never meets
//! a value it would divide by zero with or overflow on.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::codec;

/// A type stored as a table value.
pub trait Record: Serialize + DeserializeOwned {
    /// Why this value cannot be a stored record (no release writes it), if it cannot.
    fn invalid(&self) -> Option<&'static str>;

    /// Decodes format 1 bytes (after the format byte). Records whose shape changed since
    /// decode their old shape here; the others read the same in both formats.
    fn format_1(rest: &[u8]) -> Result<Self, super::codec::Error> {
        super::codec::bincode(rest)
    }
}

/// Names are validated before they are stored (`names.rs`); none is empty.
fn empty(name: &str, what: &'static str) -> Option<&'static str> {
    name.is_empty().then_some(what)
}

impl Record for OwnerRec {
    fn invalid(&self) -> Option<&'static str> {
        empty(&self.name, "owner without a name")
    }
}

impl Record for TokenRec {
    fn invalid(&self) -> Option<&'static str> {
        empty(&self.user, "token of no user")
    }
}

impl Record for PackageRec {
    fn invalid(&self) -> Option<&'static str> {
        empty(&self.name, "package without a name")
    }

    fn format_1(rest: &[u8]) -> Result<Self, super::codec::Error> {
        super::codec::bincode::<v1::PackageRec>(rest).map(Into::into)
    }
}

impl Record for VersionRec {
    fn invalid(&self) -> Option<&'static str> {
        empty(&self.version, "version without a name")
    }

    fn format_1(rest: &[u8]) -> Result<Self, super::codec::Error> {
        super::codec::bincode::<v1::VersionRec>(rest).map(Into::into)
    }
}

impl Record for FileRec {
    fn invalid(&self) -> Option<&'static str> {
        empty(&self.name, "file without a name")
    }

    fn format_1(rest: &[u8]) -> Result<Self, super::codec::Error> {
        super::codec::bincode::<v1::FileRec>(rest).map(Into::into)
    }
}

impl Record for BlobRec {
    fn invalid(&self) -> Option<&'static str> {
        let chunked = self.size.checked_sub(self.inline.len() as u64);
        if self.chunk_size == 0 {
            Some("blob with a chunk size of 0")
        } else if chunked.is_none() {
            Some("blob with more inline bytes than its size")
        } else if chunked.unwrap_or(0).div_ceil(u64::from(self.chunk_size)) > u64::from(u32::MAX) {
            // Chunk indexes are u32 (`CHUNKS`): such a blob could not have been stored.
            Some("blob with more chunks than a chunk index can number")
        } else if self.refs == 0 {
            // The last release of a blob deletes it; a stored blob has a file pointing at it.
            Some("blob with no reference")
        } else {
            None
        }
    }

    /// Format 2 added `inline`; a format 1 blob has every byte in chunks.
    fn format_1(rest: &[u8]) -> Result<Self, codec::Error> {
        codec::bincode::<v1::BlobRec>(rest).map(Into::into)
    }
}

impl Record for SessionRec {
    fn invalid(&self) -> Option<&'static str> {
        empty(&self.user, "session of no user")
    }
}

impl Record for RuleRec {
    fn invalid(&self) -> Option<&'static str> {
        match self.kind.as_str() {
            "generic" | "go" => None,
            _ => Some("cleanup rule of an unknown package type"),
        }
    }
}

/// Any counts are possible.
impl Record for UsageRec {
    fn invalid(&self) -> Option<&'static str> {
        None
    }
}

/// Any limits are possible (0 refuses every write).
impl Record for QuotaRec {
    fn invalid(&self) -> Option<&'static str> {
        None
    }
}

/// A user or an organization; both share one name space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRec {
    /// The spelling it was created with.
    pub name: String,
    pub kind: OwnerKind,
    /// Private owners' packages are readable only by the owner, members and admins.
    pub private: bool,
    pub created: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnerKind {
    /// `password_hash` is an argon2id PHC string.
    User {
        password_hash: String,
        admin: bool,
    },
    Org,
}

/// What an organization member may do with the organization's packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Read,
    Write,
}

/// An access token; the table key is the sha256 of the secret, which is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRec {
    /// Key (case-folded name) of the user it acts for.
    pub user: String,
    pub label: String,
    pub write: bool,
    pub created: u64,
    pub expires: Option<u64>,
}

/// A package and what its listings need, kept in the same transaction as every change to
/// its versions and files (format 2; format 1 had only `name` and `created`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRec {
    pub name: String,
    pub created: u64,
    /// The version "latest" means (`packages::latest_version`), as spelled.
    pub latest: Option<String>,
    pub versions: u64,
    pub files: u64,
    /// Sum of its files' sizes.
    pub size: u64,
    /// When a version or file of it was last added or deleted.
    pub updated: u64,
}

/// Who published a version: the user's id and key at the time (a later user of the same
/// name has another id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub id: u64,
    pub key: String,
}

/// Where a version sits in the lists it belongs to (`lists.rs`): the owner's versions, the
/// owner's versions of its type, the package's versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seqs {
    pub owner: u64,
    pub kind: u64,
    pub package: u64,
}

/// Format 2; format 1 had only `version`, `created` and `order`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRec {
    pub version: String,
    pub created: u64,
    /// Creation order (`clock::ordinal`): "latest" is the highest, even within one second.
    pub order: u64,
    /// Stable id (the API's `Package.id`), from the store's id counter.
    pub id: u64,
    /// `None` for versions stored before creators were recorded.
    pub creator: Option<Creator>,
    pub files: u64,
    pub size: u64,
    pub seqs: Seqs,
}

/// Format 2; format 1 lacked `id` and `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRec {
    pub name: String,
    /// Id of the blob holding the content (see `BLOBS`).
    pub blob: u64,
    pub sha256: [u8; 32],
    pub size: u64,
    pub created: u64,
    /// Stable id (the API's `PackageFile.id`), from the store's id counter.
    pub id: u64,
    /// Its place in the version's list of files (`lists.rs`).
    pub seq: u64,
}

/// The records as format 1 wrote them; decoded into the current ones with the new fields
/// zero, which opening a database of layout 2 then fills in (`mod.rs`).
pub(super) mod v1 {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct PackageRec {
        pub name: String,
        pub created: u64,
    }

    #[derive(Deserialize)]
    pub struct VersionRec {
        pub version: String,
        pub created: u64,
        pub order: u64,
    }

    #[derive(Deserialize)]
    pub struct FileRec {
        pub name: String,
        pub blob: u64,
        pub sha256: [u8; 32],
        pub size: u64,
        pub created: u64,
    }

    #[derive(Deserialize)]
    pub struct BlobRec {
        pub sha256: [u8; 32],
        pub size: u64,
        pub chunk_size: u32,
        pub refs: u64,
    }

    impl From<BlobRec> for super::BlobRec {
        fn from(r: BlobRec) -> Self {
            super::BlobRec {
                sha256: r.sha256,
                size: r.size,
                chunk_size: r.chunk_size,
                refs: r.refs,
                inline: Vec::new(),
            }
        }
    }

    impl From<PackageRec> for super::PackageRec {
        fn from(r: PackageRec) -> Self {
            super::PackageRec { name: r.name, created: r.created, ..Default::default() }
        }
    }

    impl From<VersionRec> for super::VersionRec {
        fn from(r: VersionRec) -> Self {
            super::VersionRec { version: r.version, created: r.created, order: r.order, ..Default::default() }
        }
    }

    impl From<FileRec> for super::FileRec {
        fn from(r: FileRec) -> Self {
            super::FileRec {
                name: r.name,
                blob: r.blob,
                sha256: r.sha256,
                size: r.size,
                created: r.created,
                ..Default::default()
            }
        }
    }
}

/// One distinct content: its first `size - inline.len()` bytes as chunks `(id, 0..n)` in
/// `CHUNKS` (each `chunk_size` bytes but the last), the rest in `inline`.
///
/// A large upload is all chunks (`inline` empty). Content of at most `blobs::SMALL_MAX` bytes
/// is written whole when it is adopted: chunks of `blobs::PIECE` bytes, each filling one
/// database page, and the remainder inline, so a file smaller than a piece is found and read
/// with this one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRec {
    pub sha256: [u8; 32],
    pub size: u64,
    /// Size of every chunk but the last, in bytes.
    pub chunk_size: u32,
    /// Number of files pointing at this blob; the blob is deleted when it reaches 0.
    pub refs: u64,
    /// The content's last bytes, stored in the record itself.
    pub inline: Vec<u8>,
}

impl BlobRec {
    /// Bytes of the content held in chunks.
    pub fn chunked_len(&self) -> u64 {
        self.size - self.inline.len() as u64
    }

    /// Number of chunks the blob has.
    pub fn chunk_count(&self) -> u32 {
        self.chunked_len().div_ceil(u64::from(self.chunk_size)) as u32
    }
}

/// What an owner holds: the sum of its files' sizes (each file counted, even when its
/// content is shared) and its number of versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRec {
    pub bytes: u64,
    pub versions: u64,
}

/// Limits an admin set for an owner; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaRec {
    pub max_bytes: Option<u64>,
    pub max_versions: Option<u64>,
}

/// A web session; the table key is the sha256 of the session id, which is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRec {
    /// Key (case-folded name) of the signed-in user.
    pub user: String,
    pub created: u64,
    /// The session ends at this time (seconds), whatever happens before.
    pub expires: u64,
}

/// A cleanup rule of an owner (Gitea's fields and meaning; `cleanup.rs` applies it). The
/// patterns were checked to compile when the rule was made; empty means "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRec {
    /// Stable id, from the store's id counter.
    pub id: u64,
    pub enabled: bool,
    /// The package type it applies to (`PackageType::as_str`).
    pub kind: String,
    /// The newest versions of each package that are always kept.
    pub keep_count: u64,
    /// Versions matching it are always kept.
    pub keep_pattern: String,
    /// Only versions at least this many days old are removed (0: any age).
    pub remove_days: u64,
    /// Only versions matching it are removed (empty: every version).
    pub remove_pattern: String,
    /// Patterns match `package/version` instead of the version alone.
    pub match_full_name: bool,
    pub created: u64,
}
