//! Packages, versions and files: storing sealed uploads as files, opening files for
//! reading, deleting files and versions, and the read-side listings of the management API.
//!
//! The content of a file is a blob (`blobs.rs`): this module adopts sealed content as a file
//! and releases a file's blob when the file goes, in the same transaction as the file
//! records. The dependency runs one way: `blobs.rs` knows nothing of files.
//!
//! Invariants (kept in the same transaction as the change that could break them):
//! 1. A version exists iff it has at least one file; a package iff it has a version.
//! 2. Names are unique per parent case-insensitively; records keep the first spelling.
//! 3. A file points at exactly one blob and holds one of its references.

use bytes::Bytes;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::blobs::{self, BlobReader, Reaper, Sealed, Staged};
use super::records::{FileRec, PackageRec, VersionRec};
use super::tables::{FILES, OWNERS, PACKAGES, VERSIONS};
use super::{codec, get_rec, Error, Refusal, Result, Store, What};
use crate::names::key;

/// The type of a package: which API serves it and how its names compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageType {
    /// Release files of any kind (docs/api.md).
    Generic,
    /// Go modules (docs/go-modules.md).
    Go,
}

impl PackageType {
    /// The type's name in URLs, JSON and messages, and its part of every package, version and
    /// file key on disk: changing a spelling here would orphan every stored package of it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PackageType::Generic => "generic",
            PackageType::Go => "go",
        }
    }

    /// The type named `s` exactly (as in a URL or a table key); `None` for any other string.
    pub fn parse(s: &str) -> Option<PackageType> {
        [PackageType::Generic, PackageType::Go].into_iter().find(|t| t.as_str() == s)
    }

    /// The type of a key read from a table.
    fn of_key(s: &str) -> Result<PackageType> {
        PackageType::parse(s).ok_or_else(|| Error::corrupt(format!("unknown package type {s:?} in a key")))
    }
}

impl std::fmt::Display for PackageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a file goes (or is looked up): names as the client spelled them.
#[derive(Debug, Clone)]
pub struct FileTarget {
    pub owner: String,
    pub kind: PackageType,
    pub package: String,
    pub version: String,
    pub file: String,
}

impl FileTarget {
    /// The table key: (owner, package, version, file) keys.
    pub(crate) fn keys(&self) -> (String, String, String, String) {
        let k = self.kind;
        (key(&self.owner), name_key(k, &self.package), name_key(k, &self.version), name_key(k, &self.file))
    }
}

/// The key a package, version or file name is stored under. Generic names compare
/// case-insensitively (docs/api.md, Names); Go module paths and versions are case-sensitive, which is
/// what the go command's case encoding is for (docs/go-modules.md). Owners always fold case.
pub(crate) fn name_key(kind: PackageType, name: &str) -> String {
    if kind == PackageType::Go {
        name.to_string()
    } else {
        key(name)
    }
}

/// One package of an owner, for listings.
#[derive(Debug, Clone)]
pub struct PackageSummary {
    pub kind: PackageType,
    pub name: String,
    pub created: u64,
    pub versions: u64,
    /// The most recently created version.
    pub latest: Option<String>,
}

/// One version of a package, for listings.
#[derive(Debug, Clone)]
pub struct VersionSummary {
    pub version: String,
    pub created: u64,
    pub files: u64,
    pub size: u64,
}

/// The version a package's "latest" means: for a Go module what the go command's `@latest`
/// resolves to (highest release, else highest pre-release; docs/go-modules.md), for any other package
/// the version created last. Takes (version, creation order) pairs.
pub fn latest_version<'a>(
    kind: PackageType,
    versions: impl IntoIterator<Item = (&'a str, u64)>,
) -> Option<&'a str> {
    if kind == PackageType::Go {
        crate::gomod::semver::latest(versions.into_iter().map(|(v, _)| v))
    } else {
        versions.into_iter().max_by_key(|(_, order)| *order).map(|(v, _)| v)
    }
}

