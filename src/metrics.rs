//! Counters for `/metrics`, rendered in the Prometheus text format.
//!
//! Requests by route and status, bytes in and out, upload and download durations, and the
//! size of the database file. Plain atomics and one small map: no metrics framework for a
//! handful of series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the duration histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0];

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i].load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    uploads: Histogram,
    downloads: Histogram,
}

impl Metrics {
    /// Counts one answered request of `route` with `status`.
    pub fn request(&self, route: &'static str, status: u16) {
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route, status)).or_default() += 1;
    }

    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    pub fn upload(&self, d: Duration) {
        self.uploads.observe(d);
    }

    pub fn download(&self, d: Duration) {
        self.downloads.observe(d);
    }

    /// The Prometheus text exposition; `store_bytes` is the disk space the database file takes,
    /// `cache` the small-file cache's counters.
    pub fn render(&self, store_bytes: u64, cache: crate::store::CacheStats) -> String {
        let mut out = String::new();
        out.push_str("# HELP depot_http_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE depot_http_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "depot_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        for (name, help, v) in [
            ("depot_bytes_received_total", "File bytes received in uploads.", &self.bytes_in),
            ("depot_bytes_sent_total", "Body bytes sent in responses.", &self.bytes_out),
        ] {
            family(&mut out, name, "counter", help, &[("", v.load(Ordering::Relaxed).to_string())]);
        }
        self.uploads.render(&mut out, "depot_upload_duration_seconds", "Duration of successful uploads.");
        self.downloads.render(
            &mut out,
            "depot_download_duration_seconds",
            "Duration of file downloads until the body is queued.",
        );
        for (name, help, v) in [
            (
                "depot_cache_file_hits_total",
                "Small-file downloads answered from the in-memory cache.",
                cache.file_hits,
            ),
            (
                "depot_cache_file_misses_total",
                "Small-file lookups that missed the in-memory cache.",
                cache.file_misses,
            ),
        ] {
            family(&mut out, name, "counter", help, &[("", v.to_string())]);
        }
        let help = "Disk space the database file takes (blocks in use).";
        family(&mut out, "depot_store_bytes", "gauge", help, &[("", store_bytes.to_string())]);
        out
    }
}

/// Writes one metric family: its help and type lines, then each sample as (labels, value),
/// the labels in braces or empty.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// The value of a counter, and of one counting microseconds in seconds.
fn count(a: &std::sync::atomic::AtomicU64) -> String {
    a.load(Ordering::Relaxed).to_string()
}

fn seconds(micros: &std::sync::atomic::AtomicU64) -> String {
    (micros.load(Ordering::Relaxed) as f64 / 1e6).to_string()
}

/// The writer's counters: commits (durable or not), the jobs they carried, time spent.
pub fn render_writer(out: &mut String, s: &crate::store::WriterStats) {
    let commits =
        [("{durable=\"true\"}", count(&s.durable_commits)), ("{durable=\"false\"}", count(&s.other_commits))];
    let help = "Write transactions committed, with fsync (durable=\"true\") or without.";
    family(out, "depot_store_commits_total", "counter", help, &commits);
    let help = "Writes (an upload, a delete, a chunk...) carried by those commits: over the commits, how many share one fsync.";
    family(out, "depot_store_commit_jobs_total", "counter", help, &[("", count(&s.jobs))]);
    let help =
        "Of those writes, uploads that ran merged into the upload queued ahead of them (sharing its tables).";
    family(out, "depot_store_commit_merged_total", "counter", help, &[("", count(&s.merged))]);
    let help = "Time the writer spent running and committing those transactions.";
    family(out, "depot_store_commit_seconds_total", "counter", help, &[("", seconds(&s.micros))]);
}

/// The object store's counters (`--blob-store s3`): calls, failed calls, time spent.
pub fn render_objects(out: &mut String, s: &crate::store::ObjectStats) {
    let help = "Calls to the object store.";
    family(out, "depot_object_store_requests_total", "counter", help, &[("", count(&s.requests))]);
    let help = "Calls to the object store that failed or timed out.";
    family(out, "depot_object_store_errors_total", "counter", help, &[("", count(&s.errors))]);
    let help = "Time spent in calls to the object store.";
    family(out, "depot_object_store_seconds_total", "counter", help, &[("", seconds(&s.micros))]);
}
