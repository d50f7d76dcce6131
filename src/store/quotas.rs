//! Per-owner usage and quotas: how many bytes of files and how many versions an owner holds,
//! and the limits an admin set. Usage changes in the same transaction as the files it counts,
//! so it is never off by a crash; a write that would pass a limit is refused (507) and leaves
//! nothing behind.

use std::collections::BTreeMap;

use redb::{ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::records::{FileRec, QuotaRec, UsageRec};
use super::tables::{FILES, OWNERS, QUOTAS, USAGE, VERSIONS};
use super::{codec, get_rec, Error, Result, Store, What};
use crate::names::key;

/// The quota and usage tables, open for a job that charges many uploads (a table opens once
/// per transaction).
pub(crate) struct Tables<'t> {
    quotas: Table<'t, &'static str, &'static [u8]>,
    usage: Table<'t, &'static str, &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(tx: &'t WriteTransaction) -> Result<Tables<'t>> {
        Ok(Tables { quotas: tx.open_table(QUOTAS)?, usage: tx.open_table(USAGE)? })
    }
}

/// An owner's usage and limits, for listings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerUsage {
    pub owner: String,
    pub usage: UsageRec,
    pub quota: QuotaRec,
}

/// Adds `bytes` and `versions` to owner key `o`'s usage, unless that would exceed its quota:
/// then nothing changes and the answer is a message naming the limit (`o` spelled `name`).
/// One read and one write of the usage record, for the upload path.
pub(crate) fn charge(
    t: &mut Tables,
    o: &str,
    name: &str,
    bytes: u64,
    versions: u64,
) -> Result<Option<String>> {
    let quota: QuotaRec = get_rec(&t.quotas, o)?.unwrap_or_default();
    let table = &mut t.usage;
    let mut usage: UsageRec = get_rec(table, o)?.unwrap_or_default();
    if let Some(max) = quota.max_bytes {
        if usage.bytes.saturating_add(bytes) > max {
            return Ok(Some(format!(
                "storage quota of {name} exceeded: {} of {max} bytes used, this needs {bytes} more",
                usage.bytes
            )));
        }
    }
    if let Some(max) = quota.max_versions {
        if versions > 0 && usage.versions.saturating_add(versions) > max {
            return Ok(Some(format!(
                "version quota of {name} exceeded: {} of {max} versions used",
                usage.versions
            )));
        }
    }
    usage.bytes = usage.bytes.saturating_add(bytes);
    usage.versions = usage.versions.saturating_add(versions);
    table.insert(o, codec::encode(&usage).as_slice())?;
    Ok(None)
}

/// Adds the signed deltas to owner key `o`'s usage.
pub(crate) fn account(tx: &WriteTransaction, o: &str, bytes: i64, versions: i64) -> Result<()> {
    let mut table = tx.open_table(USAGE)?;
    let mut u: UsageRec = get_rec(&table, o)?.unwrap_or_default();
    u.bytes = u.bytes.saturating_add_signed(bytes);
    u.versions = u.versions.saturating_add_signed(versions);
    table.insert(o, codec::encode(&u).as_slice())?;
    Ok(())
}

type FilesTable = (&'static str, &'static str, &'static str, &'static str, &'static str);
type VersionsTable = (&'static str, &'static str, &'static str, &'static str);

/// Every owner's usage as its files and versions add up (owners holding nothing left out).
pub(crate) fn count(
    files: &impl ReadableTable<FilesTable, &'static [u8]>,
    versions: &impl ReadableTable<VersionsTable, &'static [u8]>,
) -> Result<BTreeMap<String, UsageRec>> {
    let mut usage: BTreeMap<String, UsageRec> = BTreeMap::new();
    for entry in files.iter()? {
        let (k, v) = entry?;
        // An unreadable record is verify's to report; it counts for nothing here.
        if let Ok(rec) = codec::decode::<FileRec>(v.value()) {
            usage.entry(k.value().0.to_string()).or_default().bytes += rec.size;
        }
    }
    for entry in versions.iter()? {
        usage.entry(entry?.0.value().0.to_string()).or_default().versions += 1;
    }
    Ok(usage)
}

/// The usage records as stored (owners holding nothing left out).
pub(crate) fn stored(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<BTreeMap<String, UsageRec>> {
    let mut out = BTreeMap::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        let u: UsageRec = codec::decode(v.value())?;
        if u != UsageRec::default() {
            out.insert(k.value().to_string(), u);
        }
    }
    Ok(out)
}

/// Rewrites every owner's usage from its files and versions (the layout 1 → 2 migration,
/// and `verify --repair`). Returns whether anything changed.
pub(crate) fn recompute(tx: &WriteTransaction) -> Result<bool> {
    let usage = count(&tx.open_table(FILES)?, &tx.open_table(VERSIONS)?)?;
    let mut table = tx.open_table(USAGE)?;
    if stored(&table)? == usage {
        return Ok(false);
    }
    table.retain(|_, _| false)?;
    for (o, u) in &usage {
        table.insert(o.as_str(), codec::encode(u).as_slice())?;
    }
    Ok(true)
}

impl Store {
    /// Sets (replaces) the quota of `owner`; `None` fields are unlimited.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the owner does not exist.
    pub fn set_quota(&self, owner: &str, quota: QuotaRec) -> Result<()> {
        let o = key(owner);
        self.write(move |tx| {
            if tx.open_table(OWNERS)?.get(o.as_str())?.is_none() {
                return Err(Error::NotFound(What::Owner));
            }
            let mut table = tx.open_table(QUOTAS)?;
            if quota == QuotaRec::default() {
                table.remove(o.as_str())?;
            } else {
                table.insert(o.as_str(), codec::encode(&quota).as_slice())?;
            }
            Ok(())
        })
    }

    /// Usage and quota of every owner (or of one), sorted by owner key.
    pub fn usage(&self, owner: Option<&str>) -> Result<Vec<OwnerUsage>> {
        let tx = self.read()?;
        let (usage, quotas) = (tx.open_table(USAGE)?, tx.open_table(QUOTAS)?);
        let mut out = Vec::new();
        for entry in tx.open_table(OWNERS)?.iter()? {
            let (k, v) = entry?;
            let o = k.value();
            if owner.is_some_and(|want| key(want) != o) {
                continue;
            }
            let rec: super::records::OwnerRec = codec::decode(v.value())?;
            out.push(OwnerUsage {
                owner: rec.name,
                usage: get_rec(&usage, o)?.unwrap_or_default(),
                quota: get_rec(&quotas, o)?.unwrap_or_default(),
            });
        }
        if owner.is_some() && out.is_empty() {
            return Err(Error::NotFound(What::Owner));
        }
        Ok(out)
    }
}