/// Picks [`latest_version`] from `versions`, which [`Store::versions`] lists oldest first.
pub fn latest_of(kind: PackageType, versions: Vec<VersionSummary>) -> Option<VersionSummary> {
    let ordered = versions.iter().enumerate().map(|(i, v)| (v.version.as_str(), i as u64));
    let best = latest_version(kind, ordered)?.to_string();
    versions.into_iter().find(|v| v.version == best)
}

/// A file opened for reading: its record and its content, consistent whatever is deleted
/// meanwhile (see [`BlobReader`]).
pub struct FileReader {
    pub file: FileRec,
    content: BlobReader,
    /// The cache generation before the snapshot was taken (see `cache.rs`).
    pub(crate) generation: u64,
}

impl FileReader {
    fn new(store: &Store, tx: ReadTransaction, file: FileRec, generation: u64) -> Result<FileReader> {
        let content = BlobReader::open(store, tx, file.blob)?
            .ok_or_else(|| Error::corrupt(format!("file {:?} points at missing blob", file.name)))?;
        if content.size() != file.size || content.sha256() != file.sha256 {
            return Err(Error::corrupt(format!("file {:?} disagrees with its blob", file.name)));
        }
        Ok(FileReader { file, content, generation })
    }

    /// Trades the snapshot for a lease on the content, for a transfer that may take long
    /// ([`BlobReader::into_leased`]). Blocks.
    pub fn into_leased(self) -> FileReader {
        FileReader { content: self.content.into_leased(), ..self }
    }

    /// Calls `sink` with consecutive pieces of bytes `start..end` (each at most
    /// [`blobs::READ_PIECE`]); stops early when `sink` returns false (the reader went away).
    ///
    /// # Errors
    /// [`Error::Corrupt`] when a chunk is missing or of the wrong size.
    pub fn read(&self, start: u64, end: u64, sink: impl FnMut(Bytes) -> bool) -> Result<()> {
        self.content.read(start, end, sink)
    }

    /// Whether the content is in the object store: then stream it with
    /// [`FileReader::object_range`], which needs no blocking thread.
    pub fn in_object_store(&self) -> bool {
        self.content.in_object_store()
    }

    /// Streams bytes `start..end` of content in the object store.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store does not answer (before any byte).
    pub async fn object_range(&self, start: u64, end: u64) -> Result<super::ObjectStream> {
        self.content.object_range(start, end).await
    }

    /// A short-lived presigned URL for the content, when it is in an object store set to
    /// redirect downloads (`--s3-redirect`).
    pub fn presigned_url(&self) -> Option<String> {
        self.content.presigned(&self.file.name)
    }
}

/// What became of content offered to the store as new files.
#[derive(Debug)]
pub enum Added<T = FileRec> {
    /// Stored, durably: the new file's record (or the new version's records).
    Stored(T),
    /// Refused, for this reason; nothing was stored and the content is gone.
    Refused(Refusal),
}

impl<T> Added<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Added<U> {
        match self {
            Added::Stored(t) => Added::Stored(f(t)),
            Added::Refused(r) => Added::Refused(r),
        }
    }
}

/// Adds the file described by `target` with the staged content, creating its package and
/// version as needed. A refusal discards the staged chunks in the same transaction, so a
/// refused upload leaves nothing behind.
fn add_file(tx: &WriteTransaction, target: &FileTarget, staged: &Staged) -> Result<Added> {
    let added = put_files(tx, target, &[(target.file.as_str(), staged)], What::File)?;
    Ok(added.map(|mut recs| recs.remove(0)))
}

/// Creates the version `at` (its `file` is ignored) whole from `files`; refused when the
/// version exists already. A refusal discards every staged content, like [`add_file`].
fn add_version(
    tx: &WriteTransaction,
    at: &FileTarget,
    files: &[(&str, &Staged)],
) -> Result<Added<Vec<FileRec>>> {
    put_files(tx, at, files, What::Version)
}

