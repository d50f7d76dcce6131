//! Delivers publish events: the background task that takes events from the store's outbox
//! (`store/hooks.rs`) and POSTs them to their hooks, as Gitea's package webhooks do.
//!
//! - The request that caused an event never waits for it: the store notifies
//!   [`Store::outbox_signal`](crate::store::Store::outbox_signal) after the commit, and this
//!   task, woken, loads the new entries.
//! - At least once: an entry leaves the outbox only with the log of its last attempt. A
//!   restart loads every entry left, so a crash between the change and the delivery delays
//!   the delivery, never loses it. Receivers deduplicate by `X-Gitea-Delivery`.
//! - A failed attempt (no answer, a status other than 2xx — a redirect included) is retried
//!   after 1 s, 2 s, 4 s, … (at most [`MAX_BACKOFF`]) until [`GIVE_UP_AFTER`] has passed
//!   since the event. A success to a hook makes its other waiting events due at once, so a
//!   receiver back from an outage gets its backlog without waiting out each backoff.
//! - At most [`MAX_IN_FLIGHT`] deliveries at a time, each bounded in time (`send.rs`); no
//!   order between events is promised.

pub mod send;
pub mod target;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};

use crate::app::App;
use crate::store::{now_ms, DeliveryRec, HookRec, OutboxRec};

/// Deliveries under way at once, over all hooks.
pub const MAX_IN_FLIGHT: usize = 16;
/// The longest wait between two attempts of one delivery.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// How long a delivery is retried.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Outbox entries loaded per read.
const LOAD_BATCH: usize = 1024;

/// The deliverer's settings and counters (on [`App`]).
#[derive(Debug, Default)]
pub struct Webhooks {
    /// Whether hooks may target loopback, private and link-local addresses.
    pub allow_private: bool,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl Webhooks {
    pub fn new(allow_private: bool) -> Webhooks {
        Webhooks { allow_private, ..Webhooks::default() }
    }

    /// The Prometheus lines of webhook delivery; `depth` is the number of outbox entries.
    pub fn render(&self, depth: Option<u64>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP depot_webhook_deliveries_total Webhook delivery attempts, by outcome.\n\
             # TYPE depot_webhook_deliveries_total counter\n\
             depot_webhook_deliveries_total{{outcome=\"ok\"}} {}\n\
             depot_webhook_deliveries_total{{outcome=\"failed\"}} {}",
            self.delivered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        );
        if let Some(depth) = depth {
            let _ = writeln!(
                out,
                "# HELP depot_webhook_outbox Webhook deliveries waiting (queued or to be retried).\n\
                 # TYPE depot_webhook_outbox gauge\ndepot_webhook_outbox {depth}"
            );
        }
        out
    }
}

/// The hex HMAC-SHA256 of `body` with `secret`: Gitea's `X-Gitea-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    crate::http::headers::hex(&mac.finalize().into_bytes())
}

/// The hex HMAC-SHA1, which Gitea sends too (`X-Hub-Signature`, GitHub's old header).
fn signature_sha1(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    crate::http::headers::hex(&mac.finalize().into_bytes())
}

/// The headers Gitea sends with a package event (`services/webhook/deliver.go`), and ours.
/// Without a secret the signatures are empty, as Gitea's.
fn headers(hook: &HookRec, delivery: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let (sha256, sha1) = if hook.secret.is_empty() {
        (String::new(), String::new())
    } else {
        (signature(&hook.secret, body), signature_sha1(&hook.secret, body))
    };
    let id = delivery.to_string();
    let event = || "package".to_string();
    vec![
        ("content-type", "application/json".into()),
        ("user-agent", concat!("depot/", env!("CARGO_PKG_VERSION")).into()),
        ("x-gitea-delivery", id.clone()),
        ("x-gitea-event", event()),
        ("x-gitea-event-type", event()),
        ("x-gitea-signature", sha256.clone()),
        ("x-gogs-delivery", id.clone()),
        ("x-gogs-event", event()),
        ("x-gogs-event-type", event()),
        ("x-gogs-signature", sha256.clone()),
        ("x-hub-signature", format!("sha1={sha1}")),
        ("x-hub-signature-256", format!("sha256={sha256}")),
        ("x-github-delivery", id.clone()),
        ("x-github-event", event()),
        ("x-github-event-type", event()),
        ("x-depot-delivery", id),
    ]
}

/// The wait before attempt `attempts + 1`: 1 s doubled per failed attempt, at most
/// [`MAX_BACKOFF`], less up to a tenth at random so that a burst does not retry in lockstep.
fn backoff(attempts: u32) -> Duration {
    let full = Duration::from_secs(1u64 << attempts.saturating_sub(1).min(20)).min(MAX_BACKOFF);
    let mut r = [0u8; 2];
    let _ = getrandom::getrandom(&mut r);
    full - full / 10 * u32::from(u16::from_le_bytes(r)) / u32::from(u16::MAX)
}

/// An entry the deliverer knows of.
struct Pending {
    hook: u64,
    next_ms: u64,
    /// When its last attempt ended (0: none in this process).
    last_ms: u64,
}

/// How an attempt ended, for the scheduler.
enum Outcome {
    /// Delivered, given up, or the entry or its hook was gone: forget it.
    Done { hook: u64, ok: bool },
    /// Try again then (milliseconds since the epoch).
    Retry { next_ms: u64 },
}

/// Starts the deliverer; it runs until the runtime stops or the handle is aborted.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(app))
}

