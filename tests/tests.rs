//! The integration suite: one test binary that drives the built `depot` binary from the outside,
//! over real loopback sockets and through its command line, never through the library crate.
//!
//! Every test starts its own server on a fresh temporary database, so tests run in parallel and
//! share nothing. What they check is documented in docs/api.md, docs/cli.md and docs/go-modules.md.

// TestServer, TestDb, the raw HTTP client, and the pure helpers (sha256, base64, JSON, content).
#[macro_use]
mod util;
// Where the run notes what it skipped (printed by the `skipped` target at the end).
mod skiplog;
// docs/api.md, Generic packages: upload, download, names, integrity, ranges, deletes, concurrency.
mod generic;
// docs/api.md, Credentials and permissions: credential forms, 401/403/404, tokens, organizations, admins.
mod auth;
// docs/go-modules.md: Go module uploads and the GOPROXY endpoints, over HTTP.
mod go;
// docs/go-modules.md: the real go command against the server.
mod go_client;
// docs/api.md, Management API: the /api/v1 management API, /healthz and /metrics.
mod manage;
// docs/cli.md: command shapes, exit codes and stdout, with and without a running server.
mod cli;
// docs/api.md Upload, docs/cli.md signals: kill -9, SIGTERM mid-upload; nothing acknowledged lost, nothing partial.
mod crash;
// docs/cli.md, Config file: the --config TOML file, flag > environment > file > default, bad files.
mod config;
// docs/cli.md, TLS: HTTPS only, certificate checks at start, SIGHUP reload, handshake timeout.
mod tls;
// docs/design.md: kill -9 at random moments under a mixed load, round after round; every invariant after each restart.
mod torture;
// docs/cli.md operations: backup under load, verify and repair, compact.
mod ops;
// The .deb's files: generated man page and completions current, unit and default config in step with the CLI.
mod packaging;
// Issue 5: abusive clients (head limits, silent and stalled clients, the connection cap and
// slowloris, bad framing, bad path bytes) and failed-login throttling.
mod hostile;
// Defects found in review, one test each.
mod regression;
// Issue 10: a newcomer's first hour (missing databases, file modes, failed starts, the first-admin
// hint, errors that name what they are about, sizes with units).
mod newcomer;
// Issue 11: fault boundaries (a damaged record, a panicking write job).
mod faults;
// Issue 11, item 3: slow downloads beside deletes and churn (leases instead of long snapshots).
mod lease;
// Issue 14: file content in a real three-node Garage cluster (SPEC §8).
mod objects;
// Issue 13: the web page over HTTP (pages, permissions, sessions, CSRF, escaping, headers).
mod web;
// Issue 13: the web page in a real browser (chromium via playwright-core) with axe-core.
mod browser;
// Issue 16: cleanup rules (semantics, thousands of versions, preview = apply, the schedule,
// permissions), the stable latest-file link and the lookup by sha256, with private owners.
mod lifecycle;
// Issue 16: publish events (webhooks) to a real receiver: payload, signature, retries, crashes, SSRF.
mod webhooks;