/// Adds `files` to the version of `at`, creating package and version as needed. Refused
/// when the owner is missing, when `conflict` (the version, or a file) exists, or by quota.
fn put_files(
    tx: &WriteTransaction,
    at: &FileTarget,
    files: &[(&str, &Staged)],
    conflict: What,
) -> Result<Added<Vec<FileRec>>> {
    let (o, p, v, _) = at.keys();
    let k = at.kind.as_str();
    let mut table = tx.open_table(FILES)?;
    let exists = |t: &redb::Table<_, _>, f: &str| -> Result<bool> {
        Ok(t.get((o.as_str(), k, p.as_str(), v.as_str(), name_key(at.kind, f).as_str()))?.is_some())
    };
    let refusal = if tx.open_table(OWNERS)?.get(o.as_str())?.is_none() {
        Some(Refusal::NotFound(What::Owner))
    } else if conflict == What::Version
        && tx.open_table(VERSIONS)?.get((o.as_str(), k, p.as_str(), v.as_str()))?.is_some()
    {
        Some(Refusal::Exists(What::Version))
    } else if files.iter().try_fold(false, |any, (f, _)| Ok::<_, Error>(any || exists(&table, f)?))? {
        Some(Refusal::Exists(What::File))
    } else {
        None
    };
    let new_version = tx.open_table(VERSIONS)?.get((o.as_str(), k, p.as_str(), v.as_str()))?.is_none();
    let bytes: u64 = files.iter().map(|(_, s)| s.size).sum();
    let refusal = match refusal {
        Some(r) => Some(r),
        None => {
            super::quotas::exceeded(tx, &o, &at.owner, bytes, u64::from(new_version))?.map(Refusal::Quota)
        }
    };
    if let Some(r) = refusal {
        for (_, staged) in files {
            blobs::discard(tx, staged)?;
        }
        return Ok(Added::Refused(r));
    }
    super::quotas::account(tx, &o, bytes as i64, i64::from(new_version))?;
    let now = crate::clock::now();
    let mut packages = tx.open_table(PACKAGES)?;
    if packages.get((o.as_str(), k, p.as_str()))?.is_none() {
        let rec = PackageRec { name: at.package.clone(), created: now };
        packages.insert((o.as_str(), k, p.as_str()), codec::encode(&rec).as_slice())?;
    }
    let mut versions = tx.open_table(VERSIONS)?;
    if versions.get((o.as_str(), k, p.as_str(), v.as_str()))?.is_none() {
        let rec = VersionRec { version: at.version.clone(), created: now, order: crate::clock::ordinal() };
        versions.insert((o.as_str(), k, p.as_str(), v.as_str()), codec::encode(&rec).as_slice())?;
    }
    let mut out = Vec::with_capacity(files.len());
    for (name, staged) in files {
        let blob = blobs::adopt(tx, staged)?;
        let rec =
            FileRec { name: name.to_string(), blob, sha256: staged.sha256, size: staged.size, created: now };
        let f = name_key(at.kind, name);
        table.insert((o.as_str(), k, p.as_str(), v.as_str(), f.as_str()), codec::encode(&rec).as_slice())?;
        out.push(rec);
    }
    Ok(Added::Stored(out))
}

/// Deletes one file; an emptied version and package go with it.
fn delete_file(tx: &WriteTransaction, t: &FileTarget, reaper: &Reaper) -> Result<()> {
    let (o, p, v, f) = t.keys();
    let k = t.kind.as_str();
    let rec: FileRec = {
        let files = tx.open_table(FILES)?;
        get_rec(&files, (o.as_str(), k, p.as_str(), v.as_str(), f.as_str()))?
            .ok_or(Error::NotFound(What::File))?
    };
    tx.open_table(FILES)?.remove((o.as_str(), k, p.as_str(), v.as_str(), f.as_str()))?;
    blobs::release(tx, rec.blob, reaper)?;
    let version_gone = prune(tx, &o, k, &p, &v)?;
    super::quotas::account(tx, &o, -(rec.size as i64), -i64::from(version_gone))
}

