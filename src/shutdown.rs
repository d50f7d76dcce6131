//! The shutdown signal: SIGTERM (what systemd sends) or SIGINT (Ctrl-C).
//!
//! `server::run` takes any future as its shutdown trigger; `main` passes this one and tests
//! pass one they control.

/// Completes when the process receives SIGTERM or SIGINT.
pub async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    // Installing a handler fails only when the signal cannot be caught at all; then that
    // signal simply keeps its default action.
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}
