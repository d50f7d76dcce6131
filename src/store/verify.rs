//! `depot verify`: re-reads every chunk, recomputes every blob's sha256 and checks every
//! reference and count against the invariants of `docs/design.md`.
//!
//! Runs in one read transaction, so it sees a consistent snapshot while the server keeps
//! serving. It reports problems; it changes nothing. [`Store::repair`] (`verify --repair`)
//! fixes, in one writer transaction, what can be fixed without losing any file.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records::{BlobRec, FileRec, OwnerKind, OwnerRec, PackageRec, TokenRec, UsageRec, VersionRec};
use super::tables::*;
use super::{codec, Result, Store};

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub owners: u64,
    pub packages: u64,
    pub versions: u64,
    pub files: u64,
    pub blobs: u64,
    pub chunks: u64,
    /// Content bytes re-read and hashed (chunks and inline bytes).
    pub bytes: u64,
    /// Uploads in progress (or left by a crash, reclaimed on the next start).
    pub staged: u64,
    /// One line per problem; empty when the database is consistent.
    pub problems: Vec<String>,
}

struct Hashing {
    id: u64,
    next: u32,
    size: u64,
    hasher: Sha256,
}

impl Store {
    /// Checks the whole database. Blocks for as long as reading every chunk takes.
    pub fn verify(&self) -> Result<Report> {
        self.verify_deep(false)
    }

    /// [`Store::verify`]; content in the object store is checked for existence and size,
    /// and with `deep` re-read and hashed too.
    pub fn verify_deep(&self, deep: bool) -> Result<Report> {
        let tx = self.read()?;
        let mut r = Report::default();
        let owners = owners(&tx, &mut r)?;
        check_packages(&tx, &owners, &mut r)?;
        let refs = check_files(&tx, &mut r)?;
        let blobs = check_blobs(&tx, &refs, &mut r)?;
        check_chunks(&tx, &blobs, &mut r)?;
        check_accounts(&tx, &owners, &mut r)?;
        check_usage(&tx, &mut r)?;
        check_summaries(&tx, &owners, &mut r)?;
        if let Some(objects) = self.objects() {
            r.bytes += super::objects::check_all(&tx, &objects, deep, &mut r.problems)?;
        }
        r.problems.extend(content_index_problems(&tx.open_table(FILES)?, &tx.open_table(FILES_BY_BLOB)?)?);
        super::hooks::check(&tx, &|o| owners.contains_key(o), &mut r.problems)?;
        Ok(r)
    }
}

fn owners(tx: &ReadTransaction, r: &mut Report) -> Result<HashMap<String, OwnerRec>> {
    let mut out = HashMap::new();
    for entry in tx.open_table(OWNERS)?.iter()? {
        let (k, v) = entry?;
        match codec::decode::<OwnerRec>(v.value()) {
            Ok(rec) => {
                out.insert(k.value().to_string(), rec);
            }
            Err(e) => r.problems.push(format!("owner {:?}: {e}", k.value())),
        }
    }
    r.owners = out.len() as u64;
    Ok(out)
}

fn check_packages(tx: &ReadTransaction, owners: &HashMap<String, OwnerRec>, r: &mut Report) -> Result<()> {
    let mut with_version = BTreeSet::new();
    let mut with_file = BTreeSet::new();
    for entry in tx.open_table(FILES)?.iter()? {
        let (k, _) = entry?;
        let (o, t, p, v, _) = k.value();
        with_file.insert((o.to_string(), t.to_string(), p.to_string(), v.to_string()));
    }
    for entry in tx.open_table(VERSIONS)?.iter()? {
        let (k, _) = entry?;
        let (o, t, p, v) = k.value();
        r.versions += 1;
        let key = (o.to_string(), t.to_string(), p.to_string(), v.to_string());
        if !with_file.contains(&key) {
            r.problems.push(format!("version {o}/{t}/{p}/{v} has no file"));
        }
        with_version.insert((key.0, key.1, key.2));
    }
    for (o, t, p, v) in &with_file {
        if tx.open_table(VERSIONS)?.get((o.as_str(), t.as_str(), p.as_str(), v.as_str()))?.is_none() {
            r.problems.push(format!("files of {o}/{t}/{p}/{v} have no version record"));
        }
    }
    for entry in tx.open_table(PACKAGES)?.iter()? {
        let (k, _) = entry?;
        let (o, t, p) = k.value();
        r.packages += 1;
        if !owners.contains_key(o) {
            r.problems.push(format!("package {o}/{t}/{p} has no owner"));
        }
        if !with_version.remove(&(o.to_string(), t.to_string(), p.to_string())) {
            r.problems.push(format!("package {o}/{t}/{p} has no version"));
        }
    }
    for (o, t, p) in with_version {
        r.problems.push(format!("versions of {o}/{t}/{p} have no package record"));
    }
    Ok(())
}

