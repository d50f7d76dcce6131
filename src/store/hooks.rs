//! Publish events: an owner's webhooks (`HOOKS`), the outbox of events not yet delivered
//! (`OUTBOX`) and each hook's delivery log (`DELIVERIES`).
//!
//! Invariants:
//! 1. An event is written by [`record_event`] inside the transaction of the change it
//!    reports (a version published, a version removed), one outbox entry per active hook of
//!    the owner that subscribed to it, so the entry exists iff the change committed: a crash
//!    can neither lose nor invent one. An owner with no such hook gets no entry.
//! 2. An outbox entry carries what its payload needs as it was at the change (the version
//!    record, the package's spelling, who did it), so a version deleted since still renders.
//! 3. An entry leaves the outbox only in the transaction that logs its last attempt
//!    (delivered, or given up), or with its hook. Delivery is therefore at least once.
//! 4. Every outbox entry and log entry names an existing hook: deleting a hook (or its
//!    owner) removes them in the same transaction. A hook's log holds at most [`LOG_KEEP`].
//!
//! What is sent, when and how is `crate::webhook`'s business; this module only stores.

use std::sync::Arc;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::packages::Publisher;
use super::records::{Creator, OwnerRec, Record, VersionRec};
use super::tables::{DELIVERIES, HOOKS, OUTBOX, OWNERS, OWNER_IDS};
use super::{codec, get_rec, writer, Error, Result, Store, What};
use crate::names::key;

/// Delivery attempts kept per hook, newest first.
pub const LOG_KEEP: usize = 50;

/// Hooks one owner may have: enough for every consumer, few enough that a publish's
/// transaction stays short.
pub const MAX_HOOKS_PER_OWNER: usize = 20;

/// What happened to a version (Gitea's package event actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Its first file was published.
    Created,
    /// It was removed (with its last file, or as a whole).
    Deleted,
}

impl Action {
    /// Gitea's name of the action, as in the payload and the hook's `events`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "created" => Some(Action::Created),
            "deleted" => Some(Action::Deleted),
            _ => None,
        }
    }
}

/// A webhook of an owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRec {
    /// From the store's id counter; unique over all owners.
    pub id: u64,
    pub url: String,
    /// The HMAC key of the signatures. Stored as given: signing needs it.
    pub secret: String,
    pub on_created: bool,
    pub on_deleted: bool,
    pub active: bool,
    pub created: u64,
    /// Scheme and host the hook was created through: the base of its payloads' links (a
    /// delivery has no request of its own to take them from).
    pub base: String,
}

impl HookRec {
    /// Whether this hook is to hear of `action` now.
    pub fn wants(&self, action: Action) -> bool {
        self.active
            && match action {
                Action::Created => self.on_created,
                Action::Deleted => self.on_deleted,
            }
    }
}

/// A change as an event reports it, recorded at the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRec {
    pub action: Action,
    /// Owner key.
    pub owner: String,
    /// `PackageType::as_str`.
    pub kind: String,
    /// The package's spelling.
    pub package: String,
    /// The version as it was: after its first file for `Created`, before removal for `Deleted`.
    pub version: VersionRec,
    /// Who made the change; `None` when no user did (a cleanup rule).
    pub sender: Option<Creator>,
    pub time: u64,
}

/// An event one hook has yet to receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRec {
    pub hook: u64,
    /// The delivery's id (a UUID, as Gitea's `X-Gitea-Delivery`); the same on every retry.
    pub delivery: String,
    pub event: EventRec,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was queued and when the next attempt is due, in milliseconds since the epoch.
    pub queued_ms: u64,
    pub next_ms: u64,
}

/// One delivery attempt, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRec {
    pub delivery: String,
    /// When the attempt started, in milliseconds since the epoch.
    pub time_ms: u64,
    /// 1 for the first attempt of this delivery.
    pub attempt: u32,
    /// The receiver's status code; `None` when no answer came.
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// Why the attempt failed; empty when it succeeded.
    pub error: String,
    pub ok: bool,
    /// Whether the delivery is over (delivered or given up): no retry follows.
    pub last: bool,
    /// What was reported, for a redelivery.
    pub event: EventRec,
}

impl Record for HookRec {
    fn invalid(&self) -> Option<&'static str> {
        self.url.is_empty().then_some("webhook without a URL")
    }
}

