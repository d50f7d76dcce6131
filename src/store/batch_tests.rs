//! Uploads queued together run as one writer job (`packages::AddFiles`, `writer::Job::absorb`):
//! one transaction and one fsync for all of them, each with its own outcome, and all failing
//! together when their batch fails.

use std::sync::atomic::Ordering;

use super::fault_tests::{
    content, hold_writer, holding_job, read_all, runtime, seed_owner, target, upload, wait_queued,
};
use super::records::QuotaRec;
use super::writer::Call;
use super::{Added, Create, Error, FileTarget, Options, Refusal, Result, Store, What};

fn open(dir: &tempfile::TempDir) -> Store {
    let store =
        Store::open(&dir.path().join("depot.redb"), &Options::default(), Create::IfMissing).unwrap().store;
    seed_owner(&store);
    store
}

/// Holds the writer with a job, queues an upload of 4 KiB of `content(seed)` as each
/// (owner, file, seed) of `uploads` in that order, then `last` (a job of its own, if any),
/// and lets the writer go: everything queued runs in one batch. Returns the uploads'
/// outcomes.
fn queued_together(
    store: &Store,
    uploads: &[(&str, &str, u8)],
    last: Option<Box<dyn super::writer::Job>>,
) -> Vec<Result<Added>> {
    let release = hold_writer(store, |_| Ok(()));
    let mut threads = Vec::new();
    for (i, &(owner, name, seed)) in uploads.iter().enumerate() {
        let (each, owner, name) = (store.clone(), owner.to_string(), name.to_string());
        threads.push(std::thread::spawn(move || {
            let store = each;
            runtime().block_on(async {
                let mut up = store.begin_upload(u64::MAX);
                up.push(bytes::Bytes::from(content(seed, 4096))).await?;
                store.add_file(up.seal().await?, FileTarget { owner, ..target(&name) }, None).await
            })
        }));
        wait_queued(store, i + 1);
    }
    if let Some(job) = last {
        store.inner.queue.blocking_send(job).unwrap();
    }
    release().unwrap_or_else(|e| assert_eq!(e, Error::Panicked, "only a job of the test fails the batch"));
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn assert_sound(store: &Store) -> super::Report {
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    report
}

#[test]
fn uploads_queued_together_commit_as_one_job_each_with_its_own_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let stats = store.writer_stats();
    let counts = || [&stats.durable_commits, &stats.jobs, &stats.merged].map(|c| c.load(Ordering::Relaxed));
    let before = counts();
    // Two new files, the same name again (refused: it exists by then), and a file of an
    // owner that does not exist (refused); the same content twice is one blob.
    let outcomes = queued_together(
        &store,
        &[("alice", "a", 1), ("alice", "b", 1), ("alice", "a", 2), ("nobody", "c", 3)],
        None,
    );
    let stored = |i: usize| match &outcomes[i] {
        Ok(Added::Stored(rec)) => rec.blob,
        other => panic!("upload {i}: {other:?}"),
    };
    assert_eq!(stored(0), stored(1), "the same content is one blob");
    assert!(matches!(outcomes[2], Ok(Added::Refused(Refusal::Exists(What::File)))), "{:?}", outcomes[2]);
    assert!(matches!(outcomes[3], Ok(Added::Refused(Refusal::NotFound(What::Owner)))), "{:?}", outcomes[3]);
    let after = counts();
    // One commit, of the holding job and the four uploads that joined it: five writes, of
    // which the last three ran inside the first upload's job.
    assert_eq!([after[0] - before[0], after[1] - before[1], after[2] - before[2]], [1, 5, 3]);
    assert_eq!(read_all(&store, "a"), Some(content(1, 4096)));
    let report = assert_sound(&store);
    assert_eq!((report.files, report.blobs, report.staged), (2, 1, 0));
    // Nothing of the refused ones is left, and the writer goes on.
    runtime().block_on(upload(&store, "d", &content(4, 10))).unwrap();
    assert_eq!(read_all(&store, "d"), Some(content(4, 10)));
    store.close();
}

#[test]
fn a_quota_refuses_one_merged_upload_and_charges_only_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.set_quota("alice", QuotaRec { max_bytes: Some(2 * 4096 + 100), max_versions: None }).unwrap();
    let outcomes = queued_together(&store, &[("alice", "a", 1), ("alice", "b", 2), ("alice", "c", 3)], None);
    assert!(
        matches!(outcomes[0], Ok(Added::Stored(_))) && matches!(outcomes[1], Ok(Added::Stored(_))),
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[2], Ok(Added::Refused(Refusal::Quota(_)))), "{:?}", outcomes[2]);
    let usage = store.usage(Some("alice")).unwrap();
    assert_eq!(usage[0].usage.bytes, 2 * 4096);
    assert_eq!(read_all(&store, "c"), None);
    let report = assert_sound(&store);
    assert_eq!((report.files, report.blobs), (2, 2));
    store.close();
}

