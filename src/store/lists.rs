//! Ordered lists with pages: an owner's versions (all, or of one type), a package's
//! versions and a version's files, each in creation order, so that the management API's
//! pages cost what the page holds, not what the owner holds.
//!
//! An item gets the list's next sequence number when it is added and keeps it (the record
//! it lists stores it, to be removed by it). Items are counted per bucket of [`BUCKET`]
//! sequence numbers, so the item at a position is found by adding up bucket counts (a few
//! per thousand items) and then walking one bucket, never the items before it. Sequence
//! numbers only grow, so buckets never split. Every change happens in the caller's write
//! transaction, with the records the list is about.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::tables::{LISTS, LIST_BUCKETS, LIST_HEADS};
use super::Result;

/// Sequence numbers per bucket.
pub(crate) const BUCKET: u64 = 128;

/// A list's name: (owner key, type, package key, version key), parts it is not about empty.
pub(crate) type List<'a> = (&'a str, &'a str, &'a str, &'a str);

/// An item: (type, package key, version or file key).
pub(crate) type Item = (String, String, String);

/// The owner's versions of every type.
pub(crate) fn owner(o: &str) -> List<'_> {
    (o, "", "", "")
}

/// The owner's versions of type `k`.
pub(crate) fn of_kind<'a>(o: &'a str, k: &'a str) -> List<'a> {
    (o, k, "", "")
}

/// The versions of package `p`.
pub(crate) fn package<'a>(o: &'a str, k: &'a str, p: &'a str) -> List<'a> {
    (o, k, p, "")
}

/// The files of version `v`.
pub(crate) fn version<'a>(o: &'a str, k: &'a str, p: &'a str, v: &'a str) -> List<'a> {
    (o, k, p, v)
}

/// Appends `item` to `list`; returns its sequence number.
pub(crate) fn push(tx: &WriteTransaction, list: List, item: (&str, &str, &str)) -> Result<u64> {
    let (o, k, p, v) = list;
    let mut heads = tx.open_table(LIST_HEADS)?;
    let (seq, count) = heads.get(list)?.map(|h| h.value()).unwrap_or((0, 0));
    heads.insert(list, (seq + 1, count + 1))?;
    tx.open_table(LISTS)?.insert((o, k, p, v, seq), item)?;
    let mut buckets = tx.open_table(LIST_BUCKETS)?;
    let b = (o, k, p, v, seq / BUCKET);
    let n = buckets.get(b)?.map(|c| c.value()).unwrap_or(0);
    buckets.insert(b, n + 1)?;
    Ok(seq)
}

/// Removes the item at `seq` from `list`; nothing when it is not there.
pub(crate) fn remove(tx: &WriteTransaction, list: List, seq: u64) -> Result<()> {
    let (o, k, p, v) = list;
    if tx.open_table(LISTS)?.remove((o, k, p, v, seq))?.is_none() {
        return Ok(());
    }
    let mut buckets = tx.open_table(LIST_BUCKETS)?;
    let b = (o, k, p, v, seq / BUCKET);
    let n = buckets.get(b)?.map(|c| c.value()).unwrap_or(0);
    match n {
        0 | 1 => buckets.remove(b)?,
        n => buckets.insert(b, n - 1)?,
    };
    let mut heads = tx.open_table(LIST_HEADS)?;
    let head = heads.get(list)?.map(|h| h.value());
    match head {
        None | Some((_, 0 | 1)) => heads.remove(list)?,
        Some((next, n)) => heads.insert(list, (next, n - 1))?,
    };
    Ok(())
}

/// Removes every item of `list` (and the list).
pub(crate) fn clear(tx: &WriteTransaction, list: List) -> Result<()> {
    let (o, k, p, v) = list;
    tx.open_table(LISTS)?.retain_in((o, k, p, v, 0)..=(o, k, p, v, u64::MAX), |_, _| false)?;
    tx.open_table(LIST_BUCKETS)?.retain_in((o, k, p, v, 0)..=(o, k, p, v, u64::MAX), |_, _| false)?;
    tx.open_table(LIST_HEADS)?.remove(list)?;
    Ok(())
}

