//! The outbox's invariants (`hooks.rs`) checked against a database file: an event is queued
//! by the commit of its change and by nothing else, for the hooks that want it; a hook's
//! deletion takes its entries and log; the log keeps the last `LOG_KEEP` attempts.

use super::fault_tests::{target, upload};
use super::hooks::{Action, DeliveryRec, HookRec, OutboxRec, LOG_KEEP};
use super::{codec, Create, Error, Options, OwnerKind, OwnerRec, PackageType, QuotaRec, Store};

fn store(dir: &tempfile::TempDir) -> Store {
    let store =
        Store::open(&dir.path().join("depot.redb"), &Options::default(), Create::IfMissing).unwrap().store;
    let kind = OwnerKind::User { password_hash: String::new(), admin: false };
    store.add_owner(OwnerRec { name: "alice".into(), kind, private: false, created: 0 }).unwrap();
    store
}

fn hook(on_created: bool, on_deleted: bool, active: bool) -> HookRec {
    HookRec {
        id: 0,
        url: "http://example.com/h".into(),
        secret: "s".into(),
        on_created,
        on_deleted,
        active,
        created: 1,
        base: "http://depot".into(),
    }
}

/// (hook id, action, version, files of the version as recorded) of every outbox entry.
fn outbox(store: &Store) -> Vec<(u64, Action, String, u64)> {
    let entries = store.outbox_after(0, 1000).unwrap();
    entries
        .into_iter()
        .map(|(_, r)| (r.hook, r.event.action, r.event.version.version, r.event.version.files))
        .collect()
}

#[test]
fn events_are_queued_by_the_commit_of_their_change_for_the_hooks_that_want_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(upload(&store, "before-any-hook", b"x")).unwrap();
    assert_eq!(outbox(&store), [], "no hook, no entry");
    store.delete_file(target("before-any-hook")).unwrap();
    assert_eq!(outbox(&store), []);

    let both = store.add_hook("alice", hook(true, true, true)).unwrap().id;
    let deleted_only = store.add_hook("ALICE", hook(false, true, true)).unwrap().id;
    store.add_hook("alice", hook(true, true, false)).unwrap();
    rt.block_on(upload(&store, "a", b"a")).unwrap();
    assert_eq!(outbox(&store), [(both, Action::Created, "1".to_string(), 1)]);
    // A second file of the version is no new version.
    rt.block_on(upload(&store, "b", b"b")).unwrap();
    assert_eq!(outbox(&store).len(), 1);
    // A refused upload (quota: no new version) changes nothing, and queues nothing.
    store.set_quota("alice", QuotaRec { max_bytes: None, max_versions: Some(1) }).unwrap();
    let refused = rt.block_on(async {
        let mut up = store.begin_upload(u64::MAX);
        up.push(bytes::Bytes::from_static(b"c")).await.unwrap();
        let t = super::FileTarget { version: "2".into(), ..target("c") };
        store.add_file(up.seal().await.unwrap(), t, None).await.unwrap()
    });
    assert!(matches!(refused, super::Added::Refused(_)), "{refused:?}");
    assert_eq!(outbox(&store).len(), 1);
    // Deleting a file that leaves another is no event; the last one is, with the version as
    // it was then (one file), for both hooks that want deletions.
    store.delete_file(target("a")).unwrap();
    assert_eq!(outbox(&store).len(), 1);
    store.delete_file_by(target("b"), Some("alice".into())).unwrap();
    let queued = outbox(&store);
    assert_eq!(
        queued[1..],
        [(both, Action::Deleted, "1".to_string(), 1), (deleted_only, Action::Deleted, "1".to_string(), 1)]
    );
    let (_, rec) = store.outbox_after(0, 10).unwrap().pop().unwrap();
    assert_eq!(rec.event.sender.map(|c| c.key), Some("alice".to_string()));
    assert_eq!(rec.event.package, "pkg");
    // A failed delete (nothing there) queues nothing.
    assert_eq!(
        store.delete_version("alice", PackageType::Generic, "pkg", "1"),
        Err(Error::NotFound(super::What::Version))
    );
    assert_eq!(outbox(&store).len(), 3);
    // Deleting a hook takes its entries.
    store.delete_hook("alice", both).unwrap();
    assert_eq!(outbox(&store), [(deleted_only, Action::Deleted, "1".to_string(), 1)]);
    assert_eq!(store.delete_hook("alice", both), Err(Error::NotFound(super::What::Hook)));
    // Deleting the owner takes the rest.
    store.delete_user("alice").unwrap();
    assert_eq!(outbox(&store), []);
    assert_eq!(store.hooks("alice").unwrap(), []);
}