/// Deletes a version and all its files; an emptied package goes with it.
fn delete_version(tx: &WriteTransaction, o: &str, k: &str, p: &str, v: &str, reaper: &Reaper) -> Result<()> {
    if tx.open_table(VERSIONS)?.get((o, k, p, v))?.is_none() {
        return Err(Error::NotFound(What::Version));
    }
    let mut bytes = 0u64;
    let removed: Vec<u64> = {
        let mut files = tx.open_table(FILES)?;
        let mut blobs = Vec::new();
        let range = (o, k, p, v, "")..;
        let mut keys = Vec::new();
        for entry in files.range(range)? {
            let (key, value) = entry?;
            let (ko, kk, kp, kv, kf) = key.value();
            if (ko, kk, kp, kv) != (o, k, p, v) {
                break;
            }
            let rec: FileRec = codec::decode(value.value())?;
            blobs.push(rec.blob);
            bytes += rec.size;
            keys.push(kf.to_string());
        }
        for kf in &keys {
            files.remove((o, k, p, v, kf.as_str()))?;
        }
        blobs
    };
    for id in removed {
        blobs::release(tx, id, reaper)?;
    }
    tx.open_table(VERSIONS)?.remove((o, k, p, v))?;
    prune(tx, o, k, p, v)?;
    super::quotas::account(tx, o, -(bytes as i64), -1)
}

/// Removes the version when it has no file left, and the package when it has no version.
/// Returns whether the version was removed.
fn prune(tx: &WriteTransaction, o: &str, k: &str, p: &str, v: &str) -> Result<bool> {
    let has_file = {
        let files = tx.open_table(FILES)?;
        let mut range = files.range((o, k, p, v, "")..)?;
        let first = match range.next() {
            Some(entry) => {
                let (key, _) = entry?;
                let (ko, kk, kp, kv, _) = key.value();
                (ko, kk, kp, kv) == (o, k, p, v)
            }
            None => false,
        };
        first
    };
    if has_file {
        return Ok(false);
    }
    let mut versions = tx.open_table(VERSIONS)?;
    versions.remove((o, k, p, v))?;
    let has_version = match versions.range((o, k, p, "")..)?.next() {
        Some(entry) => {
            let (key, _) = entry?;
            let (ko, kk, kp, _) = key.value();
            (ko, kk, kp) == (o, k, p)
        }
        None => false,
    };
    if !has_version {
        tx.open_table(PACKAGES)?.remove((o, k, p))?;
    }
    Ok(true)
}

fn versions_of(tx: &ReadTransaction, o: &str, k: &str, p: &str) -> Result<Vec<VersionRec>> {
    let table = tx.open_table(VERSIONS)?;
    let mut out = Vec::new();
    for entry in table.range((o, k, p, "")..)? {
        let (key, value) = entry?;
        let (ko, kk, kp, _) = key.value();
        if (ko, kk, kp) != (o, k, p) {
            break;
        }
        out.push(codec::decode(value.value())?);
    }
    Ok(out)
}

fn files_of(tx: &ReadTransaction, o: &str, k: &str, p: &str, v: &str) -> Result<Vec<FileRec>> {
    let table = tx.open_table(FILES)?;
    let mut out = Vec::new();
    for entry in table.range((o, k, p, v, "")..)? {
        let (key, value) = entry?;
        let (ko, kk, kp, kv, _) = key.value();
        if (ko, kk, kp, kv) != (o, k, p, v) {
            break;
        }
        out.push(codec::decode(value.value())?);
    }
    Ok(out)
}

fn summarize(
    tx: &ReadTransaction,
    o: &str,
    kind: PackageType,
    p: &str,
    v: VersionRec,
) -> Result<VersionSummary> {
    let files = files_of(tx, o, kind.as_str(), p, &name_key(kind, &v.version))?;
    Ok(VersionSummary {
        version: v.version,
        created: v.created,
        files: files.len() as u64,
        size: files.iter().map(|f| f.size).sum(),
    })
}

