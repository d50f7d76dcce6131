//! Measures what small files cost the store: bytes on disk per byte stored, and pages written
//! per commit and per file.
//!
//! Uploads N files through `Store` (no HTTP) into a fresh database, closes it, and reads
//! redb's own accounting (`WriteTransaction::stats`: allocated pages, leaf pages, stored and
//! fragmented bytes) on the reopened file. Bytes on disk are the allocated pages beyond those
//! of the same database before the uploads (owner only), so the file's length and its free
//! pages do not count. Pages written are the bytes the process handed to `write`/`pwrite`
//! while uploading (`wchar` of `/proc/self/io`; redb writes whole pages at each commit) divided
//! by 4096; commits are the durable commits the writer made meanwhile
//! (`Store::writer_stats`, the counters `/metrics` shows).
//!
//! Run: `cargo run --release --example small_files [-- N]` (N defaults to 4000 per case).

use std::sync::Arc;

use bytes::Bytes;
use depot::store::{Added, Create, FileTarget, Options, OwnerKind, OwnerRec, PackageType, Store};

/// Uploads in flight at once in the concurrent cases, as a CI fleet or `wrk -c32` would.
const CLIENTS: usize = 32;

fn wchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("wchar in /proc/self/io")
}

fn durable_commits(store: &Store) -> u64 {
    store.writer_stats().durable_commits.load(std::sync::atomic::Ordering::Relaxed)
}

/// splitmix64: distinct, incompressible content per file without a dependency.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

struct Stats {
    allocated: u64,
    leaf_pages: u64,
    stored: u64,
    fragmented: u64,
}

fn db_stats(path: &std::path::Path) -> Stats {
    let db = redb::Database::open(path).expect("reopen");
    let tx = db.begin_write().expect("write tx");
    let s = tx.stats().expect("stats");
    let out = Stats {
        allocated: s.allocated_pages() * s.page_size() as u64,
        leaf_pages: s.leaf_pages(),
        stored: s.stored_bytes(),
        fragmented: s.fragmented_bytes(),
    };
    tx.abort().expect("abort");
    out
}

fn target(i: usize) -> FileTarget {
    FileTarget {
        owner: "bench".into(),
        kind: PackageType::Generic,
        // 100 files per version, 10 versions per package, as a registry holds them.
        package: format!("p{}", i / 1000),
        version: format!("{}", (i / 100) % 10),
        file: format!("f{i}.bin"),
    }
}

fn run(name: &str, sizes: &[usize], clients: usize) {
    let dir = std::env::temp_dir().join(format!("depot-small-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{clients}.redb"));
    let _ = std::fs::remove_file(&path);
    let store = Store::open(&path, &Options::default(), Create::IfMissing).unwrap().store;
    let kind = OwnerKind::User { password_hash: String::new(), admin: false };
    store.add_owner(OwnerRec { name: "bench".into(), kind, private: false, created: 0 }).unwrap();
    store.close();
    let before = db_stats(&path);
    let store = Store::open(&path, &Options::default(), Create::Never).unwrap().store;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let bodies: Arc<Vec<Vec<u8>>> =
        Arc::new(sizes.iter().enumerate().map(|(i, &n)| content(i as u64 + 1, n)).collect());
    let (w0, c0) = (wchar(), durable_commits(&store));
    let started = std::time::Instant::now();
    rt.block_on(async {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (store, bodies, next) = (store.clone(), bodies.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let mut up = store.begin_upload(u64::MAX);
                    up.push(Bytes::copy_from_slice(body)).await.unwrap();
                    let sealed = up.seal().await.unwrap();
                    match store.add_file(sealed, target(i), None).await.unwrap() {
                        Added::Stored(_) => {}
                        Added::Refused(r) => panic!("refused: {r}"),
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let (written, commits) = (wchar() - w0, durable_commits(&store) - c0);
    drop(rt);
    store.close();
    let after = db_stats(&path);
    let data: u64 = sizes.iter().map(|&n| n as u64).sum();
    let files = sizes.len() as f64;
    let pages = written as f64 / 4096.0;
    println!(
        "{name:>10} {clients:>3} {:>9.3} {:>9.2} {:>9.2} {:>8} {:>9.1} {:>9.2} {:>7.0} {:>10} {:>10}",
        (after.allocated - before.allocated) as f64 / data as f64,
        (after.leaf_pages - before.leaf_pages) as f64 / files,
        pages / files,
        commits,
        pages / commits.max(1) as f64,
        files / commits.max(1) as f64,
        files / secs,
        after.stored - before.stored,
        after.fragmented,
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(4000, |a| a.parse().expect("N: a number of files"));
    println!(
        "{:>10} {:>3} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>7} {:>10} {:>10}",
        "files",
        "c",
        "disk/data",
        "leaves/f",
        "pages/f",
        "commits",
        "pages/c",
        "files/c",
        "files/s",
        "stored B",
        "fragm. B"
    );
    let exact = vec![4096; n];
    // 1-4 KiB, spread evenly (a fixed sequence, the same every run).
    let mix: Vec<usize> = (0..n).map(|i| 1024 + (i * 7919) % 3073).collect();
    for clients in [1, CLIENTS] {
        run("4KiB", &exact, clients);
        run("1-4KiB", &mix, clients);
    }
}