/// Removes every list of owner key `o`.
pub(crate) fn clear_owner(tx: &WriteTransaction, o: &str) -> Result<()> {
    let mut heads = Vec::new();
    for entry in tx.open_table(LIST_HEADS)?.range((o, "", "", "")..)? {
        let (k, _) = entry?;
        let (ko, kk, kp, kv) = k.value();
        if ko != o {
            break;
        }
        heads.push((kk.to_string(), kp.to_string(), kv.to_string()));
    }
    for (k, p, v) in &heads {
        clear(tx, (o, k, p, v))?;
    }
    Ok(())
}

/// Number of items in `list`.
pub(crate) fn count(tx: &ReadTransaction, list: List) -> Result<u64> {
    Ok(tx.open_table(LIST_HEADS)?.get(list)?.map(|h| h.value().1).unwrap_or(0))
}

/// The newest item of `list` (in a write transaction).
pub(crate) fn last(tx: &WriteTransaction, list: List) -> Result<Option<Item>> {
    let (o, k, p, v) = list;
    let table = tx.open_table(LISTS)?;
    let mut range = table.range((o, k, p, v, 0)..=(o, k, p, v, u64::MAX))?;
    let last = match range.next_back() {
        Some(entry) => Some(owned(entry?.1.value())),
        None => None,
    };
    Ok(last)
}

fn owned((k, p, f): (&str, &str, &str)) -> Item {
    (k.to_string(), p.to_string(), f.to_string())
}

/// Up to `limit` items of `list` from position `offset`, newest first when `newest_first`.
pub(crate) fn page(
    tx: &ReadTransaction,
    list: List,
    offset: u64,
    limit: usize,
    newest_first: bool,
) -> Result<Vec<Item>> {
    let (o, k, p, v) = list;
    let buckets = tx.open_table(LIST_BUCKETS)?;
    let all = buckets.range((o, k, p, v, 0)..=(o, k, p, v, u64::MAX))?;
    let mut skip = offset;
    let mut start = None;
    let mut step = |b: u64, n: u64| {
        if skip < n {
            start = Some(b);
            return true;
        }
        skip -= n;
        false
    };
    if newest_first {
        for entry in all.rev() {
            let (key, n) = entry?;
            if step(key.value().4, n.value()) {
                break;
            }
        }
    } else {
        for entry in all {
            let (key, n) = entry?;
            if step(key.value().4, n.value()) {
                break;
            }
        }
    }
    let Some(b) = start else { return Ok(Vec::new()) };
    let items = tx.open_table(LISTS)?;
    let mut out = Vec::with_capacity(limit.min(1024));
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    if newest_first {
        let end = b.saturating_mul(BUCKET).saturating_add(BUCKET - 1);
        for entry in items.range((o, k, p, v, 0)..=(o, k, p, v, end))?.rev().skip(skip).take(limit) {
            out.push(owned(entry?.1.value()));
        }
    } else {
        let first = b.saturating_mul(BUCKET);
        for entry in items.range((o, k, p, v, first)..=(o, k, p, v, u64::MAX))?.skip(skip).take(limit) {
            out.push(owned(entry?.1.value()));
        }
    }
    Ok(out)
}

/// Every item of `list` from the newest, while `keep` says so (for filtered pages).
pub(crate) fn newest_while(
    tx: &ReadTransaction,
    list: List,
    mut keep: impl FnMut((&str, &str, &str)) -> bool,
) -> Result<()> {
    let (o, k, p, v) = list;
    let items = tx.open_table(LISTS)?;
    for entry in items.range((o, k, p, v, 0)..=(o, k, p, v, u64::MAX))?.rev() {
        let (_, item) = entry?;
        if !keep(item.value()) {
            break;
        }
    }
    Ok(())
}