async fn run(app: Arc<App>) {
    let signal = app.store.outbox_signal();
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut seen = 0u64;
    let mut in_flight: HashSet<u64> = HashSet::new();
    // Hook id → when a delivery to it last succeeded.
    let mut recovered: HashMap<u64, u64> = HashMap::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Outcome)>();
    loop {
        // Taken before loading, so a commit notified while loading wakes the next wait.
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut more = false;
        // A failed read is tried again in a second: uploads that queue no event no longer
        // wake this loop, so nothing else might.
        let loaded = match app.blocking(move |app| app.store.outbox_after(seen, LOAD_BATCH)).await {
            Ok(read) => read.map_err(|e| e.to_string()),
            Err(e) => Err(e.message),
        };
        let read_failed = match loaded {
            Ok(entries) => {
                more = entries.len() == LOAD_BATCH;
                for (seq, rec) in entries {
                    seen = seen.max(seq);
                    pending.insert(seq, Pending { hook: rec.hook, next_ms: rec.next_ms, last_ms: 0 });
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: reading the outbox failed");
                true
            }
        };
        let now = now_ms();
        let mut next_ms: Option<u64> = read_failed.then_some(now + 1000);
        for (&seq, p) in &pending {
            if in_flight.contains(&seq) {
                continue;
            }
            let due = p.next_ms <= now || recovered.get(&p.hook).is_some_and(|&t| t > p.last_ms);
            if due && in_flight.len() < MAX_IN_FLIGHT {
                in_flight.insert(seq);
                let (app, done) = (app.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let outcome = attempt(&app, seq).await;
                    let _ = done.send((seq, outcome));
                });
            } else if !due {
                next_ms = Some(next_ms.map_or(p.next_ms, |n| n.min(p.next_ms)));
            }
        }
        if more {
            continue;
        }
        let sleep = next_ms.map(|n| Duration::from_millis(n.saturating_sub(now_ms())));
        tokio::select! {
            () = &mut notified => {}
            Some(first) = done_rx.recv() => {
                let mut finished = vec![first];
                while let Ok(d) = done_rx.try_recv() {
                    finished.push(d);
                }
                for (seq, outcome) in finished {
                    in_flight.remove(&seq);
                    match outcome {
                        Outcome::Done { hook, ok } => {
                            pending.remove(&seq);
                            if ok {
                                recovered.insert(hook, now_ms());
                            }
                        }
                        Outcome::Retry { next_ms } => {
                            if let Some(p) = pending.get_mut(&seq) {
                                p.next_ms = next_ms;
                                p.last_ms = now_ms();
                            }
                        }
                    }
                }
                if pending.is_empty() {
                    recovered.clear();
                }
            }
            () = tokio::time::sleep(sleep.unwrap_or(Duration::ZERO)), if sleep.is_some() => {}
        }
    }
}