impl Store {
    /// Stores a sealed upload as the file `target`, creating its package and version as
    /// needed. Returns after the commit is durable. Refused when `expect` differs from the
    /// content's sha256, when the file name is taken (case-insensitively:
    /// [`Refusal::Exists`]), when the owner is gone, or by quota.
    ///
    /// # Errors
    /// Storage errors. Refused or failed, the content is discarded and nothing is visible.
    pub async fn add_file(
        &self,
        content: Sealed,
        target: FileTarget,
        expect: Option<[u8; 32]>,
    ) -> Result<Added> {
        if expect.is_some_and(|e| e != content.sha256()) {
            return Ok(Added::Refused(Refusal::ChecksumMismatch));
        }
        content.commit(move |tx, staged| add_file(tx, &target, staged)).await
    }

    /// Publishes a Go module version: its zip (the sealed upload, as uploaded) and its
    /// go.mod, as the files `{version}.zip` and `{version}.mod` of version `version` of
    /// package `module`, in one durable commit. Refused ([`Refusal::Exists`]) when the module
    /// version exists, when the owner is gone, or by quota.
    ///
    /// # Errors
    /// Storage errors. Refused or failed, nothing is stored.
    pub async fn add_module_version(
        &self,
        zip: Sealed,
        owner: &str,
        module: &str,
        version: &str,
        go_mod: Vec<u8>,
    ) -> Result<Added<Vec<FileRec>>> {
        let at = FileTarget {
            owner: owner.to_string(),
            kind: PackageType::Go,
            package: module.to_string(),
            version: version.to_string(),
            file: String::new(),
        };
        let mod_blob = self.next_blob_id();
        let (zip_name, mod_name) = (format!("{version}.zip"), format!("{version}.mod"));
        zip.commit(move |tx, staged| {
            let go_mod = blobs::stage_inline(tx, mod_blob, &go_mod)?;
            add_version(tx, &at, &[(zip_name.as_str(), staged), (mod_name.as_str(), &go_mod)])
        })
        .await
    }

    /// Opens a file for reading from a snapshot; `None` when any part of its path is absent.
    pub fn open_file(&self, t: &FileTarget) -> Result<Option<FileReader>> {
        let generation = self.inner.cache.generation();
        let tx = self.read()?;
        let file: Option<FileRec> = {
            let files = tx.open_table(FILES)?;
            let k = t.keys();
            get_rec(&files, (k.0.as_str(), t.kind.as_str(), k.1.as_str(), k.2.as_str(), k.3.as_str()))?
        };
        match file {
            Some(file) => Ok(Some(FileReader::new(self, tx, file, generation)?)),
            None => Ok(None),
        }
    }

    /// The first part of `t`'s path that does not exist: the owner, the package, the
    /// version, or (with a non-empty `t.file`) the file; `None` when all of them exist.
    /// For messages that say what a 404 is about.
    pub fn first_missing(&self, t: &FileTarget) -> Result<Option<What>> {
        let tx = self.read()?;
        let (o, p, v, f) = t.keys();
        let kind = t.kind.as_str();
        Ok(if tx.open_table(OWNERS)?.get(o.as_str())?.is_none() {
            Some(What::Owner)
        } else if tx.open_table(PACKAGES)?.get((o.as_str(), kind, p.as_str()))?.is_none() {
            Some(What::Package)
        } else if tx.open_table(VERSIONS)?.get((o.as_str(), kind, p.as_str(), v.as_str()))?.is_none() {
            Some(What::Version)
        } else if !t.file.is_empty()
            && tx.open_table(FILES)?.get((o.as_str(), kind, p.as_str(), v.as_str(), f.as_str()))?.is_none()
        {
            Some(What::File)
        } else {
            None
        })
    }

    /// The file record at `t`, without opening its content.
    pub fn file(&self, t: &FileTarget) -> Result<Option<FileRec>> {
        let tx = self.read()?;
        let files = tx.open_table(FILES)?;
        let k = t.keys();
        get_rec(&files, (k.0.as_str(), t.kind.as_str(), k.1.as_str(), k.2.as_str(), k.3.as_str()))
    }

    /// Deletes one file (and its version and package when they become empty).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the file does not exist.
    pub fn delete_file(&self, t: FileTarget) -> Result<()> {
        self.write_reaping(move |tx, reaper| delete_file(tx, &t, reaper))
    }

