//! Endpoint handlers. Each takes the parsed route and the request, checks access through
//! [`authorize`], calls the store (on the blocking pool) and builds the response.
//!
//! Handlers know nothing of redb tables; errors leave as [`ApiError`] and are turned into
//! responses in one place (`http::error`).

pub mod generic;
pub mod goproxy;
pub mod hooks;
pub mod lifecycle;
pub mod manage;

use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{http::request::Parts, StatusCode};

use crate::app::App;
use crate::auth::{self, Access, Presented, Principal, Verdict};
use crate::http::{body::full, ApiError, ClientAddr, Response};
use crate::store::{FileTarget, OwnerKind, PackageType, What};

/// The authenticated user's name, put in response extensions for the request log.
#[derive(Debug, Clone)]
pub struct User(pub String);

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response {
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    res
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut body = serde_json::to_vec(value).expect("our response types always serialize");
    // A body that ends its line, like every text answer, so a shell prompt after curl does not
    // start on the JSON's last line.
    body.push(b'\n');
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Tags a response with the user who made the request (for the log line).
pub fn with_user(mut res: Response, who: &Option<Principal>) -> Response {
    if let Some(p) = who {
        res.extensions_mut().insert(User(p.name.clone()));
    }
    res
}

/// An empty 204 answer.
pub(super) fn no_content() -> Response {
    let mut res = Response::new(crate::http::body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

/// The request's credential, parsed but not yet checked (checking blocks).
///
/// # Errors
/// 401 for a malformed `Authorization` header or a token in the query string.
pub fn credential(parts: &Parts) -> Result<Option<Presented>, ApiError> {
    if parts.uri.query().is_some_and(auth::query_has_token) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "tokens in the query string are refused; send them in the Authorization header",
        ));
    }
    match parts.headers.get(AUTHORIZATION) {
        None => Ok(None),
        Some(v) => {
            // Always set by the server; the unspecified address only for requests built
            // without one.
            let from =
                parts.extensions.get::<ClientAddr>().map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0);
            Ok(Some(Presented { credential: auth::parse(v.as_bytes())?, from }))
        }
    }
}

/// Checks the credential (if any). Blocks.
///
/// # Errors
/// 401 for bad credentials.
pub fn authenticate(app: &App, cred: Option<&Presented>) -> Result<Option<Principal>, ApiError> {
    match cred {
        None => Ok(None),
        Some(c) => match app.auth.authenticate(c)? {
            Verdict::Accepted(who) => Ok(Some(who)),
            Verdict::Refused(denied) => Err(denied.into()),
        },
    }
}

/// [`authorize`] from memory alone, for hot paths: `None` when deciding would need a store
/// read or an argon2 run (then call [`authorize`] on the blocking pool). Never blocks.
pub fn authorize_cached(
    app: &App,
    cred: Option<&Presented>,
    owner: &str,
    access: Access,
) -> Option<Result<Option<Principal>, ApiError>> {
    let who = match cred {
        None => None,
        Some(c) => Some(app.auth.authenticate_cached(c)?),
    };
    let rec = app.store.cached_owner(owner)?;
    let role = match (&rec, &who) {
        (Some(o), Some(p)) if o.kind == OwnerKind::Org => app.store.cached_role(owner, &p.name)?,
        _ => None,
    };
    Some(auth::decide(who.as_ref(), rec.as_ref(), role, access).map(|()| who).map_err(|d| denied(d, owner)))
}

/// The answer to a refusal about `owner`'s packages: a hidden owner reads exactly like a
/// missing one, so the message reveals nothing a stranger may not know.
fn denied(d: auth::Denied, owner: &str) -> ApiError {
    match d {
        auth::Denied::Hidden => {
            // The package type plays no part in a message about the owner.
            ApiError::not_found(describe_missing(What::Owner, &place(owner, PackageType::Generic, "", "")))
        }
        d => d.into(),
    }
}

fn place(owner: &str, kind: PackageType, package: &str, version: &str) -> FileTarget {
    FileTarget {
        owner: owner.into(),
        kind,
        package: package.into(),
        version: version.into(),
        file: String::new(),
    }
}

/// 404 naming the first part of `t` that does not exist: owner, package, version or (when
/// `t.file` is not empty) file. Blocks: one read. Call it only after access was granted.
pub fn missing(app: &App, t: &FileTarget) -> ApiError {
    match app.store.first_missing(t) {
        // All there: it went between two reads; the deepest part is the one that was asked for.
        Ok(what) => ApiError::not_found(describe_missing(
            what.unwrap_or(if t.file.is_empty() { What::Version } else { What::File }),
            t,
        )),
        Err(e) => e.into(),
    }
}

