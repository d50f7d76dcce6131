//! Packages, versions and files: creating a file from an upload, deleting files and
//! versions, and the read-side listings of the management API.
//!
//! Invariants (kept in the same transaction as the change that could break them):
//! 1. A version exists iff it has at least one file; a package iff it has a version.
//! 2. Names are unique per parent case-insensitively; records keep the first spelling.
//! 3. A file points at exactly one blob and holds one of its references.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::blobs::{self, FileReader, Staged};
use super::records::{FileRec, PackageRec, VersionRec};
use super::tables::{FILES, OWNERS, PACKAGES, VERSIONS};
use super::{codec, get_rec, Error, Result, Store, What};
use crate::names::key;

/// Where a file goes (or is looked up): names as the client spelled them.
#[derive(Debug, Clone)]
pub struct FileTarget {
    pub owner: String,
    /// `"generic"` or `"go"`.
    pub kind: &'static str,
    pub package: String,
    pub version: String,
    pub file: String,
}

/// One package of an owner, for listings.
#[derive(Debug, Clone)]
pub struct PackageSummary {
    pub kind: String,
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

/// Adds the file described by `target` with the staged content, creating its package and
/// version as needed. A refusal (`Ok(Err(..))`) discards the staged chunks in the same
/// transaction, so a refused upload leaves nothing behind.
pub(crate) fn add_file(
    tx: &WriteTransaction,
    target: &FileTarget,
    staged: &Staged,
) -> Result<Result<FileRec>> {
    let (o, k, p, v, f) =
        (key(&target.owner), target.kind, key(&target.package), key(&target.version), key(&target.file));
    let mut files = tx.open_table(FILES)?;
    let refusal = if tx.open_table(OWNERS)?.get(o.as_str())?.is_none() {
        Some(Error::NotFound(What::Owner))
    } else if files.get((o.as_str(), k, p.as_str(), v.as_str(), f.as_str()))?.is_some() {
        Some(Error::Exists(What::File))
    } else {
        None
    };
    if let Some(e) = refusal {
        blobs::discard(tx, staged.blob, staged.chunks, staged.marked)?;
        return Ok(Err(e));
    }
    let now = crate::clock::now();
    let blob = blobs::adopt(tx, staged)?;
    let mut packages = tx.open_table(PACKAGES)?;
    if packages.get((o.as_str(), k, p.as_str()))?.is_none() {
        let rec = PackageRec { name: target.package.clone(), created: now };
        packages.insert((o.as_str(), k, p.as_str()), codec::encode(&rec).as_slice())?;
    }
    let mut versions = tx.open_table(VERSIONS)?;
    if versions.get((o.as_str(), k, p.as_str(), v.as_str()))?.is_none() {
        let rec =
            VersionRec { version: target.version.clone(), created: now, order: crate::clock::ordinal() };
        versions.insert((o.as_str(), k, p.as_str(), v.as_str()), codec::encode(&rec).as_slice())?;
    }
    let rec =
        FileRec { name: target.file.clone(), blob, sha256: staged.sha256, size: staged.size, created: now };
    files.insert((o.as_str(), k, p.as_str(), v.as_str(), f.as_str()), codec::encode(&rec).as_slice())?;
    Ok(Ok(rec))
}

/// Deletes one file; an emptied version and package go with it.
fn delete_file(tx: &WriteTransaction, t: &FileTarget) -> Result<()> {
    let (o, p, v, f) = (key(&t.owner), key(&t.package), key(&t.version), key(&t.file));
    let rec: FileRec = {
        let files = tx.open_table(FILES)?;
        get_rec(&files, (o.as_str(), t.kind, p.as_str(), v.as_str(), f.as_str()))?
            .ok_or(Error::NotFound(What::File))?
    };
    tx.open_table(FILES)?.remove((o.as_str(), t.kind, p.as_str(), v.as_str(), f.as_str()))?;
    blobs::release(tx, rec.blob)?;
    prune(tx, &o, t.kind, &p, &v)
}

/// Deletes a version and all its files; an emptied package goes with it.
fn delete_version(tx: &WriteTransaction, o: &str, k: &str, p: &str, v: &str) -> Result<()> {
    if tx.open_table(VERSIONS)?.get((o, k, p, v))?.is_none() {
        return Err(Error::NotFound(What::Version));
    }
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
            keys.push(kf.to_string());
        }
        for kf in &keys {
            files.remove((o, k, p, v, kf.as_str()))?;
        }
        blobs
    };
    for id in removed {
        blobs::release(tx, id)?;
    }
    tx.open_table(VERSIONS)?.remove((o, k, p, v))?;
    prune(tx, o, k, p, v)
}

