//! Publish-event webhooks of an owner under `/api/v1/packages/{owner}/-/hooks` (docs/api.md):
//! create, list, delete, the delivery log and redelivery. Every route needs write access to
//! the owner's packages: a hook's URL and its log are the owner's configuration, not package
//! data a reader may see.
//!
//! The secret is never answered: a caller that sends one knows it; a hook created without one
//! gets a random one, shown once in the creation's answer (as a token is).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::{authorize, credential, json, no_content, with_user};
use crate::app::App;
use crate::auth::Access;
use crate::clock::rfc3339;
use crate::http::body;
use crate::http::{ApiError, Response};
use crate::store::{Action, DeliveryRec, HookRec};
use crate::webhook::target;

/// Longest secret accepted.
const MAX_SECRET_BYTES: usize = 1024;

#[derive(Serialize)]
struct HookOut {
    id: u64,
    /// Gitea's hook type: the payload and headers are Gitea's.
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
    events: Vec<&'static str>,
    active: bool,
    created_at: String,
    /// Set only in the answer to the creation of a hook whose secret depot chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn hook_out(h: &HookRec, secret: Option<String>) -> HookOut {
    let mut events = Vec::new();
    if h.on_created {
        events.push(Action::Created.as_str());
    }
    if h.on_deleted {
        events.push(Action::Deleted.as_str());
    }
    HookOut {
        id: h.id,
        kind: "gitea",
        url: h.url.clone(),
        events,
        active: h.active,
        created_at: rfc3339(h.created),
        secret,
    }
}

#[derive(Serialize)]
struct DeliveryOut {
    /// The delivery id (`X-Gitea-Delivery`), shared by the attempts of one delivery.
    id: String,
    attempt: u32,
    /// When the attempt started (RFC 3339, milliseconds).
    time: String,
    event: &'static str,
    package: String,
    version: String,
    /// The receiver's status; `null` when none answered.
    status: Option<u16>,
    ok: bool,
    duration_ms: u64,
    error: String,
    /// Whether no retry follows this attempt (delivered, or given up).
    last: bool,
}

fn rfc3339_ms(ms: u64) -> String {
    let s = rfc3339(ms / 1000);
    // `…T12:34:56Z` → `…T12:34:56.789Z`
    match s.strip_suffix('Z') {
        Some(head) => format!("{head}.{:03}Z", ms % 1000),
        None => s,
    }
}

fn delivery_out(d: DeliveryRec) -> DeliveryOut {
    DeliveryOut {
        id: d.delivery,
        attempt: d.attempt,
        time: rfc3339_ms(d.time_ms),
        event: d.event.action.as_str(),
        package: d.event.package,
        version: d.event.version.version,
        status: d.status,
        ok: d.ok,
        duration_ms: d.duration_ms,
        error: d.error,
        last: d.last,
    }
}

fn hook_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found(format!("no webhook {id:?}")))
}