/// Checks file records; returns the number of files pointing at each blob.
fn check_files(tx: &ReadTransaction, r: &mut Report) -> Result<BTreeMap<u64, (u64, FileRec)>> {
    let mut refs: BTreeMap<u64, (u64, FileRec)> = BTreeMap::new();
    for entry in tx.open_table(FILES)?.iter()? {
        let (k, v) = entry?;
        let (o, t, p, ver, f) = k.value();
        r.files += 1;
        match codec::decode::<FileRec>(v.value()) {
            Ok(rec) => refs.entry(rec.blob).or_insert((0, rec)).0 += 1,
            Err(e) => r.problems.push(format!("file {o}/{t}/{p}/{ver}/{f}: {e}")),
        }
    }
    Ok(refs)
}

fn check_blobs(
    tx: &ReadTransaction,
    refs: &BTreeMap<u64, (u64, FileRec)>,
    r: &mut Report,
) -> Result<BTreeMap<u64, BlobRec>> {
    let mut blobs = BTreeMap::new();
    for entry in tx.open_table(BLOBS)?.iter()? {
        let (k, v) = entry?;
        let id = k.value();
        match codec::decode::<BlobRec>(v.value()) {
            Ok(rec) => {
                blobs.insert(id, rec);
            }
            Err(e) => r.problems.push(format!("blob {id}: {e}")),
        }
    }
    r.blobs = blobs.len() as u64;
    for (id, (count, file)) in refs {
        match blobs.get(id) {
            None => r.problems.push(format!("file {:?} points at missing blob {id}", file.name)),
            Some(b) if b.size != file.size || b.sha256 != file.sha256 => {
                r.problems.push(format!("file {:?} disagrees with blob {id} on size or sha256", file.name))
            }
            Some(_) => {}
        }
        if let Some(b) = blobs.get(id) {
            if b.refs != *count {
                r.problems
                    .push(format!("blob {id} counts {} references but {count} files point at it", b.refs));
            }
        }
    }
    let by_sha = tx.open_table(BLOB_BY_SHA)?;
    // No two blobs share a content. Blobs up to their slice's watermark are in the index;
    // newer ones are found by their records (`recent.rs`).
    let upto = match super::recent::Watermarks::read(&tx.open_table(META)?) {
        Ok(upto) => Some(upto),
        Err(e) => {
            r.problems.push(format!(
                "the sha256 index's watermarks are unreadable ({e}); the index was not checked"
            ));
            None
        }
    };
    let mut first: HashMap<[u8; 32], u64> = HashMap::new();
    for (id, b) in &blobs {
        if !refs.contains_key(id) {
            r.problems.push(format!("blob {id} is orphaned: no file points at it"));
        }
        if let Some(other) = first.insert(b.sha256, *id) {
            r.problems.push(format!("blobs {other} and {id} have the same content"));
        }
        if upto.is_some_and(|u| u.covers(*id, &b.sha256))
            && by_sha.get(b.sha256)?.map(|v| v.value()) != Some(*id)
        {
            r.problems.push(format!("blob {id} is missing from the sha256 index"));
        }
    }
    if let Some(upto) = upto {
        for entry in by_sha.iter()? {
            let (k, v) = entry?;
            let id = v.value();
            if !upto.covers(id, &k.value()) || blobs.get(&id).is_none_or(|b| b.sha256 != k.value()) {
                r.problems
                    .push(format!("sha256 index entry points at missing, different or newer blob {id}"));
            }
        }
    }
    Ok(blobs)
}

