//! Packages, versions and files: storing sealed uploads as files, opening files for
//! reading, deleting files and versions, and the read-side listings of the management API.
//!
//! Each package record carries its summary (latest version, counts, size, last update) and
//! each version record its file count and size, and every version and file is an item of
//! the lists of `lists.rs`: all of it changes in the same transaction as the files, so a
//! listing reads one page and a summary, never every version.
//!
//! The content of a file is a blob (`blobs.rs`): this module adopts sealed content as a file
//! and releases a file's blob when the file goes, in the same transaction as the file
//! records. The dependency runs one way: `blobs.rs` knows nothing of files.
//!
//! Invariants (kept in the same transaction as the change that could break them):
//! 1. A version exists iff it has at least one file; a package iff it has a version.
//! 2. Names are unique per parent case-insensitively; records keep the first spelling.
//! 3. A file points at exactly one blob and holds one of its references.
//! 4. A package's summary and a version's tallies equal what its versions and files add up
//!    to; every version is in its three lists and every file in its version's list, at the
//!    sequence number its record holds.

use std::sync::Arc;

use bytes::Bytes;
use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};
use tokio::sync::{oneshot, Notify};

use super::blobs::{self, BlobReader, Committed, Reaper, Sealed, Staged};
use super::hooks::{Action, EventRec};
use super::lists;
use super::quotas;
use super::records::{Creator, FileRec, OwnerRec, PackageRec, Seqs, VersionRec};
use super::tables::{BlobFileKey, FILES, FILES_BY_BLOB, OWNERS, OWNER_IDS, PACKAGES, VERSIONS};
use super::writer::{self, Job};
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

/// A package and its summary, for listings.
#[derive(Debug, Clone)]
pub struct PackageSummary {
    pub kind: PackageType,
    /// Its key in tables and lists.
    pub key: String,
    pub rec: PackageRec,
}

/// Who published a version, resolved for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publisher {
    /// Stored before creators were recorded.
    Unrecorded,
    /// The user, with their id.
    User(u64, OwnerRec),
    /// The user was deleted since.
    Gone,
}

/// One version, for listings: its package's spelling, its record and its publisher.
#[derive(Debug, Clone)]
pub struct VersionSummary {
    pub kind: PackageType,
    pub package: String,
    pub rec: VersionRec,
    pub creator: Publisher,
}

/// A page of a list and the number of items in the whole list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: u64,
    pub items: Vec<T>,
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
fn add_file(
    tx: &WriteTransaction,
    t: &mut UploadTables,
    target: &FileTarget,
    staged: &Staged,
    by: Option<&str>,
) -> Result<Added> {
    let added = put_files(tx, t, target, &[(target.file.as_str(), staged)], What::File, by)?;
    Ok(added.map(|mut recs| recs.remove(0)))
}

/// Creates the version `at` (its `file` is ignored) whole from `files`; refused when the
/// version exists already. A refusal discards every staged content, like [`add_file`].
fn add_version(
    tx: &WriteTransaction,
    at: &FileTarget,
    files: &[(&str, &Staged)],
    by: Option<&str>,
) -> Result<Added<Vec<FileRec>>> {
    put_files(tx, &mut UploadTables::open(tx)?, at, files, What::Version, by)
}

/// The tables a new file changes, open for a whole job. Uploads queued together run as one
/// job ([`AddFiles`]) and share them: a table opens once per transaction, and opening one
/// costs about as much as an insert (with a dozen per upload, a sixth of the writer's time
/// on small uploads). What a new file touches only sometimes (its version's creator and
/// publish event, an object's records) opens its own tables, which must not be among these.
struct UploadTables<'t> {
    files: Table<'t, FileKey, &'static [u8]>,
    versions: Table<'t, (&'static str, &'static str, &'static str, &'static str), &'static [u8]>,
    packages: Table<'t, (&'static str, &'static str, &'static str), &'static [u8]>,
    owners: Table<'t, &'static str, &'static [u8]>,
    by_blob: Table<'t, BlobFileKey, ()>,
    lists: lists::Tables<'t>,
    quota: quotas::Tables<'t>,
    blobs: blobs::Tables<'t>,
    /// Whether a change made through them queued a publish event for a webhook: `AddFiles`
    /// wakes the deliverer by it (a Go module's publish wakes it in any case).
    events: bool,
}

