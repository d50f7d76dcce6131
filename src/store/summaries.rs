//! Derived listing data computed from the records themselves: on opening a database of
//! layout 2 (which had none of it), by `verify` to check it, and by `verify --repair` to
//! rewrite it. What is derived: owner ids, version and file ids (kept when set), the
//! package summaries and version tallies, and the lists of `lists.rs`.

use std::collections::BTreeMap;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::lists;
use super::packages::{latest_version, PackageType};
use super::records::{FileRec, OwnerRec, PackageRec, VersionRec};
use super::tables::{FILES, LISTS, LIST_BUCKETS, LIST_HEADS, OWNERS, OWNER_IDS, PACKAGES, VERSIONS};
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
    let lists = (tx.open_table(LISTS)?, tx.open_table(LIST_HEADS)?, tx.open_table(LIST_BUCKETS)?);
    check_in(&p, &v, &f, &lists.0, &lists.1, &lists.2, o)
}

/// Whether owner key `o`'s derived listing data is wrong (in a write transaction).
pub(crate) fn needs_rebuild(tx: &WriteTransaction, o: &str) -> Result<bool> {
    let (p, v, f) = (tx.open_table(PACKAGES)?, tx.open_table(VERSIONS)?, tx.open_table(FILES)?);
    let lists = (tx.open_table(LISTS)?, tx.open_table(LIST_HEADS)?, tx.open_table(LIST_BUCKETS)?);
    Ok(!check_in(&p, &v, &f, &lists.0, &lists.1, &lists.2, o)?.is_empty())
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
    buckets: &impl ReadableTable<Items, u64>,
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
        problems.extend(lists::check_counts(buckets, list, n)?);
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use redb::ReadableTable;
    use serde::Serialize;

    use super::super::tables::{LISTS, LIST_BUCKETS, LIST_HEADS, META, NEXT_ID};
    use super::super::{
        codec, Create, FileTarget, Options, OwnerKind, OwnerRec, PackageType, Publisher, Store,
    };
    use super::*;

    fn open(path: &std::path::Path) -> Store {
        Store::open(path, &Options::default(), Create::IfMissing).unwrap().store
    }

    fn at(kind: PackageType, package: &str, version: &str, file: &str) -> FileTarget {
        FileTarget {
            owner: "alice".into(),
            kind,
            package: package.into(),
            version: version.into(),
            file: file.into(),
        }
    }

    fn put(store: &Store, t: FileTarget, data: &[u8], by: Option<&str>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut up = store.begin_upload(u64::MAX);
            up.push(Bytes::copy_from_slice(data)).await.unwrap();
            let added = store.add_file_by(up.seal().await.unwrap(), t, None, by.map(str::to_string)).await;
            assert!(matches!(added, Ok(super::super::Added::Stored(_))), "{added:?}");
        });
    }

    fn seeded(path: &std::path::Path) -> Store {
        let store = open(path);
        let kind = OwnerKind::User { password_hash: String::new(), admin: false };
        store.add_owner(OwnerRec { name: "Alice".into(), kind, private: false, created: 5 }).unwrap();
        put(&store, at(PackageType::Generic, "App", "1.0", "a.bin"), b"aaaa", Some("alice"));
        put(&store, at(PackageType::Generic, "App", "1.0", "b.bin"), b"bb", Some("alice"));
        put(&store, at(PackageType::Generic, "App", "2.0", "a.bin"), b"a2", Some("alice"));
        put(&store, at(PackageType::Go, "example.com/m", "v1.1.0", "v1.1.0.zip"), b"z11", None);
        put(&store, at(PackageType::Go, "example.com/m", "v1.2.0-pre", "v1.2.0-pre.zip"), b"z12", None);
        put(&store, at(PackageType::Go, "example.com/m", "v1.0.0", "v1.0.0.zip"), b"z1", None);
        store
    }

    /// Every version of the owner, newest first, as (type, package, version, files, size).
    fn listed(store: &Store) -> Vec<(PackageType, String, String, u64, u64)> {
        let page = store.owner_versions("alice", None, "", 0, 1000).unwrap();
        assert_eq!(page.total, page.items.len() as u64);
        page.items.into_iter().map(|v| (v.kind, v.package, v.rec.version, v.rec.files, v.rec.size)).collect()
    }

    #[test]
    fn summaries_follow_every_add_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = seeded(&dir.path().join("d.redb"));
        let app = store.package("alice", PackageType::Generic, "app").unwrap().unwrap().rec;
        assert_eq!((app.latest.as_deref(), app.versions, app.files, app.size), (Some("2.0"), 2, 3, 8));
        let m = store.package("alice", PackageType::Go, "example.com/m").unwrap().unwrap().rec;
        assert_eq!((m.latest.as_deref(), m.versions), (Some("v1.1.0"), 3), "highest release, not newest");
        let g = PackageType::Generic;
        assert_eq!(
            listed(&store),
            vec![
                (PackageType::Go, "example.com/m".into(), "v1.0.0".into(), 1, 2),
                (PackageType::Go, "example.com/m".into(), "v1.2.0-pre".into(), 1, 3),
                (PackageType::Go, "example.com/m".into(), "v1.1.0".into(), 1, 3),
                (g, "App".into(), "2.0".into(), 1, 2),
                (g, "App".into(), "1.0".into(), 2, 6),
            ]
        );
        let v = store.version("alice", g, "app", "1.0").unwrap().unwrap();
        assert!(matches!(&v.creator, Publisher::User(_, o) if o.name == "Alice"), "{:?}", v.creator);
        let go = store.version("alice", PackageType::Go, "example.com/m", "v1.0.0").unwrap().unwrap();
        assert_eq!(go.creator, Publisher::Unrecorded);

        store.delete_file(at(g, "app", "1.0", "A.BIN")).unwrap();
        let app = store.package("alice", g, "app").unwrap().unwrap().rec;
        assert_eq!((app.latest.as_deref(), app.versions, app.files, app.size), (Some("2.0"), 2, 2, 4));
        // The last file of the latest version takes the version, and "latest" moves back.
        store.delete_file(at(g, "app", "2.0", "a.bin")).unwrap();
        let app = store.package("alice", g, "app").unwrap().unwrap().rec;
        assert_eq!((app.latest.as_deref(), app.versions, app.files, app.size), (Some("1.0"), 1, 1, 2));
        store.delete_version("alice", PackageType::Go, "example.com/m", "v1.1.0").unwrap();
        let m = store.package("alice", PackageType::Go, "example.com/m").unwrap().unwrap().rec;
        assert_eq!((m.latest.as_deref(), m.versions, m.files), (Some("v1.0.0"), 2, 2), "a release first");
        assert_eq!(
            store.latest("alice", PackageType::Go, "example.com/m").unwrap().unwrap().rec.version,
            "v1.0.0"
        );
        assert_eq!(listed(&store).len(), 3);
        store.delete_version("alice", g, "app", "1.0").unwrap();
        assert!(store.package("alice", g, "app").unwrap().is_none(), "the last version takes the package");
        assert_eq!(store.owner_versions("alice", Some(g), "", 0, 10).unwrap().total, 0);
        let report = store.verify().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        store.close();
    }

    /// Pages across buckets: every offset and limit reads exactly the slice of the whole list,
    /// after deletes that empty whole buckets too.
    #[test]
    fn pages_are_slices_of_the_whole_list_across_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("d.redb"));
        let kind = OwnerKind::User { password_hash: String::new(), admin: false };
        store.add_owner(OwnerRec { name: "alice".into(), kind, private: false, created: 0 }).unwrap();
        let n = 3 * lists::BUCKET + 7;
        for i in 0..n {
            put(&store, at(PackageType::Generic, "p", &i.to_string(), "f"), b"x", None);
        }
        for i in (lists::BUCKET..2 * lists::BUCKET).chain([0, 5, n - 1]) {
            store.delete_version("alice", PackageType::Generic, "p", &i.to_string()).unwrap();
        }
        let all: Vec<String> = (0..n)
            .rev()
            .filter(|i| !((lists::BUCKET..2 * lists::BUCKET).contains(i) || [0, 5, n - 1].contains(i)))
            .map(|i| i.to_string())
            .collect();
        for (offset, limit) in [
            (0, 1),
            (0, 50),
            (3, 200),
            (120, 10),
            (127, 2),
            (128, 1),
            (all.len() - 1, 5),
            (all.len(), 5),
            (999, 5),
        ] {
            let page = store
                .package_versions("alice", PackageType::Generic, "p", offset as u64, limit)
                .unwrap()
                .unwrap();
            assert_eq!(page.total, all.len() as u64);
            let got: Vec<String> = page.items.into_iter().map(|v| v.rec.version).collect();
            let want: Vec<String> = all.iter().skip(offset).take(limit).cloned().collect();
            assert_eq!(got, want, "offset {offset} limit {limit}");
        }
        let report = store.verify().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        store.close();
    }

    /// Format 1 bytes of `rec` as the release before wrote them.
    fn format_1(rec: &impl Serialize) -> Vec<u8> {
        let mut bytes = codec::encode(rec);
        bytes[0] = 1;
        bytes
    }

    /// A database as layout 2 left it (format 1 package, version and file records; no ids,
    /// summaries or lists) opens as layout 3 with all of them derived, in creation order.
    #[test]
    fn a_layout_2_database_is_upgraded_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.redb");
        let seeded = seeded(&path);
        let before = listed(&seeded);
        seeded.close();
        // Take the database back to layout 2.
        {
            let db = redb::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                #[derive(Serialize)]
                struct P<'a>(&'a str, u64);
                #[derive(Serialize)]
                struct V<'a>(&'a str, u64, u64);
                #[derive(Serialize)]
                struct F<'a>(&'a str, u64, [u8; 32], u64, u64);
                let mut t = tx.open_table(PACKAGES).unwrap();
                let all: Vec<_> = t
                    .iter()
                    .unwrap()
                    .map(|e| e.unwrap())
                    .map(|(k, v)| {
                        (
                            k.value().0.to_string(),
                            k.value().1.to_string(),
                            k.value().2.to_string(),
                            v.value().to_vec(),
                        )
                    })
                    .collect();
                for (o, k, p, v) in all {
                    let r: PackageRec = codec::decode(&v).unwrap();
                    t.insert(
                        (o.as_str(), k.as_str(), p.as_str()),
                        format_1(&P(&r.name, r.created)).as_slice(),
                    )
                    .unwrap();
                }
                let mut t = tx.open_table(VERSIONS).unwrap();
                let all: Vec<_> = t
                    .iter()
                    .unwrap()
                    .map(|e| e.unwrap())
                    .map(|(k, v)| {
                        let (a, b, c, d) = k.value();
                        ((a.to_string(), b.to_string(), c.to_string(), d.to_string()), v.value().to_vec())
                    })
                    .collect();
                for ((o, k, p, ver), v) in all {
                    let r: VersionRec = codec::decode(&v).unwrap();
                    let old = format_1(&V(&r.version, r.created, r.order));
                    t.insert((o.as_str(), k.as_str(), p.as_str(), ver.as_str()), old.as_slice()).unwrap();
                }
                let mut t = tx.open_table(FILES).unwrap();
                let all: Vec<_> = t
                    .iter()
                    .unwrap()
                    .map(|e| e.unwrap())
                    .map(|(k, v)| {
                        let (a, b, c, d, e) = k.value();
                        (
                            (a.to_string(), b.to_string(), c.to_string(), d.to_string(), e.to_string()),
                            v.value().to_vec(),
                        )
                    })
                    .collect();
                for ((o, k, p, ver, f), v) in all {
                    let r: FileRec = codec::decode(&v).unwrap();
                    let old = format_1(&F(&r.name, r.blob, r.sha256, r.size, r.created));
                    t.insert((o.as_str(), k.as_str(), p.as_str(), ver.as_str(), f.as_str()), old.as_slice())
                        .unwrap();
                }
                tx.open_table(OWNER_IDS).unwrap().retain(|_, _| false).unwrap();
                tx.open_table(LISTS).unwrap().retain(|_, _| false).unwrap();
                tx.open_table(LIST_BUCKETS).unwrap().retain(|_, _| false).unwrap();
                tx.open_table(LIST_HEADS).unwrap().retain(|_, _| false).unwrap();
                super::super::recent::as_layout_5(&tx).unwrap();
                let mut meta = tx.open_table(META).unwrap();
                meta.remove(NEXT_ID).unwrap();
                meta.insert("format", 2u32.to_le_bytes().as_slice()).unwrap();
            }
            tx.commit().unwrap();
        }
        let store = open(&path);
        let report = store.verify().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(listed(&store), before, "summaries and creation order derived from the records");
        let app = store.package("alice", PackageType::Generic, "app").unwrap().unwrap().rec;
        assert_eq!((app.latest.as_deref(), app.versions, app.files, app.size), (Some("2.0"), 2, 3, 8));
        let owner = store.owner_id("alice").unwrap().expect("an owner id");
        let page = store.owner_versions("alice", None, "", 0, 100).unwrap();
        let mut ids: Vec<u64> = page.items.iter().map(|v| v.rec.id).collect();
        assert!(
            page.items.iter().all(|v| v.creator == Publisher::Unrecorded),
            "creators were not recorded before"
        );
        ids.push(owner);
        let files = store.files_page("alice", PackageType::Generic, "app", "1.0", 0, 10).unwrap().unwrap();
        assert_eq!(files.items.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a.bin", "b.bin"]);
        ids.extend(files.items.iter().map(|f| f.id));
        assert!(ids.iter().all(|&id| id > 0));
        let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "ids are unique: {ids:?}");
        // Ids are kept from now on, and new ones come after.
        put(&store, at(PackageType::Generic, "app", "3.0", "c.bin"), b"c", Some("alice"));
        let again = store.owner_versions("alice", None, "", 1, 100).unwrap();
        assert_eq!(again.items.iter().map(|v| v.rec.id).collect::<Vec<_>>(), ids[..page.items.len()]);
        let new = store.latest("alice", PackageType::Generic, "app").unwrap().unwrap();
        assert!(new.rec.id > *distinct.last().unwrap());
        store.close();
        let store = open(&path);
        assert!(store.verify().unwrap().problems.is_empty());
        store.close();
    }

    /// A layout 3 database (no index of files by checksum) opens as layout 4 with the index
    /// filled from the file records; an index entry lost later is reported by verify and put
    /// back by repair.
    #[test]
    fn a_layout_3_database_gets_its_checksum_index_and_repair_keeps_it_whole() {
        use super::super::tables::{BLOB_BY_SHA, FILES_BY_BLOB};
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.redb");
        seeded(&path).close();
        {
            let db = redb::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(FILES_BY_BLOB).unwrap().retain(|_, _| false).unwrap();
            super::super::recent::as_layout_5(&tx).unwrap();
            tx.open_table(META).unwrap().insert("format", 3u32.to_le_bytes().as_slice()).unwrap();
            tx.commit().unwrap();
        }
        let store = open(&path);
        assert!(store.verify().unwrap().problems.is_empty());
        let sha: [u8; 32] = sha2::Sha256::digest(b"aaaa").into();
        let found = store.files_with_sha("Alice", sha, 0, 10).unwrap();
        assert_eq!(found.total, 1);
        let (v, f) = &found.items[0];
        assert_eq!((v.package.as_str(), v.rec.version.as_str(), f.name.as_str()), ("App", "1.0", "a.bin"));
        assert_eq!(store.files_with_sha("bob", sha, 0, 10).unwrap().total, 0, "within the owner only");
        store.close();
        {
            let db = redb::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            let blob = tx.open_table(BLOB_BY_SHA).unwrap().get(sha).unwrap().unwrap().value();
            tx.open_table(FILES_BY_BLOB).unwrap().retain(|(b, ..), _| b != blob).unwrap();
            tx.commit().unwrap();
        }
        let store = open(&path);
        let problems = store.verify().unwrap().problems;
        assert_eq!(problems, ["file alice/generic/app/1.0/a.bin is missing from the checksum index"]);
        let repaired = store.repair().unwrap();
        assert!(repaired.actions.iter().any(|a| a.contains("index of files by checksum")), "{repaired:?}");
        assert!(repaired.after.problems.is_empty(), "{:?}", repaired.after.problems);
        assert_eq!(store.files_with_sha("alice", sha, 0, 10).unwrap().total, 1);
        store.close();
    }

    /// A layout 4 database (bucket counts only) opens as layout 5 with its spans counted; a
    /// span count gone wrong later is reported by verify and put right by repair.
    #[test]
    fn a_layout_4_database_gets_its_span_counts_and_repair_keeps_them_right() {
        use super::lists::SPAN_FLAG;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.redb");
        seeded(&path).close();
        let spans = |path: &std::path::Path| -> Vec<((String, String, String, String, u64), u64)> {
            let db = redb::Database::create(path).unwrap();
            let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
            let table = tx.open_table(LIST_BUCKETS).unwrap();
            let mut out = Vec::new();
            for entry in table.iter().unwrap() {
                let (k, n) = entry.unwrap();
                let (o, kk, p, v, b) = k.value();
                if b & SPAN_FLAG != 0 {
                    out.push(((o.into(), kk.into(), p.into(), v.into(), b), n.value()));
                }
            }
            out
        };
        let written = spans(&path);
        // owner, 2 types, 2 packages, 5 versions: one span each, as many as their items.
        assert_eq!(written.len(), 1 + 2 + 2 + 5, "{written:?}");
        {
            let db = redb::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(LIST_BUCKETS).unwrap().retain(|(.., b), _| b & SPAN_FLAG == 0).unwrap();
            super::super::recent::as_layout_5(&tx).unwrap();
            tx.open_table(META).unwrap().insert("format", 4u32.to_le_bytes().as_slice()).unwrap();
            tx.commit().unwrap();
        }
        let store = open(&path);
        assert!(store.verify().unwrap().problems.is_empty());
        let page = store.owner_versions("alice", None, "", 1, 2).unwrap();
        assert_eq!(page.total, 5);
        assert_eq!(
            page.items.iter().map(|v| v.rec.version.as_str()).collect::<Vec<_>>(),
            ["v1.2.0-pre", "v1.1.0"]
        );
        store.close();
        assert_eq!(spans(&path), written, "the upgrade counts what pushes count");
        {
            let db = redb::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(LIST_BUCKETS).unwrap().insert(("alice", "", "", "", SPAN_FLAG), 9).unwrap();
            tx.commit().unwrap();
        }
        let store = open(&path);
        let problems = store.verify().unwrap().problems;
        assert_eq!(problems, ["list alice/// counts its spans of buckets wrong"]);
        let repaired = store.repair().unwrap();
        assert!(repaired.after.problems.is_empty(), "{:?}", repaired.after.problems);
        store.close();
        assert_eq!(spans(&path), written);
    }

    /// A summary off by a bug is reported by verify and rewritten by repair.
    #[test]
    fn verify_reports_a_wrong_summary_and_repair_rewrites_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = seeded(&dir.path().join("d.redb"));
        store
            .write(|tx| {
                let mut t = tx.open_table(PACKAGES)?;
                let key = ("alice", "generic", "app");
                let mut rec: PackageRec = codec::decode(t.get(key)?.unwrap().value())?;
                rec.files += 1;
                rec.latest = Some("1.0".into());
                t.insert(key, codec::encode(&rec).as_slice())?;
                Ok(())
            })
            .unwrap();
        let problems = store.verify().unwrap().problems;
        assert!(problems.iter().any(|p| p.contains("summary of package alice/generic/app")), "{problems:?}");
        let repaired = store.repair().unwrap();
        assert!(repaired.actions.iter().any(|a| a.contains("summaries and lists of alice")), "{repaired:?}");
        assert!(repaired.after.problems.is_empty(), "{:?}", repaired.after.problems);
        let app = store.package("alice", PackageType::Generic, "app").unwrap().unwrap().rec;
        assert_eq!((app.latest.as_deref(), app.files), (Some("2.0"), 3));
        store.close();
    }
}