#[test]
fn a_failed_batch_fails_every_merged_upload_and_leaves_nothing_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (bad, bad_rx) = Call::job(true, 0, |_tx| -> Result<()> { panic!("a job fails its batch") });
    let outcomes =
        queued_together(&store, &[("alice", "a", 1), ("alice", "b", 2), ("alice", "c", 3)], Some(bad));
    assert_eq!(bad_rx.blocking_recv().unwrap(), Err(Error::Panicked));
    for (i, out) in outcomes.iter().enumerate() {
        assert_eq!(out.as_ref().err(), Some(&Error::Panicked), "upload {i}");
    }
    for name in ["a", "b", "c"] {
        assert_eq!(read_all(&store, name), None);
    }
    let report = assert_sound(&store);
    assert_eq!((report.files, report.blobs, report.staged), (0, 0, 0));
    // The names are free and the same content is stored again.
    runtime().block_on(upload(&store, "a", &content(1, 4096))).unwrap();
    assert_eq!(read_all(&store, "a"), Some(content(1, 4096)));
    store.close();
}

#[test]
fn jobs_that_arrive_while_a_batch_runs_join_it_for_a_bounded_number_of_rounds() {
    use super::writer::ROUNDS;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let stats = store.writer_stats();
    let commits = || stats.durable_commits.load(Ordering::Relaxed);
    let before = commits();
    // Each job arrives while the one before it runs: the first ROUNDS run in one batch, a
    // round each; the next one commits in a batch of its own.
    let (job, running, mut go, answer) = holding_job(|_| Ok(()));
    let mut answers = vec![answer];
    store.inner.queue.blocking_send(job).unwrap();
    running.recv().unwrap();
    for _ in 1..ROUNDS {
        let (job, running, next_go, answer) = holding_job(|_| Ok(()));
        store.inner.queue.blocking_send(job).unwrap();
        wait_queued(&store, 1);
        go.send(()).unwrap();
        running.recv().unwrap();
        assert_eq!(commits(), before, "it joined the batch that was running");
        go = next_go;
        answers.push(answer);
    }
    let (late, late_rx) = Call::job(true, 0, |_tx| Ok(()));
    store.inner.queue.blocking_send(late).unwrap();
    wait_queued(&store, 1);
    go.send(()).unwrap();
    for answer in answers {
        assert_eq!(answer.blocking_recv().unwrap(), Ok(()));
    }
    assert_eq!(late_rx.blocking_recv().unwrap(), Ok(()));
    assert_eq!(commits() - before, 2, "{ROUNDS} rounds in the first commit, the last job in a second");
    store.close();
}

#[test]
fn an_upload_joining_a_batch_does_not_merge_into_an_upload_that_already_ran() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let stats = store.writer_stats();
    let before = stats.durable_commits.load(Ordering::Relaxed);
    let spawn_upload = |name: &'static str, seed: u8| {
        let store = store.clone();
        std::thread::spawn(move || runtime().block_on(upload(&store, name, &content(seed, 4096))))
    };
    // Round 1 holds the writer while a second holding job and upload "a" queue behind it;
    // round 2 runs them, and "b" arrives while its holding job runs: round 3, after "a" ran.
    let release = hold_writer(&store, |_| Ok(()));
    let (job, running, go, answer) = holding_job(|_| Ok(()));
    store.inner.queue.blocking_send(job).unwrap();
    let a = spawn_upload("a", 1);
    wait_queued(&store, 2);
    let first = std::thread::spawn(release);
    running.recv().unwrap();
    let b = spawn_upload("b", 2);
    wait_queued(&store, 1);
    go.send(()).unwrap();
    assert_eq!(first.join().unwrap(), Ok(()));
    assert_eq!(answer.blocking_recv().unwrap(), Ok(()));
    for (name, seed, upload) in [("a", 1, a), ("b", 2, b)] {
        assert_eq!(upload.join().unwrap(), Ok(()), "{name}");
        assert_eq!(read_all(&store, name), Some(content(seed, 4096)));
    }
    assert_eq!(stats.durable_commits.load(Ordering::Relaxed) - before, 1, "one batch of three rounds");
    assert_sound(&store);
    store.close();
}

#[test]
fn a_batch_past_its_join_time_leaves_the_arrivals_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { batch_join: std::time::Duration::ZERO, ..Options::default() };
    let store = Store::open(&dir.path().join("depot.redb"), &options, Create::IfMissing).unwrap().store;
    seed_owner(&store);
    let stats = store.writer_stats();
    let before = stats.durable_commits.load(Ordering::Relaxed);
    let release = hold_writer(&store, |_| Ok(()));
    let (late, late_rx) = Call::job(true, 0, |_tx| Ok(()));
    store.inner.queue.blocking_send(late).unwrap();
    wait_queued(&store, 1);
    assert_eq!(release(), Ok(()));
    assert_eq!(late_rx.blocking_recv().unwrap(), Ok(()));
    assert_eq!(stats.durable_commits.load(Ordering::Relaxed) - before, 2, "a commit each");
    store.close();
}
