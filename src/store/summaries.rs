//! Derived listing data computed from the records themselves: on opening a database of
//! layout 2 (which had none of it), by `verify` to check it, and by `verify --repair` to
//! rewrite it. What is derived: owner ids, version and file ids (kept when set), the
//! package summaries and version tallies, and the lists of `lists.rs`.

use std::collections::BTreeMap;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::lists;
use super::packages::{latest_version, PackageType};
use super::records::{FileRec, OwnerRec, PackageRec, VersionRec};
use super::tables::{FILES, LISTS, LIST_HEADS, OWNERS, OWNER_IDS, PACKAGES, VERSIONS};
use super::{codec, Error, Result};

/// One owner's packages, versions and files as stored, decoded.
#[derive(Default)]
struct Holdings {
    packages: BTreeMap<(String, String), PackageRec>,
    versions: BTreeMap<(String, String, String), VersionRec>,
    files: BTreeMap<(String, String, String, String), FileRec>,
}

/// Reads owner key `o`'s holdings; `None` when a record of them does not decode (then
/// nothing derived of the owner can be known).
fn holdings(
    packages: &impl ReadableTable<(&'static str, &'static str, &'static str), &'static [u8]>,
    versions: &impl ReadableTable<(&'static str, &'static str, &'static str, &'static str), &'static [u8]>,
    files: &impl ReadableTable<
        (&'static str, &'static str, &'static str, &'static str, &'static str),
        &'static [u8],
    >,
    o: &str,
) -> Result<Option<Holdings>> {
    let mut h = Holdings::default();
    for entry in packages.range((o, "", "")..)? {
        let (k, v) = entry?;
        let (ko, kk, kp) = k.value();
        if ko != o {
            break;
        }
        let Ok(rec) = codec::decode(v.value()) else { return Ok(None) };
        h.packages.insert((kk.into(), kp.into()), rec);
    }
    for entry in versions.range((o, "", "", "")..)? {
        let (k, v) = entry?;
        let (ko, kk, kp, kv) = k.value();
        if ko != o {
            break;
        }
        let Ok(rec) = codec::decode(v.value()) else { return Ok(None) };
        h.versions.insert((kk.into(), kp.into(), kv.into()), rec);
    }
    for entry in files.range((o, "", "", "", "")..)? {
        let (k, v) = entry?;
        let (ko, kk, kp, kv, kf) = k.value();
        if ko != o {
            break;
        }
        let Ok(rec) = codec::decode(v.value()) else { return Ok(None) };
        h.files.insert((kk.into(), kp.into(), kv.into(), kf.into()), rec);
    }
    Ok(Some(h))
}

/// A package's (latest, versions, files, size).
type Summary = (Option<String>, u64, u64, u64);
/// A version's files as (id, or `u64::MAX` when it has none yet; upload time; key).
type Uploads = Vec<(u64, u64, String)>;

/// What a package's summary and a version's tallies must be.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    /// (type, package) → (latest, versions, files, size).
    packages: BTreeMap<(String, String), Summary>,
    /// (type, package, version) → (files, size).
    versions: BTreeMap<(String, String, String), (u64, u64)>,
}

fn expected(h: &Holdings) -> Result<Expected> {
    let mut versions: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for ((k, p, v, _), f) in &h.files {
        let t = versions.entry((k.clone(), p.clone(), v.clone())).or_default();
        t.0 += 1;
        t.1 += f.size;
    }
    let mut packages = BTreeMap::new();
    for (k, p) in h.packages.keys() {
        let kind =
            PackageType::parse(k).ok_or_else(|| Error::corrupt(format!("unknown package type {k:?}")))?;
        let of = h
            .versions
            .range((k.clone(), p.clone(), String::new())..)
            .take_while(|((vk, vp, _), _)| (vk, vp) == (k, p));
        let (mut n, mut files, mut size, mut all) = (0, 0, 0, Vec::new());
        for ((_, _, v), rec) in of {
            let t = versions.get(&(k.clone(), p.clone(), v.clone())).copied().unwrap_or_default();
            n += 1;
            files += t.0;
            size += t.1;
            all.push((rec.version.as_str(), rec.order));
        }
        let latest = latest_version(kind, all).map(str::to_string);
        packages.insert((k.clone(), p.clone()), (latest, n, files, size));
    }
    Ok(Expected { packages, versions })
}

/// Allocates the ids owners lack (in order of creation), and for each owner derives what
/// its listings need. For opening a database of layout 2.
pub(crate) fn upgrade_to_3(tx: &WriteTransaction) -> Result<()> {
    let mut owners: Vec<(u64, String)> = Vec::new();
    for entry in tx.open_table(OWNERS)?.iter()? {
        let (k, v) = entry?;
        let created = codec::decode::<OwnerRec>(v.value()).map(|r| r.created).unwrap_or(0);
        owners.push((created, k.value().to_string()));
    }
    owners.sort();
    for (_, o) in &owners {
        if tx.open_table(OWNER_IDS)?.get(o.as_str())?.is_none() {
            let id = super::next_id(tx)?;
            tx.open_table(OWNER_IDS)?.insert(o.as_str(), id)?;
        }
        if !rebuild_owner(tx, o)? {
            tracing::warn!("owner {o} has a record this build cannot read: its listings stay empty");
        }
    }
    Ok(())
}

/// Rewrites owner key `o`'s summaries, tallies and lists from its records, keeping ids that
/// are set and allocating the others. False (and nothing changed) when a record of the
/// owner does not decode.
pub(crate) fn rebuild_owner(tx: &WriteTransaction, o: &str) -> Result<bool> {
    let h = {
        let (p, v, f) = (tx.open_table(PACKAGES)?, tx.open_table(VERSIONS)?, tx.open_table(FILES)?);
        holdings(&p, &v, &f, o)?
    };
    let Some(mut h) = h else { return Ok(false) };
    let want = expected(&h)?;
    lists::clear_owner(tx, o)?;
    // Versions in creation order, files in upload order (by id, then time and name).
    let mut order: Vec<((String, String, String), u64)> =
        h.versions.iter().map(|(key, rec)| (key.clone(), rec.order)).collect();
    order.sort_by_key(|(key, ord)| (*ord, key.clone()));
    let mut files_of: BTreeMap<(String, String, String), Uploads> = BTreeMap::new();
    for ((k, p, v, f), rec) in &h.files {
        let id = if rec.id == 0 { u64::MAX } else { rec.id };
        files_of.entry((k.clone(), p.clone(), v.clone())).or_default().push((id, rec.created, f.clone()));
    }
    for ((k, p, v), _) in order {
        let rec = h.versions.get_mut(&(k.clone(), p.clone(), v.clone())).expect("listed from the map");
        if rec.id == 0 {
            rec.id = super::next_id(tx)?;
        }
        rec.seqs.owner = lists::push(tx, lists::owner(o), (&k, &p, &v))?;
        rec.seqs.kind = lists::push(tx, lists::of_kind(o, &k), (&k, &p, &v))?;
        rec.seqs.package = lists::push(tx, lists::package(o, &k, &p), (&k, &p, &v))?;
        (rec.files, rec.size) =
            want.versions.get(&(k.clone(), p.clone(), v.clone())).copied().unwrap_or_default();
        tx.open_table(VERSIONS)?
            .insert((o, k.as_str(), p.as_str(), v.as_str()), codec::encode(&*rec).as_slice())?;
        let mut files = files_of.remove(&(k.clone(), p.clone(), v.clone())).unwrap_or_default();
        files.sort();
        for (_, _, f) in files {
            let file =
                h.files.get_mut(&(k.clone(), p.clone(), v.clone(), f.clone())).expect("listed from the map");
            if file.id == 0 {
                file.id = super::next_id(tx)?;
            }
            file.seq = lists::push(tx, lists::version(o, &k, &p, &v), (&k, &p, &f))?;
            tx.open_table(FILES)?.insert(
                (o, k.as_str(), p.as_str(), v.as_str(), f.as_str()),
                codec::encode(&*file).as_slice(),
            )?;
        }
    }
    for ((k, p), rec) in &mut h.packages {
        let (latest, versions, files, size) =
            want.packages.get(&(k.clone(), p.clone())).cloned().unwrap_or_default();
        let updated = h
            .files
            .range((k.clone(), p.clone(), String::new(), String::new())..)
            .take_while(|((fk, fp, _, _), _)| (fk, fp) == (k, p))
            .map(|(_, f)| f.created)
            .max()
            .unwrap_or(rec.created);
        (rec.latest, rec.versions, rec.files, rec.size, rec.updated) =
            (latest, versions, files, size, updated);
        tx.open_table(PACKAGES)?.insert((o, k.as_str(), p.as_str()), codec::encode(&*rec).as_slice())?;
    }
    Ok(true)
}

type Items = (&'static str, &'static str, &'static str, &'static str, u64);
type Heads = (&'static str, &'static str, &'static str, &'static str);

/// What is wrong with owner key `o`'s derived listing data, one line per problem.
pub(crate) fn check_owner(tx: &ReadTransaction, o: &str) -> Result<Vec<String>> {
    let (p, v, f) = (tx.open_table(PACKAGES)?, tx.open_table(VERSIONS)?, tx.open_table(FILES)?);
    check_in(&p, &v, &f, &tx.open_table(LISTS)?, &tx.open_table(LIST_HEADS)?, o)
}

/// Whether owner key `o`'s derived listing data is wrong (in a write transaction).
pub(crate) fn needs_rebuild(tx: &WriteTransaction, o: &str) -> Result<bool> {
    let (p, v, f) = (tx.open_table(PACKAGES)?, tx.open_table(VERSIONS)?, tx.open_table(FILES)?);
    Ok(!check_in(&p, &v, &f, &tx.open_table(LISTS)?, &tx.open_table(LIST_HEADS)?, o)?.is_empty())
}

fn check_in(
    packages: &impl ReadableTable<(&'static str, &'static str, &'static str), &'static [u8]>,
    versions: &impl ReadableTable<(&'static str, &'static str, &'static str, &'static str), &'static [u8]>,
    files: &impl ReadableTable<
        (&'static str, &'static str, &'static str, &'static str, &'static str),
        &'static [u8],
    >,
    items: &impl ReadableTable<Items, (&'static str, &'static str, &'static str)>,
    heads: &impl ReadableTable<Heads, (u64, u64)>,
    o: &str,
) -> Result<Vec<String>> {
    // An unreadable record is reported where it is read; nothing derived can be checked.
    let Some(h) = holdings(packages, versions, files, o)? else { return Ok(Vec::new()) };
    let want = expected(&h)?;
    let mut problems = Vec::new();
    for ((k, p), rec) in &h.packages {
        let have = (rec.latest.clone(), rec.versions, rec.files, rec.size);
        if let Some(w) = want.packages.get(&(k.clone(), p.clone())) {
            if *w != have {
                problems.push(format!(
                    "summary of package {o}/{k}/{p} says latest {:?}, {} versions, {} files, {} bytes; \
                     its records say {:?}, {}, {}, {}",
                    have.0, have.1, have.2, have.3, w.0, w.1, w.2, w.3
                ));
            }
        }
    }
    let listed = |list: lists::List, seq: u64, item: (&str, &str, &str)| -> Result<bool> {
        let (lo, lk, lp, lv) = list;
        Ok(items.get((lo, lk, lp, lv, seq))?.is_some_and(|i| i.value() == item))
    };
    let mut per_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for ((k, p, v), rec) in &h.versions {
        *per_kind.entry(k.as_str()).or_default() += 1;
        let w = want.versions.get(&(k.clone(), p.clone(), v.clone())).copied().unwrap_or_default();
        if (rec.files, rec.size) != w {
            problems.push(format!(
                "version {o}/{k}/{p}/{v} counts {} files of {} bytes; its files are {} of {} bytes",
                rec.files, rec.size, w.0, w.1
            ));
        }
        let item = (k.as_str(), p.as_str(), v.as_str());
        if !listed(lists::owner(o), rec.seqs.owner, item)?
            || !listed(lists::of_kind(o, k), rec.seqs.kind, item)?
            || !listed(lists::package(o, k, p), rec.seqs.package, item)?
        {
            problems.push(format!("version {o}/{k}/{p}/{v} is missing from a list of versions"));
        }
    }
    for ((k, p, v, f), rec) in &h.files {
        if !listed(lists::version(o, k, p, v), rec.seq, (k, p, f))? {
            problems.push(format!("file {o}/{k}/{p}/{v}/{f} is missing from its version's list of files"));
        }
    }
    let mut counts = vec![(lists::owner(o), h.versions.len() as u64)];
    for (k, n) in &per_kind {
        counts.push((lists::of_kind(o, k), *n));
    }
    for ((k, p), (_, n, _, _)) in &want.packages {
        counts.push((lists::package(o, k, p), *n));
    }
    for ((k, p, v), (n, _)) in &want.versions {
        counts.push((lists::version(o, k, p, v), *n));
    }
    for (list, n) in counts {
        let have = heads.get(list)?.map(|h| h.value().1).unwrap_or(0);
        if have != n {
            let (lo, lk, lp, lv) = list;
            problems.push(format!("list {lo}/{lk}/{lp}/{lv} counts {have} items; {n} are there"));
        }
    }
    Ok(problems)
}
