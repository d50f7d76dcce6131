//! The records stored as table values, encoded by [`super::codec`].
//!
//! Changing a field here changes the file format: add a new format in `codec.rs` and keep
//! decoding the old one. Times are seconds since the Unix epoch.

use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRec {
    pub name: String,
    pub created: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRec {
    pub version: String,
    pub created: u64,
    /// Creation order (`clock::ordinal`): "latest" is the highest, even within one second.
    pub order: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRec {
    pub name: String,
    /// Id of the blob holding the content (see `BLOBS`).
    pub blob: u64,
    pub sha256: [u8; 32],
    pub size: u64,
    pub created: u64,
}

/// One distinct content, stored as chunks `(id, 0..n)` in `CHUNKS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRec {
    pub sha256: [u8; 32],
    pub size: u64,
    /// Size of every chunk but the last, in bytes.
    pub chunk_size: u32,
    /// Number of files pointing at this blob; the blob is deleted when it reaches 0.
    pub refs: u64,
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