fn check_chunks(tx: &ReadTransaction, blobs: &BTreeMap<u64, BlobRec>, r: &mut Report) -> Result<()> {
    let staged: BTreeSet<u64> = {
        let mut s = BTreeSet::new();
        for entry in tx.open_table(STAGED)?.iter()? {
            s.insert(entry?.0.value());
        }
        s
    };
    r.staged = staged.len() as u64;
    // Chunks of a blob that is an object are staged: `blobs migrate --to local` writing them.
    let in_store: BTreeSet<u64> = {
        let mut s = BTreeSet::new();
        for entry in tx.open_table(super::objects::OBJECTS)?.iter()? {
            s.insert(entry?.0.value());
        }
        s
    };
    let mut current: Option<Hashing> = None;
    let mut seen = BTreeSet::new();
    let mut orphans = BTreeSet::new();
    for entry in tx.open_table(CHUNKS)?.iter()? {
        let (k, v) = entry?;
        let (id, index) = k.value();
        r.chunks += 1;
        if current.as_ref().is_some_and(|h| h.id != id) {
            finish(current.take(), blobs, r);
        }
        let Some(blob) = blobs.get(&id).filter(|_| !in_store.contains(&id)) else {
            if !staged.contains(&id) {
                orphans.insert(id);
            }
            continue;
        };
        let h = current.get_or_insert_with(|| Hashing { id, next: 0, size: 0, hasher: Sha256::new() });
        seen.insert(id);
        let data = v.value();
        if index != h.next {
            r.problems.push(format!("blob {id} lacks chunk {}", h.next));
            h.next = index;
        }
        let start = u64::from(index) * u64::from(blob.chunk_size);
        let expected = u64::from(blob.chunk_size).min(blob.chunked_len().saturating_sub(start));
        if data.len() as u64 != expected {
            r.problems.push(format!("blob {id} chunk {index} has {} bytes, expected {expected}", data.len()));
        }
        h.hasher.update(data);
        h.size += data.len() as u64;
        h.next += 1;
        r.bytes += data.len() as u64;
    }
    finish(current.take(), blobs, r);
    for id in orphans {
        r.problems.push(format!("chunks of blob {id} are orphaned: no blob record or staged upload"));
    }
    for (&id, b) in blobs {
        // Content in the object store has no chunks; `objects::check_all` checks it there.
        if seen.contains(&id) || in_store.contains(&id) {
            continue;
        }
        if b.chunked_len() > 0 {
            r.problems.push(format!("blob {id} has no chunks"));
        } else {
            // Content held in the record alone.
            finish(Some(Hashing { id, next: 0, size: 0, hasher: Sha256::new() }), blobs, r);
        }
    }
    Ok(())
}

/// Checks a blob's content once its chunks were hashed: its inline bytes follow them.
fn finish(h: Option<Hashing>, blobs: &BTreeMap<u64, BlobRec>, r: &mut Report) {
    let Some(mut h) = h else { return };
    let Some(blob) = blobs.get(&h.id) else { return };
    h.hasher.update(&blob.inline);
    h.size += blob.inline.len() as u64;
    r.bytes += blob.inline.len() as u64;
    if h.size != blob.size {
        r.problems.push(format!("blob {} holds {} bytes, expected {}", h.id, h.size, blob.size));
    } else if <[u8; 32]>::from(h.hasher.finalize()) != blob.sha256 {
        r.problems.push(format!("blob {} content does not match its sha256", h.id));
    }
}

/// Usage per owner must equal what its files and versions add up to.
fn check_usage(tx: &ReadTransaction, r: &mut Report) -> Result<()> {
    use super::quotas;
    let want = quotas::count(&tx.open_table(FILES)?, &tx.open_table(VERSIONS)?)?;
    let mut have = BTreeMap::new();
    for entry in tx.open_table(USAGE)?.iter()? {
        let (k, v) = entry?;
        match codec::decode::<UsageRec>(v.value()) {
            Ok(u) if u == UsageRec::default() => {}
            Ok(u) => {
                have.insert(k.value().to_string(), u);
            }
            Err(e) => r.problems.push(format!("usage of {}: {e}", k.value())),
        }
    }
    let owners: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for o in owners {
        let (w, h) = (want.get(o).copied().unwrap_or_default(), have.get(o).copied().unwrap_or_default());
        if w != h {
            r.problems.push(format!(
                "usage of {o} records {} bytes in {} versions, its files add up to {} bytes in {} versions",
                h.bytes, h.versions, w.bytes, w.versions
            ));
        }
    }
    Ok(())
}

