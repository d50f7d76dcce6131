//! The one route table: method and path to handler, plus the per-request log line and
//! metrics.
//!
//! Paths are split on `/` first and each segment percent-decoded afterwards, so an encoded
//! `%2F` stays inside its segment (a Go module path in the management API) and a version
//! can hold any character but `/`. A path that matches no route is 404; a known path with
//! another method is 405.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Request, StatusCode};

use super::{ApiError, Response};
use crate::api::{self, generic, goproxy, hooks, lifecycle, manage, User};
use crate::app::App;
use crate::store::PackageType;

/// A parsed request path; names are percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    GenericFile {
        owner: String,
        package: String,
        version: String,
        file: String,
    },
    GenericVersion {
        owner: String,
        package: String,
        version: String,
    },
    /// `/api/packages/{owner}/generic/{name}/-/latest/{file}`.
    GenericLatest {
        owner: String,
        package: String,
        file: String,
    },
    /// `/api/v1/packages/{owner}/-/rules`.
    Rules {
        owner: String,
    },
    /// `/api/v1/packages/{owner}/-/rules/{id}`.
    Rule {
        owner: String,
        id: String,
    },
    /// `/api/v1/packages/{owner}/-/rules/{id}/preview`.
    RulePreview {
        owner: String,
        id: String,
    },
    /// `/api/v1/packages/{owner}/-/sha256/{hex}`.
    BySha256 {
        owner: String,
        hex: String,
    },
    /// `PUT /api/packages/{owner}/go/upload`.
    GoUpload {
        owner: String,
    },
    /// A GOPROXY read; `module` is still case-encoded.
    Go {
        owner: String,
        module: String,
        want: goproxy::Want,
    },
    /// `/api/packages/{owner}/go/sumdb/...`: the checksum database is not proxied (404).
    GoSumdb,
    Packages {
        owner: String,
    },
    Package {
        owner: String,
        kind: PackageType,
        name: String,
    },
    Latest {
        owner: String,
        kind: PackageType,
        name: String,
    },
    Version {
        owner: String,
        kind: PackageType,
        name: String,
        version: String,
    },
    Files {
        owner: String,
        kind: PackageType,
        name: String,
        version: String,
    },
    Users,
    User {
        name: String,
    },
    Quotas,
    Quota {
        owner: String,
    },
    Orgs,
    Member {
        org: String,
        user: String,
    },
    Tokens {
        user: String,
    },
    Token {
        user: String,
        label: String,
    },
    /// `/api/v1/packages/{owner}/-/hooks`.
    Hooks {
        owner: String,
    },
    Hook {
        owner: String,
        id: String,
    },
    HookDeliveries {
        owner: String,
        id: String,
    },
    Redeliver {
        owner: String,
        id: String,
        delivery: String,
    },
    /// A page of the web interface.
    Web(crate::web::Page),
}

impl Route {
    /// A fixed label for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Health => "healthz",
            Route::Metrics => "metrics",
            Route::GenericFile { .. } => "generic_file",
            Route::GenericVersion { .. } => "generic_version",
            Route::GenericLatest { .. } => "generic_latest",
            Route::Rules { .. } | Route::Rule { .. } => "v1_rules",
            Route::RulePreview { .. } => "v1_rule_preview",
            Route::BySha256 { .. } => "v1_sha256",
            Route::GoUpload { .. } => "go_upload",
            Route::Go { .. } => "go_proxy",
            Route::GoSumdb => "go_sumdb",
            Route::Packages { .. } => "v1_packages",
            Route::Package { .. } => "v1_package",
            Route::Latest { .. } => "v1_latest",
            Route::Version { .. } => "v1_version",
            Route::Files { .. } => "v1_files",
            Route::Users | Route::User { .. } => "v1_admin_users",
            Route::Quotas | Route::Quota { .. } => "v1_admin_quotas",
            Route::Orgs | Route::Member { .. } => "v1_orgs",
            Route::Tokens { .. } | Route::Token { .. } => "v1_tokens",
            Route::Hooks { .. } | Route::Hook { .. } => "v1_hooks",
            Route::HookDeliveries { .. } | Route::Redeliver { .. } => "v1_hook_deliveries",
            Route::Web(page) => page.name(),
        }
    }

    /// The methods this route answers, for 405 and `Allow`.
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Health | Route::Metrics | Route::Packages { .. } | Route::Package { .. } => &[Method::GET],
            Route::Latest { .. } | Route::Files { .. } => &[Method::GET],
            Route::GenericFile { .. } => &[Method::GET, Method::HEAD, Method::PUT, Method::DELETE],
            Route::GenericVersion { .. } => &[Method::DELETE],
            Route::GenericLatest { .. } => &[Method::GET, Method::HEAD],
            Route::Rules { .. } => &[Method::GET, Method::POST],
            Route::Rule { .. } => &[Method::DELETE],
            Route::RulePreview { .. } | Route::BySha256 { .. } => &[Method::GET],
            Route::GoUpload { .. } => &[Method::PUT],
            Route::Go { .. } | Route::GoSumdb => &[Method::GET, Method::HEAD],
            Route::Version { .. } => &[Method::GET, Method::DELETE],
            Route::Users | Route::Tokens { .. } => &[Method::GET, Method::POST],
            Route::User { .. } => &[Method::DELETE, Method::PATCH],
            Route::Quotas => &[Method::GET],
            Route::Quota { .. } => &[Method::GET, Method::PUT],
            Route::Orgs => &[Method::POST],
            Route::Member { .. } => &[Method::PUT, Method::DELETE],
            Route::Token { .. } => &[Method::DELETE],
            Route::Hooks { .. } => &[Method::GET, Method::POST],
            Route::Hook { .. } => &[Method::GET, Method::DELETE],
            Route::HookDeliveries { .. } => &[Method::GET],
            Route::Redeliver { .. } => &[Method::POST],
            Route::Web(page) => page.methods(),
        }
    }
}

