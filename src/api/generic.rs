//! Generic package endpoints (docs/api.md): upload, download (with Range and conditional
//! requests), delete a file.
//!
//! An upload streams the body into the store chunk by chunk and answers 201 only after the
//! commit holding the file is durable; any failure before that leaves nothing visible.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};

use super::{authorize, authorize_cached, credential, with_user};
use crate::app::App;
use crate::auth::Access;
use crate::http::body::{empty, full, ChannelBody};
use crate::http::headers::{self, Range};
use crate::http::query::encode;
use crate::http::{ApiError, Response};
use crate::names;
use crate::store::{Added, FileReader, FileTarget, PackageType, Refusal, What, CHUNK_SIZE};

/// Uploads up to this size (by Content-Length) skip the blocking pre-check when their
/// credentials are decided from memory: reading such a body before a 409 costs little.
const SMALL_UPLOAD: u64 = 1 << 20;
/// Ranges up to this size are read in one go and sent from memory.
const INLINE_BYTES: u64 = CHUNK_SIZE as u64;
/// Chunks buffered between the store reader and the socket per download. With the chunk
/// being read, a download holds at most two chunks (~2 MiB); a client that stops reading is
/// cut off by the connection's write timeout.
const STREAM_DEPTH: usize = 1;

/// A header that must appear at most once and be text: an integrity header that cannot be
/// read must not be silently skipped.
fn single_header<'h>(h: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    let mut values = h.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!("{name} may be sent only once")));
    }
    first.to_str().map(Some).map_err(|_| ApiError::bad_request(format!("{name} is not valid text")))
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The upload name rules of docs/api.md, Names (checked after access, so a stranger learns nothing).
fn check_names(t: &FileTarget) -> Result<(), names::Error> {
    names::package(&t.package)?;
    names::version(&t.version)?;
    names::file(&t.file)
}