type FileKey = (&'static str, &'static str, &'static str, &'static str, &'static str);

impl<'t> UploadTables<'t> {
    fn open(tx: &'t WriteTransaction) -> Result<UploadTables<'t>> {
        Ok(UploadTables {
            files: tx.open_table(FILES)?,
            versions: tx.open_table(VERSIONS)?,
            packages: tx.open_table(PACKAGES)?,
            owners: tx.open_table(OWNERS)?,
            by_blob: tx.open_table(FILES_BY_BLOB)?,
            lists: lists::Tables::open(tx)?,
            quota: quotas::Tables::open(tx)?,
            blobs: blobs::Tables::open(tx)?,
            events: false,
        })
    }
}

/// New files, each from its own upload (a `PUT` of one file), committed by one writer job:
/// uploads queued behind it merge into it ([`Job::absorb`], before it runs) and share its
/// tables. Each keeps its own outcome (a refusal refuses that file only); a storage error
/// fails the batch, as it would have as separate jobs.
struct AddFiles {
    files: Vec<NewFile>,
    /// The webhook deliverer's signal: the commit woke it when one of the files created a
    /// version that a hook wants to hear of (most uploads add to a version, and queue nothing).
    outbox: Arc<Notify>,
    events: bool,
}

struct NewFile {
    finish: Option<blobs::Finish>,
    target: FileTarget,
    by: Option<String>,
    out: Option<Result<Committed<Added>>>,
    reply: oneshot::Sender<Result<Committed<Added>>>,
}

impl AddFiles {
    fn job(
        finish: blobs::Finish,
        target: FileTarget,
        by: Option<String>,
        outbox: Arc<Notify>,
    ) -> (Box<dyn Job>, oneshot::Receiver<Result<Committed<Added>>>) {
        let (reply, rx) = oneshot::channel();
        let file = NewFile { finish: Some(finish), target, by, out: None, reply };
        (Box::new(AddFiles { files: vec![file], outbox, events: false }), rx)
    }
}

impl Job for AddFiles {
    fn run(&mut self, tx: &WriteTransaction) -> Result<()> {
        let mut t = UploadTables::open(tx)?;
        for f in &mut self.files {
            let finish = f.finish.take().expect("a job runs once");
            f.out = Some(match finish.stage(tx, &mut t.blobs)? {
                Err(lost) => Ok(Committed::ChunksLost(lost)),
                Ok(staged) => writer::outcome(add_file(tx, &mut t, &f.target, &staged, f.by.as_deref()))?
                    .map(Committed::Applied),
            });
        }
        self.events = t.events;
        Ok(())
    }

    fn durable(&self) -> bool {
        true
    }

    /// A new file adds records no reader can have cached (`writer::Call::adding`).
    fn changes_cached(&self) -> bool {
        false
    }

    fn weight(&self) -> usize {
        self.files.iter().filter_map(|f| f.finish.as_ref()).map(blobs::Finish::weight).sum()
    }

    fn writes(&self) -> usize {
        self.files.len()
    }

    fn absorb(&mut self, next: Box<dyn Job>) -> std::result::Result<(), Box<dyn Job>> {
        if !(&*next as &dyn std::any::Any).is::<AddFiles>() {
            return Err(next);
        }
        debug_assert!(self.files.iter().all(|f| f.finish.is_some()), "merged into a job that ran");
        let next: Box<dyn std::any::Any> = next;
        self.files.extend(next.downcast::<AddFiles>().expect("checked above").files);
        Ok(())
    }

    fn complete(self: Box<Self>, committed: Result<()>) {
        if self.events && committed.is_ok() {
            self.outbox.notify_one();
        }
        for f in self.files {
            writer::answer(f.reply, f.out, &committed);
        }
    }
}

/// Adds `files` to the version of `at`, creating package and version as needed. Refused
/// when the owner is missing, when `conflict` (the version, or a file) exists, or by quota.
/// The package's summary, the version's tallies and the lists change with them.
fn put_files(
    tx: &WriteTransaction,
    t: &mut UploadTables,
    at: &FileTarget,
    files: &[(&str, &Staged)],
    conflict: What,
    by: Option<&str>,
) -> Result<Added<Vec<FileRec>>> {
    let (o, p, v, _) = at.keys();
    let k = at.kind.as_str();
    let vkey = (o.as_str(), k, p.as_str(), v.as_str());
    let old_version: Option<VersionRec> = get_rec(&t.versions, vkey)?;
    let new_version = old_version.is_none();
    let bytes: u64 = files.iter().map(|(_, s)| s.size).sum();
    let files_table = &t.files;
    let exists = |f: &str| -> Result<bool> {
        Ok(files_table.get((o.as_str(), k, p.as_str(), v.as_str(), name_key(at.kind, f).as_str()))?.is_some())
    };
    let refusal = if t.owners.get(o.as_str())?.is_none() {
        Some(Refusal::NotFound(What::Owner))
    } else if conflict == What::Version && !new_version {
        Some(Refusal::Exists(What::Version))
    } else if files.iter().try_fold(false, |any, (f, _)| Ok::<_, Error>(any || exists(f)?))? {
        Some(Refusal::Exists(What::File))
    } else {
        // Accounted here when it fits: nothing below refuses.
        super::quotas::charge(&mut t.quota, &o, &at.owner, bytes, u64::from(new_version))?.map(Refusal::Quota)
    };
    if let Some(r) = refusal {
        for (_, staged) in files {
            blobs::discard(tx, &mut t.blobs, staged)?;
        }
        return Ok(Added::Refused(r));
    }
    let now = crate::clock::now();
    let pkey = (o.as_str(), k, p.as_str());
    let mut package: PackageRec = get_rec(&t.packages, pkey)?.unwrap_or_else(|| PackageRec {
        name: at.package.clone(),
        created: now,
        ..PackageRec::default()
    });
    let mut version = match old_version {
        Some(rec) => rec,
        None => {
            let seqs = Seqs {
                owner: t.lists.push(lists::owner(&o), (k, &p, &v))?,
                kind: t.lists.push(lists::of_kind(&o, k), (k, &p, &v))?,
                package: t.lists.push(lists::package(&o, k, &p), (k, &p, &v))?,
            };
            package.versions += 1;
            package.latest = with_new(at.kind, package.latest.take(), &at.version);
            VersionRec {
                version: at.version.clone(),
                created: now,
                order: crate::clock::ordinal(),
                id: super::next_id(tx)?,
                creator: creator(tx, by)?,
                seqs,
                ..VersionRec::default()
            }
        }
    };
    let mut out = Vec::with_capacity(files.len());
    for (name, staged) in files {
        let blob = blobs::adopt(tx, &mut t.blobs, staged)?;
        let f = name_key(at.kind, name);
        let rec = FileRec {
            name: name.to_string(),
            blob,
            sha256: staged.sha256,
            size: staged.size,
            created: now,
            id: super::next_id(tx)?,
            seq: t.lists.push(lists::version(&o, k, &p, &v), (k, &p, &f))?,
        };
        t.files
            .insert((o.as_str(), k, p.as_str(), v.as_str(), f.as_str()), codec::encode(&rec).as_slice())?;
        t.by_blob.insert((rec.blob, o.as_str(), k, p.as_str(), v.as_str(), f.as_str()), ())?;
        version.files += 1;
        version.size += rec.size;
        out.push(rec);
    }
    package.files += files.len() as u64;
    package.size += bytes;
    package.updated = now;
    t.versions.insert(vkey, codec::encode(&version).as_slice())?;
    t.packages.insert(pkey, codec::encode(&package).as_slice())?;
    if new_version {
        let sender = version.creator.clone();
        t.events |= event(tx, Action::Created, (&o, at.kind, &package.name), version, sender)?;
    }
    Ok(Added::Stored(out))
}

/// Records the publish event of `version` of package `name` (owner key `o`) in this
/// transaction (`hooks.rs`, invariant 1); returns whether a hook wanted it.
fn event(
    tx: &WriteTransaction,
    action: Action,
    (o, kind, name): (&str, PackageType, &str),
    version: VersionRec,
    sender: Option<Creator>,
) -> Result<bool> {
    let event = EventRec {
        action,
        owner: o.to_string(),
        kind: kind.as_str().to_string(),
        package: name.to_string(),
        version,
        sender,
        time: crate::clock::now(),
    };
    super::hooks::record_event(tx, event)
}

/// The spelling of package `p` (owner key `o`), for an event about it.
fn spelling(tx: &WriteTransaction, o: &str, k: &str, p: &str) -> Result<String> {
    let rec: Option<PackageRec> = get_rec(&tx.open_table(PACKAGES)?, (o, k, p))?;
    Ok(rec.map_or_else(|| p.to_string(), |r| r.name))
}

/// The publisher named `by` as recorded in a version: `None` when no user of that name exists.
fn creator(tx: &WriteTransaction, by: Option<&str>) -> Result<Option<Creator>> {
    let Some(by) = by else { return Ok(None) };
    let k = key(by);
    let id = tx.open_table(OWNER_IDS)?.get(k.as_str())?.map(|v| v.value());
    Ok(id.map(|id| Creator { id, key: k }))
}

/// A package's latest version once `new` is added to versions whose latest was `current`.
fn with_new(kind: PackageType, current: Option<String>, new: &str) -> Option<String> {
    let both = current.iter().map(|c| (c.as_str(), 0)).chain([(new, 1)]);
    latest_version(kind, both).map(str::to_string)
}

/// A package's latest version from its version records (after one was removed). Generic:
/// the newest of its list; Go: the rule over every version key (which is the version).
fn latest_now(tx: &WriteTransaction, o: &str, kind: PackageType, p: &str) -> Result<Option<String>> {
    let k = kind.as_str();
    if kind == PackageType::Go {
        let table = tx.open_table(VERSIONS)?;
        let mut keys = Vec::new();
        for entry in table.range((o, k, p, "")..)? {
            let (key, _) = entry?;
            let (ko, kk, kp, kv) = key.value();
            if (ko, kk, kp) != (o, k, p) {
                break;
            }
            keys.push(kv.to_string());
        }
        return Ok(latest_version(kind, keys.iter().map(|v| (v.as_str(), 0))).map(str::to_string));
    }
    let Some((_, _, v)) = lists::last(tx, lists::package(o, k, p))? else { return Ok(None) };
    let rec: Option<VersionRec> = get_rec(&tx.open_table(VERSIONS)?, (o, k, p, v.as_str()))?;
    Ok(rec.map(|r| r.version))
}

/// Takes `files` files of `size` bytes (and, with `version_gone`, the version `v` whose record
/// was `gone`) off the package's summary; removes the package when it has no version left.
fn unaccount(
    tx: &WriteTransaction,
    (o, kind, p): (&str, PackageType, &str),
    files: u64,
    size: u64,
    gone: Option<&VersionRec>,
) -> Result<()> {
    let k = kind.as_str();
    let mut package: PackageRec = get_rec(&tx.open_table(PACKAGES)?, (o, k, p))?
        .ok_or_else(|| Error::corrupt(format!("version of {o}/{k}/{p} without a package record")))?;
    package.files = package.files.saturating_sub(files);
    package.size = package.size.saturating_sub(size);
    package.updated = crate::clock::now();
    if let Some(v) = gone {
        package.versions = package.versions.saturating_sub(1);
        if package.latest.as_deref() == Some(v.version.as_str()) {
            package.latest = latest_now(tx, o, kind, p)?;
        }
    }
    if package.versions == 0 {
        tx.open_table(PACKAGES)?.remove((o, k, p))?;
    } else {
        tx.open_table(PACKAGES)?.insert((o, k, p), codec::encode(&package).as_slice())?;
    }
    Ok(())
}

/// Removes version `v` (whose files are gone already) from its lists and its record.
fn drop_version(tx: &WriteTransaction, o: &str, k: &str, p: &str, v: &str, rec: &VersionRec) -> Result<()> {
    tx.open_table(VERSIONS)?.remove((o, k, p, v))?;
    lists::remove(tx, lists::owner(o), rec.seqs.owner)?;
    lists::remove(tx, lists::of_kind(o, k), rec.seqs.kind)?;
    lists::remove(tx, lists::package(o, k, p), rec.seqs.package)?;
    lists::clear(tx, lists::version(o, k, p, v))
}

/// Deletes one file; an emptied version and package go with it. Removing a version's last
/// file reports the version deleted, by `by`.
fn delete_file(tx: &WriteTransaction, t: &FileTarget, reaper: &Reaper, by: Option<&str>) -> Result<()> {
    let (o, p, v, f) = t.keys();
    let k = t.kind.as_str();
    let rec: FileRec = {
        let files = tx.open_table(FILES)?;
        get_rec(&files, (o.as_str(), k, p.as_str(), v.as_str(), f.as_str()))?
            .ok_or(Error::NotFound(What::File))?
    };
    tx.open_table(FILES)?.remove((o.as_str(), k, p.as_str(), v.as_str(), f.as_str()))?;
    tx.open_table(FILES_BY_BLOB)?.remove((rec.blob, o.as_str(), k, p.as_str(), v.as_str(), f.as_str()))?;
    lists::remove(tx, lists::version(&o, k, &p, &v), rec.seq)?;
    blobs::release(tx, rec.blob, reaper)?;
    let vkey = (o.as_str(), k, p.as_str(), v.as_str());
    let mut version: VersionRec = get_rec(&tx.open_table(VERSIONS)?, vkey)?
        .ok_or_else(|| Error::corrupt(format!("file of {o}/{k}/{p}/{v} without a version record")))?;
    let as_it_was = version.clone();
    version.files = version.files.saturating_sub(1);
    version.size = version.size.saturating_sub(rec.size);
    let version_gone = !has_file(tx, &o, k, &p, &v)?;
    if version_gone {
        let name = spelling(tx, &o, k, &p)?;
        event(tx, Action::Deleted, (&o, t.kind, &name), as_it_was, creator(tx, by)?)?;
        drop_version(tx, &o, k, &p, &v, &version)?;
    } else {
        tx.open_table(VERSIONS)?.insert(vkey, codec::encode(&version).as_slice())?;
    }
    unaccount(tx, (&o, t.kind, &p), 1, rec.size, version_gone.then_some(&version))?;
    super::quotas::account(tx, &o, -(rec.size as i64), -i64::from(version_gone))
}

/// Deletes a version and all its files; an emptied package goes with it.
fn delete_version(
    tx: &WriteTransaction,
    o: &str,
    kind: PackageType,
    p: &str,
    v: &str,
    reaper: &Reaper,
    by: Option<&str>,
) -> Result<()> {
    let k = kind.as_str();
    let version: VersionRec =
        get_rec(&tx.open_table(VERSIONS)?, (o, k, p, v))?.ok_or(Error::NotFound(What::Version))?;
    let name = spelling(tx, o, k, p)?;
    event(tx, Action::Deleted, (o, kind, &name), version.clone(), creator(tx, by)?)?;
    let mut bytes = 0u64;
    let mut count = 0u64;
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
            count += 1;
            keys.push((kf.to_string(), rec.blob));
        }
        let mut by_blob = tx.open_table(FILES_BY_BLOB)?;
        for (kf, blob) in &keys {
            files.remove((o, k, p, v, kf.as_str()))?;
            by_blob.remove((*blob, o, k, p, v, kf.as_str()))?;
        }
        blobs
    };
    for id in removed {
        blobs::release(tx, id, reaper)?;
    }
    drop_version(tx, o, k, p, v, &version)?;
    unaccount(tx, (o, kind, p), count, bytes, Some(&version))?;
    super::quotas::account(tx, o, -(bytes as i64), -1)
}