/// Why a path is not routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// No route has this shape: 404.
    Unknown,
    /// A segment is not valid percent-encoded UTF-8: 400.
    BadEncoding,
}

fn kind(s: &str) -> Result<PackageType, NoRoute> {
    PackageType::parse(s).ok_or(NoRoute::Unknown)
}

/// Parses a request path (without query) into a [`Route`].
///
/// # Errors
/// [`NoRoute`] when the path has no route or is not valid percent-encoded UTF-8.
pub fn parse(path: &str) -> Result<Route, NoRoute> {
    let raw: Vec<&str> = path.strip_prefix('/').ok_or(NoRoute::Unknown)?.split('/').collect();
    let mut seg = Vec::with_capacity(raw.len());
    for s in &raw {
        let decoded =
            percent_encoding::percent_decode_str(s).decode_utf8().map_err(|_| NoRoute::BadEncoding)?;
        seg.push(decoded);
    }
    let s: Vec<&str> = seg.iter().map(|c| c.as_ref()).collect();
    let o = |i: usize| seg[i].to_string();
    Ok(match s.as_slice() {
        ["healthz"] => Route::Health,
        ["metrics"] => Route::Metrics,
        ["api", "packages", _, "generic", _, "-", "latest", _] => {
            Route::GenericLatest { owner: o(2), package: o(4), file: o(7) }
        }
        ["api", "packages", _, "generic", _, _, _] => {
            Route::GenericFile { owner: o(2), package: o(4), version: o(5), file: o(6) }
        }
        ["api", "packages", _, "generic", _, _] => {
            Route::GenericVersion { owner: o(2), package: o(4), version: o(5) }
        }
        ["api", "packages", _, "go", "upload"] => Route::GoUpload { owner: o(2) },
        ["api", "packages", _, "go", "sumdb", ..] => Route::GoSumdb,
        ["api", "packages", _, "go", rest @ ..] => {
            // The module path is every segment up to `@v` or `@latest`.
            let at = rest.iter().position(|s| s.starts_with('@')).ok_or(NoRoute::Unknown)?;
            let want = goproxy::Want::parse(&rest[at..]).ok_or(NoRoute::Unknown)?;
            if at == 0 {
                return Err(NoRoute::Unknown);
            }
            Route::Go { owner: o(2), module: rest[..at].join("/"), want }
        }
        ["api", "v1", "packages", _] => Route::Packages { owner: o(3) },
        ["api", "v1", "packages", _, "-", "rules"] => Route::Rules { owner: o(3) },
        ["api", "v1", "packages", _, "-", "rules", _] => Route::Rule { owner: o(3), id: o(6) },
        ["api", "v1", "packages", _, "-", "rules", _, "preview"] => {
            Route::RulePreview { owner: o(3), id: o(6) }
        }
        ["api", "v1", "packages", _, "-", "sha256", _] => Route::BySha256 { owner: o(3), hex: o(6) },
        ["api", "v1", "packages", _, "-", "hooks"] => Route::Hooks { owner: o(3) },
        ["api", "v1", "packages", _, "-", "hooks", _] => Route::Hook { owner: o(3), id: o(6) },
        ["api", "v1", "packages", _, "-", "hooks", _, "deliveries"] => {
            Route::HookDeliveries { owner: o(3), id: o(6) }
        }
        ["api", "v1", "packages", _, "-", "hooks", _, "deliveries", _, "redeliver"] => {
            Route::Redeliver { owner: o(3), id: o(6), delivery: o(8) }
        }
        ["api", "v1", "packages", _, k, _] => Route::Package { owner: o(3), kind: kind(k)?, name: o(5) },
        ["api", "v1", "packages", _, k, _, "-", "latest"] => {
            Route::Latest { owner: o(3), kind: kind(k)?, name: o(5) }
        }
        ["api", "v1", "packages", _, k, _, _] => {
            Route::Version { owner: o(3), kind: kind(k)?, name: o(5), version: o(6) }
        }
        ["api", "v1", "packages", _, k, _, _, "files"] => {
            Route::Files { owner: o(3), kind: kind(k)?, name: o(5), version: o(6) }
        }
        ["api", "v1", "admin", "users"] => Route::Users,
        ["api", "v1", "admin", "users", _] => Route::User { name: o(4) },
        ["api", "v1", "admin", "quotas"] => Route::Quotas,
        ["api", "v1", "admin", "quotas", _] => Route::Quota { owner: o(4) },
        ["api", "v1", "orgs"] => Route::Orgs,
        ["api", "v1", "orgs", _, "members", _] => Route::Member { org: o(3), user: o(5) },
        ["api", "v1", "users", _, "tokens"] => Route::Tokens { user: o(3) },
        ["api", "v1", "users", _, "tokens", _] => Route::Token { user: o(3), label: o(5) },
        _ => Route::Web(crate::web::Page::parse(&s).ok_or(NoRoute::Unknown)?),
    })
}

