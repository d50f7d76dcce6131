//! depot: a self-hosted package registry in one binary and one redb file.
//!
//! # Layout
//! Data flows one way: socket → router → auth → handler → store → response.
//!
//! - [`cli`]: clap definitions only, no I/O.
//! - [`manual`]: the man page and shell completions, rendered from [`cli`]'s definitions.
//! - [`config`]: flag > `DEPOT_*` variable > TOML file > default, into one [`config::ServeConfig`].
//! - [`server`]: listener, accept loop, connection cap, graceful shutdown.
//! - [`shutdown`]: the signal future (SIGTERM or SIGINT).
//! - [`tls`]: certificate and key from PEM files, the rustls acceptor, reload on SIGHUP.
//! - [`control`]: the owner-only Unix socket through which admin commands reach a running server.
//! - [`admin`]: admin commands (users, orgs, tokens), one implementation for CLI, socket and API.
//! - [`http`]: routing, the error-to-status mapping, streaming bodies with limits.
//! - [`app`]: the state every connection shares (store, authenticator, metrics, limits).
//! - [`api`]: endpoint handlers (generic packages, management JSON).
//! - [`auth`]: credential forms, password/token checks, the permission decision.
//! - [`throttle`]: failed-login budgets per client address and per user name.
//! - [`names`]: package, version, file and owner name rules (pure).
//! - [`store`]: the redb database: typed operations, one transaction each; knows nothing of HTTP.
//! - [`metrics`]: counters and the Prometheus text.
//! - [`clock`]: wall-clock seconds and their RFC 3339 / HTTP-date forms.
//! - [`cleanup`]: cleanup rules: their meaning, preview and apply, and the server's schedule.
//! - `fuzzing`: the fuzz targets' bodies and properties, shared by `fuzz/` and `cargo test`;
//!   compiled only for tests and with the `fuzzing` feature (which `fuzz/` turns on), so it is
//!   in no build of the server.
//!
//! Modules the binary (`main.rs`) uses are public; the rest are `pub(crate)`, so the library's
//! surface is what the command line needs and nothing else.

pub mod admin;
pub(crate) mod api;
pub mod app;
pub(crate) mod auth;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod gomod;
pub(crate) mod http;
pub mod manual;
pub(crate) mod metrics;
pub(crate) mod names;
pub mod server;
pub mod shutdown;
pub mod store;
pub(crate) mod throttle;
pub mod tls;
pub(crate) mod web;
pub mod webhook;
