//! Go modules (docs/go-modules.md): upload of a module zip, and the GOPROXY protocol the go command
//! reads — `@v/list`, `.info`, `.mod`, `.zip`, `@latest`.
//!
//! Module paths and versions arrive case-encoded (`!x` for `X`) and are decoded here; a path
//! or version that could never be valid, like one that is not stored, is 404, so a `GOPROXY`
//! list falls through to its next entry. `.mod` and `.zip` are stored files of the version
//! and are served by the generic download path (Range, ETag, caching included).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use serde::Serialize;

use super::{authorize, credential, generic, json, text, with_user};
use crate::app::App;
use crate::auth::Access;
use crate::gomod::{path, semver, zipcheck};
use crate::http::{headers, ApiError, Response};
use crate::store::{Added, FileTarget, PackageType, Refusal};

/// What a GOPROXY read asks for; versions still case-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    List,
    Info(String),
    Mod(String),
    Zip(String),
    Latest,
}

impl Want {
    /// Parses what follows the module path: `@v/list`, `@v/VERSION.info|.mod|.zip`, `@latest`.
    pub fn parse(rest: &[&str]) -> Option<Want> {
        match rest {
            ["@latest"] => Some(Want::Latest),
            ["@v", "list"] => Some(Want::List),
            ["@v", file] => {
                let (v, ext) = file.rsplit_once('.')?;
                let v = v.to_string();
                match ext {
                    "info" => Some(Want::Info(v)),
                    "mod" => Some(Want::Mod(v)),
                    "zip" => Some(Want::Zip(v)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The `.info` document; the go command reserves every other field name.
#[derive(Serialize)]
struct Info<'a> {
    #[serde(rename = "Version")]
    version: &'a str,
    #[serde(rename = "Time")]
    time: String,
}

/// A decoded, valid module path, or 404.
fn module_path(encoded: &str) -> Result<String, ApiError> {
    let p = path::unescape(encoded)
        .ok_or_else(|| ApiError::not_found(format!("{encoded:?} is not a case-encoded module path")))?;
    path::check_module_path(&p).map_err(|e| ApiError::not_found(format!("no such module: {e}")))?;
    Ok(p)
}

/// A decoded, canonical version, or 404.
fn version(encoded: &str) -> Result<String, ApiError> {
    let v = path::unescape(encoded)
        .ok_or_else(|| ApiError::not_found(format!("{encoded:?} is not a case-encoded version")))?;
    semver::parse(&v).map_err(|e| ApiError::not_found(format!("no such version: {e}")))?;
    Ok(v)
}

/// `GET`/`HEAD {base}/{module}/@v/...` and `{base}/{module}/@latest`.
pub async fn get(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    module: String,
    want: Want,
) -> Result<Response, ApiError> {
    let module = module_path(&module)?;
    let file = |v: &str, ext: &str| FileTarget {
        owner: owner.clone(),
        kind: PackageType::Go,
        package: module.clone(),
        version: v.to_string(),
        file: format!("{v}.{ext}"),
    };
    let (target, content_type) = match &want {
        Want::Mod(v) => (file(&version(v)?, "mod"), "text/plain; charset=utf-8"),
        Want::Zip(v) => (file(&version(v)?, "zip"), "application/zip"),
        Want::List | Want::Latest | Want::Info(_) => return metadata(app, req, owner, module, want).await,
    };
    let mut res = generic::get(app, req, target).await?;
    if res.status().is_success() {
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    Ok(res)
}

/// The list, `.info` and `@latest` answers: the list from every version key, the others
/// from one version record.
async fn metadata(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    module: String,
    want: Want,
) -> Result<Response, ApiError> {
    let wanted = match &want {
        Want::Info(v) => Some(version(v)?),
        _ => None,
    };
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    app.blocking(move |app| {
        let who = authorize(app, cred.as_ref(), &owner, Access::Read)?;
        let missing =
            |app: &App, version: &str| super::missing_in(app, &owner, PackageType::Go, &module, version);
        let info = |v: &crate::store::VersionSummary| {
            json(
                StatusCode::OK,
                &Info { version: &v.rec.version, time: crate::clock::rfc3339(v.rec.created) },
            )
        };
        let res = match want {
            // The list is whole by protocol: every version key (which is the version).
            Want::List => {
                let versions = app
                    .store
                    .version_names(&owner, PackageType::Go, &module)?
                    .ok_or_else(|| missing(app, ""))?;
                let mut listed: Vec<String> =
                    versions.into_iter().filter(|v| semver::parse(v).is_ok_and(|p| !p.is_pseudo())).collect();
                semver::sort(&mut listed);
                let body: String = listed.iter().map(|v| format!("{v}\n")).collect();
                text(StatusCode::OK, body)
            }
            // From the module's summary: one record, whatever the number of versions.
            Want::Latest => {
                let v =
                    app.store.latest(&owner, PackageType::Go, &module)?.ok_or_else(|| missing(app, ""))?;
                info(&v)
            }
            _ => {
                let wanted = wanted.unwrap_or_default();
                let v = app
                    .store
                    .version(&owner, PackageType::Go, &module, &wanted)?
                    .ok_or_else(|| missing(app, &wanted))?;
                info(&v)
            }
        };
        Ok::<_, ApiError>(with_user(res, &who))
    })
    .await?
}

/// What a successful upload answers.
#[derive(Serialize)]
struct Published {
    module: String,
    version: String,
    sha256: String,
    size: u64,
}

/// `PUT {base}/upload` with a module zip as the body.
///
/// The body streams into staged chunks (memory stays bounded), is checked as a whole from
/// there, and only then becomes the version's `.zip` and `.mod` in one durable commit. Any
/// refusal leaves nothing behind.
pub async fn upload(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let cred = credential(&parts)?;
    let o = owner.clone();
    let who = app.blocking(move |app| authorize(app, cred.as_ref(), &o, Access::Write)).await??;
    let limit = app.limits.max_file_size.min(zipcheck::MAX_ZIP);
    let upload = super::receive(app, &parts, body, limit, "module zip", false).await?;
    // Written out before the check, which may wait for its turn: a waiting upload holds no
    // memory and none of the writer's queue budget.
    let sealed = upload.seal().await?.flush().await?;
    // Checking decompresses the whole zip: a CPU-bound job, a few at a time.
    let _turn = app.zip_checks.acquire().await.map_err(ApiError::internal)?;
    let (sealed, checked) = app
        .blocking(move |_| {
            let checked = sealed.reader().map(|r| zipcheck::check(r, sealed.size()));
            (sealed, checked)
        })
        .await?;
    let module = match checked? {
        Ok(m) => m,
        Err(Ok(io)) => return Err(ApiError::internal(format!("reading a staged upload: {io}"))),
        Err(Err(invalid)) => return Err(invalid.into()),
    };
    // Checked, the zip goes to the object store (when one takes new content), like any file.
    let sealed = sealed.into_object_store().await?;
    let (sha256, size) = (sealed.sha256(), sealed.size());
    let by = who.as_ref().map(|p| p.name.clone());
    match app
        .store
        .add_module_version(sealed, &owner, &module.path, &module.version, module.go_mod, by)
        .await?
    {
        Added::Stored(_) => {}
        Added::Refused(Refusal::Exists(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "{owner} has published {}@{} already; a published version never changes \
                     (publish a new version)",
                    module.path, module.version
                ),
            ))
        }
        Added::Refused(r) => return Err(r.into()),
    }
    app.metrics.bytes_in(size);
    let published =
        Published { module: module.path, version: module.version, sha256: headers::hex(&sha256), size };
    Ok(with_user(json(StatusCode::CREATED, &published), &who))
}