/// Longest request URI (path and query) answered with anything but 414. The longest valid
/// one, a Go module path of module-path rules' length plus names and a version, is far
/// shorter; a longer head than `--max-header-bytes` is refused by hyper with 431 before this.
pub const MAX_URI_BYTES: usize = 8192;

/// Answers one request: route, handle, map errors, log, count.
pub async fn dispatch(app: Arc<App>, req: Request<Incoming>) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let (name, mut res) = match parse(&path) {
        _ if uri_len > MAX_URI_BYTES => (
            "unknown",
            ApiError::new(StatusCode::URI_TOO_LONG, format!("the URI is longer than {MAX_URI_BYTES} bytes"))
                .into_response(),
        ),
        Ok(route) if !route.methods().contains(&method) => {
            let allow = route.methods().iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            let mut res =
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed here"))
                    .into_response();
            if let Ok(v) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(ALLOW, v);
            }
            (route.name(), res)
        }
        Ok(route) => {
            let name = route.name();
            (name, handle(&app, route, req).await.unwrap_or_else(ApiError::into_response))
        }
        Err(NoRoute::Unknown) => (
            "unknown",
            ApiError::not_found(format!("depot has no endpoint {method} {}", req.uri().path()))
                .into_response(),
        ),
        // Lookups of names that could never be valid simply find nothing (docs/api.md, Names).
        Err(NoRoute::BadEncoding) if method != Method::PUT => {
            ("unknown", ApiError::not_found("the path is not valid percent-encoded UTF-8").into_response())
        }
        Err(NoRoute::BadEncoding) => {
            ("unknown", ApiError::bad_request("path is not valid percent-encoded UTF-8").into_response())
        }
    };
    let status = res.status().as_u16();
    let user = res.extensions_mut().remove::<User>().map(|u| u.0).unwrap_or_default();
    let bytes = res
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| hyper::body::Body::size_hint(res.body()).exact())
        .unwrap_or(0);
    let bytes = if method == Method::HEAD { 0 } else { bytes };
    app.metrics.request(name, status);
    app.metrics.bytes_out(bytes);
    if tracing::enabled!(tracing::Level::INFO) {
        let took = started.elapsed();
        request_log::send(request_log::Line { method, path, status, bytes, took, user });
    }
    res
}

