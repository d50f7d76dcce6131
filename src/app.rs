//! [`App`]: the state every connection shares — store, authenticator, metrics, limits.
//!
//! Passed explicitly (an `Arc` per connection), never global. [`App::blocking`] is how
//! handlers reach the store: redb calls and argon2 block the thread, so they run on tokio's
//! blocking pool and never on the async workers that drive sockets.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Authenticator;
use crate::http::ApiError;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::throttle::Rate;

/// Request limits every endpoint honours.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file accepted, in bytes (413 above it).
    pub max_file_size: u64,
    /// Longest wait for the next piece of a request body.
    pub body_idle: Duration,
    /// Failed sign-ins per client address (a user name gets twice the burst and refills
    /// twice as fast).
    pub login: Rate,
}

pub struct App {
    pub store: Store,
    pub auth: Authenticator,
    pub metrics: Metrics,
    pub limits: Limits,
    /// The database file, for the store-size metric.
    pub db_path: PathBuf,
    /// Turns for checking uploaded module zips (CPU-bound, and each holds a zip directory
    /// and a go.mod in memory): as many as there are cores, at least two.
    pub zip_checks: tokio::sync::Semaphore,
    /// Whether depot serves HTTPS itself: the scheme of the absolute links it answers.
    pub https: bool,
    /// Publish-event delivery: its settings and counters.
    pub webhooks: crate::webhook::Webhooks,
}

impl App {
    pub fn new(store: Store, limits: Limits, db_path: PathBuf) -> Arc<App> {
        App::serving(store, limits, db_path, false, crate::webhook::Webhooks::default())
    }

    /// [`App::new`] for a server that speaks HTTPS itself when `https`, with the webhook
    /// settings `webhooks`.
    pub fn serving(
        store: Store,
        limits: Limits,
        db_path: PathBuf,
        https: bool,
        webhooks: crate::webhook::Webhooks,
    ) -> Arc<App> {
        Arc::new(App {
            https,
            webhooks,
            auth: Authenticator::new(store.clone(), limits.login),
            store,
            metrics: Metrics::default(),
            limits,
            db_path,
            zip_checks: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            ),
        })
    }

    /// Runs blocking work (store, argon2) on the blocking pool.
    ///
    /// # Errors
    /// A 500 when the task panicked.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&App) -> T + Send + 'static,
    {
        let app = self.clone();
        Ok(tokio::task::spawn_blocking(move || f(&app)).await?)
    }
}