#[derive(Deserialize)]
struct NewHook {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    /// Gitea's `CreateHookOption` puts `url` and `secret` here.
    #[serde(default)]
    config: Option<std::collections::HashMap<String, String>>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    active: Option<bool>,
    /// Gitea's clients send the hook type; only "gitea" payloads exist here.
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// `POST /api/v1/packages/{owner}/-/hooks` with `{"url", "secret"?, "events"?, "active"?}`:
/// 201 with the hook. `events` defaults to both, `active` to true.
pub async fn create(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let cred = credential(&parts)?;
    let base = crate::http::base_url(app.https, &parts);
    let o = owner.clone();
    let who = app.blocking(move |app| authorize(app, cred.as_ref(), &o, Access::Write)).await??;
    let value: serde_json::Value = body::json(body, app.limits.body_idle).await?;
    let new: NewHook = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if new.kind.as_deref().is_some_and(|k| k != "gitea") {
        return Err(ApiError::bad_request("type must be \"gitea\" (the only payload depot sends)"));
    }
    let mut config = new.config.unwrap_or_default();
    let url =
        new.url.or_else(|| config.remove("url")).ok_or_else(|| ApiError::bad_request("url is required"))?;
    let secret = new.secret.or_else(|| config.remove("secret"));
    let events = new.events.unwrap_or_else(|| vec!["created".into(), "deleted".into()]);
    let mut on = (false, false);
    for e in &events {
        match Action::parse(e) {
            Some(Action::Created) => on.0 = true,
            Some(Action::Deleted) => on.1 = true,
            // Gitea's event name for all package events.
            None if e == "package" => on = (true, true),
            None => {
                return Err(ApiError::bad_request(format!(
                    "unknown event {e:?}; the events are \"created\" and \"deleted\" (or \"package\": both)"
                )))
            }
        }
    }
    if !on.0 && !on.1 {
        return Err(ApiError::bad_request("events is empty; give \"created\", \"deleted\" or both"));
    }
    let t = target::parse(url.trim()).map_err(|e| ApiError::bad_request(format!("url: {e}")))?;
    target::resolve(&t, app.webhooks.allow_private)
        .await
        .map_err(|e| ApiError::bad_request(format!("url: {e}")))?;
    let (secret, chosen) = match secret.filter(|s| !s.is_empty()) {
        Some(s) if s.len() > MAX_SECRET_BYTES => {
            return Err(ApiError::bad_request(format!("secret is longer than {MAX_SECRET_BYTES} bytes")))
        }
        Some(s) => (s, false),
        None => {
            let mut b = [0u8; 32];
            getrandom::getrandom(&mut b).map_err(ApiError::internal)?;
            (crate::http::headers::hex(&b), true)
        }
    };
    let rec = HookRec {
        id: 0,
        url: url.trim().to_string(),
        secret,
        on_created: on.0,
        on_deleted: on.1,
        active: new.active.unwrap_or(true),
        created: crate::clock::now(),
        base,
    };
    let hook = app
        .blocking(move |app| {
            app.store.add_hook(&owner, rec).map_err(|e| match e {
                crate::store::Error::Refused(why) => ApiError::bad_request(why),
                e => e.into(),
            })
        })
        .await??;
    let secret = chosen.then(|| hook.secret.clone());
    Ok(with_user(json(StatusCode::CREATED, &hook_out(&hook, secret)), &who))
}

/// `GET /api/v1/packages/{owner}/-/hooks`: the owner's hooks, without their secrets.
pub async fn list(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let (who, hooks) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            Ok::<_, ApiError>((who, app.store.hooks(&owner)?))
        })
        .await??;
    let out: Vec<HookOut> = hooks.iter().map(|h| hook_out(h, None)).collect();
    Ok(with_user(json(StatusCode::OK, &out), &who))
}

/// `GET` and `DELETE /api/v1/packages/{owner}/-/hooks/{id}`.
pub async fn one(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    id: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let delete = parts.method == hyper::Method::DELETE;
    let (who, hook) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            let id = hook_id(&id)?;
            let missing = || ApiError::not_found(format!("{owner} has no webhook {id}"));
            if delete {
                app.store.delete_hook(&owner, id).map_err(|e| match e {
                    crate::store::Error::NotFound(_) => missing(),
                    e => e.into(),
                })?;
                return Ok::<_, ApiError>((who, None));
            }
            Ok((who, Some(app.store.hook(&owner, id)?.ok_or_else(missing)?)))
        })
        .await??;
    let res = match hook {
        Some(h) => json(StatusCode::OK, &hook_out(&h, None)),
        None => no_content(),
    };
    Ok(with_user(res, &who))
}

/// `GET /api/v1/packages/{owner}/-/hooks/{id}/deliveries`: the last attempts, newest first.
pub async fn deliveries(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    id: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let (who, log) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            let id = hook_id(&id)?;
            let log = app
                .store
                .deliveries(&owner, id)?
                .ok_or_else(|| ApiError::not_found(format!("{owner} has no webhook {id}")))?;
            Ok::<_, ApiError>((who, log))
        })
        .await??;
    let out: Vec<DeliveryOut> = log.into_iter().map(delivery_out).collect();
    Ok(with_user(json(StatusCode::OK, &out), &who))
}

/// `POST /api/v1/packages/{owner}/-/hooks/{id}/deliveries/{delivery}/redeliver`: queues the
/// event of a logged delivery again, as a new delivery; 202 with its id.
pub async fn redeliver(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    id: String,
    delivery: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let (who, new) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            let id = hook_id(&id)?;
            let new = app.store.redeliver(&owner, id, &delivery).map_err(|e| match e {
                crate::store::Error::NotFound(crate::store::What::Hook) => {
                    ApiError::not_found(format!("{owner} has no webhook {id}"))
                }
                crate::store::Error::NotFound(_) => ApiError::not_found(format!(
                    "webhook {id} has no delivery {delivery:?} in its log (the last {} attempts)",
                    crate::store::LOG_KEEP
                )),
                e => e.into(),
            })?;
            Ok::<_, ApiError>((who, new))
        })
        .await??;
    #[derive(Serialize)]
    struct Queued {
        delivery: String,
    }
    Ok(with_user(json(StatusCode::ACCEPTED, &Queued { delivery: new }), &who))
}