/// The per-request log line, formatted and written off the request path.
///
/// It is how operators see traffic, so no line is dropped: a request hands its line to the
/// log thread through a bounded queue (waiting only if the thread is that far behind) and
/// goes on; the thread formats the lines as `tracing` events. [`flush`] waits until every
/// line handed over so far is passed on, before the process exits.
pub mod request_log {
    use std::sync::mpsc::{sync_channel, SyncSender};
    use std::sync::OnceLock;
    use std::time::Duration;

    use hyper::Method;

    /// Lines waiting for the log thread at most.
    const QUEUE: usize = 16 << 10;
    /// How long the log thread sleeps after writing what waited: a line is written at most
    /// this late, and a server answering 20,000 requests a second wakes it 200 times, not
    /// 20,000. (A full queue makes senders wait, not drop lines.)
    const PAUSE: Duration = Duration::from_millis(5);

    /// One answered request.
    pub struct Line {
        pub method: Method,
        pub path: String,
        pub status: u16,
        pub bytes: u64,
        pub took: Duration,
        pub user: String,
    }

    enum Message {
        Line(Line),
        Flush(SyncSender<()>),
    }

    fn queue() -> Option<&'static SyncSender<Message>> {
        static QUEUE_TX: OnceLock<Option<SyncSender<Message>>> = OnceLock::new();
        QUEUE_TX
            .get_or_init(|| {
                let (tx, rx) = sync_channel(QUEUE);
                // Woken by the first line after a pause, it writes what waits, then sleeps
                // for PAUSE before looking again: a send finds the thread asleep, not waiting
                // on the channel, and wakes nobody. Waking it for every line took 8% of the
                // workers' time under a stream of small uploads (0.3% now, `perf` of the
                // workers during `benches/put_compare.sh`'s load).
                let spawned = std::thread::Builder::new().name("depot-request-log".into()).spawn(move || {
                    while let Ok(first) = rx.recv() {
                        for message in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
                        {
                            match message {
                                Message::Line(l) => emit(&l),
                                Message::Flush(done) => {
                                    let _ = done.send(());
                                }
                            }
                        }
                        std::thread::sleep(PAUSE);
                    }
                });
                spawned.ok().map(|_| tx)
            })
            .as_ref()
    }

    fn emit(l: &Line) {
        tracing::info!(
            target: "depot::http::router",
            method = %l.method,
            path = %l.path,
            status = l.status,
            bytes = l.bytes,
            ms = format_args!("{:.3}", l.took.as_secs_f64() * 1000.0),
            user = %l.user,
            "request"
        );
    }

    /// Hands a line to the log thread (or, if it could not be started, logs it here).
    pub fn send(line: Line) {
        match queue() {
            Some(tx) => {
                if let Err(std::sync::mpsc::SendError(Message::Line(l))) = tx.send(Message::Line(line)) {
                    emit(&l);
                }
            }
            None => emit(&line),
        }
    }

    /// Waits until every line sent so far has been passed on to the log writer.
    pub fn flush() {
        let Some(tx) = queue() else { return };
        let (done_tx, done_rx) = sync_channel(1);
        if tx.send(Message::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
    }
}