/// One attempt at outbox entry `seq`: render, send, log.
async fn attempt(app: &Arc<App>, seq: u64) -> Outcome {
    let loaded = app
        .blocking(move |app| -> Result<Option<(OutboxRec, HookRec, Vec<u8>)>, String> {
            let Some((rec, hook)) = app.store.outbox_entry(seq).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            let body = crate::api::manage::package_event(app, &hook.base, &rec.event)?;
            Ok(Some((rec, hook, body)))
        })
        .await;
    let (rec, hook, body) = match loaded {
        Ok(Ok(Some(l))) => l,
        // Delivered meanwhile, or its hook deleted.
        Ok(Ok(None)) => return Outcome::Done { hook: 0, ok: false },
        Ok(Err(e)) => {
            tracing::warn!(seq, error = %e, "webhooks: an event could not be prepared");
            return Outcome::Retry { next_ms: now_ms() + backoff(1).as_millis() as u64 };
        }
        Err(e) => {
            tracing::warn!(seq, error = %e.message, "webhooks: an event could not be prepared");
            return Outcome::Retry { next_ms: now_ms() + backoff(1).as_millis() as u64 };
        }
    };
    let started_ms = now_ms();
    let started = Instant::now();
    let body = Bytes::from(body);
    let result = match target::parse(&hook.url) {
        Err(e) => Err(e),
        Ok(t) => match target::resolve(&t, app.webhooks.allow_private).await {
            Err(e) => Err(e),
            Ok(addrs) => send::post(&t, &addrs, &headers(&hook, &rec.delivery, &body), body.clone()).await,
        },
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let (ok, status, mut error) = match result {
        Ok(s) if (200..300).contains(&s) => (true, Some(s), String::new()),
        Ok(s) if (300..400).contains(&s) => (false, Some(s), format!("HTTP {s}: redirects are not followed")),
        Ok(s) => (false, Some(s), format!("HTTP {s}")),
        Err(e) => (false, None, e),
    };
    let attempts = rec.attempts + 1;
    let retry_at = if ok {
        None
    } else {
        let at = now_ms() + backoff(attempts).as_millis() as u64;
        (at < rec.queued_ms + GIVE_UP_AFTER.as_millis() as u64).then_some(at)
    };
    if !ok && retry_at.is_none() {
        error.push_str(&format!("; gave up after {attempts} attempts"));
    }
    if ok {
        app.webhooks.delivered.fetch_add(1, Ordering::Relaxed);
    } else {
        app.webhooks.failed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(hook = hook.id, delivery = %rec.delivery, attempt = attempts, error = %error, "webhook delivery failed");
    }
    let log = DeliveryRec {
        delivery: rec.delivery.clone(),
        time_ms: started_ms,
        attempt: attempts,
        status,
        duration_ms,
        error,
        ok,
        last: retry_at.is_none(),
        event: rec.event.clone(),
    };
    let logged = app.blocking(move |app| app.store.finish_attempt(seq, log, retry_at)).await;
    match (logged, retry_at) {
        (Ok(Ok(())), None) => Outcome::Done { hook: hook.id, ok },
        (Ok(Ok(())), Some(next_ms)) => Outcome::Retry { next_ms },
        // Not logged: the entry stays, and is sent again (at least once).
        (Ok(Err(e)), _) => {
            tracing::warn!(seq, error = %e, "webhooks: logging a delivery failed");
            Outcome::Retry { next_ms: now_ms() + backoff(attempts).as_millis() as u64 }
        }
        (Err(e), _) => {
            tracing::warn!(seq, error = %e.message, "webhooks: logging a delivery failed");
            Outcome::Retry { next_ms: now_ms() + backoff(attempts).as_millis() as u64 }
        }
    }
}