/// Package summaries, version tallies and lists must match the records they are about;
/// every owner has an id.
fn check_summaries(tx: &ReadTransaction, owners: &HashMap<String, OwnerRec>, r: &mut Report) -> Result<()> {
    let ids = tx.open_table(OWNER_IDS)?;
    let mut keys: Vec<&String> = owners.keys().collect();
    keys.sort();
    for o in keys {
        if ids.get(o.as_str())?.is_none() {
            r.problems.push(format!("owner {o} has no id"));
        }
        r.problems.extend(super::summaries::check_owner(tx, o)?);
    }
    Ok(())
}

fn check_accounts(tx: &ReadTransaction, owners: &HashMap<String, OwnerRec>, r: &mut Report) -> Result<()> {
    let is_user = |k: &str| owners.get(k).is_some_and(|o| matches!(o.kind, OwnerKind::User { .. }));
    for entry in tx.open_table(MEMBERS)?.iter()? {
        let (k, _) = entry?;
        let (org, user) = k.value();
        if owners.get(org).is_none_or(|o| o.kind != OwnerKind::Org) || !is_user(user) {
            r.problems.push(format!("membership {user} in {org} names a missing organization or user"));
        }
    }
    for entry in tx.open_table(TOKENS)?.iter()? {
        let (_, v) = entry?;
        match codec::decode::<TokenRec>(v.value()) {
            Ok(t) if !is_user(&t.user) => {
                r.problems.push(format!("token {:?} belongs to missing user {}", t.label, t.user))
            }
            Ok(_) => {}
            Err(e) => r.problems.push(format!("token record: {e}")),
        }
    }
    Ok(())
}

/// What `verify --repair` did, and what verify found afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repaired {
    /// One line per fix made.
    pub actions: Vec<String>,
    /// A full verify after the repair: what is left cannot be fixed without losing data.
    pub after: Report,
}

impl Store {
    /// Fixes what can be fixed without losing any file: orphaned blobs and chunks, wrong
    /// reference counts, a stale or missing sha256 index entry, empty versions and packages,
    /// missing version or package records of existing files, memberships and tokens of
    /// deleted accounts. Damaged content, missing chunks and files pointing at a missing blob
    /// are reported, not touched. Runs as one durable writer job; blocks.
    ///
    /// It never destroys what it cannot read: a record that does not decode (damaged, or
    /// written by a newer release) is kept, and so is everything tied to it — with an
    /// unreadable file record every blob, its version (and package) and its owner's usage; with
    /// an unreadable owner record its memberships and tokens.
    ///
    /// # Errors
    /// Storage errors, including one met while iterating a table (nothing is then changed).
    pub fn repair(&self) -> Result<Repaired> {
        let recent = self.inner.recent.clone();
        let actions = self.write(move |tx| {
            let did = repair(tx);
            // It removed blobs and index entries behind the writer's map: rebuilt on next use.
            recent.invalidate();
            did
        })?;
        Ok(Repaired { actions, after: self.verify()? })
    }
}