async fn handle(app: &Arc<App>, route: Route, req: Request<Incoming>) -> Result<Response, ApiError> {
    let method = req.method().clone();
    match route {
        Route::Health => Ok(match app.store.writer_stopped() {
            Some(e) => api::text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
            None if app.store.is_writable() => api::text(StatusCode::OK, "ok\n"),
            None => api::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "database writes are failing (disk full?); fix the cause and restart depot\n",
            ),
        }),
        Route::Metrics => {
            let bytes = app.store.file_bytes(&app.db_path);
            let mut text = app.metrics.render(bytes, app.store.cache_stats());
            crate::metrics::render_writer(&mut text, app.store.writer_stats());
            if let Some(s) = app.store.object_stats() {
                crate::metrics::render_objects(&mut text, s);
            }
            // One read of the outbox's length: a metadata lookup, not a scan.
            let depth = app.blocking(|app| app.store.outbox_depth().ok()).await?;
            text.push_str(&app.webhooks.render(depth));
            Ok(api::text(StatusCode::OK, text))
        }
        Route::GenericFile { owner, package, version, file } => {
            let target =
                crate::store::FileTarget { owner, kind: PackageType::Generic, package, version, file };
            match method {
                Method::PUT => generic::put(app, req, target).await,
                Method::DELETE => generic::delete_file(app, req, target).await,
                _ => generic::get(app, req, target).await,
            }
        }
        Route::GenericVersion { owner, package, version } => {
            manage::delete_version(app, req, owner, PackageType::Generic, package, version).await
        }
        Route::GenericLatest { owner, package, file } => {
            generic::get_latest(app, req, owner, package, file).await
        }
        Route::Rules { owner } => match method {
            Method::POST => lifecycle::create(app, req, owner).await,
            _ => lifecycle::list(app, req, owner).await,
        },
        Route::Rule { owner, id } => lifecycle::delete(app, req, owner, id).await,
        Route::RulePreview { owner, id } => lifecycle::preview(app, req, owner, id).await,
        Route::BySha256 { owner, hex } => lifecycle::by_sha256(app, req, owner, hex).await,
        Route::GoUpload { owner } => goproxy::upload(app, req, owner).await,
        Route::Go { owner, module, want } => goproxy::get(app, req, owner, module, want).await,
        Route::GoSumdb => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "this registry does not proxy a checksum database"))
        }
        Route::Packages { owner } => manage::packages(app, req, owner).await,
        Route::Hooks { owner } => match method {
            Method::POST => hooks::create(app, req, owner).await,
            _ => hooks::list(app, req, owner).await,
        },
        Route::Hook { owner, id } => hooks::one(app, req, owner, id).await,
        Route::HookDeliveries { owner, id } => hooks::deliveries(app, req, owner, id).await,
        Route::Redeliver { owner, id, delivery } => hooks::redeliver(app, req, owner, id, delivery).await,
        Route::Package { owner, kind, name } => manage::versions(app, req, owner, kind, name).await,
        Route::Latest { owner, kind, name } => manage::latest(app, req, owner, kind, name).await,
        Route::Version { owner, kind, name, version } => match method {
            Method::DELETE => manage::delete_version(app, req, owner, kind, name, version).await,
            _ => manage::version(app, req, owner, kind, name, version).await,
        },
        Route::Files { owner, kind, name, version } => {
            manage::files(app, req, owner, kind, name, version).await
        }
        Route::Users => match method {
            Method::POST => manage::add_user(app, req).await,
            _ => manage::list_users(app, req).await,
        },
        Route::User { name } => match method {
            Method::PATCH => manage::patch_user(app, req, name).await,
            _ => manage::delete_user(app, req, name).await,
        },
        Route::Quotas => manage::list_quotas(app, req).await,
        Route::Quota { owner } => manage::quota(app, req, owner).await,
        Route::Orgs => manage::add_org(app, req).await,
        Route::Member { org, user } => match method {
            Method::PUT => manage::add_member(app, req, org, user).await,
            _ => manage::remove_member(app, req, org, user).await,
        },
        Route::Tokens { user } => match method {
            Method::POST => manage::create_token(app, req, user).await,
            _ => manage::list_tokens(app, req, user).await,
        },
        Route::Token { user, label } => manage::revoke_token(app, req, user, label).await,
        Route::Web(page) => Ok(crate::web::handle(app, page, req).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_decode_segments_after_splitting() {
        assert_eq!(
            parse("/api/packages/alice/generic/app/1.0%2Fx/a%20b.txt"),
            Ok(Route::GenericFile {
                owner: "alice".into(),
                package: "app".into(),
                version: "1.0/x".into(),
                file: "a b.txt".into()
            })
        );
        assert_eq!(
            parse("/api/v1/packages/alice/go/example.com%2Fm/v1.0.0/files"),
            Ok(Route::Files {
                owner: "alice".into(),
                kind: PackageType::Go,
                name: "example.com/m".into(),
                version: "v1.0.0".into()
            })
        );
        assert_eq!(
            parse("/api/packages/bob/go/example.com/!upper/m/@v/v1.0.0-!r!c1.zip"),
            Ok(Route::Go {
                owner: "bob".into(),
                module: "example.com/!upper/m".into(),
                want: goproxy::Want::Zip("v1.0.0-!r!c1".into())
            })
        );
        assert_eq!(
            parse("/api/packages/bob/go/example.com/m/@latest"),
            Ok(Route::Go {
                owner: "bob".into(),
                module: "example.com/m".into(),
                want: goproxy::Want::Latest
            })
        );
        assert_eq!(parse("/api/packages/bob/go/upload"), Ok(Route::GoUpload { owner: "bob".into() }));
        assert_eq!(parse("/api/packages/bob/go/sumdb/sum.golang.org/supported"), Ok(Route::GoSumdb));
        assert_eq!(parse("/api/packages/bob/go/@v/list"), Err(NoRoute::Unknown));
        assert_eq!(parse("/api/packages/bob/go/example.com/m/@v/v1.0.0.tar"), Err(NoRoute::Unknown));
        assert_eq!(parse("/api/v1/packages/a/npm/x"), Err(NoRoute::Unknown));
        assert_eq!(parse("/nope"), Err(NoRoute::Unknown));
        assert_eq!(
            parse("/api/packages/a/generic/p/-/latest/f%20x"),
            Ok(Route::GenericLatest { owner: "a".into(), package: "p".into(), file: "f x".into() })
        );
        assert_eq!(parse("/api/v1/packages/a/-/rules"), Ok(Route::Rules { owner: "a".into() }));
        assert_eq!(
            parse("/api/v1/packages/a/-/rules/7"),
            Ok(Route::Rule { owner: "a".into(), id: "7".into() })
        );
        assert_eq!(
            parse("/api/v1/packages/a/-/rules/7/preview"),
            Ok(Route::RulePreview { owner: "a".into(), id: "7".into() })
        );
        assert_eq!(
            parse("/api/v1/packages/a/-/sha256/ab"),
            Ok(Route::BySha256 { owner: "a".into(), hex: "ab".into() })
        );
        assert_eq!(parse("/api/packages/a/generic/p/%ff/f"), Err(NoRoute::BadEncoding));
    }

    /// One request on its own connection to `addr`: (status, body).
    fn exchange(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
        let request = format!("{head}\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
        conn.write_all(format!("{request}\r\n").as_bytes()).unwrap();
        conn.write_all(body).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_string())
    }

    /// The real server on a real socket, over a store whose writer stops: `/healthz` and every
    /// write say why with a 503, reads go on.
    #[test]
    fn a_stopped_writer_makes_healthz_and_writes_answer_503_with_the_reason() {
        use crate::store::{self, OwnerKind, OwnerRec, Store, TokenRec};
        use std::time::Duration;
        let store = Store::open_backend(redb::backends::InMemoryBackend::new(), &store::Options::default())
            .unwrap()
            .store;
        let kind = OwnerKind::User { password_hash: crate::auth::hash_password("pw"), admin: false };
        store.add_owner(OwnerRec { name: "alice".into(), kind, private: false, created: 0 }).unwrap();
        let (secret, hash) = crate::auth::new_token();
        let token =
            TokenRec { user: "alice".into(), label: "t".into(), write: true, created: 0, expires: None };
        store.add_token(hash, token).unwrap();
        let limits = crate::app::Limits {
            max_file_size: 1 << 20,
            body_idle: Duration::from_secs(30),
            login: crate::throttle::Rate { burst: 100, interval: Duration::from_secs(1) },
        };
        let app = App::new(store.clone(), limits, std::path::PathBuf::new());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let conn = crate::server::ConnLimits {
            max_connections: 16,
            header_timeout: Duration::from_secs(30),
            max_header_bytes: 16 << 10,
            grace: Duration::from_secs(5),
            write_idle: Duration::from_secs(30),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(crate::server::run(listener, app, conn, None, async {
            let _ = stopped.await;
        }));
        let put = |file: &str| {
            let head = format!(
                "PUT /api/packages/alice/generic/p/1/{file} HTTP/1.1\r\nAuthorization: Bearer {secret}"
            );
            exchange(addr, &head, b"content")
        };
        let get = |file: &str| {
            let head = format!(
                "GET /api/packages/alice/generic/p/1/{file} HTTP/1.1\r\nAuthorization: Bearer {secret}"
            );
            exchange(addr, &head, b"")
        };
        assert_eq!(exchange(addr, "GET /healthz HTTP/1.1", b""), (200, "ok\n".into()));
        assert_eq!(put("before.bin").0, 201);

        store.stop_writer_for_test().unwrap_err();
        let why = store.writer_stopped().expect("stopped").to_string();
        assert!(why.contains("the database writer stopped"), "{why}");
        assert_eq!(exchange(addr, "GET /healthz HTTP/1.1", b""), (503, format!("{why}\n")));
        assert_eq!(put("after.bin"), (503, format!("{why}\n")));
        let delete = format!(
            "DELETE /api/packages/alice/generic/p/1/before.bin HTTP/1.1\r\nAuthorization: Bearer {secret}"
        );
        assert_eq!(exchange(addr, &delete, b""), (503, format!("{why}\n")));
        assert_eq!(get("before.bin"), (200, "content".into()), "reads go on");
        let _ = stop.send(());
        rt.block_on(server).unwrap();
    }
}
