//! Ordered lists with pages: an owner's versions (all, or of one type), a package's
//! versions and a version's files, each in creation order, so that the management API's
//! pages cost what the page holds, not what the owner holds.
//!
//! An item gets the list's next sequence number when it is added and keeps it (the record
//! it lists stores it, to be removed by it). Items are counted per bucket of [`BUCKET`]
//! sequence numbers, and buckets per span of [`BUCKET`] buckets ([`SPAN`] sequence numbers),
//! so the item at a position is found by adding up span counts (one per 16,384 items), then
//! the bucket counts of one span, then walking one bucket: a step per 16,384 items before
//! it and at most 256 more, never the items themselves. Sequence numbers only grow, so
//! buckets and spans never split. Span counts live in the bucket table under indices with
//! [`SPAN_FLAG`] set, after every bucket of their list. Every change happens in the caller's
//! write transaction, with the records the list is about.

use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};

use super::tables::{ListKey, LISTS, LIST_BUCKETS, LIST_HEADS};
use super::Result;

/// Sequence numbers per bucket, and buckets per span.
pub(crate) const BUCKET: u64 = 128;
/// Sequence numbers per span.
pub(crate) const SPAN: u64 = BUCKET * BUCKET;
/// Set in the bucket-table index of a span's count (`SPAN_FLAG | seq / SPAN`); a bucket's
/// index (`seq / BUCKET`) never reaches it.
pub(crate) const SPAN_FLAG: u64 = 1 << 63;

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
    Tables::open(tx)?.push(list, item)
}

/// The lists' tables, open for a job that adds many items (a table opens once per
/// transaction, and opening one costs about as much as an insert).
pub(crate) struct Tables<'t> {
    heads: Table<'t, ListHead, (u64, u64)>,
    items: Table<'t, ListKey, (&'static str, &'static str, &'static str)>,
    buckets: Table<'t, BucketKey, u64>,
}

type ListHead = (&'static str, &'static str, &'static str, &'static str);
type BucketKey = ListKey;

