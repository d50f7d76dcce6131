//! Uploads queued together run as one writer job (`packages::AddFiles`, `writer::Job::absorb`):
//! one transaction and one fsync for all of them, each with its own outcome.

use std::sync::atomic::Ordering;
use std::sync::mpsc;

use super::fault_tests::{content, read_all, runtime, seed_owner, target, upload};
use super::writer::Call;
use super::{Create, Options, Refusal, Store, What};

#[test]
fn uploads_queued_together_commit_as_one_job_each_with_its_own_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&dir.path().join("depot.redb"), &Options::default(), Create::IfMissing).unwrap().store;
    seed_owner(&store);
    // A first job holds the writer while the uploads queue behind it.
    let (running, wait_running) = mpsc::channel();
    let (go, wait_go) = mpsc::channel::<()>();
    let (first, first_rx) = Call::job(true, 0, move |_tx| {
        running.send(()).unwrap();
        wait_go.recv().unwrap();
        Ok(())
    });
    store.inner.queue.blocking_send(first).unwrap();
    wait_running.recv().unwrap();
    let stats = store.writer_stats();
    let counts = || [&stats.durable_commits, &stats.jobs, &stats.merged].map(|c| c.load(Ordering::Relaxed));
    let before = counts();

    // Four uploads: two new files, the same name again (refused: it exists by then), and a
    // file of an owner that does not exist (refused); the same content twice is one blob.
    let uploads = [("a", "alice", 1u8), ("b", "alice", 1), ("a", "alice", 2), ("c", "nobody", 3)];
    let mut threads = Vec::new();
    for (i, (name, owner, seed)) in uploads.into_iter().enumerate() {
        let each = store.clone();
        threads.push(std::thread::spawn(move || {
            let store = each;
            runtime().block_on(async {
                let mut up = store.begin_upload(u64::MAX);
                up.push(bytes::Bytes::from(content(seed, 4096))).await?;
                let t = super::FileTarget { owner: owner.into(), ..target(name) };
                store.add_file(up.seal().await?, t, None).await
            })
        }));
        // In this order in the queue.
        while store.inner.queue.capacity() + i + 1 > super::writer::QUEUE_JOBS {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    go.send(()).unwrap();
    assert_eq!(first_rx.blocking_recv().unwrap(), Ok(()));
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let stored = |i: usize| match &outcomes[i] {
        Ok(super::Added::Stored(rec)) => rec.blob,
        other => panic!("upload {i}: {other:?}"),
    };
    assert_eq!(stored(0), stored(1), "the same content is one blob");
    assert!(
        matches!(outcomes[2], Ok(super::Added::Refused(Refusal::Exists(What::File)))),
        "{:?}",
        outcomes[2]
    );
    assert!(
        matches!(outcomes[3], Ok(super::Added::Refused(Refusal::NotFound(What::Owner)))),
        "{:?}",
        outcomes[3]
    );
    let after = counts();
    // The holding job's commit, then one for all four uploads: five writes, of which the
    // last three ran inside the first upload's job.
    assert_eq!([after[0] - before[0], after[1] - before[1], after[2] - before[2]], [2, 5, 3]);
    assert_eq!(read_all(&store, "a"), Some(content(1, 4096)));
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.files, report.blobs, report.staged), (2, 1, 0));
    // Nothing of the refused ones is left, and the writer goes on alone.
    runtime().block_on(upload(&store, "d", &content(4, 10))).unwrap();
    assert_eq!(read_all(&store, "d"), Some(content(4, 10)));
    store.close();
}
