//! The integration suite: one test binary that drives the built `depot` binary from the outside,
//! over real loopback sockets and through its command line, never through the library crate.
//!
//! Every test starts its own server on a fresh temporary database, so tests run in parallel and
//! share nothing. SPEC is the project contract (SPEC.md); choices it leaves open are in docs/interface.md.

// TestServer, TestDb, the raw HTTP client, and the pure helpers (sha256, base64, JSON, content).
#[macro_use]
mod util;
// SPEC §1: generic package upload, download, names, integrity, ranges, deletes, concurrency.
mod generic;
// SPEC §3: credential forms, 401/403/404 decisions, tokens, organizations, admins.
mod auth;
// SPEC §2: Go module uploads and the GOPROXY endpoints, over HTTP.
mod go;
// SPEC §2: the real go command against the server.
mod go_client;
// SPEC §4: the /api/v1 management API, /healthz and /metrics.
mod manage;
// SPEC §6: command shapes, exit codes and stdout, with and without a running server.
mod cli;
// SPEC §1 and §5: kill -9 and SIGTERM during uploads; nothing acknowledged lost, nothing partial.
mod crash;
// SPEC §5 configuration: the --config TOML file, flag > environment > file > default, bad files.
mod config;
// SPEC §5 TLS: HTTPS only, certificate checks at start, SIGHUP reload, handshake timeout.
mod tls;
// SPEC §1, §2, §4, §5: kill -9 at random moments under a mixed load, round after round; every invariant after each restart.
mod torture;
// SPEC §5/§6 operations: backup under load, verify and repair, compact.
mod ops;
// The .deb's files: generated man page and completions current, unit and default config in step with the CLI.
mod packaging;
// Issue 5: abusive clients (head limits, silent and stalled clients, the connection cap and
// slowloris, bad framing, bad path bytes) and failed-login throttling.
mod hostile;
// Defects found in review, one test each.
mod regression;
// Issue 11: fault boundaries (a damaged record, a panicking write job).
mod faults;