    /// Deletes a version with all of its files.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the version does not exist.
    pub fn delete_version(&self, owner: &str, kind: PackageType, package: &str, version: &str) -> Result<()> {
        let (o, p, v) = (key(owner), name_key(kind, package), name_key(kind, version));
        self.write_reaping(move |tx, reaper| delete_version(tx, &o, kind.as_str(), &p, &v, reaper))
    }

    /// The packages of `owner`, optionally of one type, sorted by type and name.
    pub fn packages(&self, owner: &str, kind: Option<PackageType>) -> Result<Vec<PackageSummary>> {
        let tx = self.read()?;
        let o = key(owner);
        let table = tx.open_table(PACKAGES)?;
        let mut out = Vec::new();
        for entry in table.range((o.as_str(), "", "")..)? {
            let (k, value) = entry?;
            let (ko, kk, kp) = k.value();
            if ko != o {
                break;
            }
            if kind.is_some_and(|want| want.as_str() != kk) {
                continue;
            }
            let k = PackageType::of_key(kk)?;
            let rec: PackageRec = codec::decode(value.value())?;
            let versions = versions_of(&tx, &o, kk, kp)?;
            let latest =
                latest_version(k, versions.iter().map(|v| (v.version.as_str(), v.order))).map(str::to_string);
            out.push(PackageSummary {
                kind: k,
                name: rec.name,
                created: rec.created,
                versions: versions.len() as u64,
                latest,
            });
        }
        Ok(out)
    }

    /// The spelling a package was created with; `None` when it does not exist.
    pub fn package_name(&self, owner: &str, kind: PackageType, package: &str) -> Result<Option<String>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), name_key(kind, package));
        let rec: Option<PackageRec> =
            get_rec(&tx.open_table(PACKAGES)?, (o.as_str(), kind.as_str(), p.as_str()))?;
        Ok(rec.map(|r| r.name))
    }

    /// The versions of a package, oldest first; `None` when the package does not exist.
    pub fn versions(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
    ) -> Result<Option<Vec<VersionSummary>>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), name_key(kind, package));
        let mut versions = versions_of(&tx, &o, kind.as_str(), &p)?;
        if versions.is_empty() {
            return Ok(None);
        }
        versions.sort_by_key(|v| v.order);
        let out =
            versions.into_iter().map(|v| summarize(&tx, &o, kind, &p, v)).collect::<Result<Vec<_>>>()?;
        Ok(Some(out))
    }

    /// One version; `None` when it does not exist.
    pub fn version(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
        version: &str,
    ) -> Result<Option<VersionSummary>> {
        let tx = self.read()?;
        let (o, p, v) = (key(owner), name_key(kind, package), name_key(kind, version));
        let rec: Option<VersionRec> =
            get_rec(&tx.open_table(VERSIONS)?, (o.as_str(), kind.as_str(), p.as_str(), v.as_str()))?;
        rec.map(|rec| summarize(&tx, &o, kind, &p, rec)).transpose()
    }

    /// The files of a version, sorted by name key; `None` when the version does not exist.
    pub fn files(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
        version: &str,
    ) -> Result<Option<Vec<FileRec>>> {
        let tx = self.read()?;
        let (o, p, v) = (key(owner), name_key(kind, package), name_key(kind, version));
        let files = files_of(&tx, &o, kind.as_str(), &p, &v)?;
        Ok(if files.is_empty() { None } else { Some(files) })
    }
}

#[cfg(test)]
mod tests {
    use super::PackageType;

    /// The spellings are part of every package, version and file key on disk.
    #[test]
    fn package_type_names_are_pinned() {
        assert_eq!(PackageType::Generic.as_str(), "generic");
        assert_eq!(PackageType::Go.as_str(), "go");
        for t in [PackageType::Generic, PackageType::Go] {
            assert_eq!(PackageType::parse(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(PackageType::parse("Go"), None, "exact spelling only");
        assert_eq!(PackageType::parse("npm"), None);
    }
}
