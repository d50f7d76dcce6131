//! Measures how much file space redb uses per stored chunk, for choosing `CHUNK_SIZE`.
//!
//! redb gives a value that does not fit a page a run of pages rounded up to a power of two,
//! so a chunk just over a power of two wastes nearly half its allocation. This writes 256 MiB
//! as chunks of several sizes, each into a fresh database, and prints bytes on disk per byte
//! stored and the write rate. Run: `cargo run --release --example chunk_size`.

use std::time::Instant;

use redb::{Database, TableDefinition};

const CHUNKS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("chunks");
const TOTAL: usize = 256 << 20;

fn main() {
    let dir = std::env::temp_dir().join(format!("depot-chunk-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("{:>12} {:>10} {:>10}", "chunk bytes", "disk/data", "MB/s");
    for size in
        [(256 << 10) - 4096, (1 << 20) - 4096, 1 << 20, (1 << 20) + 4096, (2 << 20) - 4096, (4 << 20) - 4096]
    {
        let path = dir.join(format!("c{size}.redb"));
        let _ = std::fs::remove_file(&path);
        let db = Database::create(&path).unwrap();
        let data = vec![0xA5u8; size];
        let n = TOTAL / size;
        let started = Instant::now();
        // 16 MiB per transaction, as the writer batches.
        let per_tx = ((16 << 20) / size).max(1);
        let mut i = 0;
        while i < n {
            let tx = db.begin_write().unwrap();
            {
                let mut t = tx.open_table(CHUNKS).unwrap();
                for j in i..(i + per_tx).min(n) {
                    t.insert((1, j as u32), data.as_slice()).unwrap();
                }
            }
            tx.commit().unwrap();
            i += per_tx;
        }
        let secs = started.elapsed().as_secs_f64();
        drop(db);
        let disk = std::fs::metadata(&path).unwrap().len() as f64;
        let stored = (n * size) as f64;
        println!("{size:>12} {:>10.3} {:>10.0}", disk / stored, stored / secs / 1e6);
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