impl<'t> Tables<'t> {
    pub(crate) fn open(tx: &'t WriteTransaction) -> Result<Tables<'t>> {
        Ok(Tables {
            heads: tx.open_table(LIST_HEADS)?,
            items: tx.open_table(LISTS)?,
            buckets: tx.open_table(LIST_BUCKETS)?,
        })
    }

    /// Appends `item` to `list`; returns its sequence number.
    pub(crate) fn push(&mut self, list: List, item: (&str, &str, &str)) -> Result<u64> {
        let (o, k, p, v) = list;
        let (seq, count) = self.heads.get(list)?.map(|h| h.value()).unwrap_or((0, 0));
        self.heads.insert(list, (seq + 1, count + 1))?;
        self.items.insert((o, k, p, v, seq), item)?;
        for b in [seq / BUCKET, SPAN_FLAG | seq / SPAN] {
            let n = self.buckets.get((o, k, p, v, b))?.map(|c| c.value()).unwrap_or(0);
            self.buckets.insert((o, k, p, v, b), n + 1)?;
        }
        Ok(seq)
    }
}

/// Removes the item at `seq` from `list`; nothing when it is not there.
pub(crate) fn remove(tx: &WriteTransaction, list: List, seq: u64) -> Result<()> {
    let (o, k, p, v) = list;
    if tx.open_table(LISTS)?.remove((o, k, p, v, seq))?.is_none() {
        return Ok(());
    }
    let mut buckets = tx.open_table(LIST_BUCKETS)?;
    for b in [seq / BUCKET, SPAN_FLAG | seq / SPAN] {
        let n = buckets.get((o, k, p, v, b))?.map(|c| c.value()).unwrap_or(0);
        match n {
            0 | 1 => buckets.remove((o, k, p, v, b))?,
            n => buckets.insert((o, k, p, v, b), n - 1)?,
        };
    }
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
    let mut skip = offset;
    // The span holding the position, then its bucket: `skip` counts down what lies before.
    let spans = buckets.range((o, k, p, v, SPAN_FLAG)..=(o, k, p, v, u64::MAX))?;
    let Some(span) = find(spans, newest_first, &mut skip)? else { return Ok(Vec::new()) };
    let first = (span & !SPAN_FLAG) * BUCKET;
    let in_span = buckets.range((o, k, p, v, first)..=(o, k, p, v, first + BUCKET - 1))?;
    let Some(b) = find(in_span, newest_first, &mut skip)? else {
        return Err(super::Error::corrupt(format!(
            "list {o}/{k}/{p}/{v}: a span counts items its buckets lack"
        )));
    };
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

/// Walks counts (of buckets or spans) from the oldest, or the newest when `newest_first`,
/// taking each count off `skip` until one holds the position `skip`: its index, with `skip`
/// left as the position within it. `None` when the counts end first.
fn find(
    counts: redb::Range<'_, (&'static str, &'static str, &'static str, &'static str, u64), u64>,
    newest_first: bool,
    skip: &mut u64,
) -> Result<Option<u64>> {
    let counts: Box<dyn Iterator<Item = _>> =
        if newest_first { Box::new(counts.rev()) } else { Box::new(counts) };
    for entry in counts {
        let (key, n) = entry?;
        let n = n.value();
        if *skip < n {
            return Ok(Some(key.value().4));
        }
        *skip -= n;
    }
    Ok(None)
}

/// What is wrong with the counts of `list`, which holds `n` items: its buckets must add up
/// to `n`, and each span's count to its buckets'. `None` when they do.
pub(crate) fn check_counts(
    buckets: &impl ReadableTable<(&'static str, &'static str, &'static str, &'static str, u64), u64>,
    list: List,
    n: u64,
) -> Result<Option<String>> {
    let (o, k, p, v) = list;
    let mut in_buckets = std::collections::BTreeMap::<u64, u64>::new();
    let mut in_spans = std::collections::BTreeMap::<u64, u64>::new();
    for entry in buckets.range((o, k, p, v, 0)..=(o, k, p, v, u64::MAX))? {
        let (key, count) = entry?;
        let b = key.value().4;
        if b & SPAN_FLAG == 0 {
            *in_buckets.entry(b / BUCKET).or_default() += count.value();
        } else {
            in_spans.insert(b & !SPAN_FLAG, count.value());
        }
    }
    let total: u64 = in_buckets.values().sum();
    Ok(if total != n {
        Some(format!("list {o}/{k}/{p}/{v} counts {total} items in its buckets; {n} are there"))
    } else if in_spans != in_buckets {
        Some(format!("list {o}/{k}/{p}/{v} counts its spans of buckets wrong"))
    } else {
        None
    })
}

/// Counts every list's spans anew from its bucket counts (the layout 5 step: lists of
/// layout 4 had buckets only). Returns how many spans it wrote.
pub(crate) fn count_spans(tx: &WriteTransaction) -> Result<u64> {
    let mut buckets = tx.open_table(LIST_BUCKETS)?;
    let mut spans: std::collections::BTreeMap<(String, String, String, String, u64), u64> =
        Default::default();
    for entry in buckets.iter()? {
        let (key, n) = entry?;
        let (o, k, p, v, b) = key.value();
        if b & SPAN_FLAG == 0 {
            let span = (o.to_string(), k.to_string(), p.to_string(), v.to_string(), SPAN_FLAG | b / BUCKET);
            *spans.entry(span).or_default() += n.value();
        }
    }
    buckets.retain(|(_, _, _, _, b), _| b & SPAN_FLAG == 0)?;
    for ((o, k, p, v, b), n) in &spans {
        buckets.insert((o.as_str(), k.as_str(), p.as_str(), v.as_str(), *b), n)?;
    }
    Ok(spans.len() as u64)
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

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;
    use redb::{Database, ReadableDatabase};

    use super::*;

    /// Pages of a list longer than two spans, with items removed (a whole bucket, and a
    /// span's first and last), are exactly the slices of the list, from either end.
    #[test]
    fn pages_are_slices_of_a_list_across_spans() {
        let db = Database::builder().create_with_backend(InMemoryBackend::new()).unwrap();
        let list = version("alice", "generic", "p", "1");
        let n = 2 * SPAN + 300;
        let gone =
            |seq: u64| (BUCKET..2 * BUCKET).contains(&seq) || [SPAN - 1, SPAN, 2 * SPAN].contains(&seq);
        let tx = db.begin_write().unwrap();
        for seq in 0..n {
            assert_eq!(push(&tx, list, ("generic", "p", &seq.to_string())).unwrap(), seq);
        }
        for seq in (0..n).filter(|&s| gone(s)) {
            remove(&tx, list, seq).unwrap();
        }
        tx.commit().unwrap();
        let all: Vec<String> = (0..n).filter(|&s| !gone(s)).map(|s| s.to_string()).collect();
        let tx = db.begin_read().unwrap();
        assert_eq!(count(&tx, list).unwrap(), all.len() as u64);
        let len = all.len();
        for offset in [
            0,
            1,
            127,
            128,
            200,
            299,   // newest first: the first item of the span before the last
            16255, // oldest first: the first item of the second span
            SPAN as usize - 200,
            SPAN as usize - 130,
            SPAN as usize,
            2 * SPAN as usize - 131,
            len - 10,
            len - 1,
            len,
            len + 5,
        ] {
            for limit in [1, 50, 300] {
                let want = |items: &mut dyn Iterator<Item = &String>| -> Vec<String> {
                    items.skip(offset).take(limit).cloned().collect()
                };
                let got = |newest_first| -> Vec<String> {
                    page(&tx, list, offset as u64, limit, newest_first)
                        .unwrap()
                        .into_iter()
                        .map(|i| i.2)
                        .collect()
                };
                assert_eq!(got(false), want(&mut all.iter()), "oldest first from {offset}, {limit}");
                assert_eq!(got(true), want(&mut all.iter().rev()), "newest first from {offset}, {limit}");
            }
        }
    }
}