/// Removes the version when it has no file left, and the package when it has no version.
fn prune(tx: &WriteTransaction, o: &str, k: &str, p: &str, v: &str) -> Result<()> {
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
        return Ok(());
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
    Ok(())
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

fn summarize(tx: &ReadTransaction, o: &str, k: &str, p: &str, v: VersionRec) -> Result<VersionSummary> {
    let files = files_of(tx, o, k, p, &key(&v.version))?;
    Ok(VersionSummary {
        version: v.version,
        created: v.created,
        files: files.len() as u64,
        size: files.iter().map(|f| f.size).sum(),
    })
}

impl Store {
    /// Opens a file for reading from a snapshot; `None` when any part of its path is absent.
    pub fn open_file(&self, t: &FileTarget) -> Result<Option<FileReader>> {
        let generation = self.inner.cache.generation();
        let tx = self.read()?;
        let file: Option<FileRec> = {
            let files = tx.open_table(FILES)?;
            let k = (key(&t.owner), key(&t.package), key(&t.version), key(&t.file));
            get_rec(&files, (k.0.as_str(), t.kind, k.1.as_str(), k.2.as_str(), k.3.as_str()))?
        };
        match file {
            Some(file) => Ok(Some(FileReader::new(tx, file, generation)?)),
            None => Ok(None),
        }
    }

    /// The file record at `t`, without opening its content.
    pub fn file(&self, t: &FileTarget) -> Result<Option<FileRec>> {
        let tx = self.read()?;
        let files = tx.open_table(FILES)?;
        let k = (key(&t.owner), key(&t.package), key(&t.version), key(&t.file));
        get_rec(&files, (k.0.as_str(), t.kind, k.1.as_str(), k.2.as_str(), k.3.as_str()))
    }

    /// Deletes one file (and its version and package when they become empty).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the file does not exist.
    pub fn delete_file(&self, t: FileTarget) -> Result<()> {
        self.write(move |tx| delete_file(tx, &t))
    }

    /// Deletes a version with all of its files.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the version does not exist.
    pub fn delete_version(
        &self,
        owner: &str,
        kind: &'static str,
        package: &str,
        version: &str,
    ) -> Result<()> {
        let (o, p, v) = (key(owner), key(package), key(version));
        self.write(move |tx| delete_version(tx, &o, kind, &p, &v))
    }

    /// The packages of `owner`, optionally of one type, sorted by type and name.
    pub fn packages(&self, owner: &str, kind: Option<&str>) -> Result<Vec<PackageSummary>> {
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
            if kind.is_some_and(|want| want != kk) {
                continue;
            }
            let rec: PackageRec = codec::decode(value.value())?;
            let versions = versions_of(&tx, &o, kk, kp)?;
            let latest = versions.iter().max_by_key(|v| v.order).map(|v| v.version.clone());
            out.push(PackageSummary {
                kind: kk.to_string(),
                name: rec.name,
                created: rec.created,
                versions: versions.len() as u64,
                latest,
            });
        }
        Ok(out)
    }

    /// The spelling a package was created with; `None` when it does not exist.
    pub fn package_name(&self, owner: &str, kind: &str, package: &str) -> Result<Option<String>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), key(package));
        let rec: Option<PackageRec> = get_rec(&tx.open_table(PACKAGES)?, (o.as_str(), kind, p.as_str()))?;
        Ok(rec.map(|r| r.name))
    }

    /// The versions of a package, oldest first; `None` when the package does not exist.
    pub fn versions(&self, owner: &str, kind: &str, package: &str) -> Result<Option<Vec<VersionSummary>>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), key(package));
        let mut versions = versions_of(&tx, &o, kind, &p)?;
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
        kind: &str,
        package: &str,
        version: &str,
    ) -> Result<Option<VersionSummary>> {
        let tx = self.read()?;
        let (o, p, v) = (key(owner), key(package), key(version));
        let rec: Option<VersionRec> =
            get_rec(&tx.open_table(VERSIONS)?, (o.as_str(), kind, p.as_str(), v.as_str()))?;
        rec.map(|rec| summarize(&tx, &o, kind, &p, rec)).transpose()
    }

    /// The files of a version, sorted by name key; `None` when the version does not exist.
    pub fn files(
        &self,
        owner: &str,
        kind: &str,
        package: &str,
        version: &str,
    ) -> Result<Option<Vec<FileRec>>> {
        let tx = self.read()?;
        let (o, p, v) = (key(owner), key(package), key(version));
        let files = files_of(&tx, &o, kind, &p, &v)?;
        Ok(if files.is_empty() { None } else { Some(files) })
    }
}