/// Rebuilds the index of files by content from the file records (opening a layout 3
/// database, `verify --repair`); returns the number of files indexed.
pub(crate) fn index_all_files(tx: &WriteTransaction) -> Result<u64> {
    let mut index = tx.open_table(FILES_BY_BLOB)?;
    index.retain(|_, _| false)?;
    let mut n = 0;
    for entry in tx.open_table(FILES)?.iter()? {
        let (key, value) = entry?;
        let (o, k, p, v, f) = key.value();
        let rec: FileRec = codec::decode(value.value())?;
        index.insert((rec.blob, o, k, p, v, f), ())?;
        n += 1;
    }
    Ok(n)
}

/// Whether version `v` has a file.
fn has_file(tx: &WriteTransaction, o: &str, k: &str, p: &str, v: &str) -> Result<bool> {
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
    Ok(first)
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
        self.add_file_by(content, target, expect, None).await
    }

    /// [`Store::add_file`], recording user `by` as the publisher of a version it creates.
    ///
    /// # Errors
    /// As [`Store::add_file`].
    pub async fn add_file_by(
        &self,
        content: Sealed,
        target: FileTarget,
        expect: Option<[u8; 32]>,
        by: Option<String>,
    ) -> Result<Added> {
        if expect.is_some_and(|e| e != content.sha256()) {
            return Ok(Added::Refused(Refusal::ChecksumMismatch));
        }
        let outbox = self.outbox_signal();
        content.commit_with(|finish| AddFiles::job(finish, target, by, outbox)).await
    }

    /// Publishes a Go module version: its zip (the sealed upload, as uploaded) and its
    /// go.mod, as the files `{version}.zip` and `{version}.mod` of version `version` of
    /// package `module`, in one durable commit. Refused ([`Refusal::Exists`]) when the module
    /// version exists, when the owner is gone, or by quota. `by` is the publishing user.
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
        by: Option<String>,
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
        let added = zip
            .commit(move |tx, staged| {
                let go_mod = blobs::stage_inline(tx, mod_blob, &go_mod, staged)?;
                add_version(
                    tx,
                    &at,
                    &[(zip_name.as_str(), staged), (mod_name.as_str(), &go_mod)],
                    by.as_deref(),
                )
            })
            .await;
        self.events_queued();
        added
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
        self.delete_file_by(t, None)
    }

    /// [`Store::delete_file`] by user `by`, the sender of the event it may cause.
    ///
    /// # Errors
    /// As [`Store::delete_file`].
    pub fn delete_file_by(&self, t: FileTarget, by: Option<String>) -> Result<()> {
        self.write_reaping(move |tx, reaper| delete_file(tx, &t, reaper, by.as_deref()))?;
        self.events_queued();
        Ok(())
    }

    /// Deletes a version with all of its files.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the version does not exist.
    pub fn delete_version(&self, owner: &str, kind: PackageType, package: &str, version: &str) -> Result<()> {
        self.delete_version_by(owner, kind, package, version, None)
    }

    /// [`Store::delete_version`] by user `by`, the sender of its event.
    ///
    /// # Errors
    /// As [`Store::delete_version`].
    pub fn delete_version_by(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
        version: &str,
        by: Option<String>,
    ) -> Result<()> {
        let (o, p, v) = (key(owner), name_key(kind, package), name_key(kind, version));
        self.write_reaping(move |tx, reaper| delete_version(tx, &o, kind, &p, &v, reaper, by.as_deref()))?;
        self.events_queued();
        Ok(())
    }

    /// The stable id of the user or organization named `name`.
    pub fn owner_id(&self, name: &str) -> Result<Option<u64>> {
        let tx = self.read()?;
        Ok(tx.open_table(OWNER_IDS)?.get(key(name).as_str())?.map(|v| v.value()))
    }

    /// A package with its summary; `None` when it does not exist.
    pub fn package(&self, owner: &str, kind: PackageType, package: &str) -> Result<Option<PackageSummary>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), name_key(kind, package));
        let rec: Option<PackageRec> =
            get_rec(&tx.open_table(PACKAGES)?, (o.as_str(), kind.as_str(), p.as_str()))?;
        Ok(rec.map(|rec| PackageSummary { kind, key: p, rec }))
    }

    /// The spelling a package was created with; `None` when it does not exist.
    /// The packages of `owner` (optionally of one type) with their summaries, by type and
    /// key: one record per package, never its versions (the web page's package lists).
    pub fn packages(&self, owner: &str, kind: Option<PackageType>) -> Result<Vec<PackageSummary>> {
        let tx = self.read()?;
        let o = key(owner);
        let table = tx.open_table(PACKAGES)?;
        let start = kind.map_or("", PackageType::as_str);
        let mut out = Vec::new();
        for entry in table.range((o.as_str(), start, "")..)? {
            let (k, value) = entry?;
            let (ko, kk, kp) = k.value();
            if ko != o || kind.is_some_and(|want| want.as_str() != kk) {
                break;
            }
            out.push(PackageSummary {
                kind: PackageType::of_key(kk)?,
                key: kp.to_string(),
                rec: codec::decode(value.value())?,
            });
        }
        Ok(out)
    }

    pub fn package_name(&self, owner: &str, kind: PackageType, package: &str) -> Result<Option<String>> {
        Ok(self.package(owner, kind, package)?.map(|p| p.rec.name))
    }

    /// A page of the versions of `owner`, newest first, optionally of one type and of
    /// packages whose name contains `q` (case-insensitively). Without `q` it reads the page
    /// alone; with `q` it reads the keys of the owner's packages and walks the owner's list
    /// of versions from the newest up to the end of the page.
    pub fn owner_versions(
        &self,
        owner: &str,
        kind: Option<PackageType>,
        q: &str,
        offset: u64,
        limit: usize,
    ) -> Result<Page<VersionSummary>> {
        let tx = self.read()?;
        let o = key(owner);
        let list = match kind {
            Some(k) => lists::of_kind(&o, k.as_str()),
            None => lists::owner(&o),
        };
        let mut names = Names::default();
        if q.is_empty() {
            let total = lists::count(&tx, list)?;
            let items = lists::page(&tx, list, offset, limit, true)?;
            let items = items.iter().map(|i| names.summary(&tx, &o, i)).collect::<Result<Vec<_>>>()?;
            return Ok(Page { total, items: items.into_iter().flatten().collect() });
        }
        let needle = q.to_lowercase();
        let mut matching = std::collections::HashSet::new();
        let mut total = 0;
        for entry in tx.open_table(PACKAGES)?.range((o.as_str(), "", "")..)? {
            let (k, value) = entry?;
            let (ko, kk, kp) = k.value();
            if ko != o {
                break;
            }
            if kind.is_some_and(|want| want.as_str() != kk) || !kp.to_lowercase().contains(&needle) {
                continue;
            }
            let rec: PackageRec = codec::decode(value.value())?;
            total += rec.versions;
            matching.insert((kk.to_string(), kp.to_string()));
        }
        let mut picked = Vec::new();
        let mut skip = offset;
        if !matching.is_empty() && limit > 0 {
            lists::newest_while(&tx, list, |(k, p, v)| {
                if matching.contains(&(k.to_string(), p.to_string())) {
                    if skip > 0 {
                        skip -= 1;
                    } else {
                        picked.push((k.to_string(), p.to_string(), v.to_string()));
                    }
                }
                picked.len() < limit
            })?;
        }
        let items = picked.iter().map(|i| names.summary(&tx, &o, i)).collect::<Result<Vec<_>>>()?;
        Ok(Page { total, items: items.into_iter().flatten().collect() })
    }

    /// A page of the versions of a package, newest first; `None` when the package does not
    /// exist.
    pub fn package_versions(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
        offset: u64,
        limit: usize,
    ) -> Result<Option<Page<VersionSummary>>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), name_key(kind, package));
        let k = kind.as_str();
        let rec: Option<PackageRec> = get_rec(&tx.open_table(PACKAGES)?, (o.as_str(), k, p.as_str()))?;
        let Some(rec) = rec else { return Ok(None) };
        let mut names = Names::default();
        names.packages.insert((k.to_string(), p.clone()), rec.name);
        let items = lists::page(&tx, lists::package(&o, k, &p), offset, limit, true)?;
        let items = items.iter().map(|i| names.summary(&tx, &o, i)).collect::<Result<Vec<_>>>()?;
        Ok(Some(Page { total: rec.versions, items: items.into_iter().flatten().collect() }))
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
        Names::default().summary(&tx, &o, &(kind.as_str().to_string(), p, v))
    }

    /// The version "latest" means ([`latest_version`]), from the package's summary; `None`
    /// when the package does not exist.
    pub fn latest(&self, owner: &str, kind: PackageType, package: &str) -> Result<Option<VersionSummary>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), name_key(kind, package));
        let k = kind.as_str();
        let rec: Option<PackageRec> = get_rec(&tx.open_table(PACKAGES)?, (o.as_str(), k, p.as_str()))?;
        let Some(latest) = rec.and_then(|r| r.latest) else { return Ok(None) };
        Names::default().summary(&tx, &o, &(k.to_string(), p, name_key(kind, &latest)))
    }

    /// Every version of a package as spelled (its keys, for Go modules); `None` when the
    /// package does not exist. For the GOPROXY list, which is whole by protocol.
    pub fn version_names(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
    ) -> Result<Option<Vec<String>>> {
        let tx = self.read()?;
        let (o, p) = (key(owner), name_key(kind, package));
        let k = kind.as_str();
        let table = tx.open_table(VERSIONS)?;
        let mut out = Vec::new();
        for entry in table.range((o.as_str(), k, p.as_str(), "")..)? {
            let (key, value) = entry?;
            let (ko, kk, kp, kv) = key.value();
            if (ko, kk, kp) != (o.as_str(), k, p.as_str()) {
                break;
            }
            // Go versions are case-sensitive: the key is the version. Generic ones need the record.
            out.push(match kind {
                PackageType::Go => kv.to_string(),
                PackageType::Generic => codec::decode::<VersionRec>(value.value())?.version,
            });
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }

    /// A page of the files of a version, in upload order; `None` when the version does not
    /// exist.
    pub fn files_page(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
        version: &str,
        offset: u64,
        limit: usize,
    ) -> Result<Option<Page<FileRec>>> {
        let tx = self.read()?;
        let (o, p, v) = (key(owner), name_key(kind, package), name_key(kind, version));
        let k = kind.as_str();
        let rec: Option<VersionRec> =
            get_rec(&tx.open_table(VERSIONS)?, (o.as_str(), k, p.as_str(), v.as_str()))?;
        let Some(rec) = rec else { return Ok(None) };
        let files = tx.open_table(FILES)?;
        let mut items = Vec::new();
        for (_, _, f) in lists::page(&tx, lists::version(&o, k, &p, &v), offset, limit, false)? {
            let file: Option<FileRec> = get_rec(&files, (o.as_str(), k, p.as_str(), v.as_str(), f.as_str()))?;
            items.extend(file);
        }
        Ok(Some(Page { total: rec.files, items }))
    }
}

