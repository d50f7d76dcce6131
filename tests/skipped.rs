//! The last test target of a `cargo test` run (cargo runs them in name order, after
//! `integration`): it names, at the end of the run's output, every group of tests the run
//! skipped because an outside program was missing, with the command that installs it.
//! `tests/util.rs` (`skipped`) writes the run's list; under CI nothing is skipped, because a
//! missing program fails its tests there.

use std::io::Write;

mod skiplog;

#[test]
fn name_what_this_run_skipped() {
    let log = skiplog::skip_log();
    let Ok(text) = std::fs::read_to_string(&log) else { return };
    let _ = std::fs::remove_file(&log);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.dedup();
    // Straight to stderr: the harness shows a passing test's output only with --nocapture.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nThis run skipped tests that need a program this machine lacks:");
    for line in lines {
        let _ = writeln!(err, "  {line}");
    }
    assert!(std::env::var_os("CI").is_none(), "tests were skipped under CI:\n{text}");
}