impl Record for OutboxRec {
    fn invalid(&self) -> Option<&'static str> {
        self.delivery.is_empty().then_some("outbox entry without a delivery id")
    }
}

impl Record for DeliveryRec {
    fn invalid(&self) -> Option<&'static str> {
        self.delivery.is_empty().then_some("delivery without an id")
    }
}

/// A new delivery id: a random (version 4) UUID, as Gitea sends.
fn delivery_id() -> String {
    let mut b = [0u8; 16];
    // The OS random source failing is not something to publish around; a fixed id would
    // still be delivered, only not told apart by a receiver that deduplicates.
    let _ = getrandom::getrandom(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::http::headers::hex(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The hooks of owner key `o`, in creation order.
fn hooks_of(table: &impl ReadableTable<(&'static str, u64), &'static [u8]>, o: &str) -> Result<Vec<HookRec>> {
    let mut out = Vec::new();
    for entry in table.range((o, 0u64)..=(o, u64::MAX))? {
        let (_, v) = entry?;
        out.push(codec::decode(v.value())?);
    }
    Ok(out)
}

/// Queues `event` for every active hook of its owner that subscribed to its action, in the
/// caller's transaction (invariant 1). Writes nothing when there is no such hook. Returns
/// whether it queued anything: only then has the deliverer work once the transaction commits.
pub(crate) fn record_event(tx: &WriteTransaction, event: EventRec) -> Result<bool> {
    let hooks = hooks_of(&tx.open_table(HOOKS)?, &event.owner)?;
    let now = now_ms();
    let wanted: Vec<HookRec> = hooks.into_iter().filter(|h| h.wants(event.action)).collect();
    for hook in &wanted {
        let seq = super::next_id(tx)?;
        let rec = OutboxRec {
            hook: hook.id,
            delivery: delivery_id(),
            event: event.clone(),
            attempts: 0,
            queued_ms: now,
            next_ms: now,
        };
        tx.open_table(OUTBOX)?.insert(seq, codec::encode(&rec).as_slice())?;
    }
    Ok(!wanted.is_empty())
}

/// Removes hook `id` of owner key `o` with its outbox entries and its log (invariant 4).
fn remove_hook(tx: &WriteTransaction, o: &str, id: u64) -> Result<bool> {
    if tx.open_table(HOOKS)?.remove((o, id))?.is_none() {
        return Ok(false);
    }
    // A record that does not decode can be no hook's valid entry: it goes too.
    tx.open_table(OUTBOX)?.retain(|_, v| codec::decode::<OutboxRec>(v).is_ok_and(|r| r.hook != id))?;
    tx.open_table(DELIVERIES)?.retain_in((id, 0u64)..=(id, u64::MAX), |_, _| false)?;
    Ok(true)
}

/// Removes every hook of owner key `o` (the owner is being deleted).
pub(super) fn remove_owner_hooks(tx: &WriteTransaction, o: &str) -> Result<()> {
    let ids: Vec<u64> = hooks_of(&tx.open_table(HOOKS)?, o)?.iter().map(|h| h.id).collect();
    for id in ids {
        remove_hook(tx, o, id)?;
    }
    Ok(())
}

/// Who `c` names now: the user if it still exists with that id, else gone.
pub(super) fn publisher_in(
    owners: &impl ReadableTable<&'static str, &'static [u8]>,
    ids: &impl ReadableTable<&'static str, u64>,
    c: Option<&Creator>,
) -> Result<Publisher> {
    let Some(c) = c else { return Ok(Publisher::Unrecorded) };
    let id = ids.get(c.key.as_str())?.map(|v| v.value());
    let owner: Option<OwnerRec> = get_rec(owners, c.key.as_str())?;
    Ok(match owner {
        Some(rec) if id == Some(c.id) => Publisher::User(c.id, rec),
        _ => Publisher::Gone,
    })
}

/// `depot verify`'s check of invariant 4: every hook names an existing owner, every outbox
/// and log entry an existing hook, and every record decodes.
pub(super) fn check(
    tx: &redb::ReadTransaction,
    owner_exists: &dyn Fn(&str) -> bool,
    problems: &mut Vec<String>,
) -> Result<()> {
    let mut hooks = std::collections::HashMap::new();
    for entry in tx.open_table(HOOKS)?.iter()? {
        let (k, v) = entry?;
        let (o, id) = k.value();
        if let Err(e) = codec::decode::<HookRec>(v.value()) {
            problems.push(format!("webhook {id} of {o}: {e}"));
        }
        if !owner_exists(o) {
            problems.push(format!("webhook {id} belongs to missing owner {o}"));
        }
        hooks.insert(id, o.to_string());
    }
    for entry in tx.open_table(OUTBOX)?.iter()? {
        let (k, v) = entry?;
        match codec::decode::<OutboxRec>(v.value()) {
            Ok(r) if hooks.get(&r.hook) != Some(&r.event.owner) => {
                problems.push(format!("queued event {} is for missing webhook {}", k.value(), r.hook))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("queued event {}: {e}", k.value())),
        }
    }
    for entry in tx.open_table(DELIVERIES)?.iter()? {
        let (k, v) = entry?;
        let (hook, seq) = k.value();
        if let Err(e) = codec::decode::<DeliveryRec>(v.value()) {
            problems.push(format!("delivery log entry {seq} of webhook {hook}: {e}"));
        }
        if !hooks.contains_key(&hook) {
            problems.push(format!("delivery log entry {seq} is for missing webhook {hook}"));
        }
    }
    Ok(())
}

impl Store {
    /// Adds a hook to `owner` (its `id` is assigned here) and returns it.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the owner does not exist, [`Error::Refused`] when the owner
    /// has [`MAX_HOOKS_PER_OWNER`] already.
    pub fn add_hook(&self, owner: &str, mut hook: HookRec) -> Result<HookRec> {
        let o = key(owner);
        self.write(move |tx| {
            if tx.open_table(OWNERS)?.get(o.as_str())?.is_none() {
                return Err(Error::NotFound(What::Owner));
            }
            if hooks_of(&tx.open_table(HOOKS)?, &o)?.len() >= MAX_HOOKS_PER_OWNER {
                return Err(Error::Refused(format!(
                    "{o} has {MAX_HOOKS_PER_OWNER} webhooks already, the most an owner may have"
                )));
            }
            hook.id = super::next_id(tx)?;
            tx.open_table(HOOKS)?.insert((o.as_str(), hook.id), codec::encode(&hook).as_slice())?;
            Ok(hook)
        })
    }

    /// The hooks of `owner`, in creation order.
    pub fn hooks(&self, owner: &str) -> Result<Vec<HookRec>> {
        let tx = self.read()?;
        hooks_of(&tx.open_table(HOOKS)?, &key(owner))
    }

    /// Hook `id` of `owner`.
    pub fn hook(&self, owner: &str, id: u64) -> Result<Option<HookRec>> {
        let tx = self.read()?;
        get_rec(&tx.open_table(HOOKS)?, (key(owner).as_str(), id))
    }

    /// Deletes hook `id` of `owner` with its queued events and its log.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such hook.
    pub fn delete_hook(&self, owner: &str, id: u64) -> Result<()> {
        let o = key(owner);
        self.write(move |tx| if remove_hook(tx, &o, id)? { Ok(()) } else { Err(Error::NotFound(What::Hook)) })
    }

    /// The delivery log of hook `id` of `owner`, newest first; `None` when there is no such hook.
    pub fn deliveries(&self, owner: &str, id: u64) -> Result<Option<Vec<DeliveryRec>>> {
        let tx = self.read()?;
        if tx.open_table(HOOKS)?.get((key(owner).as_str(), id))?.is_none() {
            return Ok(None);
        }
        let table = tx.open_table(DELIVERIES)?;
        let mut out = Vec::new();
        for entry in table.range((id, 0u64)..=(id, u64::MAX))?.rev() {
            out.push(codec::decode(entry?.1.value())?);
        }
        Ok(Some(out))
    }

    /// Queues the event of logged delivery `delivery` of hook `id` once more, as a new
    /// delivery (whose id it returns), whether or not the hook is active.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the hook or the delivery is not there (the log keeps the last
    /// [`LOG_KEEP`] attempts).
    pub fn redeliver(&self, owner: &str, id: u64, delivery: &str) -> Result<String> {
        let (o, delivery) = (key(owner), delivery.to_string());
        let new = self.write(move |tx| {
            if tx.open_table(HOOKS)?.get((o.as_str(), id))?.is_none() {
                return Err(Error::NotFound(What::Hook));
            }
            let mut found = None;
            for entry in tx.open_table(DELIVERIES)?.range((id, 0u64)..=(id, u64::MAX))? {
                let rec: DeliveryRec = codec::decode(entry?.1.value())?;
                if rec.delivery == delivery {
                    found = Some(rec.event);
                }
            }
            let event = found.ok_or(Error::NotFound(What::Delivery))?;
            let now = now_ms();
            let rec = OutboxRec {
                hook: id,
                delivery: delivery_id(),
                event,
                attempts: 0,
                queued_ms: now,
                next_ms: now,
            };
            let seq = super::next_id(tx)?;
            tx.open_table(OUTBOX)?.insert(seq, codec::encode(&rec).as_slice())?;
            Ok(rec.delivery)
        })?;
        self.events_queued();
        Ok(new)
    }

    /// Up to `limit` outbox entries with a sequence number above `after`, in order.
    pub fn outbox_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, OutboxRec)>> {
        let tx = self.read()?;
        let table = tx.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for entry in table.range(after.saturating_add(1)..)?.take(limit) {
            let (k, v) = entry?;
            out.push((k.value(), codec::decode(v.value())?));
        }
        Ok(out)
    }

    /// Outbox entry `seq` with its hook; `None` when either is gone (delivered, or the hook
    /// deleted).
    pub fn outbox_entry(&self, seq: u64) -> Result<Option<(OutboxRec, HookRec)>> {
        let tx = self.read()?;
        let Some(rec): Option<OutboxRec> = get_rec(&tx.open_table(OUTBOX)?, seq)? else { return Ok(None) };
        let hook: Option<HookRec> = get_rec(&tx.open_table(HOOKS)?, (rec.event.owner.as_str(), rec.hook))?;
        Ok(hook.map(|h| (rec, h)))
    }

    /// Logs an attempt at outbox entry `seq` and, with `retry_at` (milliseconds since the
    /// epoch), keeps the entry for then; without, removes it. Nothing when the entry is gone.
    /// The commit is not durable: a crash may forget the attempt, and the entry is then sent
    /// again (at least once).
    pub fn finish_attempt(&self, seq: u64, log: DeliveryRec, retry_at: Option<u64>) -> Result<()> {
        let (job, rx) = writer::Call::job(false, 0, move |tx: &WriteTransaction| {
            let rec: Option<OutboxRec> = get_rec(&tx.open_table(OUTBOX)?, seq)?;
            let Some(mut rec) = rec else { return Ok(()) };
            let mut outbox = tx.open_table(OUTBOX)?;
            match retry_at {
                Some(at) => {
                    rec.attempts = log.attempt;
                    rec.next_ms = at;
                    outbox.insert(seq, codec::encode(&rec).as_slice())?;
                }
                None => {
                    outbox.remove(seq)?;
                }
            }
            let n = super::next_id(tx)?;
            let mut table = tx.open_table(DELIVERIES)?;
            table.insert((rec.hook, n), codec::encode(&log).as_slice())?;
            let kept = table.range((rec.hook, 0u64)..=(rec.hook, u64::MAX))?.count();
            if kept > LOG_KEEP {
                let old: Vec<u64> = table
                    .range((rec.hook, 0u64)..=(rec.hook, u64::MAX))?
                    .take(kept - LOG_KEEP)
                    .map(|e| e.map(|(k, _)| k.value().1))
                    .collect::<Result<_, _>>()?;
                for k in old {
                    table.remove((rec.hook, k))?;
                }
            }
            Ok(())
        });
        self.inner.queue.blocking_send(job).map_err(|_| self.closed())?;
        rx.blocking_recv().map_err(|_| self.closed())?
    }

    /// Events waiting in the outbox, for metrics.
    pub fn outbox_depth(&self) -> Result<u64> {
        let tx = self.read()?;
        Ok(tx.open_table(OUTBOX)?.len()?)
    }

    /// Notified after every commit that may have queued an event.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.inner.outbox.clone()
    }

    /// Wakes the deliverer: called after a commit that may have queued events.
    pub(super) fn events_queued(&self) {
        self.inner.outbox.notify_one();
    }

    /// The user `c` names now (for a payload's sender and creator).
    pub fn publisher(&self, c: Option<&Creator>) -> Result<Publisher> {
        let tx = self.read()?;
        publisher_in(&tx.open_table(OWNERS)?, &tx.open_table(OWNER_IDS)?, c)
    }
}