impl Store {
    /// Up to `limit` versions of a package, newest first, created before the version whose
    /// place in the package's list is `before` (`VersionRec::seqs.package`; `None`: from the
    /// newest). A walk by this cursor sees every version once even while versions it passed
    /// are deleted, and never one added after it began. Empty when the package is gone.
    pub fn versions_before(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<VersionSummary>> {
        if before == Some(0) {
            return Ok(Vec::new());
        }
        let tx = self.read()?;
        let (o, p) = (key(owner), name_key(kind, package));
        let k = kind.as_str();
        let end = before.map_or(u64::MAX, |b| b - 1);
        let mut items = Vec::new();
        {
            let table = tx.open_table(super::tables::LISTS)?;
            for entry in
                table.range((o.as_str(), k, p.as_str(), "", 0)..=(o.as_str(), k, p.as_str(), "", end))?.rev()
            {
                let (_, item) = entry?;
                items.push(lists_owned(item.value()));
                if items.len() >= limit {
                    break;
                }
            }
        }
        let mut names = Names::default();
        let out = items.iter().map(|i| names.summary(&tx, &o, i)).collect::<Result<Vec<_>>>()?;
        Ok(out.into_iter().flatten().collect())
    }

    /// The newest version of a package holding a file named `file`: the package's latest
    /// when it has the file (one lookup), else the first found walking the versions from the
    /// newest (for a Go module, the highest by the `@latest` rule). Answers the package,
    /// version and file names as stored; `None` when no version has such a file.
    pub fn newest_with_file(
        &self,
        owner: &str,
        kind: PackageType,
        package: &str,
        file: &str,
    ) -> Result<Option<(String, String, String)>> {
        let tx = self.read()?;
        let (o, p, f) = (key(owner), name_key(kind, package), name_key(kind, file));
        let k = kind.as_str();
        let rec: Option<PackageRec> = get_rec(&tx.open_table(PACKAGES)?, (o.as_str(), k, p.as_str()))?;
        let Some(rec) = rec else { return Ok(None) };
        let files = tx.open_table(FILES)?;
        let versions = tx.open_table(VERSIONS)?;
        // (version as stored, file as stored) of version key `v`, when it has the file.
        let found = |v: &str| -> Result<Option<(String, String)>> {
            let Some(file) = get_rec::<_, FileRec>(&files, (o.as_str(), k, p.as_str(), v, f.as_str()))?
            else {
                return Ok(None);
            };
            let version: Option<VersionRec> = get_rec(&versions, (o.as_str(), k, p.as_str(), v))?;
            Ok(version.map(|ver| (ver.version, file.name)))
        };
        let named = |(v, f): (String, String)| (rec.name.clone(), v, f);
        if let Some(latest) = rec.latest.as_deref() {
            if let Some(hit) = found(&name_key(kind, latest))? {
                return Ok(Some(named(hit)));
            }
        }
        if kind == PackageType::Go {
            // A Go module's "newest" is the `@latest` rule over the versions, not creation order.
            let mut with = Vec::new();
            for v in self.version_names(owner, kind, package)?.unwrap_or_default() {
                if found(&v)?.is_some() {
                    with.push(v);
                }
            }
            let Some(best) = latest_version(kind, with.iter().map(|v| (v.as_str(), 0))) else {
                return Ok(None);
            };
            return Ok(found(best)?.map(named));
        }
        let list = tx.open_table(super::tables::LISTS)?;
        for entry in
            list.range((o.as_str(), k, p.as_str(), "", 0)..=(o.as_str(), k, p.as_str(), "", u64::MAX))?.rev()
        {
            let (_, item) = entry?;
            if let Some(hit) = found(item.value().2)? {
                return Ok(Some(named(hit)));
            }
        }
        Ok(None)
    }

    /// A page of the files of `owner` whose content has sha256 `sha`, by package and version
    /// key, each with its version.
    pub fn files_with_sha(
        &self,
        owner: &str,
        sha: [u8; 32],
        offset: u64,
        limit: usize,
    ) -> Result<Page<(VersionSummary, FileRec)>> {
        let tx = self.read()?;
        let o = key(owner);
        // One blob per content (deduplication), so its id names every file with that content.
        let Some(blob) = super::recent::lookup(&tx, sha)? else {
            return Ok(Page { total: 0, items: Vec::new() });
        };
        let index = tx.open_table(FILES_BY_BLOB)?;
        let range = index.range((blob, o.as_str(), "", "", "", "")..)?;
        let mut total = 0u64;
        let mut keys = Vec::new();
        for entry in range {
            let (k, _) = entry?;
            let (b, ko, kk, kp, kv, kf) = k.value();
            if b != blob || ko != o {
                break;
            }
            if total >= offset && keys.len() < limit {
                keys.push((kk.to_string(), kp.to_string(), kv.to_string(), kf.to_string()));
            }
            total += 1;
        }
        let files = tx.open_table(FILES)?;
        let mut names = Names::default();
        let mut items = Vec::with_capacity(keys.len());
        for (k, p, v, f) in keys {
            let file: Option<FileRec> =
                get_rec(&files, (o.as_str(), k.as_str(), p.as_str(), v.as_str(), f.as_str()))?;
            let version = names.summary(&tx, &o, &(k, p, v))?;
            if let (Some(version), Some(file)) = (version, file) {
                items.push((version, file));
            }
        }
        Ok(Page { total, items })
    }
}

fn lists_owned((k, p, v): (&str, &str, &str)) -> lists::Item {
    (k.to_string(), p.to_string(), v.to_string())
}

/// Package spellings and publishers met while building one page, read once each.
#[derive(Default)]
struct Names {
    packages: std::collections::HashMap<(String, String), String>,
    users: std::collections::HashMap<(u64, String), Publisher>,
}

impl Names {
    /// The version at `(type, package key, version key)` of owner key `o`; `None` when it
    /// is not there.
    fn summary(
        &mut self,
        tx: &ReadTransaction,
        o: &str,
        item: &lists::Item,
    ) -> Result<Option<VersionSummary>> {
        let (k, p, v) = item;
        let rec: Option<VersionRec> =
            get_rec(&tx.open_table(VERSIONS)?, (o, k.as_str(), p.as_str(), v.as_str()))?;
        let Some(rec) = rec else { return Ok(None) };
        let kind = PackageType::of_key(k)?;
        let package = match self.packages.get(&(k.clone(), p.clone())) {
            Some(name) => name.clone(),
            None => {
                let pr: Option<PackageRec> = get_rec(&tx.open_table(PACKAGES)?, (o, k.as_str(), p.as_str()))?;
                let name = pr.map(|r| r.name).unwrap_or_else(|| p.clone());
                self.packages.insert((k.clone(), p.clone()), name.clone());
                name
            }
        };
        let creator = match &rec.creator {
            None => Publisher::Unrecorded,
            Some(c) => match self.users.get(&(c.id, c.key.clone())) {
                Some(u) => u.clone(),
                None => {
                    let owners = tx.open_table(OWNERS)?;
                    let u = super::hooks::publisher_in(&owners, &tx.open_table(OWNER_IDS)?, Some(c))?;
                    self.users.insert((c.id, c.key.clone()), u.clone());
                    u
                }
            },
        };
        Ok(Some(VersionSummary { kind, package, rec, creator }))
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