fn repair(tx: &redb::WriteTransaction) -> Result<Vec<String>> {
    let mut did = Vec::new();
    // Files: how many point at each blob; which versions have files.
    let mut refs: BTreeMap<u64, u64> = BTreeMap::new();
    let mut file_versions: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    // With an unreadable file record, which blob it points at is unknown: then no blob may
    // be treated as orphaned or recounted (that could delete the content of a file). Its
    // version is not empty, and its owner's usage cannot be counted.
    let mut all_files_readable = true;
    let mut unreadable_versions: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    let mut uncountable_owners: BTreeSet<String> = BTreeSet::new();
    for entry in tx.open_table(FILES)?.iter()? {
        let (k, v) = entry?;
        let (o, t, p, ver, _) = k.value();
        match codec::decode::<FileRec>(v.value()) {
            Ok(rec) => {
                *refs.entry(rec.blob).or_default() += 1;
                let created =
                    file_versions.entry((o.into(), t.into(), p.into(), ver.into())).or_insert(rec.created);
                *created = (*created).min(rec.created);
            }
            Err(_) => {
                all_files_readable = false;
                unreadable_versions.insert((o.into(), t.into(), p.into(), ver.into()));
                uncountable_owners.insert(o.into());
            }
        }
    }
    // Blobs: drop the orphaned, correct the counts, rebuild the index. Unreadable watermarks
    // are replaced: every blob goes into the index, and they are put past all of them.
    let (upto, unreadable) = match super::recent::Watermarks::read(&tx.open_table(META)?) {
        Ok(upto) => (upto, false),
        Err(_) => (super::recent::Watermarks::past_everything(), true),
    };
    let mut blobs = tx.open_table(BLOBS)?;
    let mut by_sha = tx.open_table(BLOB_BY_SHA)?;
    let mut chunks = tx.open_table(CHUNKS)?;
    // Every blob id is kept unless proven orphaned: an unreadable blob record is reported
    // by verify, never removed here.
    let mut records: Vec<(u64, BlobRec)> = Vec::new();
    let mut kept = BTreeSet::new();
    for entry in blobs.iter()? {
        let (k, v) = entry?;
        match codec::decode::<BlobRec>(v.value()) {
            Ok(rec) => records.push((k.value(), rec)),
            Err(_) => {
                kept.insert(k.value());
            }
        }
    }
    // Wrong entries go first, so that a covered blob whose key held one gets its own back.
    let mut stale: Vec<[u8; 32]> = Vec::new();
    for entry in by_sha.iter()? {
        let (k, v) = entry?;
        let id = v.value();
        let wrong = match blobs.get(id)? {
            _ if !upto.covers(id, &k.value()) => true,
            None => true,
            Some(b) => codec::decode::<BlobRec>(b.value()).is_ok_and(|b| b.sha256 != k.value()),
        };
        if wrong {
            stale.push(k.value());
        }
    }
    for sha in stale {
        by_sha.remove(sha)?;
        did.push("removed a sha256 index entry pointing at a missing, different or newer blob".into());
    }
    for (id, mut rec) in records {
        if !all_files_readable {
            kept.insert(id);
            continue;
        }
        let count = refs.get(&id).copied().unwrap_or(0);
        if count == 0 {
            blobs.remove(id)?;
            if by_sha.get(rec.sha256)?.is_some_and(|v| v.value() == id) {
                by_sha.remove(rec.sha256)?;
            }
            chunks.retain_in((id, 0)..=(id, u32::MAX), |_, _| false)?;
            // Its object, if it has one, is deleted after this commit.
            super::objects::forget(tx, id)?;
            did.push(format!("removed orphaned blob {id} ({} bytes) and its chunks", rec.size));
            continue;
        }
        kept.insert(id);
        if rec.refs != count {
            did.push(format!("blob {id}: reference count {} corrected to {count}", rec.refs));
            rec.refs = count;
            blobs.insert(id, codec::encode(&rec).as_slice())?;
        }
        // Blobs above the watermark are found by their records instead (`recent.rs`).
        if upto.covers(id, &rec.sha256) && by_sha.get(rec.sha256)?.is_none() {
            by_sha.insert(rec.sha256, id)?;
            did.push(format!("blob {id}: restored its sha256 index entry"));
        }
    }
    if unreadable {
        super::recent::set_watermarks(tx, blobs.last()?.map_or(0, |(id, _)| id.value()))?;
        did.push(
            "the sha256 index's watermarks were unreadable: every blob indexed and the watermarks reset"
                .into(),
        );
    }
    // Chunks that belong to no blob and no upload in progress.
    let mut staged = BTreeSet::new();
    for entry in tx.open_table(STAGED)?.iter()? {
        staged.insert(entry?.0.value());
    }
    let mut orphan_ids = BTreeSet::new();
    for entry in chunks.iter()? {
        let (k, _) = entry?;
        let id = k.value().0;
        if all_files_readable && !kept.contains(&id) && !staged.contains(&id) && blobs.get(id)?.is_none() {
            orphan_ids.insert(id);
        }
    }
    for id in orphan_ids {
        chunks.retain_in((id, 0)..=(id, u32::MAX), |_, _| false)?;
        did.push(format!("removed orphaned chunks of blob {id}"));
    }
    drop((blobs, by_sha, chunks));
    // Versions and packages: none empty, none missing for an existing file.
    let mut versions = tx.open_table(VERSIONS)?;
    let mut packages = tx.open_table(PACKAGES)?;
    let mut empty: Vec<(String, String, String, String)> = Vec::new();
    for entry in versions.iter()? {
        let (k, _) = entry?;
        let (o, t, p, v) = k.value();
        let key = (o.to_string(), t.to_string(), p.to_string(), v.to_string());
        if !file_versions.contains_key(&key) && !unreadable_versions.contains(&key) {
            empty.push(key);
        }
    }
    for (o, t, p, v) in empty {
        versions.remove((o.as_str(), t.as_str(), p.as_str(), v.as_str()))?;
        did.push(format!("removed version {o}/{t}/{p}/{v}, which had no file"));
    }
    for ((o, t, p, v), created) in &file_versions {
        if versions.get((o.as_str(), t.as_str(), p.as_str(), v.as_str()))?.is_none() {
            let rec = VersionRec {
                version: v.clone(),
                created: *created,
                order: crate::clock::ordinal(),
                id: super::next_id(tx)?,
                ..VersionRec::default()
            };
            versions
                .insert((o.as_str(), t.as_str(), p.as_str(), v.as_str()), codec::encode(&rec).as_slice())?;
            did.push(format!("restored the missing version record {o}/{t}/{p}/{v}"));
        }
        if packages.get((o.as_str(), t.as_str(), p.as_str()))?.is_none() {
            let rec = PackageRec { name: p.clone(), created: *created, ..PackageRec::default() };
            packages.insert((o.as_str(), t.as_str(), p.as_str()), codec::encode(&rec).as_slice())?;
            did.push(format!("restored the missing package record {o}/{t}/{p}"));
        }
    }
    let with_versions: BTreeSet<(String, String, String)> = file_versions
        .keys()
        .chain(&unreadable_versions)
        .map(|(o, t, p, _)| (o.clone(), t.clone(), p.clone()))
        .collect();
    let mut bare: Vec<(String, String, String)> = Vec::new();
    for entry in packages.iter()? {
        let (k, _) = entry?;
        let (o, t, p) = k.value();
        let key = (o.to_string(), t.to_string(), p.to_string());
        if !with_versions.contains(&key) {
            bare.push(key);
        }
    }
    for (o, t, p) in bare {
        packages.remove((o.as_str(), t.as_str(), p.as_str()))?;
        did.push(format!("removed package {o}/{t}/{p}, which had no version"));
    }
    drop((versions, packages));
    // Accounts: memberships and tokens of deleted owners. An owner whose record does not
    // decode exists (whether user or organization is unknown): what names it is kept.
    let mut owners: HashMap<String, OwnerRec> = HashMap::new();
    let mut unreadable_owners: BTreeSet<String> = BTreeSet::new();
    for entry in tx.open_table(OWNERS)?.iter()? {
        let (k, v) = entry?;
        match codec::decode::<OwnerRec>(v.value()) {
            Ok(rec) => {
                owners.insert(k.value().to_string(), rec);
            }
            Err(_) => {
                unreadable_owners.insert(k.value().to_string());
            }
        }
    }
    let gone = |k: &str, org: bool| {
        !unreadable_owners.contains(k)
            && owners.get(k).is_none_or(|o| matches!(o.kind, OwnerKind::User { .. }) == org)
    };
    let mut members = tx.open_table(MEMBERS)?;
    let mut dangling: Vec<(String, String)> = Vec::new();
    for entry in members.iter()? {
        let (k, _) = entry?;
        let (org, user) = k.value();
        if gone(org, true) || gone(user, false) {
            dangling.push((org.to_string(), user.to_string()));
        }
    }
    for (org, user) in dangling {
        members.remove((org.as_str(), user.as_str()))?;
        did.push(format!("removed membership of {user} in {org}, one of which no longer exists"));
    }
    let mut tokens = tx.open_table(TOKENS)?;
    let mut orphan_tokens: Vec<([u8; 32], String)> = Vec::new();
    for entry in tokens.iter()? {
        let (k, v) = entry?;
        // An unreadable token record is reported by verify and kept.
        if let Ok(t) = codec::decode::<TokenRec>(v.value()) {
            if gone(&t.user, false) {
                orphan_tokens.push((k.value(), format!("{} of {}", t.label, t.user)));
            }
        }
    }
    for (hash, what) in orphan_tokens {
        tokens.remove(hash)?;
        did.push(format!("removed token {what}, whose user no longer exists"));
    }
    drop(tokens);
    recount_usage(tx, &uncountable_owners, &mut did)?;
    rederive_summaries(tx, &mut did)?;
    // Rebuilt from the file records only when every one of them reads.
    if all_files_readable
        && !content_index_problems(&tx.open_table(FILES)?, &tx.open_table(FILES_BY_BLOB)?)?.is_empty()
    {
        let n = super::packages::index_all_files(tx)?;
        did.push(format!("rebuilt the index of files by checksum ({n} files)"));
    }
    Ok(did)
}