/// `PUT {base}/{file}`.
pub async fn put(app: &Arc<App>, req: Request<Incoming>, target: FileTarget) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let cred = credential(&parts)?;
    let declared = header_str(&parts.headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    // A small upload from a recently seen client is decided from memory and goes straight to
    // the writer, which checks the name again anyway; anything else is checked on the
    // blocking pool first, where a taken name is refused before a large body is read.
    let hot = match declared {
        Some(len) if len <= SMALL_UPLOAD => {
            authorize_cached(app, cred.as_ref(), &target.owner, Access::Write)
        }
        _ => None,
    };
    let who = match hot {
        Some(who) => {
            let who = who?;
            check_names(&target)?;
            who
        }
        None => {
            let t = target.clone();
            app.blocking(move |app| {
                let who = authorize(app, cred.as_ref(), &t.owner, Access::Write)?;
                check_names(&t)?;
                if let Some(existing) = app.store.file(&t)? {
                    return Err(super::file_exists(app, &t, Some(&existing.name)));
                }
                Ok::<_, ApiError>(who)
            })
            .await??
        }
    };
    let expect = headers::declared_sha256(
        single_header(&parts.headers, "x-checksum-sha256")?,
        single_header(&parts.headers, "content-digest")?,
    )
    .map_err(ApiError::bad_request)?;
    let upload = super::receive(app, &parts, body, app.limits.max_file_size, "file", true).await?;
    let sealed = upload.seal().await?;
    let by = who.as_ref().map(|p| p.name.clone());
    let rec = match app.store.add_file_by(sealed, target.clone(), expect, by).await? {
        Added::Stored(rec) => rec,
        Added::Refused(Refusal::Exists(_)) => {
            return Err(app.blocking(move |app| super::file_exists(app, &target, None)).await?)
        }
        Added::Refused(r) => return Err(r.into()),
    };
    app.metrics.bytes_in(rec.size);
    app.metrics.upload(started.elapsed());
    let mut res = Response::new(empty());
    *res.status_mut() = StatusCode::CREATED;
    res.headers_mut().insert("x-checksum-sha256", hv(&headers::hex(&rec.sha256)));
    Ok(with_user(res, &who))
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What a GET/HEAD answers, decided from the file and the request's headers.
enum Plan {
    NotModified,
    PreconditionFailed,
    Unsatisfiable,
    Send { start: u64, end: u64, partial: bool },
}

fn plan(h: &HeaderMap, etag: &str, modified: u64, size: u64) -> Plan {
    let since = |name| header_str(h, name).and_then(crate::clock::parse_http_date);
    if let Some(list) = header_str(h, header::IF_MATCH) {
        if !headers::etag_matches(list, etag, false) {
            return Plan::PreconditionFailed;
        }
    } else if since(header::IF_UNMODIFIED_SINCE).is_some_and(|t| modified > t) {
        return Plan::PreconditionFailed;
    }
    if let Some(list) = header_str(h, header::IF_NONE_MATCH) {
        if headers::etag_matches(list, etag, true) {
            return Plan::NotModified;
        }
    } else if since(header::IF_MODIFIED_SINCE).is_some_and(|t| modified <= t) {
        return Plan::NotModified;
    }
    let full_body = Plan::Send { start: 0, end: size, partial: false };
    let Some(range) = header_str(h, header::RANGE) else {
        return full_body;
    };
    if let Some(cond) = header_str(h, header::IF_RANGE) {
        let fresh = if cond.starts_with('"') {
            cond == etag
        } else {
            crate::clock::parse_http_date(cond) == Some(modified)
        };
        if !fresh {
            return full_body;
        }
    }
    match headers::range(range, size) {
        Range::Full => full_body,
        Range::Part { start, end } => Plan::Send { start, end, partial: true },
        Range::Unsatisfiable => Plan::Unsatisfiable,
    }
}

/// Where a download's bytes come from.
enum Content {
    /// Already in memory (from the cache, or a range of at most one chunk read up front).
    Inline(bytes::Bytes),
    /// Streamed chunk by chunk (from a lease, see `FileReader::into_leased`).
    Stream(Box<FileReader>),
    /// Streamed from the object store (the reader kept for its lease).
    Object(Box<FileReader>, crate::store::ObjectStream),
    /// In the object store, fetched by the client itself from this presigned URL.
    Redirect(String),
}

/// `GET`/`HEAD {base}/{file}`.
///
/// A file small enough for the cache is answered from memory when it is there and access is
/// decided from memory (no credential, or one seen recently: see `authorize_cached`); every
/// other request checks access and reads on the blocking pool.
pub async fn get(app: &Arc<App>, req: Request<Incoming>, target: FileTarget) -> Result<Response, ApiError> {
    download(app, req.into_parts().0, target).await
}

/// `GET`/`HEAD /api/packages/{owner}/generic/{name}/-/latest/{file}`: the file of that name
/// of the newest version that has one (the newest of `-/latest` when it has it, found with
/// one lookup; else walking the versions from the newest), answered as the versioned
/// download is, with `Content-Location` naming the versioned URL.
pub async fn get_latest(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    package: String,
    file: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let (o, p, f) = (owner.clone(), package.clone(), file.clone());
    let (package, version, file) = app
        .blocking(move |app| {
            authorize(app, cred.as_ref(), &o, Access::Read)?;
            match app.store.newest_with_file(&o, PackageType::Generic, &p, &f)? {
                Some(v) => Ok(v),
                None => {
                    let t = FileTarget {
                        owner: o,
                        kind: PackageType::Generic,
                        package: p,
                        version: String::new(),
                        file: f,
                    };
                    Err(match app.store.first_missing(&t)? {
                        Some(What::Owner | What::Package) => super::missing(app, &t),
                        _ => ApiError::not_found(format!(
                            "no version of generic package {}/{} has a file {:?}",
                            t.owner, t.package, t.file
                        )),
                    })
                }
            }
        })
        .await??;
    let location = format!(
        "/api/packages/{}/generic/{}/{}/{}",
        encode(&owner),
        encode(&package),
        encode(&version),
        encode(&file)
    );
    let target = FileTarget { owner, kind: PackageType::Generic, package, version, file };
    let mut res = download(app, parts, target).await?;
    res.headers_mut().insert(header::CONTENT_LOCATION, hv(&location));
    Ok(res)
}

async fn download(
    app: &Arc<App>,
    parts: hyper::http::request::Parts,
    target: FileTarget,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let cred = credential(&parts)?;
    let head = parts.method == Method::HEAD;
    // Access decided from memory (a recently seen credential, or none) is not decided again.
    let decided = match authorize_cached(app, cred.as_ref(), &target.owner, Access::Read) {
        Some(who) => {
            let who = who?;
            if let Some(hit) = app.store.cached_file(&target) {
                let etag = headers::quoted_hex(&hit.rec.sha256);
                let plan = plan(&parts.headers, &etag, hit.rec.created, hit.rec.size);
                return Ok(respond(
                    app,
                    who,
                    &hit.rec,
                    &etag,
                    plan,
                    head,
                    Content::Inline(hit.data),
                    started,
                ));
            }
            Some(who)
        }
        None => None,
    };
    let (who, file, etag, plan, content) = app
        .blocking(move |app| {
            let who = match decided {
                Some(who) => who,
                None => authorize(app, cred.as_ref(), &target.owner, Access::Read)?,
            };
            let Some(reader) = app.store.open_file(&target)? else {
                return Err(super::missing(app, &target));
            };
            let f = reader.file.clone();
            let etag = headers::quoted_hex(&f.sha256);
            let plan = plan(&parts.headers, &etag, f.created, f.size);
            let redirect = match plan {
                Plan::Send { .. } if !head => reader.presigned_url(),
                _ => None,
            };
            let content = match plan {
                _ if redirect.is_some() => Content::Redirect(redirect.unwrap_or_default()),
                Plan::Send { start, end, .. } if !head && end - start <= INLINE_BYTES => {
                    let mut buf = Vec::with_capacity((end - start) as usize);
                    reader.read(start, end, |b| {
                        buf.extend_from_slice(&b);
                        true
                    })?;
                    let data = bytes::Bytes::from(buf);
                    if start == 0 && end == f.size {
                        app.store.remember(&reader, &target, data.clone());
                    }
                    Content::Inline(data)
                }
                // A transfer that may take long must not pin freed space with its snapshot.
                Plan::Send { .. } if !head => Content::Stream(Box::new(reader.into_leased())),
                _ => Content::Stream(Box::new(reader)),
            };
            Ok::<_, ApiError>((who, f, etag, plan, content))
        })
        .await??;
    // Content in the object store is asked for before the answer starts, so a store that is
    // down is a 503 rather than a broken transfer.
    let content = match (content, &plan) {
        (Content::Stream(reader), Plan::Send { start, end, .. }) if !head && reader.in_object_store() => {
            let stream = reader.object_range(*start, *end).await?;
            Content::Object(reader, stream)
        }
        (content, _) => content,
    };
    Ok(respond(app, who, &file, &etag, plan, head, content, started))
}

/// Builds the download response for `plan`; `etag` is the quoted sha256 hex.
// Eight plain inputs read better at the two call sites than a struct built only to pass them.
#[allow(clippy::too_many_arguments)]
fn respond(
    app: &Arc<App>,
    who: Option<crate::auth::Principal>,
    f: &crate::store::FileRec,
    etag: &str,
    plan: Plan,
    head: bool,
    content: Content,
    started: Instant,
) -> Response {
    let size = f.size;
    let sha = etag.trim_matches('"');
    let mut res = Response::new(empty());
    // Sized for every header below, so the map never grows while they go in.
    *res.headers_mut() = HeaderMap::with_capacity(16);
    let h = res.headers_mut();
    h.insert(header::ETAG, hv(etag));
    h.insert(header::LAST_MODIFIED, hv(&crate::clock::http_date(f.created)));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert("x-checksum-sha256", hv(sha));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    let (start, end, partial) = match plan {
        Plan::NotModified => {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return with_user(res, &who);
        }
        Plan::PreconditionFailed => {
            let mut res =
                ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition failed").into_response();
            res.headers_mut().insert(header::ETAG, hv(etag));
            return with_user(res, &who);
        }
        Plan::Unsatisfiable => {
            let mut res =
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable").into_response();
            res.headers_mut().insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
            return with_user(res, &who);
        }
        Plan::Send { start, end, partial } => (start, end, partial),
    };
    if let Content::Redirect(url) = &content {
        // The client fetches the bytes (and its range) from the store; the checksum and
        // ETag stay on this answer.
        h.insert(header::LOCATION, hv(url));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        *res.status_mut() = StatusCode::FOUND;
        app.metrics.download(started.elapsed());
        return with_user(res, &who);
    }
    if partial {
        h.insert(header::CONTENT_RANGE, hv(&format!("bytes {start}-{}/{size}", end - 1)));
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::CONTENT_DISPOSITION, hv(&headers::content_disposition(&f.name)));
    if partial {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    if head {
        return with_user(res, &who);
    }
    match content {
        Content::Inline(data) => {
            // Cached content is the whole file; a range of it is a cheap slice.
            let data =
                if data.len() as u64 == size { data.slice(start as usize..end as usize) } else { data };
            *res.body_mut() = full(data);
            app.metrics.download(started.elapsed());
        }
        Content::Stream(reader) => {
            let (tx, body) = ChannelBody::channel(STREAM_DEPTH);
            *res.body_mut() = body;
            tokio::spawn(stream(app.clone(), *reader, start, end, tx, started));
        }
        Content::Object(reader, pieces) => {
            let (tx, body) = ChannelBody::channel(STREAM_DEPTH);
            *res.body_mut() = body;
            tokio::spawn(stream_object(app.clone(), reader, pieces, tx, started));
        }
        Content::Redirect(_) => unreachable!("answered above"),
    }
    with_user(res, &who)
}

/// Feeds bytes `start..end` of `reader` into a response body, one chunk per blocking read.
/// Each read is a short read transaction of its own (the reader holds a lease, not a
/// snapshot), so a client that takes hours pins no space that deletes free meanwhile.
///
/// Waiting for the client happens here, on the async side, so a slow or stalled reader holds
/// no blocking thread; the connection's write timeout (`server.rs`) ends a stalled one, which
/// drops the body and so ends this task. At most one chunk plus the channel is buffered.
async fn stream(
    app: Arc<App>,
    reader: FileReader,
    start: u64,
    end: u64,
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    started: Instant,
) {
    let mut reader = reader;
    let mut pos = start;
    while pos < end {
        let step = (pos + CHUNK_SIZE as u64).min(end);
        let read = tokio::task::spawn_blocking(move || {
            let mut pieces = Vec::new();
            let outcome = reader.read(pos, step, |piece| {
                pieces.push(piece);
                true
            });
            (reader, outcome.map(|()| pieces))
        })
        .await;
        let pieces = match read {
            Ok((r, Ok(pieces))) => {
                reader = r;
                pieces
            }
            Ok((_, Err(e))) => {
                // The client sees a broken transfer (short of Content-Length), never wrong bytes.
                tracing::error!(error = %e, "download failed mid-stream");
                let _ = tx.send(Err(std::io::Error::other("read failed"))).await;
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "download reader panicked");
                return;
            }
        };
        for piece in pieces {
            if tx.send(Ok(piece)).await.is_err() {
                return; // the client went away
            }
        }
        pos = step;
    }
    app.metrics.download(started.elapsed());
}

/// Feeds a download from the object store into a response body. The reader is held until
/// the end: its lease keeps the object from being deleted meanwhile.
async fn stream_object(
    app: Arc<App>,
    reader: Box<FileReader>,
    mut pieces: crate::store::ObjectStream,
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    started: Instant,
) {
    while let Some(piece) = pieces.next().await {
        match piece {
            Ok(piece) => {
                if tx.send(Ok(piece)).await.is_err() {
                    return; // the client went away
                }
            }
            Err(e) => {
                // The client sees a broken transfer (short of Content-Length), never wrong bytes.
                tracing::error!(error = %e, "download from the object store failed mid-stream");
                let _ = tx.send(Err(std::io::Error::other("read failed"))).await;
                return;
            }
        }
    }
    drop(reader);
    app.metrics.download(started.elapsed());
}

/// `DELETE {base}/{file}`.
pub async fn delete_file(
    app: &Arc<App>,
    req: Request<Incoming>,
    target: FileTarget,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let who = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &target.owner, Access::Write)?;
            let by = who.as_ref().map(|p| p.name.clone());
            app.store.delete_file_by(target.clone(), by).map_err(|e| super::or_missing(app, &target, e))?;
            Ok::<_, ApiError>(who)
        })
        .await??;
    Ok(with_user(super::no_content(), &who))
}
