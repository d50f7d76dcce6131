//! Where a `cargo test` run notes the tests it skipped (shared by the `integration` target,
//! which writes it, and the `skipped` target, which prints it at the end of the run).

use std::path::{Path, PathBuf};

/// One file per run, named by cargo's process id (the parent of every test binary of a run).
pub fn skip_log() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("skipped-{}", std::os::unix::process::parent_id()))
}