type FileKey = (&'static str, &'static str, &'static str, &'static str, &'static str);

/// Differences between the index of files by checksum and the file records (a file record
/// that does not decode is reported elsewhere and left out here).
fn content_index_problems(
    files: &impl ReadableTable<FileKey, &'static [u8]>,
    index: &impl ReadableTable<BlobFileKey, ()>,
) -> Result<Vec<String>> {
    let mut want = BTreeSet::new();
    for entry in files.iter()? {
        let (k, v) = entry?;
        let (o, t, p, ver, f) = k.value();
        if let Ok(rec) = codec::decode::<FileRec>(v.value()) {
            want.insert((
                rec.blob,
                o.to_string(),
                t.to_string(),
                p.to_string(),
                ver.to_string(),
                f.to_string(),
            ));
        }
    }
    let mut problems = Vec::new();
    for entry in index.iter()? {
        let (k, _) = entry?;
        let (blob, o, t, p, ver, f) = k.value();
        let key = (blob, o.to_string(), t.to_string(), p.to_string(), ver.to_string(), f.to_string());
        if !want.remove(&key) {
            problems.push(format!(
                "the checksum index lists {o}/{t}/{p}/{ver}/{f} with blob {blob} it does not have"
            ));
        }
    }
    for (_, o, t, p, ver, f) in want {
        problems.push(format!("file {o}/{t}/{p}/{ver}/{f} is missing from the checksum index"));
    }
    Ok(problems)
}

/// Gives owners without an id one, and rewrites the summaries and lists of each owner whose
/// derived listing data does not match its records (owners with an unreadable record are
/// left alone: what they hold cannot be known).
fn rederive_summaries(tx: &redb::WriteTransaction, did: &mut Vec<String>) -> Result<()> {
    let mut owners = Vec::new();
    for entry in tx.open_table(OWNERS)?.iter()? {
        owners.push(entry?.0.value().to_string());
    }
    for o in owners {
        if tx.open_table(OWNER_IDS)?.get(o.as_str())?.is_none() {
            let id = super::next_id(tx)?;
            tx.open_table(OWNER_IDS)?.insert(o.as_str(), id)?;
            did.push(format!("gave owner {o} the id {id}"));
        }
    }
    let mut wrong = BTreeSet::new();
    {
        // Check from a consistent view of this transaction's tables.
        let (packages, versions) = (tx.open_table(PACKAGES)?, tx.open_table(VERSIONS)?);
        for entry in packages.iter()? {
            wrong.insert(entry?.0.value().0.to_string());
        }
        for entry in versions.iter()? {
            wrong.insert(entry?.0.value().0.to_string());
        }
    }
    for o in wrong {
        if super::summaries::needs_rebuild(tx, &o)? && super::summaries::rebuild_owner(tx, &o)? {
            did.push(format!("recomputed the package summaries and lists of {o}"));
        }
    }
    Ok(())
}

/// Rewrites each owner's usage that differs from what its files and versions add up to,
/// except for `uncountable` owners (an unreadable file record: their count would be short).
/// An unreadable usage record is derived data and is rewritten like a wrong one.
fn recount_usage(
    tx: &redb::WriteTransaction,
    uncountable: &BTreeSet<String>,
    did: &mut Vec<String>,
) -> Result<()> {
    let want = super::quotas::count(&tx.open_table(FILES)?, &tx.open_table(VERSIONS)?)?;
    let mut table = tx.open_table(USAGE)?;
    let mut have: BTreeMap<String, Option<UsageRec>> = BTreeMap::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        have.insert(k.value().to_string(), codec::decode(v.value()).ok());
    }
    let owners: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for o in owners.into_iter().filter(|o| !uncountable.contains(*o)) {
        let w = want.get(o).copied().unwrap_or_default();
        let h = have.get(o).copied();
        if h == Some(Some(w)) || (h.is_none() && w == UsageRec::default()) {
            continue;
        }
        if w == UsageRec::default() {
            table.remove(o.as_str())?;
        } else {
            table.insert(o.as_str(), codec::encode(&w).as_slice())?;
        }
        did.push(format!("recounted the usage of {o}: {} bytes in {} versions", w.bytes, w.versions));
    }
    Ok(())
}