/// [`missing`] for a package's versions or a version's files (no file name).
pub fn missing_in(app: &App, owner: &str, kind: PackageType, package: &str, version: &str) -> ApiError {
    missing(app, &place(owner, kind, package, version))
}

/// The one-line reason of a 404 for `what` missing in `t`.
fn describe_missing(what: What, t: &FileTarget) -> String {
    let package = match t.kind {
        PackageType::Go => "Go module",
        PackageType::Generic => "generic package",
    };
    match what {
        What::Owner => format!("no user or organization named {:?}", t.owner),
        What::Package => format!("{} has no {package} {:?}", t.owner, t.package),
        What::Version => format!("{package} {}/{} has no version {:?}", t.owner, t.package, t.version),
        _ => format!("version {} of {package} {}/{} has no file {:?}", t.version, t.owner, t.package, t.file),
    }
}

/// 409 for an upload to `t` whose file name is taken, naming the file as stored (which may
/// differ from `t.file` in case). Blocks: one read.
pub fn file_exists(app: &App, t: &FileTarget, stored: Option<&str>) -> ApiError {
    let stored = match stored {
        Some(name) => Some(name.to_string()),
        None => app.store.file(t).ok().flatten().map(|f| f.name),
    };
    let at = format!("version {} of generic package {}/{}", t.version, t.owner, t.package);
    let message = match stored {
        Some(name) if name != t.file => format!(
            "{at} already has a file {name:?}; names that differ only in case are the same name \
             (files are never replaced: delete it first, or publish a new version)"
        ),
        _ => format!(
            "{at} already has a file {:?} (files are never replaced: delete it first, or publish a new version)",
            t.file
        ),
    };
    ApiError::new(hyper::StatusCode::CONFLICT, message)
}

/// Maps a store `NotFound` from an operation on `t` to [`missing`]; other errors as usual.
pub fn or_missing(app: &App, t: &FileTarget, e: crate::store::Error) -> ApiError {
    match e {
        crate::store::Error::NotFound(_) => missing(app, t),
        e => e.into(),
    }
}

/// Authenticates and applies the permission rule for `access` to `owner`'s packages. Blocks.
///
/// # Errors
/// 401, 403 or 404 per docs/api.md, "Who may do what".
pub fn authorize(
    app: &App,
    cred: Option<&Presented>,
    owner: &str,
    access: Access,
) -> Result<Option<Principal>, ApiError> {
    let who = authenticate(app, cred)?;
    permit(app, who.as_ref(), owner, access)?;
    Ok(who)
}

/// The permission rule for `access` to `owner`'s packages by `who` (already authenticated,
/// by a credential or a web session). Blocks: reads the owner and a membership.
///
/// # Errors
/// 401, 403 or 404 per docs/api.md, "Who may do what".
pub fn permit(app: &App, who: Option<&Principal>, owner: &str, access: Access) -> Result<(), ApiError> {
    let rec = app.store.owner(owner)?;
    let role = match (&rec, who) {
        (Some(o), Some(p)) if o.kind == OwnerKind::Org => app.store.role(owner, &p.name)?,
        _ => None,
    };
    auth::decide(who, rec.as_ref(), role, access).map_err(|d| denied(d, owner))
}

/// Streams a request body of at most `limit` bytes into a new upload: 413 before reading
/// when Content-Length says it is too large, else as soon as the body passes the limit
/// (the upload is then dropped, which discards what was staged). `what` names the body
/// in the message. `to_objects`: the content may go to the object store (a file that is
/// stored as sent); a Go module zip, which is read back before it is stored, stays local.
///
/// # Errors
/// 413, 408 for a stalled body, storage errors.
pub async fn receive(
    app: &App,
    parts: &Parts,
    mut body: hyper::body::Incoming,
    limit: u64,
    what: &str,
    to_objects: bool,
) -> Result<crate::store::Upload, ApiError> {
    let declared =
        parts.headers.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{what} is larger than the limit of {limit} bytes"),
        ));
    }
    let mut upload =
        if to_objects { app.store.begin_content_upload(limit) } else { app.store.begin_upload(limit) };
    while let Some(data) = crate::http::body::next_data(&mut body, app.limits.body_idle).await? {
        upload.push(data).await?;
    }
    Ok(upload)
}