#[test]
fn an_attempt_is_logged_and_the_log_keeps_the_last_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = store.add_hook("alice", hook(true, true, true)).unwrap().id;
    rt.block_on(upload(&store, "a", b"a")).unwrap();
    let (seq, rec) = store.outbox_after(0, 10).unwrap().pop().unwrap();
    let log = |attempt: u32, ok: bool| DeliveryRec {
        delivery: rec.delivery.clone(),
        time_ms: 5,
        attempt,
        status: Some(if ok { 200 } else { 500 }),
        duration_ms: 1,
        error: String::new(),
        ok,
        last: ok,
        event: rec.event.clone(),
    };
    for attempt in 1..=LOG_KEEP as u32 + 5 {
        store.finish_attempt(seq, log(attempt, false), Some(1000 + u64::from(attempt))).unwrap();
    }
    let (_, kept): (u64, OutboxRec) = store.outbox_after(0, 10).unwrap().pop().unwrap();
    assert_eq!((kept.attempts, kept.next_ms), (LOG_KEEP as u32 + 5, 1000 + LOG_KEEP as u64 + 5));
    store.finish_attempt(seq, log(99, true), None).unwrap();
    assert_eq!(store.outbox_after(0, 10).unwrap().len(), 0, "delivered: out of the outbox");
    let shown = store.deliveries("alice", id).unwrap().unwrap();
    assert_eq!(shown.len(), LOG_KEEP);
    assert_eq!(shown[0].attempt, 99);
    assert_eq!(shown[LOG_KEEP - 1].attempt, 7, "the oldest went");
    // A finished entry is not logged again.
    store.finish_attempt(seq, log(100, true), None).unwrap();
    assert_eq!(store.deliveries("alice", id).unwrap().unwrap()[0].attempt, 99);
    // Redelivery queues the logged event as a new delivery.
    let new = store.redeliver("alice", id, &rec.delivery).unwrap();
    let (_, again) = store.outbox_after(0, 10).unwrap().pop().unwrap();
    assert_eq!((again.delivery, again.event, again.attempts), (new, rec.event.clone(), 0));
    assert_eq!(store.redeliver("alice", id, "nope"), Err(Error::NotFound(super::What::Delivery)));
}

/// The hook record's bytes, written out: a change of a field's type or order fails here
/// instead of changing the file.
#[test]
fn hook_record_bytes_are_pinned() {
    let h = HookRec { id: 7, ..hook(true, false, true) };
    let str = |s: &str| [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat();
    let bytes = [
        &[codec::FORMAT][..],
        &7u64.to_le_bytes(),
        &str("http://example.com/h"),
        &str("s"),
        &[1, 0, 1],
        &1u64.to_le_bytes(),
        &str("http://depot"),
    ]
    .concat();
    assert_eq!(codec::encode(&h), bytes);
    assert_eq!(codec::decode::<HookRec>(&bytes), Ok(h.clone()));
    let no_url = HookRec { url: String::new(), ..h };
    assert!(matches!(codec::decode::<HookRec>(&codec::encode(&no_url)), Err(codec::Error::Impossible(_))));
}

/// A backup holds the hooks, their waiting events and their logs.
#[test]
fn a_backup_keeps_hooks_waiting_events_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = store.add_hook("alice", hook(true, true, true)).unwrap().id;
    rt.block_on(upload(&store, "a", b"a")).unwrap();
    rt.block_on(upload(&store, "b", b"b")).unwrap();
    store.delete_file(target("a")).unwrap();
    store.delete_file(target("b")).unwrap();
    let (seq, rec) = store.outbox_after(0, 10).unwrap().remove(0);
    let log = DeliveryRec {
        delivery: rec.delivery.clone(),
        time_ms: 5,
        attempt: 1,
        status: Some(200),
        duration_ms: 1,
        error: String::new(),
        ok: true,
        last: true,
        event: rec.event.clone(),
    };
    store.finish_attempt(seq, log, None).unwrap();
    let copy = dir.path().join("copy.redb");
    store.backup(&copy, &mut |_, _| {}, &std::sync::atomic::AtomicBool::new(false)).unwrap();
    let restored = Store::open(&copy, &Options::default(), Create::Never).unwrap().store;
    assert_eq!(restored.hooks("alice").unwrap(), store.hooks("alice").unwrap());
    assert_eq!(restored.outbox_after(0, 10).unwrap(), store.outbox_after(0, 10).unwrap());
    assert_eq!(restored.outbox_after(0, 10).unwrap().len(), 1);
    assert_eq!(restored.deliveries("alice", id).unwrap(), store.deliveries("alice", id).unwrap());
    assert_eq!(restored.deliveries("alice", id).unwrap().unwrap().len(), 1);
    assert_eq!(restored.verify().unwrap().problems, Vec::<String>::new());
    assert_eq!(store.verify().unwrap().problems, Vec::<String>::new());
}

#[test]
fn an_upload_wakes_the_deliverer_only_when_it_queued_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let signal = store.outbox_signal();
    // A wake-up is a permit the next wait takes at once.
    let woken = || {
        let wait =
            async { tokio::time::timeout(std::time::Duration::from_millis(20), signal.notified()).await };
        rt.block_on(wait).is_ok()
    };
    rt.block_on(upload(&store, "a", b"a")).unwrap();
    assert!(!woken(), "a new version, but no hook: nothing to deliver");
    store.add_hook("alice", hook(true, false, true)).unwrap();
    let _ = woken(); // adding a hook may wake it
    rt.block_on(upload(&store, "b", b"b")).unwrap();
    assert!(!woken(), "a file added to a version is no event");
    let mut t = target("c");
    t.version = "2".into();
    rt.block_on(async {
        let mut up = store.begin_upload(u64::MAX);
        up.push(bytes::Bytes::from_static(b"c")).await?;
        store.add_file(up.seal().await?, t, None).await
    })
    .unwrap();
    assert!(woken(), "a new version that a hook wants");
    assert_eq!(outbox(&store).len(), 1);
}
